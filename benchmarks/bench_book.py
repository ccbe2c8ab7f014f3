"""Order-book hot path vs baselines, same run (ratios): ``pytest benchmarks/bench_book.py --benchmark-enable``.

Stream: a realistic BTCUSDT 200-level book and deltas of ~10 levels near the top, from
``_frames.make_stream``. Each round applies ``N`` deltas after a fresh snapshot, so per-frame
cost = mean / N.
"""

from __future__ import annotations

import orjson
import pytest
from _frames import TOPIC, make_stream

from bybitfast.book import OrderBook
from bybitfast.router import frame_info

N = 2000

SNAP, DELTAS = make_stream(N)
DECODED = [orjson.loads(d) for d in DELTAS]


class DictBook:
    """The usual pure-Python book: orjson.loads + dict[str, str] per side (the baseline)."""

    def __init__(self) -> None:
        self.b: dict[str, str] = {}
        self.a: dict[str, str] = {}

    def apply(self, frame: bytes) -> None:
        msg = orjson.loads(frame)
        d = msg["data"]
        if msg["type"] == "snapshot":
            self.b = dict(d["b"])
            self.a = dict(d["a"])
            return
        for side, levels in ((self.b, d["b"]), (self.a, d["a"])):
            for p, s in levels:
                if s == "0":
                    side.pop(p, None)
                else:
                    side[p] = s


def reset(book) -> None:  # noqa: ANN001 - any book with apply()
    book.apply(SNAP)


def run_native(book: OrderBook, frames: list[bytes]) -> None:
    apply = book.apply
    for f in frames:
        apply(f)


# ------------------------------------------------------------------ delta parse+apply


@pytest.mark.benchmark(group="delta parse+apply (per round: 2000 x ~10-level deltas, 200-level book)")
def test_delta_baseline_orjson_dict(benchmark):
    book = DictBook()

    def run():
        for f in DELTAS:
            book.apply(f)

    benchmark.pedantic(run, setup=lambda: reset(book), rounds=15)


@pytest.mark.benchmark(group="delta parse+apply (per round: 2000 x ~10-level deltas, 200-level book)")
def test_delta_bybitfast_native(benchmark):
    book = OrderBook("BTCUSDT", depth=200)
    benchmark.pedantic(lambda: run_native(book, DELTAS), setup=lambda: reset(book), rounds=30)
    assert book.valid and book.update_id == orjson.loads(DELTAS[-1])["data"]["u"]


@pytest.mark.benchmark(group="delta parse+apply (per round: 2000 x ~10-level deltas, 200-level book)")
def test_delta_bybitfast_native_plus_bbo(benchmark):
    book = OrderBook("BTCUSDT", depth=200)

    def run():
        apply, bb, ba = book.apply, book.best_bid_price, book.best_ask_price
        for f in DELTAS:
            apply(f)
            bb()
            ba()

    benchmark.pedantic(run, setup=lambda: reset(book), rounds=30)


@pytest.mark.benchmark(group="delta parse+apply (per round: 2000 x ~10-level deltas, 200-level book)")
def test_delta_pybit_on_decoded_frames(benchmark):
    from pybit._websocket_stream import _V5WebSocketManager

    mgr = _V5WebSocketManager.__new__(_V5WebSocketManager)
    mgr.data = {}
    snap = orjson.loads(SNAP)

    def setup():
        mgr.data = {}
        mgr._process_delta_orderbook(orjson.loads(SNAP), TOPIC)

    def run():
        for m in DECODED:
            mgr._process_delta_orderbook(m, TOPIC)

    assert snap
    benchmark.pedantic(run, setup=setup, rounds=3)


