"""``bybitfast emulator`` end to end: a real subprocess per case, its flags checked over HTTP and WebSocket.

Each case starts ``python -m bybitfast emulator --port 0 FLAGS``, reads the ``ready`` line, checks
the flag's effect with aiohttp (signing done here with ``hmac`` / ``cryptography``, never
bybitfast.auth) and stops the process with SIGTERM (it must exit 0).
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
import pytest
from _emulator_helpers import hmac_hex
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bybitfast.emulator import DEFAULT_API_KEY, DEFAULT_API_SECRET

ROOT = Path(__file__).resolve().parent.parent
WALLET = ("/v5/account/wallet-balance", {"accountType": "UNIFIED"})


@asynccontextmanager
async def emulator_process(*flags: str) -> AsyncIterator[tuple[str, str]]:
    """``(rest_url, ws_url)`` of a ``bybitfast emulator`` subprocess started with ``flags``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BYBIT_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bybitfast", "emulator", "--port", "0", *flags,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not line.startswith(b"ready "):
            proc.kill()
            raise AssertionError(f"no ready line: {line!r} {(await proc.stderr.read()).decode()}")
        _, rest_url, ws_url = line.decode().split()
        yield rest_url, ws_url
    finally:
        if proc.returncode is None:
            proc.terminate()
        rc = await asyncio.wait_for(proc.wait(), 15)
    assert rc == 0, (await proc.stderr.read()).decode()


def _headers(key: str, ts: int, sign: str) -> dict[str, str]:
    return {"X-BAPI-API-KEY": key, "X-BAPI-TIMESTAMP": str(ts), "X-BAPI-RECV-WINDOW": "5000", "X-BAPI-SIGN": sign}


async def signed_get(
    http: aiohttp.ClientSession, rest_url: str, *, key: str = DEFAULT_API_KEY, secret: str = DEFAULT_API_SECRET,
    rsa_key: Any = None, path: str = WALLET[0], params: dict[str, str] = WALLET[1],
) -> tuple[int, dict[str, Any]]:
    """HTTP status and body of a signed GET (HMAC with ``secret``, or RSA with ``rsa_key``)."""
    query = urlencode(params)
    ts = int(time.time() * 1000)
    payload = f"{ts}{key}5000{query}".encode()
    if rsa_key is not None:
        sign = base64.b64encode(rsa_key.sign(payload, padding.PKCS1v15(), hashes.SHA256())).decode()
    else:
        sign = hmac_hex(secret, payload)
    async with http.get(f"{rest_url}{path}?{query}", headers=_headers(key, ts, sign)) as resp:
        body = await resp.read()
        return resp.status, orjson.loads(body) if resp.status == 200 else {"text": body.decode()}


async def book_frames(ws_url: str, topics: list[str], until: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0) -> list[dict[str, Any]]:
    """Subscribe ``topics`` on the linear socket; every topic frame received until ``until(frames)``."""
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{ws_url}/v5/public/linear") as ws:
        await ws.send_str(orjson.dumps({"op": "subscribe", "args": topics}).decode())
        frames: list[dict[str, Any]] = []

        async def read() -> None:
            while not until(frames):
                msg = orjson.loads((await ws.receive()).data)
                if "topic" in msg:
                    frames.append(msg)
                else:
                    assert msg.get("success") is True, msg

        await asyncio.wait_for(read(), timeout)
        return frames


# ---- one check per flag ------------------------------------------------------------------------
async def check_fail_next(rest_url: str, ws_url: str, tmp: Path) -> None:
    async with aiohttp.ClientSession() as http:
        assert (await signed_get(http, rest_url))[1]["retCode"] == 10006  # the first signed request
        status, body = await signed_get(http, rest_url)
        assert status == 503 and "503" in body["text"]  # then the second fault of the queue
        status, body = await signed_get(http, rest_url)
        assert status == 200 and body["retCode"] == 0  # both consumed


async def check_reject_auth(rest_url: str, ws_url: str, tmp: Path) -> None:
    async with aiohttp.ClientSession() as http:
        assert (await signed_get(http, rest_url))[1]["retCode"] == 10004  # a correct signature, refused
        assert (await signed_get(http, rest_url))[1]["retCode"] == 0


CUSTOM_KEY, CUSTOM_SECRET = "cli-custom-key-01", "cli-custom-secret-0123456789"


async def check_custom_key(rest_url: str, ws_url: str, tmp: Path) -> None:
    async with aiohttp.ClientSession() as http:
        assert (await signed_get(http, rest_url, key=CUSTOM_KEY, secret=CUSTOM_SECRET))[1]["retCode"] == 0
        assert (await signed_get(http, rest_url))[1]["retCode"] == 10003  # the default key is not registered
        wrong = await signed_get(http, rest_url, key=CUSTOM_KEY, secret=DEFAULT_API_SECRET)
        assert wrong[1]["retCode"] == 10004


