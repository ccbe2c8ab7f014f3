"""Emulator costs, each beside a baseline measured in the same run (read the ratios).

- Market step (group ``emulator-market-step``): one ``Market.step`` that publishes an L50 delta (price process,
  window diff, one frame built once for all subscribers) beside ``orjson.dumps`` of a typical L50
  delta frame, the least work any server must do per frame.
- End to end (group ``emulator-e2e-l50-frames``): frames per second one picows client (uvloop, this
  process) receives for ``orderbook.50.BTCUSDT`` from an emulator in its own process stepping as
  fast as the subscribers take frames; baseline: the same client fed pre-built L50 deltas by a
  trivial picows push server. ``extra_info`` has frames/s per subscriber.
- Fan-out (groups ``emulator-fanout-{asyncio,uvloop}``): FANOUT_STEPS market steps with 8 real
  L50 subscribers (raw sockets drained by another process) vs the same steps with an in-process
  sink: the difference is what the server pays to deliver frames.
- REST (group ``emulator-rest-public-noop``): ``GET /v5/market/time`` x1000, aiohttp client in this
  process, through the emulator's pipeline vs a constant-answer aiohttp app.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from typing import Any

import orjson
import pytest

from bybitfast.emulator.faults import Faults
from bybitfast.emulator.market import Market
from bybitfast.emulator.public import Hub

MARKET_STEP_GROUP = "emulator-market-step"


class _Sink:
    def push(self, frame: bytes, delay: float = 0.0) -> None:
        pass


def _market(*topics: str) -> Market:
    m = Market(seed=1, interval=0, symbols={"linear": ["BTCUSDT"]})
    hub = Hub(m, Faults())
    for name in topics or ("orderbook.50.BTCUSDT",):
        hub.add(_Sink(), hub.resolve("linear", name))  # type: ignore[arg-type]
    return m


@pytest.mark.benchmark(group=MARKET_STEP_GROUP)
def test_baseline_orjson_l50_delta(benchmark):
    frame = {"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": 1, "data": {"s": "BTCUSDT",
             "b": [["100000.10", "0.123"]] * 4, "a": [["100000.20", "0"]] * 4, "u": 1, "seq": 2}, "cts": 1}
    benchmark(orjson.dumps, frame)


@pytest.mark.benchmark(group=MARKET_STEP_GROUP)
def test_market_step_with_l50_subscriber(benchmark):
    m = _market()
    benchmark(m.step)


@pytest.mark.benchmark(group=MARKET_STEP_GROUP)
def test_market_step_all_symbols_unwatched(benchmark):
    m = Market(seed=1, interval=0)
    benchmark(m.step)


@pytest.mark.benchmark(group=MARKET_STEP_GROUP)
def test_market_step_with_l50_ticker_trade_subscribers(benchmark):
    m = _market("orderbook.50.BTCUSDT", "tickers.BTCUSDT", "publicTrade.BTCUSDT")
    benchmark(m.step)


@pytest.mark.benchmark(group=MARKET_STEP_GROUP)
def test_market_step_with_full_book_and_other_topics(benchmark):
    """orderbook.full (a delta every 4th step) + allLiquidation + insurance + priceLimit subscribers."""
    m = _market("orderbook.full.BTCUSDT", "allLiquidation.BTCUSDT", "insurance.USDT", "priceLimit.BTCUSDT")
    benchmark(m.step)


@pytest.mark.benchmark(group=MARKET_STEP_GROUP)
def test_rest_full_orderbook_snapshot(benchmark):
    """Building the REST full_orderbook view between two pushes (about 2 x 1200 levels)."""
    m = _market("orderbook.full.BTCUSDT")
    m.step(6)  # between two 200 ms pushes: the view reverts the pending changes
    b = m.book("linear", "BTCUSDT")
    benchmark(b.full_levels)


# ---- end to end: frames/s to a picows client, and REST per-request cost ---------------------------
# The emulator (or the baseline push server) runs in its own spawned process; the picows client runs
# here on uvloop and counts frames, so the figure is what one L50 subscriber receives per second.
E2E_FRAMES = 30_000
E2E_ROUNDS = 3
E2E_TOPIC = "orderbook.50.BTCUSDT"
STEPS_PER_TICK = 4  # market steps per event-loop iteration (fast mode's steps_per_tick)


def _l50_frames(n: int) -> tuple[bytes, list[bytes]]:
    """Snapshot + ``n`` deltas of linear orderbook.50.BTCUSDT exactly as the emulator builds them."""
    m = Market(seed=1, interval=0, symbols={"linear": ["BTCUSDT"]})
    hub = Hub(m, Faults())
    out: list[bytes] = []

    class Sink:
        def push(self, frame: Any, delay: float = 0.0) -> None:
            out.append(frame if isinstance(frame, bytes) else frame.encode())

    t = hub.resolve("linear", E2E_TOPIC)
    hub.add(Sink(), t)  # type: ignore[arg-type]
    snap = hub.snapshot_frame(t)
    assert snap is not None
    while len(out) < n:
        m.step()
    return (snap if isinstance(snap, bytes) else snap.encode()), out[:n]


def _ws_wire(frames: list[bytes]) -> bytes:
    """Unmasked server text frames (RFC 6455), concatenated."""
    parts = []
    for f in frames:
        n = len(f)
        parts.append(bytes((0x81, n)) if n < 126 else bytes((0x81, 126)) + n.to_bytes(2, "big") if n < 65536 else bytes((0x81, 127)) + n.to_bytes(8, "big"))
        parts.append(f)
    return b"".join(parts)


def _serve_baseline(n: int, port_q: Any) -> None:
    """A trivial picows push server: ack + snapshot + ``n`` pre-built L50 deltas as fast as TCP takes."""
    import picows

    from bybitfast.ws.connection import run

    snap, deltas = _l50_frames(n)
    blob = _ws_wire(deltas)

    class Push(picows.WSListener):
        def pause_writing(self) -> None:
            pass

        def resume_writing(self) -> None:
            pass

        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            if frame.msg_type == picows.WSMsgType.CLOSE:
                transport.disconnect()
            elif frame.msg_type == picows.WSMsgType.TEXT and b"subscribe" in frame.get_payload_as_bytes():
                transport.send(picows.WSMsgType.TEXT, b'{"success":true,"ret_msg":"","conn_id":"b","req_id":"","op":"subscribe"}')
                transport.send(picows.WSMsgType.TEXT, snap)
                transport.underlying_transport.write(blob)

    async def main() -> None:
        server = await picows.ws_create_server(lambda _req: Push(), "127.0.0.1", 0)
        port_q.put(server.sockets[0].getsockname()[1])
        await asyncio.Future()

    run(main())


async def _drive_flat_out(ex: Any, steps: int) -> None:
    """Step the market as fast as the subscribers take frames (never a slow-consumer cut).

    Uses only what every emulator version has (``Hub.conns``, ``Conn.queue``), so the same run
    measures the code before and after a change.
    """
    from bybitfast.emulator.public import hub_for

    m = ex.market
    hub = hub_for(ex)
    while True:
        if hub.topics and all(len(c.queue) < 256 for c in hub.conns):
            m.step(steps)
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(0 if hub.topics else 0.001)


async def _meter(ex: Any, result_q: Any) -> None:
    """Per client session: server CPU seconds, market steps and frames sent, from subscribe to disconnect."""
    from bybitfast.emulator.public import hub_for

    hub = hub_for(ex)
    while True:
        while not hub.topics:
            await asyncio.sleep(0.001)
        c0, s0 = time.process_time(), ex.market.step_no
        seen = set(hub.conns)
        while hub.conns:
            seen.update(hub.conns)
            await asyncio.sleep(0.001)
        result_q.put((time.process_time() - c0, ex.market.step_no - s0, sum(c.sock.sent for c in seen)))


def _serve_emulator(mode: str, loop: str, port_q: Any, result_q: Any) -> None:
    """The emulator, one linear symbol; ``loop``: uvloop (the demo) or asyncio (``bybitfast emulator``)."""
    from bybitfast.emulator import Emulator
    from bybitfast.ws.connection import run

    async def main() -> None:
        async with Emulator(market_interval=0, rate_limits=False, symbols={"linear": ["BTCUSDT"]}) as ex:
            meter = asyncio.get_running_loop().create_task(_meter(ex, result_q))
            port_q.put(ex.port)
            if mode == "fast":
                ex.market.steps_per_tick = STEPS_PER_TICK
                await ex.market.start(fast=True)
                await asyncio.Future()
            await _drive_flat_out(ex, STEPS_PER_TICK)
            meter.cancel()

    if loop == "uvloop":
        run(main())
    else:
        asyncio.run(main())


class _Proc:
    def __init__(self, target: Any, *args: Any) -> None:
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        self.results = ctx.Queue()
        extra = (self.results,) if target is _serve_emulator else ()
        self.proc = ctx.Process(target=target, args=(*args, q, *extra), daemon=True)
        self.proc.start()
        self.url = f"ws://127.0.0.1:{q.get(timeout=60)}/v5/public/linear"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.join(5)


async def picows_count_client(url: str, n: int) -> float:
    """Subscribe to the L50 book; seconds from the snapshot to the ``n``-th delta after it."""
    import picows

    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    count = -1
    t0 = 0.0

    class L(picows.WSListener):
        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            nonlocal count, t0
            if frame.msg_type == picows.WSMsgType.TEXT and frame.get_payload_as_memoryview()[:8] == b'{"topic"':
                count += 1
                if count == 0:
                    t0 = time.perf_counter()
                elif count == n and not done.done():
                    done.set_result(time.perf_counter() - t0)

    transport, _ = await picows.ws_connect(L, url)
    try:
        transport.send(picows.WSMsgType.TEXT, b'{"op":"subscribe","args":["%s"]}' % E2E_TOPIC.encode())
        return await asyncio.wait_for(done, 120)
    finally:
        transport.disconnect()
        await transport.wait_disconnected()


async def _clients(url: str, n: int, subscribers: int) -> float:
    """``subscribers`` picows clients at once; seconds until the slowest has its ``n`` deltas."""
    return max(await asyncio.gather(*(picows_count_client(url, n) for _ in range(subscribers))))


def _bench_e2e(benchmark: Any, target: Any, *args: Any, subscribers: int = 1) -> None:
    from bybitfast.ws.connection import run

    benchmark.group = "emulator-e2e-l50-frames"
    srv = _Proc(target, *args)
    try:
        elapsed: list[float] = []
        benchmark.pedantic(lambda: elapsed.append(run(_clients(srv.url, E2E_FRAMES, subscribers))), rounds=E2E_ROUNDS, iterations=1)
        if target is _serve_emulator:
            # server CPU time per market step and per frame written, all rounds (less noisy than wall time)
            meters = [srv.results.get(timeout=10) for _ in range(E2E_ROUNDS)]
            cpu = sum(m[0] for m in meters)
            benchmark.extra_info["server_cpu_us_per_step"] = round(cpu / sum(m[1] for m in meters) * 1e6, 2)
            benchmark.extra_info["server_cpu_us_per_frame_sent"] = round(cpu / sum(m[2] for m in meters) * 1e6, 2)
    finally:
        srv.stop()
    benchmark.extra_info["frames_per_subscriber"] = E2E_FRAMES
    benchmark.extra_info["subscribers"] = subscribers
    benchmark.extra_info["frames_per_s_per_subscriber_best"] = round(E2E_FRAMES / min(elapsed))


def test_e2e_picows_push_server_baseline(benchmark: Any) -> None:
    """Pre-built L50 deltas from a trivial picows server: the client's ceiling."""
    _bench_e2e(benchmark, _serve_baseline, E2E_FRAMES)


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_e2e_emulator_l50_driven(benchmark: Any, loop: str) -> None:
    """The emulator stepping STEPS_PER_TICK per loop iteration while the subscriber keeps up."""
    _bench_e2e(benchmark, _serve_emulator, "drive", loop)


