"""The public sockets ``/v5/public/{spot,linear,inverse,option}``: acks, pongs and market pushes.

One :class:`Hub` per market holds the topics somebody is subscribed to. After every market step
it builds each topic's frame once (compact JSON ``bytes``) and appends the same object to every
subscriber's queue. Subscribing is synchronous with respect to the market: the snapshot is built
at the current ``u`` and queued before the next step can queue delta ``u+1``.

Fan-out: a connection's first push in an event-loop iteration schedules one :meth:`Conn.flush`
(``call_soon``), which hands everything queued by then (every frame of every step run in that
iteration) to :meth:`ServerSocket.write_frames`: one ``transport.write`` per flush, no ``await``
per frame. While the transport is paused (client not reading) frames stay queued and a drain
task resumes the flush; a queue that reaches ``MAX_QUEUE`` frames cuts the connection as a slow
consumer. A delayed ack (``faults.delay_responses``) holds everything queued behind it, in order.
With link latency the per-frame writer task of :meth:`Conn.writer` is used instead.

Acks, pongs and errors follow PROTOCOL §4.2/§4.4 per category; messages not documented there
are marked [inferred].
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from .market import BOOK_DEPTHS, INSURANCE_GROUPS, KLINE_INTERVALS, RPI_DEPTH, Book, Market
from .wsconn import ServerSocket

if TYPE_CHECKING:
    from .faults import Faults

SPOT_MAX_ARGS = 10
MAX_QUEUE = 200_000  # frames queued for one connection before it is cut as a slow consumer
FLUSH_BYTES = 256 * 1024  # payload bytes per transport.write (the transport may pause us in between)
THROTTLE_FRAMES = 1024  # fast mode: the market waits for a subscriber with a longer backlog ...
THROTTLE_SECONDS = 1.0  # ... at most this long, then stops waiting on it (it may end up cut as slow)
_json = orjson.dumps  # frames are compact JSON bytes, built once for every subscriber


class Topic:
    """One subscribed topic of one category; frames are built once per step for all subscribers."""

    __slots__ = ("name", "category", "kind", "book", "books", "depth", "interval", "subs", "last", "last_push_step", "snap")

    def __init__(self, name: str, category: str, kind: str, book: Book | None, depth: int = 0, interval: str = "", books: list[Book] | None = None) -> None:
        self.name = name
        self.category = category
        self.kind = kind  # book | l1 | rpi | full | trade | ticker | kline | liq | insurance | plimit
        self.book = book
        self.books = books or ([book] if book is not None else [])
        self.depth = depth
        self.interval = interval
        self.subs: set[Conn] = set()
        self.last: dict[str, Any] | None = None  # last published ticker (linear/inverse deltas)
        self.last_push_step = 0
        self.snap: tuple[int, int, bytes] | None = None  # (step_no, u, frame) cache for new subscribers


class Hub:
    """Subscriptions of every public connection of one emulator, fed by the market's steps."""

    def __init__(self, market: Market, faults: Faults) -> None:
        self.market = market
        self.faults = faults
        self.topics: dict[tuple[str, str], Topic] = {}
        self.conns: set[Conn] = set()
        market.add_publisher(self.publish)
        market.add_throttle(self.throttle)

    # ---- topic names -----------------------------------------------------------------
    def resolve(self, category: str, name: str) -> Topic | str:
        """The topic for ``name`` or the exchange's failure message."""
        t = self.topics.get((category, name))
        if t is not None:
            return t
        m = self.market
        parts = name.split(".")
        kind = parts[0]
        not_found = f"error:handler not found,topic:{name}"
        bad_symbol = f"Invalid symbol :[{name}]"

        def book_of(symbol: str) -> Book | None:
            return m.books.get((category, symbol))

        if kind == "orderbook" and len(parts) == 3:
            b = book_of(parts[2])
            if parts[1] == "rpi":
                if category == "option":
                    return not_found
                return Topic(name, category, "rpi", b, RPI_DEPTH) if b else bad_symbol
            if parts[1] == "full":
                if category == "option":
                    return not_found
                return Topic(name, category, "full", b) if b else bad_symbol
            if not parts[1].isdigit() or int(parts[1]) not in BOOK_DEPTHS[category]:
                return not_found
            if b is None:
                return bad_symbol
            depth = int(parts[1])
            return Topic(name, category, "l1" if depth == 1 else "book", b, depth)
        if kind == "publicTrade" and len(parts) == 2:
            if category == "option":
                books = [b for (c, _), b in m.books.items() if c == "option" and b.spec.base == parts[1]]
                return Topic(name, category, "trade", None, books=books) if books else bad_symbol
            b = book_of(parts[1])
            return Topic(name, category, "trade", b) if b else bad_symbol
        if kind == "tickers" and len(parts) == 2:
            b = book_of(parts[1])
            return Topic(name, category, "ticker", b) if b else bad_symbol
        if kind == "allLiquidation" and len(parts) == 2 and category in ("linear", "inverse"):
            b = book_of(parts[1])
            return Topic(name, category, "liq", b) if b else bad_symbol
        if kind == "priceLimit" and len(parts) == 2 and category != "option":
            b = book_of(parts[1])
            return Topic(name, category, "plimit", b) if b else bad_symbol
        if kind == "insurance" and len(parts) == 2:
            # [inferred] USDT/USDC pools on the linear socket, coin-margined pools on the inverse one
            group = INSURANCE_GROUPS.get(parts[1])
            if group is None or group[0] != category:
                return not_found
            return Topic(name, category, "insurance", None, books=m.insurance_books(parts[1]))
        if kind == "kline" and len(parts) == 3 and category != "option":
            if parts[1] not in KLINE_INTERVALS:
                return not_found
            b = book_of(parts[2])
            return Topic(name, category, "kline", b, interval=parts[1]) if b else bad_symbol
        return not_found

    def add(self, conn: Conn, topic: Topic) -> None:
        key = (topic.category, topic.name)
        if key not in self.topics:
            self.topics[key] = topic
            if topic.kind in ("book", "l1") and topic.book is not None:
                self.market.watch(topic.category, topic.book.symbol, topic.depth)
        topic.subs.add(conn)

    def remove(self, conn: Conn, topic: Topic) -> None:
        topic.subs.discard(conn)
        if not topic.subs:
            self.topics.pop((topic.category, topic.name), None)
            if topic.kind in ("book", "l1") and topic.book is not None:
                self.market.unwatch(topic.category, topic.book.symbol, topic.depth)

    # ---- frames ----------------------------------------------------------------------
    def book_frame(self, t: Topic, kind: str, b1: list, a1: list, u: int) -> bytes:
        b = t.book
        assert b is not None
        data = {"s": b.symbol, "b": b1, "a": a1, "u": u, "seq": b.seq}
        if t.category == "spot" or t.kind == "l1" or t.kind == "rpi":
            # spot books and futures L1 put ts before type (PROTOCOL §4.8)
            return _json({"topic": t.name, "ts": b.ts, "type": kind, "data": data, "cts": b.cts})
        return _json({"topic": t.name, "type": kind, "ts": b.ts, "data": data, "cts": b.cts})

    def snapshot_frame(self, t: Topic) -> bytes | None:
        """The frame a new subscriber gets first (None: nothing until the next push)."""
        b = t.book
        m = self.market
        if t.kind in ("book", "l1"):
            assert b is not None
            u = b.u[t.depth]
            if t.snap is not None and t.snap[0] == m.step_no and t.snap[1] == u:
                return t.snap[2]
            bl, al = b.levels(t.depth)
            frame = self.book_frame(t, "snapshot", bl, al, u)
            t.snap = (m.step_no, u, frame)
            return frame
        if t.kind == "rpi":
            assert b is not None
            t.last = _rpi_maps(b)
            return self.book_frame(t, "snapshot", list(t.last["b"].values()), list(t.last["a"].values()), b.rpi_u)
        if t.kind == "ticker":
            assert b is not None
            if t.last is None:
                t.last = b.ticker(b.ts, rest=False)
            return self.ticker_frame(t, "snapshot", t.last)
        if t.kind == "kline":
            assert b is not None
            c = b.candles[t.interval]
            return _json({"topic": t.name, "data": [b.kline_item(c, False, b.ts)], "ts": b.ts, "type": "snapshot"})
        if t.kind == "insurance" and t.books:
            # [inferred] the pools' current balances first (the docs list type snapshot and delta)
            ts = max(x.insurance_pub_ms for x in t.books)
            return self.insurance_frame(t, "snapshot", t.books, ts)
        return None  # publicTrade, allLiquidation, priceLimit, orderbook.full: nothing on subscribe

    def full_frame(self, t: Topic, delta: tuple[list[tuple[int, int]], list[tuple[int, int]]], u: int) -> bytes:
        """An ``orderbook.full`` delta (always type delta; key order of the docs example)."""
        b = t.book
        assert b is not None
        data = {"s": b.symbol, "b": b.format_delta(delta[0], -1), "a": b.format_delta(delta[1], 1), "u": u, "seq": b.full_seq}
        return _json({"topic": t.name, "ts": b.full_ts, "type": "delta", "data": data, "cts": b.full_cts})

    def insurance_frame(self, t: Topic, kind: str, books: list[Book], ts: int) -> bytes:
        items = [
            {"coin": x.spec.settle, "symbols": x.symbol, "balance": x.insurance_balance(), "updateTime": str(x.insurance_pub_ms)}
            for x in books
        ]
        return _json({"topic": t.name, "type": kind, "ts": ts, "data": items})

    def ticker_frame(self, t: Topic, kind: str, data: dict[str, Any]) -> bytes:
        b = t.book
        assert b is not None
        if t.category == "spot":
            return _json({"topic": t.name, "ts": b.ts, "type": "snapshot", "cs": b.seq, "data": data})
        if t.category == "option":
            return _json({"topic": t.name, "ts": b.ts, "type": "snapshot", "id": f"{t.name}-{b.seq}-{b.ts}", "data": data})
        return _json({"topic": t.name, "type": kind, "data": data, "cs": b.seq, "ts": b.ts})

    def trade_frame(self, t: Topic) -> bytes | None:
        items = []
        ts = 0
        for b in t.books:
            if not b.step_trades:
                continue
            ts = max(ts, b.ts)
            px, qty, sym = b.px, b.qty, b.symbol
            if t.category == "option":
                g = b.greeks(b.ts)
                mark = px(b.mark_ticks())
                iv = f"{b.iv:.4f}"
                under = f"{g['underlying']:.2f}"
            for tr in b.step_trades:
                item = {"T": tr.time, "s": sym, "S": tr.side, "v": qty(tr.lots), "p": px(tr.ticks), "L": tr.direction,
                        "i": tr.exec_id, "BT": False, "RPI": False, "seq": tr.seq}
                if t.category == "option":
                    item["mP"] = mark
                    item["iP"] = under
                    item["mIv"] = iv
                    item["iv"] = iv
                items.append(item)
        if not items:
            return None
        # Bybit sends at most 1024 trades per message; our steps never come close.
        return _json({"topic": t.name, "type": "snapshot", "ts": ts, "data": items})

    def next_frames(self, t: Topic, step_no: int, out: list[bytes]) -> bool:
        """Frames of ``t`` for this step (appended to ``out``); True when a u=1 reset fired."""
        b = t.book
        kind = t.kind
        faults = self.faults
        if kind == "book" or kind == "l1":
            assert b is not None
            d = t.depth
            if faults.resets and faults.take_reset(t.name):
                b.u[d] = 1  # service restart: the topic's u starts again at 1, delivered as a snapshot
                bl, al = b.levels(d)
                out.append(self.book_frame(t, "snapshot", bl, al, 1))
                t.last_push_step = step_no
                return True
            delta = b.deltas.get(d)
            if kind == "l1":
                # L1 is snapshot-only; unchanged for 3 s it is re-pushed with the same u (§5.2)
                if delta is not None or step_no - t.last_push_step >= self.market.l1_repush_steps:
                    bl, al = b.levels(1)
                    out.append(self.book_frame(t, "snapshot", bl, al, b.u[1]))
                    t.last_push_step = step_no
                return False
            if delta is not None:
                if faults.gaps and faults.take_gap(t.name):
                    return False  # withheld: u has advanced, the client sees a gap
                out.append(self.book_frame(t, "delta", b.format_delta(delta[0], -1), b.format_delta(delta[1], 1), b.u[d]))
            return False
        if kind == "trade":
            f = self.trade_frame(t)
            if f is not None:
                out.append(f)
            return False
        if kind == "ticker":
            assert b is not None
            if t.category in ("spot", "option") and not b.deltas and not b.step_trades and step_no % 20:
                return False  # snapshot-only tickers: push when the book moved, else once a second
            new = b.ticker(b.ts, rest=False)
            last = t.last
            if t.category in ("linear", "inverse"):
                if last is None:
                    t.last = new
                    out.append(self.ticker_frame(t, "snapshot", new))
                    return False
                diff = {k: v for k, v in new.items() if last.get(k) != v}
                if diff:
                    t.last = new
                    out.append(self.ticker_frame(t, "delta", {"symbol": b.symbol, **diff}))
                return False
            if new != last:
                t.last = new
                out.append(self.ticker_frame(t, "snapshot", new))
            return False
        if kind == "kline":
            assert b is not None
            iv = t.interval
            if iv in b.kline_dirty:
                closed = b.kline_closed_now.get(iv)
                if closed is not None:
                    out.append(_json({"topic": t.name, "data": [b.kline_item(closed, True, b.ts)], "ts": b.ts, "type": "snapshot"}))
                out.append(_json({"topic": t.name, "data": [b.kline_item(b.candles[iv], False, b.ts)], "ts": b.ts, "type": "snapshot"}))
            return False
        if kind == "full":
            assert b is not None
            if faults.resets and faults.take_reset(t.name):
                out.append(self.full_frame(t, b.full_restart(), 1))
                return True
            fd = b.full_delta
            if fd is not None:
                if faults.gaps and faults.take_gap(t.name):
                    return False  # withheld: u has advanced, the client sees a gap
                out.append(self.full_frame(t, fd, b.full_u))
            return False
        if kind == "liq":
            assert b is not None
            if b.liq_batch:
                px, qty, sym = b.px, b.qty, b.symbol
                items = [{"T": x.time, "s": sym, "S": x.side, "v": qty(x.lots), "p": px(x.ticks)} for x in b.liq_batch]
                out.append(_json({"topic": t.name, "type": "snapshot", "ts": b.ts, "data": items}))
            return False
        if kind == "insurance":
            pushed = [x for x in t.books if x.insurance_pushed]
            if pushed:
                out.append(self.insurance_frame(t, "delta", pushed, pushed[0].insurance_pub_ms))
            return False
        if kind == "plimit":
            assert b is not None
            if self.market.price_limit_due:
                buy, sell = b.price_limits()
                out.append(_json({"topic": t.name, "data": {"symbol": b.symbol, "buyLmt": b.px(buy), "sellLmt": b.px(sell)}, "ts": b.ts}))
            return False
        if kind == "rpi":
            assert b is not None
            if not (b.bids.changed or b.asks.changed):
                return False
            prev = t.last
            cur = _rpi_maps(b)
            if prev is None:
                t.last = cur
                return False
            sides = []
            for k in ("b", "a"):
                p_side, c_side = prev[k], cur[k]
                ch = [lv for p, lv in c_side.items() if p_side.get(p) != lv]
                ch.extend([p, "0", "0"] for p in p_side if p not in c_side)
                sides.append(ch)
            if sides[0] or sides[1]:
                b.rpi_u += 1
                t.last = cur
                out.append(self.book_frame(t, "delta", sides[0], sides[1], b.rpi_u))
            return False
        return False

    def publish(self) -> None:
        """After a market step: push each subscribed topic's frames to its subscribers."""
        if not self.topics:
            return
        step_no = self.market.step_no
        reset_fired = False
        frames: list[bytes] = []
        for t in list(self.topics.values()):
            frames.clear()
            if self.next_frames(t, step_no, frames):
                reset_fired = True
            if frames:
                for conn in t.subs:
                    for f in frames:
                        conn.push(f)
        if reset_fired:
            self.faults.end_resets()

    async def throttle(self) -> None:
        """Fast mode (``Market.start(fast=True)``): let subscribers with a backlog catch up first.

        A connection that does not drain within THROTTLE_SECONDS is no longer waited for (until it
        drains once), so one stalled client cannot freeze the market; its queue then grows up to the
        slow-consumer cut as in paced mode.
        """
        for conn in list(self.conns):
            if len(conn.queue) > THROTTLE_FRAMES and not conn.throttle_exempt and not conn.sock.closed:
                if not await conn.wait_drained(THROTTLE_SECONDS):
                    conn.throttle_exempt = True


