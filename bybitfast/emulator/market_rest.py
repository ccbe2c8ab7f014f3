"""REST ``GET /v5/market/*`` handlers, answered from the same market state the sockets push.

``/v5/market/orderbook`` carries the ``u`` of the 1000-level stream (option: 25), so a client can
reconcile the REST snapshot with ``orderbook.1000`` exactly. History the emulator did not live
through (klines before start, funding, open interest, ratios) is a deterministic function of the
seed, the symbol and the time, shaped like the exchange's answers and ending at the live price.

Parameter errors are ``10001`` with the exchange's messages where known ("Illegal category",
"params error: symbol invalid", "Not supported symbols"); others follow the same
``params error: <name> invalid`` pattern [inferred].
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from .common import ApiError
from .market import FULL_BOOK_REST_LIMIT, KLINE_INTERVALS, Book, Market, candle_start, fmt_units, interval_ms, option_expiries

Handler = Callable[[Any, Any], Awaitable[Any]]
HANDLERS: dict[tuple[str, str], Handler] = {}

ORDERBOOK_LIMITS = {"spot": (1000, 1), "linear": (1000, 25), "inverse": (1000, 25), "option": (25, 1)}  # (max, default)
OI_INTERVALS = {"5min": 300_000, "15min": 900_000, "30min": 1_800_000, "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}
HV_PERIODS = (7, 14, 21, 30, 60, 90, 180, 270)
_8H = 8 * 3_600_000


def route(path: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        HANDLERS[("GET", path)] = fn
        return fn

    return deco


# --------------------------------------------------------------------------- parameter helpers
def _bad(name: str) -> ApiError:
    return ApiError(10001, f"params error: {name} invalid")


def _category(ctx: Any, allowed: tuple[str, ...], default: str | None = None) -> str:
    cat = ctx.params.get("category") or default
    if cat not in allowed:
        raise ApiError(10001, "Illegal category")
    return cat


def _book(ex: Any, category: str, symbol: str | None, msg: str = "params error: symbol invalid") -> Book:
    b = ex.market.books.get((category, symbol or ""))
    if b is None:
        raise ApiError(10001, msg)
    return b


def _int(ctx: Any, name: str, default: int | None = None, lo: int | None = None, hi: int | None = None) -> int | None:
    raw = ctx.params.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except (TypeError, ValueError):
        raise _bad(name) from None
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise _bad(name)
    return v


def _now(ex: Any) -> int:
    return ex.market.clock()


def _noise(*parts: Any) -> float:
    """Deterministic value in [0, 1) from the parts (crc32: fast, stable across runs)."""
    return zlib.crc32(":".join(map(str, parts)).encode()) / 2**32


def _cursor_value(raw: str | None, key: str) -> str | None:
    """Our cursors look like the exchange's (``lastid%3D5%26lasttime%3D1700000000``)."""
    if not raw:
        return None
    text = raw.replace("%3D", "=").replace("%26", "&")
    for part in text.split("&"):
        k, _, v = part.partition("=")
        if k == key:
            return v
    raise _bad("cursor")


