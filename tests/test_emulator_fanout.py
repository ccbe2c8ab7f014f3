"""Emulator public fan-out: direct, coalesced transport writes with unchanged frames and faults.

The public sockets write pre-encoded text frames straight to the transport, one write per event
loop iteration; these tests pin what must not change: the bytes on the wire, frame counting for
drop-after-N, drop-at-time, backpressure and the slow-consumer cut, and the fast market mode.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct

import aiohttp
import orjson
import pytest
from aiohttp._websocket.writer import WebSocketWriter

from _emulator_helpers import emulator_fixture, session_fixture

from bybitfast.emulator import Emulator, public
from bybitfast.emulator.market import Market
from bybitfast.emulator.wsconn import _WireMemo, encode_text_frames, text_header


ex = emulator_fixture(market_interval=0, rate_limits=False)
http = session_fixture()


class _Transport:
    def __init__(self):
        self.out = bytearray()

    def write(self, data):
        self.out += data

    def is_closing(self):
        return False


class _Protocol:
    _paused = False


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70_000])
async def test_direct_frames_are_byte_identical_to_aiohttp(size):
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    t = _Transport()
    await WebSocketWriter(_Protocol(), t, use_mask=False, compress=0).send_frame(payload, aiohttp.WSMsgType.TEXT)  # type: ignore[arg-type]
    assert bytes(t.out) == text_header(len(payload)) + payload
    assert encode_text_frames([payload, b"{}"]) == bytes(t.out) + b"\x81\x02{}"


async def _until(cond, timeout=2.0):
    """Poll a server-side condition (bounded)."""
    async def poll():
        while not cond():
            await asyncio.sleep(0.002)

    await asyncio.wait_for(poll(), timeout)


def test_batch_encoding_is_shared_by_identity_only():
    a, b, c = b'{"a":1}', b'{"b":2}', bytes(bytearray(b'{"b":2}'))
    memo = _WireMemo()
    first = memo.encode([a, b])
    assert memo.encode([a, b]) is first  # the next subscriber with the same frame objects
    other = memo.encode([a, c])  # equal content, different object: encoded again, same bytes
    assert other == first and other is not first
    assert memo.encode([b, a]) == encode_text_frames([b, a]) != first


def _spy_writes(ex):
    """Count transport.write calls on the (only) public connection; returns the list of chunks."""
    hub = ex.market._public_hub
    (conn,) = hub.conns
    tr = conn.sock.transport
    chunks = []
    orig = tr.write

    def write(data):
        chunks.append(bytes(data))
        orig(data)

    tr.write = write
    return conn, chunks


async def _subscribe(ex, http, category, *topics):
    ws = await http.ws_connect(f"{ex.ws_url}/v5/public/{category}", autoping=False)
    await ws.send_str(orjson.dumps({"op": "subscribe", "args": list(topics)}).decode())
    ack = orjson.loads((await asyncio.wait_for(ws.receive(), 2)).data)
    assert ack["success"] is True
    return ws


async def _until_closed(ws, timeout=3.0):
    frames = []
    while True:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            return frames
        frames.append(orjson.loads(msg.data))


async def test_many_steps_coalesce_into_one_write_in_order(ex, http):
    ws = await _subscribe(ex, http, "linear", "orderbook.50.BTCUSDT", "publicTrade.BTCUSDT")
    snap = orjson.loads((await asyncio.wait_for(ws.receive(), 2)).data)
    conn, chunks = _spy_writes(ex)
    assert conn.direct
    sent0 = conn.sock.sent
    ex.market.step(30)  # every frame of 30 steps is queued before the loop runs the flush
    frames = []
    u = snap["data"]["u"]
    while u != ex.market.book("linear", "BTCUSDT").u[50]:
        f = orjson.loads((await asyncio.wait_for(ws.receive(), 2)).data)
        frames.append(f)
        if f["topic"] == "orderbook.50.BTCUSDT":
            assert f["data"]["u"] == u + 1  # nothing lost, nothing reordered
            u += 1
    assert len(frames) > 30 and len(chunks) == 1  # one transport write for the whole burst
    assert conn.sock.sent - sent0 == len(frames)  # every frame counted


@pytest.mark.parametrize("n", [2, 4, 5, 12])  # 2: inside the subscribe batch (ack + 2 snapshots); others: in the step burst
async def test_drop_after_n_frames_exact_inside_a_coalesced_batch(ex, http, n):
    ex.faults.drop_connection_after(n, path="/v5/public/linear")
    ws = await http.ws_connect(f"{ex.ws_url}/v5/public/linear", autoping=False)
    await ws.send_str('{"op":"subscribe","args":["orderbook.50.BTCUSDT","publicTrade.BTCUSDT","tickers.BTCUSDT"]}')
    hub = public.hub_for(ex)
    # ack + 2 snapshots flushed (or the cut already happened in that batch)
    await _until(lambda: ex.faults.log or any(len(c.topics) == 3 and not c.queue for c in hub.conns))
    ex.market.step(20)  # far more than n frames in one flush
    assert len(await _until_closed(ws)) == n
    (event,) = [e for e in ex.faults.log if e.kind == "drop_after_frames"]
    assert event.detail["frames"] == n


async def test_drop_at_time_lets_exactly_one_frame_out(ex, http):
    ws = await _subscribe(ex, http, "linear", "orderbook.50.BTCUSDT", "publicTrade.BTCUSDT")
    await asyncio.wait_for(ws.receive(), 2)  # snapshot
    ex.faults.drop_connections_in(0)
    ex.market.step(20)
    assert len(await _until_closed(ws)) == 1  # the first frame after the deadline, then the cut
    assert [e.kind for e in ex.faults.log] == ["drop_at_time"]


def _raw_ws(port: int, path: str) -> socket.socket:
    """A client that completes the handshake, subscribes, and then never reads (tiny receive buffer)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    return s


