"""``bybitfast demo``: a small market maker against the in-process emulator, with a live display.

It shows the whole SDK working together, with no network and no keys: a local order book kept by
the WebSocket client, quotes placed and amended at the touch over the trade socket, fills read
from the private stream (order / execution / position), and what it costs: messages per second,
book update time (the managed book's own native ``apply`` time per frame, reported by its
``on_update`` hook), order round-trip percentiles and PnL. After ``duration`` seconds it cancels
its quotes, prints a summary and returns it.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TextIO

from .book import OrderBook
from .emulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, Emulator
from .errors import BybitAPIError, BybitError
from .rest.client import RestClientV5
from .ws.api import WebsocketAPIClient
from .ws.client import WebsocketClient

# Market steps per second of the demo's emulator: at 50 steps/s a quote at the touch is usually
# filled within a second (the emulator fills a resting order when the market trades through it).
DEMO_MARKET_INTERVAL = 0.02
REQUOTE_INTERVAL = 0.25  # per side; keeps amends well under the 10/s order-amend limit
DISPLAY_INTERVAL = 0.5  # TTY refresh; plain output prints every PLAIN_INTERVAL
PLAIN_INTERVAL = 1.0


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def order_qty(lot: dict[str, str], price: Decimal) -> Decimal:
    """The smallest order size the instrument accepts at ``price`` (min qty, and min value +10 %)."""
    step = Decimal(lot.get("qtyStep") or lot.get("basePrecision") or lot["minOrderQty"])
    qty = Decimal(lot["minOrderQty"])
    min_value = lot.get("minOrderAmt") or lot.get("minNotionalValue")
    if min_value and price > 0:
        needed = Decimal(min_value) * Decimal("1.1") / price
        qty = max(qty, (needed / step).to_integral_value(rounding="ROUND_CEILING") * step)
    return qty


def fmt_us(seconds: float) -> str:
    if seconds != seconds:
        return "n/a"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


@dataclass
class Stats:
    """Everything the display and the summary report; updated by the stream callbacks."""

    started: float = field(default_factory=time.perf_counter)
    events: int = 0  # decoded frames delivered as ``update`` events (the private topics)
    book_updates: int = 0  # frames that changed the managed book (its on_update hook calls)
    book_update_ns: list[int] = field(default_factory=list)  # the book's apply time per frame (first 100k)
    placed: int = 0
    amended: int = 0
    cancelled: int = 0
    rejected: int = 0
    filled_orders: int = 0
    fills: int = 0
    round_trips: list[float] = field(default_factory=list)  # seconds, every trade-socket request
    position: Decimal = Decimal(0)
    cash: Decimal = Decimal(0)  # quote currency received minus paid
    fees: Decimal = Decimal(0)
    mid: float = math.nan
    best_bid: float = math.nan
    best_ask: float = math.nan
    quote_coin: str = "USDT"

    def pnl(self) -> float:
        """Realised plus marked-to-mid PnL, net of fees (quote currency)."""
        if self.mid != self.mid:
            return float(self.cash - self.fees)
        return float(self.cash - self.fees) + float(self.position) * self.mid

    @property
    def messages(self) -> int:
        """Data frames received: managed-book frames plus ``update`` events."""
        return self.events + self.book_updates

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.messages / elapsed if elapsed > 0 else 0.0

    def lines(self) -> list[str]:
        rt = self.round_trips
        cost = [ns / 1e9 for ns in self.book_update_ns]
        return [
            f"book   bid {self.best_bid:,.2f}  ask {self.best_ask:,.2f}  updates {self.book_updates:,}  "
            f"update cost p50 {fmt_us(percentile(cost, 0.5))}  msgs/s {self.rate():,.0f}",
            f"orders placed {self.placed}  amended {self.amended}  filled {self.filled_orders}  fills {self.fills}  "
            f"round trip p50 {fmt_us(percentile(rt, 0.5))}  p90 {fmt_us(percentile(rt, 0.9))}  "
            f"p99 {fmt_us(percentile(rt, 0.99))}",
            f"pnl    {self.pnl():+,.4f} {self.quote_coin}  position {self.position}  fees {self.fees}",
        ]

    def summary(self, elapsed: float) -> dict[str, Any]:
        rt = self.round_trips
        cost = [ns / 1e9 for ns in self.book_update_ns]
        return {
            "duration_s": round(elapsed, 2),
            "messages": self.messages,
            "messages_per_s": round(self.messages / elapsed, 1) if elapsed > 0 else 0.0,
            "books_updated": self.book_updates,
            "book_update_p50_us": round(percentile(cost, 0.5) * 1e6, 2) if cost else None,
            "book_update_p99_us": round(percentile(cost, 0.99) * 1e6, 2) if cost else None,
            "orders_placed": self.placed,
            "orders_amended": self.amended,
            "orders_cancelled": self.cancelled,
            "orders_rejected": self.rejected,
            "orders_filled": self.filled_orders,
            "fills": self.fills,
            "round_trip_p50_ms": round(percentile(rt, 0.5) * 1e3, 3) if rt else None,
            "round_trip_p90_ms": round(percentile(rt, 0.9) * 1e3, 3) if rt else None,
            "round_trip_p99_ms": round(percentile(rt, 0.99) * 1e3, 3) if rt else None,
            "requests": len(rt),
            "position": str(self.position),
            "fees": str(self.fees),
            "pnl": round(self.pnl(), 6),
            "pnl_currency": self.quote_coin,
        }


class LiveDisplay:
    """A small block redrawn in place on a terminal; periodic plain lines otherwise (logs, pipes)."""

    def __init__(self, out: TextIO, *, tty: bool | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self._drawn = 0
        self._last = 0.0

    def update(self, lines: list[str], *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < (DISPLAY_INTERVAL if self.tty else PLAIN_INTERVAL):
            return
        self._last = now
        if self.tty:
            if self._drawn:
                self.out.write(f"\x1b[{self._drawn}F\x1b[J")  # back to the block's first line, clear below
            self.out.write("\n".join(lines) + "\n")
            self._drawn = len(lines)
        else:
            self.out.write(" | ".join(lines) + "\n")
        self.out.flush()

    def finish(self) -> None:
        self._drawn = 0


class MarketMaker:
    """Quotes one lot at the best bid and best ask, amending when the touch moves.

    Sides are independent: a side with no live order gets a PostOnly limit order, a live one is
    amended to the new touch (at most every ``REQUOTE_INTERVAL``). The private stream says when an
    order is gone (filled, cancelled, rejected by PostOnly), which frees its side.
    """

    def __init__(self, trade: WebsocketAPIClient, stats: Stats, *, category: str, symbol: str,
                 qty: Decimal, tick: Decimal, max_position: Decimal) -> None:
        self.trade = trade
        self.stats = stats
        self.category = category
        self.symbol = symbol
        self.qty = str(qty)
        self.tick = tick
        self.max_position = max_position
        self.live: dict[str, dict[str, Any]] = {}  # side -> {"id", "price"}
        self.busy: set[str] = set()
        self.last_quote: dict[str, float] = {"Buy": 0.0, "Sell": 0.0}
        self.tasks: set[asyncio.Task[None]] = set()
        self.closing = False

    def price_str(self, price: float) -> str:
        ticks = round(Decimal(repr(price)) / self.tick)
        return str((ticks * self.tick).normalize() if ticks else self.tick)

    def on_book(self, best_bid: float, best_ask: float) -> None:
        """Requote both sides if due (called on every book update)."""
        if self.closing or best_bid != best_bid or best_ask != best_ask:
            return
        now = time.monotonic()
        for side, price in (("Buy", best_bid), ("Sell", best_ask)):
            if side in self.busy or now - self.last_quote[side] < REQUOTE_INTERVAL:
                continue
            pos = self.stats.position
            if (side == "Buy" and pos >= self.max_position) or (side == "Sell" and pos <= -self.max_position):
                continue
            target = self.price_str(price)
            live = self.live.get(side)
            if live is not None and live["price"] == target:
                continue
            self.last_quote[side] = now
            self.busy.add(side)
            task = asyncio.get_running_loop().create_task(self._quote(side, target, live))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _quote(self, side: str, price: str, live: dict[str, Any] | None) -> None:
        t0 = time.perf_counter()
        try:
            if live is None:
                reply = await self.trade.submit_new_order(
                    category=self.category, symbol=self.symbol, side=side, orderType="Limit",
                    qty=self.qty, price=price, timeInForce="PostOnly",
                )
                self.stats.round_trips.append(time.perf_counter() - t0)
                order_id = (reply.get("data") or {}).get("orderId")
                if order_id and side not in self.live:
                    self.live[side] = {"id": order_id, "price": price}
                    self.stats.placed += 1
            else:
                await self.trade.amend_order(category=self.category, symbol=self.symbol, orderId=live["id"], price=price)
                self.stats.round_trips.append(time.perf_counter() - t0)
                if self.live.get(side) is live:
                    live["price"] = price
                self.stats.amended += 1
        except BybitAPIError:
            # Typically the order filled or was cancelled while the amend was in flight, or PostOnly
            # would have crossed: the private stream frees the side; count and move on.
            self.stats.round_trips.append(time.perf_counter() - t0)
            self.stats.rejected += 1
            if live is not None and self.live.get(side) is live:
                del self.live[side]
        except BybitError:
            self.stats.rejected += 1
        finally:
            self.busy.discard(side)

    def on_order(self, item: dict[str, Any]) -> None:
        """``order`` push: free a side whose order is gone."""
        if item.get("symbol") != self.symbol:
            return
        status = item.get("orderStatus")
        if status in ("Filled", "Cancelled", "Rejected", "Deactivated", "PartiallyFilledCanceled"):
            if status == "Filled":
                self.stats.filled_orders += 1
            for side, live in list(self.live.items()):
                if live["id"] == item.get("orderId"):
                    del self.live[side]

    def on_execution(self, item: dict[str, Any]) -> None:
        """``execution`` push: cash, fees and (until the position push) the running position."""
        if item.get("symbol") != self.symbol or item.get("execType", "Trade") != "Trade":
            return
        qty = Decimal(item.get("execQty") or "0")
        price = Decimal(item.get("execPrice") or "0")
        sign = 1 if item.get("side") == "Buy" else -1
        self.stats.fills += 1
        self.stats.cash -= sign * qty * price
        self.stats.fees += Decimal(item.get("execFee") or "0")
        self.stats.position += sign * qty

    def on_position(self, item: dict[str, Any]) -> None:
        """``position`` push: the exchange's own position size wins over our running sum."""
        if item.get("symbol") != self.symbol:
            return
        size = Decimal(item.get("size") or "0")
        self.stats.position = -size if item.get("side") == "Sell" else size

    async def close(self) -> None:
        """Stop quoting, let in-flight requests finish, cancel what is left."""
        self.closing = True
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=2.0)
        for live in list(self.live.values()):
            t0 = time.perf_counter()
            try:
                await self.trade.cancel_order(category=self.category, symbol=self.symbol, orderId=live["id"])
                self.stats.round_trips.append(time.perf_counter() - t0)
                self.stats.cancelled += 1
            except BybitError:
                pass
        self.live.clear()


