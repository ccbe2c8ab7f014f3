"""REST client cost: bybitfast's RestClientV5 vs pybit and ccxt on the same call, and end to end vs raw aiohttp.

Run: ``/work/venv/bin/python -m pytest benchmarks/bench_rest.py -q`` (ratios printed at the end).

Client side (no network): the full method call — parameter handling, encoding, timestamp,
signature, headers, response status/JSON/retCode checks, rate-limit header parsing — with the
transport replaced by a canned answer. pybit (the baseline) runs ``HTTP.<method>`` with its
``requests`` session's ``send`` patched to return a canned ``requests.Response``, so its figure
includes ``requests``' request preparation; ours stops at the aiohttp call (the end-to-end groups
include aiohttp). ccxt (sync ``ccxt.bybit``) is measured the same way as pybit (its ``requests``
session's ``send`` patched) on the unified call that sends the same request — ``create_order``,
``fetch_open_orders``, ``fetch_ticker`` — so its figure includes ccxt's unified parsing of the
answer (an order / order list / ticker structure), which is what a ccxt user pays per call. Its
market table comes from its own ``load_markets`` on the emulator, outside the timing. Our
coroutine never suspends with the canned transport, so it is driven with ``send(None)``: no event
loop in the figure.

End to end: N sequential requests to an in-process emulator running in its own thread; the
baseline is a bare aiohttp loop on the same URL (the least an asyncio client can do), signed with
an inline ``hmac`` for the private group. Peers on the same URL: pybit (sync), ccxt sync
(``fetch_time`` / ``fetch_open_orders``) and ccxt async (``ccxt.async_support``, same event loop as
ours); each test checks the emulator saw the request it is meant to send.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import orjson
import pytest
import requests
from multidict import CIMultiDict, CIMultiDictProxy
from pybit.unified_trading import HTTP

from _peers import LINEAR, ThreadedEmulator, point_ccxt, with_markets

from bybitfast import RestClientV5
from bybitfast.emulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, Emulator

QUICK = os.environ.get("BYBITFAST_BENCH_QUICK") == "1"
E2E_REQUESTS = 20 if QUICK else 100
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "bybit" / "rest"
KEY = "TESTKEY1234567890A"
SECRET = "TESTSECRET1234567890abcdefghijklmnop"
ORDER = {
    "category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
    "qty": "0.001", "price": "50000", "timeInForce": "GTC", "orderLinkId": "bf-0001",
}
RESPONSE_HEADERS = {
    "Content-Type": "application/json",
    "X-Bapi-Limit": "10",
    "X-Bapi-Limit-Status": "9",
    "X-Bapi-Limit-Reset-Timestamp": "1672211918471",
}

# (group, our method, pybit method, params, canned answer)
CASES = {
    "signed POST /v5/order/create": ("submit_order", "place_order", ORDER, "trade/order-create.docs.json"),
    "signed GET /v5/order/realtime": (
        "get_active_orders", "get_open_orders", {"category": "linear", "symbol": "ETHUSDT", "limit": 1}, "trade/order-realtime.docs.json",
    ),
    "public GET /v5/market/tickers": ("get_tickers", "get_tickers", {"category": "spot", "symbol": "BTCUSDT"}, "market/tickers_spot.docs.json"),
}
# ccxt's unified call sending the same request (path and parameters) as each case.
CCXT_CALLS: dict[str, Callable[[Any], Any]] = {
    "signed POST /v5/order/create": lambda c: c.create_order(
        LINEAR, "limit", "buy", 0.001, 50000, {"timeInForce": "GTC", "clientOrderId": "bf-0001"}
    ),
    "signed GET /v5/order/realtime": lambda c: c.fetch_open_orders("ETH/USDT:USDT", None, 1),
    "public GET /v5/market/tickers": lambda c: c.fetch_ticker("BTC/USDT"),
}


def _canned(name: str) -> bytes:
    import orjson

    return orjson.dumps(orjson.loads((FIXTURES / name).read_bytes()))  # compact, as the exchange sends it


# ---- client side ---------------------------------------------------------------------------------
def _bybitfast_call(method: str, params: dict[str, Any], raw: bytes) -> Callable[[], dict]:
    client = RestClientV5(KEY, SECRET)
    headers = CIMultiDictProxy(CIMultiDict(RESPONSE_HEADERS))

    async def canned_send(route, url, body, req_headers):  # noqa: ANN001, ANN202 - the transport, replaced
        return 200, "OK", headers, raw

    client._send = canned_send  # type: ignore[method-assign]
    bound = getattr(client, method)

    def call() -> dict:
        coro = bound(**params)
        try:
            coro.send(None)
        except StopIteration as stop:
            return stop.value
        raise RuntimeError("the canned transport suspended")

    return call


def _canned_send(raw: bytes, sent: list[requests.PreparedRequest] | None = None) -> Callable[..., requests.Response]:
    """A ``requests.Session.send`` answering every request with ``raw`` (records them in ``sent``)."""

    def send(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if sent is not None:
            sent[:] = [request]
        resp = requests.Response()
        resp.status_code = 200
        resp._content = raw
        resp.headers = requests.structures.CaseInsensitiveDict(RESPONSE_HEADERS)
        resp.encoding = "utf-8"
        resp.url = request.url
        return resp

    return send


def _pybit_call(method: str, params: dict[str, Any], raw: bytes) -> Callable[[], dict]:
    session = HTTP(api_key=KEY, api_secret=SECRET)
    session.client.send = _canned_send(raw)  # type: ignore[method-assign]
    bound = getattr(session, method)
    return lambda: bound(**params)


def _ccxt_call(group: str, raw: bytes, sent: list[requests.PreparedRequest]) -> Callable[[], Any]:
    import ccxt

    client = with_markets(ccxt.bybit({"apiKey": KEY, "secret": SECRET, "enableRateLimit": False}))
    client.session.send = _canned_send(raw, sent)  # type: ignore[method-assign]
    call = CCXT_CALLS[group]
    return lambda: call(client)


@pytest.fixture(params=list(CASES), ids=lambda g: g.split()[-1].strip("/").replace("/", "-"))
def case(request: pytest.FixtureRequest) -> tuple[str, str, str, dict, bytes]:
    group = request.param
    ours, theirs, params, fixture = CASES[group]
    return group, ours, theirs, params, _canned(fixture)


def test_client_side_pybit_baseline(benchmark, case) -> None:
    group, _, theirs, params, raw = case
    benchmark.group = f"rest client side: {group}"
    call = _pybit_call(theirs, params, raw)
    assert call()["retCode"] == 0
    benchmark(call)


def test_client_side_ccxt(benchmark, case) -> None:
    group, _, _, params, raw = case
    benchmark.group = f"rest client side: {group}"
    sent: list[requests.PreparedRequest] = []
    call = _ccxt_call(group, raw, sent)
    assert call()  # ccxt parsed the canned answer into its unified structure
    method, path = group.split()[1:3]
    assert (sent[0].method, sent[0].path_url.split("?")[0]) == (method, path)
    sent_params = orjson.loads(sent[0].body) if method == "POST" else dict(parse_qsl(sent[0].path_url.split("?", 1)[1]))
    assert {k: sent_params.get(k) for k in ("category", "symbol")} == {k: str(params[k]) for k in ("category", "symbol")}
    benchmark(call)


def test_client_side_bybitfast(benchmark, case) -> None:
    group, ours, _, params, raw = case
    benchmark.group = f"rest client side: {group}"
    call = _bybitfast_call(ours, params, raw)
    assert call()["retCode"] == 0
    benchmark(call)


# ---- end to end ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with ThreadedEmulator() as ex:
        yield ex


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _rounds() -> dict[str, int]:
    return {"rounds": 5 if QUICK else 20, "iterations": 1, "warmup_rounds": 1}


@pytest.mark.benchmark(group=f"rest end to end: public GET /v5/market/time x{E2E_REQUESTS}")
def test_e2e_public_raw_aiohttp_baseline(benchmark, emulator, loop) -> None:
    url = emulator.rest_url + "/v5/market/time"

    async def batch(session: aiohttp.ClientSession) -> None:
        for _ in range(E2E_REQUESTS):
            async with session.get(url) as resp:
                await resp.read()

    session = loop.run_until_complete(_session())
    benchmark.extra_info["requests_per_round"] = E2E_REQUESTS
    benchmark.pedantic(lambda: loop.run_until_complete(batch(session)), **_rounds())
    loop.run_until_complete(session.close())


@pytest.mark.benchmark(group=f"rest end to end: public GET /v5/market/time x{E2E_REQUESTS}")
def test_e2e_public_bybitfast(benchmark, emulator, loop) -> None:
    client = RestClientV5(base_url=emulator.rest_url)

    async def batch() -> None:
        for _ in range(E2E_REQUESTS):
            await client.get_server_time()

    benchmark.extra_info["requests_per_round"] = E2E_REQUESTS
    benchmark.pedantic(lambda: loop.run_until_complete(batch()), **_rounds())
    loop.run_until_complete(client.close())


@pytest.mark.benchmark(group=f"rest end to end: public GET /v5/market/time x{E2E_REQUESTS}")
def test_e2e_public_pybit(benchmark, emulator) -> None:
    session = HTTP()
    session.endpoint = emulator.rest_url

    def batch() -> None:
        for _ in range(E2E_REQUESTS):
            session.get_server_time()

    benchmark.extra_info["requests_per_round"] = E2E_REQUESTS
    benchmark.pedantic(batch, **_rounds())


@pytest.mark.benchmark(group=f"rest end to end: public GET /v5/market/time x{E2E_REQUESTS}")
def test_e2e_public_ccxt_sync(benchmark, emulator) -> None:
    import ccxt

    client = point_ccxt(ccxt.bybit({"enableRateLimit": False}), emulator.rest_url)

    def batch() -> None:
        for _ in range(E2E_REQUESTS):
            client.fetch_time()

    batch()
    assert emulator.request_log[-1]["path"] == "/v5/market/time"
    benchmark.extra_info["requests_per_round"] = E2E_REQUESTS
    benchmark.pedantic(batch, **_rounds())


@pytest.mark.benchmark(group=f"rest end to end: public GET /v5/market/time x{E2E_REQUESTS}")
def test_e2e_public_ccxt_async(benchmark, emulator, loop) -> None:
    import ccxt.async_support as ccxt_async

    client = point_ccxt(ccxt_async.bybit({"enableRateLimit": False}), emulator.rest_url)

    async def batch() -> None:
        for _ in range(E2E_REQUESTS):
            await client.fetch_time()

    loop.run_until_complete(batch())
    assert emulator.request_log[-1]["path"] == "/v5/market/time"
    benchmark.extra_info["requests_per_round"] = E2E_REQUESTS
    benchmark.pedantic(lambda: loop.run_until_complete(batch()), **_rounds())
    loop.run_until_complete(client.close())


@pytest.mark.benchmark(group=f"rest end to end: signed GET /v5/order/realtime x{E2E_REQUESTS}")
def test_e2e_signed_raw_aiohttp_baseline(benchmark, emulator, loop) -> None:
    url = emulator.rest_url + "/v5/order/realtime?category=linear&symbol=BTCUSDT"
    key, secret = DEFAULT_API_KEY, DEFAULT_API_SECRET.encode()

    async def batch(session: aiohttp.ClientSession) -> None:
        for _ in range(E2E_REQUESTS):
            ts = str(time.time_ns() // 1_000_000)
            sign = hmac.new(secret, f"{ts}{key}5000category=linear&symbol=BTCUSDT".encode(), hashlib.sha256).hexdigest()
            headers = {"X-BAPI-API-KEY": key, "X-BAPI-TIMESTAMP": ts, "X-BAPI-SIGN": sign, "X-BAPI-RECV-WINDOW": "5000"}
            async with session.get(url, headers=headers) as resp:
                await resp.read()

    session = loop.run_until_complete(_session())
    benchmark.extra_info["requests_per_round"] = E2E_REQUESTS
    benchmark.pedantic(lambda: loop.run_until_complete(batch(session)), **_rounds())
    loop.run_until_complete(session.close())


@pytest.mark.benchmark(group=f"rest end to end: signed GET /v5/order/realtime x{E2E_REQUESTS}")
def test_e2e_signed_bybitfast(benchmark, emulator, loop) -> None:
    client = RestClientV5(DEFAULT_API_KEY, DEFAULT_API_SECRET, base_url=emulator.rest_url)

    async def batch() -> None:
        for _ in range(E2E_REQUESTS):
            await client.get_active_orders(category="linear", symbol="BTCUSDT")

    loop.run_until_complete(batch())
    assert emulator.request_log[-1]["auth_ok"]
    benchmark.extra_info["requests_per_round"] = E2E_REQUESTS
    benchmark.pedantic(lambda: loop.run_until_complete(batch()), **_rounds())
    loop.run_until_complete(client.close())


@pytest.mark.benchmark(group=f"rest end to end: signed GET /v5/order/realtime x{E2E_REQUESTS}")
def test_e2e_signed_pybit(benchmark, emulator) -> None:
    session = HTTP(api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET)
    session.endpoint = emulator.rest_url

    def batch() -> None:
        for _ in range(E2E_REQUESTS):
            session.get_open_orders(category="linear", symbol="BTCUSDT")

    benchmark.extra_info["requests_per_round"] = E2E_REQUESTS
    benchmark.pedantic(batch, **_rounds())


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()


@pytest.mark.benchmark(group=f"rest end to end: signed GET /v5/order/realtime x{E2E_REQUESTS}")
def test_e2e_signed_ccxt_sync(benchmark, emulator) -> None:
    import ccxt

    client = with_markets(point_ccxt(ccxt.bybit({"apiKey": DEFAULT_API_KEY, "secret": DEFAULT_API_SECRET, "enableRateLimit": False}), emulator.rest_url))

    def batch() -> None:
        for _ in range(E2E_REQUESTS):
            client.fetch_open_orders(LINEAR)

    batch()
    _assert_open_orders_request(emulator)
    benchmark.extra_info["requests_per_round"] = E2E_REQUESTS
    benchmark.pedantic(batch, **_rounds())


@pytest.mark.benchmark(group=f"rest end to end: signed GET /v5/order/realtime x{E2E_REQUESTS}")
def test_e2e_signed_ccxt_async(benchmark, emulator, loop) -> None:
    import ccxt.async_support as ccxt_async

    client = with_markets(point_ccxt(ccxt_async.bybit({"apiKey": DEFAULT_API_KEY, "secret": DEFAULT_API_SECRET, "enableRateLimit": False}), emulator.rest_url))

    async def batch() -> None:
        for _ in range(E2E_REQUESTS):
            await client.fetch_open_orders(LINEAR)

    loop.run_until_complete(batch())
    _assert_open_orders_request(emulator)
    benchmark.extra_info["requests_per_round"] = E2E_REQUESTS
    benchmark.pedantic(lambda: loop.run_until_complete(batch()), **_rounds())
    loop.run_until_complete(client.close())


def _assert_open_orders_request(emulator: Emulator) -> None:
    """The last request was a signed GET /v5/order/realtime for linear BTCUSDT, as ours sends."""
    last = emulator.request_log[-1]
    assert (last["method"], last["path"], last["auth_ok"]) == ("GET", "/v5/order/realtime", True)
    assert {k: v for k, v in parse_qsl(last["query"]) if k in ("category", "symbol")} == {"category": "linear", "symbol": "BTCUSDT"}
