"""Native book internals that must not change behaviour: the AVX2 block level parser (levels.h)
against the per-value parser, and the two side layouts (direct-indexed ladder for dense keys,
sorted array for sparse ones) with every switch between them, all against the pure-Python
reference after every frame."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import orjson
import pytest

from bybitfast import _book
from bybitfast import book_reference as reference
from bybitfast.book import FrameError, OrderBook, OrderBookError

sys.path.insert(0, str(Path(__file__).parent / "fuzz"))
from fuzz_book import Stream, fixture_frames  # noqa: E402
from test_book_fastpath import decimal_strings  # noqa: E402

TOPIC = "orderbook.200.BTCUSDT"


@pytest.fixture(params=["block", "per-value"])
def parser(request):
    """Run a test with the AVX2 block parser (where the CPU has it) and with the per-value one."""
    prev = _book._set_block_parser(request.param == "block")
    yield request.param
    _book._set_block_parser(prev)


def frame(bids: list, asks: list, *, typ: str = "delta", u: int = 2, seq: int = 7) -> bytes:
    return orjson.dumps({"topic": TOPIC, "type": typ, "ts": 1,
                         "data": {"s": "BTCUSDT", "u": u, "seq": seq, "b": bids, "a": asks}})


def outcome(book, raw: bytes):  # noqa: ANN001, ANN201 - both book types
    try:
        return ("ok", book.apply(raw))
    except (FrameError, OrderBookError) as exc:
        return ("raise", type(exc).__name__)


class Pair:
    """A native and a reference book fed the same frames; state compared after each one."""

    def __init__(self, depth: object = 200) -> None:
        self.nb = OrderBook("BTCUSDT", depth=depth)
        self.rb = reference.OrderBook("BTCUSDT", depth=depth)

    def apply(self, raw: bytes):  # noqa: ANN201
        got = outcome(self.nb, raw)
        assert got == outcome(self.rb, raw), raw[:300]
        assert reference.snapshot_state(self.nb) == reference.snapshot_state(self.rb), raw[:300]
        self.nb._check_invariants()
        return got


def levels(prices: list[int], rng: random.Random, decimals: int = 2) -> list[list[str]]:
    return [[f"{p / 10**decimals:.{decimals}f}", str(rng.randint(1, 10**6) / 1000)] for p in prices]


# ------------------------------------------------------------------ block parser


def test_block_parser_is_on_where_the_cpu_has_it():
    # it reports its state; switching it off and on must round-trip
    was = _book._set_block_parser(False)
    assert _book._set_block_parser(was) is False
    assert _book._set_block_parser(was) is was


def test_long_lists_with_hostile_values_match_reference(parser):
    # lists long enough for the block parser (>= 96 bytes left), a bad or unusual value at every
    # position, whitespace and escapes in some: same outcome and state as the reference
    rng = random.Random(5)
    strs = decimal_strings(rng, 300)
    for _ in range(500):
        n = rng.randint(4, 30)
        bids = [[f"{43000 - i}.{rng.randint(0, 99):02d}", str(rng.randint(1, 999))] for i in range(n)]
        k = rng.randrange(n)
        bids[k][rng.randrange(2)] = rng.choice(strs)
        raw = frame(bids, [["99999", "1"]], typ="snapshot", u=1)
        r = rng.random()
        if r < 0.2:
            raw = raw.replace(b"],[", b"], [", rng.randint(1, 3))
        elif r < 0.3:
            raw = raw.replace(b'"4', b'"\\u0034', 1)
        Pair().apply(raw)


def test_long_rpi_lists_with_hostile_values_match_reference(parser):
    # RPI levels carry three values; the block parser reads them too
    rng = random.Random(6)
    strs = decimal_strings(rng, 300)
    for _ in range(400):
        n = rng.randint(4, 25)
        bids = [[f"{43000 - i}.{rng.randint(0, 99):02d}", str(rng.randint(0, 999)), str(rng.randint(1, 99))]
                for i in range(n)]
        if rng.random() < 0.8:
            k = rng.randrange(n)
            bids[k][rng.randrange(3)] = rng.choice(strs)
        if rng.random() < 0.2:
            bids[rng.randrange(n)].pop()  # a level with two values in an RPI book
        raw = orjson.dumps({"topic": "orderbook.rpi.BTCUSDT", "type": "snapshot", "ts": 1,
                            "data": {"s": "BTCUSDT", "u": 1, "seq": 1, "b": bids, "a": [["99999", "1", "0"]]}})
        Pair(depth="rpi").apply(raw)


@pytest.mark.parametrize("rpi", [False, True])
def test_structural_byte_edits_in_long_lists_match_reference(parser, rpi):
    # one byte replaced, inserted or deleted anywhere in a long level list (brackets, commas,
    # quotes, colons, spaces, digits): the block parser must stop exactly where the reference fails
    rng = random.Random(7 + rpi)
    depth = "rpi" if rpi else 200
    topic = b"orderbook.rpi.BTCUSDT" if rpi else TOPIC.encode()
    for _ in range(1500):
        n = rng.randint(6, 20)
        bids = [[f"{43000 - i}.{rng.randint(0, 99):02d}", str(rng.randint(1, 999))] + (["1"] if rpi else [])
                for i in range(n)]
        raw = frame(bids, [["99999", "1"] + (["0"] if rpi else [])], typ="snapshot", u=1).replace(TOPIC.encode(), topic)
        lo, hi = raw.index(b'"b":[') + 5, raw.index(b'],"a"')
        i = rng.randrange(lo, hi)
        c = rng.choice(b'[]",:. 0123456789\\x')
        op = rng.randrange(3)
        raw = raw[:i] + bytes([c]) + raw[i + 1:] if op == 0 else raw[:i] + bytes([c]) + raw[i:] if op == 1 else raw[:i] + raw[i + 1:]
        Pair(depth=depth).apply(raw)


def test_rpi_stream_identical_with_both_parsers(parser):
    s = Stream(random.Random(4), levels=200, topic="orderbook.rpi.BTCUSDT", rpi=True, window=True)
    p = Pair(depth="rpi")
    p.apply(s.snapshot())
    for _ in range(300):
        p.apply(s.delta(rng_changes(s.rng)))


@pytest.mark.parametrize("cut", range(0, 140, 7))
def test_truncated_long_lists_are_frame_errors(parser, cut):
    rng = random.Random(cut)
    raw = frame(levels(list(range(4_300_000, 4_299_960, -1)), rng), [["99999", "1"]], typ="snapshot", u=1)
    p = Pair()
    p.apply(raw[: len(raw) - 60 - cut])  # ends inside the level list
    assert not p.nb.valid


@pytest.mark.parametrize("value", ["98378113586606628.35", "1234567890123456.789", "123.4567890123456789"])
def test_too_many_significant_digits_is_reported_as_such(parser, value):
    # found by a UBSan build: the digit loop multiplied before checking, overflowing int64 (the
    # frame still failed later, in the range check, with a misleading message)
    with pytest.raises(FrameError, match="too many significant digits"):
        OrderBook("BTCUSDT").apply(frame([[value, "1"]], [], typ="snapshot", u=1))


def test_every_value_length_and_dot_position(parser):
    # 1-16 digit values with the dot anywhere, trailing zeros, as price and size, in long lists
    rng = random.Random(9)
    vals = []
    for nd in range(1, 17):
        digits = "".join(rng.choice("123456789") for _ in range(nd))
        vals.append(digits)
        for dot in range(1, nd):
            vals.append(digits[:dot] + "." + digits[dot:])
            vals.append(digits[:dot] + "." + digits[dot:-1] + "0")
        vals.append("0." + digits[: min(nd, 14)])
    for i in range(0, len(vals), 12):
        chunk = vals[i:i + 12]
        bids = [[v, chunk[-1 - j]] for j, v in enumerate(chunk)]
        Pair(depth=None).apply(frame(bids, [], typ="snapshot", u=1).replace(TOPIC.encode(), b"orderbook.50.BTCUSDT"))


def test_fixtures_and_streams_identical_with_both_parsers(parser):
    p = Pair(depth=None)
    for raw in fixture_frames():
        if b'"topic":"orderbook.' in raw and b"rpi" not in raw:
            p.apply(raw)
    s = Stream(random.Random(2), levels=200, topic=TOPIC, window=True)
    p = Pair()
    p.apply(s.snapshot())
    for _ in range(300):
        p.apply(s.delta(rng_changes(s.rng)))


def rng_changes(rng: random.Random) -> int:
    return rng.choice((1, 3, 10, 41))


# ------------------------------------------------------------------ layouts


def test_real_spot_book_is_direct_indexed(fixtures_dir):
    # recorded spot BTCUSDT depth 200: ~2 % of the 0.01 ticks are occupied; still a ladder
    lines = [ln for f in sorted(fixtures_dir.rglob("*orderbook.200*.jsonl"))
             for ln in f.read_bytes().splitlines() if b'"topic":"orderbook' in ln]
    assert lines
    p = Pair(depth=None)
    for ln in lines:
        p.apply(ln)
    assert p.nb.layout == ("ladder", "ladder")


def test_deep_sparse_book_is_still_a_ladder():
    # a 1,000-level spot book whose levels are ~100 ticks apart (deep books thin out)
    rng = random.Random(8)
    p = Pair(depth=1000)
    bids = [4_300_000 - 100 * i - rng.randint(0, 50) for i in range(1000)]
    asks = [4_300_100 + 100 * i + rng.randint(0, 50) for i in range(1000)]
    p.apply(frame(levels(bids, rng), levels(asks, rng), typ="snapshot", u=1).replace(TOPIC.encode(), b"orderbook.1000.BTCUSDT"))
    assert p.nb.layout == ("ladder", "ladder")
    for u in range(2, 200):
        p.apply(frame(levels([4_300_000 - rng.randint(0, 100_000)], rng), levels([4_300_100 + rng.randint(0, 100_000)], rng),
                      u=u).replace(TOPIC.encode(), b"orderbook.1000.BTCUSDT"))
    assert p.nb.layout == ("ladder", "ladder")


def test_sparse_snapshot_stays_sorted_and_dense_one_is_a_ladder():
    rng = random.Random(1)
    p = Pair()
    p.apply(frame(levels([4_300_000 - 100_000 * i for i in range(50)], rng),
                  levels([4_300_100 + 100_000 * i for i in range(50)], rng), typ="snapshot", u=1))
    assert p.nb.layout == ("sorted", "sorted")
    p.apply(frame(levels([4_300_000 - 2 * i for i in range(50)], rng),
                  levels([4_300_100 + 3 * i for i in range(50)], rng), typ="snapshot", u=5))
    assert p.nb.layout == ("ladder", "ladder")


def test_ladder_grows_moves_and_falls_back_to_sorted():
    rng = random.Random(2)
    p = Pair()
    p.apply(frame(levels([4_300_000 - i for i in range(20)], rng),
                  levels([4_300_010 + i for i in range(20)], rng), typ="snapshot", u=1))
    assert p.nb.layout == ("ladder", "ladder")
    u = 1
    # inserts just outside the slots, far below (still dense enough), deletes out of range
    for far in (100, 300, 1_000, 3_000):
        u += 1
        p.apply(frame(levels([4_300_000 - far], rng) + [["1.00", "0"], ["99999.99", "0"]],
                      levels([4_300_010 + far], rng), u=u))
        assert p.nb.layout == ("ladder", "ladder")
    # an insert so far away that the side would be mostly empty: sorted, same content
    u += 1
    p.apply(frame(levels([4_300_000 - 10_000_000], rng), [], u=u))
    assert p.nb.layout == ("sorted", "ladder")
    for _ in range(50):
        u += 1
        p.apply(frame(levels([4_300_000 - rng.randint(0, 50)], rng) + [[f"{(4_300_000 - rng.randint(0, 60)) / 100:.2f}", "0"]],
                      levels([4_300_010 + rng.randint(0, 50)], rng), u=u))
    # the next snapshot decides again
    u += 1
    p.apply(frame(levels([4_300_000 - i for i in range(20)], rng), levels([4_300_010 + i for i in range(20)], rng),
                  typ="snapshot", u=u))
    assert p.nb.layout == ("ladder", "ladder")


def test_best_level_deleted_emptied_and_refilled():
    rng = random.Random(3)
    p = Pair()
    p.apply(frame(levels([4_300_000 - 3 * i for i in range(10)], rng),
                  levels([4_300_100 + 3 * i for i in range(10)], rng), typ="snapshot", u=1))
    u = 1
    bids = [4_300_000 - 3 * i for i in range(10)]
    while bids:  # delete the best bid each frame, then the whole side is empty
        u += 1
        top = bids.pop(0)
        p.apply(frame([[f"{top / 100:.2f}", "0"]], [], u=u))
    assert p.nb.num_bids == 0 and p.nb.best_bid() is None
    u += 1
    p.apply(frame(levels([4_299_990, 4_299_950], rng), [], u=u))
    assert p.nb.best_bid()[0] == 42999.9


def test_same_price_several_times_in_one_delta():
    rng = random.Random(4)
    p = Pair()
    p.apply(frame(levels([4_300_000 - i for i in range(10)], rng), levels([4_300_020 + i for i in range(10)], rng),
                  typ="snapshot", u=1))
    u = 1
    for seq in (["1", "0", "2"], ["0", "3", "0"], ["0", "0"], ["5", "6"], ["0", "7", "0", "8"]):
        for price in ("42999.95", "43000.00", "42999.99", "42900.00"):
            u += 1
            p.apply(frame([[price, s] for s in seq], [["43000.20", s] for s in seq[::-1]], u=u))


def test_churn_keeps_the_pool_balanced():
    # thousands of inserts and deletes on a 5-level book: every pool entry freed is reused
    rng = random.Random(7)
    s = Stream(rng, levels=5, topic=TOPIC)
    p = Pair()
    p.apply(s.snapshot())
    for _ in range(3000):
        p.apply(s.delta(10))


def test_finer_decimals_rescale_a_ladder():
    rng = random.Random(5)
    p = Pair()
    p.apply(frame(levels([43_000 - i for i in range(30)], rng, 0), levels([43_001 + i for i in range(30)], rng, 0),
                  typ="snapshot", u=1))
    assert p.nb.layout == ("ladder", "ladder") and p.nb.price_scale == 0
    p.apply(frame([["42999.5", "1.5"]], [["43000.25", "0.125"]], u=2))
    assert p.nb.price_scale == 2
    for u in range(3, 60):
        p.apply(frame(levels([4_300_000 - rng.randint(1, 3000)], rng), levels([4_300_100 + rng.randint(0, 3000)], rng),
                      u=u))


def test_pool_limit_sends_a_huge_side_back_to_sorted():
    # ladder pool entries are 16-bit: a side that would pass 65,535 levels is kept sorted instead
    rng = random.Random(6)
    p = Pair(depth="full")
    bids = [[f"{(10_000_000 - i) / 100:.2f}", "1"] for i in range(30_000)]
    asks = [[f"{(10_000_001 + i) / 100:.2f}", "1"] for i in range(10)]
    raw = frame(bids, asks, typ="snapshot", u=1).replace(TOPIC.encode(), b"orderbook.full.BTCUSDT")
    p.apply(raw)
    assert p.nb.layout == ("ladder", "ladder")
    more = [[f"{(10_000_000 - 30_000 - i) / 100:.2f}", "1"] for i in range(36_000)]
    p.apply(frame(more, levels([10_000_001 + 20], rng), u=2).replace(TOPIC.encode(), b"orderbook.full.BTCUSDT"))
    assert p.nb.layout == ("sorted", "ladder") and p.nb.num_bids == 66_000


def test_forty_thousand_level_side_is_a_ladder():
    # up to 65,535 levels per side fit the pool; more go sorted (previous test)
    p = Pair(depth="full")
    bids = [[f"{(10_000_000 - i) / 100:.2f}", "1"] for i in range(40_000)]
    raw = frame(bids, [["100000.01", "1"]], typ="snapshot", u=1).replace(TOPIC.encode(), b"orderbook.full.BTCUSDT")
    p.apply(raw)
    assert p.nb.layout == ("ladder", "ladder") and p.nb.num_bids == 40_000


@pytest.mark.parametrize("seed", range(4))
def test_random_walks_with_jumps_match_reference(seed):
    # a drifting book with occasional far inserts, bursts of deletes and rescales
    rng = random.Random(seed)
    s = Stream(rng, levels=rng.choice((5, 50, 200)), topic=TOPIC, window=rng.random() < 0.5)
    p = Pair()
    p.apply(s.snapshot())
    for _ in range(400):
        r = rng.random()
        if r < 0.03:
            s.mid += rng.choice((-1, 1)) * rng.randint(1_000, 2_000_000)
            p.apply(s.snapshot())
            continue
        raw = s.delta(rng_changes(rng))
        if r < 0.06:  # a far insert on the bid side only (cannot cross)
            far = min(s.bids) - rng.randint(1, 3_000_000)
            s.bids[far] = 1
            d = orjson.loads(raw)
            d["data"]["b"].append([f"{far / 100:.2f}", "0.01"])
            raw = orjson.dumps(d)
        p.apply(raw)


def test_negative_prices_spread_book_is_a_ladder():
    # spread books quote negative prices (keys below zero on both sides)
    rng = random.Random(3)

    def lv(ticks: int, size: str | None = None) -> list[str]:
        return [f"{ticks / 100:.2f}", size if size is not None else str(rng.randint(1, 999))]

    p = Pair()
    p.apply(frame([lv(-1000 - 3 * i) for i in range(50)], [lv(-990 + 3 * i) for i in range(50)], typ="snapshot", u=1))
    assert p.nb.layout == ("ladder", "ladder") and p.nb.best_bid()[0] == -10.0
    for u in range(2, 1500):
        b = [lv(-1000 - rng.randint(0, 300), None if rng.random() < 0.6 else "0") for _ in range(rng.randint(0, 5))]
        a = [lv(-990 + rng.randint(0, 300), None if rng.random() < 0.6 else "0") for _ in range(rng.randint(0, 5))]
        p.apply(frame(b, a, u=u))
    assert p.nb.layout == ("ladder", "ladder")
