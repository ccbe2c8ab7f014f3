"""ccxt, unchanged, against the emulator: ``ccxt.bybit`` (sync, emulator in a background thread),
``ccxt.async_support.bybit`` and ``ccxt.pro.bybit`` (same loop as the emulator).

Only ``urls['api']`` is pointed at the emulator; everything else (signing, parameter order, the
endpoints ``load_markets`` and ``fetch_balance`` call behind the scenes, error mapping) is ccxt's
own. The market is manual (``market_interval=0``) so every figure ccxt shows can be compared with
the emulator's state exactly. Skipped when ccxt is not installed (it is in the ``bench`` extra).
"""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from typing import Any

import pytest
from _emulator_helpers import ThreadedEmulator

from bybitfast.emulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, Emulator
from bybitfast.emulator.compat import point_ccxt

ccxt = pytest.importorskip("ccxt")

LINEAR = "BTC/USDT:USDT"
SPOT = "BTC/USDT"
_keys = itertools.count(1)


def point(client: Any, ex: Emulator) -> Any:
    """Aim every REST (and, for ccxt.pro, WebSocket) URL of a ccxt bybit client at ``ex``."""
    return point_ccxt(client, ex.rest_url, ex.ws_url)


def fresh_key(ex: Emulator) -> tuple[str, str]:
    """A new API key on a new, default-funded account (tests do not share balances)."""
    n = next(_keys)
    key, secret = f"CCXTKEY{n:08d}", f"ccxt-secret-{n:08d}"
    ex.add_api_key(key, secret)
    return key, secret


@pytest.fixture(scope="module")
def runner():
    threaded = ThreadedEmulator(market_interval=0, rate_limits=False)
    with threaded:
        yield threaded


@pytest.fixture(scope="module")
def emu(runner):
    return runner.ex


@pytest.fixture(scope="module")
def public_client(emu):
    client = point(ccxt.bybit({"enableRateLimit": False}), emu)
    client.load_markets()
    return client


@pytest.fixture
def client(emu, public_client):
    key, secret = fresh_key(emu)
    c = point(ccxt.bybit({"apiKey": key, "secret": secret, "enableRateLimit": False}), emu)
    c.set_markets(public_client.markets, public_client.currencies)
    return c


def test_load_markets_lists_every_instrument(emu):
    c = point(ccxt.bybit({"apiKey": DEFAULT_API_KEY, "secret": DEFAULT_API_SECRET, "enableRateLimit": False}), emu)
    first = len(emu.request_log)
    markets = c.load_markets()
    paths = {(r["path"], r["query"].split("&")[0]) for r in emu.request_log[first:]}
    assert ("/v5/asset/coin/query-info", "") in paths  # fetch_currencies, signed
    for category in emu.market.categories:
        assert ("/v5/market/instruments-info", f"category={category}") in paths
        for info in emu.market.instruments(category):
            market = c.markets_by_id[info["symbol"]]
            assert any(m["type"] == {"linear": "swap", "inverse": "swap"}.get(category, category) for m in market), info["symbol"]
    btc = markets[LINEAR]
    info = emu.market.instrument("linear", "BTCUSDT")
    assert btc["precision"]["price"] == float(info["priceFilter"]["tickSize"])
    assert btc["precision"]["amount"] == float(info["lotSizeFilter"]["qtyStep"])
    assert btc["limits"]["amount"]["min"] == float(info["lotSizeFilter"]["minOrderQty"])
    assert btc["linear"] and btc["settle"] == "USDT"
    # Currencies come with their networks (coin/query-info chains), for every traded coin.
    for code in ("BTC", "ETH", "USDT", "USDC"):
        assert c.currencies[code]["networks"], code
    assert "USD" not in c.currencies  # inverse quote currency is no coin


