"""Emulator /v5/private and /v5/trade sockets: auth, topics, pushes, order ops, socket faults."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from _emulator_helpers import Rest, emulator_fixture, recv_json, recv_until, session_fixture, ws_auth_args

from bybitfast.emulator import Emulator


ex = emulator_fixture(market_interval=0, rate_limits=True)
http = session_fixture()


def ts() -> int:
    return int(time.time() * 1000)


async def private_ws(http, ex, topics=None):
    ws = await http.ws_connect(ex.ws_url + "/v5/private")
    await ws.send_json({"req_id": "a1", "op": "auth", "args": ws_auth_args()})
    reply = await recv_json(ws)
    assert reply["success"] is True and reply["op"] == "auth"
    if topics:
        await ws.send_json({"req_id": "s1", "op": "subscribe", "args": topics})
        ack = await recv_json(ws)
        assert ack["success"] is True, ack
    return ws


# ---- private -------------------------------------------------------------------------------------
async def test_private_auth_reply_shapes(ex, http):
    ws = await http.ws_connect(ex.ws_url + "/v5/private")
    await ws.send_json({"op": "subscribe", "args": ["order"]})
    early = await recv_json(ws)
    assert early["success"] is False and early["op"] == "subscribe"
    await ws.send_json({"op": "auth", "args": ws_auth_args(expires=ts() - 10)})
    expired = await recv_json(ws)
    assert set(expired) == {"success", "ret_msg", "op", "conn_id"}
    assert (expired["success"], expired["ret_msg"]) == (False, "Params Error")
    await ws.send_json({"op": "auth", "args": ws_auth_args(secret="wrong")})
    assert (await recv_json(ws))["success"] is False
    await ws.send_json({"op": "auth", "args": ws_auth_args(key="NOKEY")})
    assert (await recv_json(ws))["success"] is False
    await ws.send_json({"req_id": "x", "op": "auth", "args": ws_auth_args()})
    ok = await recv_json(ws)
    assert ok == {"req_id": "x", "success": True, "ret_msg": "", "op": "auth", "conn_id": ok["conn_id"]}
    await ws.send_json({"req_id": "p", "op": "ping"})
    pong = await recv_json(ws)
    assert list(pong) == ["req_id", "op", "args", "conn_id"] and pong["op"] == "pong" and pong["args"][0].isdigit()
    await ws.close()


async def test_private_subscribe_rules(ex, http):
    ws = await private_ws(http, ex)
    await ws.send_json({"op": "subscribe", "args": ["order", "order.linear"]})
    assert (await recv_json(ws))["success"] is False  # all-in-one + categorised in one request
    await ws.send_json({"op": "subscribe", "args": ["nosuch"]})
    assert (await recv_json(ws))["success"] is False
    await ws.send_json({"req_id": "r", "op": "subscribe", "args": ["order.linear", "wallet"]})
    ack = await recv_json(ws)
    assert ack == {"req_id": "r", "success": True, "ret_msg": "", "op": "subscribe", "conn_id": ack["conn_id"]}
    await ws.send_json({"op": "subscribe", "args": ["wallet"]})
    assert (await recv_json(ws))["success"] is False  # duplicate
    await ws.send_json({"op": "unsubscribe", "args": ["wallet"]})
    assert (await recv_json(ws))["success"] is True
    await ws.close()


async def test_private_pushes_after_a_fill(ex, http):
    ws = await private_ws(http, ex, ["order", "execution", "execution.fast", "position", "wallet"])
    rest = Rest(http, ex.rest_url)
    r = await rest.order(side="Buy", orderType="Market", qty="0.010", orderLinkId="push-1")
    assert r["retCode"] == 0
    seen: dict[str, dict] = {}
    order_of: list[str] = []
    while len(seen) < 5:
        frame = await recv_json(ws)
        seen.setdefault(frame["topic"], frame)
        if frame["topic"] not in order_of:
            order_of.append(frame["topic"])
    assert order_of.index("execution") < order_of.index("order") < order_of.index("position") < order_of.index("wallet")
    assert "id" not in seen["execution.fast"] and "id" in seen["execution"]
    o = seen["order"]["data"][0]
    assert (o["category"], o["orderLinkId"], o["orderStatus"], o["cumExecQty"]) == ("linear", "push-1", "Filled", "0.010")
    e = seen["execution"]["data"][0]
    assert e["isMaker"] is False and isinstance(e["seq"], int) and e["orderId"] == r["result"]["orderId"]
    assert set(seen["execution.fast"]["data"][0]) == {
        "category", "symbol", "execId", "execPrice", "execQty", "orderId", "isMaker", "orderLinkId", "side", "execTime", "seq"
    }
    p = seen["position"]["data"][0]
    assert (p["size"], p["side"], p["category"]) == ("0.010", "Buy", "linear") and "entryPrice" in p
    w = seen["wallet"]["data"][0]
    assert w["accountType"] == "UNIFIED" and {c["coin"] for c in w["coin"]} >= {"USDT"}
    assert isinstance(seen["wallet"]["creationTime"], int)
    await ws.close()


async def test_categorised_topic_filters(ex, http):
    ws = await private_ws(http, ex, ["order.spot"])
    rest = Rest(http, ex.rest_url)
    await rest.order(side="Buy", orderType="Market", qty="0.010")  # linear: not pushed
    await rest.order(category="spot", side="Buy", orderType="Market", qty="50")
    frame = await recv_json(ws)
    assert frame["topic"] == "order.spot" and frame["data"][0]["category"] == "spot"
    await ws.close()


# ---- trade ---------------------------------------------------------------------------------------
async def trade_ws(http, ex):
    ws = await http.ws_connect(ex.ws_url + "/v5/trade")
    await ws.send_json({"reqId": "auth-1", "op": "auth", "args": ws_auth_args()})
    reply = await recv_json(ws)
    assert reply == {"reqId": "auth-1", "retCode": 0, "retMsg": "OK", "op": "auth", "connId": reply["connId"]}
    return ws


async def test_trade_auth_failures_and_repeat(ex, http):
    ws = await http.ws_connect(ex.ws_url + "/v5/trade")
    await ws.send_json({"op": "auth", "args": ws_auth_args(secret="bad")})
    assert await recv_json(ws) == {"retCode": 10004, "retMsg": "Invalid sign", "op": "auth", "connId": (await _conn(ws, ex))}
    await ws.send_json({"op": "auth", "args": ws_auth_args(key="NOKEY")})
    assert (await recv_json(ws))["retCode"] == 10003
    await ws.send_json({"op": "auth", "args": ["k"]})
    assert (await recv_json(ws))["retCode"] == 10001
    await ws.send_json({"op": "auth", "args": ws_auth_args()})
    assert (await recv_json(ws))["retCode"] == 0
    await ws.send_json({"op": "auth", "args": ws_auth_args()})
    assert (await recv_json(ws))["retCode"] == 20001
    await ws.send_json({"op": "ping"})
    pong = await recv_json(ws)
    assert list(pong) == ["retCode", "retMsg", "op", "data", "connId"] and pong["op"] == "pong"
    await ws.close()


async def _conn(ws, ex):
    # connId of this connection: ask with a ping-free trick (an unknown op answers with it)
    await ws.send_json({"op": "nosuch"})
    frame = await recv_json(ws)
    assert frame["retCode"] == 10404
    return frame["connId"]


async def test_trade_order_ops(ex, http):
    ws = await trade_ws(http, ex)
    bids, _ = ex.market.depth("linear", "BTCUSDT", 3)
    create = {
        "reqId": "c-1",
        "header": {"X-BAPI-TIMESTAMP": ts()},  # integer, as pybit sends it; no recv window
        "op": "order.create",
        "args": [{"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": str(bids[2][0]), "orderLinkId": "t-1"}],
    }
    await ws.send_json(create)
    reply = await recv_json(ws)
    assert list(reply) == ["reqId", "retCode", "retMsg", "op", "data", "retExtInfo", "header", "connId"]
    assert (reply["retCode"], reply["op"], reply["data"]["orderLinkId"]) == (0, "order.create", "t-1")
    assert set(reply["header"]) == {"X-Bapi-Limit", "X-Bapi-Limit-Status", "X-Bapi-Limit-Reset-Timestamp", "Traceid", "Timenow"}
    assert reply["header"]["X-Bapi-Limit"] == "10"
    await ws.send_json(create)
    assert (await recv_json(ws))["retCode"] == 20006  # duplicate reqId
    amend = {"reqId": "a-1", "header": {"X-BAPI-TIMESTAMP": str(ts()), "X-BAPI-RECV-WINDOW": "5000"}, "op": "order.amend",
             "args": [{"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "t-1", "qty": "0.02"}]}
    await ws.send_json(amend)
    assert (await recv_json(ws))["retCode"] == 0
    stale = {"reqId": "s-1", "header": {"X-BAPI-TIMESTAMP": str(ts() - 10_000)}, "op": "order.cancel",
             "args": [{"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "t-1"}]}
    await ws.send_json(stale)
    assert (await recv_json(ws))["retCode"] == 10002
    await ws.send_json({"reqId": "n-1", "op": "order.cancel", "args": [{"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "t-1"}]})
    assert (await recv_json(ws))["retCode"] == 10001  # timestamp header required
    await ws.send_json({**stale, "reqId": "x-1", "header": {"X-BAPI-TIMESTAMP": str(ts())}})
    cancel = await recv_json(ws)
    assert cancel["retCode"] == 0 and cancel["data"]["orderLinkId"] == "t-1"
    await ws.send_json({"reqId": "bad-cat", "header": {"X-BAPI-TIMESTAMP": str(ts())}, "op": "order.create", "args": [{"category": "spread"}]})
    assert (await recv_json(ws))["retCode"] == 10404
    await ws.send_json({"reqId": "op", "op": "order.teleport", "args": []})
    assert (await recv_json(ws))["retCode"] == 10404
    await ws.close()


async def test_trade_batch_and_limits(ex, http):
    ws = await trade_ws(http, ex)
    bids, _ = ex.market.depth("linear", "BTCUSDT", 3)
    item = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": str(bids[2][0])}
    batch = {"reqId": "b-1", "header": {"X-BAPI-TIMESTAMP": str(ts())}, "op": "order.create-batch",
             "args": [{"category": "linear", "request": [dict(item, orderLinkId="w-0"), dict(item, qty="0.0105")]}]}
    await ws.send_json(batch)
    reply = await recv_json(ws)
    assert reply["retCode"] == 0
    assert [i["code"] for i in reply["retExtInfo"]["list"]] == [0, 10001]
    assert len(reply["data"]["list"]) == 2
    big = {**batch, "reqId": "b-2", "args": [{"category": "spot", "request": [item] * 11}]}
    await ws.send_json(big)
    assert (await recv_json(ws))["retCode"] == 10001
    await ws.close()


async def test_trade_socket_shares_rest_rate_limit(ex, http):
    ws = await trade_ws(http, ex)
    remaining = []
    for i in range(11):
        await ws.send_json({"reqId": f"r{i}", "header": {"X-BAPI-TIMESTAMP": str(ts())}, "op": "order.cancel",
                            "args": [{"category": "linear", "symbol": "BTCUSDT", "orderId": "nope"}]})
        frame = await recv_json(ws)
        remaining.append((frame["retCode"], frame["header"]["X-Bapi-Limit-Status"]))
    assert remaining[0] == (110001, "9")
    assert remaining[-1] == (10006, "0")
    await ws.close()


# ---- socket faults -------------------------------------------------------------------------------
async def test_drop_after_frames(ex, http):
    ex.faults.drop_connection_after(2, "/v5/private")
    ws = await http.ws_connect(ex.ws_url + "/v5/private")
    await ws.send_json({"op": "auth", "args": ws_auth_args()})
    await recv_json(ws)
    await ws.send_json({"op": "ping"})
    await recv_json(ws)  # frame 2: then the server cuts the TCP connection
    msg = await asyncio.wait_for(ws.receive(), 3)
    assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE)
    assert [e.kind for e in ex.faults.log] == ["drop_after_frames"]


async def test_silenced_pings_and_reject_auth(ex, http):
    ex.faults.silence_pings()
    ws = await http.ws_connect(ex.ws_url + "/v5/trade")
    await ws.send_json({"op": "ping"})
    ex.faults.reject_auth(1)
    await ws.send_json({"op": "auth", "args": ws_auth_args()})
    first = await recv_json(ws)  # the ping got no answer: the next frame is the auth reply
    assert (first["op"], first["retCode"]) == ("auth", 10004)
    await ws.send_json({"op": "auth", "args": ws_auth_args()})
    assert (await recv_json(ws))["retCode"] == 0
    kinds = [e.kind for e in ex.faults.log]
    assert kinds == ["ping_ignored", "auth_rejected"]
    pws = await http.ws_connect(ex.ws_url + "/v5/private")
    await pws.send_json({"op": "ping"})
    await pws.send_json({"op": "auth", "args": ws_auth_args()})
    assert (await recv_json(pws))["op"] == "auth"
    await pws.close()
    await ws.close()


async def test_latency_applies_to_socket_frames(http):
    async with Emulator(market_interval=0, latency=0.02) as ex:
        ws = await http.ws_connect(ex.ws_url + "/v5/private")
        await ws.send_json({"op": "auth", "args": ws_auth_args()})
        reply = await recv_until(ws, lambda f: f.get("op") == "auth")
        assert reply["success"] is True
        await ws.close()
