"""WsConnection against a small aiohttp server that can pong, stay silent, drop, refuse and push."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import orjson
import pytest
from _loopback import serve_loopback
from aiohttp import WSMsgType, web

from bybitfast.errors import ConnectionLostError, RequestTimeoutError, WebsocketError, WebsocketHandshakeError
from bybitfast.ws import connection as connection_mod
from bybitfast.ws.connection import ConnectBudget, ReconnectPolicy, WsConnection, is_pong

IS_PONG = [is_pong]
if connection_mod.NATIVE_SINK:
    from bybitfast._wslisten import is_pong as native_is_pong

    IS_PONG.append(native_is_pong)


@pytest.fixture(params=[True, False], ids=["native-sink", "python-sink"])
def native(request: pytest.FixtureRequest) -> bool:
    """Run a test with the native frame sink and with its pure-Python reference."""
    if request.param and not connection_mod.NATIVE_SINK:
        pytest.skip("bybitfast._wslisten not built")
    return request.param

FAST = ReconnectPolicy(initial=0.01, maximum=0.05, factor=2.0, jitter=0.0)


class Server:
    """Answers op ping like Bybit's private socket, echoes other frames, faults on demand."""

    def __init__(self) -> None:
        self.silent = False  # stop answering pings
        self.refuse_status: int | None = None  # answer the upgrade with this HTTP status
        self.push_while_silent = False  # keep pushing data frames while pings go unanswered
        self.pings = 0
        self.connections = 0
        self.handshakes = 0
        self.sockets: list[web.WebSocketResponse] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handler(self, request: web.Request) -> web.StreamResponse:
        self.handshakes += 1
        if self.refuse_status is not None:
            return web.Response(status=self.refuse_status, text="refused")
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        self.connections += 1
        self.sockets.append(ws)
        pusher = None
        if self.push_while_silent:
            pusher = asyncio.ensure_future(self._push(ws))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                body = orjson.loads(msg.data)
                if body.get("op") == "frag":  # one message in two raw frames: TEXT (fin=0) + CONTINUATION
                    part1, part2 = b'{"op":"frag",', b'"n":7}'
                    ws._req.transport.write(bytes((0x01, len(part1))) + part1 + bytes((0x80, len(part2))) + part2)  # noqa: SLF001
                elif body.get("op") == "bye":
                    await ws.close(code=1001, message=b"maintenance")
                elif body.get("op") == "ping":
                    self.pings += 1
                    if not self.silent:
                        await ws.send_str('{"req_id":"","op":"pong","args":["1675418560633"],"conn_id":"c1"}')
                else:
                    await ws.send_str(msg.data)
        finally:
            if pusher is not None:
                pusher.cancel()
            self.sockets.remove(ws)
        return ws

    async def _push(self, ws: web.WebSocketResponse) -> None:
        n = 0
        while not ws.closed:
            n += 1
            await ws.send_str('{"topic":"tickers.BTCUSDT","type":"delta","data":{"n":%d}}' % n)
            await asyncio.sleep(0.01)

    async def drop_all(self) -> None:
        for ws in list(self.sockets):
            ws._req.transport.abort()  # noqa: SLF001 - a network failure, no close frame

    async def __aenter__(self) -> Server:
        app = web.Application()
        app.router.add_get("/v5/private", self.handler)
        self._runner, port = await serve_loopback(app)
        self.url = f"ws://127.0.0.1:{port}/v5/private"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


class Recorder:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.events: list[tuple[str, dict]] = []
        self.disconnects: list[BaseException | None] = []
        self.changed = asyncio.Event()

    def on_message(self, conn: WsConnection, data: bytes) -> None:
        self.messages.append(data)
        self.changed.set()

    def on_event(self, name: str, payload: dict) -> None:
        self.events.append((name, payload))
        self.changed.set()

    def on_disconnected(self, conn: WsConnection, exc: BaseException | None) -> None:
        self.disconnects.append(exc)

    def names(self) -> list[str]:
        return [n for n, _ in self.events]

    async def until(self, predicate, timeout: float = 3.0) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                try:  # woken by a callback, or re-checked every 5 ms for server-side state
                    await asyncio.wait_for(self.changed.wait(), 0.005)
                except asyncio.TimeoutError:
                    pass

        await asyncio.wait_for(loop(), timeout)


