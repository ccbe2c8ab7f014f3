"""Native order book: validation rules (PROTOCOL §5), bad input, fixtures and random streams,
always cross-checked against the pure-Python reference book."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bybitfast
from bybitfast import book_reference as reference
from bybitfast.book import (
    APPLIED_DELTA,
    APPLIED_SNAPSHOT,
    DROPPED_STALE,
    IGNORED_NOT_LIVE,
    FrameError,
    OrderBook,
    OrderBookCrossedError,
    OrderBookError,
    OrderBookGapError,
)
from bybitfast.errors import BybitError

sys.path.insert(0, str(Path(__file__).parent / "fuzz"))
from fuzz_book import Stream, fixture_frames, make_frame  # noqa: E402

T = "orderbook.50.BTCUSDT"
BOOKS = [OrderBook, reference.OrderBook]


def frame(typ: str, bids, asks, u: int, seq: int = 100, *, topic: str = T, ts: int = 1000, **extra) -> bytes:
    data = {"s": "BTCUSDT", "b": bids, "a": asks, "u": u, "seq": seq, **extra.pop("data_extra", {})}
    return orjson.dumps({"topic": topic, "type": typ, "ts": ts, "data": data, "cts": ts - 1, **extra})


SNAP = frame("snapshot", [["100.5", "1"], ["100", "2"]], [["101", "3"], ["101.25", "4"]], 10, 500)


def state(book) -> dict:
    return reference.snapshot_state(book)


def both(depth=None, strict=True):
    return OrderBook("BTCUSDT", depth=depth, strict=strict), reference.OrderBook("BTCUSDT", depth=depth, strict=strict)


def apply_both(nb, rb, f):
    """Apply to both books; the outcomes and states must agree. Returns the native outcome."""
    res = []
    for b in (nb, rb):
        try:
            res.append(b.apply(f))
        except (FrameError, OrderBookError) as exc:
            res.append(type(exc))
    assert res[0] == res[1], (res, f)
    assert state(nb) == state(rb)
    return res[0]


# ------------------------------------------------------------------ exports


def test_public_names_and_hierarchy():
    assert bybitfast.OrderBook is OrderBook
    assert bybitfast.FrameError is FrameError and issubclass(FrameError, ValueError)
    assert issubclass(OrderBookGapError, OrderBookError) and issubclass(OrderBookCrossedError, OrderBookError)
    assert issubclass(OrderBookError, BybitError) and issubclass(FrameError, BybitError)
    assert bybitfast.OrderBookCrossedError is OrderBookCrossedError


# ------------------------------------------------------------------ validation rules


@pytest.mark.parametrize("cls", BOOKS)
def test_snapshot_then_contiguous_delta(cls):
    b = cls("BTCUSDT")
    assert b.apply(SNAP) == APPLIED_SNAPSHOT
    assert b.valid and b.update_id == 10 and b.seq == 500 and b.ts == 1000 and b.cts == 999
    assert b.topic == T
    assert b.apply(frame("delta", [["100.5", "0"], ["100.75", "5"]], [["101", "3.5"]], 11, 501)) == APPLIED_DELTA
    assert b.bids_decimal() == [("100.75", "5"), ("100", "2")]
    assert b.asks_decimal() == [("101", "3.5"), ("101.25", "4")]
    assert b.best_bid() == (100.75, 5.0) and b.best_ask() == (101.0, 3.5)
    assert b.best_bid_price() == 100.75 and b.best_ask_price() == 101.0
    assert b.bids(1) == [(100.75, 5.0)] and b.asks() == [(101.0, 3.5), (101.25, 4.0)]
    assert (b.snapshots, b.deltas) == (1, 1)


@pytest.mark.parametrize("cls", BOOKS)
def test_snapshot_replaces_including_u1_reset_and_same_u_repush(cls):
    b = cls("BTCUSDT")
    b.apply(SNAP)
    again = frame("snapshot", [["99", "1"]], [["102", "1"]], 10, 500)   # L1 re-push with the same u
    assert b.apply(again) == APPLIED_SNAPSHOT and b.bids_decimal() == [("99", "1")]
    reset = frame("snapshot", [["98", "1"]], [["103", "1"]], 1, 7)     # service restart
    assert b.apply(reset) == APPLIED_SNAPSHOT and b.update_id == 1 and b.seq == 7
    assert b.apply(frame("delta", [], [["103", "2"]], 2, 8)) == APPLIED_DELTA


@pytest.mark.parametrize("cls", BOOKS)
def test_stale_and_duplicate_deltas_are_dropped_and_counted(cls):
    b = cls("BTCUSDT")
    b.apply(SNAP)
    before = state(b)
    assert b.apply(frame("delta", [["100.5", "0"]], [], 10, 501)) == DROPPED_STALE
    assert b.apply(frame("delta", [["100.5", "0"]], [], 3, 501)) == DROPPED_STALE
    assert b.stale_dropped == 2
    after = state(b)
    assert after.pop("stale_dropped") == 2 and before.pop("stale_dropped") == 0 and after == before


@pytest.mark.parametrize("cls", BOOKS)
def test_gap_raises_and_invalidates_until_snapshot(cls):
    b = cls("BTCUSDT")
    b.apply(SNAP)
    with pytest.raises(OrderBookGapError, match="gap"):
        b.apply(frame("delta", [["100.5", "9"]], [], 12, 501))
    assert not b.valid and b.bids_decimal()[0] == ("100.5", "1") and b.gaps == 1
    assert b.apply(frame("delta", [], [], 13, 502)) == IGNORED_NOT_LIVE
    assert b.ignored_not_live == 1
    assert b.apply(SNAP) == APPLIED_SNAPSHOT and b.valid


@pytest.mark.parametrize("cls", BOOKS)
def test_lenient_mode_accepts_forward_jumps(cls):
    b = cls("BTCUSDT", strict=False)
    b.apply(SNAP)
    assert b.apply(frame("delta", [], [["101", "1"]], 15, 501)) == APPLIED_DELTA
    assert b.apply(frame("delta", [], [["101", "1"]], 15, 501)) == DROPPED_STALE


@pytest.mark.parametrize("cls", BOOKS)
def test_u_reset_to_1_in_a_delta_and_seq_backwards_are_gaps(cls):
    b = cls("BTCUSDT")
    b.apply(SNAP)
    with pytest.raises(OrderBookGapError, match="reset"):
        b.apply(frame("delta", [], [], 1, 501))
    b.apply(SNAP)
    with pytest.raises(OrderBookGapError, match="seq"):
        b.apply(frame("delta", [["100", "7"]], [], 11, 499))
    assert not b.valid and b.bids_decimal()[1] == ("100", "2")   # not applied


@pytest.mark.parametrize("cls", BOOKS)
def test_delta_before_any_snapshot_is_ignored(cls):
    b = cls("BTCUSDT")
    assert b.apply(frame("delta", [["1", "1"]], [], 5)) == IGNORED_NOT_LIVE
    assert len(b) == 0 and b.state == "empty" and b.best_bid() is None and math.isnan(b.best_bid_price())


@pytest.mark.parametrize("cls", BOOKS)
def test_delete_of_absent_level_is_harmless_and_counted(cls):
    b = cls("BTCUSDT")
    b.apply(SNAP)
    assert b.apply(frame("delta", [["50", "0"]], [["200", "0"]], 11, 501)) == APPLIED_DELTA
    assert b.absent_deletes == 2 and b.num_bids == 2 and b.num_asks == 2


@pytest.mark.parametrize("cls", BOOKS)
def test_crossed_book_raises_and_invalidates(cls):
    b = cls("BTCUSDT")
    b.apply(SNAP)
    with pytest.raises(OrderBookCrossedError):
        b.apply(frame("delta", [["101", "1"]], [], 11, 501))
    assert not b.valid and b.crossed == 1 and b.update_id == 11
    with pytest.raises(OrderBookCrossedError):
        b.apply(frame("snapshot", [["5", "1"]], [["5", "1"]], 20))


@pytest.mark.parametrize("cls", BOOKS)
def test_foreign_topic_or_symbol_is_a_frame_error_and_book_untouched(cls):
    b = cls("BTCUSDT")
    b.apply(SNAP)
    before = state(b)
    for f in (frame("delta", [], [], 11, topic="orderbook.200.BTCUSDT"),
              frame("delta", [], [], 11, topic="orderbook.50.ETHUSDT"),
              frame("delta", [], [], 11, topic="publicTrade.BTCUSDT"),
              frame("delta", [], [], 11, data_extra={"s": "ETHUSDT"})):
        with pytest.raises(FrameError):
            b.apply(f)
        assert state(b) == before
    fixed = cls("BTCUSDT", depth=200)
    with pytest.raises(FrameError, match="does not belong"):
        fixed.apply(SNAP)


@pytest.mark.parametrize("cls", BOOKS)
def test_rpi_book(cls, fixtures_dir):
    b = cls("BTCUSDT", depth="rpi", category="linear")
    rpi = (fixtures_dir / "ws/public/orderbook/orderbook.rpi.docs.json").read_bytes()
    snap = frame("snapshot", [["121975.1", "1", "0"], ["121969.9", "1", "1"]],
                 [["121990.8", "1", "0"], ["122018.5", "2", "0"]], 2258979, 79683241000, topic="orderbook.rpi.BTCUSDT")
    assert b.apply(snap) == APPLIED_SNAPSHOT
    assert b.apply(rpi) == APPLIED_DELTA
    # ["121969.9","0","0"] removed; ["121960.5","0","0.163986"] kept as an RPI-only level
    assert b.bids_decimal() == [("121975.1", "0.114259", "0"), ("121960.5", "0", "0.163986")]
    assert b.asks_decimal()[0] == ("121990.8", "0.441585", "0.78821")
    assert b.best_ask() == (121990.8, 0.441585 + 0.78821) or b.best_ask()[1] == pytest.approx(1.229795)
    assert b.bids_rpi(1) == [(121975.1, 0.114259, 0.0)]
    with pytest.raises(FrameError):
        b.apply(frame("delta", [["1", "1"]], [], 2258981, topic="orderbook.rpi.BTCUSDT"))  # 2-value level


@pytest.mark.parametrize("cls", BOOKS)
def test_full_book_from_rest_snapshot_then_deltas(cls, fixtures_dir):
    b = cls("BTCUSDT", depth="full", category="spot")
    n = 12_000
    rest = {"retCode": 0, "retMsg": "OK", "result": {
        "s": "BTCUSDT", "b": [[f"{50000 - i * 0.5:.1f}", "1.5"] for i in range(n)],
        "a": [[f"{50001 + i * 0.5:.1f}", "2"] for i in range(n)], "ts": 5, "u": 100, "seq": 9, "cts": 4}}
    b.apply_snapshot(orjson.dumps(rest))
    assert b.num_bids == n and b.num_asks == n and b.update_id == 100 and b.valid
    assert b.apply(frame("delta", [["50000.0", "0"]], [["50000.5", "1"]], 100, topic="orderbook.full.BTCUSDT")) \
        == DROPPED_STALE
    assert b.apply(frame("delta", [["50000.0", "0"]], [["50000.5", "1"]], 101, topic="orderbook.full.BTCUSDT")) \
        == APPLIED_DELTA
    assert b.best_bid() == (49999.5, 1.5) and b.best_ask() == (50000.5, 1.0)
    b.apply_snapshot(rest["result"])   # a decoded ``result`` works too
    assert b.num_bids == n and b.update_id == 100
    with pytest.raises(FrameError, match="retCode"):
        b.apply_snapshot({"retCode": 10001, "retMsg": "bad", "result": {}})


def test_full_book_snapshot_native_matches_reference_unsorted_and_duplicates():
    nb, rb = both()
    bids = [[str(p), "1"] for p in (5, 9, 7, 9, 3)] + [["7", "0"]]
    for b in (nb, rb):
        b.apply_snapshot({"b": bids, "a": [["10", "1"], ["10", "2"], ["11", "0"]], "u": 1, "ts": 1})
    assert state(nb) == state(rb)
    assert nb.bids_decimal() == [("9", "1"), ("5", "1"), ("3", "1")] and nb.asks_decimal() == [("10", "2")]


@pytest.mark.parametrize("cls", BOOKS)
def test_invalidate_and_clear(cls):
    b = cls("BTCUSDT")
    b.apply(SNAP)
    b.invalidate()
    assert not b.valid and b.apply(frame("delta", [], [], 11)) == IGNORED_NOT_LIVE
    b.clear()
    assert len(b) == 0 and b.topic is None and b.update_id == -1 and b.snapshots == 1


@pytest.mark.parametrize("cls", BOOKS)
def test_fixed_point_rescale_and_exact_strings(cls):
    b = cls("BTCUSDT")
    b.apply(frame("snapshot", [["43730", "1"], ["43729.5", "0.10"]], [["43731.00", "2"]], 1))
    assert b.price_scale == 1 and b.size_scale == 1
    b.apply(frame("delta", [["43729.123456", "0.000001"]], [], 2))   # finer level: book rescales
    assert b.price_scale == 6 and b.size_scale == 6
    assert b.bids_decimal() == [("43730", "1"), ("43729.5", "0.10"), ("43729.123456", "0.000001")]
    assert b.asks_decimal() == [("43731.00", "2")]
    assert b.bids()[2] == (43729.123456, 1e-06)
    with pytest.raises(FrameError, match="range|overflow"):
        b.apply(frame("delta", [["1.00000000000001", "1"]], [], 3))  # 43730 at 14 decimals > 10**18
    assert b.update_id == 2 and b.price_scale == 6


@pytest.mark.parametrize("cls", BOOKS)
def test_key_order_whitespace_and_escapes(cls):
    b = cls("BTCUSDT")
    f = (b' { "data" : { "u" : 5 , "a" : [ [ "2" , "1" ] ] , "b" : [ [ "1" , "1" ] ] , "s" : "BTCUSDT" } ,\n'
         b'"ts":1,"type":"snap\\u0073hot","cts":0,"t\\u006fpic":"orderbook.50.BTCUSDT" , "extra": {"x": [1, 2.5e3, null]} } ')
    assert b.apply(f) == APPLIED_SNAPSHOT and b.bids_decimal() == [("1", "1")]
    assert b.apply(frame("delta", [["\u0031.5", "2"]], [], 6).replace(b'"1.5"', b'"\\u0031.5"')) == APPLIED_DELTA
    assert b.bids_decimal()[0] == ("1.5", "2")
    assert b.apply(f.decode()) == APPLIED_SNAPSHOT   # str frames
    assert b.apply(bytearray(f)) == APPLIED_SNAPSHOT and b.apply(memoryview(f)) == APPLIED_SNAPSHOT
    with pytest.raises(TypeError):
        b.apply(12345)


BAD_FRAMES = {
    "empty": b"",
    "truncated": SNAP[:-7],
    "not an object": b"[1,2]",
    "trailing garbage": SNAP + b"x",
    "NaN text": SNAP.replace(b'"seq":500', b'"seq":NaN'),
    "NaN decimal": SNAP.replace(b'"100.5"', b'"NaN"'),
    "huge integer": SNAP.replace(b'"u":10', b'"u":92233720368547758070'),
    "float u": SNAP.replace(b'"u":10', b'"u":10.0'),
    "negative u": SNAP.replace(b'"u":10', b'"u":-10'),
    "bool ts": SNAP.replace(b'"ts":1000', b'"ts":true'),
    "string u": SNAP.replace(b'"u":10', b'"u":"10"'),
    "negative size": SNAP.replace(b'"2"]', b'"-2"]'),
    "too many decimals": SNAP.replace(b'"100.5"', b'"100.5000000000000000001"'),
    "too many digits": SNAP.replace(b'"100.5"', b'"1234567890123456789"'),
    "exponent decimal": SNAP.replace(b'"100.5"', b'"1e2"'),
    "leading zero": SNAP.replace(b'"100.5"', b'"0100.5"'),
    "number level": SNAP.replace(b'"100.5"', b"100.5"),
    "short level": SNAP.replace(b'["100.5","1"]', b'["100.5"]'),
    "long level": SNAP.replace(b'["100.5","1"]', b'["100.5","1","2"]'),
    "level not array": SNAP.replace(b'["100.5","1"]', b'{"p":"100.5"}'),
    "b not array": SNAP.replace(b'"b":[', b'"b":{"x":[').replace(b'],"a"', b']},"a"', 1),
    "missing u": SNAP.replace(b',"u":10', b""),
    "missing b": SNAP.replace(b'"b":[["100.5","1"],["100","2"]],', b""),
    "missing ts": SNAP.replace(b'"ts":1000,', b""),
    "missing data": orjson.dumps({"topic": T, "type": "snapshot", "ts": 1}),
    "data not object": orjson.dumps({"topic": T, "type": "snapshot", "ts": 1, "data": [1]}),
    "unknown type": SNAP.replace(b'"snapshot"', b'"snap"'),
    "topic not string": SNAP.replace(b'"orderbook.50.BTCUSDT"', b"50"),
    "duplicate key": SNAP.replace(b'"u":10', b'"u":10,"u":11'),
    "nested garbage": SNAP.replace(b'"cts":999', b'"x":' + b"[" * 100 + b"]" * 100),
    "bad escape": SNAP.replace(b"orderbook.50", b"orderbook\\x50"),
    "control char": SNAP.replace(b"orderbook.50", b"orderbook\x01.50"),
    "invalid utf-8": SNAP.replace(b'"cts":999', b'"x":"\xff\xfe"'),
    "encoded surrogate": SNAP.replace(b'"cts":999', b'"x":"\xed\xa0\x80"'),
    "unterminated string": b'{"topic":"orderbook.50.BTCUSDT',
    "negative zero price": SNAP.replace(b'"100.5"', b'"-0.0"'),
}


@pytest.mark.parametrize("name", sorted(BAD_FRAMES))
@pytest.mark.parametrize("cls", BOOKS)
def test_bad_input_is_a_frame_error_and_leaves_the_book_exactly_as_it_was(cls, name):
    b = cls("BTCUSDT")
    b.apply(frame("snapshot", [["99", "1"]], [["102", "1"]], 5, 400))
    before = state(b)
    with pytest.raises(FrameError) as ei:
        b.apply(BAD_FRAMES[name])
    assert str(ei.value)
    assert state(b) == before


def test_bad_delta_on_live_book_leaves_it_untouched_native():
    b = OrderBook("BTCUSDT")
    b.apply(SNAP)
    before = state(b)
    bad = frame("delta", [["100.5", "0"], ["100.1", "1"]], [["101", "1"], ["x", "1"]], 11, 501)
    with pytest.raises(FrameError):
        b.apply(bad)
    assert state(b) == before
    assert b.apply(frame("delta", [], [], 11, 501)) == APPLIED_DELTA


def test_lone_surrogate_str_frame_is_a_frame_error():
    for cls in BOOKS:
        with pytest.raises(FrameError):
            cls("BTCUSDT").apply('{"topic":"\ud800"}')


def test_constructor_validation():
    for cls in BOOKS:
        with pytest.raises(ValueError):
            cls("")
        with pytest.raises(ValueError):
            cls("BTCUSDT", depth=0)
        assert cls("BTCUSDT", depth="200").topic == "orderbook.200.BTCUSDT"


# ------------------------------------------------------------------ fixtures


def fixture_sequences(fixtures_dir: Path) -> list[tuple[str, list[bytes]]]:
    seqs = []
    for f in sorted(fixtures_dir.rglob("*.jsonl")):
        lines = [ln for ln in f.read_bytes().splitlines() if b'"topic":"orderbook' in ln]
        if lines:
            seqs.append((f.name, lines))
    return seqs


def test_every_fixture_sequence_matches_reference_at_every_step(fixtures_dir):
    seqs = fixture_sequences(fixtures_dir)
    assert len(seqs) >= 2
    for name, lines in seqs:
        nb, rb = both()
        for ln in lines:
            assert apply_both(nb, rb, ln) in (APPLIED_SNAPSHOT, APPLIED_DELTA), name
        assert nb.valid and nb.absent_deletes == 0
        # exact strings round-trip: the snapshot's levels come back as sent
    name, lines = seqs[0]
    nb = OrderBook("BTCUSDT")
    nb.apply(lines[0])
    snap = orjson.loads(lines[0])["data"]
    assert [list(x) for x in nb.bids_decimal()] == snap["b"] and [list(x) for x in nb.asks_decimal()] == snap["a"]


def test_docs_delta_and_rpi_example_match_reference(fixtures_dir):
    d = fixtures_dir / "ws/public/orderbook"
    delta = (d / "orderbook.50.BTCUSDT_delta.docs.json").read_bytes()
    nb, rb = both()
    # The docs delta is unrelated to the docs snapshot (which is not JSON): seed a book whose u precedes it.
    apply_both(nb, rb, frame("snapshot", [["30240.00", "1"], ["30200", "1"]], [["30248.70", "1"], ["30260", "1"]],
                             177400506, 66544703000))
    assert apply_both(nb, rb, delta) == APPLIED_DELTA
    assert nb.bids_decimal(2) == [("30247.20", "30.028"), ("30245.40", "0.224")]
    rn, rr = both("rpi")
    rpi = (d / "orderbook.rpi.docs.json").read_bytes()
    assert apply_both(rn, rr, rpi) == IGNORED_NOT_LIVE
    for ln in fixture_frames():
        apply_both(*both(), ln)


# ------------------------------------------------------------------ random streams


@st.composite
def streams(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    import random

    rng = random.Random(seed)
    s = Stream(rng, levels=draw(st.integers(1, 30)), decimals=draw(st.sampled_from([0, 1, 2, 4])))
    frames = [s.snapshot()]
    for _ in range(draw(st.integers(1, 40))):
        op = draw(st.sampled_from(["delta", "delta", "delta", "resend", "gap", "stale", "snapshot", "cross"]))
        if op == "delta":
            frames.append(s.delta(draw(st.integers(0, 15))))
        elif op == "resend":
            frames.append(frames[-1])
        elif op == "gap":
            s.u += draw(st.integers(1, 3))
            frames.append(s.delta(3))
        elif op == "stale":
            f = orjson.loads(frames[-1])
            f["data"]["u"] -= draw(st.integers(1, 5))
            frames.append(orjson.dumps(f))
        elif op == "snapshot":
            frames.append(s.snapshot())
        else:
            s.u += 1
            frames.append(make_frame(s.topic, "delta", [[str(max(s.asks) / 10**s.decimals), "1"]], [], s.u, s.seq, s.ts))
    return frames


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.booleans())
def test_random_streams_native_matches_reference(frames, strict):
    nb, rb = both(strict=strict)
    for f in frames:
        apply_both(nb, rb, f)


def test_every_position_of_every_small_book_size():
    """Update, insert and delete at every position (below, between and above the levels) of books
    of 0..40 levels per side: the branch-free search's halving steps differ with every size."""
    for n in range(0, 41):
        bids = [[str(1000 - 2 * i), "1"] for i in range(n)]          # 1000, 998, ...
        asks = [[str(2000 + 2 * i), "1"] for i in range(n)]
        snap = frame("snapshot", bids, asks, 10)
        for p in range(1000 - 2 * n - 1, 1002):
            ap = 3000 - p                                             # mirrored on the ask side
            for size in ("0", "7"):
                nb, rb = both()
                apply_both(nb, rb, snap)
                assert apply_both(nb, rb, frame("delta", [[str(p), size]], [[str(ap), size]], 11)) == 2
