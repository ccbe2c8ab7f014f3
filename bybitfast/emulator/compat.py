"""Pointing third-party clients at the emulator, unchanged: only their URL settings are touched.

(pybit and bybit-api take a URL option; see the README. ccxt keeps its URLs in a nested table.)
"""

from __future__ import annotations

from typing import Any


def point_ccxt(client: Any, rest_url: str | None = None, ws_url: str | None = None) -> Any:
    """Aim a ccxt / ccxt.pro ``bybit`` client's REST URLs at ``rest_url`` and its WebSocket URLs at
    ``ws_url`` (public ``<ws_url>/v5/public/<category>``, private ``/v5/private``, trade ``/v5/trade``)."""
    api = client.urls["api"]
    if rest_url is not None:
        for name, url in api.items():
            if isinstance(url, str):
                api[name] = rest_url
    ws = api.get("ws")
    if ws_url is not None and ws is not None:
        for category in ws["public"]:
            ws["public"][category] = f"{ws_url}/v5/public/{category}"
        ws["private"]["spot"]["unified"] = f"{ws_url}/v5/private"
        ws["private"]["contract"] = f"{ws_url}/v5/private"
        ws["private"]["trade"] = f"{ws_url}/v5/trade"
    return client
