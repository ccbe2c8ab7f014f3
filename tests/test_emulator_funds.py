"""Account, asset and position endpoints beyond trading: each one's effect on the exchange state, the
consistency between the endpoints that change state and those that list it, and the result schema
of every route (dedicated handlers and the schemas.py templates)."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
from _emulator_helpers import emulator_fixture, rest_fixture, signed_headers

from bybitfast.emulator.common import ApiError, RequestContext
from bybitfast.emulator.routes import ROUTES
from bybitfast.emulator.schemas import RESULTS
from bybitfast.emulator.trading_rest import generic_handler

ex = emulator_fixture(market_interval=0, rate_limits=False)
rest = rest_fixture()


def ok(body):
    assert body["retCode"] == 0, body
    return body["result"]


async def position(rest, symbol="BTCUSDT"):
    return ok(await rest.get("/v5/position/list", {"category": "linear", "symbol": symbol}))["list"][0]


async def coin(rest, name):
    (c,) = ok(await rest.get("/v5/account/wallet-balance", {"accountType": "UNIFIED", "coin": name}))["list"][0]["coin"]
    return c


async def open_long(rest, qty="0.010"):
    ok(await rest.order(side="Buy", orderType="Market", qty=qty))


def fund(ex, coin_name, amount):
    ex.exchange.accounts[ex.uid].funding[coin_name] = Decimal(amount)


# ---- position ------------------------------------------------------------------------------------
async def test_add_margin_moves_position_balance_and_available(ex, rest):
    no_pos = await rest.post("/v5/position/add-margin", {"category": "linear", "symbol": "BTCUSDT", "margin": "10"})
    assert no_pos["retCode"] == 110033
    await open_long(rest)
    before = await position(rest)
    avail = Decimal((await coin(rest, "USDT"))["availableToWithdraw"])
    res = ok(await rest.post("/v5/position/add-margin", {"category": "linear", "symbol": "BTCUSDT", "margin": "25"}))
    assert res["category"] == "linear" and res["symbol"] == "BTCUSDT"
    assert Decimal(res["positionIM"]) == Decimal(before["positionIM"]) + 25
    after = await position(rest)
    assert Decimal(after["positionBalance"]) == Decimal(before["positionBalance"]) + 25
    assert Decimal((await coin(rest, "USDT"))["availableToWithdraw"]) == avail - 25
    # Taking back more than was added is refused and changes nothing; taking back some is fine.
    assert (await rest.post("/v5/position/add-margin", {"category": "linear", "symbol": "BTCUSDT", "margin": "-30"}))["retCode"] == 110044
    ok(await rest.post("/v5/position/add-margin", {"category": "linear", "symbol": "BTCUSDT", "margin": "-5"}))
    assert Decimal((await position(rest))["positionBalance"]) == Decimal(before["positionBalance"]) + 20
    missing = await rest.post("/v5/position/add-margin", {"category": "linear", "symbol": "BTCUSDT"})
    assert missing["retCode"] == 10001


async def test_set_risk_limit_matches_market_tiers_and_position_list(ex, rest):
    tiers = ok(await rest.get("/v5/market/risk-limit", {"category": "linear", "symbol": "ETHUSDT"}))["list"]
    assert (await position(rest, "ETHUSDT"))["riskId"] == tiers[0]["id"]
    res = ok(await rest.post("/v5/position/set-risk-limit", {"category": "linear", "symbol": "ETHUSDT", "riskId": tiers[2]["id"]}))
    assert res == {"category": "linear", "riskId": tiers[2]["id"], "riskLimitValue": tiers[2]["riskLimitValue"]}
    pos = await position(rest, "ETHUSDT")
    assert (pos["riskId"], pos["riskLimitValue"]) == (tiers[2]["id"], tiers[2]["riskLimitValue"])
    again = await rest.post("/v5/position/set-risk-limit", {"category": "linear", "symbol": "ETHUSDT", "riskId": tiers[2]["id"]})
    assert again["retCode"] == 110075
    wrong = await rest.post("/v5/position/set-risk-limit", {"category": "linear", "symbol": "ETHUSDT", "riskId": len(tiers) + 1})
    assert wrong["retCode"] == 110031


async def test_position_switches_show_in_position_list(ex, rest):
    sym = {"category": "linear", "symbol": "BTCUSDT"}
    assert (await rest.post("/v5/position/set-auto-add-margin", {**sym, "autoAddMargin": 1}))["retCode"] == 110076
    ok(await rest.post("/v5/position/switch-isolated", {**sym, "tradeMode": 1, "buyLeverage": "5", "sellLeverage": "5"}))
    ok(await rest.post("/v5/position/set-auto-add-margin", {**sym, "autoAddMargin": 1}))
    assert ok(await rest.post("/v5/position/set-tpsl-mode", {**sym, "tpSlMode": "Partial"})) == {"tpSlMode": "Partial"}
    pos = await position(rest)
    assert (pos["tradeMode"], pos["leverage"], pos["autoAddMargin"], pos["tpslMode"]) == (1, "5", 1, "Partial")
    info = ok(await rest.get("/v5/position/symbol-info", sym))
    assert info == {"category": "linear", "list": [{"symbol": "BTCUSDT", "leverage": "5", "side": "", "positionIdx": 0}]}
    assert (await rest.post("/v5/position/switch-isolated", {**sym, "tradeMode": 1, "buyLeverage": "5", "sellLeverage": "5"}))["retCode"] == 110026


async def test_closed_positions_and_move_positions(ex, rest):
    await open_long(rest)
    ok(await rest.order(side="Sell", orderType="Market", qty="0.010"))
    res = ok(await rest.get("/v5/position/get-closed-positions", {"category": "linear"}))
    (row,) = res["list"]
    assert (row["symbol"], row["side"], row["qty"]) == ("BTCUSDT", "Buy", "0.010")
    assert set(row) == {"symbol", "side", "totalOpenFee", "deliveryFee", "totalCloseFee", "qty", "closeTime", "avgExitPrice",
                        "deliveryPrice", "openTime", "avgEntryPrice", "totalPnl"}
    # Move half of a new long to a second account: both sides hold it, both list the block trade.
    await open_long(rest, "0.020")
    other = ex.exchange.create_account().uid
    price = (await position(rest))["avgPrice"]
    item = {"category": "linear", "symbol": "BTCUSDT", "price": price, "side": "Buy", "qty": "0.010"}
    bad = await rest.post("/v5/position/move-positions", {"fromUid": ex.uid, "toUid": other, "list": [{**item, "qty": "1"}]})
    assert bad["retCode"] == 10001 and (await position(rest))["size"] == "0.020"
    moved = ok(await rest.post("/v5/position/move-positions", {"fromUid": ex.uid, "toUid": other, "list": [item]}))
    assert (await position(rest))["size"] == "0.010"
    assert ex.exchange.accounts[other].positions[("linear", "BTCUSDT")].size == Decimal("0.010")
    hist = ok(await rest.get("/v5/position/move-history", {"blockTradeId": moved["blockTradeId"]}))["list"]
    assert [(h["side"], h["qty"]) for h in hist] == [("Buy", "0.010")]


async def test_pre_check_reports_margin_rates_without_placing(ex, rest):
    res = ok(await rest.post("/v5/order/pre-check", {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.1"}))
    assert set(res) == {"orderId", "orderLinkId", "preImrE4", "preMmrE4", "postImrE4", "postMmrE4"}
    assert res["preImrE4"] == 0 and res["postImrE4"] > 0 and res["postMmrE4"] > 0
    assert not ex.exchange.accounts[ex.uid].orders
    bad = await rest.post("/v5/order/pre-check", {"category": "linear", "symbol": "BTCUSDT", "side": "Up", "orderType": "Market", "qty": "0.1"})
    assert bad["retCode"] == 10001


# ---- account ---------------------------------------------------------------------------------------
async def test_borrow_then_repay_moves_balances_and_history(ex, rest):
    usdc = Decimal((await coin(rest, "USDC"))["walletBalance"])
    assert (await rest.post("/v5/account/repay", {}))["retCode"] != 0  # nothing owed
    assert ok(await rest.post("/v5/account/borrow", {"coin": "USDC", "amount": "100"})) == {"coin": "USDC", "amount": "100"}
    c = await coin(rest, "USDC")
    assert (Decimal(c["walletBalance"]), c["borrowAmount"]) == (usdc + 100, "100")
    (h,) = ok(await rest.get("/v5/account/borrow-history", {"currency": "USDC"}))["list"]
    assert h["borrowAmount"] == "100"
    collateral = {i["currency"]: i for i in ok(await rest.get("/v5/account/collateral-info"))["list"]}
    assert collateral["USDC"]["borrowAmount"] == "100"
    ok(await rest.post("/v5/account/no-convert-repay", {"coin": "USDC", "amount": "40"}))
    assert (await coin(rest, "USDC"))["borrowAmount"] == "60"
    assert ok(await rest.post("/v5/account/quick-repayment", {})) == {"list": [{"coin": "USDC", "repaymentQty": "60"}]}
    c = await coin(rest, "USDC")
    assert (Decimal(c["walletBalance"]), c["borrowAmount"]) == (usdc, "0")


async def test_account_switches_are_read_back(ex, rest):
    ok(await rest.post("/v5/account/set-collateral-switch", {"coin": "BTC", "collateralSwitch": "OFF"}))
    assert (await coin(rest, "BTC"))["collateralSwitch"] is False
    res = ok(await rest.post("/v5/account/set-collateral-switch-batch", {"request": [{"coin": "BTC", "collateralSwitch": "ON"}]}))
    assert res == {"list": [{"coin": "BTC", "collateralSwitch": "ON"}]}
    assert (await coin(rest, "BTC"))["collateralSwitch"] is True
    ok(await rest.post("/v5/account/set-hedging-mode", {"setHedgingMode": "ON"}))
    assert ok(await rest.get("/v5/account/info"))["spotHedgingStatus"] == "ON"
    ok(await rest.post("/v5/account/set-limit-px-action", {"category": "spot", "modifyEnable": True}))
    ok(await rest.post("/v5/account/set-delta-mode", {"deltaEnable": "1"}))
    cfg = ok(await rest.get("/v5/account/user-setting-config"))
    assert (cfg["lpaSpot"], cfg["lpaPerp"], cfg["deltaEnable"]) == (True, False, True)
    assert (await rest.post("/v5/account/mmp-reset", {"baseCoin": "BTC"}))["retCode"] == 110065
    mmp = {"baseCoin": "BTC", "window": "5000", "frozenPeriod": "100000", "qtyLimit": "10", "deltaLimit": "100"}
    ok(await rest.post("/v5/account/mmp-modify", mmp))
    (state,) = ok(await rest.get("/v5/account/mmp-state", {"baseCoin": "BTC"}))["result"]
    assert (state["mmpEnabled"], state["window"], state["qtyLimit"]) == (True, "5000", "10")
    withdrawable = ok(await rest.get("/v5/account/withdrawal", {"coinName": "USDT"}))
    assert withdrawable["availableWithdrawal"] == (await coin(rest, "USDT"))["availableToWithdraw"]


async def test_trade_reports_follow_executions(ex, rest):
    await open_long(rest)
    log = ok(await rest.get("/v5/account/contract-transaction-log"))["list"]
    fills = ok(await rest.get("/v5/execution/list", {"category": "linear"}))["list"]
    assert [r["tradeId"] for r in log] == [f["execId"] for f in fills]
    stats = ok(await rest.get("/v5/account/trade-info-for-analysis", {"symbol": "BTCUSDT"}))
    assert stats["sumBuyExecQty"] == "0.01" and stats["sumSellExecQty"] == "0" and stats["settleCoin"] == "USDT"


# ---- asset -------------------------------------------------------------------------------------------
async def test_withdrawal_recorded_listed_confirmed_and_cancellable(ex, rest):
    fund(ex, "USDT", "500")
    body = {"coin": "USDT", "chain": "TRX", "address": "TXYZ", "amount": "100", "timestamp": 1}
    wid = ok(await rest.post("/v5/asset/withdraw/create", body))["id"]
    acct = ex.exchange.accounts[ex.uid]
    assert acct.funding["USDT"] == Decimal(399)  # amount + the TRC20 fee of 1
    (row,) = ok(await rest.get("/v5/asset/withdraw/query-record", {"withdrawID": wid}))["rows"]
    assert (row["status"], row["amount"], row["withdrawFee"], row["toAddress"]) == ("Pending", "100", "1", "TXYZ")
    assert set(row) == {"withdrawId", "txID", "withdrawType", "coin", "chain", "amount", "withdrawFee", "status", "toAddress", "tag",
                        "createTime", "updateTime"}
    history = ok(await rest.get("/v5/asset/fundinghistory", {"currency": "USDT"}))["list"]
    assert history[0]["ioDirection"] == "OUT" and history[0]["afterAmt"] == "399"
    ex.market.step()  # the next market step sends it
    (row,) = ok(await rest.get("/v5/asset/withdraw/query-record", {"withdrawID": wid}))["rows"]
    assert row["status"] == "success" and row["txID"].startswith("0x")
    assert ok(await rest.post("/v5/asset/withdraw/cancel", {"id": wid})) == {"status": 0}  # too late
    wid2 = ok(await rest.post("/v5/asset/withdraw/create", body))["id"]
    assert ok(await rest.post("/v5/asset/withdraw/cancel", {"id": wid2})) == {"status": 1}
    assert acct.funding["USDT"] == Decimal(399)
    too_much = await rest.post("/v5/asset/withdraw/create", {**body, "amount": "1000"})
    assert too_much["retCode"] == 131212 and acct.funding["USDT"] == Decimal(399)
    (addr,) = ok(await rest.get("/v5/asset/withdraw/query-address", {"coin": "USDT"}))["rows"]
    assert (addr["address"], addr["chain"]) == ("TXYZ", "TRX")
    assert (await rest.post("/v5/asset/withdraw/create", {"coin": "USDT"}))["retCode"] == 10001


async def test_convert_quote_executes_and_is_listed(ex, rest):
    acct = ex.exchange.accounts[ex.uid]
    usdt, btc = acct.balances["USDT"], acct.balances["BTC"]
    quote = ok(await rest.post("/v5/asset/exchange/quote-apply", {"fromCoin": "USDT", "toCoin": "BTC", "requestCoin": "USDT",
                                                                 "requestAmount": "1000", "accountType": "eb_convert_uta"}))
    assert quote["fromAmount"] == "1000" and Decimal(quote["toAmount"]) > 0
    assert acct.balances["USDT"] == usdt  # a quote moves nothing
    res = ok(await rest.post("/v5/asset/exchange/convert-execute", {"quoteTxId": quote["quoteTxId"]}))
    assert res["quoteTxId"] == quote["quoteTxId"]
    assert acct.balances["USDT"] == usdt - 1000 and acct.balances["BTC"] == btc + Decimal(quote["toAmount"])
    again = await rest.post("/v5/asset/exchange/convert-execute", {"quoteTxId": quote["quoteTxId"]})
    assert again["retCode"] != 0 and acct.balances["USDT"] == usdt - 1000
    result = ok(await rest.get("/v5/asset/exchange/convert-result-query", {"quoteTxId": quote["quoteTxId"], "accountType": "eb_convert_uta"}))
    assert result["result"]["exchangeStatus"] == "success" and result["result"]["toAmount"] == quote["toAmount"]
    (h,) = ok(await rest.get("/v5/asset/exchange/query-convert-history"))["list"]
    assert h["exchangeTxId"] == quote["quoteTxId"]
    (rec,) = ok(await rest.get("/v5/asset/exchange/order-record"))["orderBody"]
    assert (rec["fromCoin"], rec["toCoin"], rec["toAmount"]) == ("USDT", "BTC", quote["toAmount"])


async def test_universal_transfer_between_accounts(ex, rest):
    other = ex.exchange.create_account().uid
    body = {"transferId": "u-1", "coin": "USDT", "amount": "50", "fromMemberId": int(ex.uid), "toMemberId": int(other),
            "fromAccountType": "UNIFIED", "toAccountType": "FUND"}
    assert ok(await rest.post("/v5/asset/transfer/universal-transfer", body)) == {"transferId": "u-1", "status": "SUCCESS"}
    assert ex.exchange.accounts[other].funding["USDT"] == 50
    assert (await rest.post("/v5/asset/transfer/universal-transfer", body))["retCode"] == 131214
    (row,) = ok(await rest.get("/v5/asset/transfer/query-universal-transfer-list", {"coin": "USDT"}))["list"]
    assert (row["fromMemberId"], row["toMemberId"], row["amount"]) == (ex.uid, other, "50")
    assert ex.exchange.accounts[other].internal_deposits[0]["amount"] == "50"


async def test_overviews_agree_with_wallets(ex, rest):
    fund(ex, "USDC", "7")
    ov = ok(await rest.get("/v5/asset/asset-overview"))
    wallet = ok(await rest.get("/v5/account/wallet-balance", {"accountType": "UNIFIED"}))["list"][0]
    types = {a["accountType"]: a for a in ov["list"]}
    assert types["UNIFIED"]["totalEquity"] == wallet["totalEquity"] and types["FUND"]["totalEquity"] == "7"
    small = ok(await rest.get("/v5/asset/covert/small-balance-list", {"accountType": "eb_convert_funding"}))
    assert [c["fromCoin"] for c in small["smallAssetCoins"]] == ["USDC"]
    pm = ok(await rest.get("/v5/asset/portfolio-margin"))
    assert pm["wallet"]["equity"] == wallet["totalEquity"]


# ---- schema of every route ---------------------------------------------------------------------------
LIST_RESULTS = {("GET", "/v5/market/historical-volatility")}  # the docs' result is a bare array


async def test_every_route_result_is_an_object_and_templates_match(ex):
    """Called in-process (fast): every route with empty parameters answers a dict result or a
    parameter error; every templated route answers exactly its template's keys."""
    answered = 0
    for verb, path, auth, _group in ROUTES:
        handler = ex.handlers.get((verb, path)) or generic_handler(verb, path)
        ctx = RequestContext(verb, path, {}, uid=ex.uid if auth == "private" else None, api_key=ex.api_key, headers={})
        try:
            result = await handler(ex, ctx)
        except ApiError as err:
            assert err.code != 10003, path
            continue
        if isinstance(result, tuple):
            result = result[0]
        if (verb, path) in LIST_RESULTS:
            assert isinstance(result, list), path
            continue
        assert isinstance(result, dict), (verb, path, result)
        template = RESULTS.get((verb, path))
        if template is not None:
            assert (verb, path) not in ex.handlers
            assert result == template and result is not template
        answered += 1
    assert answered > 300


