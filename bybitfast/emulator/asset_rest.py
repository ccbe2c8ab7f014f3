"""REST account and asset handlers beyond trading: borrowing and repayment, withdrawals, convert,
universal transfers, collateral / MMP / account switches, overviews. All of it moves or reads the
exchange state (:class:`~bybitfast.emulator.exchange.Account`), so what one endpoint changes the
others list. Out of the emulator's reach (a blockchain, a fiat desk, sub-accounts) is answered with
deterministic state instead: a withdrawal is recorded as ``Pending`` with its coins taken at once and
confirms on the next market step; a convert quote is priced from the emulator's own market and,
executed, moves the balances. Response layouts follow the V5 docs field for field.
"""

from __future__ import annotations

import hashlib
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

from .common import ApiError, RequestContext, now_ms
from .exchange import ZERO, Account, _dec, _Events, _page, fmt
from .trading_rest import _CHAINS, _chains, _time_range, _uid, deposit_address_of, known_coins, route

if TYPE_CHECKING:
    from .server import Emulator

QUOTE_TTL_MS = 15_000  # convert quotes expire after 15 s, as on the exchange
CONVERT_SPREAD = Decimal("0.001")  # the convert desk's margin over the market price
SMALL_BALANCE_USD = Decimal(10)
VASPS = (("s3b58d4b7bb6e4d0b8fbb8a28a5bc86b4", "Binance"), ("s0f4f64f3de2b4d7d9a3e1fd07c6c4d9d", "Coinbase"))
FIATS = ("EUR", "GBP", "USD")
_WALLET_OF = {"eb_convert_funding": "FUND", "eb_convert_uta": "UNIFIED"}


def _acct(ex: Emulator, ctx: RequestContext) -> Account:
    return ex.exchange.account(_uid(ctx))


def _required(p: dict[str, Any], *names: str) -> None:
    for name in names:
        if p.get(name) in (None, ""):
            raise ApiError(10001, f"params error: {name} is required")


def _wallet(acct: Account, account_type: str) -> dict[str, Decimal]:
    return acct.funding if account_type == "FUND" else acct.balances


def _push_wallet(ex: Emulator, acct: Account) -> None:
    exch = ex.exchange
    if exch.listeners:
        events = _Events()
        events.add("wallet", "", exch.wallet_view(acct))
        exch._publish(acct.uid, events)  # noqa: SLF001


def _fund_change(acct: Account, coin: str, amount: Decimal, kind: str) -> None:
    """Move the FUND wallet and keep its history (/v5/asset/fundinghistory)."""
    after = acct.funding.get(coin, ZERO) + amount
    acct.funding[coin] = after
    acct.fund_log.append(
        {
            "memberId": acct.uid, "currency": coin, "ioDirection": "IN" if amount >= 0 else "OUT", "txnAmt": fmt(abs(amount)),
            "afterAmt": fmt(after), "createTime": str(now_ms()), "showBusiType": kind, "showBusiTypeEn": kind,
            "description": kind, "descriptionEn": kind, "currcCursor": str(len(acct.fund_log) + 1),
        }
    )


def _positive(p: dict[str, Any], name: str, code: int = 10001) -> Decimal:
    value = _dec(p, name, code, f"params error: {name} invalid")
    assert value is not None
    if value <= 0:
        raise ApiError(code, f"params error: {name} invalid")
    return value


# ---- borrowing -----------------------------------------------------------------------------------
@route("POST", "/v5/account/borrow")
async def borrow(ex: Emulator, ctx: RequestContext) -> Any:
    """Borrow ``amount`` of ``coin`` into the UNIFIED wallet; shown as the coin's borrowAmount."""
    acct = _acct(ex, ctx)
    _required(ctx.params, "coin", "amount")
    coin = ctx.params["coin"]
    if coin not in known_coins(ex, acct.uid):
        raise ApiError(10001, "params error: coin invalid")
    amount = _positive(ctx.params, "amount")
    acct.balances[coin] = acct.balances.get(coin, ZERO) + amount
    acct.borrowed[coin] = acct.borrowed.get(coin, ZERO) + amount
    acct.borrow_log.append({"currency": coin, "createdTime": now_ms(), "amount": amount})
    _push_wallet(ex, acct)
    return {"coin": coin, "amount": fmt(amount)}


def _repay(ex: Emulator, acct: Account, coin: str, amount: Decimal | None) -> Decimal:
    """Repay a liability from the coin's own balance (no conversion); returns what was repaid."""
    owed = acct.borrowed.get(coin, ZERO)
    pay = min(owed, max(acct.balances.get(coin, ZERO), ZERO), owed if amount is None else amount)
    if pay <= 0:
        return ZERO
    acct.balances[coin] -= pay
    acct.borrowed[coin] = owed - pay
    if acct.borrowed[coin] == 0:
        del acct.borrowed[coin]
    return pay


def _repay_request(ex: Emulator, ctx: RequestContext, coin_required: bool) -> dict[str, Any]:
    acct = _acct(ex, ctx)
    p = ctx.params
    if coin_required:
        _required(p, "coin")
    coin = p.get("coin") or None
    amount = _positive(p, "amount") if p.get("amount") not in (None, "") else None
    if amount is not None and coin is None:
        raise ApiError(10001, "params error: coin is required with amount")
    if p.get("repaymentType") not in (None, "", "ALL", "FIXED", "FLEXIBLE"):
        raise ApiError(10001, "params error: repaymentType invalid")
    coins = [coin] if coin else sorted(acct.borrowed)
    if not any(acct.borrowed.get(c, ZERO) > 0 for c in coins):
        raise ApiError(3100320, "No liability to repay")  # [inferred] code of the UTA repay family
    repaid = {c: _repay(ex, acct, c, amount) for c in coins}
    _push_wallet(ex, acct)
    return repaid


@route("POST", "/v5/account/repay")
async def repay(ex: Emulator, ctx: RequestContext) -> Any:
    _repay_request(ex, ctx, coin_required=False)
    return {"resultStatus": "SU"}


