"""REST handlers for trade, position, account and asset endpoints, backed by the exchange state.

Funding-side account and asset endpoints (borrow, withdraw, convert, ...) live in asset_rest.py.
Every other path of the endpoint table (earn, loans, broker, p2p, ...) gets a schema-correct empty
answer from :func:`generic_handler`: the documented result with empty values (schemas.py) — what
the exchange returns for an account that has nothing there.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from decimal import Decimal

from .common import ApiError, RequestContext, now_ms
from .exchange import DEFAULT_LEVERAGE, MAINTENANCE_RATE, _dec, _Events, _page, fmt, fmt_step
from .schemas import RESULTS

if TYPE_CHECKING:
    from .server import Emulator

Handler = Callable[["Emulator", RequestContext], Awaitable[Any]]
HANDLERS: dict[tuple[str, str], Handler] = {}
HOURLY_BORROW_RATE = "0.0000015"  # the one rate collateral-info and the VIP margin table show


def route(verb: str, path: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[(verb, path)] = fn
        return fn

    return register


def _uid(ctx: RequestContext) -> str:
    assert ctx.uid is not None, "private handler reached without auth"
    return ctx.uid


# Paths whose whole work is one Exchange method, called as method(uid, *args, params).
_DELEGATED: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("POST", "/v5/order/create", "create_order", ()),
    ("POST", "/v5/order/amend", "amend_order", ()),
    ("POST", "/v5/order/cancel", "cancel_order", ()),
    ("POST", "/v5/order/cancel-all", "cancel_all", ()),
    ("POST", "/v5/order/create-batch", "batch", ("create",)),
    ("POST", "/v5/order/amend-batch", "batch", ("amend",)),
    ("POST", "/v5/order/cancel-batch", "batch", ("cancel",)),
    ("GET", "/v5/order/realtime", "open_orders", ()),
    ("GET", "/v5/order/history", "order_history", ()),
    ("GET", "/v5/execution/list", "execution_list", ()),
    ("GET", "/v5/position/list", "position_list", ()),
    ("POST", "/v5/position/set-leverage", "set_leverage", ()),
    ("POST", "/v5/position/switch-mode", "switch_mode", ()),
    ("GET", "/v5/account/wallet-balance", "wallet_balance", ()),
    ("GET", "/v5/account/fee-rate", "fee_rate", ()),
    ("POST", "/v5/asset/transfer/inter-transfer", "inter_transfer", ()),
)

# Paths with a fixed answer: the emulated account never has DCP settings, on-chain deposits or a
# system notice.
_FIXED: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("GET", "/v5/account/query-dcp-info", {"dcpInfos": []}),
    ("GET", "/v5/asset/deposit/query-record", {"rows": [], "nextPageCursor": ""}),
    ("GET", "/v5/system/status", {"list": []}),
)


def _delegate(name: str, args: tuple[str, ...]) -> Handler:
    async def handler(ex: Emulator, ctx: RequestContext) -> Any:
        return getattr(ex.exchange, name)(_uid(ctx), *args, ctx.params)

    return handler


def _fixed(answer: dict[str, Any]) -> Handler:
    async def handler(ex: Emulator, ctx: RequestContext) -> Any:
        return copy.deepcopy(answer)  # a fresh answer per request: nothing downstream can alter the table

    return handler


for _verb, _path, _name, _args in _DELEGATED:
    route(_verb, _path)(_delegate(_name, _args))
for _verb, _path, _answer in _FIXED:
    route(_verb, _path)(_fixed(_answer))


# ---- trade -------------------------------------------------------------------------------------
@route("GET", "/v5/order/spot-borrow-check")
async def spot_borrow_check(ex: Emulator, ctx: RequestContext) -> Any:
    exch = ex.exchange
    acct = exch.account(_uid(ctx))
    inst = exch.instrument("spot", ctx.params.get("symbol"))
    side = ctx.params.get("side")
    if side not in ("Buy", "Sell"):
        raise ApiError(10001, "params error: side invalid")
    coin = inst.quote if side == "Buy" else inst.base
    avail = exch.available(acct, coin)
    from .exchange import fmt

    return {
        "symbol": inst.symbol,
        "side": side,
        "maxTradeQty": fmt(avail if side == "Sell" else avail / exch.market.best_bid_ask("spot", inst.symbol)[1]),
        "maxTradeAmount": fmt(avail),
        "spotMaxTradeQty": fmt(avail),
        "spotMaxTradeAmount": fmt(avail),
        "borrowCoin": coin,
    }


@route("POST", "/v5/order/disconnected-cancel-all")
async def dcp(ex: Emulator, ctx: RequestContext) -> Any:
    window = ctx.params.get("timeWindow")
    if not isinstance(window, (int, str)) or not str(window).isdigit() or not 3 <= int(window) <= 300:
        raise ApiError(10001, "params error: timeWindow must be between 3 and 300")
    return {}


# ---- position ----------------------------------------------------------------------------------
@route("POST", "/v5/position/trading-stop")
async def trading_stop(ex: Emulator, ctx: RequestContext) -> Any:
    exch = ex.exchange
    exch.account(_uid(ctx))
    category = exch._category(ctx.params, ("linear", "inverse", "option"))  # noqa: SLF001
    exch.instrument(category, ctx.params.get("symbol"))
    return {}


@route("GET", "/v5/position/closed-pnl")
async def closed_pnl(ex: Emulator, ctx: RequestContext) -> Any:
    exch = ex.exchange
    exch.account(_uid(ctx))
    category = exch._category(ctx.params, ("linear", "inverse"))  # noqa: SLF001
    return {"nextPageCursor": "", "category": category, "list": []}


def _position_key(ex: Emulator, ctx: RequestContext, categories: tuple[str, ...] = ("linear", "inverse")) -> tuple[Any, Any]:
    """(account, instrument) of a position-setting request; category and symbol are required."""
    exch = ex.exchange
    acct = exch.account(_uid(ctx))
    category = exch._category(ctx.params, categories)  # noqa: SLF001
    inst = exch.instrument(category, ctx.params.get("symbol"))
    idx = ctx.params.get("positionIdx", 0)
    if idx not in (0, "0", None, ""):
        raise ApiError(10001, "position idx not match position mode")
    return acct, inst


def _push_position(ex: Emulator, acct: Any, inst: Any) -> None:
    """Private-stream position push after a setting changed (nothing built when nobody listens)."""
    exch = ex.exchange
    if exch.listeners:
        events = _Events()
        events.add("position", inst.category, exch.position_view(acct, exch._position(acct, inst.category, inst.symbol), ws=True))  # noqa: SLF001
        exch._publish(acct.uid, events)  # noqa: SLF001


@route("POST", "/v5/position/add-margin")
async def add_margin(ex: Emulator, ctx: RequestContext) -> Any:
    """Add (positive ``margin``) or take back (negative) margin on an open position: it counts as
    position IM, so the wallet's available balance moves by the same amount."""
    exch = ex.exchange
    acct, inst = _position_key(ex, ctx)
    margin = _dec(ctx.params, "margin", 10001, "params error: margin invalid")
    assert margin is not None
    if margin == 0:
        raise ApiError(10001, "params error: margin invalid")
    pos = acct.positions.get((inst.category, inst.symbol))
    if pos is None or pos.size == 0:
        raise ApiError(110033, "You can't set margin without an open position")
    if margin > 0 and margin > exch.available(acct, inst.settle):
        raise ApiError(110044, "Available margin is insufficient")
    if margin < 0 and -margin > pos.added_margin:
        raise ApiError(110044, "Available margin is insufficient")  # cannot go below the initial margin
    pos.added_margin += margin
    pos.updated = now_ms()
    _push_position(ex, acct, inst)
    view = exch.position_view(acct, pos)
    out = {"category": inst.category}
    for key in ("symbol", "positionIdx", "riskId", "riskLimitValue", "size", "avgPrice", "liqPrice", "bustPrice", "markPrice",
                "positionValue", "leverage", "autoAddMargin", "positionStatus", "positionIM", "positionMM", "takeProfit",
                "stopLoss", "trailingStop", "unrealisedPnl", "cumRealisedPnl", "createdTime", "updatedTime"):
        out[key] = view[key]
    return out


