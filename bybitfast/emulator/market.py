"""The emulator's market: instruments, a seeded price process, deep books, trades, tickers, klines.

Everything is integer arithmetic: a price is a whole number of ticks, a size a whole number of
quantity steps, turnover an integer in ``10**-(price_decimals + qty_decimals)`` units, so the
books are exact and formatting is a divmod. The process is deterministic for a given seed:
each book draws from its own ``random.Random(f"{seed}:{category}:{symbol}")``, so adding a
symbol does not change the others. Timestamps come from the wall clock (``clock``), values do not.

``step(n)`` advances synchronously (tests never sleep); ``start()`` runs one step every
``interval`` seconds. After every step the book of each symbol knows, for every *watched* depth
N, the exact delta of its top-N window (levels pushed out of the window are deleted, deeper
levels entering it are inserted), so the public socket only formats what changed.
"""

from __future__ import annotations

import asyncio
import calendar
import math
import random
import time
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from math import exp as _exp
from math import log as _log
from random import NV_MAGICCONST as _NV_MAGICCONST
from typing import Any

CATEGORIES: tuple[str, ...] = ("spot", "linear", "inverse", "option")
# Depths served per category (orderbook.{depth}.{symbol}); PROTOCOL §5.1.
BOOK_DEPTHS: dict[str, tuple[int, ...]] = {
    "spot": (1, 50, 200, 1000),
    "linear": (1, 50, 200, 1000),
    "inverse": (1, 50, 200, 1000),
    "option": (25, 100),
}
# The depth whose u the REST /v5/market/orderbook snapshot carries (PROTOCOL §5.4).
REST_DEPTH: dict[str, int] = {"spot": 1000, "linear": 1000, "inverse": 1000, "option": 25}
RPI_DEPTH = 50
KLINE_INTERVALS: tuple[str, ...] = ("1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W", "M")
_ALL_KLINES: frozenset[str] = frozenset(KLINE_INTERVALS)  # kline_dirty after a trade (shared, never mutated)
_MIN = 60_000
_DAY = 86_400_000
_WEEK_OFFSET = 4 * _DAY  # 1970-01-01 was a Thursday; Bybit weeks start on Monday
FULL_BOOK_MIN = 1100  # levels per side kept in the full book (> the deepest window, 1000)
FULL_BOOK_MAX = 1300
FULL_BOOK_REST_LIMIT = 10_000  # REST full_orderbook returns at most this many levels per side
L1_REPUSH_SECONDS = 3.0  # an unchanged L1 book is re-pushed with the same u after 3 s
# Push periods of the periodic topics (PROTOCOL §4.6, §5.1), turned into steps by Market.steps_for.
FULL_BOOK_SECONDS = 0.2
LIQUIDATION_SECONDS = 0.5
INSURANCE_SECONDS = 1.0
PRICE_LIMIT_SECONDS = 0.3
DEFAULT_STEP_SECONDS = 0.05  # what a manual-only market (interval 0) pretends one step lasts
LIQUIDATION_CHANCE = 0.04  # per derivative book and step
PRICE_LIMIT_PCT = 5  # priceLimit / REST price-limit: mark +- 5 %
INSURANCE_GROUPS: dict[str, tuple[str, str]] = {"USDT": ("linear", "USDT"), "USDC": ("linear", "USDC"), "inverse": ("inverse", "")}


def interval_ms(interval: str) -> int:
    """Length of a kline interval in ms (M: 31 days, only used as an upper bound)."""
    if interval == "D":
        return _DAY
    if interval == "W":
        return 7 * _DAY
    if interval == "M":
        return 31 * _DAY
    return int(interval) * _MIN


def candle_start(interval: str, t_ms: int) -> int:
    """Start (ms) of the candle of ``interval`` containing ``t_ms`` (UTC; weeks from Monday)."""
    if interval == "W":
        return (t_ms - _WEEK_OFFSET) // (7 * _DAY) * (7 * _DAY) + _WEEK_OFFSET
    if interval == "M":
        tm = time.gmtime(t_ms // 1000)
        return calendar.timegm((tm.tm_year, tm.tm_mon, 1, 0, 0, 0)) * 1000
    step = interval_ms(interval)
    return t_ms // step * step


def next_candle_start(interval: str, start: int) -> int:
    if interval == "M":
        tm = time.gmtime(start // 1000)
        y, m = (tm.tm_year + 1, 1) if tm.tm_mon == 12 else (tm.tm_year, tm.tm_mon + 1)
        return calendar.timegm((y, m, 1, 0, 0, 0)) * 1000
    return start + interval_ms(interval)


def decimals_of(step: str) -> int:
    """Number of decimals of a step string: '0.10' -> 2, '5' -> 0."""
    return len(step.split(".")[1]) if "." in step else 0


def _units(value: str, decimals: int) -> int:
    """'0.10' at 2 decimals -> 10 (exact)."""
    return int(Decimal(value).scaleb(decimals))


def fmt_units(v: int, decimals: int, strip: bool) -> str:
    """Integer units -> decimal string; ``strip`` drops trailing zeros (spot/option style)."""
    if decimals == 0:
        return str(v)
    neg = v < 0
    q, r = divmod(-v if neg else v, 10**decimals)
    if strip:
        if r == 0:
            s = str(q)
        else:
            s = f"{q}.{r:0{decimals}d}".rstrip("0")
    else:
        s = f"{q}.{r:0{decimals}d}"
    return "-" + s if neg and v != 0 else s


# --------------------------------------------------------------------------- instruments
@dataclass(frozen=True)
class Spec:
    """Static description of one instrument (real tick sizes and lot filters)."""

    category: str
    symbol: str
    base: str
    quote: str
    price: str  # initial mid
    tick: str
    qty_step: str
    min_qty: str
    max_qty: str
    typical_size: str  # median level size
    settle: str = ""
    price_scale: int | None = None  # decimals in formatting (linear/inverse: fixed)
    option_type: str = ""  # Call / Put
    strike: int = 0
    expiry_ms: int = 0


def _last_friday(year: int, month: int) -> int:
    last = calendar.monthrange(year, month)[1]
    wd = calendar.weekday(year, month, last)  # Monday=0 .. Friday=4
    day = last - ((wd - 4) % 7)
    return calendar.timegm((year, month, day, 8, 0, 0))


def option_expiries(now_s: float | None = None) -> list[int]:
    """Two monthly expiries (last Friday 08:00 UTC) at least 7 days ahead, as epoch seconds."""
    now_s = time.time() if now_s is None else now_s
    tm = time.gmtime(now_s)
    y, m = tm.tm_year, tm.tm_mon
    out: list[int] = []
    while len(out) < 2:
        t = _last_friday(y, m)
        if t > now_s + 7 * 86400:
            out.append(t)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _option_symbol(expiry_s: int, strike: int, kind: str) -> str:
    tm = time.gmtime(expiry_s)
    mon = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")[tm.tm_mon - 1]
    return f"BTC-{tm.tm_mday}{mon}{tm.tm_year % 100:02d}-{strike}-{kind}"


def default_specs() -> list[Spec]:
    specs = [
        Spec("spot", "BTCUSDT", "BTC", "USDT", "100000", "0.1", "0.000001", "0.000011", "83", "0.05"),
        Spec("spot", "ETHUSDT", "ETH", "USDT", "3500", "0.01", "0.00001", "0.00062", "1229.2336343", "0.8"),
        Spec("spot", "SOLUSDT", "SOL", "USDT", "200", "0.01", "0.001", "0.026", "54000", "15"),
        Spec("linear", "BTCUSDT", "BTC", "USDT", "100000.00", "0.10", "0.001", "0.001", "1190.000", "0.4", "USDT", 2),
        Spec("linear", "ETHUSDT", "ETH", "USDT", "3500.00", "0.01", "0.01", "0.01", "7240.00", "6", "USDT", 2),
        Spec("linear", "SOLUSDT", "SOL", "USDT", "200.000", "0.010", "0.1", "0.1", "79770.0", "120", "USDT", 3),
        Spec("inverse", "BTCUSD", "BTC", "USD", "100000.00", "0.50", "1", "1", "1000000", "3000", "BTC", 2),
        Spec("inverse", "ETHUSD", "ETH", "USD", "3500.00", "0.05", "1", "1", "1000000", "800", "ETH", 2),
    ]
    for exp in option_expiries()[:1]:
        for strike in (90000, 100000, 110000):
            for kind, name in (("C", "Call"), ("P", "Put")):
                specs.append(
                    Spec(
                        "option", _option_symbol(exp, strike, kind), "BTC", "USDC", "0", "5", "0.01", "0.01",
                        "500", "2.5", "USDC", None, name, strike, exp * 1000,
                    )
                )
    return specs


def _norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def black_scholes(spot: float, strike: float, years: float, vol: float, call: bool) -> dict[str, float]:
    """Price and greeks (r = 0); theta per day, vega per vol point (1.0 = 100%) / 100."""
    years = max(years, 1e-6)
    sq = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + 0.5 * vol * vol * years) / sq
    d2 = d1 - sq
    pdf = math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi)
    if call:
        price = spot * _norm_cdf(d1) - strike * _norm_cdf(d2)
        delta = _norm_cdf(d1)
    else:
        price = strike * _norm_cdf(-d2) - spot * _norm_cdf(-d1)
        delta = _norm_cdf(d1) - 1.0
    gamma = pdf / (spot * sq)
    vega = spot * pdf * math.sqrt(years) / 100.0
    theta = -spot * pdf * vol / (2 * math.sqrt(years)) / 365.0
    return {"price": price, "delta": delta, "gamma": gamma, "vega": vega, "theta": theta}


