"""The SIMD/SWAR fast paths of the native scanner (jscan.pxd) agree with the general path.

``js_dec_fast`` (one-pass decimals), ``js_uint_fast`` (integers), ``js_str_scan`` (strings) and
``js_skip_brackets`` (frame_info's lenient skip) only take inputs they can decide; everything else
falls back to the validating scalar code. These tests aim at their edges: every string length
around the 16-byte block, dots and zeros at every position, values near the end of the buffer
(where the fast paths must not read past it), escapes and brackets inside strings.
"""

from __future__ import annotations

import random

import orjson
import pytest

from bybitfast import book_reference as reference
from bybitfast.book import FrameError, OrderBook, OrderBookError
from bybitfast.router import Router, frame_info

TOPIC = "orderbook.50.BTCUSDT"


def frame(bids: list, asks: list, *, typ: str = "snapshot", u: int = 10, seq: int = 7, tail: bytes = b"") -> bytes:
    """A snapshot/delta with hand-written level strings; ``tail`` pads after the last level."""
    body = orjson.dumps({"topic": TOPIC, "type": typ, "ts": 1, "data": {"s": "BTCUSDT", "u": u, "seq": seq,
                                                                       "b": bids, "a": asks}})
    return body[:-2] + b"}" + tail + b"}" if tail else body


def outcome(book, raw: bytes):  # noqa: ANN001, ANN201 - both book types
    try:
        return ("ok", book.apply(raw))
    except (FrameError, OrderBookError) as exc:
        return ("raise", type(exc).__name__)


def same(raw: bytes, depth: object = 50) -> None:
    nb, rb = OrderBook("BTCUSDT", depth=depth), reference.OrderBook("BTCUSDT", depth=depth)
    assert outcome(nb, raw) == outcome(rb, raw), raw
    assert reference.snapshot_state(nb) == reference.snapshot_state(rb), raw


def decimal_strings(rng: random.Random, n: int) -> list[str]:
    out = ["0", "0.0", "1", "10", "0.1", "0.10", "1.000000", "123456789012345", "12345678901234.5",
           "1234567.1234567", "0.00000000000001", "99999999.99999999", "00", "01", "1.", ".1", "1..2",
           "-1", "-0", "1e5", "", "1 ", " 1", "１"]
    for _ in range(n):
        k = rng.randint(1, 20)
        s = "".join(rng.choice("0123456789") for _ in range(k))
        r = rng.random()
        if r < 0.6 and k > 1:
            i = rng.randint(1, k - 1)
            s = s[:i] + "." + s[i:]
            if rng.random() < 0.4:
                s = s.rstrip("0123456789") + "0" * rng.randint(1, 4)
                s = s if not s.endswith(".") else s + "0"
        elif r < 0.7:
            s = rng.choice(["0.", "-", "+", "."]) + s
        elif r < 0.75:
            i = rng.randrange(len(s) + 1)
            s = s[:i] + rng.choice(".-e\\x\"é") + s[i:]
        out.append(s)
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_decimal_fast_path_matches_reference(seed):
    rng = random.Random(seed)
    strs = decimal_strings(rng, 600)
    for s in strs:
        # as a price and as a size, mid-frame and as the very last level (short tail)
        same(frame([[s, "1"]], [["99999", "2"]]))
        same(frame([["1", "1"]], [["99999", s]]))
        same(frame([["1", "1"]], [[s, "2"]], tail=b""))
    for _ in range(400):
        bids = [[rng.choice(strs), rng.choice(strs)] for _ in range(rng.randint(1, 6))]
        same(frame(bids, [["99999999", "1"]]))


def test_decimal_at_every_distance_from_the_end():
    # the fast paths need 32 readable bytes after a value: walk the last level towards the end
    for pad in range(0, 48):
        for s in ("43726.11", "0.780589", "123456789012.12", "0", "1.10"):
            raw = frame([["1", "1"]], [["99999.5", s]]) + b" " * pad
            same(raw)
            same(raw[:-1 - pad] if pad else raw[:-1])  # truncated: must be a FrameError, no crash


def test_rpi_levels_fast_and_general():
    rng = random.Random(3)
    strs = decimal_strings(rng, 150)
    for s in strs:
        raw = orjson.dumps({"topic": "orderbook.rpi.BTCUSDT", "type": "snapshot", "ts": 1,
                            "data": {"s": "BTCUSDT", "u": 1, "seq": 1, "b": [["1", "1", s]], "a": [["5", s, "1"]]}})
        same(raw, depth="rpi")


