"""Signing: bybitfast's native HMAC / cached RSA vs hmac, a cached hmac copy and pybit.

Run: ``/work/venv/bin/python -m pytest benchmarks/bench_sign.py -q`` (ratios printed at the end).
Target (PROTOCOL.md §9): HMAC incl. hex <= 300 ns pre-keyed; RSA-2048 ~0.25 ms with the key loaded once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest
from pybit import _http_manager as pybit_http

from bybitfast import _sign
from bybitfast.auth import Signer, encode_body, rest_auth_headers, sign_message

SECRET = "TESTSECRET1234567890abcdefghijklmnop"
PAYLOAD = "1658384314791TESTKEY1234567890A5000category=linear&symbol=BTCUSDT&orderId=1b6a3c7e-5d2f-4e3a"
PAYLOAD = (PAYLOAD + "x" * 112)[:112]
ORDER = {
    "category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
    "qty": "0.001", "price": "50000", "timeInForce": "GTC", "orderLinkId": "bf-0001",
}
assert len(PAYLOAD.encode()) == 112


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    name = request.param
    if name not in _sign.available_backends():
        pytest.skip(f"{name} not available on this CPU")
    _sign.set_backend(name)
    yield name
    _sign.set_backend("auto")


# -- HMAC-SHA256 hex over a 112-byte payload -------------------------------------------------

@pytest.mark.benchmark(group="sign-hmac")
def test_hmac_new_baseline(benchmark) -> None:
    key = SECRET.encode()
    benchmark(lambda: hmac.new(key, PAYLOAD.encode(), hashlib.sha256).hexdigest())


@pytest.mark.benchmark(group="sign-hmac")
def test_hmac_cached_copy(benchmark) -> None:
    state = hmac.new(SECRET.encode(), digestmod=hashlib.sha256)

    def run() -> str:
        h = state.copy()
        h.update(PAYLOAD.encode())
        return h.hexdigest()

    benchmark(run)


@pytest.mark.benchmark(group="sign-hmac")
def test_pybit_generate_signature(benchmark) -> None:
    benchmark(pybit_http.generate_signature, False, SECRET, PAYLOAD)


@pytest.mark.benchmark(group="sign-hmac")
@pytest.mark.parametrize("backend", ["shani", "portable", "hashlib"], indirect=True)
def test_signer_sign(benchmark, backend: str) -> None:
    signer = Signer(SECRET)
    assert signer.sign(PAYLOAD) == hmac.new(SECRET.encode(), PAYLOAD.encode(), hashlib.sha256).hexdigest()
    benchmark(signer.sign, PAYLOAD)


@pytest.mark.benchmark(group="sign-hmac")
def test_sign_message_cached(benchmark) -> None:
    benchmark(sign_message, PAYLOAD, SECRET)


# -- full REST auth headers for a POST body --------------------------------------------------

@pytest.mark.benchmark(group="rest-auth")
def test_pybit_auth_baseline(benchmark) -> None:
    # pybit's _auth: json.dumps the body, concatenate, hmac.new per call.
    def run() -> dict[str, str]:
        body = json.dumps(ORDER)
        sig = pybit_http.generate_signature(False, SECRET, "1658385579423" + "TESTKEY1234567890A" + "5000" + body)
        return {"X-BAPI-API-KEY": "TESTKEY1234567890A", "X-BAPI-SIGN": sig, "X-BAPI-SIGN-TYPE": "2",
                "X-BAPI-TIMESTAMP": "1658385579423", "X-BAPI-RECV-WINDOW": "5000"}

    benchmark(run)


@pytest.mark.benchmark(group="rest-auth")
def test_encode_body_and_headers(benchmark) -> None:
    signer = Signer(SECRET)
    benchmark(lambda: rest_auth_headers(signer, "TESTKEY1234567890A", 1658385579423, 5000, encode_body(ORDER)))


@pytest.mark.benchmark(group="encode-body")
def test_json_dumps_baseline(benchmark) -> None:
    benchmark(json.dumps, ORDER)


@pytest.mark.benchmark(group="encode-body")
def test_encode_body(benchmark) -> None:
    benchmark(encode_body, ORDER)


# -- RSA-2048 PKCS#1 v1.5 SHA-256 -----------------------------------------------------------

@pytest.mark.benchmark(group="sign-rsa", min_rounds=3, max_time=0.5)
def test_pybit_rsa_baseline(benchmark, rsa_pem: str) -> None:
    # pybit re-imports the PEM on every call (PyCryptodome).
    benchmark(pybit_http.generate_signature, True, rsa_pem, PAYLOAD)


@pytest.mark.benchmark(group="sign-rsa", min_rounds=3, max_time=0.5)
def test_signer_rsa_cached_key(benchmark, rsa_pem: str) -> None:
    signer = Signer(rsa_pem)
    assert signer.is_rsa
    benchmark(signer.sign, PAYLOAD)
