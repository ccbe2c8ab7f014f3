"""Emulator answers that third-party clients (ccxt above all) rely on, checked without the client:
coin info with chains, deposit addresses, fee rates without a category, the FUND wallet and
inter-transfers (state, error codes, state intact on error), the public VIP margin table, and the
private wallet push after a transfer.
"""

from __future__ import annotations

from _emulator_helpers import Rest, emulator_fixture, recv_until, rest_fixture, ws_auth_args



ex = emulator_fixture(market_interval=0, rate_limits=False)
rest = rest_fixture()


CHAIN_FIELDS = {
    "chainType", "confirmation", "withdrawFee", "depositMin", "withdrawMin", "chain", "chainDeposit",
    "chainWithdraw", "minAccuracy", "withdrawPercentageFee", "contractAddress", "safeConfirmNumber",
}


async def test_coin_info_lists_every_traded_coin_with_chains(ex, rest):
    body = await rest.get("/v5/asset/coin/query-info")
    assert body["retCode"] == 0
    rows = {r["coin"]: r for r in body["result"]["rows"]}
    traded = {i[k] for c in ex.market.categories for i in ex.market.instruments(c) for k in ("baseCoin", "quoteCoin")} - {"USD"}
    assert traded <= set(rows) and "USD" not in rows
    for coin, row in rows.items():
        assert row["name"] == coin and row["chains"], coin
        for chain in row["chains"]:
            assert set(chain) == CHAIN_FIELDS and chain["chainDeposit"] == "1" and chain["chainWithdraw"] == "1"
    one = await rest.get("/v5/asset/coin/query-info", {"coin": "ETH"})
    assert [r["coin"] for r in one["result"]["rows"]] == ["ETH"]
    none = await rest.get("/v5/asset/coin/query-info", {"coin": "NOPE"})
    assert none["retCode"] == 0 and none["result"]["rows"] == []


async def test_deposit_address_per_chain_and_stable(ex, rest):
    body = await rest.get("/v5/asset/deposit/query-address", {"coin": "USDT"})
    assert body["retCode"] == 0 and body["result"]["coin"] == "USDT"
    chains = {c["chain"]: c for c in body["result"]["chains"]}
    coin_chains = (await rest.get("/v5/asset/coin/query-info", {"coin": "USDT"}))["result"]["rows"][0]["chains"]
    assert set(chains) == {c["chain"] for c in coin_chains}  # the chains coin-info lists
    eth = chains["ETH"]
    assert set(eth) == {"chainType", "addressDeposit", "tagDeposit", "chain", "batchReleaseLimit", "contractAddress"}
    assert eth["addressDeposit"].startswith("0x") and len(eth["addressDeposit"]) == 42
    assert len(eth["contractAddress"]) == 6  # only the last 6 characters are shown
    again = await rest.get("/v5/asset/deposit/query-address", {"coin": "USDT", "chainType": "ETH"})
    assert again["result"]["chains"] == [eth]
    ex.add_api_key("OTHERKEY", "other-secret")
    other = Rest(rest.session, ex.rest_url, "OTHERKEY", "other-secret")
    theirs = await other.get("/v5/asset/deposit/query-address", {"coin": "USDT", "chainType": "ETH"})
    assert theirs["result"]["chains"][0]["addressDeposit"] != eth["addressDeposit"]  # per account
    missing = await rest.get("/v5/asset/deposit/query-address", {})
    assert missing["retCode"] == 10001