@route("POST", "/v5/position/set-risk-limit")
async def set_risk_limit(ex: Emulator, ctx: RequestContext) -> Any:
    """Move a symbol to another tier of /v5/market/risk-limit; its position must fit the new limit."""
    exch = ex.exchange
    acct, inst = _position_key(ex, ctx)
    raw = ctx.params.get("riskId")
    if isinstance(raw, bool) or not str(raw or "").isdigit():
        raise ApiError(10001, "params error: riskId invalid")
    tiers = exch.risk_tiers(inst.category, inst.symbol)
    ids = [t[0] for t in tiers]
    if int(raw) not in ids:
        raise ApiError(110031, "risk limit info does not exist")
    tier = ids.index(int(raw))
    key = (inst.category, inst.symbol)
    if acct.risk_tier.get(key, 0) == tier:
        raise ApiError(110075, "RiskId not modified")
    pos = acct.positions.get(key)
    if pos is not None and pos.size and exch._value(inst, abs(pos.size), pos.entry) > tiers[tier][1]:  # noqa: SLF001
        raise ApiError(110048, "Risk limit cannot be adjusted as the current position value exceeds the revised risk limit")
    acct.risk_tier[key] = tier
    _push_position(ex, acct, inst)
    return {"category": inst.category, "riskId": tiers[tier][0], "riskLimitValue": fmt(tiers[tier][1])}