@pytest.mark.benchmark(group="delta parse+apply (per round: 2000 x ~10-level deltas, 200-level book)")
def test_delta_ccxt_orderbook(benchmark):
    from ccxt.async_support.base.ws.order_book import OrderBook as CcxtBook

    holder = {}

    def setup():
        m = orjson.loads(SNAP)["data"]
        holder["b"] = CcxtBook({"bids": [[float(p), float(s)] for p, s in m["b"]],
                                "asks": [[float(p), float(s)] for p, s in m["a"]]})

    def run():
        ob = holder["b"]
        bids, asks = ob["bids"], ob["asks"]
        for f in DELTAS:
            d = orjson.loads(f)["data"]
            for p, s in d["b"]:
                bids.storeArray([float(p), float(s)])
            for p, s in d["a"]:
                asks.storeArray([float(p), float(s)])

    benchmark.pedantic(run, setup=setup, rounds=5)


@pytest.mark.benchmark(group="delta parse+apply (per round: 2000 x ~10-level deltas, 200-level book)")
def test_delta_order_book_c_package(benchmark):
    import order_book

    holder = {}

    def setup():
        ob = order_book.OrderBook()
        m = orjson.loads(SNAP)["data"]
        for p, s in m["b"]:
            ob.bids[float(p)] = float(s)
        for p, s in m["a"]:
            ob.asks[float(p)] = float(s)
        holder["b"] = ob

    def run():
        ob = holder["b"]
        for f in DELTAS:
            d = orjson.loads(f)["data"]
            for side, levels in ((ob.bids, d["b"]), (ob.asks, d["a"])):
                for p, s in levels:
                    if s == "0":
                        try:
                            del side[float(p)]
                        except KeyError:
                            pass
                    else:
                        side[float(p)] = float(s)

    benchmark.pedantic(run, setup=setup, rounds=10)


# ------------------------------------------------------------------ steady 200-level window

# The stream above decays to ~10 levels per side after ~200 deltas (random deletes outpace the
# inserts near the top); this one keeps 200 per side like Bybit's window (far end trimmed and
# refilled on every delta, ~12-13 levels per delta), so searches and shifts see the full book.
_, WDELTAS = make_stream(N, window=True)


@pytest.mark.benchmark(group="delta parse+apply, book held at 200 levels/side (2000 x ~12-level deltas)")
def test_window_baseline_orjson_dict(benchmark):
    book = DictBook()

    def run():
        for f in WDELTAS:
            book.apply(f)

    benchmark.pedantic(run, setup=lambda: reset(book), rounds=15)


@pytest.mark.benchmark(group="delta parse+apply, book held at 200 levels/side (2000 x ~12-level deltas)")
def test_window_bybitfast_native(benchmark):
    book = OrderBook("BTCUSDT", depth=200)
    benchmark.pedantic(lambda: run_native(book, WDELTAS), setup=lambda: reset(book), rounds=30)
    assert book.valid and book.num_bids == 200 and book.num_asks == 200


# ------------------------------------------------------------------ per level

_, D1 = make_stream(N, 1)
_, D41 = make_stream(N, 41)


@pytest.mark.benchmark(group="per level (2000 deltas of 1 vs 41 changes; cost/level = diff/40)")
def test_level_baseline_orjson_dict_41(benchmark):
    book = DictBook()
    benchmark.pedantic(lambda: [book.apply(f) for f in D41], setup=lambda: reset(book), rounds=10)


@pytest.mark.benchmark(group="per level (2000 deltas of 1 vs 41 changes; cost/level = diff/40)")
def test_level_native_1(benchmark):
    book = OrderBook("BTCUSDT", depth=200)
    benchmark.pedantic(lambda: run_native(book, D1), setup=lambda: reset(book), rounds=30)


@pytest.mark.benchmark(group="per level (2000 deltas of 1 vs 41 changes; cost/level = diff/40)")
def test_level_native_41(benchmark):
    book = OrderBook("BTCUSDT", depth=200)
    benchmark.pedantic(lambda: run_native(book, D41), setup=lambda: reset(book), rounds=30)


# The same on the steady window stream (book held at 200/side; each delta also carries the ~2-3
# far-end trims/refills, so the difference is still 40 levels).
_, W1 = make_stream(N, 1, window=True)
_, W41 = make_stream(N, 41, window=True)


