"""frame_info / frame_kind / Router over fixture frames."""

from __future__ import annotations

import orjson
import pytest

from bybitfast.book import APPLIED_SNAPSHOT, FrameError, OrderBook, OrderBookGapError
from bybitfast.router import (
    KIND_AUTH,
    KIND_DATA,
    KIND_OTHER,
    KIND_PING,
    KIND_PONG,
    KIND_SUBSCRIBE,
    KIND_UNSUBSCRIBE,
    KIND_WS_API,
    Router,
    frame_info,
    frame_kind,
)


def read(fixtures_dir, rel):
    return (fixtures_dir / rel).read_bytes()


def test_frame_info_matches_orjson_on_every_ws_fixture(fixtures_dir):
    n = 0
    for f in sorted((fixtures_dir / "ws").rglob("*.json*")):
        for raw in f.read_bytes().splitlines() if f.suffix == ".jsonl" else [f.read_bytes()]:
            msg = orjson.loads(raw)
            data = msg.get("data") if isinstance(msg.get("data"), dict) else {}
            want = (msg.get("topic"), msg.get("type"), data.get("u", -1), data.get("seq", -1))
            assert frame_info(raw) == want, f
            assert frame_info(raw.decode()) == want
            n += 1
    assert n > 40


@pytest.mark.parametrize(("rel", "kind", "key"), [
    ("ws/public/control/pong_spot.docs.json", KIND_PONG, None),
    ("ws/public/control/pong_linear-inverse.docs.json", KIND_PONG, ""),
    ("ws/public/control/pong_option-spread.docs.json", KIND_PONG, None),
    ("ws/private/control/pong.gct.json", KIND_PONG, None),
    ("ws/public/control/subscribe-response_spot.docs.json", KIND_SUBSCRIBE, "10001"),
    ("ws/public/control/subscribe-response_option-spread.docs.json", KIND_SUBSCRIBE, None),
    ("ws/public/control/unsubscribe-request.docs.json", KIND_UNSUBSCRIBE, "customised_id"),
    ("ws/private/control/auth-response.docs.json", KIND_AUTH, None),
    ("ws/trade/order.create.response.docs.json", KIND_WS_API, "test-005"),
    ("ws/trade/ping.request.docs.json", KIND_PING, None),
    ("ws/public/orderbook/orderbook.rpi.docs.json", KIND_DATA, "orderbook.rpi.BTCUSDT"),
])
def test_frame_kind(fixtures_dir, rel, kind, key):
    assert frame_kind(read(fixtures_dir, rel)) == (kind, key)


def test_frame_kind_other_and_errors():
    assert frame_kind(b'{"x":1}') == (KIND_OTHER, None)
    assert frame_kind(b'{"reqId":"7","retCode":0}') == (KIND_WS_API, "7")
    for bad in (b"", b"[]", b'{"topic":', b"{'a':1}"):
        with pytest.raises(FrameError):
            frame_info(bad)
        with pytest.raises(FrameError):
            frame_kind(bad)


def test_router_dispatch(fixtures_dir):
    lines = read(fixtures_dir, "ws/public/orderbook/spot_orderbook.200.BTCUSDT_2023-12-24.rbot.jsonl").splitlines()
    trades = read(fixtures_dir, "ws/public/trade/spot_publicTrade.BTCUSDT_2023-12-24.rbot.jsonl").splitlines()
    got, raw, control, unhandled, errors = [], [], [], [], []
    book = OrderBook("BTCUSDT", depth=200)
    r = Router(on_control=lambda *a: control.append(a), on_unhandled=unhandled.append,
               on_book_error=lambda *a: errors.append(a))
    r.add_book(book)
    r.add("publicTrade.BTCUSDT", got.append)
    for ln in lines:
        r.dispatch(ln)
    assert book.valid and book.update_id == 5179080 and book.deltas == 1
    assert control and control[0][0] == "subscribe" and control[0][2]["success"] is True
    for ln in trades:
        r.dispatch(ln)
    assert got and got[-1]["topic"] == "publicTrade.BTCUSDT" and isinstance(got[-1]["data"], list)
    r.add("publicTrade.BTCUSDT", raw.append, raw=True)
    r.dispatch(trades[-1])
    assert raw == [trades[-1]]
    assert r.dispatch(b'{"topic":"tickers.X","data":{}}') == KIND_DATA and unhandled == [b'{"topic":"tickers.X","data":{}}']
    # a gap goes to on_book_error, not up the stack
    gap = lines[-1].replace(b'"u":5179080', b'"u":5179090')
    r.dispatch(gap)
    assert errors and errors[0][0] == "orderbook.200.BTCUSDT" and isinstance(errors[0][2], OrderBookGapError)
    assert not book.valid
    assert book.apply(lines[1]) == APPLIED_SNAPSHOT and book.valid  # a fresh snapshot makes it live again
    r2 = Router()  # no on_book_error: the book's error reaches the caller of dispatch
    r2.add_book(book)
    with pytest.raises(OrderBookGapError):
        r2.dispatch(gap)
    assert not book.valid and r2.dispatched == 1
    assert r.route("orderbook.200.BTCUSDT") is book and "publicTrade.BTCUSDT" in r.topics()
    with pytest.raises(ValueError):
        r.add_book(OrderBook("BTCUSDT"))
