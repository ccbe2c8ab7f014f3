"""Emulator market: the seeded price process, window deltas, instruments schema, REST /v5/market/*."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from _emulator_helpers import emulator_fixture, session_fixture

from bybitfast.emulator.market import Market, fmt_units
from bybitfast.emulator.market_rest import HANDLERS

FIX = "rest/market"


def _fixture(fixtures_dir, name):
    return json.loads((fixtures_dir / FIX / name).read_text())


def _state(m: Market):
    return {k: (list(b.bids.keys), dict(b.bids.size), list(b.asks.keys), dict(b.asks.size), dict(b.u), b.seq, b.last_ticks)
            for k, b in m.books.items()}


# ---------------------------------------------------------------------------- price process
def test_same_seed_same_market_other_seed_differs():
    a, b, c = (Market(seed=s, interval=0, clock=lambda: 1_700_000_000_000) for s in (7, 7, 8))
    for m in (a, b, c):
        m.step(150)
    assert _state(a) == _state(b)
    assert _state(a) != _state(c)


def test_adding_symbols_does_not_change_others():
    a = Market(seed=5, interval=0, symbols={"linear": ["BTCUSDT"]}, clock=lambda: 1_700_000_000_000)
    b = Market(seed=5, interval=0, symbols={"linear": ["BTCUSDT", "ETHUSDT"], "spot": ["BTCUSDT"]}, clock=lambda: 1_700_000_000_000)
    a.step(50)
    b.step(50)
    assert _state(a)[("linear", "BTCUSDT")] == _state(b)[("linear", "BTCUSDT")]


def test_unknown_symbol_rejected():
    with pytest.raises(ValueError):
        Market(symbols={"linear": ["NOPEUSDT"]})


def test_books_stay_sane_and_on_tick():
    m = Market(seed=2, interval=0)
    m.step(400)
    for (cat, sym), b in m.books.items():
        bid, ask = m.best_bid_ask(cat, sym)
        assert bid < ask, (cat, sym)
        tick = Decimal(m.instrument(cat, sym)["priceFilter"]["tickSize"])
        bids, asks = m.depth(cat, sym, 50)
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        for p, q in bids + asks:
            assert p % tick == 0 and q > 0
        assert len(b.bids.keys) >= b.min_levels or cat == "option"
        assert len(bids) == 50
        assert m.last_price(cat, sym) > 0 and m.mark_price(cat, sym) > 0


def test_window_deltas_replay_exactly():
    """Replaying each watched depth's deltas gives exactly the top-N book, with u +1 per delta."""
    m = Market(seed=11, interval=0, symbols={"linear": ["BTCUSDT"], "spot": ["SOLUSDT"], "inverse": ["ETHUSD"]})
    for (c, s), b in m.books.items():
        for d in b.depths:
            m.watch(c, s, d)
    mirror = {}
    for key, b in m.books.items():
        for d in b.depths:
            bl, al = b.levels(d)
            mirror[(key, d)] = (dict(map(tuple, bl)), dict(map(tuple, al)), b.u[d])
    deleted_levels = 0
    for _ in range(300):
        m.step()
        for key, b in m.books.items():
            for d in b.depths:
                bd, ad, u = mirror[(key, d)]
                if d in b.deltas:
                    assert b.u[d] == u + 1
                    db, da = b.deltas[d]
                    for side, ch, sign in ((bd, db, -1), (ad, da, 1)):
                        for p, q in b.format_delta(ch, sign):
                            if q == "0":
                                assert p in side  # never deletes a level the client does not hold
                                del side[p]
                                deleted_levels += 1
                            else:
                                side[p] = q
                    mirror[(key, d)] = (bd, ad, u + 1)
                else:
                    assert b.u[d] == u
                bl, al = b.levels(d)
                assert (dict(map(tuple, bl)), dict(map(tuple, al))) == (bd, ad)
                assert len(bd) == len(ad) == d  # window maintenance: exactly N levels per side
    assert deleted_levels > 0


def test_record_trade_moves_last_price_and_is_published_once():
    m = Market(seed=3, interval=0, symbols={"linear": ["BTCUSDT"]})
    m.record_trade("linear", "BTCUSDT", Decimal("100123.40"), Decimal("0.005"), "Buy")
    assert m.last_price("linear", "BTCUSDT") == Decimal("100123.40")
    b = m.book("linear", "BTCUSDT")
    assert [(t.ticks, t.lots, t.side) for t in b.step_trades][:1] == [(1001234, 5, "Buy")]
    seen = []
    m.add_publisher(lambda: seen.append(list(b.step_trades)))
    m.step()
    m.step()
    assert any(t.ticks == 1001234 for t in seen[0]) and not any(t.ticks == 1001234 for t in seen[1])


