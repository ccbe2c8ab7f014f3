"""RestClientV5: every Bybit V5 REST endpoint over one pooled keep-alive aiohttp session.

Per request the client encodes the parameters once (:mod:`bybitfast.auth`), signs exactly the
bytes it sends, and decodes the answer with orjson. Everything that does not change between
requests (URL objects, static headers, the signer, the key prefix) is computed once per endpoint.
The 411 endpoint methods come from :mod:`bybitfast.rest._methods`, generated from the endpoint table.

Errors: a non-zero ``retCode`` raises :class:`~bybitfast.errors.BybitAPIError` (unless
``return_envelopes``), a non-2xx status or a body that is not a JSON object
:class:`~bybitfast.errors.BybitHTTPError`, a connection failure
:class:`~bybitfast.errors.TransportError`, no answer in time
:class:`~bybitfast.errors.RequestTimeoutError`. No error, log line or repr carries the secret or
a signature: errors are built from the method, path and parameters only, never from headers.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import orjson
from yarl import URL

from .. import hosts
from ..auth import Signer, encode_body, encode_query
from ..errors import (
    BybitAPIError,
    BybitHTTPError,
    ConfigurationError,
    InvalidParameterError,
    RequestTimeoutError,
    TransportError,
)
from ._methods import EndpointMethods
from .endpoints import BY_NAME, MULTIPART_PATHS, Endpoint
from .ratelimit import RateLimit, RateLimits
from .timesync import LatencySummary, TimeSync

__all__ = ["RestClientV5"]

log = logging.getLogger("bybitfast.rest")
trace_log = logging.getLogger("bybitfast.rest.trace")

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_time_ns = time.time_ns
_REDACTED = "<redacted>"


def _mask(key: str | None) -> str | None:
    """A key shown in reprs and traces: enough to tell keys apart, not enough to use one."""
    if key is None:
        return None
    return key[:4] + "..." + key[-2:] if len(key) > 8 else "***"


def _env_trace() -> bool:
    return os.environ.get("BYBITFAST_TRACE", "").strip().lower() in ("1", "true", "yes", "on")


class _CustomSigner:
    """Adapter giving a user ``sign_message_fn(message, secret) -> str`` the Signer interface."""

    __slots__ = ("_fn", "_secret", "is_rsa")

    def __init__(self, fn: Callable[[str, str], str], secret: str) -> None:
        self._fn = fn
        self._secret = secret
        self.is_rsa = "PRIVATE KEY" in secret

    def sign(self, message: str) -> str:
        return self._fn(message, self._secret)

    def sign_bytes(self, message: bytes) -> str:
        try:
            text = message.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidParameterError("sign_message_fn cannot sign a binary (multipart) body") from None
        return self._fn(text, self._secret)

    def __repr__(self) -> str:
        return "_CustomSigner(<secret hidden>)"


class _Route:
    """What one endpoint needs per request, computed once per client."""

    __slots__ = ("name", "verb", "path", "url", "url_str", "signed", "is_get", "multipart", "headers")

    def __init__(self, base: str, name: str, verb: str, path: str, signed: bool, static_headers: dict[str, str]) -> None:
        self.name = name
        self.verb = verb
        self.path = path
        self.url_str = base + path
        self.url = URL(self.url_str, encoded=True)
        self.signed = signed
        self.is_get = verb == "GET"
        self.multipart = path in MULTIPART_PATHS
        # Shared by every unsigned request of this route; aiohttp copies it, never mutates it.
        self.headers = static_headers if self.is_get else {**static_headers, "Content-Type": "application/json"}


class RestClientV5(EndpointMethods):
    """Asynchronous Bybit V5 REST client with every endpoint of the reference SDK ``bybit-api``.

    Each endpoint is a method (``await client.get_tickers(category="linear")`` or one positional
    dict) returning the response envelope. Options mirror bybit-api's ``RestClientV5`` under Python
    names (PROTOCOL §8):

    - ``key``/``secret``: HMAC secret or PEM RSA private key (``rsa`` overrides the detection);
      ``sign_message_fn(message, secret)`` replaces the signer (customSignMessageFn).
    - ``testnet``, ``demo_trading``, ``api_region``, ``base_url``: ``base_url`` wins, then demo,
      then testnet, then region (hosts.py).
    - ``recv_window`` (ms, 5000); ``enable_time_sync`` (first signed request waits for a min-RTT
      sync, then every ``sync_interval`` s in the background); ``sync_before_private_requests``;
      with either, a 10002 answer triggers one resync and resend (``retry_on_recv_window_error``).
    - ``timeout`` (s, 300); ``return_envelopes`` (else a non-zero retCode raises BybitAPIError;
      bybit-api's throwExceptions inverted); ``strict_param_validation`` (None values raise instead
      of being dropped).
    - ``parse_rate_limits`` (X-Bapi-Limit* per endpoint, :meth:`get_rate_limit`);
      ``rate_limit_wait`` (hold a call while its endpoint reports 0 remaining before the reset).
    - ``referer`` (broker id header), ``headers`` (extra headers), ``session`` (your own aiohttp
      session, never closed by us), ``keep_alive``, ``max_connections``, ``trace`` (default: env
      ``BYBITFAST_TRACE=1``; requests and answers on the ``bybitfast.rest.trace`` logger, signature
      redacted).

    The aiohttp session is created on first use, inside the running loop. Use
    ``async with RestClientV5(...) as client`` or ``await client.close()``.
    """

    def __init__(
        self,
        key: str | None = None,
        secret: str | None = None,
        *,
        testnet: bool = False,
        demo_trading: bool = False,
        api_region: str | None = None,
        base_url: str | None = None,
        recv_window: int = 5000,
        enable_time_sync: bool = False,
        sync_interval: float = 3600.0,
        sync_before_private_requests: bool = False,
        sync_samples: int = 5,
        timeout: float = 300.0,
        return_envelopes: bool = False,
        rate_limit_wait: bool = False,
        parse_rate_limits: bool = True,
        strict_param_validation: bool = False,
        referer: str | None = None,
        headers: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
        keep_alive: bool = True,
        max_connections: int = 100,
        rsa: bool | None = None,
        sign_message_fn: Callable[[str, str], str] | None = None,
        retry_on_recv_window_error: bool = True,
        drift_warning_ms: float = 500.0,
        trace: bool | None = None,
    ) -> None:
        if (key is None) != (secret is None):
            raise ConfigurationError("give both key and secret, or neither (public endpoints only)")
        if sign_message_fn is not None and inspect.iscoroutinefunction(sign_message_fn):
            raise ConfigurationError("sign_message_fn must be synchronous: (message, secret) -> signature")

        self.base_url = hosts.rest_url(testnet=testnet, demo_trading=demo_trading, api_region=api_region, base_url=base_url)
        self.testnet = testnet
        self.demo_trading = demo_trading
        self.api_region = api_region
        self.enable_time_sync = enable_time_sync
        self.sync_interval = sync_interval
        self.sync_before_private_requests = sync_before_private_requests
        self.sync_samples = sync_samples
        self.return_envelopes = return_envelopes
        self.rate_limit_wait = rate_limit_wait
        self.parse_rate_limits = parse_rate_limits
        self.strict_param_validation = strict_param_validation
        self.retry_on_recv_window_error = retry_on_recv_window_error
        self.trace = _env_trace() if trace is None else trace

        self._key = key
        self._signer: Signer | _CustomSigner | None = None
        if secret is not None:
            self._signer = _CustomSigner(sign_message_fn, secret) if sign_message_fn else Signer(secret, rsa=rsa)
        self.recv_window = recv_window

        static = dict(hosts.rest_headers(api_region))
        if referer:
            static["Referer"] = referer
        if headers:
            static.update(headers)
        self._static_headers = static
        self._routes: dict[str, _Route] = {}
        self._external_session = session
        self._session: aiohttp.ClientSession | None = session
        self._keep_alive = keep_alive
        self._max_connections = max_connections
        self.timeout = timeout

        self.time = TimeSync(drift_warning_ms=drift_warning_ms)
        self.rate_limits = RateLimits(self.time.now_ms)
        # True while signed requests must first wait for a time sync.
        self._time_gate = sync_before_private_requests or enable_time_sync
        if self.trace:
            _enable_trace_output()

    # ---- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> RestClientV5:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop the background time sync and close the session (unless it was passed in)."""
        await self.time.stop()
        session, self._session = self._session, self._external_session
        if session is not None and session is not self._external_session:
            await session.close()
        self._time_gate = self.sync_before_private_requests or self.enable_time_sync

    def __repr__(self) -> str:
        kind = "none" if self._signer is None else ("rsa" if self._signer.is_rsa else "hmac")
        return f"RestClientV5(base_url={self.base_url!r}, key={_mask(self._key)!r}, signer={kind!r}, recv_window={self.recv_window})"

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, ttl_dns_cache=300, force_close=not self._keep_alive, keepalive_timeout=60.0
        )
        return aiohttp.ClientSession(connector=connector, timeout=self._client_timeout, headers={"User-Agent": "bybitfast"})

    # ---- public helpers ---------------------------------------------------------------------
    @property
    def key(self) -> str | None:
        return self._key

    @property
    def recv_window(self) -> int:
        """Milliseconds a signed request stays valid after its timestamp (X-BAPI-RECV-WINDOW)."""
        return self._recv_window

    @recv_window.setter
    def recv_window(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigurationError(f"recv_window must be a positive int (ms), got {value!r}")
        self._recv_window = value
        self._rw_str = str(value)
        self._key_rw = f"{self._key}{value}"  # signed payload = timestamp + key + recv_window + X

    @property
    def timeout(self) -> float:
        """Seconds allowed for one request (connect, send, answer)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        if not value > 0:
            raise ConfigurationError(f"timeout must be positive, got {value!r}")
        self._timeout = value
        self._client_timeout = aiohttp.ClientTimeout(total=value)

    @property
    def time_offset_ms(self) -> int:
        """Offset added to local time in signed timestamps."""
        return self.time.offset_ms

    def set_time_offset_ms(self, offset_ms: int) -> None:
        """Set the exchange-minus-local clock offset (ms) by hand."""
        self.time.set_offset_ms(offset_ms)

    def get_time_offset_ms(self) -> int:
        return self.time.offset_ms

    async def sync_time(self, samples: int | None = None) -> LatencySummary:
        """Measure the clock offset now (min-RTT of ``samples`` calls to /v5/market/time) and apply it."""
        return await self.time.sync(self._fetch_server_ms, samples or self.sync_samples)

    async def fetch_latency_summary(self, samples: int | None = None) -> dict[str, float | int | bool]:
        """Round trip, one-way estimate and clock offset (bybit-api ``fetchLatencySummary``); warns on skew > 500 ms."""
        return (await self.sync_time(samples)).as_dict()

    def get_rate_limit(self, endpoint: str) -> RateLimit | None:
        """Last ``{limit, remaining, reset_at_ms}`` reported for a path or method name."""
        route = BY_NAME.get(endpoint)
        return self.rate_limits.get(route.path if route else endpoint)

    async def request(self, method: str, path: str, params: Mapping[str, Any] | None = None, *, signed: bool = True) -> dict[str, Any]:
        """Call any path (one not in the endpoint table, say) through the same pipeline."""
        method = method.upper()
        if method not in ("GET", "POST"):
            raise InvalidParameterError(f"method must be GET or POST, got {method!r}")
        name = f"{method} {path} {signed}"
        route = self._routes.get(name)
        if route is None:
            route = self._routes[name] = _Route(self.base_url, name, method, path, signed, self._static_headers)
        return await self._request(route, dict(params or {}))

    # ---- the pipeline -----------------------------------------------------------------------
    def _route(self, name: str) -> _Route:
        ep: Endpoint = BY_NAME[name]
        route = self._routes[name] = _Route(self.base_url, name, ep.verb, ep.path, ep.signed, self._static_headers)
        return route

    async def _call(self, name: str, params: Mapping[str, Any] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Entry point of every generated endpoint method."""
        route = self._routes.get(name) or self._route(name)
        if params is None:
            params = kwargs
        elif not isinstance(params, Mapping):
            raise InvalidParameterError(f"{name}: parameters must be a mapping or keywords, got {type(params).__name__}")
        elif kwargs:
            params = {**params, **kwargs}
        return await self._request(route, params)

    async def _request(self, route: _Route, params: Mapping[str, Any]) -> dict[str, Any]:
        if self.rate_limit_wait:
            await self.rate_limits.wait(route.path)
        if route.signed and self._time_gate:
            await self._sync_before_private()
        url, body, headers = self._prepare(route, params)
        status, reason, resp_headers, raw = await self._send(route, url, body, headers)
        try:
            return self._finish(route, params, status, reason, resp_headers, raw)
        except BybitAPIError as exc:
            # 10002 = timestamp outside recv_window: the request was refused, so resync and resend once.
            if exc.ret_code != 10002 or not route.signed or not self.retry_on_recv_window_error or not (
                self.enable_time_sync or self.sync_before_private_requests
            ):
                raise
            log.warning("retCode 10002 on %s %s: resyncing the clock and resending once", route.verb, route.path)
            await self.sync_time()
        url, body, headers = self._prepare(route, params)
        status, reason, resp_headers, raw = await self._send(route, url, body, headers)
        return self._finish(route, params, status, reason, resp_headers, raw)

    def _prepare(self, route: _Route, params: Mapping[str, Any]) -> tuple[URL, bytes | None, Mapping[str, str]]:
        """Encode, sign and build headers: returns (url, body, headers). Raises before anything is sent."""
        if self.strict_param_validation and params:
            missing = [k for k, v in params.items() if v is None]
            if missing:
                raise InvalidParameterError(f"{route.path}: parameters set to None: {missing}")
        body: bytes | None
        if route.is_get:
            body = None
            if params:
                query = encode_query(params)
                url = URL(f"{route.url_str}?{query}", encoded=True) if query else route.url
            else:
                query = ""
                url = route.url
        else:
            url = route.url
            if route.multipart:
                body, content_type = _multipart(params)
            else:
                body = encode_body(params)
        if not route.signed:
            return url, body, route.headers
        signer = self._signer
        if signer is None:
            raise ConfigurationError(f"{route.path} is a private endpoint: the client needs key and secret")
        ts = str(_time_ns() // 1_000_000 + self.time.offset_ms)
        if body is None:
            sign = signer.sign(f"{ts}{self._key_rw}{query}")
        else:
            sign = signer.sign_bytes(f"{ts}{self._key_rw}".encode() + body)
        headers = {
            **route.headers,
            "X-BAPI-API-KEY": self._key,
            "X-BAPI-TIMESTAMP": ts,
            "X-BAPI-SIGN": sign,
            "X-BAPI-RECV-WINDOW": self._rw_str,
            "X-BAPI-SIGN-TYPE": "2",
        }
        if route.multipart:
            headers["Content-Type"] = content_type
        return url, body, headers  # type: ignore[return-value]

    async def _send(
        self, route: _Route, url: URL, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, str, Mapping[str, str], bytes]:
        """One HTTP exchange; maps aiohttp failures to our error classes (never echoing headers)."""
        session = self._session
        if session is None or session.closed:
            session = self._session = self._new_session()
        if self.trace:
            _trace_request(route, url, body, headers)
        try:
            resp = await session.request(route.verb, url, data=body, headers=headers, timeout=self._client_timeout)
            try:
                raw = await resp.read()
            finally:
                resp.release()
        except TimeoutError:
            raise RequestTimeoutError(
                f"no answer within {self.timeout} s on {route.verb} {route.path}"
                + ("; the request may have reached the exchange" if route.verb == "POST" else "")
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"{route.verb} {route.path} failed: {type(exc).__name__}: {_safe_exc_text(exc)}") from None
        if self.trace:
            _trace_response(route, resp.status, resp.headers, raw)
        return resp.status, resp.reason or "", resp.headers, raw

    def _finish(
        self, route: _Route, params: Mapping[str, Any], status: int, reason: str, headers: Mapping[str, str], raw: bytes
    ) -> dict[str, Any]:
        """Rate-limit bookkeeping, status and retCode checks, JSON decoding."""
        rate_limit = self.rate_limits.update(route.path, headers) if self.parse_rate_limits else None
        if not 200 <= status < 300:
            raise BybitHTTPError(status, reason, method=route.verb, path=route.path, body=raw[:2000].decode("utf-8", "replace"))
        try:
            envelope = _loads(raw)
        except _JSONDecodeError:
            raise BybitHTTPError(
                status, "response body is not JSON", method=route.verb, path=route.path, body=raw[:2000].decode("utf-8", "replace")
            ) from None
        if type(envelope) is not dict:
            raise BybitHTTPError(status, "response is not a JSON object", method=route.verb, path=route.path, body=raw[:2000].decode("utf-8", "replace"))
        code = envelope.get("retCode")
        if code is None:
            code = envelope.get("ret_code")  # a few legacy-shaped answers
        if code and not self.return_envelopes:
            raise BybitAPIError(
                code,
                envelope.get("retMsg", envelope.get("ret_msg", "")),
                method=route.verb,
                path=route.path,
                parameters=_loggable_params(route, params),
                rate_limit=rate_limit or self.rate_limits.get(route.path),
                response=envelope,
            )
        return envelope

    async def _sync_before_private(self) -> None:
        if self.sync_before_private_requests:
            await self.time.sync(self._fetch_server_ms, 1)
            return
        # enable_time_sync: the first signed request waits for the first sync; later ones run in the background.
        await self.time.sync(self._fetch_server_ms, self.sync_samples)
        self._time_gate = False
        self.time.start_periodic(self._fetch_server_ms, self.sync_interval, self.sync_samples)

    async def _fetch_server_ms(self) -> float:
        """Exchange time of one /v5/market/time answer, ms with sub-ms precision when available."""
        route = self._routes.get("get_server_time") or self._route("get_server_time")
        status, reason, headers, raw = await self._send(route, route.url, None, route.headers)
        envelope = self._finish(route, {}, status, reason, headers, raw)
        nano = (envelope.get("result") or {}).get("timeNano")
        if nano:
            return int(nano) / 1_000_000
        return float(envelope["time"])


# ---- multipart ------------------------------------------------------------------------------
def _multipart(params: Mapping[str, Any]) -> tuple[bytes, str]:
    """Body and Content-Type of a one-file multipart upload (``upload_file`` + optional ``filename``)."""
    upload = params.get("upload_file")
    if upload is None:
        raise InvalidParameterError("upload_p2p_chat_file needs upload_file (bytes, path or file object)")
    filename = params.get("filename")
    if isinstance(upload, (bytes, bytearray, memoryview)):
        data = bytes(upload)
    elif isinstance(upload, (str, os.PathLike)):
        path = Path(upload)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidParameterError(f"cannot read upload_file: {exc}") from None
        filename = filename or path.name
    elif hasattr(upload, "read"):
        data = _read_file(upload)
        filename = filename or os.path.basename(str(getattr(upload, "name", "")))
    else:
        raise InvalidParameterError(f"upload_file must be bytes, a path or a file object, not {type(upload).__name__}")
    if not filename:
        raise InvalidParameterError("upload_file needs a filename")
    if any(c in filename for c in '"\r\n'):
        raise InvalidParameterError("filename contains a quote or a line break")
    content_type = params.get("content_type") or "application/octet-stream"
    boundary = f"bybitfast-{uuid.uuid4().hex}"
    body = b"".join(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="upload_file"; filename="{filename}"\r\n'.encode(),
            f"Content-Type: {content_type}\r\n\r\n".encode(),
            data,
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
    return body, f"multipart/form-data; boundary={boundary}"


def _read_file(f: BinaryIO) -> bytes:
    data = f.read()
    return data.encode() if isinstance(data, str) else bytes(data)


def _loggable_params(route: _Route, params: Mapping[str, Any]) -> Mapping[str, Any]:
    if route.multipart:
        return {k: ("<binary>" if k == "upload_file" else v) for k, v in params.items()}
    return params


def _safe_exc_text(exc: BaseException) -> str:
    # aiohttp connection errors name host:port and the OS error; they never include our headers.
    return str(exc)[:300]


# ---- trace output (BYBITFAST_TRACE=1) -------------------------------------------------------
_trace_ready = False


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time (it may be replaced after setup)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001
        pass


def _enable_trace_output() -> None:
    """Send trace records to stderr unless the application configured the trace logger itself."""
    global _trace_ready
    if _trace_ready:
        return
    _trace_ready = True
    if not trace_log.handlers and trace_log.level == logging.NOTSET:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        trace_log.addHandler(handler)
        trace_log.setLevel(logging.DEBUG)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers fit for a log: signature removed, API key masked."""
    out = {}
    for k, v in headers.items():
        lk = k.lower()
        if lk == "x-bapi-sign":
            v = _REDACTED
        elif lk == "x-bapi-api-key":
            v = _mask(v) or ""
        out[k] = v
    return out


def _trace_request(route: _Route, url: URL, body: bytes | None, headers: Mapping[str, str]) -> None:
    shown = body if body is None or not route.multipart else f"<multipart {len(body)} bytes>"
    if isinstance(shown, bytes):
        shown = shown[:2000].decode("utf-8", "replace")
    trace_log.debug("-> %s %s headers=%s body=%s", route.verb, url, redact_headers(headers), shown)


def _trace_response(route: _Route, status: int, headers: Mapping[str, str], raw: bytes) -> None:
    trace_log.debug("<- %s %s %d headers=%s body=%s", route.verb, route.path, status, dict(headers), raw[:2000].decode("utf-8", "replace"))