def _masked_text(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + body


async def _raw_subscriber(ex, topics):
    loop = asyncio.get_running_loop()
    s = await loop.run_in_executor(None, _raw_ws, ex.port, "/v5/public/linear")
    hub = public.hub_for(ex)
    await _until(lambda: hub.conns)
    s.sendall(_masked_text(orjson.dumps({"op": "subscribe", "args": topics})))
    (conn,) = hub.conns
    await _until(lambda: conn.topics)
    tr = conn.sock.transport
    tr.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    tr.set_write_buffer_limits(high=16 * 1024)
    return s, conn


async def test_backpressure_keeps_frames_queued_then_cuts_slow_consumer(ex, monkeypatch):
    monkeypatch.setattr(public, "MAX_QUEUE", 3000)
    s, conn = await _raw_subscriber(ex, ["orderbook.1000.BTCUSDT", "orderbook.200.ETHUSDT", "publicTrade.BTCUSDT"])
    try:
        tr = conn.sock.transport
        paused_seen = False
        for _ in range(400):
            ex.market.step(10)
            await asyncio.sleep(0)
            if conn.sock.paused:
                paused_seen = True
                # the transport never holds more than one flush beyond its high-water mark
                assert tr.get_write_buffer_size() < 16 * 1024 + public.FLUSH_BYTES + 64 * 1024
            if conn.sock.closed:
                break
        assert paused_seen
        assert conn.sock.closed
        (ev,) = [e for e in ex.faults.log if e.kind == "slow_consumer"]
        assert ev.detail["queued"] == 3000
    finally:
        s.close()


async def test_fast_mode_streams_every_u_and_stops(http):
    async with Emulator(market_interval=0, rate_limits=False, symbols={"linear": ["BTCUSDT"]}) as ex:
        ws = await _subscribe(ex, http, "linear", "orderbook.50.BTCUSDT")
        u = orjson.loads((await asyncio.wait_for(ws.receive(), 2)).data)["data"]["u"]
        ex.market.steps_per_tick = 4
        await ex.market.start(fast=True)
        assert ex.market.fast
        for _ in range(2000):
            f = orjson.loads((await asyncio.wait_for(ws.receive(), 2)).data)
            assert f["data"]["u"] == u + 1
            u = f["data"]["u"]
        await ex.market.stop()
        step_no = ex.market.step_no
        for _ in range(20):  # flat out steps once per loop iteration: 20 iterations would show it
            await asyncio.sleep(0)
        assert ex.market.step_no == step_no and not ex.market.fast


async def test_fast_mode_waits_for_a_backlog_then_stops_waiting_on_a_stalled_client(ex, monkeypatch):
    monkeypatch.setattr(public, "THROTTLE_FRAMES", 50)
    monkeypatch.setattr(public, "THROTTLE_SECONDS", 0.1)
    s, conn = await _raw_subscriber(ex, ["orderbook.1000.BTCUSDT", "publicTrade.BTCUSDT"])
    try:
        await ex.market.start(fast=True)
        await _until(lambda: conn.throttle_exempt, 3.0)  # the market waited THROTTLE_SECONDS, then went on without it
        steps = ex.market.step_no
        await _until(lambda: ex.market.step_no > steps + 100)
    finally:
        await ex.market.stop()
        s.close()


async def test_latency_uses_the_frame_by_frame_writer(http):
    async with Emulator(market_interval=0, rate_limits=False, latency=0.005) as ex:
        ws = await _subscribe(ex, http, "linear", "orderbook.50.BTCUSDT")
        (conn,) = ex.market._public_hub.conns
        assert not conn.direct and not conn.sock.direct
        snap = orjson.loads((await asyncio.wait_for(ws.receive(), 2)).data)
        ex.market.step(3)
        f = orjson.loads((await asyncio.wait_for(ws.receive(), 2)).data)
        assert snap["type"] == "snapshot" and f["data"]["u"] == snap["data"]["u"] + 1


async def test_fast_start_replaces_a_paced_loop():
    m = Market(seed=1, interval=10.0, symbols={"linear": ["BTCUSDT"]})
    await m.start()  # paced: one step now, the next in 10 s
    await _until(lambda: m.step_no == 1)
    assert not m.fast
    await m.start(fast=True)
    await _until(lambda: m.step_no > 50)
    assert m.fast
    await m.stop()


async def test_constructor_options_start_a_fast_market(http):
    """``Emulator(fast_market=True, steps_per_tick=N)`` (and the CLI's --fast-market) step flat out from start."""
    async with Emulator(fast_market=True, steps_per_tick=4, rate_limits=False, symbols={"linear": ["BTCUSDT"]}) as ex:
        assert ex.market.fast and ex.market.steps_per_tick == 4
        ws = await _subscribe(ex, http, "linear", "orderbook.50.BTCUSDT")
        u = orjson.loads((await asyncio.wait_for(ws.receive(), 2)).data)["data"]["u"]
        for _ in range(200):
            f = orjson.loads((await asyncio.wait_for(ws.receive(), 2)).data)
            assert f["data"]["u"] == u + 1
            u = f["data"]["u"]
    assert not ex.market.fast


async def test_stop_does_not_hang_on_a_client_that_stopped_reading(monkeypatch):
    """A graceful close cannot complete while the transport is paused (the peer reads nothing):
    stop() must cut such sockets instead of waiting for a drain that never comes."""
    monkeypatch.setattr(public, "MAX_QUEUE", 10**9)  # keep the stalled client connected
    ex = Emulator(market_interval=0, rate_limits=False)
    await ex.start()
    s, conn = await _raw_subscriber(ex, ["orderbook.1000.BTCUSDT", "orderbook.200.ETHUSDT"])
    try:
        for _ in range(400):
            ex.market.step(10)
            await asyncio.sleep(0)
            if conn.sock.paused:
                break
        assert conn.sock.paused
        await asyncio.wait_for(ex.stop(), 5)
        assert conn.sock.closed
    finally:
        s.close()
