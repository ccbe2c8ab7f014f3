"""No log record, error, repr or event payload of the socket clients ever holds the secret or a signature.

The socket counterpart of test_rest_secrets.py: the private stream (``WebsocketClient``) and the
trade socket (``WebsocketAPIClient``) authenticate with an HMAC key and with an RSA key against
the emulator, get refused (the reject_auth fault, a wrong secret), and everything they could show a
user is searched for the secret, every PEM line of it, and every signature actually sent.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bybitfast.emulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, Emulator
from bybitfast.errors import AuthenticationError, BybitAPIError, BybitError
from bybitfast.ws.api import WebsocketAPIClient
from bybitfast.ws.client import EVENTS, WebsocketClient
from bybitfast.ws.connection import ConnectBudget, ReconnectPolicy, WsConnection

FAST = ReconnectPolicy(initial=0.01, maximum=0.05, factor=2.0, jitter=0.0)
ORDER = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "30000"}


def _rsa_pem() -> tuple[str, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    public = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return pem, public


def _secret_lines(secret: str) -> list[str]:
    """What must never show: the HMAC secret, or each body line of a PEM key (headers are public)."""
    if "PRIVATE KEY" not in secret:
        return [secret]
    return [line for line in secret.splitlines() if "PRIVATE KEY" not in line and len(line) > 40]


async def _until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    async def loop() -> None:
        while not pred():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(loop(), timeout)


class Texts:
    """Everything a user could read: error texts and tracebacks, event payloads, reprs."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.errors: list[BaseException] = []

    def error(self, exc: BaseException) -> None:
        self.errors.append(exc)
        self.items += [str(exc), repr(exc), "".join(traceback.format_exception(exc)), repr(vars(exc))]

    async def capture(self, coro: Awaitable[Any]) -> None:
        try:
            await coro
        except BybitError as exc:
            self.error(exc)

    def events(self, client: WebsocketClient) -> list[tuple[str, dict[str, Any]]]:
        got: list[tuple[str, dict[str, Any]]] = []
        for name in EVENTS:
            client.on(name, lambda p, name=name: got.append((name, p)))
        return got

    def payloads(self, got: list[tuple[str, dict[str, Any]]]) -> None:
        for _, payload in got:
            self.items.append(repr(payload))
            err = payload.get("error")
            if isinstance(err, BaseException):
                self.error(err)

    def objects(self, *objs: Any) -> None:
        for obj in objs:
            self.items += [repr(obj), str(obj), repr(vars(obj))]


async def _private_stream(ex: Emulator, key: str, secret: str, wrong: str, texts: Texts) -> None:
    c = WebsocketClient(key, secret, ws_url=ex.ws_url, reconnect=FAST, budget=ConnectBudget(), subscribe_timeout=5)
    got = texts.events(c)
    await c.subscribe_v5(["order", "wallet"])
    ex.faults.reject_auth()  # the re-auth after a reconnect is refused once, then retried
    c.connection("v5_private").reconnect_now("test")
    await _until(lambda: sum(n == "authenticated" for n, _ in got) == 2)
    assert any(n == "exception" and isinstance(p["error"], AuthenticationError) for n, p in got)
    texts.objects(c, c.connection("v5_private"), c._streams["v5_private"])  # noqa: SLF001
    await c.close_all()
    texts.payloads(got)

    bad = WebsocketClient(key, wrong, ws_url=ex.ws_url, reconnect=FAST, budget=ConnectBudget(), subscribe_timeout=5)
    got = texts.events(bad)
    await texts.capture(bad.subscribe_v5("order"))
    assert isinstance(texts.errors[-1], AuthenticationError)
    texts.objects(bad, bad.connection("v5_private"))
    await bad.close_all()
    texts.payloads(got)


async def _trade_socket(ex: Emulator, key: str, secret: str, wrong: str, texts: Texts) -> None:
    api = WebsocketAPIClient(key, secret, ws_url=ex.ws_url, reconnect=FAST, request_timeout=3.0)
    await api.connect()
    await api.submit_new_order(ORDER)
    await texts.capture(api.cancel_order(category="linear", symbol="BTCUSDT", orderId="does-not-exist"))
    assert isinstance(texts.errors[-1], BybitAPIError)
    texts.objects(api, api._conn)  # noqa: SLF001
    await api.close()
    await texts.capture(api.submit_new_order(ORDER))  # closed: ConnectionLostError
    ex.faults.reject_auth()
    refused = WebsocketAPIClient(key, secret, ws_url=ex.ws_url, reconnect=FAST, request_timeout=3.0)
    await texts.capture(refused.connect())
    assert isinstance(texts.errors[-1], AuthenticationError)
    texts.objects(refused)
    await refused.close()
    bad = WebsocketAPIClient(key, wrong, ws_url=ex.ws_url, reconnect=FAST, request_timeout=3.0)
    await texts.capture(bad.connect())
    await texts.capture(bad.submit_new_order(ORDER))
    assert isinstance(texts.errors[-1], AuthenticationError)
    texts.objects(bad)
    await bad.close()


@pytest.mark.parametrize("key_type", ["hmac", "rsa"])
async def test_socket_clients_never_leak_the_secret_or_a_signature(
    key_type: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if key_type == "rsa":
        secret, public = _rsa_pem()
        wrong, _ = _rsa_pem()
        key = "rsa-ws-leak-test-key"
    else:
        key, secret, public = DEFAULT_API_KEY, DEFAULT_API_SECRET, None
        wrong = "not-the-secret-but-also-secret-0123456789"
    sent: list[str] = []  # every auth signature written to a socket
    real_send = WsConnection.send

    def recording_send(self: WsConnection, data: bytes | str) -> None:
        real_send(self, data)
        msg = orjson.loads(data)
        if msg.get("op") == "auth":
            sent.append(msg["args"][2])

    monkeypatch.setattr(WsConnection, "send", recording_send)
    caplog.set_level(logging.DEBUG, logger="bybitfast")
    texts = Texts()
    async with Emulator(market_interval=0, rate_limits=False) as ex:
        if public is not None:
            ex.add_api_key(key, rsa_public_key=public)
        await _private_stream(ex, key, secret, wrong, texts)
        await _trade_socket(ex, key, secret, wrong, texts)

    out, err = capfd.readouterr()
    logged = [r.getMessage() for r in caplog.records] + [caplog.text, out, err]
    logged += ["".join(traceback.format_exception(*r.exc_info)) for r in caplog.records if r.exc_info]
    assert len(sent) >= 8, "the recorder saw every auth (private: 3 + 1 wrong, trade: 1 + 1 refused + 2 wrong)"
    assert any(r.levelno == logging.DEBUG for r in caplog.records), "debug logging was captured"
    assert len(texts.errors) >= 8
    haystack = "\n".join(texts.items + logged)
    for needle in _secret_lines(secret) + _secret_lines(wrong) + sent:
        assert needle not in haystack