@route("POST", "/v5/position/switch-isolated")
async def switch_isolated(ex: Emulator, ctx: RequestContext) -> Any:
    """Per-symbol cross (0) / isolated (1) flag with leverage; shown as the position's tradeMode. The
    margin arithmetic stays cross (module docstring of exchange.py)."""
    exch = ex.exchange
    acct, inst = _position_key(ex, ctx)
    mode = str(ctx.params.get("tradeMode", ""))
    if mode not in ("0", "1"):
        raise ApiError(10001, "params error: tradeMode invalid")
    key = (inst.category, inst.symbol)
    if acct.trade_mode.get(key, 0) == int(mode):
        raise ApiError(110026, "Cross/isolated margin mode is not modified")
    lev_params = {"category": inst.category, "symbol": inst.symbol, "buyLeverage": ctx.params.get("buyLeverage"),
                  "sellLeverage": ctx.params.get("sellLeverage")}
    try:
        exch.set_leverage(acct.uid, lev_params)
    except ApiError as err:
        if err.code != 110043:  # same leverage is fine here
            raise
    acct.trade_mode[key] = int(mode)
    if mode == "0":
        acct.auto_add_margin.pop(key, None)  # auto-add-margin is an isolated-margin setting
    _push_position(ex, acct, inst)
    return {}


@route("POST", "/v5/position/set-auto-add-margin")
async def set_auto_add_margin(ex: Emulator, ctx: RequestContext) -> Any:
    acct, inst = _position_key(ex, ctx, ("linear", "inverse"))
    value = str(ctx.params.get("autoAddMargin", ""))
    if value not in ("0", "1"):
        raise ApiError(10001, "params error: autoAddMargin invalid")
    key = (inst.category, inst.symbol)
    if acct.trade_mode.get(key, 0) != 1:
        raise ApiError(110076, "Only isolated mode can set auto-add-margin")
    acct.auto_add_margin[key] = int(value)
    _push_position(ex, acct, inst)
    return {}


@route("POST", "/v5/position/set-tpsl-mode")
async def set_tpsl_mode(ex: Emulator, ctx: RequestContext) -> Any:
    acct, inst = _position_key(ex, ctx)
    mode = ctx.params.get("tpSlMode")
    if mode not in ("Full", "Partial"):
        raise ApiError(10001, "params error: tpSlMode invalid")
    acct.tpsl_mode[(inst.category, inst.symbol)] = mode
    _push_position(ex, acct, inst)
    return {"tpSlMode": mode}


@route("GET", "/v5/position/symbol-info")
async def symbol_info(ex: Emulator, ctx: RequestContext) -> Any:
    """Per-symbol position settings of the account (leverage, side of the open position)."""
    exch = ex.exchange
    acct = exch.account(_uid(ctx))
    category = exch._category(ctx.params, ("linear", "inverse"))  # noqa: SLF001
    symbol = ctx.params.get("symbol")
    if symbol:
        symbols = [exch.instrument(category, symbol).symbol]
    else:
        symbols = sorted({s for (c, s) in [*acct.leverage, *acct.positions] if c == category})
    rows = []
    for sym in symbols:
        pos = acct.positions.get((category, sym))
        side = ("Buy" if pos.size > 0 else "Sell") if pos is not None and pos.size else ""
        rows.append({"symbol": sym, "leverage": fmt(acct.leverage.get((category, sym), DEFAULT_LEVERAGE)), "side": side, "positionIdx": 0})
    return {"category": category, "list": rows}


@route("GET", "/v5/position/get-closed-positions")
async def closed_positions(ex: Emulator, ctx: RequestContext) -> Any:
    """Positions that went flat, newest first (the docs serve options; the emulator records every category)."""
    exch = ex.exchange
    acct = exch.account(_uid(ctx))
    category = exch._category(ctx.params, ("linear", "inverse", "option"))  # noqa: SLF001
    symbol = ctx.params.get("symbol")
    start, end = _time_range(ctx.params)
    rows = [
        {k: v for k, v in r.items() if k != "category"}
        for r in reversed(acct.closed_positions)
        if r["category"] == category and (not symbol or r["symbol"] == symbol) and start <= r["closeTime"] and (end is None or r["closeTime"] <= end)
    ]
    page, cursor = _page(rows, ctx.params, 50, 100)
    return {"nextPageCursor": cursor, "category": category, "list": page}


