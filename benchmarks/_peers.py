"""Peer clients for the benchmarks: a threaded emulator, and ccxt clients aimed at local servers.

ccxt needs its market table before any symbol-based call. It is loaded once per process by ccxt
itself (``load_markets``) from a short-lived emulator, then handed to every ccxt client with
``set_markets``: ccxt's own parsing of the emulator's instruments, never a hand-made table.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from bybitfast.emulator import DEFAULT_API_KEY, DEFAULT_API_SECRET
from bybitfast.emulator.compat import point_ccxt  # noqa: F401 - the benchmarks import it from here
from bybitfast.emulator.threaded import ThreadedEmulator as _Threaded

LINEAR = "BTC/USDT:USDT"


def ThreadedEmulator(**options: Any) -> _Threaded:  # noqa: N802 - reads as the class it builds
    """The package's threaded emulator with benchmark defaults: no rate limits, market stepped by hand."""
    return _Threaded(**({"rate_limits": False, "market_interval": 0} | options))


@cache
def ccxt_markets() -> tuple[dict, dict]:
    """(markets, currencies) as ``ccxt.bybit().load_markets()`` builds them from the emulator."""
    import ccxt

    with ThreadedEmulator() as ex:
        c = point_ccxt(ccxt.bybit({"apiKey": DEFAULT_API_KEY, "secret": DEFAULT_API_SECRET, "enableRateLimit": False}), ex.rest_url)
        c.load_markets()
        return c.markets, c.currencies


def with_markets(client: Any) -> Any:
    """``client`` with the emulator's market table set, and UTA assumed (what ``is_unified_enabled``
    would find on the emulator), so no call makes a set-up request first."""
    markets, currencies = ccxt_markets()
    client.set_markets(markets, currencies)
    client.options["enableUnifiedMargin"] = False
    client.options["enableUnifiedAccount"] = True
    return client
