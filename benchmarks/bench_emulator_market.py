"""Cost of one emulator market step that publishes an L50 delta, beside encoding one such frame.

The emulator's push rate is bounded by ``Market.step`` (price process, window diff, one frame
built once for all subscribers). Baseline: ``orjson.dumps`` of a typical L50 delta frame, i.e. the
least work any server must do per frame. Read the ratio, not the absolute times.
"""

from __future__ import annotations

import orjson

from bybitfast.emulator.faults import Faults
from bybitfast.emulator.market import Market
from bybitfast.emulator.public import Hub


class _Sink:
    def push(self, frame: str, delay: float = 0.0) -> None:
        pass


def _market(*topics: str) -> Market:
    m = Market(seed=1, interval=0, symbols={"linear": ["BTCUSDT"]})
    hub = Hub(m, Faults())
    for name in topics or ("orderbook.50.BTCUSDT",):
        hub.add(_Sink(), hub.resolve("linear", name))  # type: ignore[arg-type]
    return m


def test_baseline_orjson_l50_delta(benchmark):
    frame = {"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": 1, "data": {"s": "BTCUSDT",
             "b": [["100000.10", "0.123"]] * 4, "a": [["100000.20", "0"]] * 4, "u": 1, "seq": 2}, "cts": 1}
    benchmark(orjson.dumps, frame)


def test_market_step_with_l50_subscriber(benchmark):
    m = _market()
    benchmark(m.step)


def test_market_step_all_symbols_unwatched(benchmark):
    m = Market(seed=1, interval=0)
    benchmark(m.step)


def test_market_step_with_l50_ticker_trade_subscribers(benchmark):
    m = _market("orderbook.50.BTCUSDT", "tickers.BTCUSDT", "publicTrade.BTCUSDT")
    benchmark(m.step)


def test_market_step_with_full_book_and_other_topics(benchmark):
    """orderbook.full (a delta every 4th step) + allLiquidation + insurance + priceLimit subscribers."""
    m = _market("orderbook.full.BTCUSDT", "allLiquidation.BTCUSDT", "insurance.USDT", "priceLimit.BTCUSDT")
    benchmark(m.step)


def test_rest_full_orderbook_snapshot(benchmark):
    """Building the REST full_orderbook view between two pushes (about 2 x 1200 levels)."""
    m = _market("orderbook.full.BTCUSDT")
    m.step(6)  # between two 200 ms pushes: the view reverts the pending changes
    b = m.book("linear", "BTCUSDT")
    benchmark(b.full_levels)
