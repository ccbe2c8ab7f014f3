"""REST client cost: bybitfast's RestClientV5 vs pybit on the same call, and end to end vs raw aiohttp.

Run: ``/work/venv/bin/python -m pytest benchmarks/bench_rest.py -q`` (ratios printed at the end).

Client side (no network): the full method call — parameter handling, encoding, timestamp,
signature, headers, response status/JSON/retCode checks, rate-limit header parsing — with the
transport replaced by a canned answer. pybit (the baseline) runs ``HTTP.<method>`` with its
``requests`` session's ``send`` patched to return a canned ``requests.Response``, so its figure
includes ``requests``' request preparation; ours stops at the aiohttp call (the end-to-end groups
include aiohttp). Our coroutine never suspends with the canned transport, so it is driven with
``send(None)``: no event loop in the figure.

End to end: N sequential requests to an in-process emulator running in its own thread; the
baseline is a bare aiohttp loop on the same URL (the least an asyncio client can do), signed with
an inline ``hmac`` for the private group.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
from multidict import CIMultiDict, CIMultiDictProxy
from pybit.unified_trading import HTTP

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


def _pybit_call(method: str, params: dict[str, Any], raw: bytes) -> Callable[[], dict]:
    session = HTTP(api_key=KEY, api_secret=SECRET)

    def send(request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        resp = requests.Response()
        resp.status_code = 200
        resp._content = raw
        resp.headers = requests.structures.CaseInsensitiveDict(RESPONSE_HEADERS)
        resp.encoding = "utf-8"
        resp.url = request.url
        return resp

    session.client.send = send  # type: ignore[method-assign]
    bound = getattr(session, method)
    return lambda: bound(**params)


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


def test_client_side_bybitfast(benchmark, case) -> None:
    group, ours, _, params, raw = case
    benchmark.group = f"rest client side: {group}"
    call = _bybitfast_call(ours, params, raw)
    assert call()["retCode"] == 0
    benchmark(call)


# ---- end to end ----------------------------------------------------------------------------------
class ThreadedEmulator:
    """An emulator serving from its own thread and loop, so sync clients (pybit) can call it too."""

    def __init__(self) -> None:
        self.ex = Emulator(rate_limits=False, market_interval=0)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with self.ex:
                self._ready.set()
                await self._stop.wait()

        asyncio.run(main())

    def __enter__(self) -> Emulator:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("emulator did not start")
        return self.ex

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


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