@pytest.mark.benchmark(group="per level, book held at 200/side (2000 deltas of 1 vs 41 changes; diff/40)")
def test_wlevel_native_1(benchmark):
    book = OrderBook("BTCUSDT", depth=200)
    benchmark.pedantic(lambda: run_native(book, W1), setup=lambda: reset(book), rounds=30)


@pytest.mark.benchmark(group="per level, book held at 200/side (2000 deltas of 1 vs 41 changes; diff/40)")
def test_wlevel_native_41(benchmark):
    book = OrderBook("BTCUSDT", depth=200)
    benchmark.pedantic(lambda: run_native(book, W41), setup=lambda: reset(book), rounds=30)
    assert book.valid and book.num_bids == 200 and book.num_asks == 200


# The same on an RPI book (orderbook.rpi: [price, size, rpi_size] levels), held at 200/side.
_, R1 = make_stream(N, 1, window=True, rpi=True)
RSNAP, R41 = make_stream(N, 41, window=True, rpi=True)


def reset_rpi(book: OrderBook) -> None:
    book.apply(RSNAP)


@pytest.mark.benchmark(group="per level, RPI book held at 200/side (2000 deltas of 1 vs 41 changes; diff/40)")
def test_rlevel_native_1(benchmark):
    book = OrderBook("BTCUSDT", depth="rpi")
    benchmark.pedantic(lambda: run_native(book, R1), setup=lambda: reset_rpi(book), rounds=30)


@pytest.mark.benchmark(group="per level, RPI book held at 200/side (2000 deltas of 1 vs 41 changes; diff/40)")
def test_rlevel_native_41(benchmark):
    book = OrderBook("BTCUSDT", depth="rpi")
    benchmark.pedantic(lambda: run_native(book, R41), setup=lambda: reset_rpi(book), rounds=30)
    assert book.valid


# ------------------------------------------------------------------ snapshot


@pytest.mark.benchmark(group="snapshot 200+200 from bytes")
def test_snapshot_baseline_orjson_dict(benchmark):
    book = DictBook()
    benchmark(book.apply, SNAP)


@pytest.mark.benchmark(group="snapshot 200+200 from bytes")
def test_snapshot_baseline_orjson_loads_only(benchmark):
    benchmark(orjson.loads, SNAP)


@pytest.mark.benchmark(group="snapshot 200+200 from bytes")
def test_snapshot_native(benchmark):
    book = OrderBook("BTCUSDT", depth=200)
    benchmark(book.apply, SNAP)
    assert book.num_bids == 200


# ------------------------------------------------------------------ reads


@pytest.mark.benchmark(group="best bid read")
def test_bbo_baseline_python_attribute(benchmark):
    class Holder:
        __slots__ = ("best_bid",)

    h = Holder()
    h.best_bid = 43732.01
    benchmark(getattr, h, "best_bid")


@pytest.mark.benchmark(group="best bid read")
def test_bbo_native_price(benchmark):
    book = OrderBook("BTCUSDT", depth=200)
    book.apply(SNAP)
    benchmark(book.best_bid_price)


@pytest.mark.benchmark(group="best bid read")
def test_bbo_native_tuple(benchmark):
    book = OrderBook("BTCUSDT", depth=200)
    book.apply(SNAP)
    benchmark(book.best_bid)


@pytest.mark.benchmark(group="best bid read")
def test_bbo_order_book_c_package(benchmark):
    import order_book

    ob = order_book.OrderBook()
    for p, s in orjson.loads(SNAP)["data"]["b"]:
        ob.bids[float(p)] = float(s)
    benchmark(ob.bids.index, 0)


# ------------------------------------------------------------------ frame_info


@pytest.mark.benchmark(group="frame_info on a 10-level delta")
def test_frame_info_baseline_orjson_loads(benchmark):
    benchmark(orjson.loads, DELTAS[0])


@pytest.mark.benchmark(group="frame_info on a 10-level delta")
def test_frame_info_native(benchmark):
    assert frame_info(DELTAS[0])[0] == TOPIC
    benchmark(frame_info, DELTAS[0])