async def test_fee_rate_default_category_and_shapes(rest):
    linear = await rest.get("/v5/account/fee-rate")  # no category: linear, as the docs' own example
    assert linear["retCode"] == 0 and "category" not in linear["result"]
    assert {i["symbol"] for i in linear["result"]["list"]} >= {"BTCUSDT"}
    assert linear["result"]["list"][0] == {"symbol": linear["result"]["list"][0]["symbol"], "takerFeeRate": "0.00055", "makerFeeRate": "0.0002"}
    spot = await rest.get("/v5/account/fee-rate", {"category": "spot", "symbol": "BTCUSDT"})
    assert spot["result"] == {"category": "spot", "list": [{"symbol": "BTCUSDT", "takerFeeRate": "0.001", "makerFeeRate": "0.001"}]}
    option = await rest.get("/v5/account/fee-rate", {"category": "option", "baseCoin": "BTC"})
    assert option["result"]["category"] == "option"
    assert option["result"]["list"] == [{"symbol": "", "baseCoin": "BTC", "takerFeeRate": "0.0003", "makerFeeRate": "0.0003"}]
    bad = await rest.get("/v5/account/fee-rate", {"category": "futures"})
    assert bad["retCode"] == 10001


async def _balances(rest, account_type):
    body = await rest.get("/v5/asset/transfer/query-account-coins-balance", {"accountType": account_type})
    assert body["retCode"] == 0
    return {b["coin"]: b["walletBalance"] for b in body["result"]["balance"]}


async def test_inter_transfer_moves_money_and_errors_leave_state_intact(ex, rest):
    assert await _balances(rest, "FUND") == {}
    body = {"transferId": "t-1", "coin": "USDT", "amount": "1500.5", "fromAccountType": "UNIFIED", "toAccountType": "FUND"}
    ok = await rest.post("/v5/asset/transfer/inter-transfer", body)
    assert ok["retCode"] == 0 and ok["result"] == {"transferId": "t-1", "status": "SUCCESS"}
    assert (await _balances(rest, "FUND")) == {"USDT": "1500.5"}
    assert (await _balances(rest, "UNIFIED"))["USDT"] == "98499.5"
    one = await rest.get("/v5/asset/transfer/query-account-coin-balance", {"accountType": "FUND", "coin": "USDT"})
    assert one["result"]["balance"]["transferBalance"] == "1500.5"

    errors = [
        ({**body, "transferId": "t-1"}, 131214),  # transferId exists
        ({**body, "transferId": "t-2", "toAccountType": "UNIFIED"}, 131211),  # same account type
        ({**body, "transferId": "t-3", "fromAccountType": "FUND", "toAccountType": "UNIFIED", "amount": "1500.6"}, 131212),
        ({**body, "transferId": "t-4", "amount": "-1"}, 131215),
        ({**body, "transferId": "t-5", "amount": "abc"}, 131215),
        ({**body, "transferId": "t-6", "amount": "0.000000001"}, 131210),
        ({**body, "transferId": "t-7", "toAccountType": "SPOT"}, 131203),  # a UTA has no SPOT wallet
        ({k: v for k, v in body.items() if k != "coin"}, 10001),
    ]
    for request, code in errors:
        reply = await rest.post("/v5/asset/transfer/inter-transfer", request)
        assert reply["retCode"] == code, (request, reply)
    assert (await _balances(rest, "FUND")) == {"USDT": "1500.5"}
    assert (await _balances(rest, "UNIFIED"))["USDT"] == "98499.5"

    back = {"transferId": "t-8", "coin": "USDT", "amount": "500", "fromAccountType": "FUND", "toAccountType": "UNIFIED"}
    assert (await rest.post("/v5/asset/transfer/inter-transfer", back))["retCode"] == 0
    records = (await rest.get("/v5/asset/transfer/query-inter-transfer-list", {"coin": "USDT"}))["result"]
    assert [(r["transferId"], r["amount"], r["fromAccountType"], r["toAccountType"], r["status"]) for r in records["list"]] == [
        ("t-8", "500", "FUND", "UNIFIED", "SUCCESS"),
        ("t-1", "1500.5", "UNIFIED", "FUND", "SUCCESS"),
    ]
    page = (await rest.get("/v5/asset/transfer/query-inter-transfer-list", {"limit": "1"}))["result"]
    assert [r["transferId"] for r in page["list"]] == ["t-8"] and page["nextPageCursor"]
    nxt = (await rest.get("/v5/asset/transfer/query-inter-transfer-list", {"limit": "1", "cursor": page["nextPageCursor"]}))["result"]
    assert [r["transferId"] for r in nxt["list"]] == ["t-1"] and nxt["nextPageCursor"] == ""