@route("POST", "/v5/position/move-positions")
async def move_positions(ex: Emulator, ctx: RequestContext) -> Any:
    """Move positions from the caller (``fromUid``) to another account of this emulator at the given
    prices: both sides trade as a block trade without fees; both accounts see it in move-history."""
    exch = ex.exchange
    uid = _uid(ctx)
    p = ctx.params
    from_uid, to_uid, items = str(p.get("fromUid") or ""), str(p.get("toUid") or ""), p.get("list")
    if not from_uid or not to_uid or not isinstance(items, list) or not items or len(items) > 25:
        raise ApiError(10001, "params error: fromUid, toUid and list (1 to 25 items) are required")
    if from_uid != uid:
        raise ApiError(10001, "params error: fromUid must be the requesting account")
    if to_uid == from_uid or to_uid not in exch.accounts:
        raise ApiError(10001, "params error: toUid invalid")
    src, dst = exch.account(from_uid), exch.account(to_uid)
    legs = []
    for item in items:  # validate everything before moving anything
        if not isinstance(item, dict):
            raise ApiError(10001, "params error: list invalid")
        category = exch._category(item, ("linear", "inverse", "option"))  # noqa: SLF001
        inst = exch.instrument(category, item.get("symbol"))
        side = item.get("side")
        if side not in ("Buy", "Sell"):
            raise ApiError(10001, "params error: side invalid")
        price = _dec(item, "price", 10001, "params error: price invalid")
        qty = _dec(item, "qty", 10001, "params error: qty invalid")
        assert price is not None and qty is not None
        if price <= 0 or qty <= 0 or qty % inst.step != 0:
            raise ApiError(10001, "params error: price or qty invalid")
        pos = src.positions.get((category, inst.symbol))
        # ``side`` is the side of the fromUid's position being moved; it must hold that much.
        if pos is None or pos.size == 0 or (pos.size > 0) != (side == "Buy") or abs(pos.size) < qty:
            raise ApiError(10001, "params error: position size insufficient to move")
        legs.append((category, inst, side, price, qty))
    block_id = exch._uuid()  # noqa: SLF001
    now = now_ms()
    for category, inst, side, price, qty in legs:
        for acct, signed in ((src, -qty if side == "Buy" else qty), (dst, qty if side == "Buy" else -qty)):
            pos = exch._position(acct, category, inst.symbol)  # noqa: SLF001
            before, entry_before = pos.size, pos.entry
            closed, pnl = exch._apply_position(inst, pos, signed, price)  # noqa: SLF001
            exch._track_cycle(acct, inst, pos, before, entry_before, qty, closed, price, Decimal(0), pnl, now)  # noqa: SLF001
            pos.cur_realised += pnl
            pos.cum_realised += pnl
            pos.updated = now
            acct.balances[inst.settle] = acct.balances.get(inst.settle, Decimal(0)) + pnl
            acct.cum_realised[inst.settle] = acct.cum_realised.get(inst.settle, Decimal(0)) + pnl
            row = {
                "blockTradeId": block_id, "category": category, "orderId": exch._uuid(), "userId": int(acct.uid),  # noqa: SLF001
                "symbol": inst.symbol, "side": side if acct is src else ("Sell" if side == "Buy" else "Buy"),
                "price": fmt_step(price, inst.tick), "qty": fmt_step(qty, inst.step), "execFee": "0", "status": "Filled",
                "execId": exch._uuid(), "resultCode": 0, "resultMessage": "", "createdAt": now, "updatedAt": now,  # noqa: SLF001
                "rejectParty": "",
            }
            acct.moves.append(row)
            _push_position(ex, acct, inst)
    return {"blockTradeId": block_id, "status": "Processing", "rejectParty": ""}


@route("GET", "/v5/position/move-history")
async def move_history(ex: Emulator, ctx: RequestContext) -> Any:
    acct = ex.exchange.account(_uid(ctx))
    p = ctx.params
    start, end = _time_range(p)
    rows = [
        r for r in reversed(acct.moves)
        if (not p.get("category") or r["category"] == p["category"]) and (not p.get("symbol") or r["symbol"] == p["symbol"])
        and (not p.get("blockTradeId") or r["blockTradeId"] == p["blockTradeId"]) and (not p.get("status") or r["status"] == p["status"])
        and start <= r["createdAt"] and (end is None or r["createdAt"] <= end)
    ]
    page, cursor = _page(rows, p, 20, 200)
    return {"list": page, "nextPageCursor": cursor}


