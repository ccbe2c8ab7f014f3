"""Memory of local order books: bytes per level, resident size of 100 deep books, growth over a long stream.

Figures, not asserts: every measurement runs in a fresh interpreter (``python bench_memory.py --child ...``)
so one implementation's freed memory cannot hide another's, and lands in ``extra_info`` for
``benchmarks/RESULTS.md``. The timed part of each benchmark is the matching hot operation in this
process (load one deep snapshot; apply one delta). Implementations:

- ``baseline_pybit``: pybit's own book code (``_V5WebSocketManager._process_delta_orderbook``: the
  parsed frame kept as lists of ``[price, size]`` strings).
- ``dict_float``: the usual hand-rolled book, ``{float(price): float(size)}`` per side.
- ``order_book``: the ``order-book`` package (C sorted dicts) fed floats.
- ``bybitfast``: :class:`bybitfast.book.OrderBook` fed the raw frames.
"""

from __future__ import annotations

import gc
import json
import os
import random
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

QUICK = os.environ.get("BYBITFAST_BENCH_QUICK") == "1"
N_BOOKS = 100
DEEP_LEVELS = 1000          # per side: Bybit's orderbook.1000 (linear/inverse)
STREAM_LEVELS = 200         # per side
STREAM_FRAMES = 10_000 if QUICK else 100_000
PYBIT_STREAM_FRAMES = 1_000 if QUICK else 10_000  # pybit scans every side per level: O(n) a level
IMPLS = ("baseline_pybit", "dict_float", "order_book", "bybitfast")


# ---------------------------------------------------------------- frames


def _px(i: int, side: str) -> str:
    """Price string of tick ``i`` away from a 30000.0 mid (bids below, asks above)."""
    return f"{30000.0 - i / 10:.1f}" if side == "b" else f"{30000.0 + i / 10:.1f}"


def snapshot_frame(symbol: str, levels: int, u: int = 1) -> bytes:
    """A Bybit ``orderbook`` snapshot push with ``levels`` per side."""
    b = [[_px(i, "b"), f"{1 + (i % 97) / 1000:.3f}"] for i in range(1, levels + 1)]
    a = [[_px(i, "a"), f"{2 + (i % 89) / 1000:.3f}"] for i in range(1, levels + 1)]
    frame = {
        "topic": f"orderbook.{DEEP_LEVELS if levels > 500 else 200}.{symbol}",
        "type": "snapshot",
        "ts": 1_700_000_000_000,
        "data": {"s": symbol, "b": b, "a": a, "u": u, "seq": 10_000 + u},
        "cts": 1_700_000_000_000,
    }
    return json.dumps(frame, separators=(",", ":")).encode()


def delta_stream(symbol: str, levels: int, seed: int = 1) -> Iterator[bytes]:
    """Endless valid deltas after ``snapshot_frame(symbol, levels)``: 10 changes a frame, u += 1.

    Each side stays at most ``levels`` deep (so no level falls out of a depth-``levels`` book)
    and only held levels are deleted, so every book here (pybit's included) accepts the stream.
    """
    rng = random.Random(seed)
    held = {"b": set(range(1, levels + 1)), "a": set(range(1, levels + 1))}
    span = levels + 50
    u = 1
    while True:
        u += 1
        parts = {}
        for side in ("b", "a"):
            live = held[side]
            ops = []
            touched: set[int] = set()
            for _ in range(5):
                kind = rng.random()
                if len(live) >= levels or kind < 0.35:
                    i = rng.choice(tuple(live - touched))
                    if kind < 0.5:
                        live.discard(i)
                        ops.append(f'["{_px(i, side)}","0"]')
                    else:
                        ops.append(f'["{_px(i, side)}","{rng.randint(1, 5000) / 1000:.3f}"]')
                else:
                    i = rng.randint(1, span)
                    while i in live or i in touched:
                        i = rng.randint(1, span)
                    live.add(i)
                    ops.append(f'["{_px(i, side)}","{rng.randint(1, 5000) / 1000:.3f}"]')
                touched.add(i)
            parts[side] = ",".join(ops)
        ts = 1_700_000_000_000 + u
        yield (
            f'{{"topic":"orderbook.200.{symbol}","type":"delta","ts":{ts},"data":{{"s":"{symbol}",'
            f'"b":[{parts["b"]}],"a":[{parts["a"]}],"u":{u},"seq":{10_000 + u}}},"cts":{ts}}}'
        ).encode()


