"""End-to-end WebSocket book throughput, same run (ratios): ``pytest benchmarks/bench_ws.py``.

A push server in its own process (picows for the handshake and acks, then the pre-encoded frames
written straight to the transport) streams ``N`` pre-built ``orderbook.200.BTCUSDT`` deltas of
~10 levels as fast as TCP takes them. Each client subscribes, applies the snapshot, says "go",
and is timed until it has applied the last delta. Everything client-side runs on uvloop in this
process, so the figure is messages per second on one core.

- ``test_bybitfast_managed_book``: ``WebsocketClient.subscribe_order_book`` (picows -> native
  router -> native book, no Python JSON per frame).
- ``test_bybitfast_managed_book_on_update_hook``: the same with ``on_update=`` (one Python call and
  two clock reads per frame: the price of reacting to, and timing, every update).
- ``test_aiohttp_orjson_dict_baseline``: aiohttp client + ``orjson.loads`` + dict book: the usual
  Python stack; the group's reference (first baseline).
- ``test_picows_orjson_dict_no_sdk_baseline``: picows + ``orjson.loads`` + dict book (no SDK).
- ``test_pybit_websocket_orderbook_stream``: pybit's ``WebSocket.orderbook_stream`` over the socket
  (websocket-client in its thread, ``json.loads``, pybit's list book, the deep copy it hands the
  callback); ``PUBLIC_WSS`` is pointed at the push server for the test, pybit is not modified.
  Timed until the callback sees the last ``u``.
- ``test_ccxt_pro_watch_order_book``: ``ccxt.pro.bybit().watch_order_book`` over the socket (its
  aiohttp client, orjson, ``handle_message`` -> ``handle_order_book`` into ccxt's book); its public
  linear WebSocket URL is pointed at the push server, markets from ccxt's own ``load_markets`` on
  the emulator. Timed until ccxt's book carries the last frame's ``ts``.

Every client gets the same ``N`` frames from the same server and is timed from "go" to the last
frame applied. ``BYBITFAST_BENCH_QUICK=1`` (``run.py --quick``) shortens the stream.
``python benchmarks/bench_ws.py [N]`` prints messages/s and ratios without pytest.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import sys
import threading
import time
from typing import Any

import orjson
import pytest
from _frames import TOPIC, make_stream

from bybitfast.ws.connection import run

QUICK = os.environ.get("BYBITFAST_BENCH_QUICK") == "1"
N = 20_000 if QUICK else 200_000
ROUNDS = 3
GROUP = "ws-e2e-book"
SEED = 7


def encode_server_frames(frames: list[bytes]) -> bytes:
    """WebSocket wire format of unmasked server text frames, concatenated."""
    out = bytearray()
    for f in frames:
        n = len(f)
        if n < 126:
            out += bytes((0x81, n))
        elif n < 65536:
            out += bytes((0x81, 126)) + n.to_bytes(2, "big")
        else:
            out += bytes((0x81, 127)) + n.to_bytes(8, "big")
        out += f
    return bytes(out)


# ---- server (own process) -----------------------------------------------------------------
def _serve(n: int, port_q: Any) -> None:
    import picows

    snap, deltas = make_stream(n, seed=SEED)
    blob = encode_server_frames(deltas)

    class Push(picows.WSListener):
        def pause_writing(self) -> None:  # the flood fills the socket buffer by design
            pass

        def resume_writing(self) -> None:
            pass

        def on_ws_connected(self, transport: picows.WSTransport) -> None:
            self.t = transport

        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            if frame.msg_type != picows.WSMsgType.TEXT:
                if frame.msg_type == picows.WSMsgType.CLOSE:
                    transport.disconnect()
                return
            msg = orjson.loads(frame.get_payload_as_bytes())
            op = msg.get("op")
            if op == "subscribe":
                ack = {"success": True, "ret_msg": "", "conn_id": "bench", "req_id": msg.get("req_id", ""), "op": "subscribe"}
                # Answered after 10 ms (set-up, not timed): pybit records a subscription only after
                # sending it; an instant loopback ack beats the record and pybit closes the socket (KeyError).
                asyncio.get_running_loop().call_later(0.01, self.ack, orjson.dumps(ack))
            elif op == "go":
                transport.underlying_transport.write(blob)
            elif op == "ping":
                transport.send(picows.WSMsgType.TEXT, b'{"success":true,"ret_msg":"pong","conn_id":"bench","req_id":"","op":"ping"}')

        def ack(self, ack: bytes) -> None:
            self.t.send(picows.WSMsgType.TEXT, ack)
            self.t.send(picows.WSMsgType.TEXT, snap)

    async def main() -> None:
        server = await picows.ws_create_server(lambda _req: Push(), "127.0.0.1", 0)
        port_q.put(server.sockets[0].getsockname()[1])
        await asyncio.Future()

    run(main())


class PushServer:
    def __init__(self, n: int) -> None:
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        self.proc = ctx.Process(target=_serve, args=(n, q), daemon=True)
        self.proc.start()
        self.port = q.get(timeout=60)
        self.url = f"ws://127.0.0.1:{self.port}/v5/public/linear"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.join(5)


# ---- clients ---------------------------------------------------------------------------------
class DictBook:
    """orjson.loads + dict[str, str] per side with the u check: the usual Python book."""

    def __init__(self) -> None:
        self.b: dict[str, str] = {}
        self.a: dict[str, str] = {}
        self.u = 0

    def apply(self, frame: bytes | str) -> None:
        msg = orjson.loads(frame)
        d = msg["data"]
        if msg["type"] == "snapshot":
            self.b = dict(d["b"])
            self.a = dict(d["a"])
            self.u = d["u"]
            return
        if d["u"] != self.u + 1:
            raise RuntimeError("gap")
        self.u = d["u"]
        for side, levels in ((self.b, d["b"]), (self.a, d["a"])):
            for p, s in levels:
                if s == "0":
                    side.pop(p, None)
                else:
                    side[p] = s


async def _wait_u(get_u: Any, last_u: int) -> None:
    while get_u() != last_u:
        await asyncio.sleep(0.001)


async def bybitfast_client(url: str, last_u: int, on_update: Any = None) -> float:
    from bybitfast.ws.client import WebsocketClient

    c = WebsocketClient(ws_url={"v5_linear_public": url}, ping_interval=None)
    try:
        book = await c.subscribe_order_book("BTCUSDT", "linear", 200, on_update=on_update)
        t0 = time.perf_counter()
        c.connection("v5_linear_public").send(b'{"op":"go"}')
        await _wait_u(lambda: book.update_id, last_u)
        return time.perf_counter() - t0
    finally:
        await c.close_all()


async def bybitfast_hook_client(url: str, last_u: int) -> float:
    seen = [0, 0]

    def on_update(book: Any, apply_ns: int) -> None:  # what a user would do at least: count and time
        seen[0] += 1
        seen[1] += apply_ns

    return await bybitfast_client(url, last_u, on_update)


async def picows_dict_client(url: str, last_u: int) -> float:
    import picows

    book = DictBook()
    ready = asyncio.get_running_loop().create_future()

    class L(picows.WSListener):
        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            data = frame.get_payload_as_bytes()
            if data.startswith(b'{"topic"'):
                book.apply(data)
                if not ready.done():
                    ready.set_result(None)

    transport, _ = await picows.ws_connect(L, url)
    try:
        transport.send(picows.WSMsgType.TEXT, b'{"req_id":"1","op":"subscribe","args":["%s"]}' % TOPIC.encode())
        await ready
        t0 = time.perf_counter()
        transport.send(picows.WSMsgType.TEXT, b'{"op":"go"}')
        await _wait_u(lambda: book.u, last_u)
        return time.perf_counter() - t0
    finally:
        transport.disconnect()
        await transport.wait_disconnected()


async def aiohttp_dict_client(url: str, last_u: int) -> float:
    import aiohttp

    book = DictBook()
    async with aiohttp.ClientSession() as s, s.ws_connect(url, autoping=False, max_msg_size=0) as ws:
        await ws.send_str('{"req_id":"1","op":"subscribe","args":["%s"]}' % TOPIC)
        t0 = 0.0
        async for msg in ws:
            data = msg.data
            if not data.startswith('{"topic"'):
                continue
            book.apply(data)
            if book.u != 0 and t0 == 0.0:
                t0 = time.perf_counter()
                await ws.send_str('{"op":"go"}')
            elif book.u == last_u:
                return time.perf_counter() - t0
    raise RuntimeError("stream ended early")


def pybit_client(url: str, last: tuple[int, int]) -> float:
    """pybit's public WebSocket (threaded, sync): subscribe, snapshot, "go", until the last ``u``."""
    from pybit import unified_trading
    from pybit.unified_trading import WebSocket

    last_u = last[0]
    snapshot, done = threading.Event(), threading.Event()

    def on_book(message: dict) -> None:  # pybit's callback: the whole book after each frame
        u = message["data"]["u"]
        if u == last_u:
            done.set()
        elif not snapshot.is_set():
            snapshot.set()

    saved = unified_trading.PUBLIC_WSS
    unified_trading.PUBLIC_WSS = url.rsplit("/", 1)[0] + "/{CHANNEL_TYPE}"  # read by the constructor
    try:
        ws = WebSocket(testnet=False, channel_type="linear")
    finally:
        unified_trading.PUBLIC_WSS = saved
    try:
        ws.orderbook_stream(200, "BTCUSDT", on_book)
        if not snapshot.wait(30):
            raise RuntimeError("pybit got no snapshot")
        t0 = time.perf_counter()
        ws.ws.send('{"op":"go"}')
        if not done.wait(600):
            raise RuntimeError("pybit did not reach the last delta")
        return time.perf_counter() - t0
    finally:
        ws.exit()