def make(rec: Recorder, url: str, **kw) -> WsConnection:
    kw.setdefault("reconnect", FAST)
    kw.setdefault("budget", ConnectBudget())
    return WsConnection(
        "v5_private", url, on_message=rec.on_message, on_event=rec.on_event, on_disconnected=rec.on_disconnected, **kw
    )


def no_stray_tasks() -> list[asyncio.Task]:
    me = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not me and "bybitfast" in t.get_name()]


@pytest.mark.parametrize(
    "path",
    [
        "ws/private/control/pong.docs.json",
        "ws/private/control/pong.gct.json",
        "ws/public/control/pong_linear-inverse.docs.json",
        "ws/public/control/pong_option-spread.docs.json",
        "ws/public/control/pong_spot.docs.json",
    ],
)
@pytest.mark.parametrize("pong", IS_PONG)
def test_is_pong_recognises_every_recorded_pong(fixtures_dir: Path, path: str, pong) -> None:
    compact = orjson.dumps(json.loads((fixtures_dir / path).read_text()))
    assert pong(compact)


@pytest.mark.parametrize("pong", IS_PONG)
def test_is_pong_rejects_data_and_acks(pong) -> None:
    assert not pong(b'{"topic":"orderbook.1.BTCUSDT","type":"snapshot","data":{}}')
    assert not pong(b'{"success":true,"ret_msg":"","op":"subscribe","conn_id":"x"}')
    assert not pong(b'{"op":"ping"}')
    assert not pong(b"")
    assert not pong(b'"op":"pon')
    # a big data frame that happens to contain the bytes is not looked at
    assert not pong(b'{"topic":"x","data":"' + b"a" * 300 + b'","op":"pong"}')


def test_reconnect_policy_is_capped_jittered_and_validated() -> None:
    p = ReconnectPolicy(initial=0.5, maximum=5.0, factor=1.5, jitter=0.25)
    assert 0.25 <= p.delay(1) <= 0.75
    assert 0.5 <= p.delay(2) <= 1.0  # 0.75 ± 0.25
    assert all(4.75 <= p.delay(n) <= 5.25 for n in range(10, 60))
    assert ReconnectPolicy(initial=1, jitter=0).delay(1) == 1
    assert len({p.delay(30) for _ in range(20)}) > 1  # jitter spreads a herd
    with pytest.raises(ValueError):
        ReconnectPolicy(factor=0.5)
    with pytest.raises(ValueError):
        ReconnectPolicy(max_attempts=0)


async def test_connect_budget_waits_when_spent() -> None:
    b = ConnectBudget(limit=3, window=0.5)
    for _ in range(3):
        await b.acquire("h")
    assert b.wait_time("h") > 0.3
    assert b.wait_time("other") == 0
    first = b._log["h"][0]  # noqa: SLF001
    waiting = asyncio.Event()

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "budget" in record.getMessage():
                waiting.set()

    spy = Spy()
    connection_mod.log.addHandler(spy)
    try:
        task = asyncio.ensure_future(b.acquire("h"))
        await asyncio.wait_for(waiting.wait(), 1.0)  # it says it waits, right before sleeping
        assert not task.done()  # waits out the window instead of failing or connecting
        await asyncio.wait_for(task, 1.0)
    finally:
        connection_mod.log.removeHandler(spy)
    assert b._log["h"][-1] >= first + b.window  # noqa: SLF001 - the 4th connect only once the 1st left the window


async def test_open_send_receive_close(native: bool) -> None:
    rec = Recorder()
    async with Server() as srv:
        conn = make(rec, srv.url, native=native)
        with pytest.raises(ConnectionLostError) as ei:
            conn.send(b"{}")
        assert ei.value.may_have_reached_exchange is False
        await conn.open()
        assert conn.connected and conn.generation == 1
        conn.send(b'{"op":"echo","n":1}')
        conn.send('{"op":"echo","n":2}')
        await rec.until(lambda: len(rec.messages) == 2)
        assert [orjson.loads(m)["n"] for m in rec.messages] == [1, 2]
        await conn.close()
        assert conn.closed and not conn.connected
        assert rec.names() == ["open", "close"]
        assert rec.events[0][1]["ws_key"] == "v5_private"
        assert rec.disconnects == [None]
        with pytest.raises(ConnectionLostError):
            conn.send(b"{}")
        # no reconnect after an intentional close: the connection loop has ended, nothing can dial
        assert not conn.running and conn._task is not None and conn._task.done()  # noqa: SLF001
        assert srv.connections == 1
        assert no_stray_tasks() == []
        await conn.close()  # idempotent: no second close event
        assert rec.names() == ["open", "close"]


