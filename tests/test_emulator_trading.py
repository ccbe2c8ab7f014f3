"""Emulator matching engine and trading REST: every order rule, fills into positions and wallets."""

from __future__ import annotations

from decimal import Decimal

import pytest
from _emulator_helpers import emulator_fixture, rest_fixture



ex = emulator_fixture(market_interval=0, rate_limits=False)
rest = rest_fixture()


def book(ex, category="linear", symbol="BTCUSDT"):
    return ex.market.depth(category, symbol, 5)


async def history(rest, order_id, category="linear"):
    body = await rest.get("/v5/order/history", {"category": category, "orderId": order_id})
    assert body["retCode"] == 0
    (item,) = body["result"]["list"]
    return item


async def wallet(rest, coin):
    body = await rest.get("/v5/account/wallet-balance", {"accountType": "UNIFIED", "coin": coin})
    (c,) = body["result"]["list"][0]["coin"]
    return Decimal(c["walletBalance"])


async def position(rest, symbol="BTCUSDT", category="linear"):
    body = await rest.get("/v5/position/list", {"category": category, "symbol": symbol})
    return body["result"]["list"][0]


def snapshot(ex):
    acct = ex.exchange.accounts[ex.uid]
    return (
        dict(acct.balances),
        {k: (p.size, p.entry) for k, p in acct.positions.items()},
        [(o.order_id, o.status, o.qty, o.price) for o in acct.orders.values()],
        len(acct.executions),
    )


# ---- resting and maker fills ---------------------------------------------------------------------
async def test_gtc_rests_then_fills_as_maker_when_market_moves_through(ex, rest, monkeypatch):
    bids, asks = book(ex)
    price = bids[0][0]
    r = await rest.order(side="Buy", orderType="Limit", qty="0.010", price=str(price), orderLinkId="gtc-1")
    assert r["retCode"] == 0 and r["result"]["orderLinkId"] == "gtc-1"
    open_ = await rest.get("/v5/order/realtime", {"category": "linear", "symbol": "BTCUSDT"})
    (o,) = open_["result"]["list"]
    assert (o["orderStatus"], o["leavesQty"], o["cumExecQty"]) == ("New", "0.010", "0.000")
    assert o["price"] == f"{price:.1f}"
    # The market moves down through the order.
    monkeypatch.setattr(ex.market, "best_bid_ask", lambda c, s: (price - 2, price - Decimal("0.1")))
    usdt = await wallet(rest, "USDT")
    ex.exchange.on_market_step()
    o = await history(rest, r["result"]["orderId"])
    assert o["orderStatus"] == "Filled" and Decimal(o["avgPrice"]) == price
    ex_list = await rest.get("/v5/execution/list", {"category": "linear", "symbol": "BTCUSDT"})
    (fill,) = ex_list["result"]["list"]
    assert fill["isMaker"] is True and fill["feeRate"] == "0.0002"
    assert Decimal(fill["execFee"]) == Decimal("0.010") * price * Decimal("0.0002")
    assert await wallet(rest, "USDT") == usdt - Decimal(fill["execFee"])
    assert (await position(rest))["size"] == "0.010"


def test_exchange_is_driven_by_market_steps(ex):
    assert ex.exchange.on_market_step in ex.market._callbacks  # noqa: SLF001


# ---- taker rules -----------------------------------------------------------------------------------
async def test_ioc_partial_fill_then_cancel(ex, rest):
    _bids, asks = book(ex)
    best_px, best_qty = asks[0]
    qty = best_qty + Decimal("0.001")
    r = await rest.order(side="Buy", orderType="Limit", timeInForce="IOC", qty=str(qty), price=str(best_px))
    o = await history(rest, r["result"]["orderId"])
    assert o["orderStatus"] == "Cancelled"  # derivatives: Cancelled with an executed qty
    assert Decimal(o["cumExecQty"]) == best_qty and o["leavesQty"] == "0.000"
    assert (await position(rest))["size"] == f"{best_qty:.3f}"


