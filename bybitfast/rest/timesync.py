"""Local clock vs exchange clock: the offset added to every signed request's timestamp.

Bybit accepts a request iff ``server_time - recv_window <= timestamp < server_time + 1000``
(PROTOCOL §2.4): a timestamp may lag by up to ``recv_window`` but never lead by a second. So the
offset is estimated from several ``GET /v5/market/time`` round trips, keeping the sample with the
smallest round trip, and biased backwards: the server stamped its time somewhere between our send
and our receive, so ``server - t_recv`` is the largest offset that can never be too far ahead,
i.e. the midpoint estimate ``server - (t_send + t_recv) / 2`` minus half the round trip.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

_log = logging.getLogger("bybitfast.rest")

FetchServerMs = Callable[[], Awaitable[float]]


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """One synchronisation: what was measured and the offset now applied (all in ms)."""

    round_trip_ms: float  # smallest round trip among the samples
    one_way_ms: float  # estimated one-way latency (half the round trip)
    midpoint_offset_ms: float  # server - (t_send + t_recv) / 2 of that sample
    offset_ms: int  # applied: the midpoint biased backwards by half the round trip
    server_time_ms: float
    local_time_ms: float  # local clock when the answer arrived
    samples: int
    skew_warning: bool  # |offset| beyond the drift threshold

    def as_dict(self) -> dict[str, float | int | bool]:
        return asdict(self)


def estimate(samples: list[tuple[float, float, float]]) -> tuple[int, float, float, tuple[float, float, float]]:
    """Offset from ``(t_send_ms, server_ms, t_recv_ms)`` samples: (biased offset, midpoint offset, rtt, best sample)."""
    if not samples:
        raise ValueError("no time samples")
    best = min(samples, key=lambda s: s[2] - s[0])
    t_send, server, t_recv = best
    rtt = max(0.0, t_recv - t_send)
    midpoint = server - (t_send + t_recv) / 2.0
    # floor: rounding must not move the estimate forward either.
    return int((midpoint - rtt / 2.0) // 1), midpoint, rtt, best


def local_ms() -> float:
    return time.time_ns() / 1_000_000


class TimeSync:
    """The offset (ms) added to local time for signed requests, and how it is kept up to date."""

    __slots__ = ("offset_ms", "last", "synced_at", "drift_warning_ms", "_inflight", "_task")

    def __init__(self, *, drift_warning_ms: float = 500.0) -> None:
        self.offset_ms: int = 0
        self.last: LatencySummary | None = None
        self.synced_at: float | None = None  # monotonic time of the last successful sync
        self.drift_warning_ms = drift_warning_ms
        self._inflight: asyncio.Future[LatencySummary] | None = None
        self._task: asyncio.Task[None] | None = None

    def now_ms(self) -> int:
        """Exchange time as we estimate it (ms)."""
        return time.time_ns() // 1_000_000 + self.offset_ms

    def set_offset_ms(self, offset_ms: int) -> None:
        """Set the offset by hand (e.g. from an external NTP-disciplined source)."""
        self.offset_ms = int(offset_ms)

    async def measure(self, fetch: FetchServerMs, samples: int = 5) -> LatencySummary:
        """Take ``samples`` round trips and apply the min-RTT, backward-biased offset."""
        taken: list[tuple[float, float, float]] = []
        for _ in range(max(1, samples)):
            t_send = local_ms()
            server = await fetch()
            taken.append((t_send, server, local_ms()))
        offset, midpoint, rtt, best = estimate(taken)
        previous = self.offset_ms if self.last is not None else None
        skew = abs(offset) > self.drift_warning_ms
        summary = LatencySummary(rtt, rtt / 2.0, midpoint, offset, best[1], best[2], len(taken), skew)
        self.offset_ms = offset
        self.last = summary
        self.synced_at = time.monotonic()
        if skew:
            _log.warning("local clock is %+d ms off the exchange clock (round trip %.1f ms); offset applied to signed requests",
                         -offset, rtt)
        if previous is not None and abs(offset - previous) > self.drift_warning_ms:
            _log.warning("clock drift: offset moved from %d ms to %d ms since the last sync", previous, offset)
        return summary

    async def sync(self, fetch: FetchServerMs, samples: int = 5) -> LatencySummary:
        """Like :meth:`measure`, but concurrent callers share one in-flight measurement."""
        if self._inflight is not None:
            return await asyncio.shield(self._inflight)
        fut: asyncio.Future[LatencySummary] = asyncio.get_running_loop().create_future()
        self._inflight = fut
        try:
            summary = await self.measure(fetch, samples)
        except BaseException as exc:
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # mark retrieved: other waiters (if any) still get it
            raise
        else:
            fut.set_result(summary)
            return summary
        finally:
            self._inflight = None

    def start_periodic(self, fetch: FetchServerMs, interval: float, samples: int = 5) -> None:
        """Re-sync every ``interval`` seconds in the background (errors logged, never raised)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._periodic(fetch, interval, samples))

    async def _periodic(self, fetch: FetchServerMs, interval: float, samples: int) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sync(fetch, samples)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failed resync keeps the previous offset
                _log.warning("time sync failed: %s", type(exc).__name__)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