async def test_heartbeat_pongs_are_consumed_not_delivered(native: bool) -> None:
    rec = Recorder()
    async with Server() as srv:
        conn = make(rec, srv.url, ping_interval=0.2, pong_timeout=0.1, native=native)
        await conn.open()
        await rec.until(lambda: srv.pings >= 3)
        # a marker on the same socket: the server answers in order, so every pong so far precedes its echo
        conn.send(b'{"op":"echo","n":"marker"}')
        await rec.until(lambda: rec.messages)
        assert rec.messages == [b'{"op":"echo","n":"marker"}']  # the pongs were consumed, not delivered
        assert conn._listener is not None and conn._listener.pongs >= 3  # noqa: SLF001
        assert conn.generation == 1 and conn.last_pong_rtt is not None
        await conn.close()


async def test_missing_pong_reconnects_even_while_data_flows(native: bool) -> None:
    # PROTOCOL §8 weakness 4: data frames must not count as pongs.
    rec = Recorder()
    async with Server() as srv:
        srv.silent = True
        srv.push_while_silent = True
        conn = make(rec, srv.url, ping_interval=0.1, pong_timeout=0.05, native=native)
        await conn.open()
        await rec.until(lambda: "reconnected" in rec.names())
        errors = [p["error"] for n, p in rec.events if n == "exception"]
        assert any("no pong" in str(e) for e in errors)
        assert rec.names()[:3] == ["open", "exception", "reconnect"]
        assert rec.messages and all(b'"topic"' in m for m in rec.messages)
        srv.silent = False
        await conn.close()
        assert no_stray_tasks() == []


async def test_server_drop_reconnects_and_reruns_on_connected(native: bool) -> None:
    rec = Recorder()
    runs: list[int] = []

    async def on_connected(conn: WsConnection) -> None:
        runs.append(conn.generation)
        conn.send(b'{"op":"hello","gen":%d}' % conn.generation)

    async with Server() as srv:
        conn = make(rec, srv.url, on_connected=on_connected, native=native)
        await conn.open()
        await rec.until(lambda: len(rec.messages) == 1)
        await srv.drop_all()
        await rec.until(lambda: len(rec.messages) == 2)
        await conn.wait_connected(1.0)
        assert runs == [1, 2]
        assert [orjson.loads(m)["gen"] for m in rec.messages] == [1, 2]
        assert rec.names() == ["open", "reconnect", "reconnected"]
        assert isinstance(rec.disconnects[0], ConnectionLostError)
        assert rec.disconnects[0].may_have_reached_exchange is True
        await conn.close()
        assert rec.names()[-1] == "close"


async def test_handshake_refusal_raises_on_open_and_is_backed_off() -> None:
    rec = Recorder()
    async with Server() as srv:
        srv.refuse_status = 404
        conn = make(rec, srv.url, reconnect=ReconnectPolicy(initial=0.001, maximum=0.15, jitter=0.0))
        with pytest.raises(WebsocketHandshakeError) as ei:
            await conn.open()
        assert ei.value.status == 404
        assert not conn.running and srv.handshakes == 1  # open() failure leaves nothing retrying
        conn.start()
        await rec.until(lambda: srv.handshakes >= 4)
        # 4xx: every retry waits the policy maximum (0.15 s), not initial (1 ms): the delays the loop
        # computed bound the retry rate (≤ 1 per 0.15 s), whatever the machine's speed
        delays = [p["delay"] for n, p in rec.events if n == "reconnect"]
        assert len(delays) >= srv.handshakes - 2  # every retry after start()'s first went through one
        assert min(delays) >= 0.15 and conn.policy.delay(1) < 0.15
        srv.refuse_status = None
        await conn.wait_connected(1.0)
        assert conn.connected
        await conn.close()
        assert no_stray_tasks() == []


