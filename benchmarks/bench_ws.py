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

``python benchmarks/bench_ws.py [N]`` prints messages/s and ratios without pytest.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import sys
import time
from typing import Any

import orjson
import pytest
from _frames import TOPIC, make_stream

from bybitfast.ws.connection import run

N = 200_000
ROUNDS = 3
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
                transport.send(picows.WSMsgType.TEXT, orjson.dumps(ack))
                transport.send(picows.WSMsgType.TEXT, snap)
            elif op == "go":
                transport.underlying_transport.write(blob)
            elif op == "ping":
                transport.send(picows.WSMsgType.TEXT, b'{"success":true,"ret_msg":"pong","conn_id":"bench","req_id":"","op":"ping"}')

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


CLIENTS = {
    "bybitfast managed book (picows+uvloop+native)": bybitfast_client,
    "bybitfast managed book + on_update hook": bybitfast_hook_client,
    "picows + orjson + dict book": picows_dict_client,
    "aiohttp + orjson + dict book": aiohttp_dict_client,
}


def last_u_of(n: int) -> int:
    _, deltas = make_stream(n, seed=SEED)
    return orjson.loads(deltas[-1])["data"]["u"]


# ---- pytest-benchmark ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Any:
    srv = PushServer(N)
    srv.last_u = last_u_of(N)  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def _bench(benchmark: Any, server: Any, client: Any) -> None:
    benchmark.group = "ws-e2e-book"
    elapsed: list[float] = []
    benchmark.pedantic(lambda: elapsed.append(run(client(server.url, server.last_u))), rounds=ROUNDS, iterations=1)
    best = min(elapsed)
    benchmark.extra_info["messages"] = N
    benchmark.extra_info["msg_per_s_best"] = round(N / best)
    benchmark.extra_info["msg_per_s_mean"] = round(N * len(elapsed) / sum(elapsed))


def test_bybitfast_managed_book(benchmark: Any, server: Any) -> None:
    _bench(benchmark, server, bybitfast_client)


def test_bybitfast_managed_book_on_update_hook(benchmark: Any, server: Any) -> None:
    _bench(benchmark, server, bybitfast_hook_client)


def test_aiohttp_orjson_dict_baseline(benchmark: Any, server: Any) -> None:
    _bench(benchmark, server, aiohttp_dict_client)


def test_picows_orjson_dict_no_sdk_baseline(benchmark: Any, server: Any) -> None:
    _bench(benchmark, server, picows_dict_client)


# ---- standalone ---------------------------------------------------------------------------------
def main(n: int = N, rounds: int = ROUNDS) -> None:
    srv = PushServer(n)
    last_u = last_u_of(n)
    try:
        rates: dict[str, float] = {}
        for name, client in CLIENTS.items():
            best = min(run(client(srv.url, last_u)) for _ in range(rounds))
            rates[name] = n / best
        base = rates["aiohttp + orjson + dict book"]
        for name, rate in rates.items():
            print(f"{name:<48} {rate / 1e6:6.3f} M msg/s   {rate / base:5.2f}x aiohttp baseline")
    finally:
        srv.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else N)
