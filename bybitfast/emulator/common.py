"""What every part of the emulator shares: default credentials, the response envelope, errors.

The emulator never imports the client side of bybitfast (see docs/decisions/emulator.md).
"""

from __future__ import annotations

import time
from typing import Any

# Documented default test credentials, used when no key is given (CLI and in-process).
DEFAULT_API_KEY = "BFEMUKEY00000001"
DEFAULT_API_SECRET = "bybitfast-emulator-secret-0000000000000001"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class ApiError(Exception):
    """A business error answered as HTTP 200 with a non-zero retCode (REST) or in a WS reply."""

    def __init__(self, code: int, msg: str, *, http_status: int = 200) -> None:
        self.code = code
        self.msg = msg
        self.http_status = http_status
        super().__init__(f"{code}: {msg}")


def envelope(result: Any = None, *, code: int = 0, msg: str = "OK", ext: Any = None) -> dict[str, Any]:
    """The V5 REST envelope: ``{retCode, retMsg, result, retExtInfo, time}``."""
    return {
        "retCode": code,
        "retMsg": msg,
        "result": {} if result is None else result,
        "retExtInfo": {} if ext is None else ext,
        "time": now_ms(),
    }


class RequestContext:
    """What a REST handler sees of one request, after auth and rate limiting."""

    __slots__ = ("method", "path", "params", "uid", "api_key", "headers")

    def __init__(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        *,
        uid: str | None = None,
        api_key: str | None = None,
        headers: Any = None,
    ) -> None:
        self.method = method
        self.path = path
        self.params = params  # decoded query (GET, values are str) or JSON body (POST)
        self.uid = uid  # authenticated account, None on public endpoints
        self.api_key = api_key
        self.headers = headers if headers is not None else {}