@route("POST", "/v5/position/confirm-pending-mmr")
async def confirm_pending_mmr(ex: Emulator, ctx: RequestContext) -> Any:
    """Nothing is ever pending: the emulator's maintenance rate is fixed (exchange.py docstring)."""
    _position_key(ex, ctx)
    return {}


@route("POST", "/v5/order/pre-check")
async def pre_check(ex: Emulator, ctx: RequestContext) -> Any:
    """The account's IM / MM rates (x 10^4) now and as if the order rested, without placing it;
    validated exactly as /v5/order/create."""
    exch = ex.exchange
    acct = exch.account(_uid(ctx))
    category = exch._category(ctx.params)  # noqa: SLF001
    order, inst = exch._validate_new(acct, category, ctx.params)  # noqa: SLF001
    view = exch.wallet_view(acct)
    equity = Decimal(view["totalMarginBalance"])
    im, mm = Decimal(view["totalInitialMargin"]), Decimal(view["totalMaintenanceMargin"])
    usd = exch._usd_price(inst.settle if category != "spot" else inst.quote)  # noqa: SLF001
    if category == "spot" or order.reduce_only:
        add_im = add_mm = Decimal(0)
    else:
        value = exch._value(inst, order.leaves, order.price) * usd  # noqa: SLF001
        add_im = value / acct.leverage.get((category, inst.symbol), DEFAULT_LEVERAGE)
        add_mm = value * MAINTENANCE_RATE

    def e4(x: Decimal) -> int:
        return int((x / equity * 10000).to_integral_value()) if equity > 0 else 0

    return {"orderId": "", "orderLinkId": order.link_id, "preImrE4": e4(im), "preMmrE4": e4(mm),
            "postImrE4": e4(im + add_im), "postMmrE4": e4(mm + add_mm)}


def _time_range(p: dict[str, Any]) -> tuple[int, int | None]:
    try:
        return int(p.get("startTime") or 0), (int(p.get("endTime") or 0) or None)
    except (TypeError, ValueError):
        raise ApiError(10001, "params error: startTime / endTime invalid") from None


# ---- account -----------------------------------------------------------------------------------
@route("GET", "/v5/account/info")
async def account_info(ex: Emulator, ctx: RequestContext) -> Any:
    return ex.exchange.account_info(_uid(ctx))


@route("GET", "/v5/account/transaction-log")
async def transaction_log(ex: Emulator, ctx: RequestContext) -> Any:
    exch = ex.exchange
    acct = exch.account(_uid(ctx))
    items = []
    for e in reversed(acct.executions):
        items.append(
            {
                "transSubType": "",
                "id": e["execId"],
                "symbol": e["symbol"],
                "side": e["side"],
                "funding": "",
                "orderLinkId": e["orderLinkId"],
                "orderId": e["orderId"],
                "fee": e["execFee"],
                "change": "",
                "cashFlow": "0",
                "transactionTime": e["execTime"],
                "type": "TRADE",
                "feeRate": e["feeRate"],
                "bonusChange": "",
                "size": e["execQty"],
                "qty": e["execQty"],
                "cashBalance": "",
                "currency": e["feeCurrency"],
                "category": e["category"],
                "tradePrice": e["execPrice"],
                "tradeId": e["execId"],
                "extraFees": "",
            }
        )
    category = ctx.params.get("category")
    if category:
        items = [i for i in items if i["category"] == category]
    from .exchange import _page

    page, cursor = _page(items, ctx.params, 20, 50)
    return {"nextPageCursor": cursor, "list": page}


@route("GET", "/v5/account/collateral-info")
async def collateral_info(ex: Emulator, ctx: RequestContext) -> Any:
    acct = ex.exchange.account(_uid(ctx))
    return {
        "list": [
            {
                "currency": coin,
                "hourlyBorrowRate": HOURLY_BORROW_RATE,
                "maxBorrowingAmount": "1000000",
                "freeBorrowingLimit": "0",
                "freeBorrowAmount": "0",
                "borrowAmount": fmt(acct.borrowed.get(coin, Decimal(0))),
                "otherBorrowAmount": "0",
                "availableToBorrow": "1000000",
                "borrowable": True,
                "borrowUsageRate": "0",
                "marginCollateral": True,
                "collateralSwitch": coin not in acct.collateral_off,
                "collateralRatio": "1",
                "freeBorrowingAmount": "",
            }
            for coin in acct.balances
        ]
    }


