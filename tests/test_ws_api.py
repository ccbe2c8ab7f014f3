"""Trade-socket client (bybitfast.ws.api): every op, batches, auth, timeouts, drops, limits.

Behaviour is tested against the emulator. A small aiohttp trade server (``FakeTrade``) remains
for frame-level assertions (exact headers, nothing sent) and for a fault the emulator cannot
arm on a live socket (re-auth refused after a drop); it checks signatures with ``hmac`` directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import orjson
import pytest
from _loopback import serve_loopback
from aiohttp import WSMsgType, web

from bybitfast.emulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, Emulator
from bybitfast.emulator.wsconn import encode_text_frames
from bybitfast.errors import (
    AuthenticationError,
    BybitAPIError,
    ConfigurationError,
    ConnectionLostError,
    InvalidParameterError,
    RequestTimeoutError,
)
from bybitfast.ws.api import BATCH_LIMITS, RateLimit, WebsocketAPIClient, WsApiResponse, parse_rate_limit
from bybitfast.ws.connection import ReconnectPolicy

KEY = "fake-key-0001"
SECRET = "fake-secret-0001"
FAST_RECONNECT = ReconnectPolicy(initial=0.02, maximum=0.1, factor=1.5, jitter=0.01)
BOUND = 5.0  # upper bound on awaited conditions; never a timing assertion


class FakeTrade:
    """A minimal /v5/trade server: auth, order ops, batch ops, recorded frames, auth refusal."""

    def __init__(self, *, key: str = KEY, secret: str = SECRET) -> None:
        self.key = key
        self.secret = secret
        self.frames: list[dict[str, Any]] = []  # every non-ping frame received
        self.connections = 0
        self.reject_auth = 0  # next N auths refused
        self.header_case = "X-Bapi-Limit"  # key casing of the rate-limit header
        self.preface: list[bytes] = []  # raw text frames written before each order reply
        self._sockets: list[web.WebSocketResponse] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> FakeTrade:
        app = web.Application()
        app.router.add_get("/v5/trade", self._handle)
        self._runner, port = await serve_loopback(app)
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in list(self._sockets):
            await ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    def orders(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("op") != "auth"]

    def abort_all(self) -> None:
        for ws in list(self._sockets):
            ws._req.transport.abort()  # noqa: SLF001

    def _header(self, limit: int = 10, remaining: int = 9) -> dict[str, str]:
        now = str(time.time_ns() // 1_000_000)
        name = self.header_case
        return {
            name: str(limit),
            name + "-Status": str(remaining),
            name + "-Reset-Timestamp": now,
            "Traceid": "00ff",
            "Timenow": now,
        }

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        self.connections += 1
        self._sockets.append(ws)
        authed = False
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                op = frame.get("op")
                if op == "ping":
                    await ws.send_str('{"retCode":0,"retMsg":"OK","op":"pong","data":["1"],"connId":"c"}')
                    continue
                self.frames.append(frame)
                if op == "auth":
                    key, expires, sig = frame["args"]
                    good = hmac.new(self.secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()
                    if self.reject_auth > 0:
                        self.reject_auth -= 1
                        code, text = 10004, "Invalid sign"
                    elif key != self.key or sig != good or expires <= time.time() * 1000:
                        code, text = 10004, "Invalid sign"
                    else:
                        code, text, authed = 0, "OK", True
                    await ws.send_str(orjson.dumps({"retCode": code, "retMsg": text, "op": "auth", "connId": "c"}).decode())
                    continue
                reply: dict[str, Any] = {"reqId": frame.get("reqId"), "op": op, "retExtInfo": {}, "header": self._header(), "connId": "c"}
                if not authed:
                    reply.update(retCode=10003, retMsg="not authed", data={})
                elif op.endswith("-batch"):
                    items = frame["args"][0]["request"]
                    data, ext = [], []
                    for item in items:
                        bad = item.get("qty") == "0"
                        data.append({"symbol": item.get("symbol"), "orderId": "" if bad else "oid", "orderLinkId": item.get("orderLinkId", "")})
                        ext.append({"code": 10001 if bad else 0, "msg": "qty invalid" if bad else "OK"})
                    reply.update(retCode=0, retMsg="OK", data={"list": data}, retExtInfo={"list": ext})
                else:
                    reply.update(retCode=0, retMsg="OK", data={"orderId": "oid-" + str(len(self.frames)), "orderLinkId": frame["args"][0].get("orderLinkId", "")})
                if self.preface:
                    ws._req.transport.write(encode_text_frames(self.preface))  # noqa: SLF001 - bytes as they are
                await ws.send_str(orjson.dumps(reply).decode())
        finally:
            self._sockets.remove(ws)
        return ws


def client_for(server: FakeTrade, **kw: Any) -> WebsocketAPIClient:
    kw.setdefault("reconnect", FAST_RECONNECT)
    kw.setdefault("request_timeout", 2.0)
    return WebsocketAPIClient(kw.pop("key", KEY), kw.pop("secret", SECRET), ws_url=server.url, **kw)


ORDER = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "30000"}


# ---- pure parts ------------------------------------------------------------------------------
def test_parse_rate_limit_case_insensitive_and_strict() -> None:
    assert parse_rate_limit({"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "9", "X-Bapi-Limit-Reset-Timestamp": "5"}) == RateLimit(10, 9, 5)
    assert parse_rate_limit({"x-bapi-limit": "20", "X-BAPI-LIMIT-STATUS": "0", "x-Bapi-limit-reset-timestamp": "7"}) == RateLimit(20, 0, 7)
    assert parse_rate_limit({"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "9"}) is None
    assert parse_rate_limit({"X-Bapi-Limit": "ten", "X-Bapi-Limit-Status": "9", "X-Bapi-Limit-Reset-Timestamp": "5"}) is None
    assert parse_rate_limit(None) is None


def test_fixture_reply_rate_limit(fixtures_dir) -> None:
    reply = json.loads((fixtures_dir / "ws/trade/order.create-batch.response.docs.json").read_text())
    resp = WsApiResponse(reply)
    assert resp.rate_limit == RateLimit(150, 147, 1740453408555)
    assert resp.item_errors() == [(i, 10001, "position idx not match position mode") for i in range(3)]


def test_demo_trading_has_no_trade_socket() -> None:
    with pytest.raises(ConfigurationError):
        WebsocketAPIClient(KEY, SECRET, demo_trading=True)
    with pytest.raises(ConfigurationError):
        WebsocketAPIClient(KEY, SECRET, demo_trading=True, testnet=True)


def test_construction_checks_and_urls() -> None:
    assert WebsocketAPIClient(KEY, SECRET).url == "wss://stream.bybit.com/v5/trade"
    assert WebsocketAPIClient(KEY, SECRET, testnet=True).url == "wss://stream-testnet.bybit.com/v5/trade"
    assert WebsocketAPIClient(KEY, SECRET, ws_url={"v5_private_trade": "ws://h/x"}).url == "ws://h/x"
    with pytest.raises(ConfigurationError):
        WebsocketAPIClient("", SECRET)
    with pytest.raises(ConfigurationError):
        WebsocketAPIClient(KEY, SECRET, request_timeout=0)
    assert SECRET not in repr(vars(WebsocketAPIClient(KEY, SECRET)))


def test_request_ids_unique_and_short() -> None:
    a, b = WebsocketAPIClient(KEY, SECRET), WebsocketAPIClient(KEY, SECRET)
    ids = {a.next_req_id() for _ in range(10_000)} | {b.next_req_id() for _ in range(10_000)}
    assert len(ids) == 20_000
    assert max(map(len, ids)) <= 36


# ---- against the emulator ------------------------------------------------------------------
@pytest.fixture
async def ex() -> Any:
    async with Emulator(market_interval=0) as emulator:
        yield emulator


def emu_client(ex: Emulator, **kw: Any) -> WebsocketAPIClient:
    kw.setdefault("reconnect", FAST_RECONNECT)
    kw.setdefault("request_timeout", 2.0)
    return WebsocketAPIClient(kw.pop("key", DEFAULT_API_KEY), kw.pop("secret", DEFAULT_API_SECRET), ws_url=ex.ws_url, **kw)


async def test_every_single_op_round_trip(ex: Emulator) -> None:
    async with emu_client(ex) as c:
        created = await c.submit_new_order(ORDER)
        oid = created.data["orderId"]
        amended = await c.amend_order({"category": "linear", "symbol": "BTCUSDT"}, orderId=oid, price="30001")
        cancelled = await c.cancel_order(category="linear", symbol="BTCUSDT", orderId=oid)
        again = await c.send_ws_api_request("order.create", ORDER, orderLinkId="generic-1")
        gone = await c.send_ws_api_request("order.cancel", category="linear", symbol="BTCUSDT", orderLinkId="generic-1")
    assert isinstance(created, WsApiResponse) and created["retCode"] == 0 and oid
    assert created["reqId"] != amended["reqId"] and all(len(r["reqId"]) <= 36 for r in (created, amended, cancelled))
    assert amended["op"] == "order.amend" and amended.data["orderId"] == oid
    assert cancelled["op"] == "order.cancel" and cancelled.data["orderId"] == oid
    assert again.data["orderLinkId"] == "generic-1" and gone.data["orderLinkId"] == "generic-1"
    assert isinstance(created.rate_limit, RateLimit) and created.rate_limit.limit > 0
    assert set(c.rate_limits) == {"order.create", "order.amend", "order.cancel"}
    assert c.rate_limits["order.cancel"] == gone.rate_limit


async def test_batch_ops_with_item_errors(ex: Emulator) -> None:
    async with emu_client(ex) as c:
        orders = [dict(ORDER, orderLinkId=f"b{i}") for i in range(3)]
        orders[1]["qty"] = "0"
        created = await c.batch_submit_orders("linear", orders)
        assert created["retCode"] == 0 and len(created.data["list"]) == 3
        assert [i for i, _, _ in created.item_errors()] == [1]
        assert created.item_errors()[0][1] != 0
        amends = [{"symbol": "BTCUSDT", "orderLinkId": "b0", "price": "30002"}, {"symbol": "BTCUSDT", "orderLinkId": "nope", "price": "1"}]
        amended = await c.batch_amend_orders({"category": "linear", "request": amends})
        assert [i for i, _, _ in amended.item_errors()] == [1]
        cancelled = await c.batch_cancel_orders(category="linear", orders=[{"symbol": "BTCUSDT", "orderLinkId": "b0"}, {"symbol": "BTCUSDT", "orderLinkId": "b2"}])
        assert cancelled.item_errors() == []
        assert [item["orderLinkId"] for item in cancelled.data["list"]] == ["b0", "b2"]
    assert {"order.create-batch", "order.amend-batch", "order.cancel-batch"} <= set(c.rate_limits)


async def test_nonzero_retcode_raises_api_error_with_response(ex: Emulator) -> None:
    async with emu_client(ex) as c:
        params = {"category": "linear", "symbol": "BTCUSDT", "orderId": "does-not-exist"}
        with pytest.raises(BybitAPIError) as info:
            await c.cancel_order(params)
        err = info.value
        assert err.ret_code == 110001 and err.method == "order.cancel" and err.path == "/v5/trade"
        assert err.parameters == params and err.response is not None and err.response["retCode"] == 110001
        assert err.rate_limit is not None and err.rate_limit == c.rate_limits["order.cancel"]
        # the socket stays usable after a business error
        assert (await c.submit_new_order(ORDER))["retCode"] == 0


async def test_time_offset_goes_into_the_timestamp(ex: Emulator) -> None:
    async with emu_client(ex) as c:
        c.time_offset_ms = -60_000  # a clock a minute behind the exchange's: outside recv_window
        with pytest.raises(BybitAPIError) as info:
            await c.submit_new_order(ORDER)
        assert info.value.ret_code == 10002
        c.time_offset_ms = 0
        assert (await c.submit_new_order(ORDER))["retCode"] == 0


async def test_lazy_connect_on_first_request(ex: Emulator) -> None:
    c = emu_client(ex)
    assert not c.ready
    results = await asyncio.gather(*(c.submit_new_order(ORDER, orderLinkId=f"lazy{i}") for i in range(4)))
    assert [r.data["orderLinkId"] for r in results] == [f"lazy{i}" for i in range(4)]
    assert c.ready and c.in_flight == 0
    await c.close()


async def test_auth_failure_wrong_secret_raised_at_once(ex: Emulator) -> None:
    c = emu_client(ex, secret="not-the-secret", request_timeout=60.0)
    with pytest.raises(AuthenticationError, match="10004"):
        await asyncio.wait_for(c.connect(), BOUND)  # detected from retCode, not left to the 60 s timeout
    with pytest.raises(AuthenticationError):
        await asyncio.wait_for(c.submit_new_order(ORDER), BOUND)  # the lazy connect is refused too
    assert not c.ready
    await c.close()


async def test_auth_rejected_by_fault_then_accepted(ex: Emulator) -> None:
    ex.faults.reject_auth()
    c = emu_client(ex, request_timeout=60.0)
    with pytest.raises(AuthenticationError):
        await asyncio.wait_for(c.connect(), BOUND)
    assert [e.kind for e in ex.faults.log] == ["auth_rejected"]
    await c.connect()  # an explicit connect tries again
    assert (await c.submit_new_order(ORDER))["retCode"] == 0
    await c.close()


async def test_timeout_says_order_may_have_reached_exchange(ex: Emulator) -> None:
    async with emu_client(ex, request_timeout=0.2) as c:
        ex.faults.delay_responses(0.4)
        with pytest.raises(RequestTimeoutError, match="may have reached"):
            await c.submit_new_order(ORDER, orderLinkId="slow")
        assert c.in_flight == 0
        ex.faults.delay_responses(0)
        c.request_timeout = 2.0
        # the late reply to "slow" arrives first and is ignored; the next request gets its own
        reply = await c.submit_new_order(ORDER, orderLinkId="fast")
        assert reply.data["orderLinkId"] == "fast"
    assert any(e.kind == "delay" for e in ex.faults.log)


async def test_drop_fails_in_flight_at_once_then_reconnects(ex: Emulator) -> None:
    ex.faults.drop_connection_after(2, "/v5/trade")  # frame 1: auth reply, frame 2: first order reply
    async with emu_client(ex, request_timeout=60.0) as c:
        results = await asyncio.wait_for(
            asyncio.gather(*(c.submit_new_order(ORDER, orderLinkId=f"d{i}") for i in range(3)), return_exceptions=True), BOUND
        )
        assert results[0]["retCode"] == 0  # answered before the drop
        for lost in results[1:]:
            assert isinstance(lost, ConnectionLostError) and lost.may_have_reached_exchange is True
        assert c.in_flight == 0
        assert [e.kind for e in ex.faults.log] == ["drop_after_frames"]
        # the next request waits for reconnect + re-auth, then goes out; nothing was resent
        reply = await asyncio.wait_for(c.submit_new_order(ORDER, orderLinkId="after"), BOUND)
        assert reply.data["orderLinkId"] == "after" and c.ready


async def test_request_while_disconnected_fails_unsent_when_no_reconnect(ex: Emulator) -> None:
    c = emu_client(ex, request_timeout=0.3)
    await c.connect()
    await ex.stop()  # exchange gone: every reconnect fails
    await asyncio.wait_for(_until(lambda: not c.ready), BOUND)
    with pytest.raises(ConnectionLostError) as info:
        await c.submit_new_order(ORDER)
    assert info.value.may_have_reached_exchange is False
    await c.close()


async def test_gave_up_reconnecting_fails_waiters_at_once(ex: Emulator) -> None:
    policy = ReconnectPolicy(initial=0.01, maximum=0.02, factor=1.0, jitter=0.0, max_attempts=2)
    c = emu_client(ex, request_timeout=60.0, reconnect=policy)
    await c.connect()
    await ex.stop()
    await asyncio.wait_for(_until(lambda: c._conn is None), BOUND)  # noqa: SLF001 - the layer gave up
    with pytest.raises(ConnectionLostError) as info:  # a fresh lazy connect, refused at once
        await asyncio.wait_for(c.submit_new_order(ORDER), BOUND)
    assert info.value.may_have_reached_exchange is False
    await c.close()


async def test_close_fails_in_flight_and_leaves_no_task(ex: Emulator) -> None:
    before = asyncio.all_tasks()
    c = emu_client(ex, request_timeout=60.0)
    await c.connect()
    ex.faults.delay_responses(30)
    task = asyncio.create_task(c.submit_new_order(ORDER))
    await asyncio.wait_for(_until(lambda: c.in_flight == 1), BOUND)
    await c.close()
    with pytest.raises(ConnectionLostError) as info:
        await task
    assert info.value.may_have_reached_exchange is True
    with pytest.raises(ConnectionLostError) as info:
        await c.submit_new_order(ORDER)
    assert info.value.may_have_reached_exchange is False
    await asyncio.sleep(0)
    assert {t for t in asyncio.all_tasks() - before if "bybitfast" in repr(t)} == set()
    ex.faults.delay_responses(0)


async def test_cancelled_request_is_forgotten(ex: Emulator) -> None:
    async with emu_client(ex) as c:
        ex.faults.delay_responses(0.3)
        task = asyncio.create_task(c.submit_new_order(ORDER))
        await asyncio.wait_for(_until(lambda: c.in_flight == 1), BOUND)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert c.in_flight == 0
        ex.faults.delay_responses(0)


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.005)


# ---- against the fake (frame-level assertions and faults the emulator cannot produce) ------
async def test_frames_on_the_wire() -> None:
    async with FakeTrade() as srv, client_for(srv, referer="bot-001", time_offset_ms=-1000, recv_window=8000) as c:
        before = time.time_ns() // 1_000_000
        await c.submit_new_order(ORDER)
        await c.amend_order({"category": "linear", "symbol": "BTCUSDT"}, orderId="o", price=None, qty="1")
        await c.batch_cancel_orders("spot", [{"symbol": "BTCUSDT", "orderId": "o"}])
        after = time.time_ns() // 1_000_000
    auth = srv.frames[0]
    assert auth["op"] == "auth" and auth["args"][0] == KEY
    assert auth["args"][1] >= before - 1000 + 4000  # expires = now + offset + auth_expires_after (5 s)
    orders = srv.orders()
    assert [f["op"] for f in orders] == ["order.create", "order.amend", "order.cancel-batch"]
    assert orders[0]["args"] == [ORDER]
    assert orders[1]["args"] == [{"category": "linear", "symbol": "BTCUSDT", "orderId": "o", "qty": "1"}]  # None dropped
    assert orders[2]["args"] == [{"category": "spot", "request": [{"symbol": "BTCUSDT", "orderId": "o"}]}]
    ids = [f["reqId"] for f in orders]
    assert len(set(ids)) == 3 and all(isinstance(i, str) and len(i) <= 36 for i in ids)
    for f in orders:
        h = f["header"]
        assert h["X-BAPI-RECV-WINDOW"] == "8000" and h["Referer"] == "bot-001"
        assert isinstance(h["X-BAPI-TIMESTAMP"], str)
        assert before - 1000 - 5 <= int(h["X-BAPI-TIMESTAMP"]) <= after - 1000 + 5


UNDECODABLE = [b"", b"not json", b"\xff\xfe\x00", b'{"reqId":', b'{"reqId":"x","data":' + b"[" * 5000]
IGNORED = [
    b"[1]",
    b"null",
    b'{"reqId":["not","a","string"],"retCode":0}',
    b'{"reqId":"not-ours-1","retCode":0,"op":"order.create","data":{"orderId":"ghost"}}',  # unknown reqId
    b'{"retCode":0,"op":"auth"}',  # an auth reply nobody asked for
]


async def test_junk_frames_and_unknown_req_ids_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bybitfast")
    async with FakeTrade() as srv, client_for(srv) as c:
        conn = c._conn  # noqa: SLF001
        assert conn is not None
        srv.preface = UNDECODABLE + IGNORED
        for i in range(2):
            reply = await asyncio.wait_for(c.submit_new_order(ORDER, orderLinkId=f"real{i}"), BOUND)
            assert reply["retCode"] == 0 and reply.data["orderLinkId"] == f"real{i}" and reply.data["orderId"] != "ghost"
        assert c.in_flight == 0 and c.ready and c._conn is conn and conn.generation == 1 and srv.connections == 1  # noqa: SLF001
    messages = [r.getMessage() for r in caplog.records]
    assert sum("undecodable frame" in m for m in messages) == 2 * len(UNDECODABLE)
    assert sum("unmatched frame" in m and "'not-ours-1'" in m for m in messages) == 2  # logged, never resolved anything


async def test_batch_limits_checked_before_sending() -> None:
    async with FakeTrade() as srv, client_for(srv) as c:
        one = dict(ORDER)
        for call in (
            c.batch_submit_orders("linear", [one] * 21),
            c.batch_submit_orders("spot", [one] * 11),
            c.batch_cancel_orders("inverse", [one] * 21),
            c.batch_amend_orders("option", [one] * 21),
            c.batch_submit_orders(None, [one]),  # category required
            c.batch_submit_orders("spread", [one]),
            c.batch_submit_orders("linear", []),
            c.batch_submit_orders("linear", [one, "x"]),  # type: ignore[list-item]
            c.send_ws_api_request("order.create-batch", {"request": [one]}),
            c.send_ws_api_request("order.create-batch", category="spot", request=[one] * 11),
        ):
            with pytest.raises(InvalidParameterError):
                await call
        assert srv.orders() == []
        await c.batch_submit_orders("linear", [one] * BATCH_LIMITS["linear"])
        await c.batch_submit_orders("spot", [one] * BATCH_LIMITS["spot"])
        assert len(srv.orders()) == 2


async def test_unserialisable_parameter_refused_locally() -> None:
    async with FakeTrade() as srv, client_for(srv) as c:
        with pytest.raises(InvalidParameterError):
            await c.submit_new_order(ORDER, qty={1, 2})
        with pytest.raises(InvalidParameterError):
            await c.submit_new_order(ORDER, price=float("nan"))
        with pytest.raises(InvalidParameterError):
            await c.submit_new_order(["not", "a", "mapping"])  # type: ignore[arg-type]
        with pytest.raises(InvalidParameterError):
            await c.send_ws_api_request("", ORDER)
        assert srv.orders() == []
        assert (await c.submit_new_order(ORDER))["retCode"] == 0


async def test_rate_limit_header_keys_any_case() -> None:
    async with FakeTrade() as srv, client_for(srv) as c:
        srv.header_case = "x-bapi-limit"
        reply = await c.submit_new_order(ORDER)
    assert reply.rate_limit is not None and reply.rate_limit.limit == 10 and reply.rate_limit.remaining == 9


async def test_reauth_refused_after_drop_fails_requests_fast() -> None:
    async with FakeTrade() as srv, client_for(srv, request_timeout=60.0) as c:
        srv.reject_auth = 1_000
        srv.abort_all()
        await asyncio.wait_for(_until(lambda: srv.connections >= 2), BOUND)
        await asyncio.wait_for(_until(lambda: c._auth_error is not None), BOUND)  # noqa: SLF001
        with pytest.raises(AuthenticationError):
            await asyncio.wait_for(c.submit_new_order(ORDER), BOUND)  # not left to the 60 s budget
        srv.reject_auth = 0
        reply = await asyncio.wait_for(_retry_until_ok(c), BOUND)
        assert reply["retCode"] == 0 and srv.orders()[-1]["op"] == "order.create"


async def _retry_until_ok(c: WebsocketAPIClient) -> WsApiResponse:
    while True:
        try:
            return await c.submit_new_order(ORDER)
        except AuthenticationError:
            await asyncio.sleep(0.02)


async def test_write_refused_before_drop_notice_waits_instead_of_failing() -> None:
    """A socket can die before the connection layer reports it: the unsent request then waits
    for the reconnect (here: none comes) rather than failing with the raw write error."""

    class DeadConn:
        closed = False
        writes = 0

        def send(self, data: bytes) -> None:
            DeadConn.writes += 1
            raise ConnectionLostError("socket gone", may_have_reached_exchange=False)

    c = WebsocketAPIClient(KEY, SECRET, ws_url="ws://127.0.0.1:1", request_timeout=0.2)
    c._conn, c._ready = DeadConn(), True  # type: ignore[assignment]  # noqa: SLF001
    with pytest.raises(ConnectionLostError, match="not \\(re\\)connected") as info:
        await c.submit_new_order(ORDER)
    assert info.value.may_have_reached_exchange is False and DeadConn.writes == 1
    assert not c.ready and c.in_flight == 0


async def test_requests_queued_behind_a_failed_connect_fail_with_it() -> None:
    c = WebsocketAPIClient(KEY, SECRET, ws_url="ws://127.0.0.1:1", request_timeout=30.0)  # nothing listens
    results = await asyncio.wait_for(
        asyncio.gather(*(c.submit_new_order(ORDER) for _ in range(3)), return_exceptions=True), BOUND
    )
    assert all(isinstance(r, ConnectionLostError) and not r.may_have_reached_exchange for r in results), results
    await c.close()