# ---------------------------------------------------------------- implementations


def make_book(impl: str, symbol: str) -> tuple[Any, Callable[[bytes], Any]]:
    """A fresh book of ``impl`` and the function that feeds it one raw frame."""
    if impl == "baseline_pybit":
        from pybit._websocket_stream import _V5WebSocketManager

        manager = object.__new__(_V5WebSocketManager)  # no socket: only the book code is used
        manager.data = {}

        def feed(frame: bytes) -> None:
            msg = json.loads(frame)
            manager._process_delta_orderbook(msg, msg["topic"])

        return manager, feed
    if impl == "dict_float":
        import orjson

        book: dict[str, dict[float, float]] = {"b": {}, "a": {}}

        def feed(frame: bytes) -> None:
            msg = orjson.loads(frame)
            data = msg["data"]
            if msg["type"] == "snapshot":
                book["b"].clear()
                book["a"].clear()
            for side in ("b", "a"):
                levels = book[side]
                for p, s in data[side]:
                    if s == "0":
                        levels.pop(float(p), None)
                    else:
                        levels[float(p)] = float(s)

        return book, feed
    if impl == "order_book":
        import orjson
        from order_book import OrderBook as CBook

        holder = [CBook()]

        def feed(frame: bytes) -> None:
            msg = orjson.loads(frame)
            data = msg["data"]
            if msg["type"] == "snapshot":
                holder[0] = CBook()
            ob = holder[0]
            for side, levels in (("b", ob.bids), ("a", ob.asks)):
                for p, s in data[side]:
                    if s == "0":
                        price = float(p)
                        if price in levels:
                            del levels[price]
                    else:
                        levels[float(p)] = float(s)

        return holder, feed
    if impl == "bybitfast":
        from bybitfast.book import OrderBook

        ob = OrderBook(symbol, category="linear")
        return ob, ob.apply
    raise ValueError(f"unknown implementation {impl!r}")


def available(impl: str) -> bool:
    try:
        make_book(impl, "BTCUSDT")
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------- measurements (child process)