# --------------------------------------------------------------------------- synthetic history
def _synthetic_units(b: Book, t: int, seed: int, kind: str = "last") -> int:
    """A smooth deterministic price path (10**-pdec units) that meets the live price at start."""
    def f(x: int) -> float:
        return (
            0.02 * math.sin(2 * math.pi * x / (9.3 * 86_400_000))
            + 0.006 * math.sin(2 * math.pi * x / (7.1 * 3_600_000) + seed)
            + 0.002 * math.sin(2 * math.pi * x / (37 * 60_000) + 1.7 * seed)
        )

    base = b.initial_ticks * b.tick_units
    v = base * (1 + f(t) - f(b.started_ms))
    if kind == "mark":
        v *= 1 + 0.0001 * math.sin(t / 3.1e6)
    elif kind == "index":
        v *= 1 - 0.0002 * math.sin(t / 2.3e6)
    return max(b.tick_units, int(v) // b.tick_units * b.tick_units)


def _candles(ex: Any, b: Book, iv: str, kind: str, start: int | None, end: int | None, limit: int) -> list[list[str]]:
    """Newest first: live candles where the emulator ran, the synthetic path before."""
    m: Market = ex.market
    now = _now(ex)
    end = now if end is None else min(end, now)
    live = {c.start: c for c in b.closed[iv]}
    cur = b.candles[iv]
    live[cur.start] = cur
    out: list[list[str]] = []
    cs = candle_start(iv, end)
    strip = True
    while len(out) < limit and (start is None or cs >= start):
        nxt = candle_start(iv, cs + interval_ms(iv) + 1) if iv == "M" else cs + interval_ms(iv)
        c = live.get(cs) if kind == "last" else None
        if c is not None:
            row = [str(cs), b.px(c.open), b.px(c.high), b.px(c.low), b.px(c.close),
                   fmt_units(c.volume, b.qdec, True), fmt_units(c.turnover, b.pdec + b.qdec, True)]
        elif kind == "premium":
            vals = [(_noise(m.seed, b.symbol, cs, i) - 0.5) * 0.002 for i in range(4)]
            o, c_ = vals[0], vals[3]
            row = [str(cs)] + [f"{x:.6f}" for x in (o, max(vals), min(vals), c_)]
        else:
            o = _synthetic_units(b, cs, m.seed, kind)
            c_ = _synthetic_units(b, min(nxt, b.started_ms) if cs < b.started_ms else nxt, m.seed, kind)
            span = max(o, c_) * 0.003 * _noise(m.seed, b.symbol, iv, cs)
            step = b.tick_units
            hi = (int(max(o, c_) + span) // step) * step
            lo = max(step, (int(min(o, c_) - span) // step) * step)
            fmt = (lambda u: fmt_units(u, b.pdec, strip)) if kind != "index" else (lambda u: fmt_units(u, b.pdec, False))
            row = [str(cs), fmt(o), fmt(hi), fmt(lo), fmt(c_)]
            if kind == "last":
                vol = int(b.typical_lots * b.step_units * (interval_ms(iv) // 60_000) * (2 + 8 * _noise(m.seed, b.symbol, "v", iv, cs)))
                row += [fmt_units(vol, b.qdec, True), fmt_units(vol * c_, b.pdec + b.qdec, True)]
        out.append(row)
        cs = candle_start(iv, cs - 1)
    return out


def _kline_common(ex: Any, ctx: Any, allowed: tuple[str, ...], kind: str) -> dict[str, Any]:
    cat = _category(ctx, allowed, "linear")
    symbol = ctx.params.get("symbol")
    if not symbol:
        raise _bad("symbol")
    b = _book(ex, cat, symbol, "Not supported symbols")
    iv = ctx.params.get("interval")
    if iv not in KLINE_INTERVALS:
        raise _bad("interval")
    limit = _int(ctx, "limit", 200, 1, 1000)
    start = _int(ctx, "start")
    end = _int(ctx, "end")
    if start is not None and end is not None and start > end:
        raise _bad("start")
    return {"symbol": symbol, "category": cat, "list": _candles(ex, b, iv, kind, start, end, limit)}


# --------------------------------------------------------------------------- handlers
@route("/v5/market/time")
async def server_time(ex: Any, ctx: Any) -> dict[str, Any]:
    ns = time.time_ns()
    return {"timeSecond": str(ns // 10**9), "timeNano": str(ns)}


@route("/v5/market/kline")
async def kline(ex: Any, ctx: Any) -> dict[str, Any]:
    return _kline_common(ex, ctx, ("spot", "linear", "inverse"), "last")


@route("/v5/market/mark-price-kline")
async def mark_price_kline(ex: Any, ctx: Any) -> dict[str, Any]:
    return _kline_common(ex, ctx, ("linear", "inverse"), "mark")


@route("/v5/market/index-price-kline")
async def index_price_kline(ex: Any, ctx: Any) -> dict[str, Any]:
    return _kline_common(ex, ctx, ("linear", "inverse"), "index")


@route("/v5/market/premium-index-price-kline")
async def premium_index_price_kline(ex: Any, ctx: Any) -> dict[str, Any]:
    return _kline_common(ex, ctx, ("linear",), "premium")


@route("/v5/market/instruments-info")
async def instruments_info(ex: Any, ctx: Any) -> dict[str, Any]:
    cat = _category(ctx, ("spot", "linear", "inverse", "option"))
    p = ctx.params
    items = ex.market.instruments(cat)
    if p.get("symbol"):
        items = [it for it in items if it["symbol"] == p["symbol"]]
    if p.get("baseCoin"):
        items = [it for it in items if it["baseCoin"] == p["baseCoin"]]
    if p.get("status"):
        items = [it for it in items if it["status"] == p["status"]]
    if cat == "spot":  # spot does not paginate
        return {"category": cat, "list": items}
    limit = _int(ctx, "limit", 500, 1, 1000)
    assert limit is not None
    after = _cursor_value(p.get("cursor"), "last")
    begin = 0
    if after is not None:
        names = [it["symbol"] for it in items]
        if after not in names:
            raise _bad("cursor")
        begin = names.index(after) + 1
    page = items[begin : begin + limit]
    more = begin + limit < len(items)
    cursor = f"first%3D{page[0]['symbol']}%26last%3D{page[-1]['symbol']}" if more and page else ""
    if cat == "option":
        return {"category": cat, "nextPageCursor": cursor, "list": page}
    return {"category": cat, "list": page, "nextPageCursor": cursor}


@route("/v5/market/orderbook")
async def orderbook(ex: Any, ctx: Any) -> dict[str, Any]:
    cat = _category(ctx, ("spot", "linear", "inverse", "option"))
    b = _book(ex, cat, ctx.params.get("symbol"))
    hi, default = ORDERBOOK_LIMITS[cat]
    limit = _int(ctx, "limit", default, 1, hi)
    assert limit is not None
    bl, al = b.levels(limit)
    return {"s": b.symbol, "a": al, "b": bl, "ts": b.ts, "u": b.u[b.rest_depth], "seq": b.seq, "cts": b.cts}


@route("/v5/market/rpi_orderbook")
async def rpi_orderbook(ex: Any, ctx: Any) -> dict[str, Any]:
    from .public import rpi_levels  # the same RPI view the socket pushes

    cat = _category(ctx, ("spot", "linear", "inverse"), "spot" if not ctx.params.get("category") else None)
    b = _book(ex, cat, ctx.params.get("symbol"))
    if not ctx.params.get("limit"):
        raise _bad("limit")
    limit = _int(ctx, "limit", None, 1, 50)
    bl, al = rpi_levels(b)
    return {"s": b.symbol, "a": al[:limit], "b": bl[:limit], "ts": b.ts, "u": b.rpi_u, "seq": b.seq, "cts": b.cts}


@route("/v5/market/full_orderbook")
async def full_orderbook(ex: Any, ctx: Any) -> dict[str, Any]:
    cat = _category(ctx, ("spot", "linear", "inverse"))
    b = _book(ex, cat, ctx.params.get("symbol"))
    # The book as of the last orderbook.full push: u, seq, ts and cts are that delta's (PROTOCOL §5.4, §5.6).
    bl, al = b.full_levels(FULL_BOOK_REST_LIMIT)
    return {"s": b.symbol, "a": al, "b": bl, "ts": b.full_ts, "u": b.full_u, "seq": b.full_seq, "cts": b.full_cts}


@route("/v5/market/tickers")
async def tickers(ex: Any, ctx: Any) -> dict[str, Any]:
    cat = _category(ctx, ("spot", "linear", "inverse", "option"))
    p = ctx.params
    m: Market = ex.market
    books = [b for (c, _), b in m.books.items() if c == cat]
    if p.get("symbol"):
        books = [b for b in books if b.symbol == p["symbol"]]
        if not books:
            raise ApiError(10001, "Not supported symbols")
    elif cat == "option":
        if not p.get("baseCoin"):
            raise _bad("baseCoin")
        books = [b for b in books if b.spec.base == p["baseCoin"]]
    now = _now(ex)
    return {"category": cat, "list": [b.ticker(now, rest=True) for b in books]}


@route("/v5/market/funding/history")
async def funding_history(ex: Any, ctx: Any) -> dict[str, Any]:
    cat = _category(ctx, ("linear", "inverse"))
    symbol = ctx.params.get("symbol")
    b = _book(ex, cat, symbol)
    limit = _int(ctx, "limit", 200, 1, 200)
    start = _int(ctx, "startTime")
    end = _int(ctx, "endTime", _now(ex))
    assert end is not None and limit is not None
    t = end // _8H * _8H
    out = []
    while len(out) < limit and (start is None or t >= start):
        rate = int((_noise(ex.market.seed, symbol, "f", t) - 0.2) * 20_000)  # 1e-8 units
        out.append({"symbol": b.symbol, "fundingRate": fmt_units(rate, 8, True), "fundingRateTimestamp": str(t)})
        t -= _8H
    return {"category": cat, "list": out}


@route("/v5/market/recent-trade")
async def recent_trade(ex: Any, ctx: Any) -> dict[str, Any]:
    cat = _category(ctx, ("spot", "linear", "inverse", "option"))
    p = ctx.params
    m: Market = ex.market
    if cat == "option" and not p.get("symbol"):
        if not p.get("baseCoin"):
            raise _bad("baseCoin")
        books = [b for (c, _), b in m.books.items() if c == "option" and b.spec.base == p["baseCoin"]]
    else:
        books = [_book(ex, cat, p.get("symbol"))]
    hi, default = (60, 60) if cat == "spot" else (1000, 500)
    limit = _int(ctx, "limit", default, 1, hi)
    assert limit is not None
    trades = sorted(((t, b) for b in books for t in b.recent), key=lambda tb: (tb[0].time, tb[0].seq), reverse=True)[:limit]
    out = []
    for t, b in trades:
        item: dict[str, Any] = {
            "execId": t.exec_id, "symbol": b.symbol, "price": b.px(t.ticks), "size": b.qty(t.lots),
            "side": t.side, "time": str(t.time), "isBlockTrade": False, "isRPITrade": False,
        }
        if cat == "option":
            g = b.greeks(t.time)
            item.update({"mP": b.px(b.mark_ticks()), "iP": f"{g['underlying']:.2f}", "mIv": f"{b.iv:.4f}", "iv": f"{b.iv:.4f}"})
        item["seq"] = str(t.seq)
        out.append(item)
    return {"category": cat, "list": out}


def _timed_series(ex: Any, ctx: Any, step: int, limit: int, make: Callable[[int], dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    start = _int(ctx, "startTime")
    end = _int(ctx, "endTime", _now(ex))
    assert end is not None
    after = _cursor_value(ctx.params.get("cursor"), "lasttime")
    if after is not None:
        try:
            end = min(end, int(after) * 1000 - 1)
        except ValueError:
            raise _bad("cursor") from None
    t = end // step * step
    out = []
    while len(out) < limit and (start is None or t >= start):
        out.append(make(t))
        t -= step
    more = len(out) == limit and (start is None or t >= start)
    cursor = f"lastid%3D{int(out[-1]['timestamp']) // step}%26lasttime%3D{int(out[-1]['timestamp']) // 1000}" if more else ""
    return out, cursor


def _stat_series(ex: Any, ctx: Any, interval_param: str, max_limit: int) -> tuple[str, Book, int, int]:
    """Category, book, step and limit of a linear / inverse statistics series, checked in that order."""
    cat = _category(ctx, ("linear", "inverse"))
    b = _book(ex, cat, ctx.params.get("symbol"))
    step = OI_INTERVALS.get(ctx.params.get(interval_param, ""))
    if step is None:
        raise _bad(interval_param)
    limit = _int(ctx, "limit", 50, 1, max_limit)
    assert limit is not None
    return cat, b, step, limit


@route("/v5/market/open-interest")
async def open_interest(ex: Any, ctx: Any) -> dict[str, Any]:
    cat, b, step, limit = _stat_series(ex, ctx, "intervalTime", 200)
    base = Decimal(b.open_interest).scaleb(-b.qdec)

    def make(t: int) -> dict[str, Any]:
        v = base * Decimal(str(round(0.9 + 0.2 * _noise(ex.market.seed, b.symbol, "oi", t), 6)))
        return {"openInterest": f"{v:.8f}", "timestamp": str(t)}

    items, cursor = _timed_series(ex, ctx, step, limit, make)
    return {"symbol": b.symbol, "category": cat, "list": items, "nextPageCursor": cursor}


@route("/v5/market/historical-volatility")
async def historical_volatility(ex: Any, ctx: Any) -> list[dict[str, Any]]:
    _category(ctx, ("option",), "option")
    base = ctx.params.get("baseCoin") or "BTC"
    if base not in ("BTC", "ETH", "SOL"):
        raise _bad("baseCoin")
    period = _int(ctx, "period", 7)
    if period not in HV_PERIODS:
        raise _bad("period")
    start = _int(ctx, "startTime")
    end = _int(ctx, "endTime")
    hour = 3_600_000
    now = _now(ex)
    if start is None and end is None:
        times = [now // hour * hour]
    else:
        end = min(end if end is not None else now, now)
        start = start if start is not None else end - 30 * 86_400_000
        if start > end or end - start > 30 * 86_400_000:
            raise _bad("startTime")
        times = list(range(end // hour * hour, start - 1, -hour))
    return [{"period": period, "value": f"{0.3 + 0.4 * _noise(ex.market.seed, base, period, t):.8f}", "time": str(t)} for t in times]


@route("/v5/market/insurance")
async def insurance(ex: Any, ctx: Any) -> dict[str, Any]:
    coin = ctx.params.get("coin")
    m: Market = ex.market
    # Every emulated contract has an isolated pool: the balances insurance.{USDT,inverse} push.
    out = []
    updated = 0
    for b in m.books.values():
        if not b.derivative or (coin and coin != b.spec.settle):
            continue
        updated = max(updated, b.insurance_pub_ms)
        # value: USD value of the pool (coin pools at the mark price; stablecoins at a small discount)
        usd = Decimal(b.insurance_pub_e8).scaleb(-8) * (b.px_decimal(b.mark_ticks()) if b.category == "inverse" else Decimal("0.9997"))
        out.append({"coin": b.spec.settle, "symbols": b.symbol, "balance": b.insurance_balance(), "value": f"{usd:.10f}"})
    return {"updatedTime": str(updated or _now(ex)), "list": out}


@route("/v5/market/risk-limit")
async def risk_limit(ex: Any, ctx: Any) -> dict[str, Any]:
    cat = _category(ctx, ("linear", "inverse"))
    symbol = ctx.params.get("symbol")
    books = [b for (c, _), b in ex.market.books.items() if c == cat and (not symbol or b.symbol == symbol)]
    if symbol and not books:
        raise _bad("symbol")
    out = []
    rid = 1
    for b in books:
        base = 2_000_000 if cat == "linear" else 150
        for tier in range(10):
            mm = Decimal("0.005") + Decimal("0.005") * tier
            im = Decimal("0.01") + Decimal("0.01") * tier
            out.append({
                "id": rid, "symbol": b.symbol, "riskLimitValue": str(base * (tier + 1)),
                "maintenanceMargin": str(mm.normalize() * 100 if cat == "inverse" else mm.normalize()),
                "initialMargin": str(im.normalize() * 100 if cat == "inverse" else im.normalize()),
                "isLowestRisk": 1 if tier == 0 else 0, "maxLeverage": f"{(1 / im):.2f}",
                "mmDeduction": "" if tier == 0 else str(base * tier * 5 // 1000),
            })
            rid += 1
    return {"category": cat, "list": out}


def _past_expiries(now_ms: int, n: int) -> list[int]:
    """The last ``n`` monthly expiries (ms), newest first."""
    out: list[int] = []
    t = now_ms / 1000
    while len(out) < n:
        t -= 28 * 86400
        for e in option_expiries(t - 7 * 86400):
            if e * 1000 < now_ms and e * 1000 not in out:
                out.append(e * 1000)
    return sorted(out, reverse=True)[:n]


@route("/v5/market/delivery-price")
async def delivery_price(ex: Any, ctx: Any) -> dict[str, Any]:
    cat = _category(ctx, ("linear", "inverse", "option"))
    limit = _int(ctx, "limit", 50, 1, 200)
    assert limit is not None
    base = ctx.params.get("baseCoin") or "BTC"
    symbol = ctx.params.get("symbol")
    out = []
    if cat == "option":
        for exp in _past_expiries(_now(ex), 3):
            tm = time.gmtime(exp / 1000)
            mon = time.strftime("%b", tm).upper()
            price = 100000 * (0.9 + 0.2 * _noise(ex.market.seed, base, exp))
            for strike in (90000, 100000, 110000):
                for kind in ("C", "P"):
                    sym = f"{base}-{tm.tm_mday}{mon}{tm.tm_year % 100:02d}-{strike}-{kind}"
                    if symbol and sym != symbol:
                        continue
                    out.append({"symbol": sym, "deliveryPrice": f"{price:.9f}", "deliveryTime": str(exp)})
    return {"category": cat, "nextPageCursor": "", "list": out[:limit]}


@route("/v5/market/new-delivery-price")
async def new_delivery_price(ex: Any, ctx: Any) -> dict[str, Any]:
    cat = _category(ctx, ("option",))
    base = ctx.params.get("baseCoin")
    if not base:
        raise _bad("baseCoin")
    out = [
        {"deliveryPrice": f"{100000 * (0.9 + 0.2 * _noise(ex.market.seed, base, exp)):.2f}", "deliveryTime": str(exp)}
        for exp in _past_expiries(_now(ex), 10)
    ]
    return {"category": cat, "list": out}


@route("/v5/market/account-ratio")
async def account_ratio(ex: Any, ctx: Any) -> dict[str, Any]:
    _cat, b, step, limit = _stat_series(ex, ctx, "period", 500)

    def make(t: int) -> dict[str, Any]:
        buy = Decimal(4000 + int(2000 * _noise(ex.market.seed, b.symbol, "r", t))) / 10000
        return {"symbol": b.symbol, "buyRatio": str(buy), "sellRatio": str(1 - buy), "timestamp": str(t)}

    items, cursor = _timed_series(ex, ctx, step, limit, make)
    return {"list": items, "nextPageCursor": cursor}


@route("/v5/market/index-price-components")
async def index_price_components(ex: Any, ctx: Any) -> dict[str, Any]:
    name = ctx.params.get("indexName")
    if not name:
        raise _bad("indexName")
    b = ex.market.books.get(("linear", name)) or ex.market.books.get(("spot", name))
    if b is None:
        raise _bad("indexName")
    idx = b.index_units()
    comps = []
    venues = (("Binance", "{b}{q}", 0.4), ("Bybit", "{b}{q}", 0.25), ("OKX", "{b}-{q}", 0.2), ("Coinbase", "{b}-USD", 0.15))
    for i, (venue, fmt, w) in enumerate(venues):
        px = fmt_units(idx + (i - 1) * b.tick_units, b.pdec, True)
        pair = fmt.format(b=b.spec.base, q=b.spec.quote)
        comps.append({"exchange": venue, "spotPair": pair, "equivalentPrice": px, "multiplier": "1", "price": px, "weight": str(w)})
    return {"indexName": name, "lastPrice": fmt_units(idx, b.pdec, True), "updateTime": str(b.ts), "components": comps}


@route("/v5/market/price-limit")
async def price_limit(ex: Any, ctx: Any) -> dict[str, Any]:
    cat = _category(ctx, ("spot", "linear", "inverse"), "linear")
    b = _book(ex, cat, ctx.params.get("symbol"))
    buy, sell = b.price_limits()  # the values priceLimit.{symbol} pushes
    return {"symbol": b.symbol, "buyLmt": b.px(buy), "sellLmt": b.px(sell), "ts": str(b.ts)}


@route("/v5/market/adlAlert")
async def adl_alert(ex: Any, ctx: Any) -> dict[str, Any]:
    symbol = ctx.params.get("symbol")
    m: Market = ex.market
    out = []
    for (c, s), b in m.books.items():
        if c not in ("linear", "inverse") or (symbol and s != symbol):
            continue
        bal = 1_000_000 * (1 + _noise(m.seed, b.spec.settle, "adl"))
        out.append({
            "coin": b.spec.settle, "symbol": s, "balance": f"{bal:.8f}", "maxBalance": "",
            "insurancePnlRatio": "-0.3", "pnlRatio": f"{_noise(m.seed, s, 'pr') * 0.01:.6f}",
            "adlTriggerThreshold": "10000", "adlStopRatio": "-0.25",
        })
    return {"updatedTime": str(_now(ex) // 60_000 * 60_000), "list": out}


@route("/v5/market/fee-group-info")
async def fee_group_info(ex: Any, ctx: Any) -> dict[str, Any]:
    if ctx.params.get("productType") != "contract":
        raise _bad("productType")
    gid = ctx.params.get("groupId")
    if gid and gid not in {str(i) for i in range(1, 9)}:
        raise _bad("groupId")
    m: Market = ex.market
    syms = sorted({s for (c, s) in m.books if c in ("linear", "inverse")})
    pro = [{"level": f"Pro {i}", "takerFeeRate": f"{0.0003 - 0.00002 * i:.5f}", "makerFeeRate": f"{max(0.0, 0.0001 - 0.00002 * i):.5f}", "makerRebate": ""} for i in range(1, 7)]
    mm = [{"level": f"MM {i}", "takerFeeRate": "", "makerFeeRate": "", "makerRebate": f"{-0.0000025 * i:.7f}"} for i in range(1, 4)]
    groups = []
    for g in range(1, 9):
        if gid and str(g) != gid:
            continue
        members = syms if g == 1 else []
        groups.append({
            "groupName": f"G{g}", "weightingFactor": g, "symbolsNumbers": len(members), "symbols": members,
            "feeRates": {"pro": pro, "marketMaker": mm}, "updateTime": str(m.books[next(iter(m.books))].started_ms),
        })
    return {"list": groups}
