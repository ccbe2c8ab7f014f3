"""Order entry over the trade socket (``/v5/trade``): every request is an awaitable.

``await client.submit_new_order(category="linear", symbol="BTCUSDT", ...)`` sends one
``order.create`` frame and returns the exchange's reply, or raises. What a market maker needs
to know about each failure is in the exception type (docs/decisions/trade-socket.md):

- :class:`BybitAPIError`: the exchange answered with a non-zero ``retCode``;
- :class:`RequestTimeoutError`: no answer in time; the order **may** have reached the exchange;
- :class:`ConnectionLostError`: the socket dropped; ``may_have_reached_exchange`` says whether
  the frame had been written. Nothing is ever resent automatically;
- :class:`InvalidParameterError`: refused locally (batch size, category, unserialisable value),
  nothing sent;
- :class:`AuthenticationError`: the auth op was refused (detected from ``retCode`` at once).

Requests made while the socket is down wait for the reconnect and re-auth, within the same
``request_timeout`` budget that covers the answer; if the budget runs out first they fail with
``ConnectionLostError(may_have_reached_exchange=False)``. ``X-BAPI-TIMESTAMP`` is taken when the
call is made, so the exchange's ``recv_window`` also caps how late a delayed order can act.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from heapq import heappop, heappush
from typing import Any, Final

import orjson

from .. import hosts
from ..auth import Signer, encode_body, ws_api_header, ws_auth_frame
from ..errors import (
    AuthenticationError,
    BybitAPIError,
    ConfigurationError,
    ConnectionLostError,
    InvalidParameterError,
    RequestTimeoutError,
)
from ..ratelimit import RateLimit, parse_rate_limit
from .connection import ReconnectPolicy, WsConnection

__all__ = ["BATCH_LIMITS", "RateLimit", "RateLimitsByOp", "WebsocketAPIClient", "WsApiResponse", "check_batch", "parse_rate_limit"]

log = logging.getLogger(__name__)

WS_KEY: Final = "v5_private_trade"
PATH: Final = "/v5/trade"
MAX_REQ_ID_LEN: Final = 36  # documented reqId limit

# Orders per batch request by category (PROTOCOL.md §6); spread has no trade-socket batch ops.
BATCH_LIMITS: Final[Mapping[str, int]] = {"linear": 20, "inverse": 20, "option": 20, "spot": 10}
BATCH_OPS: Final = frozenset({"order.create-batch", "order.amend-batch", "order.cancel-batch"})


class WsApiResponse(dict):
    """The exchange's reply envelope (``reqId, retCode, retMsg, op, data, retExtInfo, header``).

    A plain dict plus ``rate_limit``: the op's limit state carried by this reply (None when the
    header lacks it), parsed on first access so the hot path never pays for it.
    Batch replies keep per-item results index-aligned in ``data.list`` and ``retExtInfo.list``:
    the top-level ``retCode`` is 0 even when items fail (see :meth:`item_errors`).
    """

    __slots__ = ()

    @property
    def rate_limit(self) -> RateLimit | None:
        return parse_rate_limit(self.get("header"))

    @property
    def data(self) -> Any:
        return self.get("data")

    def item_errors(self) -> list[tuple[int, int, str]]:
        """Failed items of a batch reply as ``(index, code, msg)``; empty when all succeeded."""
        ext = self.get("retExtInfo")
        items = ext.get("list") if isinstance(ext, Mapping) else None
        if not isinstance(items, list):
            return []
        return [
            (i, int(item.get("code", 0)), str(item.get("msg", "")))
            for i, item in enumerate(items)
            if isinstance(item, Mapping) and item.get("code", 0) not in (0, "0")
        ]


class RateLimitsByOp(Mapping[str, RateLimit]):
    """``client.rate_limits[op]``: the limit state of each op from its latest reply header.

    Stores the header as received and parses on access (reads are rare, replies are not). An op
    whose latest reply carried no parseable triple is absent.
    """

    __slots__ = ("_headers",)

    def __init__(self) -> None:
        self._headers: dict[str, Mapping[str, Any]] = {}

    def __getitem__(self, op: str) -> RateLimit:
        rate_limit = parse_rate_limit(self._headers[op])
        if rate_limit is None:
            raise KeyError(op)
        return rate_limit

    def __iter__(self) -> Iterator[str]:
        return (op for op, header in list(self._headers.items()) if parse_rate_limit(header) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"RateLimitsByOp({dict(self.items())!r})"


def _merge(params: Mapping[str, Any] | None, kwargs: dict[str, Any]) -> Mapping[str, Any]:
    """Parameters given as a dict, keyword arguments, or both (keywords win)."""
    if params is None:
        return kwargs
    if not isinstance(params, Mapping):
        raise InvalidParameterError(f"request parameters must be a mapping, not {type(params).__name__}")
    return {**params, **kwargs} if kwargs else params


def check_batch(op: str, params: Mapping[str, Any]) -> None:
    """Refuse a batch the exchange would refuse: category missing/unsupported, empty or too long."""
    category = params.get("category")
    if category is None:
        raise InvalidParameterError(f"{op}: category is required for batch requests")
    limit = BATCH_LIMITS.get(category) if isinstance(category, str) else None
    if limit is None:
        raise InvalidParameterError(f"{op}: category {category!r} has no batch orders; expected one of {sorted(BATCH_LIMITS)}")
    orders = params.get("request")
    if isinstance(orders, (str, bytes, Mapping)) or not isinstance(orders, Sequence):
        raise InvalidParameterError(f"{op}: request must be a list of order mappings")
    if not orders:
        raise InvalidParameterError(f"{op}: empty batch")
    if len(orders) > limit:
        raise InvalidParameterError(f"{op}: {len(orders)} orders exceed the {category} batch limit of {limit}")
    for i, order in enumerate(orders):
        if not isinstance(order, Mapping):
            raise InvalidParameterError(f"{op}: request[{i}] must be a mapping, not {type(order).__name__}")


def _lost(message: str, may_have_reached_exchange: bool) -> ConnectionLostError:
    return ConnectionLostError(message, may_have_reached_exchange=may_have_reached_exchange)


class WebsocketAPIClient:
    """Order entry over Bybit's trade socket, one awaitable per request.

    Authenticates on every (re)connect; connects lazily on the first request unless
    :meth:`connect` (or ``async with``) is used. Demo trading has no trade socket:
    constructing with ``demo_trading=True`` raises :class:`ConfigurationError`.

    ``ws_url``: base URL (``ws://127.0.0.1:9000``) or ``{"v5_private_trade": full_url}``.
    ``request_timeout`` (s) bounds each request, including any wait for a reconnect.
    ``time_offset_ms`` is added to local time in ``X-BAPI-TIMESTAMP`` and the auth ``expires``
    (settable later, e.g. from the REST client's time sync). ``reconnect``, ``ping_interval``
    and ``pong_timeout`` go to the connection layer (:class:`~bybitfast.ws.connection.WsConnection`).
    """

    def __init__(
        self,
        key: str,
        secret: str,
        *,
        testnet: bool = False,
        demo_trading: bool = False,
        api_region: str | None = None,
        ws_url: str | Mapping[str, str] | None = None,
        request_timeout: float = 10.0,
        recv_window: int = 5000,
        referer: str | None = None,
        auth_expires_after: float = 5.0,
        reconnect: ReconnectPolicy | None = None,
        ping_interval: float = 20.0,
        pong_timeout: float = 10.0,
        time_offset_ms: int = 0,
    ) -> None:
        if not key or not secret or not isinstance(key, str) or not isinstance(secret, str):
            raise ConfigurationError("WebsocketAPIClient needs an API key and secret")
        if request_timeout <= 0:
            raise ConfigurationError("request_timeout must be > 0")
        if auth_expires_after <= 0:
            raise ConfigurationError("auth_expires_after must be > 0")
        if not isinstance(recv_window, int) or isinstance(recv_window, bool) or recv_window <= 0:
            raise ConfigurationError("recv_window must be a positive int (ms)")
        self.url = hosts.ws_url(WS_KEY, testnet=testnet, demo_trading=demo_trading, api_region=api_region, ws_url=ws_url)
        self.api_key = key
        self._signer = Signer(secret)
        self.request_timeout = float(request_timeout)
        self.recv_window = recv_window
        self.referer = referer
        self.auth_expires_after = float(auth_expires_after)
        self.time_offset_ms = int(time_offset_ms)  # added to local time in timestamps (time sync)
        self.rate_limits = RateLimitsByOp()  # op -> RateLimit from its latest reply
        self._rl_headers = self.rate_limits._headers  # noqa: SLF001 - written per reply
        self._reconnect = reconnect
        self._ping_interval = ping_interval
        self._pong_timeout = pong_timeout

        self._conn: WsConnection | None = None
        self._closed = False
        self._ready = False  # socket open and authenticated
        self._auth_error: AuthenticationError | None = None  # last auth refusal, until an auth succeeds
        self._auth_future: asyncio.Future[dict[str, Any]] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}  # reqId -> reply, written frames only
        self._waiters: set[asyncio.Future[None]] = set()  # requests waiting for (re)connect + auth
        # Timeouts: one heap of (deadline, reqId, op) and one loop timer armed at its head, instead
        # of a TimerHandle per request (~1 us each on uvloop, the largest per-request cost measured).
        self._deadlines: list[tuple[float, str, str]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._connect_lock = asyncio.Lock()
        # reqId = random per-client prefix + counter: unique, short (<= 31 chars), one int add per request.
        self._id_prefix = "bf" + os.urandom(4).hex() + "-"
        self._counter = 0
        self._build_templates()

    # ---- frame templates -------------------------------------------------------------------
    def _build_templates(self) -> None:
        """Split the header (built by auth.ws_api_header) around its timestamp, once per client.

        A request frame is then one ``bytes.join`` of constants, the reqId, the timestamp and
        the orjson body: ``{"reqId":..,"header":{..},"op":..,"args":[body]}``.
        """
        sentinel = 987654321987654321
        header = orjson.dumps(ws_api_header(sentinel, self.recv_window, self.referer))
        mark = b'"%d"' % sentinel
        if header.count(mark) != 1:
            raise ConfigurationError("unexpected trade-socket header layout")
        before, after = header.split(mark)
        self._head = b'{"reqId":"'
        self._mid = b'","header":' + before + b'"'
        self._after_ts = b'"' + after
        self._tails: dict[str, bytes] = {}

    def _tail(self, op: str) -> bytes:
        tail = self._tails.get(op)
        if tail is None:
            tail = self._after_ts + b',"op":' + orjson.dumps(op) + b',"args":['
            self._tails[op] = tail
        return tail

    def next_req_id(self) -> str:
        """A fresh request id (also usable by callers that log ids before sending)."""
        self._counter += 1
        return f"{self._id_prefix}{self._counter}"

    def _timestamp_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.time_offset_ms

    # ---- lifecycle -------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """True when a request sent now goes straight out (socket open and authenticated)."""
        return self._ready

    @property
    def in_flight(self) -> int:
        """Requests written and not yet answered."""
        return len(self._pending)

    async def connect(self) -> None:
        """Open the socket and authenticate; raises :class:`AuthenticationError` if refused."""
        self._closed = False
        async with self._connect_lock:
            conn = self._conn
            if conn is not None and not conn.closed:
                if not self._ready:
                    await self._await_ready(asyncio.get_running_loop().time() + self.request_timeout)
                return
            conn = WsConnection(
                WS_KEY,
                self.url,
                on_message=self._on_message,
                on_event=self._on_event,
                on_connected=self._on_connected,
                on_disconnected=self._on_disconnected,
                ping_interval=self._ping_interval,
                pong_timeout=self._pong_timeout,
                connect_timeout=self.request_timeout,
                reconnect=self._reconnect,
            )
            self._conn = conn
            try:
                await conn.open()  # raises what on_connected raised (AuthenticationError) as is
            except BaseException as exc:
                self._conn = None
                self._ready = False
                # Requests that queued behind this connect fail with it, unsent.
                self._fail_waiters(lambda: _lost(f"trade socket connect failed ({exc!r}); request not sent", False))
                await conn.close()
                raise

    async def close(self) -> None:
        """Close the socket. Unanswered requests fail with ConnectionLostError; no task is left."""
        self._closed = True
        self._ready = False
        conn, self._conn = self._conn, None
        self._fail_pending("client closed", may_have_reached_exchange=True)
        self._fail_waiters(lambda: _lost("client closed before the request was sent", False))
        self._fail_auth(_lost("client closed during auth", False))
        self._disarm()
        if conn is not None:
            await conn.close()

    async def __aenter__(self) -> WebsocketAPIClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---- connection callbacks ------------------------------------------------------------
    async def _on_connected(self, conn: WsConnection) -> None:
        """Authenticate a fresh socket (every reconnect); raise at once if refused."""
        self._ready = False
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._auth_future = fut
        expires = self._timestamp_ms() + int(self.auth_expires_after * 1000)
        conn.send(ws_auth_frame(self.api_key, self._signer, expires))
        try:
            reply = await asyncio.wait_for(fut, self.request_timeout)
        except TimeoutError:
            raise RequestTimeoutError(f"trade socket auth not answered within {self.request_timeout:g} s") from None
        finally:
            if self._auth_future is fut:
                self._auth_future = None
        code = reply.get("retCode")
        if code != 0:
            err = AuthenticationError(f"trade socket auth refused: retCode {code}: {reply.get('retMsg', '')}")
            self._auth_error = err
            self._fail_waiters(lambda: AuthenticationError(str(err)))
            raise err
        self._auth_error = None
        if conn is self._conn and not self._closed:
            self._ready = True
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters.clear()

    def _on_disconnected(self, conn: WsConnection, exc: BaseException | None) -> None:
        if conn is not self._conn:
            return
        self._ready = False
        reason = f"trade socket dropped ({exc!r})" if exc is not None else "trade socket dropped"
        self._fail_pending(reason, may_have_reached_exchange=True)
        self._fail_auth(_lost(reason + " during auth", False))

    def _on_event(self, event: str, info: dict) -> None:
        log.debug("trade socket %s %s", event, info)
        conn = self._conn
        if event == "close" and conn is not None and conn.closed:
            # The connection layer gave up reconnecting: fail waiters now; the next request
            # starts a fresh connect.
            self._conn = None
            self._ready = False
            reason = info.get("reason", "")
            self._fail_waiters(lambda: _lost(f"trade socket gave up reconnecting ({reason}); request not sent", False))

    def _on_message(self, conn: WsConnection, data: bytes) -> None:
        """Match a reply to its request by reqId; resolve the auth future; ignore the rest."""
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.warning("trade socket: undecodable frame (%d bytes) ignored", len(data))
            return
        if type(msg) is not dict:
            return
        req_id = msg.get("reqId")
        if type(req_id) is str:
            fut = self._pending.pop(req_id, None)
            if fut is not None:
                if not fut.done():
                    fut.set_result(msg)
                return
        op = msg.get("op")
        if op == "auth":
            fut = self._auth_future
            if fut is not None and not fut.done():
                fut.set_result(msg)
        elif op != "pong" and op != "ping":
            # Late reply to a timed-out/cancelled request, or an unsolicited error frame.
            log.debug("trade socket: unmatched frame op=%r reqId=%r retCode=%r", op, req_id, msg.get("retCode"))

    def _fail_pending(self, reason: str, *, may_have_reached_exchange: bool) -> None:
        pending, self._pending = self._pending, {}
        self._disarm()
        for req_id, fut in pending.items():
            if not fut.done():
                fut.set_exception(
                    _lost(
                        f"{reason} with request {req_id} in flight; its effect is unknown: confirm it "
                        "(order stream or REST) before resending",
                        may_have_reached_exchange,
                    )
                )

    def _fail_waiters(self, make_error: Any) -> None:
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(make_error())

    def _fail_auth(self, error: BaseException) -> None:
        fut = self._auth_future
        if fut is not None and not fut.done():
            fut.set_exception(error)

    async def _await_ready(self, deadline: float) -> None:
        """Wait for the socket to be open and authenticated (lazy connect or reconnect)."""
        if self._closed:
            raise _lost("client is closed; request not sent", False)
        loop = asyncio.get_running_loop()
        if self._conn is None:  # first request (lazy connect) or after a failed connect
            try:
                await asyncio.wait_for(self.connect(), max(0.0, deadline - loop.time()))
            except TimeoutError:  # also the layer's connect timeout (RequestTimeoutError)
                raise _lost(f"trade socket not connected within {self.request_timeout:g} s; request not sent", False) from None
            return
        if self._auth_error is not None:  # the socket re-auths with backoff; fail fast meanwhile
            raise AuthenticationError(str(self._auth_error))
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise _lost(
                f"trade socket not (re)connected within {self.request_timeout:g} s; request not sent", False
            ) from None
        finally:
            self._waiters.discard(waiter)

    # ---- requests ----------------------------------------------------------------------------
    async def send_ws_api_request(
        self, op: str, params: Mapping[str, Any] | None = None, /, **kwargs: Any
    ) -> WsApiResponse:
        """Send any trade-socket op (``order.create``...) with REST-body ``params``; await the reply.

        Raises BybitAPIError on a non-zero retCode (method=op, path="/v5/trade").
        """
        if not isinstance(op, str) or not op:
            raise InvalidParameterError(f"op must be a non-empty string, not {op!r}")
        merged = _merge(params, kwargs)
        if op in BATCH_OPS:
            check_batch(op, merged)
        return await self._request(op, merged)

    async def _request(self, op: str, params: Mapping[str, Any]) -> WsApiResponse:
        body = encode_body(params)  # InvalidParameterError before anything is sent
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout
        timestamp = self._timestamp_ms()  # when the user asked: recv_window bounds a delayed send
        self._counter += 1
        req_id = f"{self._id_prefix}{self._counter}"
        tail = self._tails.get(op) or self._tail(op)
        frame = b"".join((self._head, req_id.encode(), self._mid, b"%d" % timestamp, tail, body, b"]}"))
        fut: asyncio.Future[dict[str, Any]] = loop.create_future()
        while True:
            if not self._ready:
                await self._await_ready(deadline)
            conn = self._conn
            if conn is None:  # closed while we waited
                raise _lost("client is closed; request not sent", False)
            self._pending[req_id] = fut  # registered before the frame can be answered
            try:
                conn.send(frame)
                break
            except ConnectionLostError as exc:
                self._pending.pop(req_id, None)
                if exc.may_have_reached_exchange or self._closed:
                    raise
                # The socket died and the connection layer has not told us yet: nothing was
                # written, so wait for the reconnect like any request made while disconnected.
                self._ready = False
            except BaseException as exc:
                self._pending.pop(req_id, None)
                raise _lost(f"{op} request {req_id} could not be written: {exc!r}", False) from exc
        heappush(self._deadlines, (deadline, req_id, op))
        if deadline < self._timer_at:
            self._arm(loop, deadline)
        try:
            msg = await fut
        except BaseException:
            self._pending.pop(req_id, None)  # cancelled by the caller: forget it
            raise
        header = msg.get("header")
        if header:
            self._rl_headers[op] = header
        code = msg.get("retCode")
        if code != 0:
            raise BybitAPIError(
                code if isinstance(code, int) else -1,
                str(msg.get("retMsg", "")),
                method=op,
                path=PATH,
                parameters=params,
                rate_limit=parse_rate_limit(header),
                response=msg,
            )
        return WsApiResponse(msg)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = loop.call_at(when, self._sweep, loop)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = float("inf")
        self._deadlines.clear()

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Fail every request past its deadline; answered ones just leave the heap."""
        self._timer = None
        self._timer_at = float("inf")
        now = loop.time() + 0.001  # loop timers may fire up to a clock tick early
        heap, pending = self._deadlines, self._pending
        while heap and heap[0][0] <= now:
            _, req_id, op = heappop(heap)
            fut = pending.pop(req_id, None)
            if fut is not None and not fut.done():
                fut.set_exception(
                    RequestTimeoutError(
                        f"{op} request {req_id} not answered within {self.request_timeout:g} s; the order may "
                        "have reached the exchange: confirm it (order stream or REST) before resending"
                    )
                )
        if heap:
            self._arm(loop, heap[0][0])

    # ---- order ops (bybit-api names) -------------------------------------------------------
    async def submit_new_order(self, params: Mapping[str, Any] | None = None, /, **kwargs: Any) -> WsApiResponse:
        """``order.create`` (REST ``/v5/order/create`` body)."""
        return await self._request("order.create", _merge(params, kwargs))

    async def amend_order(self, params: Mapping[str, Any] | None = None, /, **kwargs: Any) -> WsApiResponse:
        """``order.amend`` (REST ``/v5/order/amend`` body)."""
        return await self._request("order.amend", _merge(params, kwargs))

    async def cancel_order(self, params: Mapping[str, Any] | None = None, /, **kwargs: Any) -> WsApiResponse:
        """``order.cancel`` (REST ``/v5/order/cancel`` body)."""
        return await self._request("order.cancel", _merge(params, kwargs))

    async def batch_submit_orders(
        self, category: str | Mapping[str, Any] | None = None, orders: Sequence[Mapping[str, Any]] | None = None, **kwargs: Any
    ) -> WsApiResponse:
        """``order.create-batch``: up to 20 orders (10 spot), checked before sending."""
        return await self._batch("order.create-batch", category, orders, kwargs)

    async def batch_amend_orders(
        self, category: str | Mapping[str, Any] | None = None, orders: Sequence[Mapping[str, Any]] | None = None, **kwargs: Any
    ) -> WsApiResponse:
        """``order.amend-batch``: up to 20 amends (10 spot), checked before sending."""
        return await self._batch("order.amend-batch", category, orders, kwargs)

    async def batch_cancel_orders(
        self, category: str | Mapping[str, Any] | None = None, orders: Sequence[Mapping[str, Any]] | None = None, **kwargs: Any
    ) -> WsApiResponse:
        """``order.cancel-batch``: up to 20 cancels (10 spot), checked before sending."""
        return await self._batch("order.cancel-batch", category, orders, kwargs)

    async def _batch(
        self, op: str, category: Any, orders: Sequence[Mapping[str, Any]] | None, kwargs: dict[str, Any]
    ) -> WsApiResponse:
        # Accepted shapes: (category, orders), ({"category", "request"}), (category=, orders=|request=).
        if isinstance(category, Mapping):
            params = dict(category)
            params.update(kwargs)
        else:
            params = dict(kwargs)
            if category is not None:
                params["category"] = category
        if orders is not None:
            params["request"] = orders
        elif "orders" in params:
            params["request"] = params.pop("orders")
        check_batch(op, params)
        params["request"] = list(params["request"])
        return await self._request(op, params)
