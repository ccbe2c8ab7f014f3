"""Rate-limit state as Bybit reports it on REST answers and trade-socket replies (PROTOCOL §3.4).

Bybit limits each UID per endpoint over a rolling second and reports ``X-Bapi-Limit`` (the limit),
``X-Bapi-Limit-Status`` (remaining) and ``X-Bapi-Limit-Reset-Timestamp`` (ms when it resets if
exceeded, otherwise about now). The triple is used only when all three parse as integers.
One type and one parser for the REST client and the trade socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple


class RateLimit(NamedTuple):
    """One endpoint's limit as last reported: ``{limit, remaining, reset_at_ms}``."""

    limit: int
    remaining: int
    reset_at_ms: int


def parse_rate_limit(header: Mapping[str, Any] | None) -> RateLimit | None:
    """``X-Bapi-Limit``, ``-Status``, ``-Reset-Timestamp`` from a reply header (any key case).

    None unless all three are present and parse as ints (PROTOCOL.md §3.4).
    """
    if not header:
        return None
    # Observed casing first (one dict probe each); a case-insensitive scan only when it differs.
    limit = header.get("X-Bapi-Limit")
    remaining = header.get("X-Bapi-Limit-Status")
    reset = header.get("X-Bapi-Limit-Reset-Timestamp")
    # aiohttp's header mapping is already case-insensitive; a JSON reply header is a plain dict.
    if (limit is None or remaining is None or reset is None) and type(header) is dict:
        for key, value in header.items():
            name = key.lower() if isinstance(key, str) else ""
            if name == "x-bapi-limit":
                limit = value
            elif name == "x-bapi-limit-status":
                remaining = value
            elif name == "x-bapi-limit-reset-timestamp":
                reset = value
    try:
        return RateLimit(int(limit), int(remaining), int(reset))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