@route("GET", "/v5/asset/coin-greeks")
async def coin_greeks(ex: Emulator, ctx: RequestContext) -> Any:
    acct = ex.exchange.account(_uid(ctx))
    base = ctx.params.get("baseCoin") or "BTC"
    return {"list": [ex.exchange.greeks_view(acct, base)]}


@route("POST", "/v5/account/set-margin-mode")
async def set_margin_mode(ex: Emulator, ctx: RequestContext) -> Any:
    mode = ctx.params.get("setMarginMode")
    if mode not in ("ISOLATED_MARGIN", "REGULAR_MARGIN", "PORTFOLIO_MARGIN"):
        raise ApiError(10001, "params error: setMarginMode invalid")
    if mode != "REGULAR_MARGIN":
        return {"reasons": [{"reasonCode": "3400045", "reasonMsg": "The emulator supports cross margin only."}]}
    return {"reasons": []}


# ---- asset -------------------------------------------------------------------------------------
def _coin_balance(ex: Emulator, ctx: RequestContext, coin: str) -> dict[str, Any]:
    exch = ex.exchange
    acct = exch.account(_uid(ctx))
    from .exchange import fmt

    bal = acct.balances.get(coin)
    if bal is None:
        return {"coin": coin, "walletBalance": "0", "transferBalance": "0", "bonus": "0", "transferSafeAmount": "", "ltvTransferSafeAmount": ""}
    return {
        "coin": coin,
        "walletBalance": fmt(bal),
        "transferBalance": fmt(exch.transferable(acct, "UNIFIED", coin)),  # what inter-transfer accepts
        "bonus": "0",
        "transferSafeAmount": "",
        "ltvTransferSafeAmount": "",
    }


def _fund_balance(ex: Emulator, ctx: RequestContext, coin: str) -> dict[str, Any]:
    from .exchange import fmt

    bal = ex.exchange.account(_uid(ctx)).funding.get(coin)
    text = fmt(bal) if bal is not None else "0"
    return {"coin": coin, "walletBalance": text, "transferBalance": text, "bonus": "0", "transferSafeAmount": "", "ltvTransferSafeAmount": ""}


@route("GET", "/v5/asset/transfer/query-account-coins-balance")
async def account_coins_balance(ex: Emulator, ctx: RequestContext) -> Any:
    account_type = ctx.params.get("accountType")
    if not account_type:
        raise ApiError(10001, "params error: accountType is required")
    acct = ex.exchange.account(_uid(ctx))
    coin = ctx.params.get("coin")
    if account_type == "FUND":
        coins = [c for c in str(coin).split(",") if c] if coin else list(acct.funding)
        balances = [_fund_balance(ex, ctx, c) for c in coins]
    elif account_type == "UNIFIED":
        coins = [c for c in str(coin).split(",") if c] if coin else list(acct.balances)
        balances = [_coin_balance(ex, ctx, c) for c in coins]
    else:
        balances = []
    return {"accountType": account_type, "memberId": acct.uid, "balance": balances}


@route("GET", "/v5/asset/transfer/query-account-coin-balance")
async def account_coin_balance(ex: Emulator, ctx: RequestContext) -> Any:
    account_type = ctx.params.get("accountType")
    coin = ctx.params.get("coin")
    if not account_type or not coin:
        raise ApiError(10001, "params error: accountType and coin are required")
    acct = ex.exchange.account(_uid(ctx))
    if account_type == "UNIFIED":
        bal = _coin_balance(ex, ctx, coin)
    elif account_type == "FUND":
        bal = _fund_balance(ex, ctx, coin)
    else:
        bal = {"coin": coin, "walletBalance": "0", "transferBalance": "0", "bonus": "0"}
    return {"accountType": account_type, "bizType": 1, "accountId": acct.uid, "memberId": acct.uid, "balance": bal}


@route("GET", "/v5/asset/transfer/query-transfer-coin-list")
async def transfer_coin_list(ex: Emulator, ctx: RequestContext) -> Any:
    acct = ex.exchange.account(_uid(ctx))
    return {"list": list(acct.balances)}


