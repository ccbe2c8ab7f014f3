"""One WebSocket stream that survives anything: picows socket, JSON heartbeat, backoff, events.

A :class:`WsConnection` owns one stream key (``v5_linear_public``, ``v5_private``...). It connects
lazily, sends Bybit's JSON ``{"op":"ping"}`` on picows' own auto-ping timer and drops the socket
when no pong arrives in time, optionally drops a socket whose data went silent, and reconnects with
capped exponential backoff plus jitter inside the exchange's 500-connects-per-5-minutes budget.
Everything above it (topic store, auth, trade requests) plugs in through callbacks:
``on_message`` gets every non-pong frame as raw bytes, ``on_connected`` runs after each
(re)connect (auth, then resubscribe), ``on_disconnected`` fails in-flight work.

Run the event loop with uvloop for speed: ``bybitfast.ws.connection.run(main())`` (or
``uvloop.run``). The client never installs a loop policy itself.

Design notes: docs/decisions/websocket.md.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import random
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSFrame,
    WSHandshakeError,
    WSListener,
    WSMsgType,
    WSTransport,
    ws_connect,
)

from ..errors import AuthenticationError, ConfigurationError, ConnectionLostError, RequestTimeoutError, WebsocketError, WebsocketHandshakeError

__all__ = [
    "ConnectBudget",
    "ReconnectPolicy",
    "WsConnection",
    "is_pong",
    "run",
]

log = logging.getLogger("bybitfast.ws")
T = TypeVar("T")

PING_FRAME = b'{"op":"ping"}'
# Pongs are tiny (< 200 bytes on every socket, PROTOCOL §4.2); only frames this small are checked.
_PONG_MAX_SIZE = 256
_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CLOSE = WSMsgType.CLOSE
_CONTINUATION = WSMsgType.CONTINUATION


def is_pong(data: bytes) -> bool:
    """True for a Bybit pong on any socket (public spot/linear: ``"ret_msg":"pong"``; others ``"op":"pong"``).

    A byte compare, no JSON parse. Data frames never count as pongs (PROTOCOL §8 weakness 4).
    """
    return len(data) < _PONG_MAX_SIZE and (b'"op":"pong"' in data or b'"ret_msg":"pong"' in data)


def run(main: Coroutine[Any, Any, T], *, debug: bool | None = None) -> T:
    """Run ``main`` on uvloop when it is installed (the fast path), else on the default asyncio loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        return asyncio.run(main, debug=debug)
    return uvloop.run(main, debug=debug)


@dataclass
class ReconnectPolicy:
    """Capped exponential backoff with jitter (PROTOCOL §8 weakness 3: never bybit-api's fixed 500 ms loop).

    ``delay(n)`` for the n-th consecutive attempt (1-based) is ``min(maximum, initial * factor**(n-1))``
    plus a uniform ``±jitter`` seconds, never negative. ``max_attempts`` consecutive failures end the
    connection for good (None = retry forever).
    """

    initial: float = 0.5
    maximum: float = 5.0
    factor: float = 1.5
    jitter: float = 0.25
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < 0 or self.factor < 1 or self.jitter < 0:
            raise ConfigurationError("ReconnectPolicy needs initial >= 0, maximum >= 0, factor >= 1, jitter >= 0")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ConfigurationError("ReconnectPolicy.max_attempts must be >= 1 or None")

    def delay(self, attempt: int) -> float:
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))
        if self.jitter:
            base += random.uniform(-self.jitter, self.jitter)
        return max(0.0, base)