async def run_demo(
    *,
    duration: float = 10.0,
    symbol: str = "BTCUSDT",
    category: str = "linear",
    out: TextIO | None = None,
    tty: bool | None = None,
    depth: int = 50,
) -> dict[str, Any]:
    """Run the market maker for ``duration`` seconds against a fresh emulator; the summary dict."""
    out = out or sys.stdout
    stats = Stats()
    display = LiveDisplay(out, tty=tty)
    async with Emulator(market_interval=DEMO_MARKET_INTERVAL) as ex:
        out.write(f"emulator at {ex.rest_url} ({category} {symbol}); running for {duration:g} s\n")
        out.flush()
        async with RestClientV5(DEFAULT_API_KEY, DEFAULT_API_SECRET, base_url=ex.rest_url) as rest:
            info = (await rest.get_instruments_info(category=category, symbol=symbol))["result"]["list"]
            if not info:
                raise BybitError(f"unknown instrument {category} {symbol}")
            tick = Decimal(info[0]["priceFilter"]["tickSize"])
            last = Decimal((await rest.get_tickers(category=category, symbol=symbol))["result"]["list"][0]["lastPrice"])
            qty = order_qty(info[0]["lotSizeFilter"], last)
            stats.quote_coin = info[0].get("quoteCoin", "USDT")
        trade = WebsocketAPIClient(DEFAULT_API_KEY, DEFAULT_API_SECRET, ws_url=ex.ws_url)
        maker = MarketMaker(trade, stats, category=category, symbol=symbol, qty=qty, tick=tick,
                            max_position=qty * 5)
        ws = WebsocketClient(DEFAULT_API_KEY, DEFAULT_API_SECRET, ws_url=ex.ws_url)
        try:
            await trade.connect()
            await _wire_streams(ws, maker, stats, category=category, symbol=symbol, depth=depth)
            stats.started = time.perf_counter()  # rates over the trading time, not the start-up
            deadline = time.perf_counter() + duration
            while (left := deadline - time.perf_counter()) > 0:
                await asyncio.sleep(min(left, 0.1))
                display.update(stats.lines())
            await maker.close()
            display.update(stats.lines(), force=True)
            display.finish()
        finally:
            await ws.close_all()
            await trade.close()
    summary = stats.summary(time.perf_counter() - stats.started)
    out.write(format_summary(summary))
    out.flush()
    return summary


