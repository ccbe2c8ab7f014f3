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


def _market() -> Market:
    m = Market(seed=1, interval=0, symbols={"linear": ["BTCUSDT"]})
    hub = Hub(m, Faults())
    hub.add(_Sink(), hub.resolve("linear", "orderbook.50.BTCUSDT"))  # type: ignore[arg-type]
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
