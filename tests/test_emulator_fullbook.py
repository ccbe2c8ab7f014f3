"""Emulator: orderbook.full + REST full_orderbook sync (PROTOCOL §5.6), its faults, and the
allLiquidation / insurance / priceLimit topics. The market is driven with ``step()``; no sleeps."""

from __future__ import annotations

import json
from decimal import Decimal

import orjson
import pytest
from _emulator_helpers import emulator_fixture, public_client, session_fixture

from bybitfast.emulator.faults import Faults
from bybitfast.emulator.market import Market
from bybitfast.emulator.public import Hub

T0 = 1_700_000_000_000


def _fx(fixtures_dir, rel):
    return json.loads((fixtures_dir / rel).read_text())


ex = emulator_fixture(market_interval=0, rate_limits=False)
http = session_fixture()


async def _rest(ex, http, path, **params):
    async with http.get(ex.rest_url + path, params=params) as r:
        body = await r.json()
        assert body["retCode"] == 0, body
        return body["result"]


# ---------------------------------------------------------------------------- a client per the docs
class FullBookClient:
    """The docs' synchronisation procedure for orderbook.full, written independently of the emulator."""

    def __init__(self):
        self.buffer: list[dict] = []
        self.book: dict | None = None
        self.restarts = 0

    def on_delta(self, frame):
        d = frame["data"]
        assert frame["type"] == "delta" and list(frame) == ["topic", "ts", "type", "data", "cts"]
        if self.book is None:
            if self.buffer and d["u"] != self.buffer[-1]["data"]["u"] + 1:
                self.buffer.clear()  # u discontinuity while buffering: restart buffering
            if self.buffer and d["seq"] < self.buffer[-1]["data"]["seq"]:
                return  # seq went back: drop
            self.buffer.append(frame)
            return
        if d["u"] == 1 or d["u"] > self.book["u"] + 1:
            self.restarts += 1  # restart or gap: discard the book, buffer again
            self.book = None
            self.buffer = [frame]
            return
        if d["u"] <= self.book["u"]:
            return
        self._apply(d)

    def on_snapshot(self, snap) -> bool:
        """Load a REST snapshot; False when the docs say to fetch another one."""
        assert self.buffer, "subscribe and buffer before fetching the snapshot"
        if snap["seq"] < self.buffer[0]["data"]["seq"]:
            return False
        rest = [f for f in self.buffer if f["data"]["seq"] >= snap["seq"]]
        if not rest or rest[0]["data"]["seq"] != snap["seq"] or rest[0]["data"]["u"] != snap["u"]:
            return False
        self.book = {"b": dict(snap["b"]), "a": dict(snap["a"]), "u": snap["u"], "seq": snap["seq"]}
        for f in rest[1:]:
            assert f["data"]["u"] > snap["u"]
            self._apply(f["data"])
        self.buffer = []
        return True

    def _apply(self, d):
        book = self.book
        assert d["u"] == book["u"] + 1 and d["seq"] > book["seq"]
        for side in ("b", "a"):
            for p, q in d[side]:
                if q == "0":
                    assert p in book[side], p  # the stream never deletes a level the client does not hold
                    del book[side][p]
                else:
                    book[side][p] = q
        book["u"], book["seq"] = d["u"], d["seq"]

    def levels(self):
        b = sorted(self.book["b"].items(), key=lambda kv: Decimal(kv[0]), reverse=True)
        a = sorted(self.book["a"].items(), key=lambda kv: Decimal(kv[0]))
        return [list(x) for x in b], [list(x) for x in a]


async def _sync(ex, http, c, fb, category, symbol, topic):
    """Feed buffered frames, then fetch REST snapshots (stepping on) until one matches."""
    for _ in range(5):
        for f in await c.drain():
            if f.get("topic") == topic:
                fb.on_delta(f)
        snap = await _rest(ex, http, "/v5/market/full_orderbook", category=category, symbol=symbol)
        if fb.on_snapshot(snap):
            return snap
        ex.market.step(ex.market.full_book_steps)
    raise AssertionError("never synchronised")