# Deposit / withdrawal chains per coin: (chain, chainType, confirmation, withdrawFee, depositMin,
# withdrawMin, minAccuracy, contractAddress). Figures in the range the exchange shows; coins not
# listed get one native chain named after the coin.
_CHAINS: dict[str, tuple[tuple[str, str, str, str, str, str, str, str], ...]] = {
    "BTC": (("BTC", "BTC", "1", "0.0001", "0.0001", "0.001", "8", ""),),
    "ETH": (
        ("ETH", "Ethereum", "6", "0.0006", "0.00001", "0.002", "8", ""),
        ("ARBI", "Arbitrum One", "10", "0.0001", "0.00001", "0.001", "8", ""),
    ),
    "SOL": (("SOL", "SOL", "100", "0.004", "0.001", "0.01", "8", ""),),
    "USDT": (
        ("ETH", "Ethereum (ERC20)", "6", "3", "0", "10", "6", "0xdac17f958d2ee523a2206206994597c13d831ec7"),
        ("TRX", "TRC20", "20", "1", "0", "10", "6", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
    ),
    "USDC": (("ETH", "Ethereum (ERC20)", "6", "3", "0", "10", "6", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"),),
}


def _chains(coin: str) -> tuple[tuple[str, str, str, str, str, str, str, str], ...]:
    return _CHAINS.get(coin) or ((coin, coin, "12", "0", "0", "0", "8", ""),)


def known_coins(ex: Emulator, uid: str | None = None) -> list[str]:
    """Every coin the emulator lists: instrument base / quote / settle coins and wallet coins."""
    coins: dict[str, None] = {}
    for category in ex.market.categories:
        for info in ex.market.instruments(category):
            for key in ("baseCoin", "quoteCoin", "settleCoin"):
                c = info.get(key)
                if c and c != "USD":  # inverse contracts quote in USD, which is no coin on Bybit
                    coins[c] = None
    if uid is not None:
        acct = ex.exchange.account(uid)
        coins.update(dict.fromkeys(acct.balances))
        coins.update(dict.fromkeys(acct.funding))
    return sorted(coins)


@route("GET", "/v5/asset/coin/query-info")
async def coin_info(ex: Emulator, ctx: RequestContext) -> Any:
    coin = ctx.params.get("coin")
    rows = []
    for c in known_coins(ex, _uid(ctx)):
        if coin and c != coin:
            continue
        chains = [
            {
                "chainType": ctype,
                "confirmation": conf,
                "withdrawFee": fee,
                "depositMin": dmin,
                "withdrawMin": wmin,
                "chain": chain,
                "chainDeposit": "1",
                "chainWithdraw": "1",
                "minAccuracy": acc,
                "withdrawPercentageFee": "0",
                "contractAddress": contract,
                "safeConfirmNumber": conf,
            }
            for chain, ctype, conf, fee, dmin, wmin, acc, contract in _chains(c)
        ]
        rows.append({"name": c, "coin": c, "remainAmount": "1000000", "chains": chains})
    return {"rows": rows}


def deposit_address_of(uid: str, coin: str, chain: str) -> str:
    """A stable, well-formed address per (account, coin, chain): never a real wallet."""
    import hashlib

    digest = hashlib.sha256(f"bybitfast-emulator:{uid}:{coin}:{chain}".encode()).hexdigest()
    if chain == "BTC":
        return "bc1q" + digest[:38]
    if chain in ("TRX",):
        return "T" + digest[:33]
    if chain == "SOL":
        return digest[:44]
    return "0x" + digest[:40]


@route("GET", "/v5/asset/withdraw/withdrawable-amount")
async def withdrawable(ex: Emulator, ctx: RequestContext) -> Any:
    coin = ctx.params.get("coin")
    if not coin:
        raise ApiError(10001, "params error: coin is required")
    bal = _coin_balance(ex, ctx, coin)
    return {
        "limitAmountUsd": "1000000",
        "withdrawableAmount": {
            "UTA": {"coin": coin, "withdrawableAmount": bal["transferBalance"], "availableBalance": bal["walletBalance"]}
        },
    }


@route("GET", "/v5/asset/deposit/query-address")
async def deposit_address(ex: Emulator, ctx: RequestContext) -> Any:
    coin = ctx.params.get("coin")
    if not coin:
        raise ApiError(10001, "params error: coin is required")
    uid = _uid(ctx)
    if coin not in known_coins(ex, uid):
        raise ApiError(131002, "Parameter error")  # coin not listed
    wanted = ctx.params.get("chainType")
    chains = [
        {
            "chainType": ctype,
            "addressDeposit": deposit_address_of(uid, coin, chain),
            "tagDeposit": "",
            "chain": chain,
            "batchReleaseLimit": "-1",
            "contractAddress": contract[-6:],  # the exchange shows only the last 6 characters
        }
        for chain, ctype, _conf, _fee, _dmin, _wmin, _acc, contract in _chains(coin)
        if not wanted or chain == wanted
    ]
    return {"coin": coin, "chains": chains}


@route("GET", "/v5/asset/transfer/query-inter-transfer-list")
async def inter_transfer_list(ex: Emulator, ctx: RequestContext) -> Any:
    acct = ex.exchange.account(_uid(ctx))
    p = ctx.params
    try:
        start = int(p.get("startTime") or 0)
        end = int(p.get("endTime") or 0) or None
    except ValueError:
        raise ApiError(10001, "params error: startTime / endTime invalid") from None
    rows = [
        t
        for t in reversed(acct.transfers)
        if (not p.get("transferId") or t["transferId"] == p["transferId"])
        and (not p.get("coin") or t["coin"] == p["coin"])
        and (not p.get("status") or t["status"] == p["status"])
        and start <= int(t["timestamp"])
        and (end is None or int(t["timestamp"]) <= end)
    ]
    from .exchange import _page

    page, cursor = _page(rows, p, 20, 50)
    return {"list": page, "nextPageCursor": cursor}


@route("GET", "/v5/user/query-api")
async def query_api(ex: Emulator, ctx: RequestContext) -> Any:
    return {
        "id": "1",
        "note": "bybitfast emulator",
        "apiKey": ctx.api_key or "",
        "readOnly": 0,
        "secret": "",
        "permissions": {
            "ContractTrade": ["Order", "Position"],
            "Spot": ["SpotTrade"],
            "Wallet": ["AccountTransfer"],
            "Options": ["OptionsTrade"],
            "Derivatives": [],
            "CopyTrading": [],
            "BlockTrade": [],
            "Exchange": [],
            "NFT": [],
            "Affiliate": [],
            "Earn": [],
        },
        "ips": ["*"],
        "type": 1,
        "deadlineDay": -1,
        "expiredAt": "",
        "createdAt": "2024-01-01T00:00:00Z",
        "unified": 0,
        "uta": 1,
        "userID": int(ctx.uid or 0),
        "inviterID": 0,
        "vipLevel": "No VIP",
        "mktMakerLevel": "0",
        "affiliateID": 0,
        "rsaPublicKey": "",
        "isMaster": True,
        "parentUid": "0",
        "kycLevel": "LEVEL_DEFAULT",
        "kycRegion": "",
    }


@route("GET", "/v5/spot-margin-trade/data")
async def vip_margin_data(ex: Emulator, ctx: RequestContext) -> Any:
    """Public VIP margin table; the emulator has one tier ("No VIP") and one rate for every coin."""
    level = ctx.params.get("vipLevel") or "No VIP"
    currency = ctx.params.get("currency")
    items = [
        {
            "borrowable": True,
            "collateralRatio": "1" if c in ("USDT", "USDC") else "0.95",
            "currency": c,
            "hourlyBorrowRate": HOURLY_BORROW_RATE,
            "liquidationOrder": str(i + 1),
            "marginCollateral": True,
            "maxBorrowingAmount": "1000000",
        }
        for i, c in enumerate(known_coins(ex))
        if not currency or c == currency
    ]
    return {"vipCoinList": [{"list": items, "vipLevel": level}] if level == "No VIP" else []}


@route("POST", "/v5/account/demo-apply-money")
async def demo_apply_money(ex: Emulator, ctx: RequestContext) -> Any:
    acct = ex.exchange.account(_uid(ctx))
    from decimal import Decimal, InvalidOperation

    items = ctx.params.get("utaDemoApplyMoney") or []
    if not isinstance(items, list):
        raise ApiError(10001, "params error: utaDemoApplyMoney invalid")
    changes = []
    for item in items:
        try:
            coin, amount = item["coin"], Decimal(str(item["amountStr"]))
        except (KeyError, TypeError, InvalidOperation):
            raise ApiError(10001, "params error: utaDemoApplyMoney invalid") from None
        changes.append((coin, amount))
    add = str(ctx.params.get("adjustType", 0)) == "0"
    for coin, amount in changes:
        acct.balances[coin] = acct.balances.get(coin, Decimal(0)) + (amount if add else -amount)
    return {}


def generic_handler(method: str, path: str) -> Handler:
    """The documented-shape empty answer for a routed path without dedicated state: its template from
    :mod:`.schemas` (object results keep their fields), else the list shape for reads and {} for writes."""
    template = RESULTS.get((method, path))

    async def handler(ex: Emulator, ctx: RequestContext) -> Any:
        if template is not None:
            return copy.deepcopy(template)  # a fresh answer per request: nothing downstream can alter the table
        if method == "GET":
            return {"list": [], "nextPageCursor": ""}
        return {}

    return handler
