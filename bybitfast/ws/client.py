"""``WebsocketClient``: Bybit V5 market and private streams that survive anything, with managed books.

One :class:`~bybitfast.ws.connection.WsConnection` per stream key (``v5_linear_public``,
``v5_private``...), opened lazily on the first subscribe. Each connection has a
:class:`~bybitfast.ws.store.TopicStore` (topics survive reconnects and are resubscribed, after
re-auth on the private stream) and a native :class:`~bybitfast.router.Router`: frames go from
picows straight to ``router.dispatch``; order-book topics go on to ``book.apply(raw)`` without
any Python JSON decoding; other topics are decoded once and emitted as ``update`` events.

Events (``client.on(name, callback)`` or ``async for ev in client.events()``), payloads are dicts
carrying ``ws_key``: ``open``, ``reconnect``, ``reconnected``, ``close``, ``authenticated``,
``response`` (acks and auth replies, the decoded frame), ``update`` (topic frames, the decoded
frame), ``exception`` (``error``, ``where``; a malformed frame is a ``FrameError``, on a managed
book's topic with ``where="book"`` and ``topic``), and for managed books ``book_resync`` (the book went
invalid: ``topic``, ``book``, ``reason``) and ``book_valid`` (it is live again).

Managed books (:meth:`WebsocketClient.subscribe_order_book`): on a gap, a crossed book, a bad
frame or a reconnect the book is marked invalid (``book.valid`` is False for readers at once) and
resynced: ``orderbook.{depth}`` by unsubscribe + subscribe (the exchange refuses a duplicate
subscribe) for a fresh snapshot, escalating to a reconnect if no snapshot arrives within
``resync_timeout``; ``orderbook.full`` by buffering deltas (starting with the one that revealed
the gap) and loading the REST ``/v5/market/full_orderbook`` snapshot per PROTOCOL §5.6.
``subscribe_order_book(..., on_update=hook)`` calls ``hook(book, apply_ns)`` after each applied
frame (no cost on books without a hook).

Subscribe/unsubscribe requests are paced per socket by a token bucket (``subscribe_burst`` at
once, then ``subscribe_rate`` per second; PROTOCOL §4.5). See docs/decisions/websocket.md.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NamedTuple

import orjson

from .. import hosts
from ..auth import Signer, ws_auth_frame
from ..book import APPLIED_DELTA, FrameError, OrderBook, OrderBookError, OrderBookGapError
from ..errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectionLostError,
    InvalidParameterError,
    RequestTimeoutError,
    SubscriptionError,
    WebsocketError,
    WebsocketHandshakeError,
)
from ..router import Router, frame_info
from .connection import ConnectBudget, ReconnectPolicy, WsConnection
from .store import Request, RequestPacer, TopicStore

__all__ = ["EVENTS", "Event", "EventStream", "WebsocketClient", "is_private_topic"]

log = logging.getLogger("bybitfast.ws")

EVENTS = (
    "open",
    "update",
    "response",
    "reconnect",
    "reconnected",
    "close",
    "authenticated",
    "exception",
    "book_resync",
    "book_valid",
)
_PRIVATE_BASES = frozenset({"order", "execution", "position", "wallet", "greeks", "dcp", "strategy"})
FULL_BOOK_BUFFER = 20_000  # orderbook.full deltas buffered while the REST snapshot loads (200 ms pushes)

SnapshotFetcher = Callable[[str, str], Awaitable[Any]]  # (category, symbol) -> full_orderbook response
BookUpdateHook = Callable[[OrderBook, int], Any]  # (book, apply_ns) after each frame that changed a valid book
_BOOK_ERRORS = (OrderBookError, FrameError)


def is_private_topic(topic: str) -> bool:
    """True for topics of the private stream (``order``, ``execution.fast.linear``, ``wallet``...)."""
    base = topic.split(".", 1)[0]
    if base in _PRIVATE_BASES:
        return True
    if topic.startswith(("spread.order", "spread.execution")):
        return True
    return topic.startswith("rfq.open.") and not topic.startswith("rfq.open.public")


class Event(NamedTuple):
    name: str
    payload: dict[str, Any]


class EventStream:
    """A bounded queue of events for ``async for``; when full the oldest event is dropped (counted).

    The socket never waits for a slow consumer: a market maker wants the newest state, and the
    books are live regardless. ``dropped`` says how many events were lost.
    """

    def __init__(self, owner: WebsocketClient, maxsize: int) -> None:
        if maxsize < 1:
            raise InvalidParameterError("event queue size must be >= 1")
        self._owner = owner
        self._queue: collections.deque[Event] = collections.deque()
        self.maxsize = maxsize
        self.dropped = 0
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def put(self, event: Event) -> None:
        if self._closed:
            return
        if len(self._queue) >= self.maxsize:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(event)
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def close(self) -> None:
        """Stop receiving; iteration ends once the queued events are consumed."""
        self._closed = True
        self._owner._event_streams.discard(self)
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._queue)


class _AsyncHandler:
    """An ``async def`` event callback: one task per event, errors reported as ``exception`` events.

    Without it the coroutine would be created and never awaited: the user's code would silently
    not run (a stream that looks alive but does nothing, PROTOCOL §8 weakness 12).
    """

    __slots__ = ("client", "event", "callback")

    def __init__(self, client: WebsocketClient, event: str, callback: Callable[[dict[str, Any]], Awaitable[Any]]) -> None:
        self.client = client
        self.event = event
        self.callback = callback

    def __call__(self, payload: dict[str, Any]) -> None:
        task = self.client._spawn(self.callback(payload))
        task.add_done_callback(functools.partial(self._done, payload.get("ws_key")))

    def _done(self, ws_key: str | None, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if self.event == "exception":
            log.error("exception-event callback failed", exc_info=exc)
        else:
            self.client._emit("exception", {"ws_key": ws_key, "error": exc, "where": f"{self.event} callback"})


class ManagedBook:
    """A book the client keeps valid: its topic, its resync state and (full books) its buffer."""

    def __init__(
        self, book: OrderBook, topic: str, category: str, symbol: str, depth: int | str, on_update: BookUpdateHook | None = None
    ) -> None:
        self.book = book
        self.on_update = on_update
        self.topic = topic
        self.category = category
        self.symbol = symbol
        self.depth = depth
        self.full = depth == "full"
        self.syncing = True  # routed through the client until valid; then straight to book.apply
        self.resub_in_flight = False
        self.resyncs = 0
        self.watchdog: asyncio.TimerHandle | None = None
        self.valid_waiters: list[asyncio.Future[None]] = []
        # orderbook.full: buffered (u, seq, frame) deltas and the snapshot being loaded
        self.buffer: collections.deque[tuple[int, int, bytes]] = collections.deque()
        self.fetch_task: asyncio.Task[None] | None = None

    def wake_valid(self) -> None:
        waiters, self.valid_waiters = self.valid_waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)


class _Stream:
    """Everything the client holds for one stream key."""

    def __init__(self, key: str, store: TopicStore, pacer: RequestPacer) -> None:
        self.key = key
        self.store = store
        self.pacer = pacer  # spaces subscribe/unsubscribe requests on the current socket
        self.outbox: collections.deque[Request] = collections.deque()  # requests waiting for the pacer
        self.drain: asyncio.Task[None] | None = None  # sends the outbox; None when it is empty
        self.private = key in hosts.PRIVATE_KEYS
        self.conn: WsConnection = None  # type: ignore[assignment]  # set right after
        self.router: Router = None  # type: ignore[assignment]
        self.books: dict[str, ManagedBook] = {}
        self.subs_ready = False  # on_connected has (re)sent the subscriptions on this socket
        self.auth: tuple[str, asyncio.Future[dict[str, Any]]] | None = None
        self.closing = False


class WebsocketClient:
    """Bybit V5 WebSocket streams (bybit-api's ``WebsocketClient``, in Python and faster).

    ``ws_url`` is a base URL (every key's path appended) or a mapping stream key -> URL;
    ``rest_url`` is where ``orderbook.full`` snapshots are fetched (default: the environment's
    REST host) unless ``snapshot_fetcher(category, symbol)`` is given.
    ``auth_expires_after``: seconds the private-stream auth signature stays valid (pybit's 1 s
    caused "Params Error" on skewed clocks; bybit-api uses 5 s).
    ``subscribe_burst`` requests go out at once on a socket, then ``subscribe_rate`` per second
    (None: unpaced): a single-batch resubscribe or a resync's unsubscribe + subscribe is never
    delayed, 300 spot topics (30 requests) resubscribe in ~0.25 s.
    """

    def __init__(
        self,
        key: str | None = None,
        secret: str | None = None,
        *,
        testnet: bool = False,
        demo_trading: bool = False,
        api_region: str | None = None,
        ws_url: str | dict[str, str] | None = None,
        rest_url: str | None = None,
        ping_interval: float | None = 20.0,
        pong_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        reconnect: ReconnectPolicy | None = None,
        auth_expires_after: float = 5.0,
        subscribe_timeout: float = 10.0,
        resync_timeout: float = 10.0,
        stale_after: float | None = None,
        event_queue_size: int = 10_000,
        snapshot_fetcher: SnapshotFetcher | None = None,
        connect_options: dict[str, Any] | None = None,
        budget: ConnectBudget | None = None,
        subscribe_rate: float | None = 100.0,
        subscribe_burst: int = 5,
    ) -> None:
        if (key is None) != (secret is None):
            raise ConfigurationError("pass both key and secret (or neither for public streams)")
        if auth_expires_after <= 0:
            raise ConfigurationError("auth_expires_after must be > 0 seconds")
        if subscribe_timeout <= 0 or resync_timeout <= 0:
            raise ConfigurationError("subscribe_timeout and resync_timeout must be > 0")
        RequestPacer(subscribe_rate, subscribe_burst)  # validates (ConfigurationError)
        self.key = key
        self._signer = Signer(secret) if secret is not None else None
        self.testnet = testnet
        self.demo_trading = demo_trading
        self.api_region = api_region
        self.ws_url = ws_url
        # public market data of demo accounts comes from mainnet (PROTOCOL §1.3)
        self.rest_url = hosts.rest_url(testnet=testnet, api_region=api_region, base_url=rest_url)
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.connect_timeout = connect_timeout
        self.policy = reconnect if reconnect is not None else ReconnectPolicy()
        self.auth_expires_after = auth_expires_after
        self.subscribe_timeout = subscribe_timeout
        self.resync_timeout = resync_timeout
        self.stale_after = stale_after
        self.event_queue_size = event_queue_size
        self._fetcher = snapshot_fetcher
        self._connect_options = connect_options
        self._budget = budget
        self.subscribe_rate = subscribe_rate
        self.subscribe_burst = subscribe_burst
        self._pace_sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep  # tests substitute an awaitable gate
        self._streams: dict[str, _Stream] = {}
        self._handlers: dict[str, list[Callable[[dict[str, Any]], Any]]] = {}
        self._event_streams: set[EventStream] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._http: Any = None  # aiohttp.ClientSession, created on the first full-book snapshot
        self._auth_ids = 0

    # ---- events --------------------------------------------------------------------------
    def on(self, event: str, callback: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        """Call ``callback(payload)`` on every ``event`` (see :data:`EVENTS`); returns the callback.

        A coroutine function is run as a task per event (its exceptions become ``exception``
        events); a plain function is called inline, which is cheaper. Either way a callback error
        never reaches the stream.
        """
        if event not in EVENTS:
            raise InvalidParameterError(f"unknown event {event!r}; expected one of {EVENTS}")
        if not callable(callback):
            raise InvalidParameterError(f"callback must be callable, not {type(callback).__name__}")
        handler = _AsyncHandler(self, event, callback) if inspect.iscoroutinefunction(callback) else callback
        self._handlers.setdefault(event, []).append(handler)
        return callback

    def off(self, event: str, callback: Callable[[dict[str, Any]], Any]) -> None:
        lst = self._handlers.get(event)
        if not lst:
            return
        for h in lst:
            if h is callback or (isinstance(h, _AsyncHandler) and h.callback is callback):
                lst.remove(h)
                return

    def events(self, maxsize: int | None = None) -> EventStream:
        """A bounded async iterator of every event: ``async for ev in client.events(): ev.name, ev.payload``."""
        s = EventStream(self, maxsize or self.event_queue_size)
        self._event_streams.add(s)
        return s

    stream = events

    def _emit(self, name: str, payload: dict[str, Any]) -> None:
        for cb in self._handlers.get(name, ()):
            try:
                cb(payload)
            except Exception as exc:  # a user callback never kills the stream
                if name == "exception":
                    log.exception("exception-event callback failed")
                else:
                    self._emit("exception", {"ws_key": payload.get("ws_key"), "error": exc, "where": f"{name} callback"})
        if self._event_streams:
            ev = Event(name, payload)
            for s in self._event_streams:
                s.put(ev)

    # ---- routing -------------------------------------------------------------------------------
    def ws_key_for(self, topics: Iterable[str], category: str | None) -> str:
        """Stream key of a subscription: private topics (category None/"private") or a public category."""
        if category is None or category == "private":
            public = [t for t in topics if not is_private_topic(t)]
            if public:
                raise ConfigurationError(f"category is required for public topics {public[:3]}")
            if self._signer is None:
                raise ConfigurationError("private topics need key and secret")
            return "v5_private"
        return hosts.public_ws_key(category)

    def _stream(self, key: str) -> _Stream:
        st = self._streams.get(key)
        if st is not None:
            return st
        url = hosts.ws_url(key, testnet=self.testnet, demo_trading=self.demo_trading, api_region=self.api_region, ws_url=self.ws_url)
        st = _Stream(key, TopicStore(key), RequestPacer(self.subscribe_rate, self.subscribe_burst))
        st.router = Router(
            on_control=functools.partial(self._on_control, st),
            on_unhandled=functools.partial(self._on_update, st),
            on_book_error=functools.partial(self._on_book_error, st),
        )
        st.conn = WsConnection(
            key,
            url,
            on_data=st.router.dispatch,
            on_event=functools.partial(self._on_conn_event, st),
            on_connected=functools.partial(self._on_connected, st),
            on_disconnected=functools.partial(self._on_disconnected, st),
            ping_interval=self.ping_interval,
            pong_timeout=self.pong_timeout,
            connect_timeout=self.connect_timeout,
            reconnect=self.policy,
            stale_after=self.stale_after,
            budget=self._budget,
            connect_options=self._connect_options,
        )
        self._streams[key] = st
        return st

    def connection(self, key: str) -> WsConnection | None:
        st = self._streams.get(key)
        return st.conn if st is not None else None

    # ---- subscribe ---------------------------------------------------------------------------
    async def subscribe_v5(self, topics: str | Iterable[str], category: str | None = None, *, timeout: float | None = None) -> None:
        """Subscribe and wait for the exchange's acks; :class:`SubscriptionError` names refused topics.

        The topics are kept across reconnects. Refused topics are forgotten; on a timeout
        (:class:`RequestTimeoutError`) or an auth failure the topics stay wanted and are retried.
        """
        names = _topic_list(topics)
        key = self.ws_key_for(names, category)
        st = self._stream(key)
        st.store.add(names)
        fut = asyncio.get_running_loop().create_future()
        w = st.store.wait("subscribe", names, fut)
        st.store.settle_now("subscribe", [t for t in names if t in st.store.acked])
        if st.subs_ready and st.conn.socket_open:
            self._send_requests(st, st.store.requests("subscribe", st.store.unsent()))
        else:
            st.conn.start()  # lazy connect; on_connected subscribes everything wanted
        await self._await(st, w, timeout)

    async def unsubscribe_v5(self, topics: str | Iterable[str], category: str | None = None, *, timeout: float | None = None) -> None:
        """Stop topics (managed books on them too) and wait for the acks when a socket is up."""
        names = _topic_list(topics)
        key = self.ws_key_for(names, category)
        st = self._streams.get(key)
        if st is None:
            return
        for t in names:
            mb = st.books.pop(t, None)
            if mb is not None:
                self._drop_book(st, mb)
        gone = st.store.remove(names)
        if not gone or not (st.subs_ready and st.conn.socket_open):
            return
        fut = asyncio.get_running_loop().create_future()
        w = st.store.wait("unsubscribe", gone, fut)
        self._send_requests(st, st.store.requests("unsubscribe", gone))
        await self._await(st, w, timeout)

    async def _await(self, st: _Stream, w: Any, timeout: float | None) -> None:
        t = timeout if timeout is not None else self.subscribe_timeout
        try:
            await asyncio.wait_for(w.future, t)
        except asyncio.TimeoutError:
            st.store.drop_waiter(w)
            raise RequestTimeoutError(f"{st.key}: no {w.op} ack within {t}s for {sorted(w.remaining)[:5]}") from None
        except asyncio.CancelledError:
            st.store.drop_waiter(w)
            raise

    def _send_requests(self, st: _Stream, reqs: list[Request]) -> None:
        """Send requests in order, paced by the stream's token bucket (PROTOCOL §4.5).

        What the bucket allows goes out now, synchronously (a single-batch resubscribe is never
        delayed); the rest waits in ``st.outbox`` for one background task.
        """
        if not reqs:
            return
        out = st.outbox
        out.extend(reqs)
        if st.drain is not None:
            return  # the pacing task sends them after what is already queued
        now = asyncio.get_running_loop().time()
        pacer = st.pacer
        while out and pacer.ready(now):
            pacer.reserve(now)
            if not self._send_one(st, out.popleft()):
                return
        if out:
            st.drain = self._spawn(self._drain(st))

    def _send_one(self, st: _Stream, req: Request) -> bool:
        try:
            st.conn.send(req.frame)
        except ConnectionLostError:
            st.outbox.clear()  # the reconnect resubscribes everything wanted
            return False
        return True

    async def _drain(self, st: _Stream) -> None:
        loop = asyncio.get_running_loop()
        out = st.outbox
        try:
            while out:
                wait = st.pacer.reserve(loop.time())
                if wait > 0:
                    await self._pace_sleep(wait)
                if not out or not self._send_one(st, out.popleft()):
                    return
        finally:
            if st.drain is asyncio.current_task():
                st.drain = None

    def _drop_outbox(self, st: _Stream) -> None:
        """The socket is gone: queued requests die with it (the next socket resubscribes afresh)."""
        st.outbox.clear()
        if st.drain is not None:
            st.drain.cancel()
            st.drain = None
        st.pacer.reset()

    # ---- connection callbacks ------------------------------------------------------------------
    def _on_conn_event(self, st: _Stream, name: str, payload: dict[str, Any]) -> None:
        if name == "exception":
            err = payload.get("error")
            if isinstance(err, orjson.JSONDecodeError) and payload.get("where") == "on_message":
                # the router decodes control frames with orjson: report a malformed one like any bad frame
                payload["error"] = err = FrameError(f"undecodable frame: {err}")
            if isinstance(err, WebsocketHandshakeError) and 400 <= err.status < 500:
                st.store.fail_waiters(err)  # 401/403/404: tell waiting callers now
        if name == "close":
            if st.closing:
                payload["reason"] = "closed by client"
            elif not st.conn.running or st.conn.closed:
                self._gave_up(st)
        self._emit(name, payload)

    def _gave_up(self, st: _Stream) -> None:
        """The connection stopped retrying (``ReconnectPolicy.max_attempts``): fail every waiting call
        now rather than at its timeout (§8 weakness 12: no promise left hanging). Topics stay wanted:
        the next subscribe restarts the connection and resubscribes them."""
        err = st.conn.last_error
        if not isinstance(err, WebsocketError):
            err = ConnectionLostError(f"{st.key}: connection closed", may_have_reached_exchange=False)
        st.store.fail_waiters(err)
        for mb in st.books.values():
            waiters, mb.valid_waiters = mb.valid_waiters, []
            for w in waiters:
                if not w.done():
                    w.set_exception(err)
                    w.exception()

    async def _on_connected(self, st: _Stream, conn: WsConnection) -> None:
        st.subs_ready = False
        if st.private:
            await self._authenticate(st, conn)
        self._send_requests(st, st.store.resubscribe_all())
        st.subs_ready = True

    async def _authenticate(self, st: _Stream, conn: WsConnection) -> None:
        assert self.key is not None and self._signer is not None
        self._auth_ids += 1
        req_id = f"auth{self._auth_ids}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        st.auth = (req_id, fut)
        expires = int((time.time() + self.auth_expires_after) * 1000)
        try:
            conn.send(ws_auth_frame(self.key, self._signer, expires, req_id))
            msg = await fut
        finally:
            st.auth = None
        if not msg.get("success"):
            # Reported once by the connection ("exception" event, where="on_connected"), then retried with backoff.
            raise AuthenticationError(f"{st.key}: authentication refused: {msg.get('ret_msg') or msg.get('retMsg') or 'no reason given'}")
        self._emit("authenticated", msg)

    def _on_disconnected(self, st: _Stream, conn: WsConnection, exc: BaseException | None) -> None:
        st.subs_ready = False
        st.store.on_disconnect()
        self._drop_outbox(st)
        if st.auth is not None and not st.auth[1].done():
            st.auth[1].set_exception(ConnectionLostError(f"{st.key}: lost during auth", may_have_reached_exchange=True))
            st.auth[1].exception()
        if isinstance(exc, AuthenticationError):
            st.store.fail_waiters(exc)
        if st.closing or exc is None:
            return
        for mb in st.books.values():
            mb.resub_in_flight = False
            self._start_resync(st, mb, exc, send=False)  # the reconnect's resubscribe brings the snapshot

    # ---- frames ------------------------------------------------------------------------------
    def _on_control(self, st: _Stream, kind: str, req_id: str | None, msg: dict[str, Any]) -> None:
        msg["ws_key"] = st.key
        if kind == "pong":
            return
        if kind == "auth" or (st.auth is not None and req_id == st.auth[0]):
            if st.auth is not None and not st.auth[1].done():
                st.auth[1].set_result(msg)
            self._emit("response", msg)
            return
        if kind in ("subscribe", "unsubscribe"):
            res = st.store.on_ack(kind, req_id, msg)
            self._emit("response", msg)
            if res.request is None:
                return
            for t, m in res.failed.items():
                self._emit("exception", {"ws_key": st.key, "error": SubscriptionError(f"{res.request.op} {t}: {m}", topics=[t]), "where": res.request.op, "topic": t})
                mb = st.books.get(t)
                if mb is not None and res.request.op == "subscribe":
                    mb.resub_in_flight = False
            if res.request.op == "subscribe":
                for t in res.ok:
                    mb = st.books.get(t)
                    if mb is not None:
                        mb.resub_in_flight = False
            if res.retry and st.subs_ready:
                self._send_requests(st, st.store.requests(res.request.op, [t for t in res.retry if (t in st.store.desired) == (res.request.op == "subscribe")]))
            return
        self._emit("response", msg)

    def _on_update(self, st: _Stream, frame: bytes) -> None:
        if not self._event_streams and not self._handlers.get("update"):
            return  # nobody listens: skip the decode
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            self._emit("exception", {"ws_key": st.key, "error": FrameError(f"undecodable frame: {exc}"), "where": "update"})
            return
        if type(msg) is dict:
            msg["ws_key"] = st.key
            self._emit("update", msg)

    def _on_book_error(self, st: _Stream, topic: str, book: OrderBook, exc: BaseException) -> None:
        mb = st.books.get(topic)
        if mb is None:
            return
        self._start_resync(st, mb, exc, send=True)

    # ---- managed books -----------------------------------------------------------------------
    async def subscribe_order_book(
        self,
        symbol: str,
        category: str,
        depth: int | str = 50,
        *,
        wait_valid: bool = True,
        timeout: float | None = None,
        on_update: BookUpdateHook | None = None,
    ) -> OrderBook:
        """A live local book of ``orderbook.{depth}.{symbol}`` (depth an int, ``"rpi"`` or ``"full"``).

        Returns once the subscription is acked and (``wait_valid``) the book holds a snapshot.
        The same call again returns the same book (an ``on_update`` given then replaces the old
        one). Readers check ``book.valid``.

        ``on_update(book, apply_ns)`` runs after every frame that changed the valid book (each
        snapshot and delta; after a resync once, with the time of the whole resync load), with
        the nanoseconds ``book.apply`` took: react to each update and measure the book's own cost,
        no JSON decoded in Python. Without it frames go from the router straight into the native
        book (no Python call per frame); with it, one Python call and two clock reads per frame.
        Its exceptions become ``exception`` events (``where="on_update"``), never a dead stream.
        """
        key = hosts.public_ws_key(category)
        if category == "option" and depth in ("full", "rpi"):
            raise InvalidParameterError(f"orderbook.{depth} does not exist for options")
        book = OrderBook(symbol, category=category, depth=depth)  # validates symbol/depth
        topic = book.topic
        assert topic is not None
        st = self._stream(key)
        mb = st.books.get(topic)
        if mb is not None and on_update is not None and on_update is not mb.on_update:
            mb.on_update = on_update
            if not mb.syncing:
                self._route_live(st, mb)
        if mb is None:
            mb = ManagedBook(book, topic, category, symbol, book.depth, on_update)
            st.books[topic] = mb
            st.router.add(topic, functools.partial(self._on_syncing_frame, st, mb), raw=True)
            try:
                await self.subscribe_v5(topic, category, timeout=timeout)
            except BaseException:
                if st.books.get(topic) is mb and topic not in st.store.desired:
                    del st.books[topic]
                    self._drop_book(st, mb)
                raise
        if wait_valid and not mb.book.valid:
            fut = asyncio.get_running_loop().create_future()
            mb.valid_waiters.append(fut)
            t = timeout if timeout is not None else self.resync_timeout
            try:
                await asyncio.wait_for(fut, t)
            except asyncio.TimeoutError:
                raise RequestTimeoutError(f"{topic}: no snapshot within {t}s (the client keeps resyncing)") from None
            finally:
                if fut in mb.valid_waiters:
                    mb.valid_waiters.remove(fut)
        return mb.book

    async def unsubscribe_order_book(self, symbol: str, category: str, depth: int | str = 50) -> None:
        await self.unsubscribe_v5(f"orderbook.{depth}.{symbol}", category)

    def order_book(self, symbol: str, category: str, depth: int | str = 50) -> OrderBook | None:
        """The managed book of that topic, if subscribed."""
        st = self._streams.get(hosts.public_ws_key(category))
        mb = st.books.get(f"orderbook.{depth}.{symbol}") if st is not None else None
        return mb.book if mb is not None else None

    def _drop_book(self, st: _Stream, mb: ManagedBook) -> None:
        st.router.remove(mb.topic)
        mb.book.invalidate()
        if mb.watchdog is not None:
            mb.watchdog.cancel()
            mb.watchdog = None
        if mb.fetch_task is not None:
            mb.fetch_task.cancel()
        mb.buffer.clear()
        for w in mb.valid_waiters:
            if not w.done():
                w.set_exception(SubscriptionError(f"{mb.topic} unsubscribed", topics=[mb.topic]))
                w.exception()
        mb.valid_waiters.clear()

    def _start_resync(self, st: _Stream, mb: ManagedBook, reason: BaseException, *, send: bool) -> None:
        mb.book.invalidate()
        if isinstance(reason, FrameError):
            # A gap or a crossed book is the protocol at work (book_resync says so); a malformed
            # frame is an anomaly the user should hear about, like one on any other topic.
            self._emit("exception", {"ws_key": st.key, "error": reason, "where": "book", "topic": mb.topic})
        if not mb.syncing:
            mb.syncing = True
            st.router.add(mb.topic, functools.partial(self._on_syncing_frame, st, mb), raw=True)
        mb.resyncs += 1
        self._emit("book_resync", {"ws_key": st.key, "topic": mb.topic, "symbol": mb.symbol, "book": mb.book, "reason": reason})
        if mb.full:
            mb.buffer.clear()
            if mb.fetch_task is not None:
                mb.fetch_task.cancel()
                mb.fetch_task = None
        elif send and st.subs_ready and st.conn.socket_open and not mb.resub_in_flight:
            # The exchange refuses a duplicate subscribe: unsubscribe first, then subscribe for a fresh snapshot.
            mb.resub_in_flight = True
            self._send_requests(st, st.store.requests("unsubscribe", [mb.topic]) + st.store.requests("subscribe", [mb.topic]))
        if mb.watchdog is None:
            mb.watchdog = asyncio.get_running_loop().call_later(self.resync_timeout, self._resync_timed_out, st, mb)

    def _resync_timed_out(self, st: _Stream, mb: ManagedBook) -> None:
        mb.watchdog = None
        if mb.book.valid or st.books.get(mb.topic) is not mb or st.closing:
            return
        if not st.conn.connected:  # the reconnect under way resubscribes: just keep watching
            mb.watchdog = asyncio.get_running_loop().call_later(self.resync_timeout, self._resync_timed_out, st, mb)
            return
        # No snapshot in time: the last resort is a fresh socket (everything is resubscribed).
        self._emit("exception", {"ws_key": st.key, "error": RequestTimeoutError(f"{mb.topic}: resync timed out"), "where": "book_resync", "topic": mb.topic})
        mb.watchdog = asyncio.get_running_loop().call_later(self.resync_timeout, self._resync_timed_out, st, mb)
        st.conn.reconnect_now(f"{mb.topic} resync timed out")

    def _on_syncing_frame(self, st: _Stream, mb: ManagedBook, frame: bytes) -> None:
        """Frames of a book that is not live: apply until a snapshot makes it valid, then go direct."""
        if mb.full:
            self._full_frame(st, mb, frame)
            return
        t0 = time.perf_counter_ns()
        try:
            code = mb.book.apply(frame)
        except _BOOK_ERRORS as exc:
            self._start_resync(st, mb, exc, send=True)
            return
        if mb.book.valid:
            ns = time.perf_counter_ns() - t0
            self._book_live(st, mb)
            if code <= APPLIED_DELTA:
                self._call_hook(st, mb, ns)

    def _book_live(self, st: _Stream, mb: ManagedBook) -> None:
        mb.syncing = False
        self._route_live(st, mb)
        if mb.watchdog is not None:
            mb.watchdog.cancel()
            mb.watchdog = None
        self._emit("book_valid", {"ws_key": st.key, "topic": mb.topic, "symbol": mb.symbol, "book": mb.book})
        mb.wake_valid()

    def _route_live(self, st: _Stream, mb: ManagedBook) -> None:
        """Route a valid book's frames: straight into the native book (the hot path: no Python per
        frame) unless an ``on_update`` hook or an ``orderbook.full`` book needs a Python step."""
        if mb.on_update is None and not mb.full:
            st.router.add_book(mb.book, mb.topic)
        else:
            st.router.add(mb.topic, self._live_handler(st, mb), raw=True)

    def _live_handler(self, st: _Stream, mb: ManagedBook) -> Callable[[bytes], None]:
        """Per-frame function of a live book with a hook (or a full book): apply, then the hook.

        Closures over locals, not methods: this runs for every frame.
        """
        book = mb.book
        apply = book.apply
        hook = mb.on_update
        failed = self._live_error
        if hook is None:  # orderbook.full without a hook: ~5 frames/s, only the gap frame matters

            def on_frame(frame: bytes) -> None:
                try:
                    apply(frame)
                except _BOOK_ERRORS as exc:
                    failed(st, mb, frame, exc)

            return on_frame
        clock = time.perf_counter_ns
        hook_failed = self._hook_error

        def on_frame_hooked(frame: bytes) -> None:
            t0 = clock()
            try:
                code = apply(frame)
            except _BOOK_ERRORS as exc:
                failed(st, mb, frame, exc)
                return
            ns = clock() - t0
            if code <= APPLIED_DELTA:  # snapshot or delta applied (not a stale drop)
                try:
                    hook(book, ns)
                except Exception as exc:  # a user bug never kills the stream
                    hook_failed(st, mb, exc)

        return on_frame_hooked

    def _live_error(self, st: _Stream, mb: ManagedBook, frame: bytes, exc: BaseException) -> None:
        self._start_resync(st, mb, exc, send=True)
        if mb.full and isinstance(exc, OrderBookGapError):
            # §5.6: the delta that reveals the gap (or a u=1 restart) opens the new session: it is
            # the first delta of the new buffer, so the snapshot can line up without waiting a push.
            self._full_frame(st, mb, frame)

    def _call_hook(self, st: _Stream, mb: ManagedBook, ns: int) -> None:
        hook = mb.on_update
        if hook is not None:
            try:
                hook(mb.book, ns)
            except Exception as exc:
                self._hook_error(st, mb, exc)

    def _hook_error(self, st: _Stream, mb: ManagedBook, exc: BaseException) -> None:
        self._emit("exception", {"ws_key": st.key, "error": exc, "where": "on_update", "topic": mb.topic})

    # ---- orderbook.full (PROTOCOL §5.6) -------------------------------------------------------
    def _full_frame(self, st: _Stream, mb: ManagedBook, frame: bytes) -> None:
        try:
            _, _, u, seq = frame_info(frame)
        except FrameError as exc:
            self._emit("exception", {"ws_key": st.key, "error": exc, "where": "book", "topic": mb.topic})
            return
        buf = mb.buffer
        if buf:
            last_u, last_seq, _ = buf[-1]
            if 0 <= seq < last_seq:
                return  # seq went backwards: drop this delta
            if u != last_u + 1 or len(buf) >= FULL_BOOK_BUFFER:
                buf.clear()  # u broke while buffering: start again
        buf.append((u, seq, frame))
        if mb.fetch_task is None:
            mb.fetch_task = self._spawn(self._full_fetch(st, mb))

    async def _full_fetch(self, st: _Stream, mb: ManagedBook) -> None:
        attempt = 0
        try:
            while not mb.book.valid:
                if attempt:
                    await asyncio.sleep(self.policy.delay(attempt))  # never hammer the REST endpoint
                attempt += 1
                try:
                    raw = await self._fetch_full_snapshot(mb.category, mb.symbol)
                    result = _rest_result(raw)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._emit("exception", {"ws_key": st.key, "error": exc, "where": "full_orderbook", "topic": mb.topic})
                    continue
                if self._full_load(st, mb, result):
                    return
        finally:
            if mb.fetch_task is asyncio.current_task():
                mb.fetch_task = None

    def _full_load(self, st: _Stream, mb: ManagedBook, result: dict[str, Any]) -> bool:
        """Load a REST snapshot against the buffered deltas; False = snapshot unusable, refetch."""
        u_s = int(result.get("u", -1))
        seq_s = int(result.get("seq", -1))
        buf = mb.buffer
        if buf:
            first_u, first_seq, _ = buf[0]
            if first_u > u_s + 1 and 0 <= seq_s < first_seq:
                return False  # snapshot older than everything buffered
            for u, seq, _ in buf:
                if u == u_s and seq >= 0 and seq_s >= 0 and seq != seq_s:
                    return False  # same u, different seq: not the same book (restart in between)
        book = mb.book
        t0 = time.perf_counter_ns()
        try:
            book.apply_snapshot(result)
            for u, _, frame in buf:
                if u > u_s:
                    book.apply(frame)
        except _BOOK_ERRORS as exc:
            log.debug("%s: full snapshot did not line up with the buffer: %r", mb.topic, exc)
            book.invalidate()
            return False
        ns = time.perf_counter_ns() - t0
        buf.clear()
        self._book_live(st, mb)
        self._call_hook(st, mb, ns)
        return True

    async def _fetch_full_snapshot(self, category: str, symbol: str) -> Any:
        if self._fetcher is not None:
            return await self._fetcher(category, symbol)
        import aiohttp  # only needed for orderbook.full without an injected fetcher

        if self._http is None:
            self._http = aiohttp.ClientSession()
        url = f"{self.rest_url}/v5/market/full_orderbook"
        async with self._http.get(url, params={"category": category, "symbol": symbol}) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise ConnectionLostError(f"full_orderbook HTTP {resp.status}", may_have_reached_exchange=False)
            return body

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- lifecycle -----------------------------------------------------------------------------
    async def connect(self, key: str) -> None:
        """Open a stream key now rather than on the first subscribe (raises the first attempt's error)."""
        await self._stream(key).conn.open()

    async def close(self, key: str) -> None:
        """Close one stream on purpose: no reconnect; its topics and books are forgotten."""
        st = self._streams.pop(key, None)
        if st is None:
            return
        st.closing = True
        for mb in list(st.books.values()):
            self._drop_book(st, mb)
        st.books.clear()
        await st.conn.close()
        st.store.fail_waiters(ConnectionLostError(f"{key}: closed", may_have_reached_exchange=False))

    async def close_all(self) -> None:
        """Close every stream, the snapshot HTTP session and every event iterator."""
        for key in list(self._streams):
            await self.close(key)
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None
        for s in list(self._event_streams):
            s.close()

    async def __aenter__(self) -> WebsocketClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close_all()

    async def wait_connected(self, key: str, timeout: float | None = None) -> None:
        await self._stream(key).conn.wait_connected(timeout)

    def sizes(self) -> dict[str, int]:
        """Sizes of every structure that could grow (tests assert they stay bounded)."""
        out = {"streams": len(self._streams), "tasks": len(self._tasks), "event_streams": len(self._event_streams)}
        for st in self._streams.values():
            for k, v in st.store.sizes().items():
                out[f"{st.key}.{k}"] = v
            out[f"{st.key}.books"] = len(st.books)
            out[f"{st.key}.outbox"] = len(st.outbox)
            out[f"{st.key}.routes"] = len(st.router.topics())
            out[f"{st.key}.buffers"] = sum(len(mb.buffer) for mb in st.books.values())
            out[f"{st.key}.valid_waiters"] = sum(len(mb.valid_waiters) for mb in st.books.values())
        return out


def _topic_list(topics: str | Iterable[str]) -> list[str]:
    names = [topics] if isinstance(topics, str) else list(topics)
    if not names:
        raise InvalidParameterError("no topics given")
    for t in names:
        if not isinstance(t, str) or not t:
            raise InvalidParameterError(f"invalid topic {t!r}")
    return names


def _rest_result(raw: Any) -> dict[str, Any]:
    msg = orjson.loads(raw) if isinstance(raw, (bytes, bytearray, str)) else raw
    if not isinstance(msg, dict):
        raise FrameError("full_orderbook response is not an object")
    if "result" in msg:
        if msg.get("retCode", 0) != 0:
            raise FrameError(f"full_orderbook retCode {msg.get('retCode')}: {msg.get('retMsg')}")
        msg = msg["result"]
    if not isinstance(msg, dict) or "u" not in msg:
        raise FrameError("full_orderbook result without u")
    return msg
