"""Accounts, wallets, positions and the matching engine of the emulator.

One UNIFIED account per uid: coin balances (USDT, USDC, BTC by default), one-way positions per
derivatives symbol, orders, executions. Incoming orders match against the synthetic book of
:class:`~bybitfast.emulator.market.Market` (taker, walking levels up to the limit price); what is
left of a GTC / PostOnly order rests and fills as maker at its own price once the market moves
through it (:meth:`Market.on_step`). All money is :class:`~decimal.Decimal`: nothing rounds
silently.

Every method that takes request parameters validates all of them before changing anything, raises
:class:`~bybitfast.emulator.common.ApiError` with the exchange's retCode, and leaves state intact
on error. After every order event the account's listeners get the pushes the private stream sends
(order, execution, execution.fast, position, wallet, greeks), in the exchange's field layout.

Simplifications (documented, not hidden): one-way position mode only; cross margin with a flat
0.5 % maintenance rate, no liquidation; options are accounted like linear contracts settled in
USDC; funding is not charged.
"""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from .common import ApiError, now_ms

if TYPE_CHECKING:
    from .market import Market

CATEGORIES = ("spot", "linear", "inverse", "option")
DERIVATIVES = ("linear", "inverse", "option")
ZERO = Decimal(0)
ONE = Decimal(1)
_CTX = Context(prec=40)
_DISPLAY = Decimal("1e-12")
COIN_UNIT = Decimal("1e-8")  # coin amounts of inverse contracts are kept to 8 decimals, as on the exchange

DEFAULT_BALANCES = {"USDT": Decimal("100000"), "USDC": Decimal("50000"), "BTC": Decimal("1")}
# (maker, taker) per category: Bybit's non-VIP defaults.
FEE_RATES = {
    "spot": (Decimal("0.001"), Decimal("0.001")),
    "linear": (Decimal("0.0002"), Decimal("0.00055")),
    "inverse": (Decimal("0.0002"), Decimal("0.00055")),
    "option": (Decimal("0.0003"), Decimal("0.0003")),
}
MAINTENANCE_RATE = Decimal("0.005")
DEFAULT_LEVERAGE = Decimal(10)
MARKET_PROTECTION = Decimal("0.05")  # market orders become IOC limits 5 % through the last price
BATCH_LIMITS = {"spot": 10, "linear": 20, "inverse": 20, "option": 20}
ACTIVE = ("New", "PartiallyFilled", "Untriggered")
UNSUPPORTED_ORDER_PARAMS = ("triggerPrice", "takeProfit", "stopLoss", "tpLimitPrice", "slLimitPrice")

Listener = Callable[[str, str, str, list[dict[str, Any]]], None]  # (uid, topic, category, items)


def fmt(value: Decimal | None) -> str:
    """Plain decimal string without exponent or trailing zeros ("0" for zero)."""
    if value is None:
        return ""
    if value == 0:
        return "0"
    exp = value.as_tuple().exponent
    if isinstance(exp, int) and exp < -12:  # derived figures (inverse entry, uPnL): 12 decimals
        value = value.quantize(_DISPLAY, ROUND_HALF_UP, _CTX)
        if value == 0:
            return "0"
    return format(value.normalize(_CTX), "f")


def fmt_step(value: Decimal, step: Decimal) -> str:
    """A quantity or price written with the instrument's precision ("0.10" for step 0.01)."""
    exp = step.normalize().as_tuple().exponent
    if isinstance(exp, int) and exp < 0:
        return format(value.quantize(Decimal(1).scaleb(exp)), "f")
    return fmt(value)


def _dec(params: dict[str, Any], name: str, code: int, msg: str, *, required: bool = True) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise ApiError(code, msg)
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise ApiError(code, msg)
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ApiError(code, msg) from None
    if not value.is_finite():
        raise ApiError(code, msg)
    return value


def _bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


@dataclass
class Instrument:
    """The trading rules of one symbol, parsed once from instruments-info."""

    category: str
    symbol: str
    base: str
    quote: str
    settle: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_price: Decimal
    max_price: Decimal
    min_notional: Decimal
    max_leverage: Decimal
    price_limit: Decimal | None

    @classmethod
    def from_info(cls, category: str, info: dict[str, Any]) -> Instrument:
        lot = info.get("lotSizeFilter") or {}
        pf = info.get("priceFilter") or {}
        lev = info.get("leverageFilter") or {}
        risk = info.get("riskParameters") or {}
        step = lot.get("qtyStep") or lot.get("basePrecision") or "0.001"
        base = info.get("baseCoin", "")
        quote_coin = info.get("quoteCoin", "")
        settle = info.get("settleCoin") or (base if category == "inverse" else quote_coin)
        if category == "option":
            settle = info.get("settleCoin") or "USDC"
        return cls(
            category=category,
            symbol=info["symbol"],
            base=base,
            quote=quote_coin,
            settle=settle,
            tick=Decimal(pf.get("tickSize") or "0.01"),
            step=Decimal(step),
            min_qty=Decimal(lot.get("minOrderQty") or step),
            max_qty=Decimal(lot.get("maxOrderQty") or lot.get("maxLimitOrderQty") or "1000000000"),
            min_price=Decimal(pf.get("minPrice") or "0"),
            max_price=Decimal(pf.get("maxPrice") or "0"),
            min_notional=Decimal(lot.get("minNotionalValue") or lot.get("minOrderAmt") or "0"),
            max_leverage=Decimal(lev.get("maxLeverage") or "100"),
            price_limit=Decimal(risk["priceLimitRatioY"]) if risk.get("priceLimitRatioY") else None,
        )


@dataclass
class Order:
    order_id: str
    link_id: str
    uid: str
    category: str
    symbol: str
    side: str
    order_type: str
    tif: str
    qty: Decimal
    price: Decimal  # limit price (market orders: the protection price)
    reduce_only: bool
    created: int
    market_unit: str = ""
    status: str = "New"
    reject_reason: str = "EC_NoError"
    cancel_type: str = "UNKNOWN"
    cum_qty: Decimal = ZERO
    cum_value: Decimal = ZERO
    cum_fee: Decimal = ZERO
    fee_coin: str = ""
    closed_pnl: Decimal = ZERO
    last_price_on_created: Decimal = ZERO
    updated: int = 0
    close_on_trigger: bool = False
    quote_qty: bool = False  # spot market buy sized in quote coin

    @property
    def leaves(self) -> Decimal:
        if self.status not in ACTIVE:
            return ZERO
        return max(self.qty - (self.cum_value if self.quote_qty else self.cum_qty), ZERO)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass
class Position:
    category: str
    symbol: str
    size: Decimal = ZERO  # signed: > 0 long, < 0 short
    entry: Decimal = ZERO
    leverage: Decimal = DEFAULT_LEVERAGE
    cum_realised: Decimal = ZERO
    cur_realised: Decimal = ZERO
    created: int = field(default_factory=now_ms)
    updated: int = field(default_factory=now_ms)
    seq: int = 0
    added_margin: Decimal = ZERO  # add-margin on top of the initial margin; released when the position closes
    opened: int = 0  # when the current position opened (closed-position records)
    open_fee: Decimal = ZERO
    close_fee: Decimal = ZERO
    exit_value: Decimal = ZERO
    closed_qty: Decimal = ZERO
    cycle_pnl: Decimal = ZERO