def test_fmt_units():
    assert fmt_units(4373001, 2, True) == "43730.01"
    assert fmt_units(4373000, 2, True) == "43730"
    assert fmt_units(4373010, 2, False) == "43730.10"
    assert fmt_units(0, 3, False) == "0.000"
    assert fmt_units(-587, 6, False) == "-0.000587"


# ---------------------------------------------------------------------------- instruments schema
def _keys(d):
    return [(k, _keys(v) if isinstance(v, dict) else None) for k, v in d.items()]


@pytest.mark.parametrize(
    "category,fixture,skip",
    [
        ("linear", "instruments-info_linear_usdt-perpetual.docs.json", {"symbolId"}),
        ("spot", "instruments-info_spot.docs.json", {"symbolId"}),
        ("option", "instruments-info_option.docs.json", set()),
    ],
)
def test_instruments_schema_matches_fixture(fixtures_dir, category, fixture, skip):
    ref = _fixture(fixtures_dir, fixture)["result"]["list"][0]
    ref = {k: v for k, v in ref.items() if k not in skip}
    m = Market(seed=1, interval=0)
    for item in m.instruments(category):
        assert _keys(item) == _keys(ref)
        assert all(isinstance(v, type(ref[k])) or ref[k] is None for k, v in item.items())
    inv = m.instrument("inverse", "BTCUSD")
    assert _keys(inv) == _keys({k: v for k, v in _fixture(fixtures_dir, "instruments-info_linear_usdt-perpetual.docs.json")["result"]["list"][0].items() if k != "symbolId"})
    assert m.instrument("linear", "BTCUSDT")["priceFilter"]["tickSize"] == "0.10"
    assert m.instrument("linear", "BTCUSDT")["lotSizeFilter"]["qtyStep"] == "0.001"


def test_handlers_cover_every_market_get_path():
    from bybitfast.emulator.routes import ROUTES

    market_paths = {(v, p) for v, p, _a, g in ROUTES if p.startswith("/v5/market/")}
    assert market_paths == set(HANDLERS)


# ---------------------------------------------------------------------------- REST handlers
ex = emulator_fixture(market_interval=0, rate_limits=False)
http = session_fixture()


async def _get(ex, http, path, **params):
    async with http.get(ex.rest_url + path, params=params) as r:
        assert r.status == 200
        return await r.json()


MINIMAL = {
    "/v5/market/time": {},
    "/v5/market/kline": {"category": "linear", "symbol": "BTCUSDT", "interval": "1"},
    "/v5/market/mark-price-kline": {"category": "linear", "symbol": "BTCUSDT", "interval": "D"},
    "/v5/market/index-price-kline": {"category": "inverse", "symbol": "BTCUSD", "interval": "W"},
    "/v5/market/premium-index-price-kline": {"category": "linear", "symbol": "BTCUSDT", "interval": "M"},
    "/v5/market/instruments-info": {"category": "option"},
    "/v5/market/orderbook": {"category": "spot", "symbol": "BTCUSDT"},
    "/v5/market/full_orderbook": {"category": "linear", "symbol": "BTCUSDT"},
    "/v5/market/rpi_orderbook": {"category": "spot", "symbol": "BTCUSDT", "limit": "5"},
    "/v5/market/tickers": {"category": "inverse"},
    "/v5/market/funding/history": {"category": "linear", "symbol": "BTCUSDT", "limit": "3"},
    "/v5/market/recent-trade": {"category": "option", "baseCoin": "BTC"},
    "/v5/market/open-interest": {"category": "linear", "symbol": "BTCUSDT", "intervalTime": "1h", "limit": "2"},
    "/v5/market/historical-volatility": {"category": "option"},
    "/v5/market/insurance": {},
    "/v5/market/risk-limit": {"category": "inverse", "symbol": "BTCUSD"},
    "/v5/market/delivery-price": {"category": "option"},
    "/v5/market/new-delivery-price": {"category": "option", "baseCoin": "BTC"},
    "/v5/market/account-ratio": {"category": "linear", "symbol": "BTCUSDT", "period": "1h", "limit": "2"},
    "/v5/market/index-price-components": {"indexName": "BTCUSDT"},
    "/v5/market/price-limit": {"category": "linear", "symbol": "BTCUSDT"},
    "/v5/market/adlAlert": {},
    "/v5/market/fee-group-info": {"productType": "contract"},
}