def test_market_data_matches_the_book(runner, emu, public_client):
    c = public_client
    runner.run(emu.market.step, 20)  # some public trades
    bid, ask = emu.market.best_bid_ask("linear", "BTCUSDT")
    ticker = c.fetch_ticker(LINEAR)
    assert (Decimal(str(ticker["bid"])), Decimal(str(ticker["ask"]))) == (bid, ask)
    assert ticker["last"] == float(emu.market.last_price("linear", "BTCUSDT"))
    book = c.fetch_order_book(LINEAR, 25)
    bids, asks = emu.market.depth("linear", "BTCUSDT", 25)
    assert book["bids"] == [[float(p), float(q)] for p, q in bids]
    assert book["asks"] == [[float(p), float(q)] for p, q in asks]
    spot = c.fetch_ticker(SPOT)
    assert Decimal(str(spot["bid"])) == emu.market.best_bid_ask("spot", "BTCUSDT")[0]
    trades = c.fetch_trades(LINEAR, limit=5)
    assert 0 < len(trades) <= 5 and all(t["symbol"] == LINEAR and t["side"] in ("buy", "sell") for t in trades)
    assert trades == sorted(trades, key=lambda t: t["timestamp"])
    candles = c.fetch_ohlcv(LINEAR, "1m", limit=5)
    assert len(candles) == 5
    assert all(low <= min(o, cl) <= max(o, cl) <= high for _, o, high, low, cl, _v in candles)
    assert candles == sorted(candles)  # ccxt sorts ascending; Bybit sends newest first


def test_trading_roundtrip(emu, client):
    c = client
    balance = c.fetch_balance()
    assert balance["USDT"]["total"] == 100000 and balance["USDT"]["free"] == 100000

    bid, _ask = emu.market.best_bid_ask("linear", "BTCUSDT")
    price = float(bid - 1000)
    limit = c.create_order(LINEAR, "limit", "buy", 0.01, price, {"clientOrderId": "ccxt-limit-1"})
    open_orders = c.fetch_open_orders(LINEAR)
    assert [o["id"] for o in open_orders] == [limit["id"]]
    o = open_orders[0]
    assert (o["status"], o["side"], o["type"], o["price"], o["amount"], o["clientOrderId"]) == ("open", "buy", "limit", price, 0.01, "ccxt-limit-1")
    assert c.fetch_balance()["USDT"]["used"] > 0  # order margin
    c.cancel_order(limit["id"], LINEAR)
    assert c.fetch_open_orders(LINEAR) == []
    assert [o["id"] for o in c.fetch_canceled_orders(LINEAR)] == [limit["id"]]

    market = c.create_order(LINEAR, "market", "buy", 0.01)
    fills = c.fetch_my_trades(LINEAR)
    assert {t["order"] for t in fills} == {market["id"]}
    assert sum(Decimal(str(t["amount"])) for t in fills) == Decimal("0.01")
    assert all(t["fee"]["currency"] == "USDT" and t["fee"]["cost"] > 0 and t["takerOrMaker"] == "taker" for t in fills)
    closed = c.fetch_closed_orders(LINEAR)
    assert [(o["id"], o["status"], o["filled"]) for o in closed] == [(market["id"], "closed", 0.01)]

    positions = c.fetch_positions([LINEAR])
    assert len(positions) == 1
    pos = positions[0]
    assert (pos["symbol"], pos["side"], pos["contracts"], pos["leverage"]) == (LINEAR, "long", 0.01, 10)
    c.set_leverage(5, LINEAR)
    assert c.fetch_leverage(LINEAR)["longLeverage"] == 5
    assert c.fetch_positions([LINEAR])[0]["leverage"] == 5