async def ccxt_pro_client(url: str, last: tuple[int, int]) -> float:
    """ccxt.pro's ``watch_order_book`` (aiohttp + orjson + ccxt's book) until the last frame's ``ts``."""
    import ccxt.pro as ccxtpro
    from _peers import LINEAR, point_ccxt, with_markets

    last_ts = last[1]
    c = with_markets(point_ccxt(ccxtpro.bybit({"enableRateLimit": False}), ws_url=url.split("/v5/", 1)[0]))
    try:
        await c.watch_order_book(LINEAR, 200)  # subscribe + snapshot
        book = c.orderbooks[LINEAR]
        t0 = time.perf_counter()
        await c.clients[url].send({"op": "go"})
        await _wait_u(lambda: book["timestamp"], last_ts)
        return time.perf_counter() - t0
    finally:
        await c.close()


def _last_u(fn: Any) -> Any:
    """Adapt an async client taking ``last_u`` to the ``(last_u, last_ts)`` pair every client gets."""

    async def client(url: str, last: tuple[int, int]) -> float:
        return await fn(url, last[0])

    client.__name__ = fn.__name__
    return client


CLIENTS = {
    "bybitfast managed book (picows+uvloop+native)": _last_u(bybitfast_client),
    "bybitfast managed book + on_update hook": _last_u(bybitfast_hook_client),
    "picows + orjson + dict book": _last_u(picows_dict_client),
    "aiohttp + orjson + dict book": _last_u(aiohttp_dict_client),
    "pybit WebSocket.orderbook_stream": pybit_client,
    "ccxt.pro watch_order_book": ccxt_pro_client,
}


