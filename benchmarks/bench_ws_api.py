"""Trade-socket order round trip: bybitfast's WebsocketAPIClient vs raw picows vs pybit vs ccxt.pro.

Run: ``/work/venv/bin/python -m pytest benchmarks/bench_ws_api.py -q`` (ratios printed at the end).

Loopback round trip (group ``ws-api round trip``): N sequential ``order.create`` requests, each
awaited before the next, against one picows server in a **separate process** (so the server never
competes with the client for the GIL). The server answers ``auth`` with OK and every order with
the documented ``order.create`` reply carrying the request's ``reqId``. The baseline is a bare
picows client sending a prebuilt frame and waking on the reply (no JSON either way): the least a
Python client can do per round trip; the ratio is the client-side overhead. pybit's
``WebSocketTrading`` (threads + websocket-client) talks to the same server: its ``TRADE_WSS`` URL
template is patched for the benchmark (pybit itself is not modified). ccxt.pro's
``bybit().create_order_ws`` (aiohttp + orjson; the same order as unified arguments: limit buy
0.2 ETH/USDT:USDT at 2800, post-only, same client id) talks to the same server: its ``trade``
WebSocket URL is pointed there, its market table comes from its own ``load_markets`` on the
emulator; its figure includes ccxt's request building and ``parse_order`` of the reply.

Client side only (group ``ws-api client side``): one order through the client with the socket
replaced by an in-process answer, so only the client's CPU is measured: bybitfast's full request
path (params, frame, reqId, future, timer, decode, match, retCode, rate limit) and pybit's
(``json.dumps`` + send, then its receive handler), against ``orjson`` dumping the request and
loading the reply (baseline).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

QUICK = os.environ.get("BYBITFAST_BENCH_QUICK") == "1"
ROUND_TRIPS = 50 if QUICK else 200
KEY = "BENCHKEY00000001"
SECRET = "bench-secret-0000000000000001"
ORDER = {
    "category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Limit",
    "qty": "0.2", "price": "2800", "timeInForce": "PostOnly", "orderLinkId": "bf-bench-1",
}
FIXTURE = Path(__file__).resolve().parent.parent / "tests/fixtures/bybit/ws/trade/order.create.response.docs.json"
# The documented reply, compact, split around its reqId.
REPLY = orjson.dumps(orjson.loads(FIXTURE.read_bytes()))
REPLY_HEAD, REPLY_TAIL = REPLY.split(b'"test-005"')
REPLY_HEAD += b'"'
REPLY_TAIL = b'"' + REPLY_TAIL
AUTH_OK = b'{"retCode":0,"retMsg":"OK","op":"auth","connId":"bench"}'
PONG = b'{"retCode":0,"retMsg":"OK","op":"pong","data":["0"],"connId":"bench"}'


# ---- the server (separate process: python bench_ws_api.py --serve) ---------------------------
def _req_id(data: bytes) -> bytes:
    """The reqId of a request, compact (ours) or with spaces (pybit's json.dumps)."""
    i = data.find(b'"reqId"')
    start = data.find(b'"', i + 7) + 1
    return data[start : data.find(b'"', start)]


def serve() -> None:
    from picows import WSListener, WSMsgType, ws_create_server

    class Answer(WSListener):
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type is not WSMsgType.TEXT:
                if frame.msg_type is WSMsgType.CLOSE:  # answer it: aiohttp (ccxt) waits 10 s for the echo
                    transport.send_close(frame.get_close_code())
                    transport.disconnect()
                return
            data = frame.get_payload_as_bytes()
            if b'"reqId"' in data:
                transport.send(WSMsgType.TEXT, REPLY_HEAD + _req_id(data) + REPLY_TAIL)
            elif b'"auth"' in data:
                transport.send(WSMsgType.TEXT, AUTH_OK)
            elif b'"ping"' in data:
                transport.send(WSMsgType.TEXT, PONG)

    async def main() -> None:
        server = await ws_create_server(lambda request: Answer(), "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    _run(main())


def _run(coro: Any) -> None:
    try:
        import uvloop

        uvloop.run(coro)
    except ImportError:
        asyncio.run(coro)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


# ---- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"ws://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = _new_loop()
    yield loop
    loop.close()


def _rounds() -> dict[str, int]:
    return {"rounds": 5 if QUICK else 20, "iterations": 1, "warmup_rounds": 1}


RTT_GROUP = f"ws-api round trip: order.create x{ROUND_TRIPS} sequential, loopback"
CPU_GROUP = "ws-api client side: one order.create, in-process answer"


# ---- loopback round trip -------------------------------------------------------------------
def test_rtt_raw_picows_echo_baseline(benchmark, server_url, loop) -> None:
    from picows import WSListener, WSMsgType, ws_connect

    class Raw(WSListener):
        waiter: asyncio.Future[bytes] | None = None

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(frame.get_payload_as_bytes())

    frame = orjson.dumps({"reqId": "raw-1", "header": {"X-BAPI-TIMESTAMP": "1711001595207"}, "op": "order.create", "args": [ORDER]})
    transport, listener = loop.run_until_complete(ws_connect(Raw, server_url + "/v5/trade"))

    async def batch() -> None:
        for _ in range(ROUND_TRIPS):
            listener.waiter = loop.create_future()
            transport.send(WSMsgType.TEXT, frame)
            await listener.waiter

    loop.run_until_complete(batch())
    benchmark.group = RTT_GROUP
    benchmark.extra_info["round_trips_per_round"] = ROUND_TRIPS
    benchmark.pedantic(lambda: loop.run_until_complete(batch()), **_rounds())
    transport.disconnect()


def test_rtt_bybitfast_submit_new_order(benchmark, server_url, loop) -> None:
    from bybitfast.ws.api import WebsocketAPIClient

    client = WebsocketAPIClient(KEY, SECRET, ws_url=server_url)
    loop.run_until_complete(client.connect())

    async def batch() -> None:
        for _ in range(ROUND_TRIPS):
            await client.submit_new_order(ORDER)

    loop.run_until_complete(batch())
    assert client.rate_limits["order.create"].limit == 10
    benchmark.group = RTT_GROUP
    benchmark.extra_info["round_trips_per_round"] = ROUND_TRIPS
    benchmark.pedantic(lambda: loop.run_until_complete(batch()), **_rounds())
    loop.run_until_complete(client.close())


def test_rtt_pybit_place_order(benchmark, server_url, monkeypatch) -> None:
    import pybit._websocket_trading as pybit_trading
    from pybit.unified_trading import WebSocketTrading

    # pybit formats TRADE_WSS with subdomain/domain/tld; a URL without placeholders passes unchanged.
    monkeypatch.setattr(pybit_trading, "TRADE_WSS", server_url + "/v5/trade")
    ws = WebSocketTrading(testnet=False, api_key=KEY, api_secret=SECRET)
    done = threading.Event()
    lost: list[dict] = []

    def on_reply(message: dict) -> None:
        done.set()

    def on_error(message: dict) -> None:
        lost.append(message)
        done.set()

    class Directory(dict):
        """pybit registers a callback after sending (PROTOCOL §11), so on loopback the reply often
        wins and is dropped. The benchmark's callbacks are the same for every request, so a reply
        that beats its registration gets them anyway: pybit's own path, minus the lost replies."""

        def pop(self, key: Any, default: Any = None) -> Any:
            return super().pop(key, (on_reply, on_error))

    ws.callback_directory = Directory()

    def batch() -> None:
        for _ in range(ROUND_TRIPS):
            done.clear()
            ws.place_order(on_reply, on_error, **ORDER)
            if not done.wait(5):
                raise RuntimeError("pybit lost a reply")
        ws.callback_directory.clear()  # registrations that lost the race

    try:
        batch()
        assert not lost
        benchmark.group = RTT_GROUP
        benchmark.extra_info["round_trips_per_round"] = ROUND_TRIPS
        benchmark.pedantic(batch, **_rounds())
    finally:
        ws.exit()


def test_rtt_ccxt_pro_create_order_ws(benchmark, server_url, loop) -> None:
    import ccxt.pro as ccxtpro
    from _peers import point_ccxt, with_markets

    client = with_markets(point_ccxt(ccxtpro.bybit({"apiKey": KEY, "secret": SECRET, "enableRateLimit": False}), ws_url=server_url))
    params = {"postOnly": True, "clientOrderId": ORDER["orderLinkId"]}

    async def batch() -> None:
        for _ in range(ROUND_TRIPS):
            await client.create_order_ws("ETH/USDT:USDT", "limit", "buy", 0.2, 2800, params)

    async def first() -> dict:
        return await client.create_order_ws("ETH/USDT:USDT", "limit", "buy", 0.2, 2800, params)

    placed = loop.run_until_complete(first())  # connects and authenticates (not timed)
    assert placed["id"] == orjson.loads(REPLY)["data"]["orderId"]
    loop.run_until_complete(batch())
    benchmark.group = RTT_GROUP
    benchmark.extra_info["round_trips_per_round"] = ROUND_TRIPS
    try:
        benchmark.pedantic(lambda: loop.run_until_complete(batch()), **_rounds())
    finally:
        loop.run_until_complete(client.close())


# ---- client side only ------------------------------------------------------------------------
def test_cpu_orjson_dumps_loads_baseline(benchmark) -> None:
    request = {"reqId": "x-1", "header": {"X-BAPI-TIMESTAMP": "1711001595207", "X-BAPI-RECV-WINDOW": "5000"}, "op": "order.create", "args": [ORDER]}
    reply = REPLY_HEAD + b"x-1" + REPLY_TAIL
    dumps, loads = orjson.dumps, orjson.loads

    def call() -> Any:
        dumps(request)
        return loads(reply)

    benchmark.group = CPU_GROUP
    benchmark(call)


class _Echo:
    """Stands in for the WsConnection: answers each request synchronously, in process."""

    closed = False

    def __init__(self, client: Any) -> None:
        self.client = client

    def send(self, data: bytes) -> None:
        self.client._on_message(self, REPLY_HEAD + _req_id(data) + REPLY_TAIL)

    async def close(self) -> None:
        pass


def test_cpu_bybitfast_submit_new_order(benchmark, loop) -> None:
    from bybitfast.ws.api import WebsocketAPIClient

    client = WebsocketAPIClient(KEY, SECRET, ws_url="ws://127.0.0.1:1")
    client._conn = _Echo(client)  # type: ignore[assignment]
    client._ready = True
    submit = client.submit_new_order

    async def one() -> Any:
        return await submit(ORDER)

    # The reply is set before the future is awaited, so the coroutine never suspends: drive it
    # with send(None) under a running loop (the request path needs one), one order per call.
    async def measure() -> None:
        def call() -> Any:
            coro = one()
            try:
                coro.send(None)
            except StopIteration as stop:
                return stop.value
            raise RuntimeError("the in-process answer suspended")

        assert call()["retCode"] == 0
        benchmark.group = CPU_GROUP
        benchmark(call)

    loop.run_until_complete(measure())


def test_cpu_pybit_place_order(benchmark, monkeypatch) -> None:
    import pybit._websocket_stream as pybit_stream
    import pybit._websocket_trading as pybit_trading

    monkeypatch.setattr(pybit_stream._WebSocketManager, "_connect", lambda self, url: None)  # no socket
    ws = pybit_trading._V5TradeWebSocketManager(recv_window=0, referral_id="", testnet=False, api_key=KEY, api_secret=SECRET)
    sent: list[str] = []

    class Sink:
        send = staticmethod(sent.append)

    ws.ws = Sink()
    replies: list[dict] = []

    def call() -> None:
        ws._send_order_operation("order.create", replies.append, ORDER)
        request = sent.pop().encode()  # same harness work as _Echo: find the reqId, splice the reply
        ws._on_message((REPLY_HEAD + _req_id(request) + REPLY_TAIL).decode())

    call()
    assert replies and replies[-1]["retCode"] == 0
    benchmark.group = CPU_GROUP
    benchmark(call)


if __name__ == "__main__" and "--serve" in sys.argv:
    serve()
