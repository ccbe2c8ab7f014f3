"""Test helpers for the emulator tests: signing done here with ``hmac`` (never bybitfast.auth).

Fixtures are made by factories and bound to a name by the test module (``ex = emulator_fixture(...)``),
so each module states its emulator options in one line and imports nothing it does not name.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
import pytest

from bybitfast.emulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, Emulator, ThreadedEmulator  # noqa: F401


def emulator_fixture(**options: Any) -> Any:
    """A fixture running one ``Emulator(**options)`` per test."""

    @pytest.fixture
    async def fixture() -> AsyncIterator[Emulator]:
        async with Emulator(**options) as emulator:
            yield emulator

    return fixture


def session_fixture() -> Any:
    """A fixture holding one aiohttp ClientSession per test."""

    @pytest.fixture
    async def fixture() -> AsyncIterator[aiohttp.ClientSession]:
        async with aiohttp.ClientSession() as session:
            yield session

    return fixture


def rest_fixture() -> Any:
    """A fixture holding a signed :class:`Rest` caller against the module's ``ex`` fixture."""

    @pytest.fixture
    async def fixture(ex: Emulator) -> AsyncIterator[Rest]:
        async with aiohttp.ClientSession() as session:
            yield Rest(session, ex.rest_url)

    return fixture


def hmac_hex(secret: str, payload: str | bytes) -> str:
    data = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def signed_headers(
    payload: str | bytes,
    *,
    key: str = DEFAULT_API_KEY,
    secret: str = DEFAULT_API_SECRET,
    ts: int | None = None,
    recv_window: str | None = "5000",
) -> dict[str, str]:
    ts = int(time.time() * 1000) if ts is None else ts
    body = payload.decode() if isinstance(payload, bytes) else payload
    prefix = f"{ts}{key}{recv_window or ''}"
    headers = {
        "X-BAPI-API-KEY": key,
        "X-BAPI-TIMESTAMP": str(ts),
        "X-BAPI-SIGN": hmac_hex(secret, prefix + body),
        "X-BAPI-SIGN-TYPE": "2",
        "Content-Type": "application/json",
    }
    if recv_window is not None:
        headers["X-BAPI-RECV-WINDOW"] = recv_window
    return headers


class Rest:
    """A minimal signed REST caller against an emulator."""

    def __init__(self, session: aiohttp.ClientSession, base: str, key: str = DEFAULT_API_KEY, secret: str = DEFAULT_API_SECRET) -> None:
        self.session = session
        self.base = base
        self.key = key
        self.secret = secret
        self.last_headers: Any = None
        self.last_status = 0

    async def get(self, path: str, params: dict[str, Any] | None = None, *, signed: bool = True) -> dict[str, Any]:
        query = urlencode(params or {})
        headers = signed_headers(query, key=self.key, secret=self.secret) if signed else {}
        url = self.base + path + (f"?{query}" if query else "")
        async with self.session.get(url, headers=headers) as resp:
            self.last_headers = resp.headers
            self.last_status = resp.status
            return await resp.json(content_type=None)

    async def post(self, path: str, body: dict[str, Any] | None = None, *, compact: bool = True) -> dict[str, Any]:
        text = json.dumps(body or {}, separators=(",", ":")) if compact else json.dumps(body or {})
        headers = signed_headers(text, key=self.key, secret=self.secret)
        async with self.session.post(self.base + path, data=text.encode(), headers=headers) as resp:
            self.last_headers = resp.headers
            self.last_status = resp.status
            return await resp.json(content_type=None)

    async def order(self, **params: Any) -> dict[str, Any]:
        params.setdefault("category", "linear")
        params.setdefault("symbol", "BTCUSDT")
        return await self.post("/v5/order/create", params)


def ws_auth_args(key: str = DEFAULT_API_KEY, secret: str = DEFAULT_API_SECRET, expires: int | None = None) -> list[Any]:
    expires = int(time.time() * 1000) + 5000 if expires is None else expires
    return [key, expires, hmac_hex(secret, f"GET/realtime{expires}")]


async def recv_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = 3.0) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def recv_until(ws: aiohttp.ClientWebSocketResponse, pred: Any, timeout: float = 3.0) -> dict[str, Any]:
    """Receive frames until one satisfies ``pred`` (bounded by ``timeout``)."""

    async def loop() -> dict[str, Any]:
        while True:
            frame = await recv_json(ws, timeout)
            if pred(frame):
                return frame

    return await asyncio.wait_for(loop(), timeout)


class PublicClient:
    """One client on a public socket (``/v5/public/{category}``), sending and reading JSON frames."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._marks = 0

    async def send(self, obj: Any) -> None:
        await self.ws.send_str(obj if isinstance(obj, str) else json.dumps(obj))

    async def recv(self, timeout: float = 2.0) -> str:
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        return msg.data

    async def recv_json(self, timeout: float = 2.0) -> Any:
        return orjson.loads(await self.recv(timeout))

    async def until(self, pred: Callable[[Any], bool], timeout: float = 2.0, limit: int = 10_000) -> list[Any]:
        """Frames up to and including the first one matching ``pred``."""
        out = []
        for _ in range(limit):
            m = await self.recv_json(timeout)
            out.append(m)
            if pred(m):
                return out
        raise AssertionError("condition never met")

    async def drain(self, timeout: float = 2.0) -> list[Any]:
        """Every frame the server queued before now, without waiting for silence.

        A ping travels through the connection's one ordered outgoing queue: whatever was pushed
        before it (e.g. by ``market.step``) arrives before its pong. Pings must not be silenced.
        """
        self._marks += 1
        mark = f"drain-{self._marks}"
        await self.send({"req_id": mark, "op": "ping"})
        frames = await self.until(lambda m: m.get("req_id") == mark or m.get("op") == "pong", timeout)  # option pongs carry no req_id
        return frames[:-1]

    async def subscribe(self, *topics: str) -> Any:
        await self.send({"op": "subscribe", "args": list(topics)})
        ack = await self.recv_json()
        assert ack["success"] is True, ack
        return ack


async def public_client(ex: Emulator, http: aiohttp.ClientSession, category: str) -> PublicClient:
    """A :class:`PublicClient` connected to ``ex``'s public socket of ``category`` (pings answered by hand)."""
    return PublicClient(await http.ws_connect(f"{ex.ws_url}/v5/public/{category}", autoping=False))
