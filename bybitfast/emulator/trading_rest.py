"""REST handlers for trade, position, account and asset endpoints, backed by the exchange state.

Every other private path of the endpoint table (earn, loans, broker, p2p, ...) gets a
schema-correct empty answer from :func:`generic_handler`: list-style reads answer
``{"list": [], "nextPageCursor": ""}``, writes answer ``{}`` — what the exchange returns for an
account that has nothing there.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .common import ApiError, RequestContext

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

# Paths with a fixed answer: the emulated account never has DCP settings, conversions, deposits,
# withdrawals or a system notice.
_FIXED: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("GET", "/v5/account/query-dcp-info", {"dcpInfos": []}),
    ("GET", "/v5/asset/exchange/order-record", {"orderBody": [], "nextPageCursor": ""}),
    ("GET", "/v5/asset/deposit/query-record", {"rows": [], "nextPageCursor": ""}),
    ("GET", "/v5/asset/withdraw/query-record", {"rows": [], "nextPageCursor": ""}),
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
                "borrowAmount": "0",
                "otherBorrowAmount": "0",
                "availableToBorrow": "1000000",
                "borrowable": True,
                "borrowUsageRate": "0",
                "marginCollateral": True,
                "collateralSwitch": True,
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
    """The documented-shape empty answer for a routed path without dedicated state."""

    async def handler(ex: Emulator, ctx: RequestContext) -> Any:
        if method == "GET":
            return {"list": [], "nextPageCursor": ""}
        return {}

    return handler

