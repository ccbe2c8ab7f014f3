"""Faults injected on demand, from tests (``ex.faults``) and from CLI flags.

Each fault is armed by a method call and consumed by the server where it applies; every time a
fault fires it is appended to :attr:`Faults.log`, so a test can assert what happened and when.
This module holds state only: the REST pipeline and the socket handlers ask it what to do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

# Kinds accepted by fail_next(): retCode errors in an HTTP 200 envelope, or HTTP statuses.
REST_FAULT_KINDS = ("10002", "10006", "429", "500", "502", "503")


@dataclass
class FaultEvent:
    """One fault that fired: what, where, and when (monotonic seconds)."""

    kind: str
    where: str
    detail: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Countdown:
    remaining: int
    path: str | None = None  # None = any path


class Faults:
    """The set of armed faults of one emulator."""

    def __init__(self) -> None:
        self.log: list[FaultEvent] = []
        self.drop_after: _Countdown | None = None  # close WS connections after N server frames
        self.drop_at: float | None = None  # monotonic time at which to drop every WS connection
        self.drop_path: str | None = None
        self.pings_silenced: bool = False  # stop answering op ping (and WS ping frames)
        self.gaps: dict[str | None, int] = {}  # book topic (None = any) -> deltas to skip
        self.resets: dict[str | None, int] = {}  # book topic (None = any) -> u=1 resets to send
        self.response_delay: float = 0.0  # seconds added before every REST answer and WS ack
        self.rest_failures: list[str] = []  # queue of REST_FAULT_KINDS for the next requests
        self.auth_rejections: int = 0  # next N auth attempts (REST, private WS, trade WS) rejected

    # ---- arming (public API) -------------------------------------------------
    def drop_connection_after(self, frames: int, path: str | None = None) -> None:
        """Close the next WebSocket connection (on ``path`` if given) after it has sent ``frames`` frames."""
        self.drop_after = _Countdown(frames, path)

    def drop_connections_in(self, seconds: float, path: str | None = None) -> None:
        """Drop every WebSocket connection (on ``path`` if given) ``seconds`` from now."""
        self.drop_at = time.monotonic() + seconds
        self.drop_path = path

    def silence_pings(self, silent: bool = True) -> None:
        """Stop (or resume) answering pings: the server looks alive at TCP level but is dead."""
        self.pings_silenced = silent

    def skip_delta(self, topic: str | None = None, count: int = 1) -> None:
        """Withhold the next ``count`` book deltas of ``topic`` (any book if None): a gap in ``u``."""
        self.gaps[topic] = self.gaps.get(topic, 0) + count

    def reset_book(self, topic: str | None = None) -> None:
        """Send a ``u``=1 snapshot (service restart) on ``topic`` (every book if None)."""
        self.resets[topic] = self.resets.get(topic, 0) + 1

    def delay_responses(self, seconds: float) -> None:
        """Delay every REST answer and WebSocket ack by ``seconds`` (0 turns it off)."""
        self.response_delay = max(0.0, seconds)

    def fail_next(self, kind: str, count: int = 1) -> None:
        """Answer the next ``count`` REST requests with ``kind``: '10002', '10006', '429' or '5xx'."""
        if kind not in REST_FAULT_KINDS:
            raise ValueError(f"unknown REST fault {kind!r}; expected one of {REST_FAULT_KINDS}")
        self.rest_failures.extend([kind] * count)

    def reject_auth(self, count: int = 1) -> None:
        """Reject the next ``count`` authentication attempts whatever their signature."""
        self.auth_rejections += count

    def clear(self) -> None:
        """Disarm everything (the log is kept)."""
        log = self.log
        self.__init__()
        self.log = log

    # ---- consumption (server side) -------------------------------------------
    def record(self, kind: str, where: str, **detail: Any) -> None:
        self.log.append(FaultEvent(kind, where, detail))

    def take_rest_failure(self, path: str) -> str | None:
        if not self.rest_failures:
            return None
        kind = self.rest_failures.pop(0)
        self.record(f"rest_{kind}", path)
        return kind

    def take_auth_rejection(self, where: str) -> bool:
        if self.auth_rejections <= 0:
            return False
        self.auth_rejections -= 1
        self.record("auth_rejected", where)
        return True

    def take_gap(self, topic: str) -> bool:
        for key in (topic, None):
            if self.gaps.get(key, 0) > 0:
                self.gaps[key] -= 1
                self.record("gap", topic)
                return True
        return False

    def take_reset(self, topic: str) -> bool:
        for key in (topic, None):
            if self.resets.get(key, 0) > 0:
                if key is not None:
                    self.resets[key] -= 1
                self.record("reset_u1", topic)
                return True
        return False

    def end_resets(self) -> None:
        """Called once a broadcast round has applied a 'every book' reset."""
        self.resets.pop(None, None)

    def claim_drop_after(self, path: str) -> int | None:
        """A new connection on ``path`` claims an armed drop-after-N-frames, if one matches."""
        d = self.drop_after
        if d is None or (d.path is not None and d.path != path):
            return None
        self.drop_after = None
        return d.remaining

    def should_drop_now(self, path: str) -> bool:
        if self.drop_at is None or time.monotonic() < self.drop_at:
            return False
        return self.drop_path is None or self.drop_path == path