class _FormatCache(dict):
    """Integer units -> exchange string, formatted on first use (bounded)."""

    __slots__ = ("unit", "decimals", "strip")

    def __init__(self, unit: int, decimals: int, strip: bool) -> None:
        super().__init__()
        self.unit = unit
        self.decimals = decimals
        self.strip = strip

    def __missing__(self, n: int) -> str:
        if len(self) > 200_000:
            self.clear()
        s = self[n] = fmt_units(n * self.unit, self.decimals, self.strip)
        return s


# --------------------------------------------------------------------------- book side
class Side:
    """One side of a book as integer keys: ask key = ticks, bid key = -ticks (best = smallest key)."""

    __slots__ = ("keys", "size", "changed", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.keys: list[int] = []
        self.size: dict[int, int] = {}
        self.changed: dict[int, int] = {}  # key -> size before this step's first change

    def set(self, key: int, lots: int) -> None:
        size = self.size
        old = size.get(key, 0)
        if key not in self.changed:
            self.changed[key] = old
        if lots <= 0:
            if old:
                del size[key]
                keys = self.keys
                del keys[bisect_left(keys, key)]
        else:
            if not old:
                insort(self.keys, key)
            size[key] = lots

    def bound(self, n: int) -> float:
        """Key of the n-th best level (the window's worst key); +inf if the side is shallower."""
        keys = self.keys
        return keys[n - 1] if len(keys) >= n else math.inf

    def window_diff(self, old_bound: float, new_bound: float) -> list[tuple[int, int]]:
        """Levels to push so a client's top-N window follows this step's changes (sorted best first)."""
        size = self.size
        changed = self.changed
        out: dict[int, int] = {}
        for key, old in changed.items():
            new = size.get(key, 0)
            was_in = old > 0 and key <= old_bound
            is_in = new > 0 and key <= new_bound
            if is_in:
                if not was_in or old != new:
                    out[key] = new
            elif was_in:
                out[key] = 0
        if old_bound != new_bound:
            # Unchanged levels between the two boundaries entered or left the window.
            lo, hi = (old_bound, new_bound) if old_bound < new_bound else (new_bound, old_bound)
            keys = self.keys
            i = bisect_right(keys, lo)
            j = len(keys) if hi == math.inf else bisect_right(keys, hi)
            for key in keys[i:j]:
                if key in changed:
                    continue
                is_in = key <= new_bound
                if is_in != (key <= old_bound):
                    out[key] = size[key] if is_in else 0
        return sorted(out.items())


class Candle:
    __slots__ = ("interval", "start", "end", "open", "high", "low", "close", "volume", "turnover")

    def __init__(self, interval: str, start: int, price: int) -> None:
        self.interval = interval
        self.start = start
        self.end = next_candle_start(interval, start)  # next candle's start
        self.open = self.high = self.low = self.close = price
        self.volume = 0
        self.turnover = 0


def uuid4_str(n: int) -> str:
    """``str(uuid.UUID(int=n, version=4))`` without building the UUID object (hot path)."""
    n = (n & ~(0xC000 << 48) | 0x8000 << 48) & ~(0xF000 << 64) | 4 << 76
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Trade:
    """One public trade. A derivative's exec id (a UUID) is formatted only when someone reads it."""

    __slots__ = ("time", "ticks", "lots", "side", "_exec_id", "seq", "direction")

    def __init__(self, time: int, ticks: int, lots: int, side: str, exec_id: str | int, seq: int, direction: str) -> None:
        self.time = time
        self.ticks = ticks
        self.lots = lots
        self.side = side  # taker side
        self._exec_id = exec_id  # str, or the 128 random bits of a UUID4
        self.seq = seq
        self.direction = direction  # vs the previous trade: PlusTick / ZeroPlusTick / MinusTick / ZeroMinusTick

    @property
    def exec_id(self) -> str:
        e = self._exec_id
        if type(e) is int:
            e = self._exec_id = uuid4_str(e)
        return e  # type: ignore[return-value]


class Liquidation:
    """One liquidation (allLiquidation item): ``side`` is the liquidated position's side."""

    __slots__ = ("time", "side", "lots", "ticks")

    def __init__(self, time_ms: int, side: str, lots: int, ticks: int) -> None:
        self.time = time_ms
        self.side = side
        self.lots = lots
        self.ticks = ticks


# --------------------------------------------------------------------------- one symbol
class Book:
    """Book, trades, ticker statistics and klines of one instrument."""

    def __init__(self, spec: Spec, seed: int, now_ms: int, underlying: Book | None = None) -> None:
        self.spec = spec
        self.category = spec.category
        self.symbol = spec.symbol
        self.rng = random.Random(f"{seed}:{spec.category}:{spec.symbol}")
        rng = self.rng
        self.strip = spec.category in ("spot", "option")
        self.pdec = spec.price_scale if spec.price_scale is not None else decimals_of(spec.tick)
        self.tick_units = _units(spec.tick, self.pdec)
        self.qdec = decimals_of(spec.qty_step)
        self.step_units = _units(spec.qty_step, self.qdec)
        self.typical_lots = max(1, _units(spec.typical_size, self.qdec) // self.step_units)
        self.depths = BOOK_DEPTHS[spec.category]
        self.rest_depth = REST_DEPTH[spec.category]
        self.underlying = underlying
        # options have thin books; the others keep more than the deepest window (1000)
        self.min_levels, self.max_levels = (100, 140) if spec.category == "option" else (FULL_BOOK_MIN, FULL_BOOK_MAX)
        self._px_cache = _FormatCache(self.tick_units, self.pdec, self.strip)  # ticks -> price string
        self._qty_cache = _FormatCache(self.step_units, self.qdec, self.strip)  # lots -> size string
        self._fixed_cache = _FormatCache(1, self.pdec, False)  # 10**-pdec units -> "123.40" (mark, index)
        self.bids = Side(-1)
        self.asks = Side(1)
        # sequence state
        self.seq = rng.randrange(10**9, 6 * 10**10)
        self.u: dict[int, int] = {d: rng.randrange(10**5, 10**8) for d in self.depths}
        self.rpi_u = rng.randrange(10**5, 10**7)
        self.full_u = rng.randrange(10**5, 10**7)  # orderbook.full / REST full_orderbook
        # Full book (spot/linear/inverse): the sizes, at the last 200 ms push, of every level changed
        # since; the net change becomes the next delta. REST full_orderbook shows the book at that push.
        self.has_full = spec.category != "option"
        self.full_pending: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.full_delta: tuple[list[tuple[int, int]], list[tuple[int, int]]] | None = None  # pushed this step
        self.full_seq = self.seq
        self.full_ts = self.full_cts = now_ms
        # Liquidations and the isolated insurance pool (linear/inverse) draw from their own generator,
        # so the price process (and every other topic) is the same with or without them.
        self.derivative = spec.category in ("linear", "inverse")
        self.liq_rng = random.Random(f"{seed}:{spec.category}:{spec.symbol}:liq")
        self.liq_pending: list[Liquidation] = []
        self.liq_batch: list[Liquidation] = []  # published this step
        self.insurance_group = ("inverse" if spec.category == "inverse" else spec.settle) if self.derivative else ""
        coins = 1_000_000 if spec.category == "linear" else 50
        self.insurance_e8 = int(self.liq_rng.uniform(0.02, 1.0) * coins) * 10**8 + self.liq_rng.randrange(10**8)
        self.insurance_pub_e8 = self.insurance_e8  # balance at the last 1 s insurance push
        self.insurance_pub_ms = now_ms
        self.insurance_pushed = False  # the pool changed and is pushed this step
        self.watched: dict[int, int] = {}  # depth -> refcount (exact deltas computed only for these)
        self.deltas: dict[int, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {}
        self.l1_changed_at = 0  # step number when the top of book last changed
        self.ts = now_ms
        self.cts = now_ms
        self.trade_seq = rng.randrange(10**9, 10**10)
        self.exec_id = rng.randrange(2 * 10**18, 2 * 10**18 + 10**17)
        self.step_trades: list[Trade] = []
        self.recent: deque[Trade] = deque(maxlen=1000)
        # initial mid
        if spec.category == "option":
            under = underlying.mid_float() if underlying is not None else 100000.0
            self.iv = 0.45 + 0.1 * abs(spec.strike - under) / under + rng.uniform(-0.02, 0.02)
            bs = black_scholes(under, spec.strike, self.years_to_expiry(now_ms), self.iv, spec.option_type == "Call")
            mid = max(150 * self.tick_units, int(bs["price"] * 10**self.pdec))
        else:
            self.iv = 0.0
            mid = _units(spec.price, self.pdec)
        mid_ticks = mid // self.tick_units
        self.initial_ticks = mid_ticks
        self._build(mid_ticks)
        bb, ba = self.best_ticks()
        self.last_ticks = ba if rng.random() < 0.5 else bb
        self.prev_last_ticks = self.last_ticks
        self.tick_direction = "ZeroPlusTick"
        self._dir_ticks, self._dir = self.last_ticks, "ZeroPlusTick"
        # 24h statistics (synthetic past, then live)
        drift = rng.uniform(-0.03, 0.03)
        self.prev24h_ticks = max(1, int(mid_ticks * (1 - drift)))
        self.prev1h_ticks = max(1, int(mid_ticks * (1 - drift / 10)))
        self.high24h_ticks = max(mid_ticks, self.prev24h_ticks) + max(1, int(mid_ticks * rng.uniform(0.002, 0.02)))
        self.low24h_ticks = max(1, min(mid_ticks, self.prev24h_ticks) - max(1, int(mid_ticks * rng.uniform(0.002, 0.02))))
        self.volume24h = self.typical_lots * self.step_units * rng.randrange(20_000, 80_000)
        self.turnover24h = self.volume24h * mid
        self.open_interest = self.typical_lots * self.step_units * rng.randrange(50_000, 200_000)
        self.funding_rate_e8 = rng.randrange(-2000, 8000)  # 1e-8 units
        self.total_volume = rng.randrange(1000, 100000)
        # klines: live candles per interval, from the moment the market started
        self.started_ms = now_ms
        self._candles: dict[str, Candle] = {iv: Candle(iv, candle_start(iv, now_ms), self.last_ticks) for iv in KLINE_INTERVALS}
        self._roll_at = min(c.end for c in self._candles.values())  # earliest candle end
        # Trades since the candles were last updated, as one aggregate [high, low, close, volume,
        # turnover]: 13 candles are brought up to date when read or rolled, not on every trade.
        self._kline_pending: list[int] | None = None
        self.closed: dict[str, deque[Candle]] = {iv: deque(maxlen=1000) for iv in KLINE_INTERVALS}
        self.kline_dirty: set[str] | frozenset[str] = set()
        self.kline_closed_now: dict[str, Candle] = {}

    # ---- construction and random sizes ------------------------------------------
    def _lots(self, depth_index: int = 0) -> int:
        random = self.rng.random
        # rng.lognormvariate(0.0, 1.1), inlined: exp of Kinderman-Monahan normalvariate (random.py)
        while True:
            u1 = random()
            u2 = 1.0 - random()
            z = _NV_MAGICCONST * (u1 - 0.5) / u2
            if z * z / 4.0 <= -_log(u2):
                break
        x = _exp(0.0 + z * 1.1) * self.typical_lots * (1.0 + depth_index / 300.0)
        if random() < 0.15:  # retail-sized dust
            x = self.rng.randint(1, max(1, self.typical_lots // 20))
        return max(1, int(x))

    def _build(self, mid_ticks: int) -> None:
        rng = self.rng
        best_bid = mid_ticks - 1 if rng.random() < 0.5 else mid_ticks
        best_ask = best_bid + 1
        n = (self.min_levels + self.max_levels) // 2
        for side, start, direction in ((self.bids, best_bid, -1), (self.asks, best_ask, 1)):
            ticks = start
            for i in range(n):
                if ticks < 1:
                    break
                key = ticks * side.sign
                side.size[key] = self._lots(i)
                side.keys.append(key)
                ticks += direction * (1 + (0 if rng.random() < 0.7 else rng.randint(1, 3)))
            side.keys.sort()
        self.bids.changed.clear()
        self.asks.changed.clear()

    # ---- reading -----------------------------------------------------------------
    def best_ticks(self) -> tuple[int, int]:
        return -self.bids.keys[0], self.asks.keys[0]

    def mid_float(self) -> float:
        b, a = self.best_ticks()
        return (b + a) * self.tick_units / 2 / 10**self.pdec

    def px(self, ticks: int) -> str:
        return self._px_cache[ticks]

    def qty(self, lots: int) -> str:
        return self._qty_cache[lots]

    def px_decimal(self, ticks: int) -> Decimal:
        return Decimal(ticks * self.tick_units).scaleb(-self.pdec)

    def qty_decimal(self, lots: int) -> Decimal:
        return Decimal(lots * self.step_units).scaleb(-self.qdec)

    def levels(self, limit: int) -> tuple[list[list[str]], list[list[str]]]:
        """Top ``limit`` levels per side as exchange strings (bids descending, asks ascending)."""
        px, qty = self._px_cache, self._qty_cache
        bsize, asize = self.bids.size, self.asks.size
        b = [[px[-k], qty[bsize[k]]] for k in self.bids.keys[:limit]]
        a = [[px[k], qty[asize[k]]] for k in self.asks.keys[:limit]]
        return b, a

    def format_delta(self, changes: list[tuple[int, int]], sign: int) -> list[list[str]]:
        px, qty = self._px_cache, self._qty_cache
        return [[px[k * sign], qty[v] if v else "0"] for k, v in changes]

    def years_to_expiry(self, now_ms: int) -> float:
        return max(0.0, (self.spec.expiry_ms - now_ms) / (365.0 * _DAY))

    # ---- the price process -------------------------------------------------------
    def _trade(self, ticks: int, lots: int, taker: str, now: int) -> None:
        self.trade_seq += 1
        self.exec_id += 1
        exec_id: str | int = str(self.exec_id) if self.category == "spot" else self.rng.getrandbits(128)
        prev = self._dir_ticks
        if ticks > prev:
            d = "PlusTick"
        elif ticks < prev:
            d = "MinusTick"
        else:
            d = "ZeroPlusTick" if self._dir in ("PlusTick", "ZeroPlusTick") else "ZeroMinusTick"
        self._dir_ticks, self._dir = ticks, d
        self.step_trades.append(Trade(now, ticks, lots, taker, exec_id, self.trade_seq, d))

    def step(self, now: int, step_no: int) -> None:
        """One step of the random walk; afterwards ``deltas`` holds each watched depth's window delta."""
        rng = self.rng
        getrandbits = rng.getrandbits
        bids, asks = self.bids, self.asks
        bchanged: dict[int, int] = {}
        achanged: dict[int, int] = {}
        bids.changed = bchanged
        asks.changed = achanged
        bkeys, akeys, bsize, asize = bids.keys, asks.keys, bids.size, asks.size
        watched = self.watched
        old_bounds = {d: (bids.bound(d), asks.bound(d)) for d in watched} if watched else None
        bb, ba = bkeys[0], akeys[0]
        old_top = (bb, bsize[bb], ba, asize[ba])
        n_before = len(self.step_trades)  # trades recorded by the engine since the last publish
        r = rng.random()
        # Weak mean reversion keeps very long benchmark runs near the initial price.
        initial = self.initial_ticks
        pull = max(-0.08, min(0.08, (initial + bb) / (initial * 0.02 + 50) * 0.08))  # bb is -best bid
        if r < 0.2 + pull:
            self._move_up(1 if rng.random() < 0.85 else rng.randint(2, 4), now)
        elif r < 0.4:
            self._move_down(1 if rng.random() < 0.85 else rng.randint(2, 4), now)
        elif r < 0.55:
            self._small_trade(now)
        # rng.randint(a, b) is a + _randbelow(b - a + 1): getrandbits(k) until below; the same draws, inlined
        n = getrandbits(3)
        while n >= 5:
            n = getrandbits(3)
        noise = self._noise
        for _ in range(n + 1):
            noise()
        self._fill_spread()
        self._refill(bids)
        self._refill(asks)
        # bookkeeping
        self.ts = now
        n = getrandbits(6)
        while n >= 40:
            n = getrandbits(6)
        self.cts = now - 1 - n
        n = getrandbits(6)
        while n >= 60:
            n = getrandbits(6)
        self.seq += 1 + n
        bb, ba = bkeys[0], akeys[0]
        if (bb, bsize[bb], ba, asize[ba]) != old_top:
            self.l1_changed_at = step_no
        changed_any = bool(bchanged or achanged)
        if changed_any and self.has_full:
            pb, pa = self.full_pending
            if pb:
                for key, old in bchanged.items():
                    if key not in pb:
                        pb[key] = old
            else:
                pb.update(bchanged)
            if pa:
                for key, old in achanged.items():
                    if key not in pa:
                        pa[key] = old
            else:
                pa.update(achanged)
        if not watched:
            if changed_any:
                u = self.u
                for d in self.depths:
                    u[d] += 1  # nobody sees this depth: any increasing u will do
            if self.deltas:
                self.deltas = {}
            if len(self.step_trades) > n_before:
                self._after_trades(self.step_trades[n_before:])
            return
        assert old_bounds is not None
        deltas = self.deltas = {}
        for d in self.depths:
            if d in watched:
                ob, oa = old_bounds[d]
                db = bids.window_diff(ob, bids.bound(d))
                da = asks.window_diff(oa, asks.bound(d))
                if db or da:
                    self.u[d] += 1
                    deltas[d] = (db, da)
            elif changed_any:
                self.u[d] += 1  # nobody sees this depth: any increasing u will do
        if len(self.step_trades) > n_before:
            self._after_trades(self.step_trades[n_before:])

    def _move_up(self, k: int, now: int) -> None:
        """A buyer lifts asks up to best_bid + k ticks; bids follow."""
        bids, asks = self.bids, self.asks
        old_bid = -bids.keys[0]
        target = old_bid + k
        while asks.keys and asks.keys[0] <= target:
            key = asks.keys[0]
            self._trade(key, asks.size[key], "Buy", now)
            asks.set(key, 0)
        bids.set(-target, self._lots())
        for t in range(old_bid + 1, target):
            if self.rng.random() < 0.5:
                bids.set(-t, self._lots())
        if not asks.keys:
            asks.set(target + 1, self._lots())

    def _move_down(self, k: int, now: int) -> None:
        bids, asks = self.bids, self.asks
        old_ask = asks.keys[0]
        target = old_ask - k
        if target < 1:
            return
        while bids.keys and -bids.keys[0] >= target:
            key = bids.keys[0]
            self._trade(-key, bids.size[key], "Sell", now)
            bids.set(key, 0)
        asks.set(target, self._lots())
        for t in range(target + 1, old_ask):
            if self.rng.random() < 0.5:
                asks.set(t, self._lots())
        if not bids.keys and target > 1:
            bids.set(-(target - 1), self._lots())

    def _small_trade(self, now: int) -> None:
        rng = self.rng
        side = self.asks if rng.random() < 0.5 else self.bids
        key = side.keys[0]
        size = side.size[key]
        lots = min(size - 1, max(1, int(size * rng.uniform(0.05, 0.6)))) if size > 1 else 0
        if lots <= 0:
            return
        side.set(key, size - lots)
        self._trade(key * side.sign, lots, "Buy" if side is self.asks else "Sell", now)

    def _noise(self) -> None:
        rng = self.rng
        side = self.bids if rng.random() < 0.5 else self.asks
        keys = side.keys
        n = len(keys)
        if rng.random() < 0.12:
            i = rng.randrange(n)  # somewhere deep: exercises the L200 / L1000 windows
        else:
            i = min(n - 1, int(-_log(1.0 - rng.random()) / (1 / 6.0)))  # rng.expovariate(1 / 6.0), inlined
        key = keys[i]
        r = rng.random()
        if r < 0.55:
            side.set(key, self._lots(i))
        elif r < 0.75:
            if n > 1:  # a cancel (at the touch too); never empty a side
                side.set(key, 0)
        else:
            new_key = key + 1  # one tick deeper than level i
            if new_key not in side.size:
                side.set(new_key, self._lots(i))

    def _fill_spread(self) -> None:
        """Makers step into a wide spread."""
        b, a = self.best_ticks()
        if a - b > 1 and self.rng.random() < 0.6:
            t = self.rng.randint(b + 1, a - 1)
            if self.rng.random() < 0.5:
                self.bids.set(-t, self._lots())
            else:
                self.asks.set(t, self._lots())

    def _refill(self, side: Side) -> None:
        keys = side.keys
        rng = self.rng
        while len(keys) < self.min_levels:
            key = keys[-1] + 1 + (0 if rng.random() < 0.7 else rng.randint(1, 3))
            if side.sign < 0 and -key < 1:
                break
            side.set(key, self._lots(len(keys)))
        while len(keys) > self.max_levels:
            side.set(keys[-1], 0)

    def _after_trades(self, trades: list[Trade]) -> None:
        self.recent.extend(trades)
        last = trades[-1].ticks
        self.tick_direction = trades[-1].direction
        self.prev_last_ticks = self.last_ticks
        self.last_ticks = last
        hi = max(t.ticks for t in trades)
        lo = min(t.ticks for t in trades)
        vol = sum(t.lots for t in trades) * self.step_units
        turn = sum(t.lots * t.ticks for t in trades) * self.step_units * self.tick_units
        self.volume24h += vol
        self.turnover24h += turn
        self.total_volume += 1
        if hi > self.high24h_ticks:
            self.high24h_ticks = hi
        if lo < self.low24h_ticks:
            self.low24h_ticks = lo
        now = trades[-1].time
        if now >= self._roll_at:
            self._roll(now)
        kp = self._kline_pending
        if kp is None:
            self._kline_pending = [hi, lo, last, vol, turn]
        else:
            if hi > kp[0]:
                kp[0] = hi
            if lo < kp[1]:
                kp[1] = lo
            kp[2] = last
            kp[3] += vol
            kp[4] += turn
        self.kline_dirty = _ALL_KLINES

    @property
    def candles(self) -> dict[str, Candle]:
        """The live candle of every interval (up to date)."""
        if self._kline_pending is not None:
            self._apply_kline_pending()
        return self._candles

    def _apply_kline_pending(self) -> None:
        hi, lo, last, vol, turn = self._kline_pending  # type: ignore[misc]
        self._kline_pending = None
        for c in self._candles.values():
            if hi > c.high:
                c.high = hi
            if lo < c.low:
                c.low = lo
            c.close = last
            c.volume += vol
            c.turnover += turn

    def _roll(self, now: int) -> list[str]:
        """Close every candle whose time is over; the next one opens at its close."""
        if self._kline_pending is not None:
            self._apply_kline_pending()
        rolled = []
        candles = self._candles
        for iv, c in candles.items():
            if now >= c.end:
                self.closed[iv].append(c)
                self.kline_closed_now[iv] = c
                candles[iv] = Candle(iv, candle_start(iv, now), c.close)
                rolled.append(iv)
        self._roll_at = min(c.end for c in candles.values())
        return rolled

    def roll_candles(self, now: int) -> None:
        """Close candles whose time is over even when nothing traded."""
        if now >= self._roll_at:
            rolled = self._roll(now)
            if self.kline_dirty is not _ALL_KLINES:
                self.kline_dirty.update(rolled)  # type: ignore[union-attr]

    def record_trade(self, ticks: int, lots: int, taker_side: str, now: int) -> None:
        """An engine trade: stats now, published with the next publish round."""
        self._trade(ticks, lots, taker_side, now)
        self._after_trades(self.step_trades[-1:])

    def end_round(self) -> None:
        """After the sockets have published a step: forget what they pushed."""
        if self.step_trades:
            self.step_trades = []
        if self.kline_dirty:
            self.kline_dirty = set()
        if self.kline_closed_now:
            self.kline_closed_now = {}
        self.full_delta = None
        if self.liq_batch:
            self.liq_batch = []
        self.insurance_pushed = False

    # ---- full book (orderbook.full / REST full_orderbook) ----------------------------------
    def full_flush(self) -> None:
        """End a 200 ms period: the net change since the last push becomes delta ``full_u + 1``.

        Nothing changed: no delta and ``u`` stays (the stream is silent). Levels are sorted best
        first, as the docs say (bids descending, asks ascending).
        """
        pb, pa = self.full_pending
        self.full_pending = ({}, {})
        if not pb and not pa:
            return
        bs, as_ = self.bids.size, self.asks.size
        db = sorted([(k, n) for k, old in pb.items() if (n := bs.get(k, 0)) != old])
        da = sorted([(k, n) for k, old in pa.items() if (n := as_.get(k, 0)) != old])
        if db or da:
            self.full_u += 1
            self.full_delta = (db, da)
            self.full_seq, self.full_ts, self.full_cts = self.seq, self.ts, self.cts

    def full_restart(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Service restart (fault): the stream and REST count ``u`` from 1 again (PROTOCOL §5.6).

        The ``u=1`` message carries this step's net change (pushed now even off the 200 ms
        cadence); a client re-syncs from REST, whose snapshot is at ``u=1`` until the next push.
        """
        if self.full_delta is None:
            self.full_flush()
        delta = self.full_delta or ([], [])
        self.full_u = 1
        self.full_delta = delta
        self.full_seq, self.full_ts, self.full_cts = self.seq, self.ts, self.cts
        return delta

    def full_levels(self, limit: int = FULL_BOOK_REST_LIMIT) -> tuple[list[list[str]], list[list[str]]]:
        """The book as of the last full-book push (``full_u``): what REST ``full_orderbook`` returns."""
        out = []
        px, qty = self._px_cache, self._qty_cache
        for side, pending in ((self.bids, self.full_pending[0]), (self.asks, self.full_pending[1])):
            size = side.size
            keys = side.keys
            if pending:  # revert this period's few changes on a copy of the sorted keys
                keys = list(keys)
                size = dict(size)
                for k, old in pending.items():
                    if old:
                        if k not in size:
                            insort(keys, k)
                        size[k] = old
                    elif k in size:
                        del keys[bisect_left(keys, k)]
                        del size[k]
            sign = side.sign
            out.append([[px[k * sign], qty[size[k]]] for k in keys[:limit]])
        return out[0], out[1]

    # ---- liquidations, insurance pool, price limits -------------------------------------------
    def liquidate(self, now: int) -> None:
        """Maybe one liquidation this step (derivatives); the pool keeps or pays a share of it."""
        r = self.liq_rng
        if r.random() >= LIQUIDATION_CHANCE:
            return
        side = "Buy" if r.random() < 0.5 else "Sell"  # Buy: a long was liquidated (bankruptcy below the mark)
        mark = self.mark_ticks()
        off = max(1, int(mark * r.uniform(0.002, 0.012)))
        ticks = max(1, mark - off if side == "Buy" else mark + off)
        lots = max(1, int(r.lognormvariate(0.0, 1.0) * self.typical_lots))
        self.liq_pending.append(Liquidation(now, side, lots, ticks))
        contracts = lots * self.step_units  # at qdec
        if self.category == "linear":
            notional_e8 = contracts * ticks * self.tick_units * 10**8 // 10 ** (self.qdec + self.pdec)
        else:  # inverse: contracts are quote (USD); value in coin = contracts / price
            notional_e8 = contracts * 10 ** (8 + self.pdec) // (10**self.qdec * ticks * self.tick_units)
        self.insurance_e8 = max(10**8, self.insurance_e8 + int(notional_e8 * r.uniform(-0.0005, 0.002)))

    def insurance_balance(self) -> str:
        """The pool's balance at the last insurance push (settle coin)."""
        return fmt_units(self.insurance_pub_e8, 8, True)

    def price_limits(self) -> tuple[int, int]:
        """(highest bid, lowest ask) allowed, in ticks: the mark +- PRICE_LIMIT_PCT %."""
        mark = self.mark_ticks()
        band = max(1, mark * PRICE_LIMIT_PCT // 100)
        return mark + band, max(1, mark - band)

    # ---- tickers and klines (exchange strings) ------------------------------------------
    def _pct(self, now_ticks: int, then_ticks: int, places: int) -> str:
        """(now - then) / then at ``places`` decimals, rounded half-even (as Decimal.quantize did)."""
        if then_ticks <= 0:
            return "0"
        q, r = divmod((now_ticks - then_ticks) * 10**places, then_ticks)  # floor
        if 2 * r > then_ticks or (2 * r == then_ticks and q & 1):
            q += 1
        return fmt_units(q, places, self.category == "spot")

    def _amount(self, units: int, decimals: int, places: int) -> str:
        """Volume/turnover: integer ``units`` at ``decimals``, shown with ``places`` decimals."""
        if decimals > places:
            units //= 10 ** (decimals - places)
        else:
            units *= 10 ** (places - decimals)
        return fmt_units(units, places, self.category == "spot")

    def _next_funding(self, now: int) -> str:
        period = 8 * 3_600_000
        return str((now // period + 1) * period)

    def ticker(self, now: int, *, rest: bool) -> dict[str, Any]:
        """The ticker in the exchange's key order (REST /v5/market/tickers item or WS tickers data)."""
        px, qty = self.px, self.qty
        bk, ak = self.bids.keys[0], self.asks.keys[0]
        bid, ask = px(-bk), px(ak)
        bid_sz, ask_sz = qty(self.bids.size[bk]), qty(self.asks.size[ak])
        last = px(self.last_ticks)
        cat = self.category
        tdec = self.pdec + self.qdec
        if cat == "spot":
            stats = {
                "lastPrice": last,
                "prevPrice24h": px(self.prev24h_ticks),
                "price24hPcnt": self._pct(self.last_ticks, self.prev24h_ticks, 4),
                "highPrice24h": px(self.high24h_ticks),
                "lowPrice24h": px(self.low24h_ticks),
                "turnover24h": self._amount(self.turnover24h, tdec, 8),
                "volume24h": self._amount(self.volume24h, self.qdec, self.qdec),
                "usdIndexPrice": fmt_units(self.index_units(), self.pdec, True),
            }
            if rest:
                return {"symbol": self.symbol, "bid1Price": bid, "bid1Size": bid_sz, "ask1Price": ask, "ask1Size": ask_sz, **stats}
            return {
                "symbol": self.symbol,
                "lastPrice": last,
                "highPrice24h": stats["highPrice24h"],
                "lowPrice24h": stats["lowPrice24h"],
                "prevPrice24h": stats["prevPrice24h"],
                "volume24h": stats["volume24h"],
                "turnover24h": stats["turnover24h"],
                "price24hPcnt": stats["price24hPcnt"],
                "usdIndexPrice": stats["usdIndexPrice"],
            }
        if cat in ("linear", "inverse"):
            mark_units = self.mark_ticks() * self.tick_units
            idx = self.index_units()
            fixed = self._fixed_cache
            oi = self.open_interest
            if cat == "linear":
                oi_value = oi * mark_units // 10**self.qdec  # quote units at pdec
                oi_value_s = fmt_units(oi_value // 10 ** max(0, self.pdec - 2) if self.pdec >= 2 else oi_value * 10 ** (2 - self.pdec), 2, False)
                turnover = self._amount(self.turnover24h, tdec, 4)
            else:
                # inverse: contracts are USD; value in coin = contracts / price
                oi_value_s = f"{Decimal(oi) / Decimal(max(1, mark_units)).scaleb(-self.pdec):.2f}"
                turnover = f"{Decimal(self.volume24h) / Decimal(max(1, mark_units)).scaleb(-self.pdec):.4f}"
            funding = fmt_units(self.funding_rate_e8, 8, True)
            if rest:
                return {
                    "symbol": self.symbol,
                    "lastPrice": last,
                    "indexPrice": fixed[idx],
                    "markPrice": fixed[mark_units],
                    "prevPrice24h": px(self.prev24h_ticks),
                    "price24hPcnt": self._pct(self.last_ticks, self.prev24h_ticks, 6),
                    "highPrice24h": px(self.high24h_ticks),
                    "lowPrice24h": px(self.low24h_ticks),
                    "prevPrice1h": px(self.prev1h_ticks),
                    "openInterest": qty(oi // self.step_units) if cat == "linear" else str(oi),
                    "openInterestValue": oi_value_s,
                    "turnover24h": turnover,
                    "volume24h": self._amount(self.volume24h, self.qdec, 4),
                    "fundingRate": funding,
                    "nextFundingTime": self._next_funding(now),
                    "predictedDeliveryPrice": "",
                    "basisRate": "",
                    "deliveryFeeRate": "",
                    "deliveryTime": "0",
                    "ask1Size": ask_sz,
                    "bid1Price": bid,
                    "ask1Price": ask,
                    "bid1Size": bid_sz,
                    "basis": "",
                    "preOpenPrice": "",
                    "preQty": "",
                    "curPreListingPhase": "",
                    "fundingIntervalHour": "8",
                    "basisRateYear": "",
                    "fundingCap": "0.005",
                }
            return {
                "symbol": self.symbol,
                "tickDirection": self.tick_direction,
                "price24hPcnt": self._pct(self.last_ticks, self.prev24h_ticks, 6),
                "lastPrice": last,
                "prevPrice24h": px(self.prev24h_ticks),
                "highPrice24h": px(self.high24h_ticks),
                "lowPrice24h": px(self.low24h_ticks),
                "prevPrice1h": px(self.prev1h_ticks),
                "markPrice": fixed[mark_units],
                "indexPrice": fixed[idx],
                "openInterest": qty(oi // self.step_units) if cat == "linear" else str(oi),
                "openInterestValue": oi_value_s,
                "turnover24h": turnover,
                "volume24h": self._amount(self.volume24h, self.qdec, 4),
                "fundingIntervalHour": "8",
                "fundingCap": "0.005",
                "nextFundingTime": self._next_funding(now),
                "fundingRate": funding,
                "bid1Price": bid,
                "bid1Size": bid_sz,
                "ask1Price": ask,
                "ask1Size": ask_sz,
                "preOpenPrice": "",
                "preQty": "",
                "curPreListingPhase": "",
            }
        # option
        g = self.greeks(now)
        under = g["underlying"]
        iv = f"{self.iv:.4f}"
        mark = fmt_units(self.mark_ticks() * self.tick_units, self.pdec, True)
        vals = {
            "lastPrice": last,
            "highPrice24h": px(self.high24h_ticks),
            "lowPrice24h": px(self.low24h_ticks),
            "markPrice": mark,
            "indexPrice": f"{under:.2f}",
        }
        rest_keys = ("bid1Price", "bid1Size", "bid1Iv", "ask1Price", "ask1Size", "ask1Iv")
        ws_keys = ("bidPrice", "bidSize", "bidIv", "askPrice", "askSize", "askIv")
        book_vals = (bid, bid_sz, f"{max(0.0, self.iv - 0.01):.4f}", ask, ask_sz, f"{self.iv + 0.01:.4f}")
        out: dict[str, Any] = {"symbol": self.symbol}
        out.update(zip(rest_keys if rest else ws_keys, book_vals))
        out.update(vals)
        out["markIv" if rest else "markPriceIv"] = iv
        out.update({
            "underlyingPrice": f"{under:.2f}",
            "openInterest": qty(self.open_interest // self.step_units // 1000),
            "turnover24h": f"{Decimal(self.volume24h).scaleb(-self.qdec) * Decimal(str(round(under, 2))) / 1000:.4f}",
            "volume24h": self._amount(self.volume24h // 1000, self.qdec, self.qdec),
            "totalVolume": str(self.total_volume),
            "totalTurnover": str(self.total_volume * int(under)),
            "delta": f"{g['delta']:.8f}",
            "gamma": f"{g['gamma']:.8f}",
            "vega": f"{g['vega']:.8f}",
            "theta": f"{g['theta']:.8f}",
            "predictedDeliveryPrice": "0",
            "change24h": self._pct(self.last_ticks, self.prev24h_ticks, 8),
        })
        return out

    def greeks(self, now: int) -> dict[str, float]:
        under = self.underlying.mid_float() if self.underlying is not None else 100000.0
        g = black_scholes(under, self.spec.strike, self.years_to_expiry(now), self.iv, self.spec.option_type == "Call")
        g["underlying"] = under
        return g

    def kline_item(self, c: Candle, confirm: bool, now: int) -> dict[str, Any]:
        """One WS kline ``data`` item."""
        return {
            "start": c.start,
            "end": c.end - 1,
            "interval": c.interval,
            "open": self.px(c.open),
            "close": self.px(c.close),
            "high": self.px(c.high),
            "low": self.px(c.low),
            "volume": fmt_units(c.volume, self.qdec, True),
            "turnover": fmt_units(c.turnover, self.pdec + self.qdec, True),
            "confirm": confirm,
            "timestamp": now,
        }

    # ---- derived prices ------------------------------------------------------------
    def mark_ticks(self) -> int:
        b, a = self.best_ticks()
        return (b + a) // 2

    def index_units(self) -> int:
        """Index price in 10**-pdec units: the mid with a small, slowly varying basis."""
        b, a = self.best_ticks()
        mid_units = (b + a) * self.tick_units // 2
        return mid_units + (self.seq % 7 - 3) * self.tick_units // 2


# --------------------------------------------------------------------------- the market
class Market:
    """All instruments and their books; see the module docstring."""

    categories: tuple[str, ...] = CATEGORIES

    def __init__(
        self,
        *,
        seed: int = 1,
        symbols: dict[str, list[str]] | None = None,
        interval: float = 0.05,
        clock: Callable[[], int] | None = None,
        steps_per_tick: int = 1,
    ) -> None:
        self.seed = seed
        self.interval = interval
        self.steps_per_tick = max(1, steps_per_tick)
        self.clock = clock or (lambda: time.time_ns() // 1_000_000)
        now = self.clock()
        specs = default_specs()
        if symbols is not None:
            unknown = [
                (c, s) for c, names in symbols.items() for s in names
                if not any(sp.category == c and sp.symbol == s for sp in specs)
            ]
            if unknown:
                raise ValueError(f"unknown instruments {unknown}; available: {[(s.category, s.symbol) for s in specs]}")
            specs = [sp for sp in specs if sp.symbol in symbols.get(sp.category, ())]
        self.specs = specs
        self.books: dict[tuple[str, str], Book] = {}
        for sp in specs:
            if sp.category == "option":
                continue
            self.books[(sp.category, sp.symbol)] = Book(sp, seed, now)
        under = self.books.get(("linear", "BTCUSDT"))
        for sp in specs:
            if sp.category == "option":
                self.books[(sp.category, sp.symbol)] = Book(sp, seed, now, under)
        self.symbols: dict[str, list[str]] = {c: [s.symbol for s in specs if s.category == c] for c in CATEGORIES}
        self._instruments = {c: [self._instrument_item(b) for b in self._books_of(c)] for c in CATEGORIES}
        self._by_symbol = {(c, it["symbol"]): it for c in CATEGORIES for it in self._instruments[c]}
        self.step_no = 0
        self.l1_repush_steps = self.steps_for(L1_REPUSH_SECONDS)
        # Push periods in steps; tests may lower them (read at every step).
        self.full_book_steps = self.steps_for(FULL_BOOK_SECONDS)
        self.liquidation_steps = self.steps_for(LIQUIDATION_SECONDS)
        self.insurance_steps = self.steps_for(INSURANCE_SECONDS)
        self.price_limit_steps = self.steps_for(PRICE_LIMIT_SECONDS)
        self.price_limit_due = False  # priceLimit pushes this step
        self._derivatives = [b for b in self.books.values() if b.derivative]
        self._full_books = [b for b in self.books.values() if b.has_full]
        self._callbacks: list[Callable[[], None]] = []
        self._publishers: list[Callable[[], None]] = []
        self._throttles: list[Callable[[], Awaitable[None]]] = []
        self._task: asyncio.Task | None = None
        self.fast = False  # running flat out (start(fast=True))

    def steps_for(self, seconds: float) -> int:
        """Steps in a push period of ``seconds`` (a manual market counts DEFAULT_STEP_SECONDS per step)."""
        step = self.interval if self.interval > 0 else DEFAULT_STEP_SECONDS
        return max(1, round(seconds / step))

    def insurance_books(self, group: str) -> list[Book]:
        """Books with an isolated pool in ``insurance.{group}`` (USDT, USDC, inverse)."""
        return [b for b in self._derivatives if b.insurance_group == group]

    def _books_of(self, category: str) -> list[Book]:
        return [b for (c, _), b in self.books.items() if c == category]

    # ---- contract API ----------------------------------------------------------------
    def book(self, category: str, symbol: str) -> Book:
        b = self.books.get((category, symbol))
        if b is None:
            raise KeyError(f"{category} {symbol}")
        return b

    def instruments(self, category: str) -> list[dict]:
        return self._instruments.get(category, [])

    def instrument(self, category: str, symbol: str) -> dict | None:
        return self._by_symbol.get((category, symbol))

    def best_bid_ask(self, category: str, symbol: str) -> tuple[Decimal, Decimal]:
        b = self.book(category, symbol)
        bid, ask = b.best_ticks()
        return b.px_decimal(bid), b.px_decimal(ask)

    def depth(self, category: str, symbol: str, limit: int) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        b = self.book(category, symbol)
        bids = [(b.px_decimal(-k), b.qty_decimal(b.bids.size[k])) for k in b.bids.keys[:limit]]
        asks = [(b.px_decimal(k), b.qty_decimal(b.asks.size[k])) for k in b.asks.keys[:limit]]
        return bids, asks

    def last_price(self, category: str, symbol: str) -> Decimal:
        b = self.book(category, symbol)
        return b.px_decimal(b.last_ticks)

    def mark_price(self, category: str, symbol: str) -> Decimal:
        b = self.book(category, symbol)
        return b.px_decimal(b.mark_ticks())

    def on_step(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after every step (before the sockets publish it)."""
        self._callbacks.append(callback)

    def add_publisher(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after every step, after the ``on_step`` callbacks (public sockets)."""
        self._publishers.append(callback)

    def remove_publisher(self, callback: Callable[[], None]) -> None:
        if callback in self._publishers:
            self._publishers.remove(callback)

    def add_throttle(self, wait: Callable[[], Awaitable[None]]) -> None:
        """Fast mode awaits ``wait()`` after every tick (a publisher whose subscribers need to catch up)."""
        self._throttles.append(wait)

    def record_trade(self, category: str, symbol: str, price: Decimal, qty: Decimal, taker_side: str) -> None:
        """A trade done by the matching engine: last price, klines, 24h stats and publicTrade."""
        b = self.book(category, symbol)
        ticks = int(Decimal(price).scaleb(b.pdec)) // b.tick_units
        lots = max(1, int(Decimal(qty).scaleb(b.qdec)) // b.step_units)
        b.record_trade(ticks, lots, taker_side, self.clock())

    def step(self, n: int = 1) -> None:
        """Advance ``n`` steps now; callbacks and publishers run after each step."""
        for _ in range(n):
            self.step_no += 1
            now = self.clock()
            step_no = self.step_no
            books = self.books.values()
            for b in books:
                b.step(now, step_no)
                b.roll_candles(now)
            for b in self._derivatives:
                b.liquidate(now)
            if step_no % self.full_book_steps == 0:
                for b in self._full_books:
                    b.full_flush()
            if step_no % self.liquidation_steps == 0:
                for b in self._derivatives:
                    if b.liq_pending:
                        b.liq_batch, b.liq_pending = b.liq_pending, []
            if step_no % self.insurance_steps == 0:
                for b in self._derivatives:
                    if b.insurance_e8 != b.insurance_pub_e8:  # unchanged pools are not pushed
                        b.insurance_pub_e8, b.insurance_pub_ms, b.insurance_pushed = b.insurance_e8, now, True
            self.price_limit_due = step_no % self.price_limit_steps == 0
            for cb in self._callbacks:
                cb()
            for pub in self._publishers:
                pub()
            for b in books:
                b.end_round()

    async def start(self, *, fast: bool = False) -> None:
        """Step every ``interval`` seconds in the background (no-op when interval is 0).

        ``fast``: flat out instead, ``steps_per_tick`` steps per event-loop iteration, as fast as
        the sockets deliver (benchmarks, demos); a running paced loop is replaced. Push cadences
        (full book, liquidations, ...) still count ``interval`` (or 50 ms when 0) per step.
        """
        if self._task is not None and fast != self.fast:
            await self.stop()
        if self._task is None and (fast or self.interval > 0):
            self.fast = fast
            self._task = asyncio.get_running_loop().create_task(self._run_fast() if fast else self._run())

    async def stop(self) -> None:
        self.fast = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run_fast(self) -> None:
        throttles = self._throttles
        while True:
            self.step(self.steps_per_tick)
            for wait in throttles:
                await wait()
            await asyncio.sleep(0)  # let the sockets flush what this tick queued

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            self.step(self.steps_per_tick)
            next_at += self.interval
            delay = next_at - loop.time()
            if delay < -1.0:  # fell far behind (slow consumer, debugger): do not burst to catch up
                next_at = loop.time()
                delay = 0
            await asyncio.sleep(max(0.0, delay))

    # ---- watching (exact deltas only for depths someone reads) ----------------------------
    def watch(self, category: str, symbol: str, depth: int) -> None:
        b = self.book(category, symbol)
        b.watched[depth] = b.watched.get(depth, 0) + 1

    def unwatch(self, category: str, symbol: str, depth: int) -> None:
        b = self.book(category, symbol)
        left = b.watched.get(depth, 0) - 1
        if left > 0:
            b.watched[depth] = left
        else:
            b.watched.pop(depth, None)

    # ---- instruments-info ----------------------------------------------------------------
    def _instrument_item(self, b: Book) -> dict[str, Any]:
        sp = b.spec
        launch = "1585526400000"
        if sp.category == "spot":
            base_prec = sp.qty_step
            return {
                "symbol": sp.symbol,
                "baseCoin": sp.base,
                "quoteCoin": sp.quote,
                "innovation": "0",
                "status": "Trading",
                "marginTrading": "utaOnly",
                "stTag": "0",
                "lotSizeFilter": {
                    "basePrecision": base_prec,
                    "quotePrecision": "0.0000001",
                    "minOrderQty": sp.min_qty,
                    "maxOrderQty": sp.max_qty,
                    "minOrderAmt": "5",
                    "maxOrderAmt": "8000000",
                    "maxLimitOrderQty": sp.max_qty,
                    "maxMarketOrderQty": fmt_units(_units(sp.max_qty, 8) // 2, 8, True),
                    "postOnlyMaxLimitOrderSize": "60000",
                },
                "priceFilter": {"tickSize": sp.tick},
                "riskParameters": {"priceLimitRatioX": "0.005", "priceLimitRatioY": "0.01"},
                "symbolType": "",
            }
        if sp.category in ("linear", "inverse"):
            max_price = fmt_units(b.initial_ticks * 20 * b.tick_units, b.pdec, False)
            max_mkt = fmt_units(_units(sp.max_qty, b.qdec) * 2 // 5 // b.step_units * b.step_units, b.qdec, False)
            return {
                "symbol": sp.symbol,
                "contractType": "LinearPerpetual" if sp.category == "linear" else "InversePerpetual",
                "status": "Trading",
                "baseCoin": sp.base,
                "quoteCoin": sp.quote,
                "launchTime": launch,
                "deliveryTime": "0",
                "deliveryFeeRate": "",
                "priceScale": str(b.pdec),
                "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
                "priceFilter": {
                    "minPrice": fmt_units(b.tick_units, b.pdec, False),
                    "maxPrice": max_price,
                    "tickSize": sp.tick,
                },
                "lotSizeFilter": {
                    "maxOrderQty": sp.max_qty,
                    "minOrderQty": sp.min_qty,
                    "qtyStep": sp.qty_step,
                    "postOnlyMaxOrderQty": sp.max_qty,
                    "maxMktOrderQty": max_mkt,
                    "minNotionalValue": "5" if sp.category == "linear" else "0",
                },
                "unifiedMarginTrade": True,
                "fundingInterval": 480,
                "settleCoin": sp.settle,
                "copyTrading": "both" if sp.category == "linear" else "none",
                "upperFundingRate": "0.00375",
                "lowerFundingRate": "-0.00375",
                "isPreListing": False,
                "preListingInfo": None,
                "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
                "symbolType": "",
            }
        return {
            "symbol": sp.symbol,
            "status": "Trading",
            "baseCoin": sp.base,
            "quoteCoin": sp.quote,
            "settleCoin": sp.settle,
            "optionsType": sp.option_type,
            "launchTime": str(sp.expiry_ms - 60 * _DAY),
            "deliveryTime": str(sp.expiry_ms),
            "deliveryFeeRate": "0.00015",
            "priceFilter": {"minPrice": sp.tick, "maxPrice": "1110000", "tickSize": sp.tick},
            "lotSizeFilter": {"maxOrderQty": sp.max_qty, "minOrderQty": sp.min_qty, "qtyStep": sp.qty_step},
            "displayName": "",
        }