RSA_PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def check_rsa_key(rest_url: str, ws_url: str, tmp: Path) -> None:
    async with aiohttp.ClientSession() as http:
        status, body = await signed_get(http, rest_url, key="rsa_api_key", rsa_key=RSA_PRIVATE)
        assert status == 200 and body["retCode"] == 0, body
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        assert (await signed_get(http, rest_url, key="rsa_api_key", rsa_key=other))[1]["retCode"] == 10004
        assert (await signed_get(http, rest_url))[1]["retCode"] == 0  # the HMAC key still works beside it


async def check_gap(rest_url: str, ws_url: str, tmp: Path) -> None:
    frames = await book_frames(ws_url, ["orderbook.50.BTCUSDT"], lambda fs: len(fs) >= 3)
    snap, first, second = (f["data"]["u"] for f in frames[:3])
    assert frames[0]["type"] == "snapshot" and [f["type"] for f in frames[1:3]] == ["delta", "delta"]
    assert first == snap + 3 and second == first + 1  # two deltas withheld, then the stream goes on


async def check_reset_every_book(rest_url: str, ws_url: str, tmp: Path) -> None:
    topic = "orderbook.50.BTCUSDT"
    frames = await book_frames(ws_url, [topic], lambda fs: len(fs) >= 3)
    assert [f["type"] for f in frames[:3]] == ["snapshot", "snapshot", "delta"]
    assert frames[0]["data"]["u"] > 1 and frames[1]["data"]["u"] == 1 and frames[2]["data"]["u"] == 2


async def check_reset_one_topic(rest_url: str, ws_url: str, tmp: Path) -> None:
    btc, eth = "orderbook.50.BTCUSDT", "orderbook.50.ETHUSDT"

    def done(fs: list[dict[str, Any]]) -> bool:
        reset = [i for i, f in enumerate(fs) if f["topic"] == eth and f["type"] == "snapshot" and f["data"]["u"] == 1]
        return bool(reset) and any(f["topic"] == btc for f in fs[reset[0] + 1 :])

    frames = await book_frames(ws_url, [btc, eth], done)
    btc_types = [f["type"] for f in frames if f["topic"] == btc]
    assert btc_types[0] == "snapshot" and set(btc_types[1:]) == {"delta"}  # BTCUSDT was not restarted
    eth_us = [f["data"]["u"] for f in frames if f["topic"] == eth]
    assert eth_us.count(1) == 1 and eth_us[0] > 1  # one restart, on that topic only


async def check_delay(rest_url: str, ws_url: str, tmp: Path) -> None:
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:
        t0 = loop.time()
        async with http.get(f"{rest_url}/v5/market/time") as resp:
            assert (await resp.json())["retCode"] == 0
        assert loop.time() - t0 >= 0.29  # a lower bound the delay guarantees, not a speed measurement
        async with http.ws_connect(f"{ws_url}/v5/public/linear") as ws:
            t0 = loop.time()
            await ws.send_str('{"op":"subscribe","args":["tickers.BTCUSDT"]}')
            ack = orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data)
            assert ack["success"] is True and loop.time() - t0 >= 0.29


def _rsa_flags(tmp: Path) -> list[str]:
    pem = RSA_PRIVATE.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    path = tmp / "rsa_public.pem"
    path.write_bytes(pem)
    return ["--rsa-public-key", str(path)]


CASES: dict[str, tuple[Callable[[Path], list[str]], Callable[[str, str, Path], Awaitable[None]]]] = {
    "fail-next": (lambda tmp: ["--fail-next", "10006:1", "--fail-next", "503"], check_fail_next),
    "reject-auth": (lambda tmp: ["--reject-auth", "1"], check_reject_auth),
    "api-key": (lambda tmp: ["--api-key", CUSTOM_KEY, "--api-secret", CUSTOM_SECRET], check_custom_key),
    "rsa-public-key": (_rsa_flags, check_rsa_key),
    "gap": (lambda tmp: ["--gap", "2", "--market-interval", "0.01"], check_gap),
    "reset-book": (lambda tmp: ["--reset-book", "--market-interval", "0.01"], check_reset_every_book),
    "reset-book-topic": (lambda tmp: ["--reset-book", "orderbook.50.ETHUSDT", "--market-interval", "0.01"], check_reset_one_topic),
    "delay": (lambda tmp: ["--delay", "0.3"], check_delay),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(CASES))
async def test_emulator_flag_takes_effect(case: str, tmp_path: Path) -> None:
    flags, check = CASES[case]
    async with emulator_process(*flags(tmp_path)) as (rest_url, ws_url):
        await check(rest_url, ws_url, tmp_path)


def test_reset_book_flag_arms_the_fault() -> None:
    """``--reset-book`` with and without a topic maps onto ``faults.reset_book`` (no process needed)."""
    from bybitfast.cli import _arm_faults, build_parser
    from bybitfast.emulator.faults import Faults

    args = build_parser().parse_args(["emulator", "--reset-book", "--reset-book", "orderbook.1.ETHUSDT", "--gap", "1"])
    faults = Faults()
    _arm_faults(faults, args)
    assert faults.resets == {None: 1, "orderbook.1.ETHUSDT": 1} and faults.gaps == {None: 1}
    faults = Faults()
    _arm_faults(faults, build_parser().parse_args(["emulator"]))
    assert faults.resets == {} and faults.gaps == {}