@pytest.mark.parametrize("value", ["0", "1", "7", "10", "123456789012345", "1234567890123456", "9223372036854775807",
                                   "9223372036854775808", "01", "1.0", "1e3", "-1", "00", "12345678901234567890"])
def test_integer_fast_path(value):
    raw = (b'{"topic":"' + TOPIC.encode() + b'","type":"snapshot","ts":' + value.encode()
           + b',"data":{"s":"BTCUSDT","b":[["1","1"]],"a":[["2","1"]],"u":' + value.encode() + b',"seq":'
           + value.encode() + b"},\"cts\":" + value.encode() + b"}")
    same(raw)


def test_strings_with_escapes_and_non_ascii_at_block_edges():
    for n in range(0, 40):
        for filler in ("a", "é", "\\u0041", "\\\"", "\\\\", "\u2028"):
            topic_junk = "x" * n + filler
            raw = frame([["1", "1"]], [["2", "1"]])
            raw = raw[:-1] + b',"' + topic_junk.encode() + b'":"' + topic_junk.encode() + b'"}'
            same(raw)


FRAME_INFO_CASES = [
    {"topic": "t", "data": {"b": [["1", "2"]], "a": [], "u": 5, "seq": 6}},
    {"topic": "t", "data": {"b": [["[", "]"], ["{", "}"]], "a": [["\"]", "\\"]], "u": 5, "seq": 6}},
    {"topic": "t", "data": {"x": {"y": [1, {"z": "]]]}}}"}]}, "u": 1}},
    {"topic": "t", "type": "delta", "data": {"b": [[str(i) * (i % 40), "\\" * (i % 3)] for i in range(60)], "u": 9,
                                              "seq": 10}},
    {"data": [{"topic": "inner"}], "topic": "outer", "type": "snapshot"},
    {"topic": "t", "data": {"b": ["\\\"" * 20, "[" * 33], "u": 3}},
]


@pytest.mark.parametrize("msg", FRAME_INFO_CASES)
def test_frame_info_lenient_skip_is_exact_on_valid_json(msg):
    for raw in (orjson.dumps(msg), orjson.dumps(msg, option=orjson.OPT_INDENT_2)):
        data = msg.get("data") if isinstance(msg.get("data"), dict) else {}
        want = (msg.get("topic"), msg.get("type"), data.get("u", -1), data.get("seq", -1))
        assert frame_info(raw) == want
        # every position of a 32-byte block: shift by leading whitespace
        for k in range(1, 33):
            assert frame_info(b" " * k + raw) == want


def test_frame_info_never_crashes_on_truncations_and_flips():
    rng = random.Random(5)
    raw = orjson.dumps(FRAME_INFO_CASES[3])
    for i in range(len(raw)):
        with pytest.raises(FrameError):
            frame_info(raw[:i])
    for _ in range(3000):
        b = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.choice(b'[]{}"\\,: x')
        try:
            frame_info(bytes(b))
        except FrameError:
            pass


def test_router_applies_native_books_through_c_and_others_through_apply():
    nb = OrderBook("BTCUSDT", depth=50)
    rb = reference.OrderBook("BTCUSDT", depth=50)
    errors = []
    r1 = Router(on_book_error=lambda *a: errors.append(a))
    r2 = Router(on_book_error=lambda *a: errors.append(a))
    r1.add_book(nb)
    r2.add_book(rb)
    assert r1.route(TOPIC) is nb and r2.route(TOPIC) is rb
    snap = frame([["1", "1"]], [["2", "1"]])
    delta = frame([["1.5", "3"]], [], typ="delta", u=11)
    for raw in (snap, delta, memoryview(delta), delta.replace(b'"u":11', b'"u":13')):
        r1.dispatch(raw)
        r2.dispatch(raw)
        assert reference.snapshot_state(nb) == reference.snapshot_state(rb)
    assert [type(e[2]).__name__ for e in errors] == ["OrderBookGapError", "OrderBookGapError"]


@pytest.mark.parametrize("tail", [b"0}", b"7}", b"123456789012345}", b"1234567890123456}", b"12345678901234567}",
                                  b"9223372036854775807}", b"9223372036854775808}", b"01}", b"1.5}", b"1e5}",
                                  b"-1}", b"12 }", b"12", b"1}}", b'"1"}'])
def test_last_integer_of_the_buffer(tail):
    # "cts" closes every Bybit book frame: read from a padded copy when fewer than 16 bytes remain
    raw = frame([["1", "1"]], [["2", "1"]])[:-1] + b',"cts":' + tail
    same(raw)
    if tail == b"7}":
        book = OrderBook("BTCUSDT", depth=50)
        book.apply(raw)
        assert book.cts == 7
