"""The host table: environments, regions, per-stream WebSocket URLs and overrides (PROTOCOL.md §1)."""

from __future__ import annotations

import pytest

from bybitfast import hosts
from bybitfast.errors import ConfigurationError


def test_rest_environments():
    assert hosts.rest_url() == "https://api.bybit.com"
    assert hosts.rest_url(testnet=True) == "https://api-testnet.bybit.com"
    assert hosts.rest_url(demo_trading=True) == "https://api-demo.bybit.com"
    # demo trading wins over testnet, as in bybit-api
    assert hosts.rest_url(testnet=True, demo_trading=True) == "https://api-demo.bybit.com"


@pytest.mark.parametrize(
    ("region", "rest"),
    [
        ("bytick", "https://api.bytick.com"),
        ("NL", "https://api.bybit.nl"),
        ("UAE", "https://api.bybit.ae"),
        ("TK", "https://api.bybit.tr"),
        ("KZ", "https://api.bybit.kz"),
        ("GE", "https://api.bybitgeorgia.ge"),
        ("ID", "https://api.bybit.id"),
        ("EU", "https://api.bybit.eu"),
        ("JP", "https://api.manepa.jp"),
        ("HK", "https://api.spark-fintech.com"),
    ],
)
def test_regional_rest_hosts(region, rest):
    assert hosts.rest_url(api_region=region) == rest


def test_region_specific_testnet_and_headers():
    assert hosts.rest_url(testnet=True, api_region="JP") == "https://api-testnet.manepa.jp"
    assert hosts.rest_url(testnet=True, api_region="NL") == "https://api-testnet.bybit.com"
    assert hosts.rest_headers("HK") == {"x-refer-site-id": "HKG"}
    assert hosts.rest_headers(None) == {}


def test_base_url_override_wins_and_is_normalised():
    assert hosts.rest_url(base_url="http://127.0.0.1:9000/", testnet=True, api_region="KZ") == "http://127.0.0.1:9000"


def test_unknown_region_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="api_region"):
        hosts.rest_url(api_region="XX")
    with pytest.raises(ConfigurationError, match="api_region"):
        hosts.ws_url("v5_private", api_region="XX")


@pytest.mark.parametrize("category", ["spot", "linear", "inverse", "option", "spread"])
def test_public_ws_urls_per_category(category):
    key = hosts.public_ws_key(category)
    assert hosts.ws_url(key) == f"wss://stream.bybit.com/v5/public/{category}"
    assert hosts.ws_url(key, testnet=True) == f"wss://stream-testnet.bybit.com/v5/public/{category}"
    # demo has no public streams of its own: market data comes from mainnet
    assert hosts.ws_url(key, demo_trading=True) == f"wss://stream.bybit.com/v5/public/{category}"


def test_private_and_trade_ws_urls():
    assert hosts.ws_url("v5_private") == "wss://stream.bybit.com/v5/private"
    assert hosts.ws_url("v5_private", testnet=True) == "wss://stream-testnet.bybit.com/v5/private"
    assert hosts.ws_url("v5_private", demo_trading=True) == "wss://stream-demo.bybit.com/v5/private"
    assert hosts.ws_url("v5_private_trade") == "wss://stream.bybit.com/v5/trade"
    assert hosts.ws_url("v5_private_trade", api_region="TK") == "wss://stream.bybit.tr/v5/trade"


def test_demo_has_no_trade_socket():
    with pytest.raises(ConfigurationError, match="demo trading has no trade socket"):
        hosts.ws_url("v5_private_trade", demo_trading=True)
    # even with an override: the mistake is in the configuration, not the URL
    with pytest.raises(ConfigurationError):
        hosts.ws_url("v5_private_trade", demo_trading=True, ws_url="ws://127.0.0.1:1")


def test_ws_url_override_base_and_mapping():
    assert hosts.ws_url("v5_linear_public", ws_url="ws://127.0.0.1:9000/") == "ws://127.0.0.1:9000/v5/public/linear"
    assert hosts.ws_url("v5_private_trade", ws_url="ws://127.0.0.1:9000") == "ws://127.0.0.1:9000/v5/trade"
    mapping = {"v5_private": "ws://mmws.example/v5/private"}
    assert hosts.ws_url("v5_private", ws_url=mapping) == "ws://mmws.example/v5/private"
    # keys missing from the mapping keep their defaults
    assert hosts.ws_url("v5_spot_public", ws_url=mapping) == "wss://stream.bybit.com/v5/public/spot"


def test_unknown_keys_and_categories():
    with pytest.raises(ConfigurationError, match="WebSocket key"):
        hosts.ws_url("v5_nope")
    with pytest.raises(ConfigurationError, match="category"):
        hosts.public_ws_key("futures")