async def _synced(ex, http, category, symbol):
    """A socket on ``orderbook.full.<symbol>`` and a FullBookClient synchronised through it."""
    topic = f"orderbook.full.{symbol}"
    c = await public_client(ex, http, category)
    await c.subscribe(topic)
    ex.market.step(2 * ex.market.full_book_steps)
    fb = FullBookClient()
    await _sync(ex, http, c, fb, category, symbol, topic)
    return c, fb


# ---------------------------------------------------------------------------- market level
def test_cadence_scales_with_the_step_interval():
    assert Market(interval=0.05, symbols={"spot": ["BTCUSDT"]}).full_book_steps == 4
    assert Market(interval=0, symbols={"spot": ["BTCUSDT"]}).full_book_steps == 4  # manual: 50 ms per step
    m = Market(interval=0.02, symbols={"spot": ["BTCUSDT"]})
    assert (m.full_book_steps, m.liquidation_steps, m.insurance_steps, m.price_limit_steps) == (10, 25, 50, 15)


def test_full_deltas_replay_to_the_whole_book_every_200ms():
    m = Market(seed=4, interval=0, symbols={"spot": ["ETHUSDT"], "linear": ["SOLUSDT"], "inverse": ["BTCUSD"]})
    mirror = {}
    for key, b in m.books.items():
        bl, al = b.full_levels()
        assert (bl, al) == b.levels(10_000) and len(bl) >= 1100  # the whole deep book
        mirror[key] = (dict(map(tuple, bl)), dict(map(tuple, al)), b.full_u, b.full_seq)
    pushes = 0

    def check():  # a publisher: runs after each step, while the step's deltas are there
        nonlocal pushes
        step = m.step_no
        for key, b in m.books.items():
            bd, ad, u, seq = mirror[key]
            if b.full_delta is None:
                assert b.full_u == u
            else:
                assert step % m.full_book_steps == 0  # only on the 200 ms cadence
                assert b.full_u == u + 1 and b.full_seq > seq
                db, da = b.full_delta
                assert [k for k, _ in db] == sorted(k for k, _ in db)  # bids descending (keys are -ticks)
                for side, ch, sign in ((bd, db, -1), (ad, da, 1)):
                    for p, q in b.format_delta(ch, sign):
                        if q == "0":
                            assert p in side
                            del side[p]
                        else:
                            side[p] = q
                mirror[key] = (bd, ad, b.full_u, b.full_seq)
                pushes += 1
            fl = b.full_levels()
            assert (dict(map(tuple, fl[0])), dict(map(tuple, fl[1]))) == (bd, ad)  # REST view = pushed state
            if step % m.full_book_steps == 0:
                assert fl == b.levels(10_000)  # nothing pending right after a push

    m.add_publisher(check)
    m.step(200)
    assert pushes >= 3 * 45


def test_liquidations_and_pools_are_deterministic_and_leave_the_price_process_alone():
    def run(seed):
        m = Market(seed=seed, interval=0, clock=lambda: T0)
        liqs, pools = [], []
        def seen():
            for (_c, s), b in m.books.items():
                liqs.extend((s, x.side, x.lots, x.ticks) for x in b.liq_batch)
                for x in b.liq_batch:  # Buy = a long liquidated: bankruptcy price below the mark; Sell above
                    assert (x.ticks < b.mark_ticks()) if x.side == "Buy" else (x.ticks > b.mark_ticks())
                if b.insurance_pushed:
                    pools.append((s, b.insurance_pub_e8))

        m.add_publisher(seen)
        m.step(400)
        return m, liqs, pools

    a, la, pa = run(5)
    b, lb, pb = run(5)
    _, lc, _ = run(6)
    assert la == lb and pa == pb and la != lc
    assert len(la) > 20 and len(pa) > 5
    assert {c for (c, s), bk in a.books.items() for x in la if x[0] == s and bk.derivative} == {"linear", "inverse"}
    for (c, s), bk in a.books.items():
        if not bk.derivative:
            assert bk.liq_batch == [] and bk.insurance_group == ""
    assert {side for _s, side, _l, _t in la} == {"Buy", "Sell"}


