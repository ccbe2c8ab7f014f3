"""The emulator: one aiohttp server on one loopback port, REST and WebSocket.

REST pipeline, in the order the exchange applies it: armed faults (delay, forced failures) ->
route lookup (every verb+path of the V5 endpoint table is served; anything else is HTTP 404) ->
for private routes: auth (headers, time window, key, signature over the raw bytes received) and
the per-account, per-endpoint rolling 1 s rate limit -> handler -> V5 envelope.

WebSocket paths: ``/v5/public/{spot,linear,inverse,option}`` (public.py), ``/v5/private``
(private.py), ``/v5/trade`` (trade.py).

``async with Emulator() as ex:`` then point a client at ``ex.rest_url`` / ``ex.ws_url``;
:func:`serve` runs one until cancelled (the CLI uses it).
"""

from __future__ import annotations

import asyncio
import collections
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from . import asset_rest, market_rest, private, public, trade, trading_rest  # noqa: F401 - asset_rest registers handlers
from .auth import KeyStore, authenticate_rest, sign_error
from .common import DEFAULT_API_KEY, DEFAULT_API_SECRET, ApiError, RequestContext, envelope, now_ms
from .exchange import Exchange
from .faults import Faults
from .market import Market
from .routes import ROUTES

Handler = Callable[[Any, RequestContext], Awaitable[Any]]

PUBLIC_WS_CATEGORIES = ("spot", "linear", "inverse", "option")
RSA_API_KEY = "rsa_api_key"

# Per-UID per-endpoint limits (requests per rolling second), PROTOCOL §3.4 defaults for UTA Pro.
# (spot, option, linear/inverse); endpoints not listed get DEFAULT_LIMIT (not documented as one
# number by Bybit: an inferred, conservative value).
_TRADE_LIMITS: dict[str, tuple[int, int, int]] = {
    "/v5/order/create": (20, 10, 10),
    "/v5/order/amend": (10, 10, 10),
    "/v5/order/cancel": (20, 10, 10),
    "/v5/order/cancel-all": (20, 1, 10),
    "/v5/order/create-batch": (20, 10, 10),
    "/v5/order/amend-batch": (20, 10, 10),
    "/v5/order/cancel-batch": (20, 10, 10),
}
_FLAT_LIMITS: dict[str, int] = {
    "/v5/order/realtime": 50,
    "/v5/order/history": 50,
    "/v5/execution/list": 50,
    "/v5/position/list": 50,
    "/v5/account/wallet-balance": 50,
    "/v5/position/set-leverage": 10,
    "/v5/position/trading-stop": 10,
    "/v5/account/fee-rate": 5,
}
DEFAULT_LIMIT = 20
REQUEST_LOG_LIMIT = 100_000