async def test_every_market_path_answers_ok(ex, http):
    assert set(MINIMAL) == {p for _, p in HANDLERS}
    ex.market.step(5)
    for path, params in MINIMAL.items():
        body = await _get(ex, http, path, **params)
        assert body["retCode"] == 0, (path, body)
        assert body["result"], path


async def test_orderbook_shape_limits_and_u(ex, http, fixtures_dir):
    ex.market.step(3)
    ref = _fixture(fixtures_dir, "orderbook.docs.json")["result"]
    body = await _get(ex, http, "/v5/market/orderbook", category="linear", symbol="BTCUSDT")
    res = body["result"]
    assert list(res) == list(ref)
    assert len(res["b"]) == len(res["a"]) == 25  # linear default
    b = ex.market.book("linear", "BTCUSDT")
    assert res["u"] == b.u[1000] and res["seq"] == b.seq
    assert [[str(p), str(q)] for p, q in ex.market.depth("linear", "BTCUSDT", 25)[0]] == res["b"]
    spot = (await _get(ex, http, "/v5/market/orderbook", category="spot", symbol="BTCUSDT"))["result"]
    assert len(spot["b"]) == 1  # spot default 1
    full = (await _get(ex, http, "/v5/market/orderbook", category="spot", symbol="BTCUSDT", limit="1000"))["result"]
    assert len(full["b"]) == len(full["a"]) == 1000
    for cat, limit in (("option", "26"), ("linear", "1001"), ("spot", "0"), ("spot", "x")):
        sym = ex.market.symbols[cat][0]
        err = await _get(ex, http, "/v5/market/orderbook", category=cat, symbol=sym, limit=limit)
        assert err["retCode"] == 10001 and err["retMsg"] == "params error: limit invalid", (cat, limit)


async def test_parameter_errors(ex, http, fixtures_dir):
    cases = [
        ("/v5/market/orderbook", {"category": "linear"}, "params error: symbol invalid"),
        ("/v5/market/orderbook", {"category": "futures", "symbol": "BTCUSDT"}, "Illegal category"),
        ("/v5/market/orderbook", {"symbol": "BTCUSDT"}, "Illegal category"),
        ("/v5/market/tickers", {"category": "spot", "symbol": "NOPEUSDT"}, "Not supported symbols"),
        ("/v5/market/kline", {"category": "spot", "symbol": "NOPEUSDT", "interval": "1"}, "Not supported symbols"),
        ("/v5/market/kline", {"category": "spot", "symbol": "BTCUSDT", "interval": "2"}, "params error: interval invalid"),
        ("/v5/market/kline", {"category": "option", "symbol": "BTCUSDT", "interval": "1"}, "Illegal category"),
        ("/v5/market/open-interest", {"category": "linear", "symbol": "BTCUSDT"}, "params error: intervalTime invalid"),
        ("/v5/market/rpi_orderbook", {"category": "spot", "symbol": "BTCUSDT"}, "params error: limit invalid"),
        ("/v5/market/instruments-info", {"category": "linear", "cursor": "first%3DX%26last%3DNOPE"}, "params error: cursor invalid"),
    ]
    ref = _fixture(fixtures_dir, "../errors/10001_not-supported-symbols.xchange.json")
    for path, params, msg in cases:
        body = await _get(ex, http, path, **params)
        assert (body["retCode"], body["retMsg"]) == (10001, msg), (path, params, body)
        assert list(body) == list(ref) and body["result"] == {}


@pytest.mark.parametrize(
    "category,fixture",
    [("spot", "tickers_spot.docs.json"), ("inverse", "tickers_inverse.docs.json"), ("option", "tickers_option.docs.json")],
)
async def test_ticker_keys_match_fixture(ex, http, fixtures_dir, category, fixture):
    ref = _fixture(fixtures_dir, fixture)["result"]
    params = {"category": category}
    if category == "option":
        params["baseCoin"] = "BTC"
    res = (await _get(ex, http, "/v5/market/tickers", **params))["result"]
    assert list(res) == list(ref)
    for item in res["list"]:
        assert list(item) == list(ref["list"][0])
        assert all(isinstance(v, str) for v in item.values())
    linear = (await _get(ex, http, "/v5/market/tickers", category="linear", symbol="BTCUSDT"))["result"]["list"]
    assert list(linear[0]) == list(_fixture(fixtures_dir, "tickers_inverse.docs.json")["result"]["list"][0])
    bid, ask = ex.market.best_bid_ask("linear", "BTCUSDT")
    assert (Decimal(linear[0]["bid1Price"]), Decimal(linear[0]["ask1Price"])) == (bid, ask)