# ---------------------------------------------------------------------------- socket + REST sync
@pytest.mark.parametrize("category,symbol", [("spot", "BTCUSDT"), ("linear", "ETHUSDT"), ("inverse", "BTCUSD")])
async def test_subscribe_buffer_rest_snapshot_then_apply_equals_the_emulator_book(ex, http, fixtures_dir, category, symbol):
    topic = f"orderbook.full.{symbol}"
    m = ex.market
    c = await public_client(ex, http, category)
    await c.subscribe(topic)
    assert await c.drain() == []  # no snapshot on the socket
    m.step(3 * m.full_book_steps)
    frames = [f for f in await c.drain() if f.get("topic") == topic]
    assert len(frames) == 3
    ref = _fx(fixtures_dir, "rest/market/orderbook.docs.json")["result"]
    fb = FullBookClient()
    for f in frames:
        fb.on_delta(f)
    snap = await _rest(ex, http, "/v5/market/full_orderbook", category=category, symbol=symbol)
    assert list(snap) == list(ref)  # s, a, b, ts, u, seq, cts
    m.step(5 * m.full_book_steps)
    for f in await c.drain():
        fb.on_delta(f)
    assert fb.on_snapshot(snap)  # buffered deltas with u > snapshot.u applied on top
    assert fb.book["u"] == m.book(category, symbol).full_u
    assert fb.levels() == m.book(category, symbol).levels(10_000)  # the emulator's whole book
    m.step(m.full_book_steps * 2 + 1)  # live deltas, ending between two pushes
    for f in await c.drain():
        fb.on_delta(f)
    again = await _rest(ex, http, "/v5/market/full_orderbook", category=category, symbol=symbol)
    assert (again["u"], again["seq"]) == (fb.book["u"], fb.book["seq"])
    assert fb.levels() == (again["b"], again["a"])  # REST between pushes = the book at the last push


async def test_full_book_topic_errors(ex, http):
    opt = await public_client(ex, http, "option")
    sym = ex.market.symbols["option"][0]
    await opt.send({"op": "subscribe", "args": [f"orderbook.full.{sym}"]})
    assert (await opt.recv_json())["data"]["failTopics"] == [f"orderbook.full.{sym}"]
    c = await public_client(ex, http, "linear")
    await c.send({"op": "subscribe", "args": ["orderbook.full.NOPEUSDT"]})
    assert (await c.recv_json())["ret_msg"] == "Invalid symbol :[orderbook.full.NOPEUSDT]"
    async with http.get(ex.rest_url + "/v5/market/full_orderbook", params={"category": "option", "symbol": sym}) as r:
        assert (await r.json())["retMsg"] == "Illegal category"


async def test_full_book_gap_is_detected_and_resync_recovers(ex, http):
    topic = "orderbook.full.SOLUSDT"
    m = ex.market
    c, fb = await _synced(ex, http, "linear", "SOLUSDT")
    ex.faults.skip_delta(topic)
    m.step(3 * m.full_book_steps)
    frames = [f for f in await c.drain() if f.get("topic") == topic]
    us = [f["data"]["u"] for f in frames]
    assert us[0] == fb.book["u"] + 2 and us == list(range(us[0], us[0] + len(us)))  # one u withheld
    assert [e.kind for e in ex.faults.log].count("gap") == 1
    for f in frames:
        fb.on_delta(f)
    assert fb.book is None and fb.restarts == 1  # the client saw the gap and dropped its book
    await _sync(ex, http, c, fb, "linear", "SOLUSDT", topic)
    assert fb.levels() == m.book("linear", "SOLUSDT").full_levels()