def test_spot_orders(emu, client):
    c = client
    _bid, ask = emu.market.best_bid_ask("spot", "BTCUSDT")
    before = c.fetch_balance()
    # A market buy is sized in quote coin: ccxt turns amount * price into the cost it sends.
    c.create_order(SPOT, "market", "buy", 0.001, float(ask))
    after = c.fetch_balance()
    assert after["BTC"]["total"] > before["BTC"]["total"]
    assert after["USDT"]["total"] < before["USDT"]["total"]
    resting = c.create_order(SPOT, "limit", "sell", 0.001, float(ask * 2))
    assert [o["id"] for o in c.fetch_open_orders(SPOT)] == [resting["id"]]
    assert c.fetch_balance()["BTC"]["used"] == 0.001  # locked by the resting sell
    c.cancel_all_orders(SPOT)
    assert c.fetch_open_orders(SPOT) == []


def test_errors_map_to_ccxt_exceptions(emu, client):
    c = client
    c.create_order(LINEAR, "limit", "buy", 0.01, 50000, {"clientOrderId": "dup-1"})
    with pytest.raises(ccxt.InvalidOrder):  # 110072 OrderLinkedID is duplicate
        c.create_order(LINEAR, "limit", "buy", 0.01, 50000, {"clientOrderId": "dup-1"})
    with pytest.raises(ccxt.InsufficientFunds):  # 110007
        c.create_order(LINEAR, "limit", "buy", 100, 90000)
    with pytest.raises(ccxt.BadRequest, match="not supported by the emulator"):  # conditional orders are refused
        c.create_order(LINEAR, "market", "buy", 0.01, None, {"triggerPrice": 150000, "triggerDirection": "ascending"})
    with pytest.raises(ccxt.OrderNotFound):  # 110001
        c.cancel_order("00000000-0000-0000-0000-000000000000", LINEAR)
    bad = point(ccxt.bybit({"apiKey": DEFAULT_API_KEY, "secret": "wrong", "enableRateLimit": False}), emu)
    bad.set_markets(c.markets, c.currencies)
    with pytest.raises(ccxt.AuthenticationError):  # 10004
        bad.fetch_balance()


def test_fees_funding_wallet_and_deposit_address(emu, client):
    c = client
    fees = c.fetch_trading_fees()  # no category: linear rates
    assert fees[LINEAR]["maker"] == 0.0002 and fees[LINEAR]["taker"] == 0.00055
    assert c.fetch_trading_fee(SPOT)["taker"] == 0.001

    c.transfer("USDT", 250, "unified", "funding")
    assert c.fetch_balance({"type": "funding"})["USDT"]["total"] == 250
    assert c.fetch_balance()["USDT"]["total"] == 100000 - 250
    transfers = c.fetch_transfers("USDT")
    assert [(t["amount"], t["fromAccount"], t["toAccount"], t["status"]) for t in transfers] == [(250, "unified", "fund", "ok")]  # ccxt names FUND "fund"
    with pytest.raises(ccxt.InsufficientFunds):  # 131212
        c.transfer("USDT", 251, "funding", "unified")

    address = c.fetch_deposit_address("USDT", {"network": "ERC20"})
    assert address["address"].startswith("0x") and len(address["address"]) == 42
    assert c.fetch_deposit_address("USDT", {"network": "ERC20"})["address"] == address["address"]  # stable


async def test_async_support_rest():
    import ccxt.async_support as ccxt_async

    async with Emulator(market_interval=0, rate_limits=False) as ex:
        c = point(ccxt_async.bybit({"apiKey": DEFAULT_API_KEY, "secret": DEFAULT_API_SECRET, "enableRateLimit": False}), ex)
        try:
            await c.load_markets()
            book = await c.fetch_order_book(LINEAR, 1)
            assert Decimal(str(book["bids"][0][0])) == ex.market.best_bid_ask("linear", "BTCUSDT")[0]
            order = await c.create_order(LINEAR, "limit", "sell", 0.01, float(book["asks"][0][0]) + 1000)
            assert [o["id"] for o in await c.fetch_open_orders(LINEAR)] == [order["id"]]
            await c.cancel_order(order["id"], LINEAR)
            assert await c.fetch_open_orders(LINEAR) == []
            assert (await c.fetch_balance())["USDT"]["total"] == 100000
        finally:
            await c.close()