def test_e2e_emulator_l50_fast_mode(benchmark: Any) -> None:
    """``Market.start(fast=True)`` (uvloop): the built-in flat-out mode, throttled by backpressure."""
    _bench_e2e(benchmark, _serve_emulator, "fast", "uvloop")


# ---- fan-out: server-side cost of delivering each frame to several subscribers ------------------
# The end-to-end rate above is bound by the market step (one subscriber) or by the client process
# (several); this isolates what the server pays per frame and subscriber. The subscribers are raw
# sockets drained by another process (no frame parsing there), the emulator runs in this process,
# and the time is from the first of FANOUT_STEPS steps until every queue is handed to the kernel.
FANOUT_STEPS = 8000
FANOUT_SUBSCRIBERS = 8


def _drain_readers(cmd_q: Any, ack_q: Any) -> None:
    """Connect ``n`` WebSocket subscribers to each port received and discard everything they get."""
    import base64
    import os
    import socket
    import threading

    sub = orjson.dumps({"op": "subscribe", "args": [E2E_TOPIC]})
    mask = b"\x00\x00\x00\x00"  # a zero mask: the payload goes as is
    frame = bytes((0x81, 0x80 | len(sub))) + mask + sub

    def reader(sock: socket.socket) -> None:
        try:
            while sock.recv(1 << 20):
                pass
        except OSError:
            pass
        sock.close()

    while True:
        port, n = cmd_q.get()
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall(f"GET /v5/public/linear HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode() + frame)
            threading.Thread(target=reader, args=(s,), daemon=True).start()
        ack_q.put(n)


async def _fanout_round(readers: Any, subscribers: int) -> float:
    from bybitfast.emulator import Emulator
    from bybitfast.emulator.public import hub_for

    async with Emulator(market_interval=0, rate_limits=False, symbols={"linear": ["BTCUSDT"]}) as ex:
        hub = hub_for(ex)
        if subscribers:
            readers[0].put((ex.port, subscribers))
            while len([c for c in hub.conns if c.topics]) < subscribers:
                await asyncio.sleep(0.001)
        else:
            hub.add(_Sink(), hub.resolve("linear", E2E_TOPIC))  # type: ignore[arg-type]
        while any(c.queue for c in hub.conns):
            await asyncio.sleep(0.001)
        m = ex.market
        t0 = time.perf_counter()
        for _ in range(FANOUT_STEPS // STEPS_PER_TICK):
            m.step(STEPS_PER_TICK)
            await asyncio.sleep(0)
        while any(c.queue for c in hub.conns):
            await asyncio.sleep(0)
        return time.perf_counter() - t0


@pytest.fixture(scope="module")
def readers() -> Any:
    ctx = mp.get_context("spawn")
    cmd_q, ack_q = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_drain_readers, args=(cmd_q, ack_q), daemon=True)
    proc.start()
    yield cmd_q, ack_q
    proc.terminate()
    proc.join(5)


def _bench_fanout(benchmark: Any, readers: Any, loop: str, subscribers: int) -> None:
    from bybitfast.ws.connection import run

    benchmark.group = f"emulator-fanout-{loop}"
    runner = run if loop == "uvloop" else asyncio.run
    benchmark.pedantic(lambda: runner(_fanout_round(readers, subscribers)), rounds=3, iterations=1)
    benchmark.extra_info["steps"] = FANOUT_STEPS
    benchmark.extra_info["subscribers"] = subscribers


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_fanout_market_steps_no_socket_baseline(benchmark: Any, readers: Any, loop: str) -> None:
    """FANOUT_STEPS steps with an in-process L50 sink: the market's share of the figures below."""
    _bench_fanout(benchmark, readers, loop, 0)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_fanout_market_steps_8_socket_subscribers(benchmark: Any, readers: Any, loop: str) -> None:
    """The same steps with FANOUT_SUBSCRIBERS real L50 subscribers: the difference is the fan-out."""
    _bench_fanout(benchmark, readers, loop, FANOUT_SUBSCRIBERS)


REST_REQUESTS = 1000


async def _rest_loop(base: str, n: int) -> float:
    import aiohttp

    async with aiohttp.ClientSession() as s:
        url = base + "/v5/market/time"
        async with s.get(url) as r:
            await r.read()
        t0 = time.perf_counter()
        for _ in range(n):
            async with s.get(url) as r:
                await r.read()
        return time.perf_counter() - t0


async def _rest_emulator(n: int) -> float:
    from bybitfast.emulator import Emulator

    async with Emulator(market_interval=0, rate_limits=False, symbols={"linear": ["BTCUSDT"]}) as ex:
        return await _rest_loop(ex.rest_url, n)


async def _rest_plain_aiohttp(n: int) -> float:
    from aiohttp import web

    body = b'{"retCode":0,"retMsg":"OK","result":{"timeSecond":"1","timeNano":"1"},"retExtInfo":{},"time":1}'

    async def handler(_req: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/v5/market/time", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
    try:
        return await _rest_loop(f"http://127.0.0.1:{port}", n)
    finally:
        await runner.cleanup()


def _bench_rest(benchmark: Any, fn: Any) -> None:
    from bybitfast.ws.connection import run

    benchmark.group = "emulator-rest-public-noop"
    elapsed: list[float] = []
    benchmark.pedantic(lambda: elapsed.append(run(fn(REST_REQUESTS))), rounds=3, iterations=1)
    benchmark.extra_info["us_per_request_best"] = round(min(elapsed) / REST_REQUESTS * 1e6, 1)


def test_rest_plain_aiohttp_server_baseline(benchmark: Any) -> None:
    """GET /v5/market/time x1000 (aiohttp client, same process) against a constant-answer aiohttp app."""
    _bench_rest(benchmark, _rest_plain_aiohttp)


def test_rest_emulator_market_time(benchmark: Any) -> None:
    """The same requests through the emulator's full REST pipeline."""
    _bench_rest(benchmark, _rest_emulator)