@pytest.mark.parametrize("offset", [0, 1])  # the restart lands on a 200 ms push, or between two
async def test_full_book_reset_u1_and_rest_u_resets_too(ex, http, offset):
    topic = "orderbook.full.BTCUSDT"
    m = ex.market
    c, fb = await _synced(ex, http, "spot", "BTCUSDT")
    old_u = fb.book["u"]
    m.step(offset)
    ex.faults.reset_book(topic)
    m.step(m.full_book_steps - offset)
    frames = [f for f in await c.drain() if f.get("topic") == topic]
    assert frames and frames[0]["data"]["u"] == 1 and frames[0]["type"] == "delta"
    assert [f["data"]["u"] for f in frames] == list(range(1, len(frames) + 1)) and old_u > len(frames)
    rest = await _rest(ex, http, "/v5/market/full_orderbook", category="spot", symbol="BTCUSDT")
    assert rest["u"] == frames[-1]["data"]["u"] and rest["seq"] == frames[-1]["data"]["seq"]
    for f in frames:
        fb.on_delta(f)
    assert fb.restarts == 1 and fb.book is None
    await _sync(ex, http, c, fb, "spot", "BTCUSDT", topic)
    m.step(2 * m.full_book_steps)
    for f in await c.drain():
        fb.on_delta(f)
    assert fb.levels() == m.book("spot", "BTCUSDT").levels(10_000)
    assert [e.kind for e in ex.faults.log].count("reset_u1") == 1


# ---------------------------------------------------------------------------- other public topics
async def test_all_liquidation_shape_and_scope(ex, http, fixtures_dir):
    ref = _fx(fixtures_dir, "ws/public/liquidation/allLiquidation.docs.json")
    c = await public_client(ex, http, "linear")
    await c.subscribe("allLiquidation.BTCUSDT", "allLiquidation.ETHUSDT")
    assert await c.drain() == []  # nothing on subscribe
    m = ex.market
    m.step(30 * m.liquidation_steps)
    frames = await c.drain()
    assert frames and {f["topic"] for f in frames} <= {"allLiquidation.BTCUSDT", "allLiquidation.ETHUSDT"}
    for f in frames:
        assert list(f) == list(ref) and f["type"] == "snapshot"
        for item in f["data"]:
            assert list(item) == list(ref["data"][0])
            assert [type(v) for v in item.values()] == [type(v) for v in ref["data"][0].values()]
            assert item["s"] == f["topic"].split(".")[1] and item["S"] in ("Buy", "Sell")
            assert Decimal(item["v"]) > 0 and Decimal(item["p"]) > 0 and item["T"] <= f["ts"]
    inv = await public_client(ex, http, "inverse")
    await inv.subscribe("allLiquidation.BTCUSD")
    spot = await public_client(ex, http, "spot")
    await spot.send({"op": "subscribe", "args": ["allLiquidation.BTCUSDT"]})
    bad = await spot.recv_json()
    assert (bad["success"], bad["ret_msg"]) == (False, "error:handler not found,topic:allLiquidation.BTCUSDT")