@dataclass
class Account:
    uid: str
    balances: dict[str, Decimal]
    cum_realised: dict[str, Decimal] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)  # every order ever, insertion = time order
    link_ids: dict[tuple[str, str], str] = field(default_factory=dict)  # (category, orderLinkId) -> orderId
    executions: list[dict[str, Any]] = field(default_factory=list)
    leverage: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    created: int = field(default_factory=now_ms)
    funding: dict[str, Decimal] = field(default_factory=dict)  # the FUND wallet (no margin, no trading)
    transfers: list[dict[str, Any]] = field(default_factory=list)  # inter-transfer records, oldest first
    # Per-symbol position settings that outlive a position: (category, symbol) -> value.
    risk_tier: dict[tuple[str, str], int] = field(default_factory=dict)  # index into risk_tiers()
    trade_mode: dict[tuple[str, str], int] = field(default_factory=dict)  # 0 cross, 1 isolated
    auto_add_margin: dict[tuple[str, str], int] = field(default_factory=dict)
    tpsl_mode: dict[tuple[str, str], str] = field(default_factory=dict)
    closed_positions: list[dict[str, Any]] = field(default_factory=list)  # get-closed-positions rows, oldest first
    moves: list[dict[str, Any]] = field(default_factory=list)  # move-positions history rows, oldest first
    # Funds (asset_rest.py): liabilities and the records the asset endpoints list, oldest first.
    borrowed: dict[str, Decimal] = field(default_factory=dict)
    borrow_log: list[dict[str, Any]] = field(default_factory=list)
    withdrawals: list[dict[str, Any]] = field(default_factory=list)
    quotes: dict[str, dict[str, Any]] = field(default_factory=dict)  # quoteTxId -> quote
    converts: list[dict[str, Any]] = field(default_factory=list)
    universal_transfers: list[dict[str, Any]] = field(default_factory=list)
    internal_deposits: list[dict[str, Any]] = field(default_factory=list)
    fund_log: list[dict[str, Any]] = field(default_factory=list)  # FUND wallet history (fundinghistory)
    collateral_off: set[str] = field(default_factory=set)
    settings: dict[str, Any] = field(default_factory=dict)  # account-level switches (hedging, delta, limit-px, ...)
    mmp: dict[str, dict[str, Any]] = field(default_factory=dict)  # baseCoin -> market maker protection config