@route("POST", "/v5/account/no-convert-repay")
async def no_convert_repay(ex: Emulator, ctx: RequestContext) -> Any:
    _repay_request(ex, ctx, coin_required=True)
    return {"resultStatus": "SU"}


@route("POST", "/v5/account/quick-repayment")
async def quick_repayment(ex: Emulator, ctx: RequestContext) -> Any:
    repaid = _repay_request(ex, ctx, coin_required=False)
    return {"list": [{"coin": c, "repaymentQty": fmt(q)} for c, q in repaid.items() if q > 0]}


@route("GET", "/v5/account/borrow-history")
async def borrow_history(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    p = ctx.params
    start, end = _time_range(p)
    rate = Decimal("0.0000015")
    rows = [
        {
            "currency": r["currency"], "createdTime": r["createdTime"], "borrowCost": "0", "hourlyBorrowRate": fmt(rate),
            "InterestBearingBorrowSize": fmt(r["amount"]), "costExemption": "0", "borrowAmount": fmt(r["amount"]),
            "unrealisedLoss": "0", "freeBorrowedAmount": "0",
        }
        for r in reversed(acct.borrow_log)
        if (not p.get("currency") or r["currency"] == p["currency"]) and start <= r["createdTime"] and (end is None or r["createdTime"] <= end)
    ]
    page, cursor = _page(rows, p, 20, 50)
    return {"nextPageCursor": cursor, "list": page}


@route("GET", "/v5/account/pay-info")
async def pay_info(ex: Emulator, ctx: RequestContext) -> Any:
    """Repayment snapshot: what collateral could pay and what is owed (one coin or all)."""
    exch = ex.exchange
    acct = _acct(ex, ctx)
    coin = ctx.params.get("coin") or ""
    owed = acct.borrowed.get(coin, ZERO) if coin else sum((v * exch._usd_price(c) for c, v in acct.borrowed.items()), ZERO)  # noqa: SLF001
    collateral = [
        {"coin": c, "availableSize": fmt(exch.withdrawable(acct, c)), "availableValue": fmt(exch.withdrawable(acct, c) * exch._usd_price(c)),  # noqa: SLF001
         "coinScale": 8, "borrowSize": fmt(acct.borrowed.get(c, ZERO)), "spotHedgeAmount": "0", "assetFrozen": fmt(exch._spot_locked(acct, c))}  # noqa: SLF001
        for c in acct.balances
        if c not in acct.collateral_off
    ]
    return {
        "collateralInfo": {"collateralList": collateral},
        "borrowInfo": {"coin": coin, "borrowSize": fmt(owed), "borrowValue": fmt(owed * (exch._usd_price(coin) if coin else 1)),  # noqa: SLF001
                       "assetFrozen": "0", "availableBalance": fmt(exch.withdrawable(acct, coin)) if coin else "0"},
    }


# ---- account switches ------------------------------------------------------------------------------
def _switch(value: Any) -> str:
    if value not in ("ON", "OFF"):
        raise ApiError(10001, "params error: collateralSwitch must be ON or OFF")
    return value


def _set_collateral(ex: Emulator, acct: Account, coin: Any, switch: str) -> None:
    if not isinstance(coin, str) or coin not in known_coins(ex, acct.uid):
        raise ApiError(10001, "params error: coin invalid")
    if coin in ("USDT", "USDC") and switch == "OFF":
        raise ApiError(3400124, "USDT and USDC are always collateral")  # [inferred] the docs forbid switching them off


@route("POST", "/v5/account/set-collateral-switch")
async def set_collateral_switch(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    _required(ctx.params, "coin", "collateralSwitch")
    switch = _switch(ctx.params["collateralSwitch"])
    _set_collateral(ex, acct, ctx.params["coin"], switch)
    (acct.collateral_off.add if switch == "OFF" else acct.collateral_off.discard)(ctx.params["coin"])
    return {}


@route("POST", "/v5/account/set-collateral-switch-batch")
async def set_collateral_switch_batch(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    items = ctx.params.get("request")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise ApiError(10001, "params error: request is required")
    for item in items:  # all valid before any changes
        _set_collateral(ex, acct, item.get("coin"), _switch(item.get("collateralSwitch")))
    for item in items:
        (acct.collateral_off.add if item["collateralSwitch"] == "OFF" else acct.collateral_off.discard)(item["coin"])
    return {"list": [{"coin": i["coin"], "collateralSwitch": i["collateralSwitch"]} for i in items]}


@route("POST", "/v5/account/set-hedging-mode")
async def set_hedging_mode(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    mode = ctx.params.get("setHedgingMode")
    if mode not in ("ON", "OFF"):
        raise ApiError(10001, "params error: setHedgingMode must be ON or OFF")
    acct.settings["spotHedgingStatus"] = mode
    return {}


@route("POST", "/v5/account/set-limit-px-action")
async def set_limit_px_action(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    category = ex.exchange._category(ctx.params, ("spot", "linear", "inverse"))  # noqa: SLF001
    enable = ctx.params.get("modifyEnable")
    if not isinstance(enable, bool) and enable not in ("true", "false"):
        raise ApiError(10001, "params error: modifyEnable must be a boolean")
    acct.settings["lpaSpot" if category == "spot" else "lpaPerp"] = enable is True or enable == "true"
    return {}


@route("POST", "/v5/account/set-delta-mode")
async def set_delta_mode(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    mode = str(ctx.params.get("deltaEnable", ""))
    if mode not in ("0", "1"):
        raise ApiError(10001, "params error: deltaEnable must be 0 or 1")
    acct.settings["deltaEnable"] = mode == "1"
    return {}


@route("GET", "/v5/account/user-setting-config")
async def user_setting_config(ex: Emulator, ctx: RequestContext) -> Any:
    s = _acct(ex, ctx).settings
    return {"lpaSpot": s.get("lpaSpot", False), "lpaPerp": s.get("lpaPerp", False), "smsef": False, "fmsef": False,
            "deltaEnable": s.get("deltaEnable", False), "smpType": "None"}


@route("GET", "/v5/account/smp-group")
async def smp_group(ex: Emulator, ctx: RequestContext) -> Any:
    _acct(ex, ctx)
    return {"smpGroup": 0}  # the emulated accounts belong to no SMP group


@route("POST", "/v5/account/upgrade-to-uta")
async def upgrade_to_uta(ex: Emulator, ctx: RequestContext) -> Any:
    _acct(ex, ctx)  # every emulated account already is a UTA
    return {"unifiedUpdateStatus": "SUCCESS", "unifiedUpdateMsg": {"msg": []}}


@route("GET", "/v5/account/withdrawal")
async def account_withdrawal(ex: Emulator, ctx: RequestContext) -> Any:
    """Transferable amount of UNIFIED (the same figure inter-transfer accepts)."""
    acct = _acct(ex, ctx)
    _required(ctx.params, "coinName")
    coins = [c for c in str(ctx.params["coinName"]).split(",") if c]
    if len(coins) > 20:
        raise ApiError(10001, "params error: at most 20 coins")
    amounts = {c: fmt(ex.exchange.transferable(acct, "UNIFIED", c)) for c in coins}
    if len(coins) == 1:
        return {"availableWithdrawal": amounts[coins[0]], "availableWithdrawalMap": amounts}
    return {"availableWithdrawal": "", "availableWithdrawalMap": amounts}


@route("GET", "/v5/account/instruments-info")
async def account_instruments_info(ex: Emulator, ctx: RequestContext) -> Any:
    """What the account may trade: every instrument of the market (no per-account restrictions)."""
    _acct(ex, ctx)
    return await ex.handlers[("GET", "/v5/market/instruments-info")](ex, ctx)


# ---- market maker protection ----------------------------------------------------------------------
def _option_base(ex: Emulator, coin: Any) -> str:
    bases = {i["baseCoin"] for i in ex.market.instruments("option")}
    if coin not in bases:
        raise ApiError(10001, "params error: baseCoin invalid")
    return coin


@route("POST", "/v5/account/mmp-modify")
async def mmp_modify(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    p = ctx.params
    _required(p, "baseCoin", "window", "frozenPeriod", "qtyLimit", "deltaLimit")
    base = _option_base(ex, p["baseCoin"])
    for name in ("window", "frozenPeriod"):
        if not str(p[name]).isdigit():
            raise ApiError(10001, f"params error: {name} invalid")
    for name in ("qtyLimit", "deltaLimit"):
        _positive(p, name)
    acct.mmp[base] = {
        "baseCoin": base, "mmpEnabled": True, "window": str(p["window"]), "frozenPeriod": str(p["frozenPeriod"]),
        "qtyLimit": str(p["qtyLimit"]), "deltaLimit": str(p["deltaLimit"]), "vegaLimit": str(p.get("vegaLimit") or ""),
        "mmpFrozenUntil": "0", "mmpFrozen": False,
    }
    return {}


@route("POST", "/v5/account/mmp-reset")
async def mmp_reset(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    _required(ctx.params, "baseCoin")
    base = _option_base(ex, ctx.params["baseCoin"])
    state = acct.mmp.get(base)
    if state is None:
        raise ApiError(110065, "MMP hasn't yet been enabled for your account")
    state.update(mmpFrozenUntil="0", mmpFrozen=False)
    return {}


@route("GET", "/v5/account/mmp-state")
async def mmp_state(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    _required(ctx.params, "baseCoin")
    base = _option_base(ex, ctx.params["baseCoin"])
    state = acct.mmp.get(base)
    return {"result": [dict(state)] if state is not None else []}


# ---- account reports --------------------------------------------------------------------------------
@route("GET", "/v5/account/contract-transaction-log")
async def contract_transaction_log(ex: Emulator, ctx: RequestContext) -> Any:
    """Derivatives trades of the account as transaction-log rows, newest first."""
    acct = _acct(ex, ctx)
    p = ctx.params
    rows = []
    for e in reversed(acct.executions):
        if e["category"] == "spot" or (p.get("symbol") and e["symbol"] != p["symbol"]) or (p.get("currency") and e["feeCurrency"] != p["currency"]):
            continue
        rows.append(
            {
                "symbol": e["symbol"], "category": e["category"], "side": e["side"], "transactionTime": e["execTime"], "type": "TRADE",
                "qty": e["execQty"], "size": e["execQty"], "currency": e["feeCurrency"], "tradePrice": e["execPrice"], "funding": "",
                "fee": e["execFee"], "cashFlow": e["execPnl"], "change": fmt(Decimal(e["execPnl"]) - Decimal(e["execFee"])),
                "cashBalance": "", "feeRate": e["feeRate"], "bonusChange": "", "tradeId": e["execId"], "orderId": e["orderId"],
                "orderLinkId": e["orderLinkId"], "extraFees": "", "transSubType": "", "displayType": "",
            }
        )
    page, cursor = _page(rows, p, 20, 50)
    return {"list": page, "nextPageCursor": cursor}


@route("GET", "/v5/account/option-asset-info")
async def option_asset_info(ex: Emulator, ctx: RequestContext) -> Any:
    """Option totals per settle coin, from the option positions (delta as greeks_view computes it)."""
    exch = ex.exchange
    acct = _acct(ex, ctx)
    totals: dict[str, list[Decimal]] = {}
    for pos in acct.positions.values():
        if pos.category != "option" or pos.size == 0:
            continue
        inst = exch.instrument("option", pos.symbol)
        t = totals.setdefault(inst.settle, [ZERO] * 5)
        view = exch.position_view(acct, pos)
        for i, value in enumerate((pos.size * Decimal("0.5"), pos.cum_realised, Decimal(view["unrealisedPnl"]),
                                   Decimal(view["positionIM"]), Decimal(view["positionMM"]))):
            t[i] += value
    now = now_ms()
    return {"result": [{"coin": c, "totalDelta": fmt(t[0]), "totalRPL": fmt(t[1]), "totalUPL": fmt(t[2]), "assetIM": fmt(t[3]),
                        "assetMM": fmt(t[4]), "sendTime": now} for c, t in totals.items()]}


@route("GET", "/v5/account/trade-info-for-analysis")
async def trade_info_for_analysis(ex: Emulator, ctx: RequestContext) -> Any:
    """Per-symbol sums over the account's executions (category linear unless given)."""
    exch = ex.exchange
    acct = _acct(ex, ctx)
    _required(ctx.params, "symbol")
    category = ctx.params.get("category") or "linear"
    inst = exch.instrument(category, ctx.params["symbol"])
    sums = {s: [ZERO, ZERO, ZERO] for s in ("Buy", "Sell")}  # value, qty, fee
    orders: dict[str, set[str]] = {"Buy": set(), "Sell": set()}
    days: dict[str, list[Decimal]] = {}
    for e in acct.executions:
        if e["category"] != category or e["symbol"] != inst.symbol:
            continue
        s = sums[e["side"]]
        s[0] += Decimal(e["execValue"])
        s[1] += Decimal(e["execQty"])
        s[2] += Decimal(e["execFee"])
        orders[e["side"]].add(e["orderId"])
        day = str(int(e["execTime"]) // 86_400_000 * 86_400_000)
        d = days.setdefault(day, [ZERO, ZERO])
        d[0 if e["side"] == "Buy" else 1] += Decimal(e["execValue"])
    order_qty = {side: sum((acct.orders[o].qty for o in ids if o in acct.orders), ZERO) for side, ids in orders.items()}
    (bv, bq, bf), (sv, sq, sf) = sums["Buy"], sums["Sell"]
    return {
        "symbolRnl": fmt(sv - bv - bf - sf) if category != "inverse" else fmt(bv - sv - bf - sf),
        "netExecQty": fmt(bq - sq), "sumExecValue": fmt(bv + sv), "sumExecQty": fmt(bq + sq),
        "avgBuyExecPrice": fmt(bv / bq) if bq else "0", "sumBuyExecValue": fmt(bv), "sumBuyExecQty": fmt(bq), "sumBuyExecFee": fmt(bf),
        "sumBuyOrderQty": fmt(order_qty["Buy"]),
        "avgSellExecPrice": fmt(sv / sq) if sq else "0", "sumSellExecValue": fmt(sv), "sumSellExecQty": fmt(sq), "sumSellExecFee": fmt(sf),
        "sumSellOrderQty": fmt(order_qty["Sell"]),
        "maxMarginVersion": 0, "baseCoin": inst.base, "settleCoin": inst.settle,
        "sumPriceList": [{"day": d, "sumBuyExecValue": fmt(v[0]), "sumSellExecValue": fmt(v[1]), "sumExecValue": fmt(v[0] + v[1])}
                         for d, v in sorted(days.items())],
    }


# ---- asset overviews ----------------------------------------------------------------------------------
def _usd(ex: Emulator, wallet: dict[str, Decimal]) -> Decimal:
    return sum((v * ex.exchange._usd_price(c) for c, v in wallet.items()), ZERO)  # noqa: SLF001


@route("GET", "/v5/asset/asset-overview")
async def asset_overview(ex: Emulator, ctx: RequestContext) -> Any:
    exch = ex.exchange
    acct = _acct(ex, ctx)
    view = exch.wallet_view(acct)
    now = str(now_ms())
    uta = Decimal(view["totalEquity"])
    fund = _usd(ex, acct.funding)
    wanted = ctx.params.get("accountType")
    accounts = [
        {"accountType": "UNIFIED", "totalEquity": fmt(uta), "valuationCurrency": "USD", "snapshotTime": now,
         "coinDetail": [{"coin": c["coin"], "equity": c["equity"], "extMap": {}} for c in view["coin"]],
         "categories": []},
        {"accountType": "FUND", "totalEquity": fmt(fund), "valuationCurrency": "USD", "snapshotTime": now,
         "coinDetail": [{"coin": c, "equity": fmt(v), "extMap": {}} for c, v in acct.funding.items()], "categories": []},
    ]
    accounts = [a for a in accounts if not wanted or a["accountType"] == wanted]
    return {"totalEquity": fmt(sum((Decimal(a["totalEquity"]) for a in accounts), ZERO)), "list": accounts}


@route("GET", "/v5/asset/portfolio-margin")
async def portfolio_margin(ex: Emulator, ctx: RequestContext) -> Any:
    """The wallet figures; no PnL ranges, as the account is in regular (not portfolio) margin."""
    view = ex.exchange.wallet_view(_acct(ex, ctx))
    return {
        "wallet": {"equity": view["totalEquity"], "cashBalance": view["totalWalletBalance"], "marginBalance": view["totalMarginBalance"],
                   "availableBalance": view["totalAvailableBalance"], "accountIM": view["totalInitialMargin"],
                   "accountMM": view["totalMaintenanceMargin"], "accountMMRate": view["accountMMRate"], "accountIMRate": view["accountIMRate"]},
        "assetPnlRange": [],
    }


@route("GET", "/v5/asset/total-members-assets")
async def total_members_assets(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    uta, fund = Decimal(ex.exchange.wallet_view(acct)["totalEquity"]), _usd(ex, acct.funding)
    total = fmt(uta + fund)
    items = [{"type": "UNIFIED", "origb": fmt(uta), "quoteb": fmt(uta), "stat": 1},
             {"type": "FUND", "origb": fmt(fund), "quoteb": fmt(fund), "stat": 1}]
    return {"total": total, "quoteTotal": total, "stat": 1,
            "list": [{"uid": int(acct.uid), "isM": True, "type": 1, "stat": 1, "origb": total, "quoteb": total, "items": items}]}


@route("GET", "/v5/asset/fundinghistory")
async def funding_history(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    p = ctx.params
    rows = [r for r in reversed(acct.fund_log) if not p.get("currency") or r["currency"] == p["currency"]]
    page, cursor = _page(rows, p, 20, 50)
    return {"nextPageCursor": cursor, "list": page}


def _no_records(category_required: bool) -> Any:
    async def handler(ex: Emulator, ctx: RequestContext) -> Any:
        _acct(ex, ctx)
        category = ctx.params.get("category") or ""
        if category_required and not category:
            raise ApiError(10001, "params error: category is required")
        # Real state: the emulator lists no dated contracts and charges no funding, so nothing is
        # ever delivered or settled.
        return {"category": category, "list": [], "nextPageCursor": ""}

    return handler


route("GET", "/v5/asset/delivery-record")(_no_records(True))
route("GET", "/v5/asset/settlement-record")(_no_records(True))


@route("GET", "/v5/asset/transfer/query-asset-info")
async def query_asset_info(ex: Emulator, ctx: RequestContext) -> Any:
    exch = ex.exchange
    acct = _acct(ex, ctx)
    coin = ctx.params.get("coin")
    assets = [
        {"coin": c, "frozen": fmt(exch._spot_locked(acct, c)), "free": fmt(exch.withdrawable(acct, c)), "withdraw": "0"}  # noqa: SLF001
        for c in acct.balances
        if not coin or c == coin
    ]
    return {"spot": {"status": "ACCOUNT_STATUS_NORMAL", "assets": assets}}


# ---- sub-members (the emulated accounts have none) ------------------------------------------------------
@route("GET", "/v5/asset/transfer/query-sub-member-list")
async def sub_member_list(ex: Emulator, ctx: RequestContext) -> Any:
    _acct(ex, ctx)
    return {"subMemberIds": [], "transferableSubMemberIds": []}


@route("POST", "/v5/asset/transfer/save-transfer-sub-member")
async def save_transfer_sub_member(ex: Emulator, ctx: RequestContext) -> Any:
    _acct(ex, ctx)
    _required(ctx.params, "subMemberIds", "transferable")
    raise ApiError(131228, "The sub-account does not exist")  # [inferred] the emulated accounts have no subs


@route("GET", "/v5/asset/deposit/query-sub-member-record")
async def sub_member_deposits(ex: Emulator, ctx: RequestContext) -> Any:
    _acct(ex, ctx)
    _required(ctx.params, "subMemberId")
    return {"rows": [], "nextPageCursor": ""}


@route("GET", "/v5/asset/deposit/query-sub-member-address")
async def sub_member_address(ex: Emulator, ctx: RequestContext) -> Any:
    """The address a member would deposit to (any known uid; the format of deposit/query-address)."""
    _acct(ex, ctx)
    p = ctx.params
    _required(p, "coin", "chainType", "subMemberId")
    sub = str(p["subMemberId"])
    if sub not in ex.exchange.accounts:
        raise ApiError(131228, "The sub-account does not exist")
    for chain, ctype, *_rest, contract in _chains(p["coin"]):
        if chain == p["chainType"]:
            return {"coin": p["coin"], "chains": {"chainType": ctype, "addressDeposit": deposit_address_of(sub, p["coin"], chain),
                                                  "tagDeposit": "", "chain": chain, "batchReleaseLimit": "-1", "contractAddress": contract[-6:]}}
    raise ApiError(131002, "Parameter error")


# ---- deposits ------------------------------------------------------------------------------------------
@route("GET", "/v5/asset/deposit/query-allowed-list")
async def deposit_allowed_list(ex: Emulator, ctx: RequestContext) -> Any:
    p = ctx.params
    rows = [
        {"coin": c, "chain": chain, "coinShowName": c, "chainType": ctype, "blockConfirmNumber": int(conf), "minDepositAmount": dmin}
        for c in known_coins(ex)
        for chain, ctype, conf, _fee, dmin, *_rest in _chains(c)
        if (not p.get("coin") or c == p["coin"]) and (not p.get("chain") or chain == p["chain"])
    ]
    page, cursor = _page(rows, p, 10, 35)
    return {"configList": page, "nextPageCursor": cursor}


@route("POST", "/v5/asset/deposit/deposit-to-account")
async def deposit_to_account(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    _required(ctx.params, "accountType")
    if ctx.params["accountType"] not in ("UNIFIED", "FUND", "SPOT", "CONTRACT"):
        raise ApiError(10001, "params error: accountType invalid")
    acct.settings["depositAccount"] = ctx.params["accountType"]
    return {"status": 1}


@route("GET", "/v5/asset/deposit/query-internal-record")
async def internal_deposits(ex: Emulator, ctx: RequestContext) -> Any:
    """Off-chain deposits: universal transfers another account of this emulator sent to this one."""
    acct = _acct(ex, ctx)
    p = ctx.params
    start, end = _time_range(p)
    rows = [r for r in reversed(acct.internal_deposits) if (not p.get("coin") or r["coin"] == p["coin"])
            and start <= int(r["createdTime"]) and (end is None or int(r["createdTime"]) <= end)]
    page, cursor = _page(rows, p, 50, 50)
    return {"rows": page, "nextPageCursor": cursor}


@route("POST", "/v5/asset/travel-rule/deposit/submit")
async def travel_rule_submit(ex: Emulator, ctx: RequestContext) -> Any:
    _acct(ex, ctx)
    _required(ctx.params, "id")
    raise ApiError(131230, "Deposit record not found")  # [inferred] the emulator receives no on-chain deposits


# ---- universal transfer --------------------------------------------------------------------------------
@route("POST", "/v5/asset/transfer/universal-transfer")
async def universal_transfer(ex: Emulator, ctx: RequestContext) -> Any:
    """Move coins between wallets of two accounts of this emulator (the caller must be one of them);
    the receiving account also sees it in deposit/query-internal-record."""
    exch = ex.exchange
    me = _acct(ex, ctx)
    p = ctx.params
    _required(p, "transferId", "coin", "amount", "fromMemberId", "toMemberId", "fromAccountType", "toAccountType")
    tid, coin = p["transferId"], p["coin"]
    from_id, to_id = str(p["fromMemberId"]), str(p["toMemberId"])
    src_type, dst_type = p["fromAccountType"], p["toAccountType"]
    if not isinstance(tid, str) or len(tid) > 64 or not isinstance(coin, str):
        raise ApiError(131203, "Request parameter error")
    if me.uid not in (from_id, to_id) or from_id not in exch.accounts or to_id not in exch.accounts:
        raise ApiError(131228, "The sub-account does not exist")
    if src_type not in ("UNIFIED", "FUND") or dst_type not in ("UNIFIED", "FUND"):
        raise ApiError(131203, "Request parameter error")
    if from_id == to_id and src_type == dst_type:
        raise ApiError(131211, "fromAccountType can't be the same as toAccountType")
    amount = _dec(p, "amount", 131215, "Amount error")
    assert amount is not None
    if amount <= 0:
        raise ApiError(131215, "Amount error")
    if amount.as_tuple().exponent < -8:  # type: ignore[operator]
        raise ApiError(131210, "Amount accuracy error")
    if any(t["transferId"] == tid for t in me.universal_transfers):
        raise ApiError(131214, "TransferId exist")
    src, dst = exch.accounts[from_id], exch.accounts[to_id]
    if amount > exch.transferable(src, src_type, coin):
        raise ApiError(131212, "Insufficient balance")
    if src_type == "FUND":
        _fund_change(src, coin, -amount, "Transfer")
    else:
        src.balances[coin] = src.balances.get(coin, ZERO) - amount
    if dst_type == "FUND":
        _fund_change(dst, coin, amount, "Transfer")
    else:
        dst.balances[coin] = dst.balances.get(coin, ZERO) + amount
    now = str(now_ms())
    record = {"transferId": tid, "coin": coin, "amount": fmt(amount), "fromMemberId": from_id, "toMemberId": to_id,
              "fromAccountType": src_type, "toAccountType": dst_type, "timestamp": now, "status": "SUCCESS",
              "withdrawReqId": "", "depositReqId": ""}
    for acct in {src.uid: src, dst.uid: dst}.values():
        acct.universal_transfers.append(record)
    if from_id != to_id:
        dst.internal_deposits.append({"id": tid, "type": 1, "coin": coin, "amount": fmt(amount), "status": 2, "address": from_id,
                                      "createdTime": now, "txID": tid, "complianceStatus": ""})
    for acct in (src, dst):
        _push_wallet(ex, acct)
    return {"transferId": tid, "status": "SUCCESS"}


@route("GET", "/v5/asset/transfer/query-universal-transfer-list")
async def universal_transfer_list(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    p = ctx.params
    start, end = _time_range(p)
    rows = [t for t in reversed(acct.universal_transfers)
            if (not p.get("transferId") or t["transferId"] == p["transferId"]) and (not p.get("coin") or t["coin"] == p["coin"])
            and (not p.get("status") or t["status"] == p["status"]) and start <= int(t["timestamp"]) and (end is None or int(t["timestamp"]) <= end)]
    page, cursor = _page(rows, p, 20, 50)
    return {"list": page, "nextPageCursor": cursor}


# ---- withdrawals ------------------------------------------------------------------------------------------
def _withdraw_id(acct: Account) -> str:
    return str(10_000_000 + int(acct.uid) % 1000 * 10_000 + len(acct.withdrawals) + 1)


@route("POST", "/v5/asset/withdraw/create")
async def withdraw_create(ex: Emulator, ctx: RequestContext) -> Any:
    """Take amount (+ the chain's fee unless ``feeType`` 1 deducts it from the amount) out of FUND
    (default) or UNIFIED; the record is ``Pending`` until the next market step confirms it."""
    exch = ex.exchange
    acct = _acct(ex, ctx)
    p = ctx.params
    _required(p, "coin", "address", "amount", "timestamp")
    coin, address = p["coin"], p["address"]
    force = str(p.get("forceChain", 0))
    chains = {c[0]: c for c in _chains(coin)}
    if coin not in known_coins(ex, acct.uid):
        raise ApiError(131002, "Parameter error")
    if force != "2":
        _required(p, "chain")
        if p["chain"] not in chains:
            raise ApiError(131002, "Parameter error")
    elif str(address) not in exch.accounts:
        raise ApiError(131002, "Parameter error")  # a Bybit-UID withdrawal names a known uid
    amount = _positive(p, "amount", 131001)
    chain = p.get("chain") or ""
    _c, _t, _conf, fee_text, _dmin, wmin, acc, _contract = chains.get(chain) or (chain, chain, "0", "0", "0", "0", "8", "")
    fee = Decimal(fee_text) if force != "2" else ZERO
    if amount < Decimal(wmin) or amount.as_tuple().exponent < -int(acc):  # type: ignore[operator]
        raise ApiError(131001, "Withdraw amount is below the minimum or has too many decimals")
    fee_from_amount = str(p.get("feeType", 0)) == "1"
    total = amount if fee_from_amount else amount + fee
    sources = [s for s in str(p.get("accountType") or "FUND").replace("UTA", "UNIFIED").split(",") if s]
    if any(s not in ("FUND", "UNIFIED") for s in sources):
        raise ApiError(10001, "params error: accountType invalid")
    if sum((exch.transferable(acct, s, coin) for s in sources), ZERO) < total:
        raise ApiError(131212, "Insufficient balance")
    left = total
    for s in sources:  # funding first, then the rest, as the docs order them
        take = min(left, exch.transferable(acct, s, coin))
        if take > 0:
            if s == "FUND":
                _fund_change(acct, coin, -take, "Withdraw")
            else:
                acct.balances[coin] -= take
        left -= take
    wid = _withdraw_id(acct)
    now = str(now_ms())
    acct.withdrawals.append(
        {"withdrawId": wid, "txID": "", "withdrawType": 1 if force == "2" else 0, "coin": coin, "chain": chain,
         "amount": fmt(amount - fee if fee_from_amount else amount), "withdrawFee": fmt(fee), "status": "Pending",
         "toAddress": str(address), "tag": p.get("tag") or "", "createTime": now, "updateTime": now,
         "_debits": total, "_sources": sources}
    )
    exch.pending_withdrawals = True
    _push_wallet(ex, acct)
    return {"id": wid}


@route("POST", "/v5/asset/withdraw/cancel")
async def withdraw_cancel(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    _required(ctx.params, "id")
    for w in acct.withdrawals:
        if w["withdrawId"] == str(ctx.params["id"]):
            if w["status"] != "Pending":
                return {"status": 0}  # too late: already sent
            w["status"] = "CancelByUser"
            w["updateTime"] = str(now_ms())
            wallet = w["_sources"][0]
            if wallet == "FUND":
                _fund_change(acct, w["coin"], w["_debits"], "Withdraw cancelled")
            else:
                acct.balances[w["coin"]] = acct.balances.get(w["coin"], ZERO) + w["_debits"]
            _push_wallet(ex, acct)
            return {"status": 1}
    raise ApiError(131001, "Withdrawal not found")


@route("GET", "/v5/asset/withdraw/query-record")
async def withdraw_records(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    p = ctx.params
    start, end = _time_range(p)
    rows = [
        {k: v for k, v in w.items() if not k.startswith("_")}
        for w in reversed(acct.withdrawals)
        if (not p.get("withdrawID") or w["withdrawId"] == str(p["withdrawID"])) and (not p.get("coin") or w["coin"] == p["coin"])
        and (p.get("withdrawType") in (None, "", "2") or str(w["withdrawType"]) == str(p["withdrawType"]))
        and start <= int(w["createTime"]) and (end is None or int(w["createTime"]) <= end)
    ]
    page, cursor = _page(rows, p, 50, 50)
    return {"rows": page, "nextPageCursor": cursor}


@route("GET", "/v5/asset/withdraw/query-address")
async def withdraw_addresses(ex: Emulator, ctx: RequestContext) -> Any:
    """The address book: every address this account withdrew to (verified, chain-specific)."""
    acct = _acct(ex, ctx)
    p = ctx.params
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for w in acct.withdrawals:
        key = (w["coin"], w["chain"], w["toAddress"])
        seen.setdefault(key, {"coin": w["coin"], "chain": w["chain"], "address": w["toAddress"], "tag": w["tag"], "remark": "",
                              "status": 0, "addressType": 2 if w["withdrawType"] == 1 else 0, "verified": 1, "createdAt": w["createTime"]})
    rows = [r for r in seen.values() if (not p.get("coin") or r["coin"] == p["coin"]) and (not p.get("chain") or r["chain"] == p["chain"])]
    page, cursor = _page(rows, p, 50, 50)
    return {"rows": page, "nextPageCursor": cursor}


@route("GET", "/v5/asset/withdraw/vasp/list")
async def vasp_list(ex: Emulator, ctx: RequestContext) -> Any:
    return {"vasp": [{"vaspEntityId": i, "vaspName": n} for i, n in VASPS]}


# ---- convert -------------------------------------------------------------------------------------------
def _convert_wallet(account_type: Any) -> str:
    wallet = _WALLET_OF.get(account_type)  # type: ignore[arg-type]
    if wallet is None:
        raise ApiError(10001, "params error: accountType must be eb_convert_uta or eb_convert_funding")
    return wallet


def _convert_balance(ex: Emulator, acct: Account, wallet: str, coin: str) -> Decimal:
    return ex.exchange.transferable(acct, wallet, coin)


@route("GET", "/v5/asset/exchange/query-coin-list")
async def convert_coin_list(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    p = ctx.params
    _required(p, "accountType")
    wallet = _convert_wallet(p["accountType"])
    side = str(p.get("side", 0))
    coins = known_coins(ex, acct.uid)
    if side == "0":  # coins one may convert from: those with a balance
        coins = [c for c in coins if _convert_balance(ex, acct, wallet, c) > 0]
    out = []
    for c in coins:
        if p.get("coin") and c != p["coin"]:
            continue
        bal = _convert_balance(ex, acct, wallet, c)
        out.append({"coin": c, "fullName": c, "icon": "", "iconNight": "", "accuracyLength": 8, "coinType": "crypto",
                    "balance": fmt(bal), "uBalance": fmt(bal * ex.exchange._usd_price(c)),  # noqa: SLF001
                    "singleFromMinLimit": "0.00000001", "singleFromMaxLimit": "1000000", "disableFrom": False, "disableTo": False,
                    "timePeriod": 0, "singleToMinLimit": "0.00000001", "singleToMaxLimit": "1000000", "dailyFromMinLimit": "0",
                    "dailyFromMaxLimit": "10000000", "dailyToMinLimit": "0", "dailyToMaxLimit": "10000000"})
    return {"coins": out}


@route("POST", "/v5/asset/exchange/quote-apply")
async def quote_apply(ex: Emulator, ctx: RequestContext) -> Any:
    """A quote priced from the emulator's market (USD prices of both coins) less CONVERT_SPREAD."""
    exch = ex.exchange
    acct = _acct(ex, ctx)
    p = ctx.params
    _required(p, "fromCoin", "toCoin", "requestCoin", "requestAmount", "accountType")
    wallet = _convert_wallet(p["accountType"])
    src, dst, req = p["fromCoin"], p["toCoin"], p["requestCoin"]
    if src == dst or req not in (src, dst):
        raise ApiError(790000, "Invalid coin pair")  # [inferred]
    usd_src, usd_dst = exch._usd_price(src), exch._usd_price(dst)  # noqa: SLF001
    if not usd_src or not usd_dst:
        raise ApiError(790000, "Invalid coin pair")
    amount = _positive(p, "requestAmount")
    rate = (usd_src / usd_dst * (1 - CONVERT_SPREAD)).quantize(Decimal("1e-10"), ROUND_DOWN)
    if req == src:
        from_amount, to_amount = amount, (amount * rate).quantize(Decimal("1e-8"), ROUND_DOWN)
    else:
        from_amount, to_amount = (amount / rate).quantize(Decimal("1e-8")), amount
    if from_amount > _convert_balance(ex, acct, wallet, src):
        raise ApiError(790001, "Insufficient balance")  # [inferred]
    now = now_ms()
    qid = hashlib.sha256(f"bybitfast-quote:{acct.uid}:{len(acct.quotes)}:{now}".encode()).hexdigest()[:32]
    quote = {"quoteTxId": qid, "exchangeRate": fmt(rate), "fromCoin": src, "fromCoinType": "crypto", "toCoin": dst, "toCoinType": "crypto",
             "fromAmount": fmt(from_amount), "toAmount": fmt(to_amount), "expiredTime": str(now + QUOTE_TTL_MS),
             "requestId": p.get("requestId") or "", "extTaxAndFee": []}
    acct.quotes[qid] = {**quote, "_wallet": wallet, "_from": from_amount, "_to": to_amount}
    return quote


@route("POST", "/v5/asset/exchange/convert-execute")
async def convert_execute(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    _required(ctx.params, "quoteTxId")
    quote = acct.quotes.get(ctx.params["quoteTxId"])
    if quote is None or quote.get("_done"):
        raise ApiError(790002, "Quote does not exist or was already executed")  # [inferred]
    if now_ms() > int(quote["expiredTime"]):
        raise ApiError(790003, "Quote expired")  # [inferred]
    wallet, src, dst = quote["_wallet"], quote["fromCoin"], quote["toCoin"]
    if quote["_from"] > _convert_balance(ex, acct, wallet, src):
        raise ApiError(790001, "Insufficient balance")
    if wallet == "FUND":
        _fund_change(acct, src, -quote["_from"], "Convert")
        _fund_change(acct, dst, quote["_to"], "Convert")
    else:
        acct.balances[src] -= quote["_from"]
        acct.balances[dst] = acct.balances.get(dst, ZERO) + quote["_to"]
    quote["_done"] = True
    acct.converts.append(
        {"accountType": {v: k for k, v in _WALLET_OF.items()}[wallet], "exchangeTxId": quote["quoteTxId"], "userId": acct.uid,
         "fromCoin": src, "fromCoinType": "crypto", "toCoin": dst, "toCoinType": "crypto", "fromAmount": quote["fromAmount"],
         "toAmount": quote["toAmount"], "exchangeStatus": "success", "extInfo": {"paramType": "", "paramValue": ""},
         "convertRate": quote["exchangeRate"], "createdAt": str(now_ms())}
    )
    _push_wallet(ex, acct)
    return {"quoteTxId": quote["quoteTxId"], "exchangeStatus": "processing"}  # done by the next query, as on the exchange


@route("GET", "/v5/asset/exchange/convert-result-query")
async def convert_result(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    _required(ctx.params, "quoteTxId", "accountType")
    for c in acct.converts:
        if c["exchangeTxId"] == ctx.params["quoteTxId"]:
            return {"result": dict(c)}
    raise ApiError(790002, "Quote does not exist or was already executed")


@route("GET", "/v5/asset/exchange/query-convert-history")
async def convert_history(ex: Emulator, ctx: RequestContext) -> Any:
    acct = _acct(ex, ctx)
    p = ctx.params
    types = [t for t in str(p.get("accountType") or "").split(",") if t]
    rows = [dict(c) for c in reversed(acct.converts) if not types or c["accountType"] in types]
    try:
        index, limit = int(p.get("index") or 1), int(p.get("limit") or 20)
    except ValueError:
        raise ApiError(10001, "params error: index / limit invalid") from None
    if index < 1 or not 1 <= limit <= 100:
        raise ApiError(10001, "params error: index / limit invalid")
    return {"list": rows[(index - 1) * limit : index * limit]}


@route("GET", "/v5/asset/exchange/order-record")
async def exchange_order_record(ex: Emulator, ctx: RequestContext) -> Any:
    """Coin exchange records: the account's executed converts."""
    acct = _acct(ex, ctx)
    p = ctx.params
    rows = [{"fromCoin": c["fromCoin"], "fromAmount": c["fromAmount"], "toCoin": c["toCoin"], "toAmount": c["toAmount"],
             "exchangeRate": c["convertRate"], "createdTime": str(int(c["createdAt"]) // 1000), "exchangeTxId": c["exchangeTxId"]}
            for c in reversed(acct.converts)
            if (not p.get("fromCoin") or c["fromCoin"] == p["fromCoin"]) and (not p.get("toCoin") or c["toCoin"] == p["toCoin"])]
    page, cursor = _page(rows, p, 10, 50)
    return {"orderBody": page, "nextPageCursor": cursor}


@route("GET", "/v5/asset/covert/small-balance-list")
async def small_balance_list(ex: Emulator, ctx: RequestContext) -> Any:
    """Coins worth less than SMALL_BALANCE_USD, priced as convert quotes to ``toCoin`` (default USDT)."""
    exch = ex.exchange
    acct = _acct(ex, ctx)
    _required(ctx.params, "accountType")
    wallet = _convert_wallet(ctx.params["accountType"])
    to = ctx.params.get("toCoin") or "USDT"
    usd_to = exch._usd_price(to) or Decimal(1)  # noqa: SLF001
    rows = []
    for c, bal in _wallet(acct, wallet).items():
        usd = exch._usd_price(c)  # noqa: SLF001
        if c == to or bal <= 0 or not usd or bal * usd >= SMALL_BALANCE_USD:
            continue
        rate = usd / usd_to * (1 - CONVERT_SPREAD)
        rows.append({"fromCoin": c, "supportConvert": 1, "availableBalance": fmt(bal), "baseValue": fmt(bal * usd),
                     "toAmount": fmt((bal * rate).quantize(Decimal("1e-8"), ROUND_DOWN)), "exchangeRate": fmt(rate.quantize(Decimal("1e-10"))),
                     "feeInfo": {}, "taxFeeInfo": {}})
    return {"smallAssetCoins": rows, "supportToCoins": ["USDT", "USDC", "BTC", "ETH"]}


@route("GET", "/v5/fiat/query-coin-list")
async def fiat_coin_list(ex: Emulator, ctx: RequestContext) -> Any:
    def item(c: str, precision: int) -> dict[str, Any]:
        return {"coin": c, "fullName": c, "icon": "", "iconNight": "", "precision": precision, "disable": False,
                "singleFromMinLimit": "1", "singleFromMaxLimit": "100000"}

    return {"fiats": [item(c, 2) for c in FIATS], "cryptos": [item(c, 8) for c in known_coins(ex) if c in _CHAINS]}
