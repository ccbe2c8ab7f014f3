"""No error, repr, log record or trace line of the REST client ever contains the secret or a signature."""

from __future__ import annotations

import logging
import socket
import traceback

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bybitfast import RestClientV5
from bybitfast.emulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, Emulator
from bybitfast.errors import BybitError


def _signature_recorder(sent: list[str]) -> aiohttp.TraceConfig:
    """Collects every X-BAPI-SIGN the session actually puts on the wire."""

    async def on_request_start(session, ctx, params: aiohttp.TraceRequestStartParams) -> None:
        sign = params.headers.get("X-BAPI-SIGN")
        if sign:
            sent.append(sign)

    tc = aiohttp.TraceConfig()
    tc.on_request_start.append(on_request_start)
    return tc


async def _provoke_everything(client: RestClientV5, ex: Emulator, closed_port_url: str) -> list[str]:
    """Successes and every error class; returns the text of every error (str, repr, traceback)."""
    texts: list[str] = [repr(client), str(client)]

    async def capture(coro) -> None:
        try:
            await coro
        except BybitError as exc:
            texts.extend([str(exc), repr(exc), "".join(traceback.format_exception(exc)), repr(getattr(exc, "response", None))])
            texts.append(repr(vars(exc)))

    await client.get_wallet_balance(accountType="UNIFIED")
    await capture(client.submit_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit", qty="0.01", price="1000"))
    ex.faults.fail_next("10006")
    await capture(client.get_wallet_balance(accountType="UNIFIED"))
    ex.faults.reject_auth()
    await capture(client.get_wallet_balance(accountType="UNIFIED"))  # 10004 echoes the signed string
    ex.faults.fail_next("503")
    await capture(client.submit_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.001"))
    client.set_time_offset_ms(-60_000)
    await capture(client.get_active_orders(category="linear"))
    client.set_time_offset_ms(0)
    await capture(client.submit_order(category="linear", symbol="BTCUSDT", qty={1}))
    ex.faults.delay_responses(0.5)
    client.timeout = 0.05
    await capture(client.get_wallet_balance(accountType="UNIFIED"))
    ex.faults.delay_responses(0)
    other = RestClientV5(client.key, "unused-but-secret", base_url=closed_port_url)
    await capture(other.get_wallet_balance(accountType="UNIFIED"))
    await other.close()
    return texts


@pytest.mark.parametrize("key_type", ["hmac", "rsa"])
async def test_secret_and_signatures_never_leak(key_type, caplog, capfd):
    if key_type == "rsa":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        secret = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        public = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        key = "rsa-leak-test-key"
        needles = [line for line in secret.splitlines() if "PRIVATE KEY" not in line and len(line) > 40]
    else:
        key, secret, public = DEFAULT_API_KEY, DEFAULT_API_SECRET, None
        needles = [secret]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port_url = f"http://127.0.0.1:{s.getsockname()[1]}"

    sent: list[str] = []
    caplog.set_level(logging.DEBUG, logger="bybitfast")
    async with Emulator(rate_limits=False, market_interval=0) as ex:
        if public is not None:
            ex.add_api_key(key, rsa_public_key=public)
        async with aiohttp.ClientSession(trace_configs=[_signature_recorder(sent)]) as session:
            client = RestClientV5(key, secret, base_url=ex.rest_url, session=session, trace=True)
            texts = await _provoke_everything(client, ex, closed_port_url)
            await client.close()

    out, err = capfd.readouterr()
    logged = [r.getMessage() for r in caplog.records] + [caplog.text, out, err]
    assert len(sent) >= 5, "the recorder saw the signed requests"
    assert any("-> GET" in line for line in logged), "trace output was produced"
    assert any("<redacted>" in line for line in logged)
    haystack = "\n".join(texts + logged)
    for needle in needles + sent:
        assert needle not in haystack
