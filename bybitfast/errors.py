"""Every exception bybitfast raises, in one hierarchy.

No error carries a secret or a signature: messages are built from the ret code, message, method,
path and the request parameters only (never headers), and ``repr`` shows the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class BybitError(Exception):
    """Base class of every bybitfast error."""


class ConfigurationError(BybitError, ValueError):
    """A client was configured in a way that cannot work (unknown region, demo trade socket...)."""


class InvalidParameterError(BybitError, ValueError):
    """A request parameter cannot be sent as given; raised before anything reaches the exchange."""


class AuthenticationError(BybitError):
    """The exchange rejected our credentials (bad key, bad signature, auth op refused)."""


class BybitAPIError(BybitError):
    """The exchange answered with a non-zero ``retCode``.

    Carries what is needed to act on it: the code and message, the request's method, path and
    parameters, the endpoint's rate-limit state at the time, and the full response envelope.
    """

    def __init__(
        self,
        ret_code: int,
        ret_msg: str,
        *,
        method: str = "",
        path: str = "",
        parameters: Mapping[str, Any] | None = None,
        rate_limit: Any = None,
        response: Mapping[str, Any] | None = None,
    ) -> None:
        self.ret_code = ret_code
        self.ret_msg = ret_msg
        self.method = method
        self.path = path
        self.parameters = dict(parameters or {})
        self.rate_limit = rate_limit
        self.response = response
        where = f" on {method} {path}" if path else ""
        super().__init__(f"retCode {ret_code}: {ret_msg}{where}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ret_code={self.ret_code}, ret_msg={self.ret_msg!r}, method={self.method!r}, path={self.path!r})"


class BybitHTTPError(BybitError):
    """A non-2xx HTTP status (403 IP ban, 429 protection, 5xx...). Body kept, truncated."""

    def __init__(self, status: int, reason: str, *, method: str = "", path: str = "", body: str = "") -> None:
        self.status = status
        self.reason = reason
        self.method = method
        self.path = path
        self.body = body[:2000]
        super().__init__(f"HTTP {status} {reason} on {method} {path}: {self.body[:200]}")


class TransportError(BybitError, ConnectionError):
    """The request could not be sent or its answer not read (refused, reset, DNS...)."""


class RequestTimeoutError(BybitError, TimeoutError):
    """No answer within the configured timeout. For orders: the order may have reached the exchange."""


class WebsocketError(BybitError):
    """A WebSocket-level failure (handshake refused, protocol error)."""


class ConnectionLostError(WebsocketError, ConnectionError):
    """The socket closed while a request was in flight.

    ``may_have_reached_exchange`` is True when the request had been written to the socket before
    the drop: its effect is unknown and must be confirmed (order stream or REST), never resent blindly.
    """

    def __init__(self, message: str, *, may_have_reached_exchange: bool) -> None:
        self.may_have_reached_exchange = may_have_reached_exchange
        super().__init__(message)


class SubscriptionError(WebsocketError):
    """The exchange refused a subscribe/unsubscribe for some topics."""

    def __init__(self, message: str, *, topics: list[str] | tuple[str, ...] = ()) -> None:
        self.topics = list(topics)
        super().__init__(message)


class WebsocketHandshakeError(WebsocketError):
    """The server refused the WebSocket upgrade (``status`` is the HTTP status, 0 when unknown)."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        self.status = status
        super().__init__(message)


class OrderBookError(BybitError):
    """A local order book can no longer be trusted; it stays invalid until a new snapshot."""


class OrderBookGapError(OrderBookError):
    """A delta's ``u`` skipped ahead (or ``seq`` went backwards / ``u`` reset): updates were lost."""


class OrderBookCrossedError(OrderBookError):
    """After applying a frame the best bid was >= the best ask."""


class FrameError(BybitError, ValueError):
    """A malformed, hostile or foreign frame; whatever consumed it was left exactly as it was."""
