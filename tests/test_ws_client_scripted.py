"""WebsocketClient against a scripted public socket: malformed and hostile frames, crossed books.

The emulator only sends well-formed frames; here a small aiohttp server acks like Bybit's linear
socket and writes whatever bytes a test scripts (raw text frames, invalid UTF-8 included).
"""

from __future__ import annotations

from typing import Any

import orjson
from _loopback import serve_loopback
from aiohttp import WSMsgType, web
from test_ws_client import FAST, Log, no_client_tasks_left, until

from bybitfast.book import FrameError, OrderBookCrossedError
from bybitfast.emulator.wsconn import encode_text_frames
from bybitfast.ws.client import WebsocketClient
from bybitfast.ws.connection import ConnectBudget

BOOK = "orderbook.50.BTCUSDT"
TICKER = "tickers.BTCUSDT"


def book_frame(kind: str, u: int, bids: list[list[str]], asks: list[list[str]]) -> bytes:
    data = {"s": "BTCUSDT", "b": bids, "a": asks, "u": u, "seq": u * 10}
    return orjson.dumps({"topic": BOOK, "type": kind, "ts": u, "data": data, "cts": u})


def ticker_frame(n: int) -> bytes:
    return orjson.dumps({"topic": TICKER, "type": "delta", "data": {"symbol": "BTCUSDT", "n": n}, "cts": n, "ts": n})