def rss_bytes() -> int:
    """Resident set size now (Linux ``/proc``; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_books(impl: str, traced: bool) -> dict[str, Any]:
    """Memory of ``N_BOOKS`` books of ``DEEP_LEVELS`` levels per side: RSS, or the traced Python heap.

    The two are separate runs because tracemalloc's own bookkeeping would inflate the RSS figure.
    """
    frames = [snapshot_frame(f"SYM{i:03d}USDT", DEEP_LEVELS) for i in range(N_BOOKS)]
    make_book(impl, "WARMUPUSDT")[1](snapshot_frame("WARMUPUSDT", 10))  # imports and first-use caches
    gc.collect()
    if traced:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0] if traced else rss_bytes()
    books = []
    for i, frame in enumerate(frames):
        book, feed = make_book(impl, f"SYM{i:03d}USDT")
        feed(frame)
        books.append(book)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] if traced else rss_bytes()
    levels = N_BOOKS * DEEP_LEVELS * 2
    if traced:
        return {"bytes_per_level_traced": round((after - before) / levels, 1)}
    return {
        "books": N_BOOKS,
        "levels_per_side": DEEP_LEVELS,
        "rss_MiB": round((after - before) / 2**20, 2),
        "bytes_per_level_rss": round((after - before) / levels, 1),
    }


def measure_stream(impl: str, traced: bool) -> dict[str, Any]:
    """Growth over a long delta stream after a warm-up: RSS and heap blocks, or the traced heap.

    Traced runs start tracemalloc before the book exists (a container resized under tracing would
    otherwise count as growth) and are separate runs (tracemalloc would inflate RSS).
    """
    frames = PYBIT_STREAM_FRAMES if impl == "baseline_pybit" else STREAM_FRAMES
    if traced:
        frames //= 2  # tracing is slow; half the frames still show any per-frame growth
        tracemalloc.start()
    book, feed = make_book(impl, "BTCUSDT")
    feed(snapshot_frame("BTCUSDT", STREAM_LEVELS))
    stream = delta_stream("BTCUSDT", STREAM_LEVELS)
    for _ in range(frames // 10):  # warm-up: allocator pools, caches, dict resizes
        feed(next(stream))
    gc.collect()
    if traced:
        before = tracemalloc.get_traced_memory()[0]
    else:
        rss0, blocks0 = rss_bytes(), sys.getallocatedblocks()
    for _ in range(frames):
        feed(next(stream))
    gc.collect()
    if traced:
        return {"traced_frames": frames, "traced_growth_bytes": tracemalloc.get_traced_memory()[0] - before}
    return {
        "frames": frames,
        "rss_growth_bytes": rss_bytes() - rss0,
        "heap_blocks_growth": sys.getallocatedblocks() - blocks0,
    }


def run_child(kind: str, impl: str) -> dict[str, Any]:
    """One measurement in a fresh interpreter; its JSON result."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, impl], capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind}/{impl} measurement failed: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout)


# ---------------------------------------------------------------- benchmarks

try:
    import pytest
except ImportError:  # the --child path needs no pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(params=IMPLS)
    def impl(request: Any) -> str:
        if not available(request.param):
            pytest.skip(f"{request.param} is not installed")
        return request.param

    @pytest.mark.benchmark(group="memory: 100 books x 1,000 levels per side")
    def test_memory_deep_books(benchmark: Any, impl: str) -> None:
        """Timed: load one 1,000+1,000 snapshot. Figures: memory of 100 such books."""
        frame = snapshot_frame("BTCUSDT", DEEP_LEVELS)
        benchmark.extra_info.update(run_child("books", impl))
        benchmark.extra_info.update(run_child("books-traced", impl))
        benchmark.extra_info["what"] = (
            "time: one 1,000+1,000-level snapshot frame loaded into a fresh book; memory: 100 such books "
            "in a fresh interpreter (RSS delta, and tracemalloc, which cannot see native allocations)"
        )

        def load() -> None:
            make_book(impl, "BTCUSDT")[1](frame)

        benchmark(load)

    @pytest.mark.benchmark(group="memory: long delta stream (200 levels per side)")
    def test_memory_stream_growth(benchmark: Any, impl: str) -> None:
        """Timed: one 10-level delta. Figures: growth over a long stream (none expected)."""
        benchmark.extra_info.update(run_child("stream", impl))
        benchmark.extra_info.update(run_child("stream-traced", impl))
        benchmark.extra_info["what"] = (
            "time: one 10-change delta applied to a 200-level book; memory: RSS / heap blocks / tracemalloc "
            "after minus before `frames` deltas, after a warm-up of frames/10 (0 = no growth)"
        )
        book, feed = make_book(impl, "BTCUSDT")
        feed(snapshot_frame("BTCUSDT", STREAM_LEVELS))
        rounds = 200 if impl == "baseline_pybit" else 2000
        stream = delta_stream("BTCUSDT", STREAM_LEVELS)
        frames = iter([next(stream) for _ in range(rounds + 10)])  # generated before timing
        benchmark.pedantic(lambda: feed(next(frames)), rounds=rounds, iterations=1, warmup_rounds=10)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--child":
    kind, which = sys.argv[2], sys.argv[3]
    traced = kind.endswith("-traced")
    result = measure_stream(which, traced) if kind.startswith("stream") else measure_books(which, traced)
    print(json.dumps(result))