async def _wire_streams(ws: WebsocketClient, maker: MarketMaker, stats: Stats, *, category: str,
                        symbol: str, depth: int) -> OrderBook:
    """Subscribe the managed book and the private topics; route their updates to the maker.

    The managed book (``orderbook.{depth}``) is applied natively inside the client; its
    ``on_update`` hook runs after each applied frame with the nanoseconds ``OrderBook.apply``
    took, so the "update cost" shown is that book's own apply time, and each update drives
    requoting. No book frame is decoded in Python. Private topics arrive as ``update`` events.
    """

    def on_book(book: OrderBook, apply_ns: int) -> None:
        stats.book_updates += 1
        if len(stats.book_update_ns) < 100_000:
            stats.book_update_ns.append(apply_ns)
        stats.best_bid, stats.best_ask = book.best_bid_price(), book.best_ask_price()
        stats.mid = (stats.best_bid + stats.best_ask) / 2
        maker.on_book(stats.best_bid, stats.best_ask)

    def on_update(msg: dict[str, Any]) -> None:
        stats.events += 1
        handler = {"order": maker.on_order, "execution": maker.on_execution, "position": maker.on_position}.get(msg.get("topic") or "")
        if handler is not None:
            for item in msg.get("data") or ():
                handler(item)

    ws.on("update", on_update)
    book = await ws.subscribe_order_book(symbol, category, depth, on_update=on_book)
    await ws.subscribe_v5(["order", "execution", "position"])
    return book


def format_summary(summary: dict[str, Any]) -> str:
    """The end-of-run block (one ``key: value`` per line under a title)."""
    width = max(len(k) for k in summary)
    lines = ["", "summary"] + [f"  {k:<{width}}  {'n/a' if v is None else v}" for k, v in summary.items()]
    return "\n".join(lines) + "\n"