class RateLimiter:
    """Rolling one-second windows per (uid, endpoint, category group), shared by REST and /v5/trade."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._hits: dict[tuple[str, str, str], collections.deque[int]] = {}

    @staticmethod
    def limit_for(path: str, category: Any) -> tuple[int, str]:
        """(limit, bucket) of an endpoint; trade endpoints have one bucket per category group."""
        trade_limits = _TRADE_LIMITS.get(path)
        if trade_limits is not None:
            if category == "spot":
                return trade_limits[0], "spot"
            if category == "option":
                return trade_limits[1], "option"
            return trade_limits[2], "contract"
        return _FLAT_LIMITS.get(path, DEFAULT_LIMIT), ""

    def hit(self, uid: str, path: str, category: Any, now: int | None = None) -> tuple[bool, int, int, int]:
        """Count one request: (allowed, limit, remaining, reset_timestamp_ms).

        A refused request is not counted. With limits disabled the headers are still computed
        (clients parse them) but nothing is refused.
        """
        now = now_ms() if now is None else now
        limit, bucket = self.limit_for(path, category)
        key = (uid, path, bucket)
        window = self._hits.get(key)
        if window is None:
            window = self._hits[key] = collections.deque()
        while window and window[0] <= now - 1000:
            window.popleft()
        if len(window) >= limit:
            if self.enabled:
                return False, limit, 0, window[0] + 1000
            window.popleft()
        window.append(now)
        return True, limit, max(limit - len(window), 0), now

    def headers(self, allowed: bool, limit: int, remaining: int, reset: int) -> dict[str, str]:
        return {
            "X-Bapi-Limit": str(limit),
            "X-Bapi-Limit-Status": str(remaining),
            "X-Bapi-Limit-Reset-Timestamp": str(reset),
        }


def _load_handlers() -> dict[tuple[str, str], Handler]:
    return {**trading_rest.HANDLERS, **market_rest.HANDLERS}


class Emulator:
    """A local Bybit V5 exchange (see the module docstring)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        api_secret: str = DEFAULT_API_SECRET,
        rsa_public_key: str | None = None,
        seed: int = 1,
        symbols: dict[str, list[str]] | None = None,
        rate_limits: bool = True,
        latency: float = 0.0,
        market_interval: float = 0.05,
        steps_per_tick: int = 1,
        fast_market: bool = False,
    ) -> None:
        """``market_interval``: seconds between price-process ticks (0 = manual ``ex.market.step()``);
        ``steps_per_tick``: steps per tick; ``fast_market``: step flat out instead of on a timer
        (benchmarks: as fast as the sockets take frames)."""
        if latency < 0:
            raise ValueError("latency must be >= 0")
        self.host = host
        self.port = port
        self.seed = seed
        self.latency = latency
        self.market = Market(seed=seed, symbols=symbols, interval=market_interval, steps_per_tick=steps_per_tick)
        self.fast_market = fast_market
        self.faults = Faults()
        self.exchange = Exchange(self.market, seed=seed)
        self.keys = KeyStore()
        self.limiter = RateLimiter(rate_limits)
        # Every REST request, newest last; trimmed by half past REQUEST_LOG_LIMIT so a long-running
        # emulator does not grow without bound (tests slice from a remembered length well within it).
        self.request_log: list[dict[str, Any]] = []
        self.handlers = _load_handlers()
        self.routes: dict[tuple[str, str], tuple[str, str]] = {(v, p): (a, g) for v, p, a, g in ROUTES}
        self.sockets: set[Any] = set()  # every open ServerSocket (private, trade; public registers too if it wants)
        self.api_key = api_key
        self.uid = self.exchange.create_account().uid
        self.keys.add(api_key, self.uid, api_secret)
        if rsa_public_key is not None:
            self.keys.add(RSA_API_KEY, self.uid, rsa_public_key=rsa_public_key)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.rest_url = ""
        self.ws_url = ""

    @property
    def rate_limits(self) -> bool:
        return self.limiter.enabled

    @rate_limits.setter
    def rate_limits(self, value: bool) -> None:
        self.limiter.enabled = value

    def add_api_key(self, api_key: str, secret: str | None = None, *, rsa_public_key: str | None = None, uid: str | None = None) -> None:
        """Register a key (HMAC secret or RSA public key PEM); a new funded account unless ``uid`` names one."""
        if uid is None or uid not in self.exchange.accounts:
            uid = self.exchange.create_account(uid).uid
        self.keys.add(api_key, uid, secret, rsa_public_key=rsa_public_key)

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=4 << 20)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        server = self._site._server  # noqa: SLF001 - the only way to learn the bound port
        assert server is not None
        sock = server.sockets[0]  # type: ignore[attr-defined]
        self.port = sock.getsockname()[1]
        host = self.host if ":" not in self.host else f"[{self.host}]"
        self.rest_url = f"http://{host}:{self.port}"
        self.ws_url = f"ws://{host}:{self.port}"
        await self.market.start(fast=self.fast_market)

    async def stop(self) -> None:
        await self.market.stop()
        await asyncio.gather(*(_close_socket(sock) for sock in list(self.sockets)))
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- dispatch ----------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket":
            if path == "/v5/private":
                return await private.handle(self, request)
            if path == "/v5/trade":
                return await trade.handle(self, request)
            if path.startswith("/v5/public/"):
                category = path[len("/v5/public/") :]
                if category in PUBLIC_WS_CATEGORIES:
                    return await public.handle(self, request, category)
            return web.Response(status=404, text="404 page not found")
        return await self._rest(request)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        method = request.method
        path = request.path
        raw_path = request.raw_path
        raw_query = raw_path.split("?", 1)[1] if "?" in raw_path else ""
        body = await request.read() if method == "POST" else b""
        route = self.routes.get((method, path))
        private_route = route is not None and route[0] == "private"
        log: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": raw_query,
            "private": private_route,
            "auth_ok": False,
            "ret_code": -1,
            "http_status": 200,
        }
        request_log = self.request_log
        request_log.append(log)
        if len(request_log) > REQUEST_LOG_LIMIT:
            del request_log[: REQUEST_LOG_LIMIT // 2]
        try:
            return await self._answer(request, method, path, raw_query, body, route, private_route, log)
        finally:
            if self.latency:
                await asyncio.sleep(self.latency)

    async def _answer(
        self,
        request: web.Request,
        method: str,
        path: str,
        raw_query: str,
        body: bytes,
        route: tuple[str, str] | None,
        private_route: bool,
        log: dict[str, Any],
    ) -> web.StreamResponse:
        faults = self.faults
        if faults.response_delay:
            faults.record("delay", path, seconds=faults.response_delay)
            await asyncio.sleep(faults.response_delay)
        kind = faults.take_rest_failure(path)
        if kind is not None:
            return self._fault_response(kind, log)
        if route is None:
            log["http_status"] = 404
            return web.Response(status=404, text="404 page not found")
        extra_headers: dict[str, str] = {"Traceid": uuid.uuid4().hex, "Timenow": str(now_ms())}
        uid: str | None = None
        api_key: str | None = None
        try:
            signed = body if method == "POST" else raw_query.encode()
            # Auth is checked on the raw bytes before anything is decoded (multipart bodies too).
            multipart = request.content_type.startswith("multipart/")
            if private_route:
                key_header = request.headers.get("X-BAPI-API-KEY", "")
                if faults.take_auth_rejection(path):
                    raise sign_error(key_header, request.headers, signed)
                entry = authenticate_rest(self.keys, request.headers, signed, now_ms())
                uid, api_key = entry.uid, entry.api_key
                log["auth_ok"] = True
            params = {} if multipart else self._decode_params(method, raw_query, body)
            if uid is not None:
                allowed, limit, remaining, reset = self.limiter.hit(uid, path, params.get("category"))
                extra_headers.update(self.limiter.headers(allowed, limit, remaining, reset))
                if not allowed:
                    raise ApiError(10006, "Too many visits!")
            ctx = RequestContext(method, path, params, uid=uid, api_key=api_key, headers=request.headers)
            handler = self.handlers.get((method, path)) or trading_rest.generic_handler(method, path)
            result = await handler(self, ctx)
            ext = None
            if isinstance(result, tuple):  # batch endpoints: (result, retExtInfo)
                result, ext = result
            payload = envelope(result, ext=ext)
        except ApiError as err:
            payload = envelope(code=err.code, msg=err.msg)
            log["ret_code"] = err.code
            log["http_status"] = err.http_status
            return self._json(payload, err.http_status, extra_headers)
        log["ret_code"] = 0
        return self._json(payload, 200, extra_headers)

    @staticmethod
    def _decode_params(method: str, raw_query: str, body: bytes) -> dict[str, Any]:
        if method == "POST":
            if not body.strip():
                return {}
            try:
                params = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise ApiError(10001, "params error: request body is not valid JSON") from None
            if not isinstance(params, dict):
                raise ApiError(10001, "params error: request body must be a JSON object")
            return params
        return dict(parse_qsl(raw_query, keep_blank_values=True))

    def _fault_response(self, kind: str, log: dict[str, Any]) -> web.Response:
        if kind == "10002":
            now = now_ms()
            msg = (
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{now - 6000}],server_timestamp[{now}],recv_window[5000]"
            )
            log["ret_code"] = 10002
            return self._json(envelope(code=10002, msg=msg), 200, {})
        if kind == "10006":
            now = now_ms()
            log["ret_code"] = 10006
            headers = {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "0", "X-Bapi-Limit-Reset-Timestamp": str(now + 1000)}
            return self._json(envelope(code=10006, msg="Too many visits!"), 200, headers)
        status = int(kind)
        log["http_status"] = status
        reason = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        return web.Response(status=status, text=f"<html><body><h1>{status} {reason.get(status, '')}</h1></body></html>", content_type="text/html")

    @staticmethod
    def _json(payload: dict[str, Any], status: int, headers: dict[str, str]) -> web.Response:
        return web.Response(body=orjson.dumps(payload), status=status, headers=headers, content_type="application/json")


async def _close_socket(sock: Any, timeout: float = 1.0) -> None:
    """Close one socket gracefully, or cut it: a paused transport (the peer reads nothing) can never
    flush a close frame, and a peer that never answers the close must not hold up ``stop()``."""
    if sock.paused:
        sock.abort()
        return
    try:
        await asyncio.wait_for(sock.ws.close(), timeout)
    except Exception:  # noqa: BLE001 - already broken, or no close reply in time
        sock.abort()


async def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ready: Callable[[Emulator], None] | None = None,
    stop: asyncio.Event | None = None,
    **options: Any,
) -> None:
    """Run an emulator until ``stop`` is set (or the task is cancelled); ``ready(ex)`` once listening."""
    emulator = Emulator(host=host, port=port, **options)
    async with emulator:
        if ready is not None:
            ready(emulator)
        if stop is None:
            await asyncio.Event().wait()
        else:
            await stop.wait()