class _Events:
    """Pushes produced by one operation, published together once it is complete."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, dict[str, Any]]] = []  # (topic, category, item)

    def add(self, topic: str, category: str, item: dict[str, Any]) -> None:
        self.items.append((topic, category, item))


class Exchange:
    """Every account of one emulator and the engine that trades them against the market."""

    def __init__(self, market: Market, *, seed: int = 1) -> None:
        self.market = market
        self.accounts: dict[str, Account] = {}
        self.listeners: list[Listener] = []
        self._rng = random.Random(seed)
        self._next_uid = 100000001
        self._spot_id = 1900000000000000000 + (seed % 1000) * 1_000_000_000
        self._seq = 8_000_000_000
        self._instruments: dict[tuple[str, str], Instrument] = {}
        self.pending_withdrawals = False  # set by withdraw/create; the next market step sends them
        market.on_step(self.on_market_step)

    # ---- accounts --------------------------------------------------------------------------
    def create_account(self, uid: str | None = None, balances: dict[str, Any] | None = None) -> Account:
        """A new UNIFIED account (default balances unless given); returns the existing one if uid is known."""
        if uid is not None and uid in self.accounts:
            return self.accounts[uid]
        if uid is None:
            uid = str(self._next_uid)
            self._next_uid += 1
        src = DEFAULT_BALANCES if balances is None else balances
        acct = Account(uid, {coin: Decimal(str(v)) for coin, v in src.items()})
        self.accounts[uid] = acct
        return acct

    def account(self, uid: str) -> Account:
        try:
            return self.accounts[uid]
        except KeyError:
            raise ApiError(10003, "API key is invalid.") from None

    def set_balance(self, uid: str, coin: str, amount: Any) -> None:
        """Test helper: set a wallet balance directly."""
        self.account(uid).balances[coin] = Decimal(str(amount))

    # ---- helpers ---------------------------------------------------------------------------
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _order_id(self, category: str) -> str:
        if category == "spot":
            self._spot_id += 1
            return str(self._spot_id)
        return self._uuid()

    def _next_seq(self) -> int:
        self._seq += self._rng.randint(1, 7)
        return self._seq

    def instrument(self, category: str, symbol: Any) -> Instrument:
        if category not in CATEGORIES:
            raise ApiError(10001, "Illegal category")
        if not isinstance(symbol, str) or not symbol:
            raise ApiError(10001, "params error: symbol invalid" if category != "spot" else "Not supported symbols")
        key = (category, symbol)
        inst = self._instruments.get(key)
        if inst is None:
            info = self.market.instrument(category, symbol)
            if info is None:
                raise ApiError(10001, "params error: symbol invalid" if category != "spot" else "Not supported symbols")
            inst = Instrument.from_info(category, info)
            self._instruments[key] = inst
        return inst

    @staticmethod
    def _category(params: dict[str, Any], allowed: tuple[str, ...] = CATEGORIES) -> str:
        cat = params.get("category")
        if cat is None or cat == "":
            raise ApiError(10001, "params error: Category is null")
        if cat not in allowed:
            raise ApiError(10001, "Illegal category")
        return cat

    def _position(self, acct: Account, category: str, symbol: str) -> Position:
        key = (category, symbol)
        pos = acct.positions.get(key)
        if pos is None:
            pos = Position(category, symbol, leverage=acct.leverage.get(key, DEFAULT_LEVERAGE))
            acct.positions[key] = pos
        return pos

    def _mark(self, category: str, symbol: str) -> Decimal:
        try:
            return Decimal(self.market.mark_price(category, symbol))
        except Exception:  # noqa: BLE001 - an instrument without a price: fall back to last
            return Decimal(self.market.last_price(category, symbol))

    def _usd_price(self, coin: str) -> Decimal:
        if coin in ("USDT", "USDC", "USD"):
            return ONE
        for category, symbol in (("spot", coin + "USDT"), ("linear", coin + "USDT")):
            try:
                if self.market.instrument(category, symbol) is not None:
                    return Decimal(self.market.last_price(category, symbol))
            except Exception:  # noqa: BLE001
                continue
        return ZERO

    # ---- margin ----------------------------------------------------------------------------
    @staticmethod
    def _value(inst: Instrument, qty: Decimal, price: Decimal) -> Decimal:
        """Position / order value in the settle coin."""
        if inst.category == "inverse":
            return qty / price if price else ZERO
        return qty * price

    def _open_positions(self, acct: Account, coin: str) -> Iterator[tuple[Instrument, Position]]:
        """The account's open positions that settle in ``coin``, with their instruments."""
        for pos in acct.positions.values():
            if pos.size:
                inst = self.instrument(pos.category, pos.symbol)
                if inst.settle == coin:
                    yield inst, pos

    def _upl(self, acct: Account, coin: str) -> Decimal:
        positions = self._open_positions(acct, coin)
        return sum((self._pos_upl(inst, pos, self._mark(pos.category, pos.symbol)) for inst, pos in positions), ZERO)

    @staticmethod
    def _pos_upl(inst: Instrument, pos: Position, mark: Decimal) -> Decimal:
        if pos.size == 0 or mark == 0:
            return ZERO
        if inst.category == "inverse":
            return pos.size * (ONE / pos.entry - ONE / mark)
        return pos.size * (mark - pos.entry)

    def _position_im(self, acct: Account, coin: str) -> Decimal:
        positions = self._open_positions(acct, coin)
        return sum((self._value(inst, abs(pos.size), pos.entry) / pos.leverage + pos.added_margin for inst, pos in positions), ZERO)

    def _order_im(self, acct: Account, coin: str) -> Decimal:
        total = ZERO
        for o in acct.orders.values():
            if not o.active or o.category == "spot" or o.reduce_only:
                continue
            inst = self.instrument(o.category, o.symbol)
            if inst.settle == coin:
                lev = acct.leverage.get((o.category, o.symbol), DEFAULT_LEVERAGE)
                total += self._value(inst, o.leaves, o.price) / lev
        return total

    def _spot_locked(self, acct: Account, coin: str) -> Decimal:
        total = ZERO
        for o in acct.orders.values():
            if not o.active or o.category != "spot":
                continue
            inst = self.instrument("spot", o.symbol)
            if o.side == "Buy" and inst.quote == coin:
                total += o.leaves * o.price
            elif o.side == "Sell" and inst.base == coin:
                total += o.leaves
        return total

    def withdrawable(self, acct: Account, coin: str) -> Decimal:
        """``availableToWithdraw``: wallet minus margin in use and spot locks; a loss counts, a profit does not."""
        bal = acct.balances.get(coin, ZERO)
        used = self._order_im(acct, coin) + self._position_im(acct, coin) + self._spot_locked(acct, coin)
        return max(bal - used + min(self._upl(acct, coin), ZERO), ZERO)

    def available(self, acct: Account, coin: str) -> Decimal:
        """What a new order may use: wallet + uPnL - position IM - order IM - spot locks."""
        bal = acct.balances.get(coin, ZERO)
        return bal + self._upl(acct, coin) - self._position_im(acct, coin) - self._order_im(acct, coin) - self._spot_locked(acct, coin)

    # ---- order validation ------------------------------------------------------------------
    @staticmethod
    def _reject_unsupported(p: dict[str, Any]) -> None:
        """Conditional and TP/SL orders are not emulated: refuse them rather than trade them as
        plain orders (a stop buy would otherwise fill at once). "0" / "" mean "none", as on the exchange."""
        for name in UNSUPPORTED_ORDER_PARAMS:
            value = p.get(name)
            if value not in (None, "", "0", 0):
                raise ApiError(10001, f"params error: {name} is not supported by the emulator (no conditional or TP/SL orders)")
        if p.get("orderFilter") not in (None, "", "Order"):
            raise ApiError(10001, "params error: orderFilter is not supported by the emulator (no conditional or TP/SL orders)")

    def _validate_new(self, acct: Account, category: str, p: dict[str, Any]) -> tuple[Order, Instrument]:
        self._reject_unsupported(p)
        spot = category == "spot"
        inst = self.instrument(category, p.get("symbol"))
        side = p.get("side")
        if side not in ("Buy", "Sell"):
            raise ApiError(170117, "Invalid side.") if spot else ApiError(10001, "params error: side invalid")
        otype = p.get("orderType")
        if otype not in ("Limit", "Market"):
            raise ApiError(170116, "Invalid orderType.") if spot else ApiError(10001, "params error: orderType invalid")
        tif = p.get("timeInForce") or "GTC"
        if tif not in ("GTC", "IOC", "FOK", "PostOnly"):
            raise ApiError(170115, "Invalid timeInForce.") if spot else ApiError(10001, "params error: timeInForce invalid")
        if otype == "Market":
            tif = "IOC"
        qty = _dec(p, "qty", 10001, "Qty invalid")
        assert qty is not None
        market_unit = p.get("marketUnit") or ""
        quote_qty = spot and otype == "Market" and side == "Buy" and market_unit != "baseCoin"
        if quote_qty:
            market_unit = "quoteCoin" if not market_unit else market_unit
        if qty <= 0:
            raise ApiError(170136, "Order quantity lower than the minimum.") if spot else ApiError(10001, "Qty invalid")
        if not quote_qty:
            if qty % inst.step != 0:
                raise ApiError(170137, "Order volume decimal too long") if spot else ApiError(10001, "Qty invalid")
            if qty < inst.min_qty:
                raise (
                    ApiError(170136, "Order quantity lower than the minimum.")
                    if spot
                    else ApiError(10001, "The number of contracts exceeds minimum limit allowed")
                )
            if qty > inst.max_qty:
                raise (
                    ApiError(170381, "Order quantity too large.")
                    if spot
                    else ApiError(10001, "The number of contracts exceeds maximum limit allowed: too large")
                )
        bid, ask = self.market.best_bid_ask(category, inst.symbol)
        last = Decimal(self.market.last_price(category, inst.symbol))
        if otype == "Limit":
            price = _dec(p, "price", 10001, "params error: price invalid")
            assert price is not None
            if price <= 0 or (inst.max_price and price > inst.max_price) or price < inst.min_price:
                raise ApiError(170132, "Order price too high.") if spot and price > 0 else ApiError(10001, "Price invalid")
            if price % inst.tick != 0:
                raise ApiError(170134, "Order price decimal too long.") if spot else ApiError(10001, "Price invalid")
            if inst.price_limit is not None and not spot:
                mark = self._mark(category, inst.symbol)
                if (side == "Buy" and price > mark * (ONE + inst.price_limit)) or (
                    side == "Sell" and price < mark * (ONE - inst.price_limit)
                ):
                    raise ApiError(110003, "Order price exceeds the allowable range.")
        else:
            ref = last or (ask if side == "Buy" else bid)
            raw = ref * (ONE + MARKET_PROTECTION) if side == "Buy" else ref * (ONE - MARKET_PROTECTION)
            rounding = ROUND_DOWN if side == "Buy" else ROUND_HALF_UP
            price = (raw / inst.tick).to_integral_value(rounding) * inst.tick
        if not quote_qty and inst.min_notional:
            notional = qty * (price if otype == "Limit" else last)
            if category == "inverse":
                notional = ZERO  # inverse qty is already USD
            if notional and notional < inst.min_notional:
                raise (
                    ApiError(170140, "Order value exceeded lower limit")
                    if spot
                    else ApiError(110094, f"Order does not meet minimum order value {fmt(inst.min_notional)}{inst.quote}")
                )
        link = p.get("orderLinkId") or ""
        if not isinstance(link, str) or len(link) > 36:
            raise ApiError(10001, "params error: orderLinkId invalid")
        if link and (category, link) in acct.link_ids:
            raise ApiError(170141, "Duplicate clientOrderId") if spot else ApiError(110072, "OrderLinkedID is duplicate")
        idx = p.get("positionIdx", 0)
        if idx not in (0, "0", None, ""):
            raise ApiError(10001, "position idx not match position mode")
        reduce_only = _bool(p.get("reduceOnly")) or _bool(p.get("closeOnTrigger"))
        if spot and reduce_only:
            raise ApiError(10001, "params error: reduceOnly is not supported for spot")
        if reduce_only:
            pos = acct.positions.get((category, inst.symbol))
            size = pos.size if pos else ZERO
            if size == 0 or (size > 0) == (side == "Buy"):
                raise ApiError(110017, "current position is zero, cannot fix reduce-only order qty")
            qty = min(qty, abs(size))  # the exchange trims a reduce-only order to the position
        order = Order(
            order_id="",
            link_id=link,
            uid=acct.uid,
            category=category,
            symbol=inst.symbol,
            side=side,
            order_type=otype,
            tif=tif,
            qty=qty,
            price=price,
            reduce_only=reduce_only,
            created=0,
            market_unit=market_unit,
            last_price_on_created=last,
            close_on_trigger=_bool(p.get("closeOnTrigger")),
            quote_qty=quote_qty,
        )
        self._check_funds(acct, inst, order)
        return order, inst

    def _check_funds(self, acct: Account, inst: Instrument, order: Order) -> None:
        """Reject a new order the account cannot pay for (the order is not yet on the books)."""
        if inst.category == "spot":
            if order.side == "Buy":
                need, coin = (order.qty if order.quote_qty else order.leaves * order.price), inst.quote
            else:
                need, coin = order.leaves, inst.base
            if need > self.available(acct, coin):
                raise ApiError(170131, "Balance insufficient")
            return
        if order.reduce_only:
            return
        pos = acct.positions.get((inst.category, inst.symbol))
        size = pos.size if pos else ZERO
        signed = order.leaves if order.side == "Buy" else -order.leaves
        if size == 0 or (size > 0) == (signed > 0):
            opening = abs(signed)
        else:
            opening = max(abs(signed) - abs(size), ZERO)
        if opening == 0:
            return
        lev = acct.leverage.get((inst.category, inst.symbol), DEFAULT_LEVERAGE)
        value = self._value(inst, opening, order.price)
        need = value / lev + value * FEE_RATES[inst.category][1]
        if need > self.available(acct, inst.settle):
            raise ApiError(110007, "ab not enough for new order")

    # ---- order operations ------------------------------------------------------------------
    def create_order(self, uid: str, params: dict[str, Any]) -> dict[str, Any]:
        """POST /v5/order/create: validate, accept, match; returns the REST result."""
        acct = self.account(uid)
        category = self._category(params)
        order, inst = self._validate_new(acct, category, params)
        events = _Events()
        self._accept(acct, order, inst, events)
        self._publish(uid, events)
        return {"orderId": order.order_id, "orderLinkId": order.link_id}

    def _accept(self, acct: Account, order: Order, inst: Instrument, events: _Events) -> None:
        now = now_ms()
        order.order_id = self._order_id(order.category)
        order.created = order.updated = now
        acct.orders[order.order_id] = order
        if order.link_id:
            acct.link_ids[(order.category, order.link_id)] = order.order_id
        self._match_incoming(acct, order, inst, events)
        self._push_order(order, events)
        self._after_order_event(acct, order, inst, events)

    def _push_order(self, order: Order, events: _Events) -> None:
        if self.listeners:
            events.add("order", order.category, self.order_view(order, ws=True))

    def _crosses(self, order: Order) -> bool:
        bid, ask = self.market.best_bid_ask(order.category, order.symbol)
        if order.side == "Buy":
            return ask > 0 and order.price >= ask
        return bid > 0 and order.price <= bid

    def _match_incoming(self, acct: Account, order: Order, inst: Instrument, events: _Events) -> None:
        if order.tif == "PostOnly":
            if self._crosses(order):
                order.status = "Cancelled"
                order.reject_reason = "EC_PostOnlyWillTakeLiquidity"
            return
        usable = self._levels_through(order, 50)
        wanted = order.qty
        if len(usable) == 50 and (order.quote_qty or sum((q for _, q in usable), ZERO) < wanted):
            usable = self._levels_through(order, 1000)  # a big order: look deeper
        if order.tif == "FOK" and not order.quote_qty:
            if sum((q for _, q in usable), ZERO) < order.qty:
                order.status = "Cancelled"
                order.reject_reason = "EC_NoImmediateQtyToFill"
                return
        budget_spent = False
        for price, level_qty in usable:
            if order.quote_qty:
                budget = order.qty - order.cum_value
                take = min(level_qty, (budget / price / inst.step).to_integral_value(ROUND_DOWN) * inst.step)
                if take <= 0:
                    budget_spent = True
                    break
            else:
                take = min(level_qty, order.qty - order.cum_qty)
            self._fill(acct, order, inst, price, take, False, events)
            if order.status == "Filled":
                break
        if order.quote_qty and budget_spent and order.cum_qty > 0:
            order.status = "Filled"
        if order.status in ACTIVE and order.tif in ("IOC", "FOK"):
            if order.cum_qty > 0:
                order.status = "PartiallyFilledCanceled" if order.category == "spot" else "Cancelled"
            else:
                order.status = "Cancelled"
                order.reject_reason = "EC_NoImmediateQtyToFill"

    def _levels_through(self, order: Order, limit: int) -> list[tuple[Decimal, Decimal]]:
        """Opposite-side levels (best first) an incoming order may take, up to its limit price."""
        bids, asks = self.market.depth(order.category, order.symbol, limit)
        out = []
        if order.side == "Buy":
            for p, q in asks:
                if p > order.price:
                    break
                out.append((p, q))
        else:
            for p, q in bids:
                if p < order.price:
                    break
                out.append((p, q))
        return out

    def _fill(self, acct: Account, order: Order, inst: Instrument, price: Decimal, qty: Decimal, maker: bool, events: _Events) -> None:
        with localcontext(_CTX):
            now = now_ms()
            maker_rate, taker_rate = FEE_RATES[order.category]
            rate = maker_rate if maker else taker_rate
            value = self._value(inst, qty, price) if order.category != "spot" else qty * price
            if order.category == "inverse":
                value = value.quantize(COIN_UNIT, ROUND_HALF_UP)
            closed = ZERO
            pnl = ZERO
            if order.category == "spot":
                base_bal = acct.balances.get(inst.base, ZERO)
                quote_bal = acct.balances.get(inst.quote, ZERO)
                if order.side == "Buy":
                    fee = qty * rate
                    fee_coin = inst.base
                    acct.balances[inst.quote] = quote_bal - value
                    acct.balances[inst.base] = base_bal + qty - fee
                else:
                    fee = value * rate
                    fee_coin = inst.quote
                    acct.balances[inst.base] = base_bal - qty
                    acct.balances[inst.quote] = quote_bal + value - fee
            else:
                fee = value * rate
                fee_coin = inst.settle
                pos = self._position(acct, order.category, order.symbol)
                signed = qty if order.side == "Buy" else -qty
                before, entry_before = pos.size, pos.entry
                closed, pnl = self._apply_position(inst, pos, signed, price)
                if order.category == "inverse":
                    fee = fee.quantize(COIN_UNIT, ROUND_HALF_UP)
                    pnl = pnl.quantize(COIN_UNIT, ROUND_HALF_UP)
                self._track_cycle(acct, inst, pos, before, entry_before, qty, closed, price, fee, pnl, now)
                pos.cur_realised += pnl - fee
                pos.cum_realised += pnl - fee
                pos.updated = now
                pos.seq = self._next_seq()
                bal = acct.balances.get(inst.settle, ZERO)
                acct.balances[inst.settle] = bal + pnl - fee
                acct.cum_realised[inst.settle] = acct.cum_realised.get(inst.settle, ZERO) + pnl - fee
                if closed:
                    order.closed_pnl += pnl - fee
            order.cum_qty += qty
            order.cum_value += value
            order.cum_fee += fee
            order.fee_coin = fee_coin
            order.updated = now
            done = (order.cum_value >= order.qty) if order.quote_qty else (order.cum_qty >= order.qty)
            order.status = "Filled" if done else "PartiallyFilled"
            seq = self._next_seq()
            mark = self._mark(order.category, order.symbol) if order.category != "spot" else ZERO
            execution = {
                "category": order.category,
                "symbol": order.symbol,
                "closedSize": fmt_step(closed, inst.step) if order.category != "spot" else "",
                "execFee": fmt(fee),
                "execId": self._uuid(),
                "execPrice": fmt_step(price, inst.tick),
                "execQty": fmt_step(qty, inst.step),
                "execType": "Trade",
                "execValue": fmt(value),
                "feeRate": fmt(rate),
                "tradeIv": "",
                "markIv": "",
                "blockTradeId": "",
                "markPrice": fmt_step(mark, inst.tick) if mark else "",
                "indexPrice": "",
                "underlyingPrice": "",
                "leavesQty": fmt_step(order.leaves, inst.step) if not order.quote_qty else "0",
                "orderId": order.order_id,
                "orderLinkId": order.link_id,
                "orderPrice": fmt_step(order.price, inst.tick),
                "orderQty": fmt_step(order.qty, inst.step) if not order.quote_qty else fmt(order.qty),
                "orderType": order.order_type,
                "stopOrderType": "UNKNOWN",
                "side": order.side,
                "execTime": str(now),
                "isLeverage": "0",
                "isMaker": maker,
                "seq": seq,
                "marketUnit": order.market_unit,
                "execPnl": fmt(pnl),
                "createType": "CreateByUser" if order.category != "spot" else "",
                "extraFees": "",
                "feeCurrency": fee_coin,
            }
            acct.executions.append(execution)
            events.add("execution", order.category, execution)
            events.add(
                "execution.fast",
                order.category,
                {
                    "category": order.category,
                    "symbol": order.symbol,
                    "execId": execution["execId"],
                    "execPrice": execution["execPrice"],
                    "execQty": execution["execQty"],
                    "orderId": order.order_id,
                    "isMaker": maker,
                    "orderLinkId": order.link_id,
                    "side": order.side,
                    "execTime": execution["execTime"],
                    "seq": seq,
                },
            )
            try:
                self.market.record_trade(order.category, order.symbol, price, qty, order.side if not maker else _other(order.side))
            except Exception:  # noqa: BLE001 - the market's trade tape is best effort for us
                pass

    @staticmethod
    def _apply_position(inst: Instrument, pos: Position, signed: Decimal, price: Decimal) -> tuple[Decimal, Decimal]:
        """Apply a fill of signed size to a one-way position; returns (closed size, realised pnl)."""
        size = pos.size
        if size == 0 or (size > 0) == (signed > 0):
            total = abs(size) + abs(signed)
            if inst.category == "inverse":
                coin = (abs(size) / pos.entry if size else ZERO) + abs(signed) / price
                pos.entry = total / coin
            else:
                pos.entry = (abs(size) * pos.entry + abs(signed) * price) / total
            pos.size = size + signed
            return ZERO, ZERO
        closed = min(abs(size), abs(signed))
        direction = ONE if size > 0 else -ONE
        if inst.category == "inverse":
            pnl = closed * (ONE / pos.entry - ONE / price) * direction
        else:
            pnl = closed * (price - pos.entry) * direction
        pos.size = size + signed
        if pos.size == 0:
            pos.entry = ZERO
        elif (pos.size > 0) != (size > 0):
            pos.entry = price  # flipped: the remainder opened at this price
        return closed, pnl

    def _track_cycle(
        self, acct: Account, inst: Instrument, pos: Position, before: Decimal, entry_before: Decimal,
        qty: Decimal, closed: Decimal, price: Decimal, fee: Decimal, pnl: Decimal, now: int,
    ) -> None:
        """Follow one position from open to flat; a flat (or flipped) position leaves a closed-position row."""
        if before == 0:
            pos.opened, pos.open_fee, pos.close_fee, pos.exit_value, pos.closed_qty, pos.cycle_pnl = now, fee, ZERO, ZERO, ZERO, ZERO
            return
        if not closed:
            pos.open_fee += fee
            return
        close_part = fee * closed / qty
        pos.close_fee += close_part
        pos.exit_value += closed * price
        pos.closed_qty += closed
        pos.cycle_pnl += pnl
        if pos.size != 0 and (pos.size > 0) == (before > 0):
            return
        acct.closed_positions.append(
            {
                "category": inst.category,
                "symbol": pos.symbol,
                "side": "Buy" if before > 0 else "Sell",
                "totalOpenFee": fmt(pos.open_fee),
                "deliveryFee": "0",
                "totalCloseFee": fmt(pos.close_fee),
                "qty": fmt_step(pos.closed_qty, inst.step),
                "closeTime": now,
                "avgExitPrice": fmt_step((pos.exit_value / pos.closed_qty).quantize(inst.tick, ROUND_HALF_UP), inst.tick),
                "deliveryPrice": "",
                "openTime": pos.opened,
                "avgEntryPrice": fmt_step(entry_before.quantize(inst.tick, ROUND_HALF_UP), inst.tick),
                "totalPnl": fmt(pos.cycle_pnl - pos.open_fee - pos.close_fee),
            }
        )
        pos.added_margin = ZERO  # extra margin goes back to the wallet's available balance
        if pos.size != 0:  # flipped: the remainder opened now
            pos.opened, pos.open_fee, pos.close_fee, pos.exit_value, pos.closed_qty, pos.cycle_pnl = now, fee - close_part, ZERO, ZERO, ZERO, ZERO

    # ---- risk limits (the tiers /v5/market/risk-limit lists) ------------------------------------
    def risk_tiers(self, category: str, symbol: str) -> list[tuple[int, Decimal, Decimal]]:
        """(riskId, riskLimitValue, initial margin rate) per tier of a symbol: ten tiers with ids 1..10,
        as /v5/market/risk-limit lists them for that symbol (ids are per symbol on the exchange)."""
        if (category, symbol) not in self.market.books:
            return []
        first = 1
        base = 2_000_000 if category == "linear" else 150
        return [(first + t, Decimal(base * (t + 1)), Decimal("0.01") * (t + 1)) for t in range(10)]

    def risk_of(self, acct: Account, category: str, symbol: str) -> tuple[int, Decimal]:
        """The (riskId, riskLimitValue) a symbol's position is on."""
        tiers = self.risk_tiers(category, symbol)
        if not tiers:
            return 1, Decimal(2_000_000 if category != "inverse" else 150)
        rid, value, _im = tiers[acct.risk_tier.get((category, symbol), 0)]
        return rid, value

    def _after_order_event(self, acct: Account, order: Order, inst: Instrument, events: _Events) -> None:
        if not self.listeners:  # nobody streams: skip building the position / wallet views
            return
        if order.category != "spot":
            pos = self._position(acct, order.category, order.symbol)
            events.add("position", order.category, self.position_view(acct, pos, ws=True))
        events.add("wallet", "", self.wallet_view(acct))
        if order.category == "option":
            events.add("greeks", "option", self.greeks_view(acct, inst.base))

    def amend_order(self, uid: str, params: dict[str, Any]) -> dict[str, Any]:
        acct = self.account(uid)
        category = self._category(params)
        inst = self.instrument(category, params.get("symbol"))
        self._reject_unsupported(params)
        order = self._find(acct, category, params, "amend")
        spot = category == "spot"
        qty = _dec(params, "qty", 10001, "Qty invalid", required=False)
        price = _dec(params, "price", 10001, "Price invalid", required=False)
        if qty is None and price is None:
            raise ApiError(10001, "The order remains unchanged as the parameters entered match the existing ones.")
        new_qty = order.qty if qty is None else qty
        new_price = order.price if price is None else price
        if order.order_type == "Market" and price is not None:
            raise ApiError(10001, "params error: market order price cannot be amended")
        if new_qty == order.qty and new_price == order.price:
            raise ApiError(10001, "The order remains unchanged as the parameters entered match the existing ones.")
        if new_qty <= 0 or new_qty % inst.step != 0 or new_qty < inst.min_qty or new_qty > inst.max_qty:
            raise ApiError(170137, "Order volume decimal too long") if spot else ApiError(10001, "Qty invalid")
        if new_qty <= order.cum_qty:
            raise ApiError(170313, "The modified contract quantity cannot be less than to the filled quantity") if spot else ApiError(
                110064, "The modified contract quantity cannot be less than or equal to the filled quantity."
            )
        if new_price <= 0 or new_price % inst.tick != 0:
            raise ApiError(170134, "Order price decimal too long.") if spot else ApiError(10001, "Price invalid")
        old = (order.qty, order.price)
        order.qty, order.price = new_qty, new_price
        coin = (inst.quote if order.side == "Buy" else inst.base) if spot else inst.settle
        if not order.reduce_only and self.available(acct, coin) < 0:
            order.qty, order.price = old
            raise ApiError(170131, "Balance insufficient") if spot else ApiError(110007, "ab not enough for new order")
        order.updated = now_ms()
        events = _Events()
        if self._crosses(order):
            if order.tif == "PostOnly":
                order.status = "Cancelled"
                order.reject_reason = "EC_PostOnlyWillTakeLiquidity"
            else:
                self._match_incoming(acct, order, inst, events)
        self._push_order(order, events)
        self._after_order_event(acct, order, inst, events)
        self._publish(uid, events)
        return {"orderId": order.order_id, "orderLinkId": order.link_id}

    def _find(self, acct: Account, category: str, params: dict[str, Any], action: str) -> Order:
        oid = params.get("orderId") or ""
        link = params.get("orderLinkId") or ""
        if not oid and not link:
            raise ApiError(10001, "params error: orderId or orderLinkId is required")
        if not oid:
            oid = acct.link_ids.get((category, link), "")
        order = acct.orders.get(oid)
        symbol = params.get("symbol")
        if order is None or order.category != category or not order.active or (symbol and order.symbol != symbol) or (
            link and order.link_id != link
        ):
            if category == "spot":
                raise ApiError(170213, "Order does not exist.")
            raise ApiError(110001, f"order not exists or too late to {'replace' if action == 'amend' else 'cancel'}")
        return order

    def cancel_order(self, uid: str, params: dict[str, Any]) -> dict[str, Any]:
        acct = self.account(uid)
        category = self._category(params)
        inst = self.instrument(category, params.get("symbol"))
        order = self._find(acct, category, params, "cancel")
        events = _Events()
        self._cancel(acct, order, inst, events, "CancelByUser")
        self._publish(uid, events)
        return {"orderId": order.order_id, "orderLinkId": order.link_id}

    def _cancel(self, acct: Account, order: Order, inst: Instrument, events: _Events, cancel_type: str) -> None:
        # "PartiallyFilledCanceled" is spot only; a derivatives order is "Cancelled" with cumExecQty > 0.
        order.status = "PartiallyFilledCanceled" if order.cum_qty > 0 and order.category == "spot" else "Cancelled"
        order.cancel_type = cancel_type
        order.reject_reason = "EC_PerCancelRequest"
        order.updated = now_ms()
        self._push_order(order, events)
        self._after_order_event(acct, order, inst, events)

    def cancel_all(self, uid: str, params: dict[str, Any]) -> dict[str, Any]:
        acct = self.account(uid)
        category = self._category(params)
        symbol = params.get("symbol") or None
        base = params.get("baseCoin") or None
        settle = params.get("settleCoin") or None
        if symbol:
            self.instrument(category, symbol)
        events = _Events()
        out = []
        for order in list(acct.orders.values()):
            if not order.active or order.category != category:
                continue
            inst = self.instrument(category, order.symbol)
            if (symbol and order.symbol != symbol) or (base and inst.base != base) or (settle and inst.settle != settle):
                continue
            self._cancel(acct, order, inst, events, "CancelAllBeforeLiq" if False else "CancelByUser")
            out.append({"orderId": order.order_id, "orderLinkId": order.link_id})
        self._publish(uid, events)
        return {"list": out, "success": "1"}

    def batch(self, uid: str, op: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """create-batch / amend-batch / cancel-batch: (result, retExtInfo) with per-item codes."""
        self.account(uid)
        category = self._category(params)
        items = params.get("request")
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise ApiError(10001, "params error: request is empty")
        if len(items) > BATCH_LIMITS[category]:
            raise ApiError(10001, f"params error: batch size exceeds the limit of {BATCH_LIMITS[category]}")
        fn = {"create": self.create_order, "amend": self.amend_order, "cancel": self.cancel_order}[op]
        results: list[dict[str, Any]] = []
        codes: list[dict[str, Any]] = []
        for item in items:
            req = dict(item)
            req["category"] = category
            try:
                res = fn(uid, req)
                code, msg = 0, "OK"
            except ApiError as err:
                res = {"orderId": "", "orderLinkId": req.get("orderLinkId") or ""}
                code, msg = err.code, err.msg
            entry = {"category": category, "symbol": req.get("symbol", ""), "orderId": res["orderId"], "orderLinkId": res["orderLinkId"]}
            if op == "create":
                order = self.accounts[uid].orders.get(res["orderId"]) if code == 0 else None
                entry["createAt"] = str(order.created) if order else ""
            results.append(entry)
            codes.append({"code": code, "msg": msg})
        return {"list": results}, {"list": codes}

    # ---- resting orders ----------------------------------------------------------------------
    def confirm_withdrawals(self) -> None:
        """Send every pending withdrawal (status ``success``, a deterministic tx id)."""
        self.pending_withdrawals = False
        now = str(now_ms())
        for acct in self.accounts.values():
            for w in acct.withdrawals:
                if w["status"] == "Pending":
                    w["status"] = "success"
                    w["txID"] = "0x" + hashlib.sha256(f"bybitfast-withdraw:{acct.uid}:{w['withdrawId']}".encode()).hexdigest()
                    w["updateTime"] = now

    def on_market_step(self) -> None:
        """Fill resting orders the market has moved through, as maker at their own price."""
        if self.pending_withdrawals:
            self.confirm_withdrawals()
        for acct in self.accounts.values():
            events = _Events()
            for order in list(acct.orders.values()):
                if not order.active or order.order_type != "Limit":
                    continue
                bid, ask = self.market.best_bid_ask(order.category, order.symbol)
                through = (order.side == "Buy" and ask > 0 and ask <= order.price) or (
                    order.side == "Sell" and bid > 0 and bid >= order.price
                )
                if not through:
                    continue
                inst = self.instrument(order.category, order.symbol)
                qty = order.qty - order.cum_qty
                if order.reduce_only:
                    pos = acct.positions.get((order.category, order.symbol))
                    size = abs(pos.size) if pos else ZERO
                    if pos is None or size == 0 or (pos.size > 0) == (order.side == "Buy"):
                        self._cancel(acct, order, inst, events, "CancelByReduceOnly")
                        continue
                    qty = min(qty, size)
                self._fill(acct, order, inst, order.price, qty, True, events)
                if order.active and order.reduce_only:
                    self._cancel(acct, order, inst, events, "CancelByReduceOnly")
                    continue
                self._push_order(order, events)
                self._after_order_event(acct, order, inst, events)
            self._publish(acct.uid, events)

    # ---- publishing --------------------------------------------------------------------------
    def _publish(self, uid: str, events: _Events) -> None:
        if not events.items or not self.listeners:
            return
        # Group consecutive pushes of one topic into one frame, as the exchange batches them.
        groups: list[tuple[str, str, list[dict[str, Any]]]] = []
        wallet = None
        for topic, category, item in events.items:
            if topic == "wallet":
                wallet = item  # one wallet push per operation, the final state
                continue
            if groups and groups[-1][0] == topic and groups[-1][1] == category and topic != "position":
                groups[-1][2].append(item)
            else:
                groups.append((topic, category, [item]))
        # Keep only the last position push per symbol of this operation.
        last_pos: dict[str, int] = {}
        for i, (topic, _c, items) in enumerate(groups):
            if topic == "position":
                last_pos[items[0]["symbol"]] = i
        ordered = [g for i, g in enumerate(groups) if g[0] != "position" or last_pos.get(g[2][0]["symbol"]) == i]
        # Exchange order: executions, then order updates, then position, then wallet.
        rank = {"execution.fast": 0, "execution": 1, "order": 2, "position": 3, "greeks": 4}
        ordered.sort(key=lambda g: rank.get(g[0], 5))
        if wallet is not None:
            ordered.append(("wallet", "", [wallet]))
        for topic, category, items in ordered:
            for listener in list(self.listeners):
                listener(uid, topic, category, items)

    # ---- views (exchange field layout) ---------------------------------------------------------
    def order_view(self, o: Order, *, ws: bool = False) -> dict[str, Any]:
        inst = self.instrument(o.category, o.symbol)
        avg = None
        if o.cum_qty and o.cum_value:
            avg = o.cum_qty / o.cum_value if o.category == "inverse" else o.cum_value / o.cum_qty
            avg = avg.quantize(inst.tick, ROUND_HALF_UP) if o.category == "inverse" else avg
        leaves = o.leaves
        qty_text = fmt(o.qty) if o.quote_qty else fmt_step(o.qty, inst.step)
        view: dict[str, Any] = {}
        if ws:
            view["category"] = o.category
        view.update(
            {
                "symbol": o.symbol,
                "orderId": o.order_id,
                "orderLinkId": o.link_id,
                "blockTradeId": "",
                "side": o.side,
                "positionIdx": 0,
                "orderStatus": o.status,
                "cancelType": o.cancel_type,
                "rejectReason": o.reject_reason,
                "timeInForce": o.tif,
                "isLeverage": "0" if o.category == "spot" else "",
                "price": fmt_step(o.price, inst.tick) if o.order_type == "Limit" or o.category != "spot" else "0",
                "qty": qty_text,
                "avgPrice": fmt(avg) if avg is not None else ("0" if o.category != "spot" else ""),
                "leavesQty": fmt(leaves) if o.quote_qty else fmt_step(leaves, inst.step),
                "leavesValue": fmt(leaves if o.quote_qty else self._value(inst, leaves, o.price)),
                "cumExecQty": fmt_step(o.cum_qty, inst.step),
                "cumExecValue": fmt(o.cum_value),
                "cumExecFee": fmt(o.cum_fee),
                "orderType": o.order_type,
                "stopOrderType": "",
                "orderIv": "",
                "triggerPrice": "",
                "takeProfit": "",
                "stopLoss": "",
                "triggerBy": "",
                "tpTriggerBy": "",
                "slTriggerBy": "",
                "triggerDirection": 0,
                "placeType": "",
                "lastPriceOnCreated": fmt_step(o.last_price_on_created, inst.tick) if o.last_price_on_created else "",
                "closeOnTrigger": o.close_on_trigger,
                "reduceOnly": o.reduce_only,
                "smpGroup": 0,
                "smpType": "None",
                "smpOrderId": "",
                "slLimitPrice": "0",
                "tpLimitPrice": "0",
                "tpslMode": "UNKNOWN" if o.category != "spot" else "",
                "createType": "CreateByUser" if o.category != "spot" else "",
                "marketUnit": o.market_unit,
                "createdTime": str(o.created),
                "updatedTime": str(o.updated),
                "feeCurrency": o.fee_coin if o.category == "spot" else "",
                "closedPnl": fmt(o.closed_pnl) if o.category != "spot" else "0",
                "slippageToleranceType": "UNKNOWN",
                "slippageTolerance": "",
                "cumFeeDetail": {o.fee_coin: fmt(o.cum_fee)} if o.fee_coin else {},
                "rpiTakerAccess": False,
                "rpiMatchedQty": "0",
            }
        )
        return view

    def position_view(self, acct: Account, pos: Position, *, ws: bool = False) -> dict[str, Any]:
        inst = self.instrument(pos.category, pos.symbol)
        mark = self._mark(pos.category, pos.symbol)
        size = abs(pos.size)
        value = self._value(inst, size, pos.entry) if size else ZERO
        lev = acct.leverage.get((pos.category, pos.symbol), pos.leverage)
        im = value / lev + pos.added_margin if size else ZERO
        mm = value * MAINTENANCE_RATE if size else ZERO
        upl = self._pos_upl(inst, pos, mark)
        entry = fmt_step(pos.entry, inst.tick) if size else "0"
        key = (pos.category, pos.symbol)
        risk_id, risk_value = self.risk_of(acct, pos.category, pos.symbol)
        view: dict[str, Any] = {
            "positionIdx": 0,
            "tradeMode": acct.trade_mode.get(key, 0),
            "riskId": risk_id,
            "riskLimitValue": fmt(risk_value),
            "symbol": pos.symbol,
            "side": ("Buy" if pos.size > 0 else "Sell") if size else "",
            "size": fmt_step(size, inst.step),
        }
        if ws:
            view["entryPrice"] = entry
        else:
            view["avgPrice"] = entry
        view.update(
            {
                "sessionAvgPrice": "",
                "leverage": fmt(lev),
                "breakEvenPrice": entry,
                "positionValue": fmt(value),
                "positionBalance": fmt(im),
                "markPrice": fmt_step(mark, inst.tick) if mark else "0",
                "positionIM": fmt(im),
                "positionIMByMp": fmt(im),
                "positionMM": fmt(mm),
                "positionMMByMp": fmt(mm),
                "takeProfit": "0",
                "stopLoss": "0",
                "trailingStop": "0",
                "unrealisedPnl": fmt(upl),
                "curRealisedPnl": fmt(pos.cur_realised),
                "cumRealisedPnl": fmt(pos.cum_realised),
                "createdTime": str(pos.created),
                "updatedTime": str(pos.updated),
                "tpslMode": acct.tpsl_mode.get(key, "Full"),
                "liqPrice": "",
                "bustPrice": "",
                "positionStatus": "Normal",
                "adlRankIndicator": 2 if size else 0,
                "autoAddMargin": acct.auto_add_margin.get(key, 0),
                "leverageSysUpdatedTime": "",
                "mmrSysUpdatedTime": "",
                "seq": pos.seq,
                "isReduceOnly": False,
            }
        )
        if ws:
            view["category"] = pos.category
        return view

    def coin_view(self, acct: Account, coin: str) -> dict[str, Any]:
        bal = acct.balances.get(coin, ZERO)
        upl = self._upl(acct, coin)
        equity = bal + upl
        order_im = self._order_im(acct, coin)
        pos_im = self._position_im(acct, coin)
        locked = self._spot_locked(acct, coin)
        positions = self._open_positions(acct, coin)
        pos_mm = sum((self._value(inst, abs(pos.size), pos.entry) * MAINTENANCE_RATE for inst, pos in positions), ZERO)
        withdraw = max(bal - order_im - pos_im - locked + min(upl, ZERO), ZERO)  # = withdrawable(), parts reused
        return {
            "availableToBorrow": "",
            "bonus": "0",
            "accruedInterest": "0",
            "availableToWithdraw": fmt(withdraw),
            "totalOrderIM": fmt(order_im),
            "equity": fmt(equity),
            "totalPositionMM": fmt(pos_mm),
            "usdValue": fmt(equity * self._usd_price(coin)),
            "spotHedgingQty": "0",
            "unrealisedPnl": fmt(upl),
            "collateralSwitch": coin not in acct.collateral_off,
            "borrowAmount": fmt(acct.borrowed.get(coin, ZERO)),
            "totalPositionIM": fmt(pos_im),
            "walletBalance": fmt(bal),
            "cumRealisedPnl": fmt(acct.cum_realised.get(coin, ZERO)),
            "locked": fmt(locked),
            "marginCollateral": True,
            "coin": coin,
            "spotBorrow": "0",
        }

    def wallet_view(self, acct: Account, coins: list[str] | None = None) -> dict[str, Any]:
        with localcontext(_CTX):
            all_coins = list(acct.balances)
            shown = [c for c in all_coins if coins is None or c in coins]
            views = {c: self.coin_view(acct, c) for c in all_coins}
            usd = {c: self._usd_price(c) for c in all_coins}
            total_wallet = sum((acct.balances[c] * usd[c] for c in all_coins), ZERO)
            total_upl = sum((self._upl(acct, c) * usd[c] for c in all_coins), ZERO)
            total_im = sum(((self._order_im(acct, c) + self._position_im(acct, c)) * usd[c] for c in all_coins), ZERO)
            total_mm = sum((Decimal(views[c]["totalPositionMM"]) * usd[c] for c in all_coins), ZERO)
            equity = total_wallet + total_upl
            margin = equity
            q = Decimal("0.00000001")
            im_rate = (total_im / margin).quantize(Decimal("0.0001")) if margin > 0 else ZERO
            mm_rate = (total_mm / margin).quantize(Decimal("0.0001")) if margin > 0 else ZERO
            return {
                "totalEquity": fmt(equity.quantize(q)),
                "accountIMRate": fmt(im_rate),
                "accountIMRateByMp": fmt(im_rate),
                "totalMarginBalance": fmt(margin.quantize(q)),
                "totalInitialMargin": fmt(total_im.quantize(q)),
                "totalInitialMarginByMp": fmt(total_im.quantize(q)),
                "accountType": "UNIFIED",
                "totalAvailableBalance": fmt(max(margin - total_im, ZERO).quantize(q)),
                "accountMMRate": fmt(mm_rate),
                "accountMMRateByMp": fmt(mm_rate),
                "totalPerpUPL": fmt(total_upl.quantize(q)),
                "totalWalletBalance": fmt(total_wallet.quantize(q)),
                "accountLTV": "0",
                "totalMaintenanceMargin": fmt(total_mm.quantize(q)),
                "totalMaintenanceMarginByMp": fmt(total_mm.quantize(q)),
                "coin": [views[c] for c in shown],
            }

    def greeks_view(self, acct: Account, base: str) -> dict[str, Any]:
        delta = ZERO
        for pos in acct.positions.values():
            if pos.category == "option" and pos.symbol.startswith(base + "-"):
                delta += pos.size * Decimal("0.5")
        return {"baseCoin": base, "totalDelta": fmt(delta), "totalGamma": "0", "totalVega": "0", "totalTheta": "0"}

    # ---- queries -------------------------------------------------------------------------------
    def open_orders(self, uid: str, params: dict[str, Any]) -> dict[str, Any]:
        acct = self.account(uid)
        category = self._category(params)
        open_only = str(params.get("openOnly", "0"))
        orders = [o for o in acct.orders.values() if o.category == category]
        if open_only == "0":
            orders = [o for o in orders if o.active]
        else:
            orders = [o for o in orders if not o.active][-500:]
        orders = self._filter_orders(orders, params)
        orders.reverse()
        page, cursor = _page(orders, params, 20, 50)
        return {"list": [self.order_view(o) for o in page], "nextPageCursor": cursor, "category": category}

    def order_history(self, uid: str, params: dict[str, Any]) -> dict[str, Any]:
        acct = self.account(uid)
        category = self._category(params)
        orders = self._filter_orders([o for o in acct.orders.values() if o.category == category], params)
        status = params.get("orderStatus")
        if status:
            orders = [o for o in orders if o.status == status]
        orders.reverse()
        page, cursor = _page(orders, params, 20, 50)
        return {"list": [self.order_view(o) for o in page], "nextPageCursor": cursor, "category": category}

    def _filter_orders(self, orders: list[Order], params: dict[str, Any]) -> list[Order]:
        symbol = params.get("symbol")
        oid = params.get("orderId")
        link = params.get("orderLinkId")
        base = params.get("baseCoin")
        settle = params.get("settleCoin")
        out = []
        for o in orders:
            if (symbol and o.symbol != symbol) or (oid and o.order_id != oid) or (link and o.link_id != link):
                continue
            if base or settle:
                inst = self.instrument(o.category, o.symbol)
                if (base and inst.base != base) or (settle and inst.settle != settle):
                    continue
            out.append(o)
        return out

    def execution_list(self, uid: str, params: dict[str, Any]) -> dict[str, Any]:
        acct = self.account(uid)
        category = self._category(params)
        symbol = params.get("symbol")
        oid = params.get("orderId")
        link = params.get("orderLinkId")
        rows = [
            e
            for e in acct.executions
            if e["category"] == category
            and (not symbol or e["symbol"] == symbol)
            and (not oid or e["orderId"] == oid)
            and (not link or e["orderLinkId"] == link)
        ]
        rows.reverse()
        page, cursor = _page(rows, params, 50, 100)
        out = []
        for e in page:
            item = {k: v for k, v in e.items() if k not in ("category", "execPnl", "createType", "isLeverage", "marketUnit")}
            out.append(item)
        return {"nextPageCursor": cursor, "category": category, "list": out}

    def position_list(self, uid: str, params: dict[str, Any]) -> dict[str, Any]:
        acct = self.account(uid)
        category = self._category(params, DERIVATIVES)
        symbol = params.get("symbol")
        settle = params.get("settleCoin")
        base = params.get("baseCoin")
        if not symbol and not settle and category == "linear":
            raise ApiError(10001, "Missing some parameters that must be filled in, symbol or settleCoin")
        if symbol:
            inst = self.instrument(category, symbol)
            pos = acct.positions.get((category, inst.symbol)) or Position(
                category, inst.symbol, leverage=acct.leverage.get((category, inst.symbol), DEFAULT_LEVERAGE)
            )
            items = [pos]
        else:
            items = []
            for (cat, _sym), pos in acct.positions.items():
                if cat != category or pos.size == 0:
                    continue
                inst = self.instrument(cat, pos.symbol)
                if (settle and inst.settle != settle) or (base and inst.base != base):
                    continue
                items.append(pos)
        page, cursor = _page(items, params, 20, 200)
        return {"list": [self.position_view(acct, p) for p in page], "nextPageCursor": cursor, "category": category}

    def set_leverage(self, uid: str, params: dict[str, Any]) -> dict[str, Any]:
        acct = self.account(uid)
        category = self._category(params, ("linear", "inverse"))
        inst = self.instrument(category, params.get("symbol"))
        buy = _dec(params, "buyLeverage", 10001, "params error: buyLeverage invalid")
        sell = _dec(params, "sellLeverage", 10001, "params error: sellLeverage invalid")
        assert buy is not None and sell is not None
        if buy != sell:
            raise ApiError(10001, "buy leverage must be equal to sell leverage in one-way mode")
        if buy < 1 or buy > inst.max_leverage or buy % Decimal("0.01") != 0:
            raise ApiError(10001, f"leverage invalid: must be between 1 and {fmt(inst.max_leverage)}")
        key = (category, inst.symbol)
        if acct.leverage.get(key, DEFAULT_LEVERAGE) == buy:
            raise ApiError(110043, "Set leverage has not been modified.")
        pos = acct.positions.get(key)
        old = acct.leverage.get(key, DEFAULT_LEVERAGE)
        acct.leverage[key] = buy
        if pos is not None:
            pos.leverage = buy
        if self.available(acct, inst.settle) < 0:
            acct.leverage[key] = old
            if pos is not None:
                pos.leverage = old
            raise ApiError(110012, "Insufficient available balance.")
        events = _Events()
        events.add("position", category, self.position_view(acct, self._position(acct, category, inst.symbol), ws=True))
        self._publish(uid, events)
        return {}

    def switch_mode(self, uid: str, params: dict[str, Any]) -> dict[str, Any]:
        self.account(uid)
        self._category(params, ("linear", "inverse"))
        mode = str(params.get("mode", ""))
        if mode not in ("0", "3"):
            raise ApiError(10001, "params error: mode invalid")
        if mode == "0":
            raise ApiError(110025, "Position mode has not been modified.")
        raise ApiError(110029, "Hedge mode is not supported for this symbol.")

    def wallet_balance(self, uid: str, params: dict[str, Any]) -> dict[str, Any]:
        acct = self.account(uid)
        account_type = params.get("accountType")
        if account_type != "UNIFIED":
            raise ApiError(10001, "accountType only support UNIFIED.")
        coin = params.get("coin")
        coins = [c for c in str(coin).split(",") if c] if coin else None
        return {"list": [self.wallet_view(acct, coins)]}

    def fee_rate(self, uid: str, params: dict[str, Any]) -> dict[str, Any]:
        """GET /v5/account/fee-rate. The docs mark ``category`` required, yet their own request
        example (and ccxt's fetchTradingFees) sends none and gets linear rates back: a missing
        category means linear here [inferred]. Spot and option answers carry ``category``,
        derivatives answers do not; option items have ``symbol: ""`` and a ``baseCoin``."""
        self.account(uid)
        if params.get("category") in (None, ""):
            params = {**params, "category": "linear"}
        category = self._category(params)
        maker, taker = FEE_RATES[category]
        symbol = params.get("symbol")
        if symbol and category != "option":
            self.instrument(category, symbol)
            symbols = [symbol]
        else:
            symbols = [i["symbol"] for i in self.market.instruments(category)]
        rates = {"takerFeeRate": fmt(taker), "makerFeeRate": fmt(maker)}
        if category == "option":
            bases = sorted({self.instrument(category, s).base for s in symbols})
            base = params.get("baseCoin")
            items = [{"symbol": "", "baseCoin": b, **rates} for b in bases if not base or b == base]
        else:
            items = [{"symbol": s, **rates} for s in symbols]
        if category in ("spot", "option"):
            return {"category": category, "list": items}
        return {"list": items}

    # ---- funding wallet ------------------------------------------------------------------------
    def transferable(self, acct: Account, account_type: str, coin: str) -> Decimal:
        """What may leave a wallet: FUND its balance; UNIFIED what no order or position uses."""
        if account_type == "FUND":
            return acct.funding.get(coin, ZERO)
        return self.withdrawable(acct, coin)

    def inter_transfer(self, uid: str, params: dict[str, Any]) -> dict[str, Any]:
        """POST /v5/asset/transfer/inter-transfer between the UNIFIED and FUND wallets (asset codes 1312xx)."""
        acct = self.account(uid)
        for name in ("transferId", "coin", "amount", "fromAccountType", "toAccountType"):
            if params.get(name) in (None, ""):
                raise ApiError(10001, f"params error: {name} is required")
        transfer_id = params["transferId"]
        coin = params["coin"]
        src, dst = params["fromAccountType"], params["toAccountType"]
        if not isinstance(transfer_id, str) or len(transfer_id) > 64 or not isinstance(coin, str):
            raise ApiError(131203, "Request parameter error")
        if src == dst:
            raise ApiError(131211, "fromAccountType can't be the same as toAccountType")
        if src not in ("UNIFIED", "FUND") or dst not in ("UNIFIED", "FUND"):
            raise ApiError(131203, "Request parameter error")  # a UTA has no SPOT / CONTRACT wallet
        amount = _dec(params, "amount", 131215, "Amount error")
        assert amount is not None
        if amount <= 0:
            raise ApiError(131215, "Amount error")
        if amount.as_tuple().exponent < -8:  # type: ignore[operator]
            raise ApiError(131210, "Amount accuracy error")
        if any(t["transferId"] == transfer_id for t in acct.transfers):
            raise ApiError(131214, "TransferId exist")
        if amount > self.transferable(acct, src, coin):
            raise ApiError(131212, "Insufficient balance")
        wallets = {"UNIFIED": acct.balances, "FUND": acct.funding}
        wallets[src][coin] = wallets[src].get(coin, ZERO) - amount
        wallets[dst][coin] = wallets[dst].get(coin, ZERO) + amount
        acct.transfers.append(
            {
                "transferId": transfer_id,
                "coin": coin,
                "amount": fmt(amount),
                "fromAccountType": src,
                "toAccountType": dst,
                "timestamp": str(now_ms()),
                "status": "SUCCESS",
            }
        )
        if src == "UNIFIED" or dst == "UNIFIED":
            events = _Events()
            if self.listeners:
                events.add("wallet", "", self.wallet_view(acct))
            self._publish(uid, events)
        return {"transferId": transfer_id, "status": "SUCCESS"}

    def account_info(self, uid: str) -> dict[str, Any]:
        acct = self.account(uid)
        return {
            "marginMode": "REGULAR_MARGIN",
            "updatedTime": str(acct.created),
            "unifiedMarginStatus": 5,
            "dcpStatus": "OFF",
            "timeWindow": 10,
            "smpGroup": 0,
            "isMasterTrader": False,
            "spotHedgingStatus": acct.settings.get("spotHedgingStatus", "OFF"),
        }


def _other(side: str) -> str:
    return "Sell" if side == "Buy" else "Buy"


_CURSOR = re.compile(r"page=(\d+)")


def _page(rows: list[Any], params: dict[str, Any], default: int, maximum: int) -> tuple[list[Any], str]:
    """One page of ``rows`` and the next cursor (percent-encoded, as the exchange sends it)."""
    try:
        limit = int(params.get("limit") or default)
    except (TypeError, ValueError):
        raise ApiError(10001, "params error: limit invalid") from None
    if limit < 1 or limit > maximum:
        raise ApiError(10001, f"params error: limit must be between 1 and {maximum}")
    start = 0
    cursor = params.get("cursor")
    if cursor:
        text = str(cursor)
        for _ in range(3):  # clients send it back encoded once or twice
            text = unquote(text)
        m = _CURSOR.search(text)
        if m is None:
            raise ApiError(10001, "params error: cursor invalid")
        start = int(m.group(1))
    page = rows[start : start + limit]
    nxt = start + limit
    return page, (quote(f"page={nxt}&", safe="") if nxt < len(rows) else "")