async def test_transfer_cannot_take_margin_in_use(ex, rest):
    order = await rest.order(side="Buy", orderType="Market", qty="1")  # ~10,000 USDT initial margin at 10x
    assert order["retCode"] == 0
    wallet = (await rest.get("/v5/account/wallet-balance", {"accountType": "UNIFIED", "coin": "USDT"}))["result"]["list"][0]["coin"][0]
    free = float(wallet["availableToWithdraw"])
    listed = (await rest.get("/v5/asset/transfer/query-account-coin-balance", {"accountType": "UNIFIED", "coin": "USDT"}))["result"]
    assert float(listed["balance"]["transferBalance"]) == free < 100000 - 9000
    too_much = {"transferId": "m-1", "coin": "USDT", "amount": str(int(free) + 1), "fromAccountType": "UNIFIED", "toAccountType": "FUND"}
    assert (await rest.post("/v5/asset/transfer/inter-transfer", too_much))["retCode"] == 131212
    fits = {**too_much, "transferId": "m-2", "amount": str(int(free) - 1)}
    assert (await rest.post("/v5/asset/transfer/inter-transfer", fits))["retCode"] == 0


async def test_transfer_pushes_wallet(ex, rest):
    async with rest.session.ws_connect(ex.ws_url + "/v5/private") as ws:
        await ws.send_json({"op": "auth", "args": ws_auth_args()})
        await recv_until(ws, lambda f: f.get("op") == "auth")
        await ws.send_json({"op": "subscribe", "args": ["wallet"]})
        await recv_until(ws, lambda f: f.get("op") == "subscribe")
        body = {"transferId": "w-1", "coin": "USDC", "amount": "1000", "fromAccountType": "UNIFIED", "toAccountType": "FUND"}
        assert (await rest.post("/v5/asset/transfer/inter-transfer", body))["retCode"] == 0
        push = await recv_until(ws, lambda f: f.get("topic") == "wallet")
        usdc = next(c for c in push["data"][0]["coin"] if c["coin"] == "USDC")
        assert usdc["walletBalance"] == "49000"


async def test_vip_margin_data_is_public_and_shaped(ex, rest):
    body = await rest.get("/v5/spot-margin-trade/data", {"vipLevel": "No VIP", "currency": "BTC"}, signed=False)
    assert body["retCode"] == 0
    (tier,) = body["result"]["vipCoinList"]
    assert tier["vipLevel"] == "No VIP"
    (item,) = tier["list"]
    assert set(item) == {"borrowable", "collateralRatio", "currency", "hourlyBorrowRate", "liquidationOrder", "marginCollateral", "maxBorrowingAmount"}
    assert item["currency"] == "BTC" and item["borrowable"] is True
    everything = await rest.get("/v5/spot-margin-trade/data", signed=False)
    assert {i["currency"] for i in everything["result"]["vipCoinList"][0]["list"]} >= {"BTC", "ETH", "USDT", "USDC"}


async def test_conditional_and_tpsl_orders_are_refused_not_traded(ex, rest):
    """A stop order placed as a plain one would fill at once: the emulator refuses it, state intact."""
    for extra in ({"triggerPrice": "95000", "triggerDirection": 1}, {"takeProfit": "200000"}, {"stopLoss": "1000"}, {"orderFilter": "StopOrder"}):
        reply = await rest.order(side="Buy", orderType="Market", qty="0.01", **extra)
        assert reply["retCode"] == 10001 and "not supported by the emulator" in reply["retMsg"], extra
    assert ex.exchange.account(ex.uid).orders == {}
    plain = await rest.order(side="Buy", orderType="Limit", qty="0.01", price="50000", takeProfit="0", stopLoss="")  # "none"
    assert plain["retCode"] == 0
    amend = await rest.post("/v5/order/amend", {"category": "linear", "symbol": "BTCUSDT", "orderId": plain["result"]["orderId"], "stopLoss": "40000"})
    assert amend["retCode"] == 10001