async def test_ioc_without_liquidity_cancels(ex, rest):
    bids, _asks = book(ex)
    r = await rest.order(side="Buy", orderType="Limit", timeInForce="IOC", qty="0.010", price=str(bids[0][0]))
    o = await history(rest, r["result"]["orderId"])
    assert (o["orderStatus"], o["rejectReason"], o["cumExecQty"]) == ("Cancelled", "EC_NoImmediateQtyToFill", "0.000")


async def test_fok_kill_and_fill(ex, rest):
    _bids, asks = book(ex)
    best_px, best_qty = asks[0]
    before = snapshot(ex)
    r = await rest.order(side="Buy", orderType="Limit", timeInForce="FOK", qty=str(best_qty + Decimal("0.001")), price=str(best_px))
    o = await history(rest, r["result"]["orderId"])
    assert (o["orderStatus"], o["cumExecQty"]) == ("Cancelled", "0.000")
    after = snapshot(ex)
    assert after[0] == before[0] and after[3] == before[3]  # no fill, no fee
    r = await rest.order(side="Buy", orderType="Limit", timeInForce="FOK", qty=str(best_qty), price=str(best_px))
    assert (await history(rest, r["result"]["orderId"]))["orderStatus"] == "Filled"


async def test_post_only_crossing_is_cancelled(ex, rest):
    _bids, asks = book(ex)
    r = await rest.order(side="Buy", orderType="Limit", timeInForce="PostOnly", qty="0.010", price=str(asks[0][0]))
    assert r["retCode"] == 0  # accepted, then cancelled by the engine, as on the exchange
    o = await history(rest, r["result"]["orderId"])
    assert (o["orderStatus"], o["rejectReason"]) == ("Cancelled", "EC_PostOnlyWillTakeLiquidity")
    assert (await position(rest))["size"] == "0.000"


async def test_market_order_walks_book_and_moves_position_and_wallet(ex, rest):
    usdt = await wallet(rest, "USDT")
    r = await rest.order(side="Buy", orderType="Market", qty="0.500")
    o = await history(rest, r["result"]["orderId"])
    assert (o["orderStatus"], o["timeInForce"], o["cumExecQty"]) == ("Filled", "IOC", "0.500")
    fills = (await rest.get("/v5/execution/list", {"category": "linear", "orderId": r["result"]["orderId"]}))["result"]["list"]
    fees = sum(Decimal(f["execFee"]) for f in fills)
    value = sum(Decimal(f["execValue"]) for f in fills)
    assert sum(Decimal(f["execQty"]) for f in fills) == Decimal("0.5")
    pos = await position(rest)
    assert pos["side"] == "Buy" and pos["size"] == "0.500"
    assert Decimal(pos["positionValue"]) == value
    assert await wallet(rest, "USDT") == usdt - fees
    # Close it: realised PnL lands in the wallet exactly.
    r2 = await rest.order(side="Sell", orderType="Market", qty="0.500", reduceOnly=True)
    fills2 = (await rest.get("/v5/execution/list", {"category": "linear", "orderId": r2["result"]["orderId"]}))["result"]["list"]
    value2 = sum(Decimal(f["execValue"]) for f in fills2)
    fees2 = sum(Decimal(f["execFee"]) for f in fills2)
    assert (await position(rest))["size"] == "0.000"
    assert await wallet(rest, "USDT") == usdt - fees - fees2 + (value2 - value)


async def test_spot_fills_move_coin_balances(ex, rest):
    usdt, btc = await wallet(rest, "USDT"), await wallet(rest, "BTC")
    _bids, asks = book(ex, "spot")
    r = await rest.order(category="spot", side="Buy", orderType="Limit", qty="0.01", price=str(asks[0][0]), timeInForce="IOC")
    o = await history(rest, r["result"]["orderId"], "spot")
    assert o["orderStatus"] in ("Filled", "PartiallyFilledCanceled")
    fills = (await rest.get("/v5/execution/list", {"category": "spot"}))["result"]["list"]
    got = sum(Decimal(f["execQty"]) for f in fills)
    fee = sum(Decimal(f["execFee"]) for f in fills)
    assert fills[0]["feeCurrency"] == "BTC"
    assert await wallet(rest, "BTC") == btc + got - fee
    assert await wallet(rest, "USDT") == usdt - sum(Decimal(f["execValue"]) for f in fills)


