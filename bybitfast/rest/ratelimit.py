"""Per-endpoint rate-limit state of the REST client and its optional client-side hold.

Missing or malformed ``X-Bapi-Limit*`` headers leave the state alone (see ``bybitfast.ratelimit``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from ..ratelimit import RateLimit, parse_rate_limit


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class RateLimits:
    """Last known :class:`RateLimit` per endpoint path, and the optional client-side hold.

    ``clock_ms`` gives the exchange's time (local time corrected by the time-sync offset), since
    reset timestamps are server time.
    """

    __slots__ = ("_state", "_clock_ms", "max_wait")

    def __init__(self, clock_ms: Callable[[], int] = _wall_ms, *, max_wait: float = 2.0) -> None:
        self._state: dict[str, RateLimit] = {}
        self._clock_ms = clock_ms
        self.max_wait = max_wait  # never hold longer than this (s): a far-away reset means a bad header

    def update(self, path: str, headers: Mapping[str, str]) -> RateLimit | None:
        """Record the state an answer reported for ``path``; returns it (None when absent)."""
        rl = parse_rate_limit(headers)
        if rl is not None:
            self._state[path] = rl
        return rl

    def get(self, path: str) -> RateLimit | None:
        """Last state reported for ``path``."""
        return self._state.get(path)

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Every endpoint's state as plain dicts (for logging and metrics)."""
        return {p: rl._asdict() for p, rl in self._state.items()}

    def delay(self, path: str) -> float:
        """Seconds to hold before calling ``path``: positive only when remaining == 0 and now < reset."""
        rl = self._state.get(path)
        if rl is None or rl.remaining > 0:
            return 0.0
        wait_ms = rl.reset_at_ms - self._clock_ms()
        if wait_ms <= 0:
            return 0.0
        return min(wait_ms / 1000.0, self.max_wait)

    async def wait(self, path: str) -> float:
        """Hold (without blocking the loop) until ``path`` may be called again; returns seconds held."""
        delay = self.delay(path)
        if delay > 0.0:
            await asyncio.sleep(delay)
            rl = self._state.get(path)
            if rl is not None and rl.remaining == 0:
                # The window has passed: allow the next call through until an answer says otherwise.
                self._state[path] = rl._replace(remaining=rl.limit)
        return delay

    def clear(self) -> None:
        self._state.clear()
