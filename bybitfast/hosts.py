"""Every host bybitfast talks to, as data: REST and WebSocket URLs per environment and region.

One table per fact (PROTOCOL.md §1). Clients resolve URLs only through :func:`rest_url` and
:func:`ws_url`, so a ``base_url`` / ``ws_url`` override points every request at the emulator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from .errors import ConfigurationError

MAINNET: Final = "mainnet"
TESTNET: Final = "testnet"
DEMO: Final = "demo"

# api_region key -> (REST host, WebSocket host). Keys as in bybit-api 4.7.7.
REGIONS: Final[Mapping[str, tuple[str, str]]] = {
    "default": ("https://api.bybit.com", "wss://stream.bybit.com"),
    "bytick": ("https://api.bytick.com", "wss://stream.bybit.com"),
    "NL": ("https://api.bybit.nl", "wss://stream.bybit.com"),
    "UAE": ("https://api.bybit.ae", "wss://stream.bybit.com"),
    "TK": ("https://api.bybit.tr", "wss://stream.bybit.tr"),
    "KZ": ("https://api.bybit.kz", "wss://stream.bybit.kz"),
    "GE": ("https://api.bybitgeorgia.ge", "wss://stream.bybitgeorgia.ge"),
    "ID": ("https://api.bybit.id", "wss://stream.bybit.id"),
    "EU": ("https://api.bybit.eu", "wss://stream.bybit.com"),
    "JP": ("https://api.manepa.jp", "wss://stream.manepa.jp"),
    "HK": ("https://api.spark-fintech.com", "wss://stream.spark-fintech.com"),
}
# Regions whose testnet differs from the global testnet.
REGION_TESTNET_REST: Final[Mapping[str, str]] = {"JP": "https://api-testnet.manepa.jp"}
# Extra headers a region needs on every REST request (unverified for HK, per bybit-api).
REGION_HEADERS: Final[Mapping[str, Mapping[str, str]]] = {"HK": {"x-refer-site-id": "HKG"}}

REST: Final[Mapping[str, str]] = {
    MAINNET: "https://api.bybit.com",
    TESTNET: "https://api-testnet.bybit.com",
    DEMO: "https://api-demo.bybit.com",
}
WS_HOST: Final[Mapping[str, str]] = {
    MAINNET: "wss://stream.bybit.com",
    TESTNET: "wss://stream-testnet.bybit.com",
    DEMO: "wss://stream-demo.bybit.com",
}

PUBLIC_CATEGORIES: Final = ("spot", "linear", "inverse", "option", "spread")

# WebSocket stream keys (bybit-api's WS_KEY names in Python style) -> path under the host.
WS_PATHS: Final[Mapping[str, str]] = {
    "v5_spot_public": "/v5/public/spot",
    "v5_linear_public": "/v5/public/linear",
    "v5_inverse_public": "/v5/public/inverse",
    "v5_option_public": "/v5/public/option",
    "v5_spread_public": "/v5/public/spread",
    "v5_private": "/v5/private",
    "v5_private_trade": "/v5/trade",
    "v5_status_public": "/v5/public/misc/status",
}
PRIVATE_KEYS: Final = frozenset({"v5_private", "v5_private_trade"})


def environment(*, testnet: bool = False, demo_trading: bool = False) -> str:
    """Name the environment; demo trading wins over testnet, as in bybit-api."""
    if demo_trading:
        return DEMO
    return TESTNET if testnet else MAINNET


def public_ws_key(category: str) -> str:
    """The stream key of a public category (``linear`` -> ``v5_linear_public``)."""
    if category not in PUBLIC_CATEGORIES:
        raise ConfigurationError(f"unknown public category {category!r}; expected one of {PUBLIC_CATEGORIES}")
    return f"v5_{category}_public"


def rest_url(
    *, testnet: bool = False, demo_trading: bool = False, api_region: str | None = None, base_url: str | None = None
) -> str:
    """REST base URL; ``base_url`` wins over everything, then demo, testnet, region."""
    if base_url:
        return base_url.rstrip("/")
    env = environment(testnet=testnet, demo_trading=demo_trading)
    if api_region is not None and api_region not in REGIONS:
        raise ConfigurationError(f"unknown api_region {api_region!r}; expected one of {sorted(REGIONS)}")
    if env == MAINNET and api_region:
        return REGIONS[api_region][0]
    if env == TESTNET and api_region in REGION_TESTNET_REST:
        return REGION_TESTNET_REST[api_region]
    return REST[env]


def rest_headers(api_region: str | None) -> Mapping[str, str]:
    """Headers a region requires on every REST request."""
    return REGION_HEADERS.get(api_region or "", {})


def ws_url(
    key: str,
    *,
    testnet: bool = False,
    demo_trading: bool = False,
    api_region: str | None = None,
    ws_url: str | Mapping[str, str] | None = None,
) -> str:
    """Full WebSocket URL of a stream key.

    ``ws_url`` is either a base URL (``ws://127.0.0.1:9000``) under which the exchange's paths
    are used, or a mapping of stream key to full URL (keys missing from it use the defaults).
    Demo trading serves only the private stream; public data comes from mainnet and the trade
    socket does not exist there (a :class:`ConfigurationError`).
    """
    if key not in WS_PATHS:
        raise ConfigurationError(f"unknown WebSocket key {key!r}; expected one of {sorted(WS_PATHS)}")
    path = WS_PATHS[key]
    env = environment(testnet=testnet, demo_trading=demo_trading)
    if env == DEMO and key == "v5_private_trade":
        raise ConfigurationError("demo trading has no trade socket (/v5/trade); use REST for demo orders")
    if isinstance(ws_url, Mapping):
        if key in ws_url:
            return ws_url[key]
    elif ws_url:
        return ws_url.rstrip("/") + path
    if api_region is not None and api_region not in REGIONS:
        raise ConfigurationError(f"unknown api_region {api_region!r}; expected one of {sorted(REGIONS)}")
    if env == DEMO:
        host = WS_HOST[DEMO] if key == "v5_private" else WS_HOST[MAINNET]
    elif env == TESTNET:
        host = WS_HOST[TESTNET]
    else:
        host = REGIONS[api_region][1] if api_region else WS_HOST[MAINNET]
    return host + path
