"""An emulator on its own event loop in a daemon thread, for blocking clients (pybit, ccxt sync,
a user's synchronous bot) that cannot share the caller's loop.

    with ThreadedEmulator(rate_limits=False) as ex:
        session = HTTP(api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET); session.endpoint = ex.rest_url
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from .server import Emulator


class ThreadedEmulator:
    """``with ThreadedEmulator(**emulator_options) as ex:`` serves ``ex`` from a background thread."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="bybitfast-emulator", daemon=True)
        self.ex: Emulator | None = None

    def __enter__(self) -> Emulator:
        self.thread.start()
        self.ex = self.call(self._start())
        return self.ex

    async def _start(self) -> Emulator:
        ex = Emulator(**self.options)
        await ex.start()
        return ex

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        """Run a coroutine on the emulator's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call a plain function on the emulator's loop (e.g. ``market.step``: it schedules pushes)."""

        async def call() -> Any:
            return fn(*args)

        return self.call(call())

    def __exit__(self, *exc: object) -> None:
        assert self.ex is not None
        self.call(self.ex.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