async def test_insurance_pools_silent_when_unchanged_and_match_rest(ex, http, fixtures_dir):
    ref = _fx(fixtures_dir, "ws/public/other/insurance.docs.json")
    m = ex.market
    c = await public_client(ex, http, "linear")
    await c.subscribe("insurance.USDT", "insurance.USDC")
    first = await c.drain()
    assert [f["topic"] for f in first] == ["insurance.USDT"]  # no USDC contracts: nothing to show
    assert first[0]["type"] == "snapshot" and len(first[0]["data"]) == len(m.symbols["linear"])
    m.step(10 * m.insurance_steps)
    frames = await c.drain()
    assert frames
    for f in frames + first:
        assert list(f) == list(ref) and f["topic"] == "insurance.USDT"
        for item in f["data"]:
            assert list(item) == list(ref["data"][0]) and all(isinstance(v, str) for v in item.values())
            assert item["coin"] == "USDT" and "," not in item["symbols"]  # isolated pools only
    assert all(f["type"] == "delta" for f in frames)
    # silent if unchanged: freeze the pools
    for b in m.insurance_books("USDT"):
        b.liquidate = lambda now: None  # type: ignore[method-assign]
    m.step(m.insurance_steps)  # pushes what changed before the freeze
    await c.drain()
    m.step(3 * m.insurance_steps)
    assert await c.drain() == []
    rest = await _rest(ex, http, "/v5/market/insurance", coin="USDT")
    state = {i["symbols"]: i["balance"] for f in first + frames for i in f["data"]}
    assert {i["symbols"]: i["balance"] for i in rest["list"]} == {b.symbol: b.insurance_balance() for b in m.insurance_books("USDT")}
    assert list(rest["list"][0]) == ["coin", "symbols", "balance", "value"]
    assert set(state) == {i["symbols"] for i in rest["list"]}
    inv = await public_client(ex, http, "inverse")
    await inv.subscribe("insurance.inverse")
    snap = await inv.recv_json()
    assert {i["coin"] for i in snap["data"]} == {"BTC", "ETH"}
    await c.send({"op": "subscribe", "args": ["insurance.inverse"]})
    assert (await c.recv_json())["success"] is False  # coin-margined pools live on the inverse socket


async def test_price_limit_shape_cadence_and_rest(ex, http, fixtures_dir):
    ref = _fx(fixtures_dir, "ws/public/other/priceLimit.docs.json")
    m = ex.market
    c = await public_client(ex, http, "linear")
    await c.subscribe("priceLimit.BTCUSDT")
    m.step(4 * m.price_limit_steps)
    frames = await c.drain()
    assert len(frames) == 4
    for f in frames:
        assert list(f) == list(ref) and list(f["data"]) == list(ref["data"]) and "type" not in f
        assert f["data"]["symbol"] == "BTCUSDT"
    last = frames[-1]["data"]
    rest = await _rest(ex, http, "/v5/market/price-limit", category="linear", symbol="BTCUSDT")
    assert (rest["buyLmt"], rest["sellLmt"]) == (last["buyLmt"], last["sellLmt"])
    bid, ask = m.best_bid_ask("linear", "BTCUSDT")
    assert Decimal(last["sellLmt"]) < bid < ask < Decimal(last["buyLmt"])
    assert len(last["buyLmt"].split(".")[1]) == 2  # linear prices keep the instrument's decimals
    sp = await public_client(ex, http, "spot")
    await sp.subscribe("priceLimit.SOLUSDT")
    op = await public_client(ex, http, "option")
    await op.send({"op": "subscribe", "args": ["priceLimit.BTCUSDT"]})
    assert (await op.recv_json())["success"] is False


def test_new_topics_share_one_frame_per_step():
    """Hub level: every topic is built once per step whatever the number of subscribers."""
    m = Market(seed=2, interval=0, symbols={"linear": ["BTCUSDT"]})
    hub = Hub(m, Faults())

    class Sink:
        def __init__(self):
            self.frames = []

        def push(self, f, delay=0.0):
            self.frames.append(f)

    sinks = [Sink(), Sink()]
    for name in ("orderbook.full.BTCUSDT", "allLiquidation.BTCUSDT", "insurance.USDT", "priceLimit.BTCUSDT"):
        t = hub.resolve("linear", name)
        for s in sinks:
            hub.add(s, t)  # type: ignore[arg-type]
    m.step(200)
    assert sinks[0].frames and all(a is b for a, b in zip(sinks[0].frames, sinks[1].frames, strict=True))
    topics = {orjson.loads(f)["topic"] for f in sinks[0].frames}
    assert topics == {"orderbook.full.BTCUSDT", "allLiquidation.BTCUSDT", "insurance.USDT", "priceLimit.BTCUSDT"}
