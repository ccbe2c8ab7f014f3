"""Emulator public sockets: acks and pongs per category, pushes, book consistency with REST, faults."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import orjson
import pytest

from _emulator_helpers import PublicClient, emulator_fixture, session_fixture

from bybitfast.emulator import Emulator

CTRL = "ws/public/control"


def _fx(fixtures_dir, rel):
    return json.loads((fixtures_dir / rel).read_text())


ex = emulator_fixture(market_interval=0, rate_limits=False)
http = session_fixture()


async def _connect(ex, http, category):
    """A client on the public socket; ``drain()`` returns exactly what the emulator queued before it."""
    ws = await http.ws_connect(f"{ex.ws_url}/v5/public/{category}", autoping=False)
    return PublicClient(ws)


# ---------------------------------------------------------------------------- acks and pongs
@pytest.mark.parametrize(
    "category,req,fixture,topic",
    [
        ("spot", {"req_id": "10001"}, "subscribe-response_spot.docs.json", "orderbook.50.BTCUSDT"),
        ("spot", {}, "../orderbook/orderbook.rpi_subscribe-response.docs.json", "orderbook.rpi.BTCUSDT"),
        ("linear", {}, "subscribe-response_linear-inverse.docs.json", "orderbook.50.BTCUSDT"),
        ("inverse", {}, "subscribe-response_linear-inverse.docs.json", "publicTrade.BTCUSD"),
        ("option", {}, "subscribe-response_option-spread.docs.json", "orderbook.100.{opt}"),
    ],
)
async def test_subscribe_ack_shapes(ex, http, fixtures_dir, category, req, fixture, topic):
    ref = _fx(fixtures_dir, f"{CTRL}/{fixture}")
    topic = topic.format(opt=ex.market.symbols["option"][0])
    c = await _connect(ex, http, category)
    raw_sent = {**req, "op": "subscribe", "args": [topic]}
    await c.send(raw_sent)
    raw = await c.recv()
    ack = orjson.loads(raw)
    assert list(ack) == list(ref)
    assert ack["success"] is True and ack["conn_id"]
    assert raw == orjson.dumps(ack).decode()  # compact JSON, as the exchange sends
    if category == "option":
        assert ack["data"] == {"failTopics": [], "successTopics": [topic]}
    elif category == "spot":
        assert ack["ret_msg"] == "subscribe" and ack.get("req_id") == req.get("req_id")
    else:
        assert ack["ret_msg"] == "" and ack["req_id"] == ""


async def test_linear_ack_echoes_req_id_and_unsubscribe(ex, http):
    c = await _connect(ex, http, "linear")
    await c.send({"req_id": "r1", "op": "subscribe", "args": ["tickers.BTCUSDT"]})
    ack = await c.recv_json()
    assert (ack["req_id"], ack["op"], ack["success"]) == ("r1", "subscribe", True)
    await c.recv_json()  # ticker snapshot
    await c.send({"req_id": "r1", "op": "unsubscribe", "args": ["tickers.BTCUSDT"]})
    un = await c.recv_json()
    assert (un["req_id"], un["op"], un["success"], un["ret_msg"]) == ("r1", "unsubscribe", True, "")
    ex.market.step(5)
    assert await c.drain() == []  # nothing after unsubscribe


@pytest.mark.parametrize(
    "category,fixture,req",
    [
        ("spot", "pong_spot.docs.json", None),
        ("linear", "pong_linear-inverse.docs.json", None),
        ("inverse", "pong_linear-inverse.docs.json", None),
        ("option", "pong_option-spread.docs.json", None),
        ("spot", None, "p7"),
    ],
)
async def test_pong_shapes(ex, http, fixtures_dir, category, fixture, req):
    c = await _connect(ex, http, category)
    await c.send({"op": "ping"} if req is None else {"req_id": req, "op": "ping"})
    raw = await c.recv()
    pong = orjson.loads(raw)
    if fixture:
        assert list(pong) == list(_fx(fixtures_dir, f"{CTRL}/{fixture}"))
    else:
        assert list(pong) == ["success", "ret_msg", "conn_id", "req_id", "op"] and pong["req_id"] == req
    assert '"op":"pong"' in raw or '"ret_msg":"pong"' in raw  # bybit-api's substring pong detection


async def test_silenced_pings_get_no_answer_but_data_flows(ex, http):
    c = await _connect(ex, http, "linear")
    ex.faults.silence_pings()
    await c.send({"op": "ping"})
    await c.ws.ping(b"x")
    await c.send({"op": "subscribe", "args": ["orderbook.1.BTCUSDT"]})
    assert (await c.recv_json())["op"] == "subscribe"  # answered in order: no pong (text or PONG frame) came first
    assert [e.kind for e in ex.faults.log].count("ping_ignored") == 2
    ex.faults.silence_pings(False)
    await c.send({"op": "ping"})
    frames = await c.until(lambda m: m.get("ret_msg") == "pong")
    assert frames[-1]["op"] == "ping"


async def test_spot_more_than_10_args_rejected(ex, http):
    c = await _connect(ex, http, "spot")
    args = [f"orderbook.1.{s}" for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")] + [f"kline.{i}.BTCUSDT" for i in ("1", "3", "5", "15", "30", "60", "120", "240")]
    await c.send({"req_id": "big", "op": "subscribe", "args": args})
    ack = await c.recv_json()
    assert ack == {"success": False, "ret_msg": "args size >10", "conn_id": ack["conn_id"], "req_id": "big", "op": "subscribe"}
    await c.send({"op": "subscribe", "args": args[:10]})
    assert (await c.recv_json())["success"] is True
    lin = await _connect(ex, http, "linear")
    await lin.send({"op": "subscribe", "args": [f"kline.{i}.BTCUSDT" for i in ("1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D")]})
    assert (await lin.recv_json())["success"] is True  # only spot has the 10-arg limit


async def test_duplicate_and_unknown_topics(ex, http):
    c = await _connect(ex, http, "linear")
    await c.send({"req_id": "1", "op": "subscribe", "args": ["publicTrade.BTCUSDT"]})
    assert (await c.recv_json())["success"] is True
    await c.send({"req_id": "2", "op": "subscribe", "args": ["publicTrade.ETHUSDT", "publicTrade.BTCUSDT"]})
    dup = await c.recv_json()
    assert (dup["success"], dup["ret_msg"], dup["req_id"]) == (False, "error:already subscribed,topic:publicTrade.BTCUSDT", "2")
    for topic, msg in (
        ("orderbook.500.BTCUSDT", "error:handler not found,topic:orderbook.500.BTCUSDT"),
        ("liquidation.BTCUSDT", "error:handler not found,topic:liquidation.BTCUSDT"),
        ("orderbook.50.NOPEUSDT", "Invalid symbol :[orderbook.50.NOPEUSDT]"),
    ):
        await c.send({"op": "subscribe", "args": [topic]})
        bad = await c.recv_json()
        assert (bad["success"], bad["ret_msg"]) == (False, msg)
    ex.market.step(30)
    trades = [m for m in await c.drain() if "topic" in m]
    assert trades and {m["topic"] for m in trades} == {"publicTrade.BTCUSDT"}  # the rejected batch added nothing
    opt = await _connect(ex, http, "option")
    good = f"orderbook.25.{ex.market.symbols['option'][0]}"
    await opt.send({"op": "subscribe", "args": [good, "orderbook.50.NOPE"]})
    resp = await opt.recv_json()
    assert resp["type"] == "COMMAND_RESP" and resp["data"] == {"failTopics": ["orderbook.50.NOPE"], "successTopics": [good]}
    assert resp["success"] is False


async def test_delayed_acks_keep_order(ex, http):
    ex.faults.delay_responses(0.05)
    c = await _connect(ex, http, "linear")
    await c.send({"req_id": "d", "op": "subscribe", "args": ["orderbook.50.BTCUSDT"]})
    first = await c.recv_json()
    assert first["op"] == "subscribe" and first["req_id"] == "d"
    assert (await c.recv_json())["type"] == "snapshot"  # the snapshot waits behind its delayed ack


async def test_malformed_frames_do_not_kill_the_connection(ex, http):
    c = await _connect(ex, http, "spot")
    for junk in ("not json", "[1,2]", '{"op":"subscribe","args":"x"}', '{"op":"dance"}', '{"op":"subscribe","args":[1]}'):
        await c.send(junk)
        err = await c.recv_json()
        assert err["success"] is False and err["ret_msg"]
    await c.send({"op": "ping"})
    assert (await c.recv_json())["ret_msg"] == "pong"


# ---------------------------------------------------------------------------- book pushes
def _apply(book, frame):
    d = frame["data"]
    if frame["type"] == "snapshot":
        book.clear()
        book["b"] = {p: q for p, q in d["b"]}
        book["a"] = {p: q for p, q in d["a"]}
    else:
        assert d["u"] == book["u"] + 1, (d["u"], book["u"])
        assert d["seq"] > book["seq"]
        for side in ("b", "a"):
            for p, q in d[side]:
                if q == "0":
                    assert p in book[side], p  # never deletes an absent level
                    del book[side][p]
                else:
                    book[side][p] = q
    book["u"], book["seq"] = d["u"], d["seq"]


def _sorted(side, reverse):
    return [[p, q] for p, q in sorted(side.items(), key=lambda kv: float(kv[0]), reverse=reverse)]


async def test_stream_replay_equals_rest_orderbook(ex, http, fixtures_dir):
    c = await _connect(ex, http, "linear")
    ex.market.step(3)
    await c.send({"op": "subscribe", "args": ["orderbook.1000.BTCUSDT", "orderbook.50.BTCUSDT"]})
    await c.recv_json()
    books = {"orderbook.1000.BTCUSDT": {}, "orderbook.50.BTCUSDT": {}}
    snaps = [await c.recv_json(), await c.recv_json()]
    assert all(s["type"] == "snapshot" for s in snaps)
    ref_delta = _fx(fixtures_dir, "ws/public/orderbook/orderbook.50.BTCUSDT_delta.docs.json")
    for s in snaps:
        _apply(books[s["topic"]], s)
    for _ in range(4):
        ex.market.step(25)
        for f in await c.drain():
            if f["type"] == "delta" and f["topic"].startswith("orderbook.50"):
                assert list(f) == list(ref_delta) and list(f["data"]) == list(ref_delta["data"])
            _apply(books[f["topic"]], f)
            depth = 1000 if "1000" in f["topic"] else 50
            assert len(books[f["topic"]]["b"]) == len(books[f["topic"]]["a"]) == depth
        rest = (await (await http.get(ex.rest_url + "/v5/market/orderbook", params={"category": "linear", "symbol": "BTCUSDT", "limit": "1000"})).json())["result"]
        full = books["orderbook.1000.BTCUSDT"]
        assert rest["u"] == full["u"] and rest["seq"] == full["seq"]
        assert _sorted(full["b"], True) == rest["b"] and _sorted(full["a"], False) == rest["a"]
        top50 = books["orderbook.50.BTCUSDT"]
        assert _sorted(top50["b"], True) == rest["b"][:50] and _sorted(top50["a"], False) == rest["a"][:50]


async def test_new_subscriber_mid_stream_gets_snapshot_then_next_u(ex, http):
    a = await _connect(ex, http, "spot")
    await a.send({"op": "subscribe", "args": ["orderbook.200.BTCUSDT"]})
    await a.recv_json()
    await a.recv_json()
    ex.market.step(10)
    b = await _connect(ex, http, "spot")
    await b.send({"op": "subscribe", "args": ["orderbook.200.BTCUSDT"]})
    frames = await b.until(lambda m: m.get("topic") == "orderbook.200.BTCUSDT")
    snap = frames[-1]
    assert snap["type"] == "snapshot" and list(snap) == ["topic", "ts", "type", "data", "cts"]  # spot: ts first
    ex.market.step(10)
    book = {}
    _apply(book, snap)
    for f in await b.drain():
        _apply(book, f)  # asserts u == previous + 1 from the snapshot's u
    a_frames = await a.drain()
    assert a_frames[-1]["data"]["u"] == book["u"]


async def test_l1_snapshot_only_and_repush_same_u(ex, http):
    ex.market.l1_repush_steps = 3
    c = await _connect(ex, http, "linear")
    await c.send({"op": "subscribe", "args": ["orderbook.1.ETHUSDT"]})
    await c.recv_json()
    snap = await c.recv_json()
    assert list(snap) == ["topic", "ts", "type", "data", "cts"]  # futures L1: ts before type
    b = ex.market.book("linear", "ETHUSDT")
    seen = []
    for _ in range(60):
        ex.market.step()
        seen.extend(await c.drain())
    assert seen and all(f["type"] == "snapshot" and len(f["data"]["b"]) == 1 for f in seen)
    us = [f["data"]["u"] for f in seen]
    assert us == sorted(us) and us[-1] == b.u[1]
    # freeze the book: only re-pushes of the same u follow
    b.step = lambda now, step_no: setattr(b, "deltas", {})  # type: ignore[method-assign]
    ex.market.step(7)
    repush = await c.drain()
    assert len(repush) == 2 and {f["data"]["u"] for f in repush} == {b.u[1]}


async def test_gap_and_reset_faults(ex, http):
    c = await _connect(ex, http, "linear")
    topic = "orderbook.50.SOLUSDT"
    await c.send({"op": "subscribe", "args": [topic]})
    await c.recv_json()
    book = {}
    _apply(book, await c.recv_json())
    ex.faults.skip_delta(topic)
    ex.market.step(6)
    frames = [f for f in await c.drain() if f.get("topic") == topic]
    us = [f["data"]["u"] for f in frames]
    assert us[0] == book["u"] + 2 and us == list(range(us[0], us[0] + len(us)))  # one u missing
    assert [e.kind for e in ex.faults.log].count("gap") == 1
    ex.faults.reset_book(topic)
    ex.market.step(3)
    frames = [f for f in await c.drain() if f.get("topic") == topic]
    assert frames[0]["type"] == "snapshot" and frames[0]["data"]["u"] == 1
    book = {}
    for f in frames:
        _apply(book, f)  # deltas continue from u=2
    assert ex.market.book("linear", "SOLUSDT").u[50] == book["u"]
    ex.faults.reset_book(None)  # every book, once
    ex.market.step(2)
    frames = [f for f in await c.drain() if f.get("topic") == topic]
    assert [f["data"]["u"] for f in frames][:1] == [1] and sum(f["data"]["u"] == 1 for f in frames) == 1


async def test_drop_after_n_frames(ex, http):
    ex.faults.drop_connection_after(4, path="/v5/public/linear")
    c = await _connect(ex, http, "linear")
    await c.send({"op": "subscribe", "args": ["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT"]})
    await c.recv_json()  # ack (frame 1), then the snapshot (frame 2)
    got = 1
    ex.market.step(5)
    while True:
        msg = await asyncio.wait_for(c.ws.receive(), 2)
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        got += 1
    assert got == 4
    assert any(e.kind == "drop_after_frames" for e in ex.faults.log)
    other = await _connect(ex, http, "linear")  # the fault is consumed by one connection
    await other.send({"op": "ping"})
    assert (await other.recv_json())["ret_msg"] == "pong"


async def test_trades_tickers_klines_shapes(ex, http, fixtures_dir):
    c = await _connect(ex, http, "linear")
    await c.send({"op": "subscribe", "args": ["publicTrade.BTCUSDT", "tickers.BTCUSDT", "kline.1.BTCUSDT"]})
    await c.recv_json()
    first = await c.drain()
    ticker_snap = next(f for f in first if f["topic"] == "tickers.BTCUSDT")
    ref_t = _fx(fixtures_dir, "ws/public/tickers/tickers_linear_perpetual_snapshot.docs.json")
    assert list(ticker_snap) == list(ref_t) and list(ticker_snap["data"]) == list(ref_t["data"])
    kl = next(f for f in first if f["topic"] == "kline.1.BTCUSDT")
    ref_k = _fx(fixtures_dir, "ws/public/kline/kline.5.BTCUSDT.docs.json")
    assert list(kl) == list(ref_k) and list(kl["data"][0]) == list(ref_k["data"][0])
    ex.market.step(40)
    frames = await c.drain()
    trades = [f for f in frames if f["topic"] == "publicTrade.BTCUSDT"]
    assert trades
    ref_tr = _fx(fixtures_dir, "ws/public/trade/publicTrade.BTCUSDT.docs.json")
    assert list(trades[0]) == list(ref_tr)
    assert set(ref_tr["data"][0]) <= set(trades[0]["data"][0])
    state = dict(ticker_snap["data"])
    for f in frames:
        if f["topic"] == "tickers.BTCUSDT":
            assert f["type"] == "delta" and f["data"]["symbol"] == "BTCUSDT"
            state.update(f["data"])
    rest = (await (await http.get(ex.rest_url + "/v5/market/tickers", params={"category": "linear", "symbol": "BTCUSDT"})).json())["result"]["list"][0]
    for k in ("lastPrice", "bid1Price", "ask1Price", "bid1Size", "markPrice"):
        assert state[k] == rest[k], k
    last_trade = trades[-1]["data"][-1]
    assert state["lastPrice"] == last_trade["p"]
    sp = await _connect(ex, http, "spot")
    await sp.send({"op": "subscribe", "args": ["tickers.BTCUSDT"]})
    await sp.recv_json()
    spot_t = await sp.recv_json()
    ref_s = _fx(fixtures_dir, "ws/public/tickers/tickers_spot.docs.json")
    assert list(spot_t) == list(ref_s) and list(spot_t["data"]) == list(ref_s["data"])
    op = await _connect(ex, http, "option")
    sym = ex.market.symbols["option"][0]
    await op.send({"op": "subscribe", "args": [f"tickers.{sym}", "publicTrade.BTC"]})
    await op.recv_json()
    opt_t = await op.recv_json()
    ref_o = _fx(fixtures_dir, "ws/public/tickers/option_tickers.BTC-28JUN24-60000-P_snapshot.gct.json")
    assert list(opt_t) == list(ref_o) and list(opt_t["data"]) == list(ref_o["data"])


async def test_one_frame_object_shared_by_all_subscribers(ex, http):
    conns = [await _connect(ex, http, "linear") for _ in range(3)]
    for c in conns:
        await c.send({"op": "subscribe", "args": ["orderbook.50.ETHUSDT"]})
        await c.recv_json()
        await c.recv_json()
    hub = ex.market._public_hub
    queued = []
    for conn in hub.conns:
        orig = conn.push
        conn.push = lambda f, delay=0.0, _o=orig: (queued.append(f), _o(f, delay))
    ex.market.step()
    assert len(queued) == 3 and queued[0] is queued[1] is queued[2]
    got = [await c.recv() for c in conns]
    assert got[0] == got[1] == got[2]


@pytest.mark.timeout(60)
async def test_pybit_public_websocket_against_emulator(ex):
    pybit_ut = pytest.importorskip("pybit.unified_trading")
    ex.market.interval = 0.02
    await ex.market.start()
    received: list[dict] = []
    orig = pybit_ut.PUBLIC_WSS
    pybit_ut.PUBLIC_WSS = f"{ex.ws_url}/v5/public/{{CHANNEL_TYPE}}"
    loop = asyncio.get_running_loop()
    try:
        ws = await loop.run_in_executor(None, lambda: pybit_ut.WebSocket(channel_type="linear", testnet=False))
        try:
            await loop.run_in_executor(None, lambda: ws.orderbook_stream(50, "BTCUSDT", received.append))
            for _ in range(200):
                if len(received) >= 20:
                    break
                await asyncio.sleep(0.02)
            assert len(received) >= 20
            book = received[-1]["data"]
            assert len(book["b"]) == len(book["a"]) == 50  # pybit's book stayed consistent (no crash on deletes)
        finally:
            await loop.run_in_executor(None, ws.exit)
    finally:
        pybit_ut.PUBLIC_WSS = orig