async def test_on_connected_failure_raises_on_open_then_retries_in_background() -> None:
    rec = Recorder()
    fail = [2]

    async def on_connected(conn: WsConnection) -> None:
        if fail[0] > 0:
            fail[0] -= 1
            raise WebsocketError("auth refused")

    async with Server() as srv:
        conn = make(rec, srv.url, on_connected=on_connected)
        with pytest.raises(WebsocketError, match="auth refused"):
            await conn.open()
        assert not conn.connected and not conn.running
        conn.start()
        await conn.wait_connected(2.0)
        assert fail[0] == 0 and srv.connections == 3
        assert [n for n in rec.names() if n == "exception"] == ["exception", "exception"]
        await conn.close()


async def test_callback_exception_does_not_kill_the_stream(native: bool) -> None:
    rec = Recorder()
    seen: list[bytes] = []

    def on_message(conn: WsConnection, data: bytes) -> None:
        seen.append(data)
        rec.changed.set()
        if len(seen) == 1:
            raise RuntimeError("user bug")

    async with Server() as srv:
        conn = WsConnection("k", srv.url, on_message=on_message, on_event=rec.on_event, reconnect=FAST, native=native)
        await conn.open()
        conn.send(b'{"n":1}')
        conn.send(b'{"n":2}')
        await rec.until(lambda: len(seen) == 2 and "exception" in rec.names())
        assert len(seen) == 2 and conn.generation == 1
        exc = [p for n, p in rec.events if n == "exception"]
        assert len(exc) == 1 and isinstance(exc[0]["error"], RuntimeError) and exc[0]["where"] == "on_message"
        await conn.close()


async def test_stale_data_watchdog_reconnects_a_silent_socket() -> None:
    rec = Recorder()
    async with Server() as srv:
        conn = make(rec, srv.url, stale_after=0.05, ping_interval=None)
        await conn.open()
        await rec.until(lambda: "reconnected" in rec.names())
        errors = [str(p["error"]) for n, p in rec.events if n == "exception"]
        assert any("no data" in e for e in errors)
        await conn.close()


async def test_max_attempts_gives_up_with_close_event() -> None:
    rec = Recorder()
    async with Server() as srv:
        conn = make(rec, srv.url, reconnect=ReconnectPolicy(initial=0.01, maximum=0.01, jitter=0, max_attempts=2))
        await conn.open()
        srv.refuse_status = 500
        await srv.drop_all()
        await rec.until(lambda: "close" in rec.names())
        assert conn.closed and not conn.running
        assert srv.handshakes == 3  # first connect + 2 failed retries
        with pytest.raises(ConnectionLostError):
            await conn.wait_connected(0.1)


async def test_wait_connected_times_out_and_close_wakes_waiters() -> None:
    rec = Recorder()
    async with Server() as srv:
        srv.refuse_status = 503
        conn = make(rec, srv.url)
        conn.start()
        with pytest.raises(RequestTimeoutError):
            await conn.wait_connected(0.05)
        waiter = asyncio.ensure_future(conn.wait_connected())
        await asyncio.sleep(0)  # one loop turn: the waiter is now blocked on the ready event
        assert not waiter.done() and conn._ready_event._waiters  # noqa: SLF001
        await conn.close()
        with pytest.raises(ConnectionLostError):
            await asyncio.wait_for(waiter, 1.0)
        assert no_stray_tasks() == []


async def test_fragmented_message_is_reassembled_and_close_frame_reported(native: bool) -> None:
    rec = Recorder()
    async with Server() as srv:
        conn = make(rec, srv.url, native=native)
        await conn.open()
        conn.send(b'{"op":"frag"}')
        await rec.until(lambda: len(rec.messages) == 1)
        assert orjson.loads(rec.messages[0]) == {"op": "frag", "n": 7}
        conn.send(b'{"op":"bye"}')
        await rec.until(lambda: "reconnected" in rec.names())
        assert isinstance(rec.disconnects[0], ConnectionLostError) and "1001" in str(rec.disconnects[0])
        await conn.close()