class ConnectBudget:
    """New-connection budget per WebSocket host (Bybit: ≤500 per 5 minutes per domain, PROTOCOL §4.5).

    Shared by every connection of the process; ``acquire`` waits (rather than fails) when the
    budget is spent, so a flapping link can never get the IP banned.
    """

    def __init__(self, limit: int = 500, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self._log: dict[str, collections.deque[float]] = {}

    def wait_time(self, host: str) -> float:
        """Seconds to wait before a new connection to ``host`` fits the budget (0 = now)."""
        q = self._log.get(host)
        if not q:
            return 0.0
        now = time.monotonic()
        while q and q[0] <= now - self.window:
            q.popleft()
        if len(q) < self.limit:
            return 0.0
        return q[0] + self.window - now

    async def acquire(self, host: str) -> None:
        while (wait := self.wait_time(host)) > 0:
            log.warning("connection budget for %s spent; waiting %.1fs", host, wait)
            await asyncio.sleep(wait)
        self._log.setdefault(host, collections.deque()).append(time.monotonic())


DEFAULT_BUDGET = ConnectBudget()


class PyFrameSink(WSListener):
    """Pure-Python reference of ``bybitfast._wslisten.FrameSink`` (used when that is not built).

    Complete text/binary frames: pongs dropped (byte compare, small frames only), others counted
    and passed as bytes to ``deliver``; errors of ``deliver`` go to ``report``. The rest of the
    frames go to ``other_frame``.
    """

    def __init__(self) -> None:
        self.deliver: Callable[[bytes], object] = lambda data: None
        self.report: Callable[[BaseException], None] = lambda exc: None
        self.frames = 0
        self.pongs_seen = 0

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if frame.fin and (msg_type is _TEXT or msg_type is _BINARY):
            data = frame.get_payload_as_bytes()
            if len(data) < _PONG_MAX_SIZE and (b'"op":"pong"' in data or b'"ret_msg":"pong"' in data):
                self.pongs_seen += 1
                self.pong_frame()
                return
            self.frames += 1
            try:
                self.deliver(data)
            except Exception as exc:
                self.report(exc)
            return
        self.other_frame(transport, frame)

    def is_user_specific_pong(self, frame: WSFrame) -> bool:
        if frame.msg_type is _TEXT and frame.payload_size < _PONG_MAX_SIZE and is_pong(frame.get_payload_as_bytes()):
            self.pongs_seen += 1
            self.pong_frame()
            return True
        return False

    def pong_frame(self) -> None:
        pass

    def other_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        pass


try:  # the native sink (C on_ws_frame); built against the installed picows
    from .._wslisten import FrameSink as _FrameSink

    NATIVE_SINK = True
except ImportError:  # pragma: no cover - not built, or picows changed its binary layout
    _FrameSink = PyFrameSink  # type: ignore[misc,assignment]
    NATIVE_SINK = False


def _listener_class(native: bool) -> type:
    base = _FrameSink if native else PyFrameSink

    class _Listener(base):  # type: ignore[valid-type,misc]
        """picows callbacks for one socket: the per-frame path is the sink's, the rest is here."""

        def __init__(self, conn: WsConnection) -> None:
            super().__init__()
            self.conn = conn
            self.deliver = conn._on_data if conn._on_data is not None else functools.partial(conn._on_message, conn)
            self.report = functools.partial(conn._report, "on_message")  # a callback error never kills the stream
            self.frames = 0  # data frames received (stale-data watchdog)
            self.ping_frame = conn._ping_frame
            self.transport: WSTransport | None = None
            self.awaiting_pong = False
            self.ping_sent_at = 0.0
            self.pongs = 0
            self.stale = False
            self.close_info: tuple[int, str] | None = None
            self.fragments: bytearray | None = None
            self.lost: asyncio.Future[None] = conn._loop.create_future()

        def on_ws_connected(self, transport: WSTransport) -> None:
            self.transport = transport

        def other_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            msg_type = frame.msg_type
            if msg_type is _CLOSE:
                code = frame.get_close_code()
                self.close_info = (int(code.value) if isinstance(code, WSCloseCode) else int(code), frame.get_close_reason())
                transport.send_close(code if isinstance(code, WSCloseCode) else WSCloseCode.OK)
                transport.disconnect()
            elif msg_type is _TEXT or msg_type is _BINARY or msg_type is _CONTINUATION:
                data = self._reassemble(frame)
                if data is None:
                    return
                if is_pong(data):
                    self.pong_frame()
                    return
                self.frames += 1
                try:
                    self.deliver(data)
                except Exception as exc:
                    self.report(exc)
            # PING is answered by picows itself; protocol PONGs are not Bybit's heartbeat.

        def _reassemble(self, frame: WSFrame) -> bytes | None:
            if frame.msg_type is not _CONTINUATION:
                self.fragments = bytearray()
            if self.fragments is None:  # continuation without a start: protocol noise, drop it
                return None
            self.fragments += frame.get_payload_as_bytes()
            if not frame.fin:
                return None
            data = bytes(self.fragments)
            self.fragments = None
            return data

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            if not self.lost.done():
                self.lost.set_result(None)

        # Heartbeat: picows' auto-ping timer calls this (PING_PERIODICALLY, no Python timer per frame);
        # the sink's is_user_specific_pong recognises the reply.
        def send_user_specific_ping(self, transport: WSTransport) -> None:
            self.awaiting_pong = True
            self.ping_sent_at = time.monotonic()
            transport.send(_TEXT, self.ping_frame())

        def pong_frame(self) -> None:
            if self.awaiting_pong:
                self.conn.last_pong_rtt = time.monotonic() - self.ping_sent_at
            self.awaiting_pong = False
            self.pongs += 1

        def pong_overdue(self, pong_timeout: float) -> bool:
            return self.awaiting_pong and time.monotonic() - self.ping_sent_at >= pong_timeout * 0.95

    return _Listener


_Listener = _listener_class(NATIVE_SINK)
_PyListener = _listener_class(False)


class WsConnection:
    """One self-healing WebSocket stream (contract: docs/decisions/websocket.md, notes/contracts.md).

    Events (``on_event(name, payload)``, payload always has ``ws_key`` and ``generation``):
    ``open`` (first socket up), ``reconnected`` (a later socket up; before ``on_connected`` runs),
    ``reconnect`` (socket lost, retry scheduled: ``attempt``, ``delay``, ``reason``), ``close``
    (intentional :meth:`close` or retries exhausted), ``exception`` (``error``, ``where``: handshake
    refusal, pong timeout, stale data, ``on_connected`` failure, callback errors).
    """

    def __init__(
        self,
        key: str,
        url: str,
        *,
        on_message: Callable[[WsConnection, bytes], None] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        on_connected: Callable[[WsConnection], Awaitable[None]] | None = None,
        on_disconnected: Callable[[WsConnection, BaseException | None], None] | None = None,
        ping_interval: float | None = 20.0,
        pong_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        reconnect: ReconnectPolicy | None = None,
        ping_frame: Callable[[], bytes] | None = None,
        stale_after: float | None = None,
        budget: ConnectBudget | None = None,
        connect_options: Mapping[str, Any] | None = None,
        on_data: Callable[[bytes], object] | None = None,
        native: bool = True,
    ) -> None:
        """``stale_after``: drop and reconnect a socket that received no data frame for that long
        (detected within ``[stale_after, 2*stale_after]``; None = off; pongs do not count).
        ``connect_options`` go to ``picows.ws_connect`` (``extra_headers``, ``ssl_context``, ``proxy``...).
        ``on_data(frame)``: a one-argument alternative to ``on_message`` (e.g. a native router's
        ``dispatch``), one Python call less per frame. Exactly one of the two is required.
        ``native=False`` uses the pure-Python frame sink even when the native one is built (tests).
        """
        if (on_message is None) == (on_data is None):
            raise ConfigurationError("pass exactly one of on_message and on_data")
        if ping_interval is not None and ping_interval <= 0:
            raise ConfigurationError("ping_interval must be > 0 (or None to disable the heartbeat)")
        if pong_timeout <= 0 or connect_timeout <= 0:
            raise ConfigurationError("pong_timeout and connect_timeout must be > 0")
        if stale_after is not None and stale_after <= 0:
            raise ConfigurationError("stale_after must be > 0 or None")
        self.key = key
        self.url = url
        self.host = urllib.parse.urlsplit(url).netloc
        self._on_message = on_message
        self._on_data = on_data
        self._listener_cls = _Listener if native else _PyListener
        self._on_event = on_event
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.connect_timeout = connect_timeout
        self.policy = reconnect if reconnect is not None else ReconnectPolicy()
        self._ping_frame = ping_frame or (lambda: PING_FRAME)
        self.stale_after = stale_after
        self._budget = budget or DEFAULT_BUDGET
        self._connect_options = dict(connect_options or {})
        self._task: asyncio.Task[None] | None = None
        self._transport: WSTransport | None = None
        self._listener: _Listener | None = None
        self._ready = False
        self._ready_event = asyncio.Event()
        self._closing = False
        self._closed = False
        self._close_emitted = False
        self._attempt_waiters: list[asyncio.Future[None]] = []
        self.generation = 0
        self.connects = 0  # successful sockets
        self.attempts = 0  # consecutive failed attempts right now
        self.last_error: BaseException | None = None
        self.last_pong_rtt: float | None = None

    # ---- state ---------------------------------------------------------------
    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    @property
    def connected(self) -> bool:
        """Socket up and ``on_connected`` finished (authenticated, resubscribed)."""
        return self._ready

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def socket_open(self) -> bool:
        """Socket up (``on_connected`` may still be running): :meth:`send` works."""
        t = self._transport
        return t is not None and not t.is_disconnected and not t.is_close_frame_sent

    @property
    def running(self) -> bool:
        """A connection loop is active (connected, connecting or waiting to reconnect)."""
        return self._task is not None and not self._task.done()

    # ---- public API ----------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (lazy connect); failures are retried per the policy."""
        if self.running:
            return
        self._reset_for_start()
        self._task = self._loop.create_task(self._supervise(fail_fast=False), name=f"bybitfast-ws-{self.key}")

    async def open(self) -> None:
        """Connect and run ``on_connected``; raises the first attempt's error (nothing keeps retrying then).

        If a connection loop already runs, waits for it to be connected, or raises the error of its
        next failed attempt (the loop keeps retrying in the background).
        """
        if self._ready:
            return
        if self.running:
            waiter = self._loop.create_future()
            self._attempt_waiters.append(waiter)
            await waiter
            return
        self._reset_for_start()
        first: asyncio.Future[None] = self._loop.create_future()
        self._attempt_waiters.append(first)
        task = self._task = self._loop.create_task(self._supervise(fail_fast=True), name=f"bybitfast-ws-{self.key}")
        try:
            await first
        except Exception:
            await asyncio.wait((task,))  # the loop is winding down: let it finish before raising
            raise

    def send(self, data: bytes | str) -> None:
        """Write one text frame; raises :class:`ConnectionLostError` when no socket is up."""
        t = self._transport
        if t is None or t.is_disconnected or t.is_close_frame_sent:
            raise ConnectionLostError(f"{self.key}: not connected", may_have_reached_exchange=False)
        t.send(_TEXT, data)

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until :attr:`connected`; :class:`RequestTimeoutError` after ``timeout`` seconds."""
        if self._ready:
            return
        if self._closed:
            raise ConnectionLostError(f"{self.key}: connection closed", may_have_reached_exchange=False)
        try:
            await asyncio.wait_for(self._ready_event.wait(), timeout)
        except asyncio.TimeoutError:
            raise RequestTimeoutError(f"{self.key}: not connected within {timeout}s") from None
        if not self._ready:
            raise ConnectionLostError(f"{self.key}: connection closed", may_have_reached_exchange=False)

    async def close(self) -> None:
        """Close on purpose: no reconnect, ``on_disconnected(self, None)``, one ``close`` event."""
        self._closing = True
        task = self._task
        t = self._transport
        if t is not None and not t.is_disconnected:
            t.send_close(WSCloseCode.OK)
            t.disconnect()
        if task is not None and not task.done():
            task.cancel()
            if task is not asyncio.current_task():  # close() from inside on_connected: cannot await itself
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._closed = True
        self._ready_event.set()  # wake wait_connected() callers: they raise
        self._ready_event = asyncio.Event()
        self._fail_waiters(ConnectionLostError(f"{self.key}: connection closed", may_have_reached_exchange=False))
        if not self._close_emitted:
            self._close_emitted = True
            self._emit("close", reason="closed by client")

    def reconnect_now(self, reason: str = "requested") -> None:
        """Drop the current socket; the loop reconnects (backoff applies). No-op when not connected."""
        t = self._transport
        if t is not None and not t.is_disconnected:
            log.info("%s: dropping socket (%s)", self.key, reason)
            t.disconnect(graceful=False)

    # ---- internals -----------------------------------------------------------
    def _reset_for_start(self) -> None:
        self._closing = False
        self._closed = False
        self._close_emitted = False
        self.attempts = 0

    def _emit(self, name: str, **payload: Any) -> None:
        cb = self._on_event
        if cb is None:
            return
        payload["ws_key"] = self.key
        payload["generation"] = self.generation
        try:
            cb(name, payload)
        except Exception:
            log.exception("%s: on_event(%r) callback failed", self.key, name)

    def _report(self, where: str, exc: BaseException) -> None:
        """An error worth telling the user about (never fatal to the stream)."""
        self.last_error = exc
        log.debug("%s: %s: %r", self.key, where, exc)
        self._emit("exception", error=exc, where=where)

    def _fail_waiters(self, exc: BaseException | None) -> None:
        waiters, self._attempt_waiters = self._attempt_waiters, []
        for w in waiters:
            if not w.done():
                if exc is None:
                    w.set_result(None)
                else:
                    w.set_exception(exc)
                    w.exception()  # mark retrieved: a caller may have gone away

    def _heartbeat_options(self) -> dict[str, Any]:
        if not self.ping_interval:
            return {"enable_auto_ping": False}
        # picows sleeps idle_timeout, pings, waits reply_timeout, repeats: period = idle + reply.
        # It requires reply <= idle, so the period is max(ping_interval, 2 * pong_timeout).
        reply = self.pong_timeout
        idle = max(self.ping_interval - reply, reply)
        return {
            "enable_auto_ping": True,
            "auto_ping_idle_timeout": idle,
            "auto_ping_reply_timeout": reply,
            "auto_ping_strategy": WSAutoPingStrategy.PING_PERIODICALLY,
        }

    async def _supervise(self, fail_fast: bool) -> None:
        """The connection loop. ``fail_fast``: stop (no retries) if the very first attempt fails."""
        attempt = 0
        try:
            while not self._closing:
                if attempt:
                    if self.policy.max_attempts is not None and attempt > self.policy.max_attempts:
                        exc = WebsocketError(f"{self.key}: gave up after {attempt - 1} failed attempts")
                        self._report("reconnect", exc)
                        self._fail_waiters(exc)
                        self._closing = True
                        self._closed = True
                        self._close_emitted = True
                        self._emit("close", reason=str(exc))
                        return
                    delay = self.policy.delay(attempt)
                    err = self.last_error
                    if isinstance(err, AuthenticationError) or (isinstance(err, WebsocketHandshakeError) and 400 <= err.status < 500):
                        delay = max(delay, self.policy.maximum)  # bad key, 401/403/404: retrying soon cannot help
                    self._emit("reconnect", attempt=attempt, delay=delay, reason=repr(err) if err else "")
                    await asyncio.sleep(delay)
                await self._budget.acquire(self.host)
                ok, lived, err = await self._attempt()
                if self._closing:
                    return
                self.last_error = err
                if fail_fast:
                    if not ok:
                        return  # open() raises err (its waiter was failed in _attempt)
                    fail_fast = False
                # A connection that lived long enough resets the backoff; a flapping one keeps growing it.
                stable = ok and lived >= max(1.0, self.policy.maximum)
                attempt = 1 if stable else attempt + 1
                self.attempts = attempt
        finally:
            await self._teardown_socket(None if self._closing else self.last_error)
            if self._closing:
                self._fail_waiters(ConnectionLostError(f"{self.key}: closed while connecting", may_have_reached_exchange=False))

    async def _attempt(self) -> tuple[bool, float, BaseException | None]:
        """One socket's life. Returns (became ready, seconds it lived, why it ended / failed)."""
        try:
            transport, listener = await asyncio.wait_for(
                ws_connect(
                    lambda: self._listener_cls(self),
                    self.url,
                    disconnect_on_exception=False,
                    websocket_handshake_timeout=self.connect_timeout,
                    logger_name="bybitfast.ws.picows",
                    **self._heartbeat_options(),
                    **self._connect_options,
                ),
                self.connect_timeout,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            err = _connect_error(self.url, exc)
            self._report("connect", err)
            self._fail_waiters(err)
            return False, 0.0, err
        assert isinstance(listener, self._listener_cls)
        self._transport = transport
        self._listener = listener
        self.generation += 1
        self.connects += 1
        started = time.monotonic()
        self._emit("open" if self.connects == 1 else "reconnected", url=self.url)
        if self._on_connected is not None:
            try:
                await asyncio.wait_for(self._on_connected(self), self.connect_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                err = exc if not isinstance(exc, asyncio.TimeoutError) else RequestTimeoutError(
                    f"{self.key}: on_connected did not finish within {self.connect_timeout}s"
                )
                if not self._closing:
                    self._report("on_connected", err)
                self._fail_waiters(err)
                await self._teardown_socket(err)
                return False, time.monotonic() - started, err
        if listener.lost.done():  # dropped while authenticating/resubscribing
            err = self._loss_reason(listener)
            self._fail_waiters(err)
            await self._teardown_socket(err)
            return False, time.monotonic() - started, err
        self._ready = True
        self._ready_event.set()
        self._fail_waiters(None)
        await self._watch(listener)
        err = None if self._closing else self._loss_reason(listener)
        if err is not None and isinstance(err, WebsocketError) and not isinstance(err, ConnectionLostError):
            self._report("heartbeat", err)
        await self._teardown_socket(err)
        return True, time.monotonic() - started, err

    async def _watch(self, listener: _Listener) -> None:
        """Wait for the socket to end; with ``stale_after``, end it when its data went silent."""
        if not self.stale_after:
            await asyncio.shield(listener.lost)
            return
        seen = listener.frames
        while True:
            done, _ = await asyncio.wait((listener.lost,), timeout=self.stale_after)
            if done:
                return
            if listener.frames == seen:
                listener.stale = True
                if listener.transport is not None:
                    listener.transport.disconnect(graceful=False)
                await asyncio.shield(listener.lost)
                return
            seen = listener.frames

    def _loss_reason(self, listener: _Listener) -> BaseException:
        if listener.stale:
            return WebsocketError(f"{self.key}: no data for {self.stale_after}s (stale-data watchdog)")
        if listener.pong_overdue(self.pong_timeout):
            return WebsocketError(f"{self.key}: no pong within {self.pong_timeout}s")
        if listener.close_info is not None:
            code, reason = listener.close_info
            return ConnectionLostError(f"{self.key}: server closed the socket ({code} {reason})", may_have_reached_exchange=True)
        return ConnectionLostError(f"{self.key}: connection lost", may_have_reached_exchange=True)

    async def _teardown_socket(self, reason: BaseException | None) -> None:
        """Forget the current socket (closing it if needed) and tell ``on_disconnected`` once."""
        t, listener = self._transport, self._listener
        if t is None or listener is None:
            return
        self._transport = None
        self._listener = None
        self._ready = False
        self._ready_event.clear()
        if not t.is_disconnected:
            t.disconnect(graceful=False)
        if not listener.lost.done():
            try:
                await asyncio.wait_for(asyncio.shield(listener.lost), 1.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
        if self._on_disconnected is not None:
            try:
                self._on_disconnected(self, reason)
            except Exception as exc:
                self._report("on_disconnected", exc)


def _connect_error(url: str, exc: BaseException) -> BaseException:
    if isinstance(exc, WSHandshakeError):
        resp = exc.response
        status = int(resp.status) if resp is not None and resp.status is not None else 0
        return WebsocketHandshakeError(f"WebSocket handshake to {url} refused: HTTP {status or '?'} ({exc})", status=status)
    if isinstance(exc, asyncio.TimeoutError):
        return RequestTimeoutError(f"WebSocket connect to {url} timed out")
    if isinstance(exc, WebsocketError):
        return exc
    return ConnectionLostError(f"WebSocket connect to {url} failed: {exc!r}", may_have_reached_exchange=False)