async def test_spot_market_buy_is_sized_in_quote(ex, rest):
    usdt = await wallet(rest, "USDT")
    r = await rest.order(category="spot", side="Buy", orderType="Market", qty="100")
    o = await history(rest, r["result"]["orderId"], "spot")
    assert o["marketUnit"] == "quoteCoin" and o["orderStatus"] == "Filled"
    spent = usdt - await wallet(rest, "USDT")
    assert Decimal("99") < spent <= Decimal("100")


async def test_inverse_position(ex, rest):
    btc = await wallet(rest, "BTC")
    r = await rest.order(category="inverse", symbol="BTCUSD", side="Sell", orderType="Market", qty="100")
    assert r["retCode"] == 0
    pos = await position(rest, "BTCUSD", "inverse")
    assert (pos["side"], pos["size"]) == ("Sell", "100")
    fills = (await rest.get("/v5/execution/list", {"category": "inverse"}))["result"]["list"]
    assert fills[0]["feeCurrency"] == "BTC"
    assert await wallet(rest, "BTC") == btc - sum(Decimal(f["execFee"]) for f in fills)


# ---- rejections leave state intact -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"side": "Buy", "orderType": "Limit", "qty": "0.0105", "price": "50000"}, 10001),  # lot step
        ({"side": "Buy", "orderType": "Limit", "qty": "0.010", "price": "50000.05"}, 10001),  # tick
        ({"side": "Buy", "orderType": "Limit", "qty": "0", "price": "50000"}, 10001),
        ({"side": "Buy", "orderType": "Limit", "qty": "5000", "price": "50000"}, 10001),  # max qty
        ({"side": "Buy", "orderType": "Limit", "qty": "abc", "price": "50000"}, 10001),
        ({"side": "Up", "orderType": "Limit", "qty": "0.01", "price": "50000"}, 10001),
        ({"side": "Buy", "orderType": "Stop", "qty": "0.01", "price": "50000"}, 10001),
        ({"side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "50000", "positionIdx": 1}, 10001),
        ({"side": "Buy", "orderType": "Limit", "qty": "0.001", "price": "1000.0"}, 110094),  # min notional
        ({"side": "Sell", "orderType": "Market", "qty": "0.01", "reduceOnly": True}, 110017),
        ({"side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "500000.0"}, 110003),  # price band
        ({"symbol": "NOPEUSDT", "side": "Buy", "orderType": "Market", "qty": "0.01"}, 10001),
        ({"category": "futures", "side": "Buy", "orderType": "Market", "qty": "0.01"}, 10001),
        ({"category": "spot", "side": "Buy", "orderType": "Limit", "qty": "0.000001", "price": "50000"}, 170136),
        ({"category": "spot", "side": "Buy", "orderType": "Limit", "qty": "0.0000011", "price": "50000"}, 170137),
        ({"category": "spot", "side": "Sell", "orderType": "Limit", "qty": "5", "price": "99000"}, 170131),
    ],
)
async def test_rejections_leave_state_untouched(ex, rest, params, code):
    before = snapshot(ex)
    r = await rest.order(**params)
    assert r["retCode"] == code, r
    assert r["result"] == {}
    assert snapshot(ex) == before


async def test_insufficient_balance_linear_110007(ex, rest):
    ex.exchange.set_balance(ex.uid, "USDT", "100")
    ex.exchange.set_balance(ex.uid, "USDC", "0")
    ex.exchange.set_balance(ex.uid, "BTC", "0")
    bids, _ = book(ex)
    r = await rest.order(side="Buy", orderType="Limit", qty="0.5", price=str(bids[0][0]))
    assert (r["retCode"], r["retMsg"]) == (110007, "ab not enough for new order")
    assert (await rest.order(side="Buy", orderType="Limit", qty="0.005", price=str(bids[0][0])))["retCode"] == 0


async def test_duplicate_order_link_id(ex, rest):
    bids, _ = book(ex)
    p = str(bids[2][0])
    assert (await rest.order(side="Buy", orderType="Limit", qty="0.01", price=p, orderLinkId="dup"))["retCode"] == 0
    r = await rest.order(side="Buy", orderType="Limit", qty="0.01", price=p, orderLinkId="dup")
    assert (r["retCode"], r["retMsg"]) == (110072, "OrderLinkedID is duplicate")
    sbids, _ = book(ex, "spot")
    sp = str(sbids[2][0])
    assert (await rest.order(category="spot", side="Buy", orderType="Limit", qty="0.01", price=sp, orderLinkId="dup"))["retCode"] == 0
    r = await rest.order(category="spot", side="Buy", orderType="Limit", qty="0.01", price=sp, orderLinkId="dup")
    assert r["retCode"] == 170141


async def test_reduce_only_is_trimmed_to_position(ex, rest):
    await rest.order(side="Buy", orderType="Market", qty="0.02")
    r = await rest.order(side="Sell", orderType="Market", qty="0.05", reduceOnly=True)
    o = await history(rest, r["result"]["orderId"])
    assert (o["qty"], o["cumExecQty"], o["reduceOnly"]) == ("0.020", "0.020", True)
    assert (await position(rest))["size"] == "0.000"


# ---- amend / cancel / cancel-all -----------------------------------------------------------------
async def test_amend_cancel_flow(ex, rest):
    bids, _ = book(ex)
    p1, p2 = bids[3][0], bids[4][0]
    r = await rest.order(side="Buy", orderType="Limit", qty="0.010", price=str(p1), orderLinkId="am-1")
    oid = r["result"]["orderId"]
    a = await rest.post("/v5/order/amend", {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "am-1", "qty": "0.020", "price": str(p2)})
    assert a["retCode"] == 0 and a["result"] == {"orderId": oid, "orderLinkId": "am-1"}
    (o,) = (await rest.get("/v5/order/realtime", {"category": "linear", "orderId": oid}))["result"]["list"]
    assert (o["qty"], o["price"]) == ("0.020", f"{p2:.1f}")
    same = await rest.post("/v5/order/amend", {"category": "linear", "symbol": "BTCUSDT", "orderId": oid, "qty": "0.020"})
    assert same["retCode"] == 10001
    bad = await rest.post("/v5/order/amend", {"category": "linear", "symbol": "BTCUSDT", "orderId": oid, "price": "1.05"})
    assert bad["retCode"] == 10001
    c = await rest.post("/v5/order/cancel", {"category": "linear", "symbol": "BTCUSDT", "orderId": oid})
    assert c["retCode"] == 0
    again = await rest.post("/v5/order/cancel", {"category": "linear", "symbol": "BTCUSDT", "orderId": oid})
    assert again["retCode"] == 110001
    missing = await rest.post("/v5/order/amend", {"category": "linear", "symbol": "BTCUSDT", "orderId": oid, "qty": "0.03"})
    assert missing["retCode"] == 110001
    o = await history(rest, oid)
    assert (o["orderStatus"], o["cancelType"]) == ("Cancelled", "CancelByUser")
    spot = await rest.post("/v5/order/cancel", {"category": "spot", "symbol": "BTCUSDT", "orderId": "123"})
    assert (spot["retCode"], spot["retMsg"]) == (170213, "Order does not exist.")


async def test_cancel_all(ex, rest):
    bids, _ = book(ex)
    ids = []
    for i in range(3):
        r = await rest.order(side="Buy", orderType="Limit", qty="0.01", price=str(bids[i][0]), orderLinkId=f"ca-{i}")
        ids.append(r["result"]["orderId"])
    sbids, _ = book(ex, "spot")
    await rest.order(category="spot", side="Buy", orderType="Limit", qty="0.01", price=str(sbids[1][0]))
    r = await rest.post("/v5/order/cancel-all", {"category": "linear", "symbol": "BTCUSDT"})
    assert r["result"]["success"] == "1"
    assert sorted(x["orderId"] for x in r["result"]["list"]) == sorted(ids)
    assert (await rest.get("/v5/order/realtime", {"category": "linear", "symbol": "BTCUSDT"}))["result"]["list"] == []
    assert len((await rest.get("/v5/order/realtime", {"category": "spot"}))["result"]["list"]) == 1


# ---- batches -------------------------------------------------------------------------------------
async def test_batch_create_amend_cancel_with_per_item_errors(ex, rest):
    bids, _ = book(ex)
    p = str(bids[2][0])
    req = [
        {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": p, "orderLinkId": "b-0"},
        {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.0105", "price": p, "orderLinkId": "b-1"},
        {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": p, "orderLinkId": "b-0"},
    ]
    r = await rest.post("/v5/order/create-batch", {"category": "linear", "request": req})
    assert r["retCode"] == 0
    codes = [i["code"] for i in r["retExtInfo"]["list"]]
    assert codes == [0, 10001, 110072]
    items = r["result"]["list"]
    assert [i["orderLinkId"] for i in items] == ["b-0", "b-1", "b-0"]
    assert items[0]["orderId"] and items[0]["createAt"] and items[1]["orderId"] == "" and items[1]["createAt"] == ""
    assert set(items[0]) == {"category", "symbol", "orderId", "orderLinkId", "createAt"}
    a = await rest.post(
        "/v5/order/amend-batch",
        {"category": "linear", "request": [{"symbol": "BTCUSDT", "orderLinkId": "b-0", "qty": "0.02"}, {"symbol": "BTCUSDT", "orderLinkId": "zz", "qty": "0.02"}]},
    )
    assert [i["code"] for i in a["retExtInfo"]["list"]] == [0, 110001]
    c = await rest.post(
        "/v5/order/cancel-batch",
        {"category": "linear", "request": [{"symbol": "BTCUSDT", "orderLinkId": "zz"}, {"symbol": "BTCUSDT", "orderLinkId": "b-0"}]},
    )
    assert [i["code"] for i in c["retExtInfo"]["list"]] == [110001, 0]
    assert c["result"]["list"][1]["orderId"] == items[0]["orderId"]


async def test_batch_size_limits(ex, rest):
    one = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "1.0"}
    r = await rest.post("/v5/order/create-batch", {"category": "linear", "request": [one] * 21})
    assert r["retCode"] == 10001
    r = await rest.post("/v5/order/create-batch", {"category": "spot", "request": [one] * 11})
    assert r["retCode"] == 10001
    assert snapshot(ex)[2] == []


# ---- account endpoints -----------------------------------------------------------------------------
async def test_leverage_mode_fee_rate_account_info(ex, rest):
    r = await rest.post("/v5/position/set-leverage", {"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "20", "sellLeverage": "20"})
    assert r["retCode"] == 0
    again = await rest.post("/v5/position/set-leverage", {"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "20", "sellLeverage": "20"})
    assert again["retCode"] == 110043
    assert (await position(rest))["leverage"] == "20"
    m = await rest.post("/v5/position/switch-mode", {"category": "linear", "symbol": "BTCUSDT", "mode": 0})
    assert m["retCode"] == 110025
    fee = await rest.get("/v5/account/fee-rate", {"category": "linear", "symbol": "BTCUSDT"})
    assert fee["result"]["list"] == [{"symbol": "BTCUSDT", "takerFeeRate": "0.00055", "makerFeeRate": "0.0002"}]
    info = await rest.get("/v5/account/info")
    assert info["result"]["marginMode"] == "REGULAR_MARGIN"
    w = await rest.get("/v5/account/wallet-balance", {"accountType": "CONTRACT"})
    assert w["retCode"] == 10001


async def test_open_order_pagination(ex, rest):
    bids, _ = book(ex)
    for i in range(5):
        await rest.order(side="Buy", orderType="Limit", qty="0.01", price=str(bids[0][0] - i))
    page1 = await rest.get("/v5/order/realtime", {"category": "linear", "limit": 3})
    assert len(page1["result"]["list"]) == 3 and page1["result"]["nextPageCursor"]
    page2 = await rest.get("/v5/order/realtime", {"category": "linear", "limit": 3, "cursor": page1["result"]["nextPageCursor"]})
    assert len(page2["result"]["list"]) == 2 and page2["result"]["nextPageCursor"] == ""
    ids = {o["orderId"] for o in page1["result"]["list"] + page2["result"]["list"]}
    assert len(ids) == 5
