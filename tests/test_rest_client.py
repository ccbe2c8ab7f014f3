"""RestClientV5 against the emulator: every endpoint, both key types, every error class, rate limits, time sync.

A few cases the emulator has no switch for (a 200 answer that is not JSON, a chosen rate-limit reset
time) use ``Scripted``, a tiny aiohttp server defined here that answers what the test scripts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import time

import aiohttp
import pytest
from _loopback import serve_loopback
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bybitfast import RestClientV5
from bybitfast.emulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, Emulator
from bybitfast.errors import (
    BybitAPIError,
    BybitHTTPError,
    InvalidParameterError,
    RequestTimeoutError,
    TransportError,
)
from bybitfast.rest.endpoints import ENDPOINTS, MULTIPART_PATHS

RSA_KEY_ID = "rsa-test-key-0001"


@pytest.fixture(scope="module")
def rsa_pem() -> tuple[str, str]:
    """(private PEM = the client's secret, public PEM = what the exchange holds)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private.decode(), public.decode()


@pytest.fixture
async def ex():
    async with Emulator(rate_limits=False, market_interval=0) as emulator:
        yield emulator


def _client(ex: Emulator, **options) -> RestClientV5:
    return RestClientV5(DEFAULT_API_KEY, DEFAULT_API_SECRET, base_url=ex.rest_url, **options)


def _params_for(ep) -> dict:
    if ep.path in MULTIPART_PATHS:
        return {"upload_file": b"\x89PNG\r\n", "filename": "chat.png", "content_type": "image/png"}
    return {"category": "linear", "symbol": "BTCUSDT"}


async def _walk(ex: Emulator, client: RestClientV5) -> list[str]:
    """Call every method once; return a list of mismatches (empty when every call went right)."""
    problems = []
    for ep in ENDPOINTS:
        before = len(ex.request_log)
        try:
            await getattr(client, ep.name)(_params_for(ep))
        except BybitHTTPError as exc:
            problems.append(f"{ep.name}: HTTP {exc.status}")
            continue
        new = ex.request_log[before:]
        if len(new) != 1:
            problems.append(f"{ep.name}: {len(new)} requests logged")
            continue
        entry = new[0]
        if (entry["method"], entry["path"]) != (ep.verb, ep.path):
            problems.append(f"{ep.name}: reached {entry['method']} {entry['path']}")
        if ep.signed and not entry["auth_ok"]:
            problems.append(f"{ep.name}: signature refused (retCode {entry['ret_code']})")
        if not ep.signed and entry["private"]:
            problems.append(f"{ep.name}: public for us, private for the exchange")
    return problems


async def test_every_endpoint_reaches_its_route_signed_with_hmac(ex):
    async with _client(ex, return_envelopes=True) as client:
        assert await _walk(ex, client) == []


async def test_every_endpoint_reaches_its_route_signed_with_rsa(ex, rsa_pem):
    private_pem, public_pem = rsa_pem
    ex.add_api_key(RSA_KEY_ID, rsa_public_key=public_pem)
    async with RestClientV5(RSA_KEY_ID, private_pem, base_url=ex.rest_url, return_envelopes=True) as client:
        assert client._signer.is_rsa
        assert await _walk(ex, client) == []


async def test_round_trip_returns_the_envelope(ex):
    async with _client(ex) as client:
        tickers = await client.get_tickers(category="linear", symbol="BTCUSDT")
        assert tickers["retCode"] == 0 and tickers["result"]["list"][0]["symbol"] == "BTCUSDT"
        wallet = await client.get_wallet_balance(accountType="UNIFIED")
        assert wallet["retCode"] == 0 and "list" in wallet["result"]
        status = await client.get_system_status()
        assert status["retCode"] == 0
        assert ex.request_log[-1]["private"] is False


async def test_public_endpoints_work_without_keys(ex):
    async with RestClientV5(base_url=ex.rest_url) as client:
        assert (await client.get_server_time())["retCode"] == 0
        assert (await client.get_system_status())["retCode"] == 0


async def test_positional_dict_and_keywords_merge_and_none_is_dropped(ex):
    async with _client(ex) as client:
        await client.get_tickers({"category": "linear", "symbol": None}, symbol="BTCUSDT")
        assert ex.request_log[-1]["query"] == "category=linear&symbol=BTCUSDT"
        await client.get_tickers(category="linear", symbol=None, baseCoin=None)
        assert ex.request_log[-1]["query"] == "category=linear"
        with pytest.raises(InvalidParameterError):
            await client.get_tickers(["category", "linear"])


async def test_invalid_parameter_sends_nothing(ex):
    async with _client(ex) as client:
        before = len(ex.request_log)
        with pytest.raises(InvalidParameterError):
            await client.submit_order(category="linear", symbol="BTCUSDT", qty={"not", "json"})
        with pytest.raises(InvalidParameterError):
            await client.get_tickers(category=object())
        assert len(ex.request_log) == before


async def test_api_error_carries_code_request_and_rate_limit(ex):
    async with _client(ex) as client:
        ex.faults.fail_next("10006")
        with pytest.raises(BybitAPIError) as ei:
            await client.get_active_orders(category="linear", symbol="BTCUSDT")
        e = ei.value
        assert e.ret_code == 10006 and e.ret_msg == "Too many visits!"
        assert (e.method, e.path, e.parameters) == ("GET", "/v5/order/realtime", {"category": "linear", "symbol": "BTCUSDT"})
        assert e.rate_limit is not None and e.rate_limit.remaining == 0 and e.rate_limit.limit == 10
        assert e.response["retCode"] == 10006

        with pytest.raises(BybitAPIError) as ei:  # a business error from the matching engine
            await client.submit_order(category="linear", symbol="NOSUCHCOIN", side="Buy", orderType="Market", qty="1")
        assert ei.value.ret_code != 0

        ex.faults.fail_next("10006")
        envelopes = _client(ex, return_envelopes=True, session=client._session)
        assert (await envelopes.get_active_orders(category="linear"))["retCode"] == 10006


async def test_wrong_secret_is_10004(ex):
    async with RestClientV5(DEFAULT_API_KEY, "not-the-secret", base_url=ex.rest_url) as client:
        with pytest.raises(BybitAPIError) as ei:
            await client.get_wallet_balance(accountType="UNIFIED")
        assert ei.value.ret_code == 10004


@pytest.mark.parametrize("kind", ["429", "503"])
async def test_http_errors(ex, kind):
    async with _client(ex) as client:
        ex.faults.fail_next(kind)
        with pytest.raises(BybitHTTPError) as ei:
            await client.get_tickers(category="linear")
        assert ei.value.status == int(kind) and ei.value.path == "/v5/market/tickers"
        assert str(kind) in ei.value.body
        assert (await client.get_tickers(category="linear"))["retCode"] == 0  # the session survives


async def test_timeout_is_request_timeout_error(ex):
    async with _client(ex, timeout=0.05) as client:
        ex.faults.delay_responses(1.0)
        with pytest.raises(RequestTimeoutError, match="may have reached"):
            await client.submit_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.001")
        ex.faults.delay_responses(0)


async def test_closed_port_is_transport_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with RestClientV5("k" * 16, "s" * 32, base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        with pytest.raises(TransportError):
            await client.get_wallet_balance(accountType="UNIFIED")


async def test_rate_limit_headers_parsed_per_endpoint(ex):
    async with _client(ex) as client:
        await client.get_wallet_balance(accountType="UNIFIED")
        await client.get_wallet_balance(accountType="UNIFIED")
        rl = client.get_rate_limit("get_wallet_balance")
        assert rl.limit == 50 and rl.remaining == 48
        assert client.get_rate_limit("/v5/account/wallet-balance") == rl
        assert client.get_rate_limit("get_active_orders") is None
    async with _client(ex, parse_rate_limits=False) as client:
        await client.get_wallet_balance(accountType="UNIFIED")
        assert client.get_rate_limit("get_wallet_balance") is None


async def test_stale_timestamp_is_10002_until_the_clock_is_synced(ex):
    async with _client(ex) as client:
        client.set_time_offset_ms(-10_000)  # timestamps 10 s behind: outside recv_window
        with pytest.raises(BybitAPIError) as ei:
            await client.get_wallet_balance(accountType="UNIFIED")
        assert ei.value.ret_code == 10002
        summary = await client.sync_time(samples=3)
        assert abs(client.time_offset_ms) < 1_000 and summary.samples == 3 and summary.round_trip_ms >= 0
        assert (await client.get_wallet_balance(accountType="UNIFIED"))["retCode"] == 0
        latency = await client.fetch_latency_summary(samples=2)
        assert set(latency) >= {"round_trip_ms", "offset_ms", "one_way_ms", "skew_warning"}


async def test_enable_time_sync_syncs_first_and_resyncs_on_10002(ex):
    async with _client(ex, enable_time_sync=True, sync_samples=2) as client:
        client.set_time_offset_ms(-60_000)
        assert (await client.get_wallet_balance(accountType="UNIFIED"))["retCode"] == 0  # first sync fixed it
        assert abs(client.time_offset_ms) < 1_000
        times = sum(1 for e in ex.request_log if e["path"] == "/v5/market/time")
        assert times == 2
        client.set_time_offset_ms(-60_000)  # clock jumps later: the 10002 triggers one resync + resend
        assert (await client.get_wallet_balance(accountType="UNIFIED"))["retCode"] == 0
        wallet_calls = [e["ret_code"] for e in ex.request_log if e["path"] == "/v5/account/wallet-balance"]
        assert wallet_calls[-2:] == [10002, 0]
    assert client.time._task is None  # close() stopped the periodic sync


async def test_sync_before_private_requests(ex):
    async with _client(ex, sync_before_private_requests=True) as client:
        client.set_time_offset_ms(-60_000)
        await client.get_wallet_balance(accountType="UNIFIED")
        await client.get_tickers(category="linear")  # public: no sync
        paths = [e["path"] for e in ex.request_log]
        assert paths == ["/v5/market/time", "/v5/account/wallet-balance", "/v5/market/tickers"]


async def test_external_session_is_not_closed(ex):
    async with aiohttp.ClientSession() as session:
        client = _client(ex, session=session)
        await client.get_tickers(category="linear")
        await client.close()
        assert not session.closed
        assert client._session is session


async def test_session_is_pooled_and_lazy(ex):
    client = _client(ex)
    assert client._session is None
    await asyncio.gather(*(client.get_tickers(category="linear") for _ in range(5)))
    session = client._session
    await client.get_wallet_balance(accountType="UNIFIED")
    assert client._session is session
    await client.close()
    assert session.closed


async def test_generic_request(ex):
    async with _client(ex) as client:
        env = await client.request("get", "/v5/account/wallet-balance", {"accountType": "UNIFIED"})
        assert env["retCode"] == 0 and ex.request_log[-1]["auth_ok"]
        with pytest.raises(InvalidParameterError):
            await client.request("DELETE", "/v5/x")


# ---- cases the emulator has no switch for ------------------------------------------------------
class Scripted:
    """Answers every request with the next scripted (status, headers, body), recording paths."""

    def __init__(self, handler=None) -> None:
        self.handler = handler
        self.script: list[tuple[int, dict[str, str], bytes]] = []
        self.arrivals: list[int] = []  # wall-clock ms of each request's arrival
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.arrivals.append(time.time_ns() // 1_000_000)
        status, headers, body = self.script.pop(0)
        return web.Response(status=status, headers=headers, body=body)

    async def __aenter__(self) -> Scripted:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handler or self._handle)
        self._runner, port = await serve_loopback(app, access_log=None)
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()


async def test_multipart_upload_is_signed_over_the_raw_body():
    seen = {}

    async def handle(request: web.Request) -> web.Response:
        seen["body"] = await request.read()
        seen["headers"] = request.headers
        return web.json_response({"retCode": 0, "retMsg": "OK", "result": {"url": "x"}})

    async with Scripted(handle) as srv, RestClientV5("k-multipart", "s-multipart", base_url=srv.url) as client:
        await client.upload_p2p_chat_file(upload_file=b"\x89PNG\r\n\x00", filename="chat.png", content_type="image/png")
    h = seen["headers"]
    payload = (h["X-BAPI-TIMESTAMP"] + "k-multipart" + h["X-BAPI-RECV-WINDOW"]).encode() + seen["body"]
    assert h["X-BAPI-SIGN"] == hmac.new(b"s-multipart", payload, hashlib.sha256).hexdigest()
    assert h["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b"\x89PNG\r\n\x00" in seen["body"] and b'filename="chat.png"' in seen["body"]


async def test_non_json_200_is_http_error():
    async with Scripted() as srv, RestClientV5(base_url=srv.url) as client:
        srv.script.append((200, {}, b"<html>maintenance</html>"))
        with pytest.raises(BybitHTTPError, match="not JSON") as ei:
            await client.get_tickers(category="linear")
        assert ei.value.status == 200 and "maintenance" in ei.value.body


async def test_rate_limit_wait_holds_until_reset():
    async with Scripted() as srv, RestClientV5(base_url=srv.url, rate_limit_wait=True) as client:
        now = client.time.now_ms()
        exhausted = {"X-Bapi-Limit": "2", "X-Bapi-Limit-Status": "0", "X-Bapi-Limit-Reset-Timestamp": str(now + 150)}
        ok = b'{"retCode":0,"retMsg":"OK","result":{}}'
        srv.script += [(200, exhausted, ok), (200, {}, ok), (200, {}, ok)]
        await client.get_tickers(category="linear")
        assert client.rate_limits.delay("/v5/market/tickers") > 0
        assert client.rate_limits.delay("/v5/market/kline") == 0  # limits are per endpoint
        await client.get_tickers(category="linear")  # held until the reset time has passed
        assert srv.arrivals[1] >= now + 150
        await client.get_kline(category="linear")
        assert len(srv.arrivals) == 3