def measure(client: Any, url: str, last: tuple[int, int]) -> float:
    """One round of ``client`` (async clients on uvloop, pybit's sync one in this thread)."""
    return run(client(url, last)) if asyncio.iscoroutinefunction(client) else client(url, last)


def last_of(n: int) -> tuple[int, int]:
    """The last delta's ``u`` and ``ts``: what each client waits for."""
    _, deltas = make_stream(n, seed=SEED)
    msg = orjson.loads(deltas[-1])
    return msg["data"]["u"], msg["ts"]


# ---- pytest-benchmark ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Any:
    srv = PushServer(N)
    srv.last = last_of(N)  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def _bench(benchmark: Any, server: Any, name: str, rounds: int = ROUNDS) -> None:
    benchmark.group = GROUP
    client = CLIENTS[name]
    elapsed: list[float] = []
    benchmark.pedantic(lambda: elapsed.append(measure(client, server.url, server.last)), rounds=rounds, iterations=1)
    best = min(elapsed)
    benchmark.extra_info["messages"] = N
    benchmark.extra_info["msg_per_s_best"] = round(N / best)
    benchmark.extra_info["msg_per_s_mean"] = round(N * len(elapsed) / sum(elapsed))


def test_bybitfast_managed_book(benchmark: Any, server: Any) -> None:
    _bench(benchmark, server, "bybitfast managed book (picows+uvloop+native)")


def test_bybitfast_managed_book_on_update_hook(benchmark: Any, server: Any) -> None:
    _bench(benchmark, server, "bybitfast managed book + on_update hook")


def test_aiohttp_orjson_dict_baseline(benchmark: Any, server: Any) -> None:
    _bench(benchmark, server, "aiohttp + orjson + dict book")


def test_picows_orjson_dict_no_sdk_baseline(benchmark: Any, server: Any) -> None:
    _bench(benchmark, server, "picows + orjson + dict book")


def test_pybit_websocket_orderbook_stream(benchmark: Any, server: Any) -> None:
    # One round: pybit takes ~15-20x the baseline's time (~17 s for the full stream), far above the noise.
    _bench(benchmark, server, "pybit WebSocket.orderbook_stream", rounds=1)


def test_ccxt_pro_watch_order_book(benchmark: Any, server: Any) -> None:
    _bench(benchmark, server, "ccxt.pro watch_order_book")


# ---- standalone ---------------------------------------------------------------------------------
def main(n: int = N, rounds: int = ROUNDS) -> None:
    srv = PushServer(n)
    last = last_of(n)
    try:
        rates: dict[str, float] = {}
        for name, client in CLIENTS.items():
            best = min(measure(client, srv.url, last) for _ in range(rounds))
            rates[name] = n / best
        base = rates["aiohttp + orjson + dict book"]
        for name, rate in rates.items():
            print(f"{name:<48} {rate / 1e6:6.3f} M msg/s   {rate / base:5.2f}x aiohttp baseline")
    finally:
        srv.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else N)
