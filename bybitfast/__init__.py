"""bybitfast: the fastest complete Python SDK for the Bybit V5 API.

Public names are imported lazily so that ``import bybitfast`` stays cheap and a tool that needs
only one part (the emulator, the signer) does not load the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    AuthenticationError,
    BybitAPIError,
    BybitError,
    BybitHTTPError,
    ConfigurationError,
    ConnectionLostError,
    InvalidParameterError,
    RequestTimeoutError,
    SubscriptionError,
    TransportError,
    WebsocketError,
)

_LAZY = {
    "RestClientV5": "bybitfast.rest.client",
    "WebsocketClient": "bybitfast.ws.client",
    "WebsocketAPIClient": "bybitfast.ws.api",
    "ReconnectPolicy": "bybitfast.ws.connection",
    "OrderBook": "bybitfast.book",
    "OrderBookGapError": "bybitfast.book",
    "OrderBookCrossedError": "bybitfast.book",
    "OrderBookError": "bybitfast.book",
    "FrameError": "bybitfast.book",
    "Signer": "bybitfast.auth",
    "sign_message": "bybitfast.auth",
    "Emulator": "bybitfast.emulator",
}

__all__ = [
    "__version__",
    "AuthenticationError",
    "BybitAPIError",
    "BybitError",
    "BybitHTTPError",
    "ConfigurationError",
    "ConnectionLostError",
    "InvalidParameterError",
    "RequestTimeoutError",
    "SubscriptionError",
    "TransportError",
    "WebsocketError",
    *_LAZY,
]

if TYPE_CHECKING:
    from .auth import Signer, sign_message
    from .book import FrameError, OrderBook, OrderBookCrossedError, OrderBookError, OrderBookGapError
    from .emulator import Emulator
    from .rest.client import RestClientV5
    from .ws.api import WebsocketAPIClient
    from .ws.client import WebsocketClient
    from .ws.connection import ReconnectPolicy


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bybitfast' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