def rpi_levels(b: Book) -> tuple[list[list[str]], list[list[str]]]:
    """Top-50 RPI view: [price, non-RPI size, RPI size]; a deterministic share of levels carry RPI size."""
    px, qty = b.px, b.qty
    out = []
    for side, sign in ((b.bids, -1), (b.asks, 1)):
        levels = []
        for k in side.keys[:RPI_DEPTH]:
            lots = side.size[k]
            rpi = lots // 3 if k % 5 == 0 else 0
            levels.append([px(k * sign), qty(lots - rpi) if lots - rpi else "0", qty(rpi) if rpi else "0"])
        out.append(levels)
    return out[0], out[1]


def _rpi_maps(b: Book) -> dict[str, dict[str, list[str]]]:
    bl, al = rpi_levels(b)
    return {"b": {lv[0]: lv for lv in bl}, "a": {lv[0]: lv for lv in al}}


def hub_for(ex: Any) -> Hub:
    """The emulator's hub, created on first use (stored on the market)."""
    market = ex.market
    hub = getattr(market, "_public_hub", None)
    if hub is None:
        hub = Hub(market, ex.faults)
        market._public_hub = hub  # noqa: SLF001
    return hub


class Conn:
    """One public connection: its subscriptions and its ordered outgoing queue."""

    def __init__(self, sock: ServerSocket, category: str, hub: Hub) -> None:
        self.sock = sock
        self.category = category
        self.hub = hub
        self.topics: dict[str, Topic] = {}
        self.queue: deque[Any] = deque()  # frames (bytes), or (delay, frame) for a delayed ack
        self.wake = asyncio.Event()
        self.direct = sock.direct  # flush() batches; else the writer() task sends frame by frame
        self.throttle_exempt = False
        self._loop = asyncio.get_running_loop()
        self._flush_pending = False
        self._held: asyncio.TimerHandle | asyncio.Task | None = None  # a delayed ack or a drain blocks the queue
        self._delayed = 0  # (delay, frame) items in the queue
        self._drained: asyncio.Future[None] | None = None

    # ---- outgoing ----------------------------------------------------------------------
    def push(self, frame: bytes, delay: float = 0.0) -> None:
        q = self.queue
        if len(q) >= MAX_QUEUE:
            if not self.sock.closed:
                self.hub.faults.record("slow_consumer", self.sock.path, conn_id=self.sock.conn_id, queued=len(q))
                self.sock.abort()
            return
        if delay:
            q.append((delay, frame))
            self._delayed += 1
        else:
            q.append(frame)
        if self.direct:
            if not self._flush_pending and self._held is None:
                self._flush_pending = True
                self._loop.call_soon(self.flush)
        elif not self.wake.is_set():
            self.wake.set()

    def ack(self, frame: dict[str, Any]) -> None:
        self.push(_json(frame), self.hub.faults.response_delay)

    def flush(self) -> None:
        """Write everything queued (direct mode), up to a delayed ack or until the transport pauses."""
        self._flush_pending = False
        if self._held is not None:
            return
        q = self.queue
        sock = self.sock
        while q:
            if sock.closed:
                q.clear()
                break
            if sock.paused:
                self._held = self._loop.create_task(self._drain())
                return
            if self._delayed:
                head = q[0]
                if type(head) is tuple:
                    q.popleft()
                    q.appendleft(head[1])
                    self._delayed -= 1
                    self._held = self._loop.call_later(head[0], self._release)
                    return
            if not self._delayed and len(q) <= 64:
                batch = list(q)  # the common case: a few frames from this iteration's steps
                q.clear()
            else:
                batch = []
                size = 0
                while q and size < FLUSH_BYTES:
                    f = q[0]
                    if type(f) is tuple:
                        break
                    q.popleft()
                    batch.append(f)
                    size += len(f)
            sock.write_frames(batch)
        self._signal_drained()

    def _release(self) -> None:
        self._held = None
        self.flush()

    async def _drain(self) -> None:
        try:
            await self.sock.drain()
        except ConnectionError:
            self.sock.closed = True
        self._held = None
        self.flush()

    def _signal_drained(self) -> None:
        self.throttle_exempt = False
        w = self._drained
        if w is not None:
            self._drained = None
            if not w.done():
                w.set_result(None)

    async def wait_drained(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the queue has been handed to the transport; False on timeout."""
        if not self.queue or self.sock.closed:
            return True
        if self._drained is None:
            self._drained = self._loop.create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._drained), timeout)
        except TimeoutError:
            return False
        return True

    async def writer(self) -> None:
        """Frame-by-frame sender through :meth:`ServerSocket.send` (used when there is link latency)."""
        q = self.queue
        sock = self.sock
        wake = self.wake
        while True:
            if not q:
                self._signal_drained()
                wake.clear()
                await wake.wait()
                continue
            item = q.popleft()
            if type(item) is tuple:
                self._delayed -= 1
                await asyncio.sleep(item[0])
                item = item[1]
            if not await sock.send(item):
                return

    # ---- incoming ----------------------------------------------------------------------
    def on_text(self, text: str) -> None:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            msg = None
        if not isinstance(msg, dict):
            # [inferred] the exchange answers garbage with a failed ack and keeps the connection
            self.fail("", None, "error:request not json" if msg is None else "error:request must be an object")
            return
        op = msg.get("op")
        req_id = msg.get("req_id")
        if req_id is not None and not isinstance(req_id, str):
            req_id = str(req_id)
        if op == "ping":
            self.pong(req_id)
        elif op in ("subscribe", "unsubscribe"):
            args = msg.get("args")
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args) or not args:
                self.fail(op, req_id, f"error:args invalid,op:{op}")  # [inferred]
                return
            if op == "subscribe":
                self.subscribe(args, req_id)
            else:
                self.unsubscribe(args, req_id)
        else:
            self.fail(op if isinstance(op, str) else "", req_id, f"error:unsupported op,op:{op}")  # [inferred]

    def pong(self, req_id: str | None) -> None:
        faults = self.hub.faults
        if faults.pings_silenced:
            faults.record("ping_ignored", self.sock.path, conn_id=self.sock.conn_id, ping="op")
            return
        cid = self.sock.conn_id
        if self.category == "option":
            frame: dict[str, Any] = {"args": [str(self.hub.market.clock())], "op": "pong"}
        elif self.category == "spot":
            frame = {"success": True, "ret_msg": "pong", "conn_id": cid}
            if req_id is not None:
                frame["req_id"] = req_id
            frame["op"] = "ping"
        else:
            frame = {"success": True, "ret_msg": "pong", "conn_id": cid, "req_id": req_id or "", "op": "ping"}
        self.push(_json(frame))

    def reply(self, op: str, req_id: str | None, success: bool, ret_msg: str, ok: list[str] | None = None, bad: list[str] | None = None) -> None:
        cid = self.sock.conn_id
        if self.category == "option":
            frame: dict[str, Any] = {"success": success, "conn_id": cid}
            if req_id is not None:
                frame["req_id"] = req_id
            if not success and ret_msg and not bad:
                frame["ret_msg"] = ret_msg
            frame["data"] = {"failTopics": bad or [], "successTopics": ok or []}
            frame["type"] = "COMMAND_RESP"
        elif self.category == "spot":
            frame = {"success": success, "ret_msg": ret_msg if not success else op, "conn_id": cid}
            if req_id is not None:
                frame["req_id"] = req_id
            frame["op"] = op
        else:
            frame = {"success": success, "ret_msg": ret_msg if not success else "", "conn_id": cid, "req_id": req_id or "", "op": op}
        self.ack(frame)

    def fail(self, op: str, req_id: str | None, ret_msg: str) -> None:
        self.reply(op, req_id, False, ret_msg)

    def subscribe(self, args: list[str], req_id: str | None) -> None:
        hub = self.hub
        if self.category == "spot" and len(args) > SPOT_MAX_ARGS:
            self.fail("subscribe", req_id, "args size >10")
            return
        names = list(dict.fromkeys(args))  # a name repeated inside one request counts once
        if self.category == "option":
            ok, bad, new = [], [], []
            for name in names:
                t = hub.resolve(self.category, name)
                if isinstance(t, str) or name in self.topics:
                    bad.append(name)
                else:
                    ok.append(name)
                    new.append(t)
            self.reply("subscribe", req_id, not bad, "", ok, bad)
            for t in new:
                self._start(t)
            return
        topics = []
        for name in names:
            if name in self.topics:
                # the whole request is rejected (PROTOCOL §11)
                self.fail("subscribe", req_id, f"error:already subscribed,topic:{name}")
                return
            t = hub.resolve(self.category, name)
            if isinstance(t, str):
                self.fail("subscribe", req_id, t)
                return
            topics.append(t)
        self.reply("subscribe", req_id, True, "")
        for t in topics:
            self._start(t)

    def _start(self, t: Topic) -> None:
        """Register and queue the snapshot now, before any later step can queue delta u+1."""
        self.topics[t.name] = t
        self.hub.add(self, t)
        frame = self.hub.snapshot_frame(t)
        if frame is not None:
            self.push(frame)

    def unsubscribe(self, args: list[str], req_id: str | None) -> None:
        names = list(dict.fromkeys(args))
        for name in names:
            t = self.topics.pop(name, None)
            if t is not None:
                self.hub.remove(self, t)
        # [inferred] unsubscribing a topic that is not subscribed still succeeds
        self.reply("unsubscribe", req_id, True, "", names, [])

    def close(self) -> None:
        for t in list(self.topics.values()):
            self.hub.remove(self, t)
        self.topics.clear()
        self.queue.clear()
        self._delayed = 0
        held, self._held = self._held, None
        if held is not None:
            held.cancel()
        self._flush_pending = True  # no flush after close
        self._signal_drained()


async def handle(ex: Any, request: web.Request, category: str) -> web.WebSocketResponse:
    """Serve one ``/v5/public/{category}`` connection until it closes."""
    if category not in BOOK_DEPTHS:
        raise web.HTTPNotFound()
    path = f"/v5/public/{category}"
    sock = await ServerSocket.accept(request, path, ex.faults, latency=getattr(ex, "latency", 0.0) or 0.0)
    sockets = getattr(ex, "sockets", None)
    if sockets is not None:
        sockets.add(sock)  # Emulator.stop() closes every registered socket
    hub = hub_for(ex)
    conn = Conn(sock, category, hub)
    hub.conns.add(conn)
    writer = None if conn.direct else asyncio.get_running_loop().create_task(conn.writer())
    try:
        async for text in sock.messages():
            conn.on_text(text)
            if sock.closed or (writer is not None and writer.done()):
                break
    finally:
        if sockets is not None:
            sockets.discard(sock)
        hub.conns.discard(conn)
        held = conn._held  # noqa: SLF001 - a drain task must finish before the socket closes
        conn.close()
        for task in (writer, held if isinstance(held, asyncio.Task) else None):
            if task is None:
                continue
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - the socket is gone either way
                pass
        if not sock.ws.closed:
            await sock.ws.close()
    return sock.ws