def subscribed(ex: Emulator, topic: str) -> bool:
    """Whether some private connection of ``ex`` holds ``topic`` (its listeners are bound methods)."""
    return any(topic in getattr(getattr(fn, "__self__", None), "topics", ()) for fn in ex.exchange.listeners)


async def _until(predicate: Any, timeout: float = 3.0) -> None:
    """Let the client's reader task run until ``predicate()`` holds (bounded)."""

    async def wait() -> None:
        while not predicate():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(wait(), timeout)


async def test_pro_watch_order_book_trades_ticker():
    import ccxt.pro as ccxtpro

    async with Emulator(market_interval=0, rate_limits=False) as ex:
        c = point(ccxtpro.bybit({"enableRateLimit": False}), ex)
        try:
            await c.load_markets()
            book = await asyncio.wait_for(c.watch_order_book(LINEAR, 50), 5)
            bids, asks = ex.market.depth("linear", "BTCUSDT", 50)
            assert book["bids"][:50] == [[float(p), float(q)] for p, q in bids]

            def same_as_emulator() -> bool:
                ob = c.orderbooks[LINEAR]
                b, a = ex.market.depth("linear", "BTCUSDT", 50)
                return ob["bids"][:50] == [[float(p), float(q)] for p, q in b] and ob["asks"][:50] == [[float(p), float(q)] for p, q in a]

            for _ in range(20):  # snapshot + 20 steps of deltas keep ccxt's book identical
                ex.market.step()
                await _until(same_as_emulator)

            trades_task = asyncio.ensure_future(c.watch_trades(LINEAR))
            ticker = await asyncio.wait_for(c.watch_ticker(LINEAR), 5)
            assert ticker["symbol"] == LINEAR and ticker["last"] > 0
            for _ in range(200):
                if trades_task.done():
                    break
                ex.market.step()
                await asyncio.sleep(0.005)
            trades = await asyncio.wait_for(trades_task, 5)
            assert trades and all(t["symbol"] == LINEAR and t["price"] > 0 and t["amount"] > 0 for t in trades)
            # Linear tickers are snapshot + deltas (absent = unchanged): ccxt's merged view tracks the market.
            await _until(lambda: c.tickers[LINEAR]["last"] == float(ex.market.last_price("linear", "BTCUSDT")))
            assert c.tickers[LINEAR]["bid"] is not None and c.tickers[LINEAR]["ask"] is not None
        finally:
            await c.close()


async def test_pro_private_streams_and_ws_orders():
    import ccxt.pro as ccxtpro

    async with Emulator(market_interval=0, rate_limits=False, latency=0.005) as ex:
        c = point(ccxtpro.bybit({"apiKey": DEFAULT_API_KEY, "secret": DEFAULT_API_SECRET, "enableRateLimit": False}), ex)
        try:
            await c.load_markets()
            orders_task = asyncio.ensure_future(c.watch_orders(LINEAR))
            await _until(lambda: subscribed(ex, "order"))  # the emulator has processed the subscribe
            bid, _ask = ex.market.best_bid_ask("linear", "BTCUSDT")
            placed = await asyncio.wait_for(c.create_order_ws(LINEAR, "limit", "buy", 0.01, float(bid - 500)), 5)
            pushed = await asyncio.wait_for(orders_task, 5)
            assert pushed[-1]["id"] == placed["id"] and pushed[-1]["status"] == "open"
            await asyncio.wait_for(c.edit_order_ws(placed["id"], LINEAR, "limit", "buy", 0.02, float(bid - 500)), 5)
            await _until(lambda: c.orders[-1]["amount"] == 0.02)
            await asyncio.wait_for(c.cancel_order_ws(placed["id"], LINEAR), 5)
            await _until(lambda: c.orders[-1]["status"] == "canceled")
        finally:
            await c.close()