async def test_generic_object_results_keep_their_fields(ex):
    """Object-shaped results of untouched groups answer their documented fields, not a list placeholder."""
    assert all(isinstance(t, dict) for t in RESULTS.values())
    cases = {
        ("GET", "/v5/spot-margin-trade/state"): {"spotLeverage", "spotMarginMode", "effectiveLeverage"},
        ("GET", "/v5/user/query-sub-members"): {"subMembers"},
        ("GET", "/v5/spread/orderbook"): {"s", "b", "a", "u", "ts", "seq", "cts"},
    }
    for (verb, path), keys in cases.items():
        result = await generic_handler(verb, path)(ex, RequestContext(verb, path, {}, uid=ex.uid, api_key="", headers={}))
        assert set(result) == keys, path
    # Routes without a template keep the old shapes.
    assert await generic_handler("GET", "/v5/no/template")(ex, None) == {"list": [], "nextPageCursor": ""}
    assert await generic_handler("POST", "/v5/no/template")(ex, None) == {}


async def test_required_parameters_answer_10001_over_http(ex):
    async with aiohttp.ClientSession() as http:
        for path in ("/v5/asset/withdraw/create", "/v5/asset/exchange/quote-apply", "/v5/position/set-risk-limit", "/v5/account/borrow"):
            async with http.post(ex.rest_url + path, data=b"{}", headers=signed_headers("{}")) as resp:
                body = await resp.json()
            assert body["retCode"] == 10001 and body["result"] == {}, (path, body)