async def test_kline_shapes_and_live_candle(ex, http, fixtures_dir):
    ex.market.step(30)
    res = (await _get(ex, http, "/v5/market/kline", category="linear", symbol="BTCUSDT", interval="1", limit="5"))["result"]
    ref = _fixture(fixtures_dir, "kline_linear.nautilus.json")["result"]
    assert list(res) == list(ref) and len(res["list"]) == 5
    starts = [int(r[0]) for r in res["list"]]
    assert starts == sorted(starts, reverse=True) and starts[0] - starts[1] == 60_000
    assert all(len(r) == 7 for r in res["list"])
    b = ex.market.book("linear", "BTCUSDT")
    assert Decimal(res["list"][0][4]) == ex.market.last_price("linear", "BTCUSDT")
    assert int(res["list"][0][0]) == b.candles["1"].start
    mark = (await _get(ex, http, "/v5/market/mark-price-kline", category="linear", symbol="BTCUSDT", interval="60", limit="3"))["result"]
    assert all(len(r) == 5 for r in mark["list"]) and len(mark["list"]) == 3
    again = (await _get(ex, http, "/v5/market/mark-price-kline", category="linear", symbol="BTCUSDT", interval="60", limit="3"))["result"]
    assert again["list"] == mark["list"]  # deterministic history
    hour = starts[0] // 3_600_000 * 3_600_000
    window = (await _get(ex, http, "/v5/market/kline", category="spot", symbol="BTCUSDT", interval="60",
                         start=str(hour - 10 * 3_600_000), end=str(hour)))["result"]["list"]
    assert len(window) == 11


async def test_instruments_pagination(ex, http):
    first = (await _get(ex, http, "/v5/market/instruments-info", category="linear", limit="2"))["result"]
    assert [i["symbol"] for i in first["list"]] == ["BTCUSDT", "ETHUSDT"] and first["nextPageCursor"]
    second = (await _get(ex, http, "/v5/market/instruments-info", category="linear", limit="2", cursor=first["nextPageCursor"]))["result"]
    assert [i["symbol"] for i in second["list"]] == ["SOLUSDT"] and second["nextPageCursor"] == ""
    spot = (await _get(ex, http, "/v5/market/instruments-info", category="spot", symbol="ETHUSDT"))["result"]
    assert list(spot) == ["category", "list"] and [i["symbol"] for i in spot["list"]] == ["ETHUSDT"]
    none = (await _get(ex, http, "/v5/market/instruments-info", category="spot", symbol="NOPE"))
    assert none["retCode"] == 0 and none["result"]["list"] == []


async def test_recent_trade_matches_stream_trades(ex, http, fixtures_dir):
    ex.market.step(40)
    b = ex.market.book("spot", "BTCUSDT")
    res = (await _get(ex, http, "/v5/market/recent-trade", category="spot", symbol="BTCUSDT"))["result"]
    ref = _fixture(fixtures_dir, "recent-trade.docs.json")["result"]
    assert list(res) == list(ref) and len(res["list"]) == min(60, len(b.recent))
    assert list(res["list"][0]) == list(ref["list"][0])
    newest = b.recent[-1]
    assert res["list"][0]["execId"] == newest.exec_id and res["list"][0]["price"] == b.px(newest.ticks)
    assert res["list"][0]["execId"].isdigit()  # spot ids are numeric strings, derivatives UUIDs


async def test_server_time_and_vol_shapes(ex, http, fixtures_dir):
    t = await _get(ex, http, "/v5/market/time")
    assert list(t["result"]) == list(_fixture(fixtures_dir, "server-time.docs.json")["result"])
    assert abs(int(t["result"]["timeSecond"]) - t["time"] // 1000) <= 1
    hv = await _get(ex, http, "/v5/market/historical-volatility", category="option", baseCoin="BTC", period="30")
    ref = _fixture(fixtures_dir, "historical-volatility.docs.json")["result"][0]
    assert list(hv["result"][0]) == list(ref) and hv["result"][0]["period"] == 30
    oi = (await _get(ex, http, "/v5/market/open-interest", category="inverse", symbol="BTCUSD", intervalTime="5min", limit="2"))["result"]
    assert list(oi) == list(_fixture(fixtures_dir, "open-interest_inverse.ccxt.json")["result"]) and oi["nextPageCursor"]
    nxt = (await _get(ex, http, "/v5/market/open-interest", category="inverse", symbol="BTCUSD", intervalTime="5min", limit="2",
                      cursor=oi["nextPageCursor"]))["result"]
    assert int(nxt["list"][0]["timestamp"]) == int(oi["list"][-1]["timestamp"]) - 300_000