class ScriptedLinear:
    """``/v5/public/linear`` that acks every (un)subscribe, answers op ping, records requests and
    writes the frames a test pushes; after a subscribe ack it sends ``snapshots[topic]`` if set."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.snapshots: dict[str, bytes] = {}
        self.handshakes = 0
        self.ws: web.WebSocketResponse | None = None
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        self.handshakes += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws = ws
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            body = orjson.loads(msg.data)
            op = body.get("op")
            if op == "ping":
                self.push(orjson.dumps({"success": True, "ret_msg": "pong", "conn_id": "c", "req_id": "", "op": "ping"}))
                continue
            self.requests.append(body)
            self.push(orjson.dumps({"success": True, "ret_msg": "", "conn_id": "c", "req_id": body.get("req_id", ""), "op": op}))
            if op == "subscribe":
                for topic in body["args"]:
                    if topic in self.snapshots:
                        self.push(self.snapshots[topic])
        return ws

    def push(self, *frames: bytes) -> None:
        """Write ``frames`` as server text frames, byte for byte (no UTF-8 check), in order."""
        assert self.ws is not None and self.ws._req is not None  # noqa: SLF001
        self.ws._req.transport.write(encode_text_frames(list(frames)))  # noqa: SLF001

    def ops(self) -> list[tuple[str, list[str]]]:
        return [(r["op"], r["args"]) for r in self.requests]

    async def __aenter__(self) -> ScriptedLinear:
        app = web.Application()
        app.router.add_get("/v5/public/linear", self.handler)
        self._runner, port = await serve_loopback(app)
        self.url = f"ws://127.0.0.1:{port}/v5/public/linear"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def scripted_client(srv: ScriptedLinear) -> WebsocketClient:
    return WebsocketClient(ws_url={"v5_linear_public": srv.url}, reconnect=FAST, budget=ConnectBudget(), resync_timeout=3.0, subscribe_timeout=3.0)


# Frames that must never reach a user as data, nor cost the connection.
JUNK = [
    b"",
    b"not json",
    b"\xff\xfe\x00\x80",  # not UTF-8
    b"[1,2]",
    b"null",
    b'"a string"',
    b'{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTC',  # truncated, plain topic
    b'{"topic":"tickers.BTCUSDT","data":' + b"[" * 5000,  # nesting bomb, plain topic
    b'{"topic":"tickers.BTCUSDT","data":{}}trailing',
    b'{"topic":"tickers.NEVERSUBSCRIBED","data":{"x":1',  # truncated, unknown topic
    b'{"op":"subscribe","req_id":"x","success":true}garbage',  # a control frame that does not decode
]

# Frames on the managed book's topic that the book refuses (it stays untouched, then resyncs);
# %d is the next u, so nothing but the frame's own defect can be the reason.
BAD_BOOK = [
    b'{"topic":"orderbook.50.BTCUSDT","type":"delta","data":{"s":"BTCUSDT","u":%d,"b":[["100.5","1"',  # truncated
    b'{"topic":"orderbook.50.BTCUSDT","type":"delta","data":{"s":"BTCUSDT","b":[["abc","1"]],"a":[],"u":%d,"seq":999}}',
    b'{"topic":"orderbook.50.BTCUSDT","type":"delta","data":{"s":"BTCUSDT","b":[],"a":[],"u":"%d","seq":999}}',
    b'{"topic":"orderbook.50.BTCUSDT","type":"delta","data":{"s":"BTCUSDT","u":%d,"b":' + b"[" * 100_000,
]


async def test_malformed_frames_become_exception_events_and_the_stream_lives_on() -> None:
    async with ScriptedLinear() as srv:
        srv.snapshots[BOOK] = book_frame("snapshot", 1, [["100", "1"]], [["101", "1"]])
        c = scripted_client(srv)
        log = Log(c)
        book = await c.subscribe_order_book("BTCUSDT", "linear", 50)
        await c.subscribe_v5(TICKER, "linear")
        conn = c.connection("v5_linear_public")
        assert conn is not None and conn.generation == 1 and book.valid

        # junk on no topic / plain topics: one FrameError event each, nothing else happens
        srv.push(*JUNK, ticker_frame(1))
        await until(lambda: [p["data"]["n"] for p in log.of("update")] == [1])
        errors = log.of("exception")
        assert len(errors) == len(JUNK), [p["error"] for p in errors]
        assert all(isinstance(p["error"], FrameError) and p["ws_key"] == "v5_linear_public" for p in errors), errors
        assert log.of("book_resync") == [] and book.valid and book.update_id == 1
        # a hostile but well-formed ack answers nothing: no crash, no exception
        srv.push(b'{"op":"subscribe","success":true,"data":{"successTopics":5,"failTopics":{"a":1}}}', ticker_frame(2))
        await until(lambda: len(log.of("update")) == 2)
        assert len(log.of("exception")) == len(JUNK)

        # bad frames on the managed book's topic: reported, book invalid at once, resynced by
        # unsubscribe + subscribe, and the fresh snapshot makes it live again
        for i, bad in enumerate(BAD_BOOK):
            u = 10 * (i + 1)
            srv.snapshots[BOOK] = book_frame("snapshot", u, [["100", str(i + 2)]], [["101", "1"]])
            n_req = len(srv.requests)
            srv.push(bad % (book.update_id + 1))
            await until(lambda: len(log.of("book_valid")) == i + 2 and book.valid)
            assert book.update_id == u
            book_errors = log.of("exception")[len(JUNK) + i :]
            assert len(book_errors) == 1 and isinstance(book_errors[0]["error"], FrameError), book_errors
            assert book_errors[0]["where"] == "book" and book_errors[0]["topic"] == BOOK
            assert isinstance(log.of("book_resync")[i]["reason"], FrameError)
            assert srv.ops()[n_req:] == [("unsubscribe", [BOOK]), ("subscribe", [BOOK])]
            # the next valid delta is applied
            srv.push(book_frame("delta", u + 1, [["99", "5"]], []))
            await until(lambda: book.update_id == u + 1)
            assert book.bids_decimal() == [("100", str(i + 2)), ("99", "5")]

        srv.push(ticker_frame(3))
        await until(lambda: len(log.of("update")) == 3)  # plain topics still delivered
        assert conn.generation == 1 and srv.handshakes == 1 and log.of("reconnect") == []
        assert len(log.of("exception")) == len(JUNK) + len(BAD_BOOK)
        await c.close_all()
        await no_client_tasks_left()


async def test_crossed_book_resyncs_by_unsubscribe_then_subscribe() -> None:
    async with ScriptedLinear() as srv:
        srv.snapshots[BOOK] = book_frame("snapshot", 1, [["100", "1"]], [["101", "1"]])
        c = scripted_client(srv)
        log = Log(c)
        seen: list[tuple[bool, Any]] = []
        c.on("book_resync", lambda p: seen.append((p["book"].valid, p["reason"])))
        book = await c.subscribe_order_book("BTCUSDT", "linear", 50)
        srv.push(book_frame("delta", 2, [["99", "2"]], []))
        await until(lambda: book.update_id == 2)
        assert book.valid and srv.ops() == [("subscribe", [BOOK])]

        srv.snapshots[BOOK] = book_frame("snapshot", 40, [["100.5", "3"]], [["101", "2"]])  # what the resubscribe gets
        srv.push(book_frame("delta", 3, [["101.5", "1"]], []))  # best bid 101.5 >= best ask 101: crossed
        await until(lambda: len(log.of("book_valid")) == 2)
        assert len(seen) == 1 and seen[0][0] is False and isinstance(seen[0][1], OrderBookCrossedError)
        assert srv.ops() == [("subscribe", [BOOK]), ("unsubscribe", [BOOK]), ("subscribe", [BOOK])]
        assert book.valid and book.update_id == 40
        assert book.bids_decimal() == [("100.5", "3")] and book.asks_decimal() == [("101", "2")]
        assert log.names() == ["open", "response", "book_valid", "book_resync", "response", "response", "book_valid"]
        assert log.of("exception") == []  # a crossed book is the protocol at work, not an error to report
        srv.push(book_frame("delta", 41, [], [["102", "1"]]))
        await until(lambda: book.update_id == 41)
        assert book.valid and c.connection("v5_linear_public").generation == 1
        await c.close_all()
        await no_client_tasks_left()
