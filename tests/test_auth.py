"""Signing and the signed bytes: golden vectors (PROTOCOL.md §2.5), every SHA-256 path against
hashlib/hmac, RSA against the public key, parameter encoding and its errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import pickle
import sys
from collections.abc import Iterator
from decimal import Decimal
from enum import Enum

import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from bybitfast import auth
from bybitfast.auth import (
    Signer,
    encode_body,
    encode_query,
    rest_auth_headers,
    rest_payload,
    sign_message,
    ws_api_header,
    ws_auth_frame,
    ws_auth_payload,
)
from bybitfast.errors import ConfigurationError, InvalidParameterError

_sign = pytest.importorskip("bybitfast._sign")

API_KEY = "TESTKEY1234567890A"
SECRET = "TESTSECRET1234567890abcdefghijklmnop"
ORDER = {
    "category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
    "qty": "0.001", "price": "50000", "timeInForce": "GTC", "orderLinkId": "bf-0001",
}
BACKENDS = ["shani", "portable", "hashlib"]


def reference_hmac(secret: bytes | str, message: bytes | str) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    msg = message.encode() if isinstance(message, str) else message
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    name = request.param
    if name not in _sign.available_backends():
        pytest.skip(f"{name} is not supported by this CPU")
    _sign.set_backend(name)
    try:
        yield name
    finally:
        _sign.set_backend("auto")


@pytest.fixture(autouse=True)
def _fresh_signer_cache() -> Iterator[None]:
    auth._clear_signer_cache()
    yield
    auth._clear_signer_cache()
    _sign.set_backend("auto")


# -- golden vectors (PROTOCOL.md §2.5) ------------------------------------------------------

def test_golden_get_query(backend: str) -> None:
    signer = Signer(SECRET)
    query = encode_query({"category": "option", "symbol": "BTC-29JUL22-25000-C"})
    assert query == "category=option&symbol=BTC-29JUL22-25000-C"
    payload = rest_payload(1658384314791, API_KEY, 5000, query)
    assert payload == "1658384314791TESTKEY1234567890A5000category=option&symbol=BTC-29JUL22-25000-C"
    assert signer.sign(payload) == "f5fce47bbfee090cb05dc7b2428559e3a6284d45a72697e394646f6418f3652f"


def test_golden_get_cursor_is_encoded_again(backend: str) -> None:
    query = encode_query(
        {"category": "linear", "symbol": "BTCUSDT", "limit": 20, "cursor": "page_args%3D123%26symbol%3D6%26"}
    )
    assert query == "category=linear&symbol=BTCUSDT&limit=20&cursor=page_args%253D123%2526symbol%253D6%2526"
    headers = rest_auth_headers(Signer(SECRET), API_KEY, 1658384314791, 5000, query)
    assert headers["X-BAPI-SIGN"] == "e684d9c46110401c0b33a4af98366a6e9bf849705a42dc0946b83357fda909aa"


def test_golden_post_body_compact_and_spaced(backend: str) -> None:
    signer = Signer(SECRET)
    body = encode_body(ORDER)
    assert body == (
        b'{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001",'
        b'"price":"50000","timeInForce":"GTC","orderLinkId":"bf-0001"}'
    )
    compact = "2c710151292330fd9ff8a07f1185ebd889e3ed357176607aad5733f52324f113"
    assert signer.sign(rest_payload(1658385579423, API_KEY, 5000, body)) == compact
    assert rest_auth_headers(signer, API_KEY, 1658385579423, 5000, body)["X-BAPI-SIGN"] == compact
    # pybit's json.dumps with spaces: a different, equally valid signature of different bytes.
    spaced = rest_payload("1658385579423", API_KEY, "5000", json.dumps(ORDER))
    assert signer.sign(spaced) == "75ca45eea9a710011d833420c61e880f68653204da46f3c26486808fd89f365b"


def test_golden_ws_auth(backend: str) -> None:
    signer = Signer(SECRET)
    assert ws_auth_payload(1711010121452) == "GET/realtime1711010121452"
    sig = "99a3832b0479eb29ae0ae51fb4969a8282faccb5cf90b1acc1ecfcbde8fc7562"
    assert signer.sign(ws_auth_payload(1711010121452)) == sig
    assert sign_message("GET/realtime1711010121452", SECRET) == sig
    frame = ws_auth_frame(API_KEY, signer, 1711010121452)
    assert frame == b'{"op":"auth","args":["TESTKEY1234567890A",1711010121452,"' + sig.encode() + b'"]}'
    with_id = orjson.loads(ws_auth_frame(API_KEY, signer, 1711010121452, req_id="auth-1"))
    assert list(with_id) == ["req_id", "op", "args"] and with_id["req_id"] == "auth-1"


# -- HMAC equality with the hmac module on every path ----------------------------------------

@settings(max_examples=60, deadline=None)
@given(secret=st.text(min_size=1, max_size=150), message=st.text(max_size=400))
def test_hmac_matches_hmac_module_all_backends(secret: str, message: str) -> None:
    expected = reference_hmac(secret, message)
    signer = Signer(secret, rsa=False)
    try:
        for name in _sign.available_backends():
            _sign.set_backend(name)
            assert signer.sign(message) == expected, name
            assert signer.sign_bytes(message.encode()) == expected, name
    finally:
        _sign.set_backend("auto")


@settings(max_examples=40, deadline=None)
@given(key=st.binary(max_size=200), message=st.binary(max_size=1000))
def test_core_binary_keys_and_buffers(key: bytes, message: bytes) -> None:
    expected = reference_hmac(key, message)
    core = _sign.SignerCore(hmac_key=key)
    py_core = auth._HashlibSignerCore(hmac_key=key)
    for buf in (message, bytearray(message), memoryview(message)):
        assert core.sign_bytes(buf) == expected
        assert py_core.sign_bytes(buf) == expected


@pytest.mark.parametrize("key_len", [0, 1, 63, 64, 65, 200])
def test_hmac_block_boundaries(backend: str, key_len: int) -> None:
    key = bytes(range(256))[:key_len]
    core = _sign.SignerCore(hmac_key=key)
    for n in [*range(0, 130), 183, 184, 1000, 4097]:
        msg = bytes((i * 7 + n) & 0xFF for i in range(n))
        assert core.sign_bytes(msg) == reference_hmac(key, msg), n


def test_sha256_matches_hashlib(backend: str) -> None:
    for n in [*range(0, 200), 511, 512, 513, 10_000]:
        data = bytes((i * 31 + 5) & 0xFF for i in range(n))
        assert _sign.sha256(data) == hashlib.sha256(data).digest(), n


def test_unicode_and_empty_messages(backend: str) -> None:
    signer = Signer("sécret-ключ-🔑")
    for message in ["", "é", "GET/realtime1", "ключ=значение&🔑=✓" * 20]:
        assert signer.sign(message) == reference_hmac("sécret-ключ-🔑", message)
    with pytest.raises(UnicodeEncodeError):
        signer.sign("\ud800")  # lone surrogate: not encodable, as with str.encode()


def test_backend_selection() -> None:
    assert _sign.get_backend() == _sign.available_backends()[0]
    _sign.set_backend("portable")
    assert _sign.get_backend() == "portable"
    _sign.set_backend("hashlib")
    assert _sign.get_backend() == "hashlib"
    _sign.set_backend("auto")
    assert _sign.get_backend() == _sign.available_backends()[0]
    with pytest.raises(ValueError):
        _sign.set_backend("openssl")
    assert _sign.get_backend() == _sign.available_backends()[0]


def test_shani_selected_when_cpu_has_it() -> None:
    with open("/proc/cpuinfo") as f:
        has_sha = " sha_ni" in f.read()
    if not has_sha:
        pytest.skip("no SHA extensions on this CPU")
    assert _sign.available_backends()[0] == "shani"
    assert _sign.get_backend() == "shani"


def test_core_argument_errors() -> None:
    with pytest.raises(TypeError):
        _sign.SignerCore()
    with pytest.raises(TypeError):
        _sign.SignerCore(hmac_key=b"k", external=lambda b: "")
    with pytest.raises(TypeError):
        Signer(SECRET).sign(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Signer(SECRET).sign(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Signer(SECRET).sign_bytes("str")  # type: ignore[arg-type]


# -- secret hygiene ------------------------------------------------------------------------

def test_secret_never_in_repr_or_pickle(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = _pem(rsa_key, serialization.PrivateFormat.PKCS8)
    for secret in (SECRET, pem):
        signer = Signer(secret)
        for text in (repr(signer), str(signer), f"{signer}", repr([signer])):
            assert SECRET not in text and "PRIVATE" not in text and "MII" not in text
        assert repr(signer) == ("Signer(kind='rsa')" if signer.is_rsa else "Signer(kind='hmac')")
        with pytest.raises(TypeError):
            pickle.dumps(signer)
        with pytest.raises((AttributeError, TypeError)):
            signer.secret = secret  # type: ignore[attr-defined]  # no __dict__ to park it in


def test_bad_secrets_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        Signer("")
    with pytest.raises(ConfigurationError):
        Signer(b"bytes")  # type: ignore[arg-type]
    bad_pem = "-----BEGIN PRIVATE KEY-----\nTOPSECRETgarbage\n-----END PRIVATE KEY-----"
    with pytest.raises(ConfigurationError) as info:
        Signer(bad_pem)
    assert "TOPSECRET" not in str(info.value)
    with pytest.raises(ConfigurationError):
        Signer("not a pem", rsa=True)


# -- RSA -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, fmt: serialization.PrivateFormat) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def _verify(key: rsa.RSAPrivateKey, signature: str, message: bytes) -> None:
    key.public_key().verify(base64.b64decode(signature, validate=True), message, padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize(
    ("fmt", "header"),
    [
        (serialization.PrivateFormat.PKCS8, "-----BEGIN PRIVATE KEY-----"),
        (serialization.PrivateFormat.TraditionalOpenSSL, "-----BEGIN RSA PRIVATE KEY-----"),
    ],
)
def test_rsa_autodetect_and_verify(rsa_key: rsa.RSAPrivateKey, fmt: serialization.PrivateFormat, header: str) -> None:
    pem = _pem(rsa_key, fmt)
    assert pem.startswith(header)
    signer = Signer(pem)
    assert signer.is_rsa
    payload = rest_payload(1658385579423, API_KEY, 5000, encode_body(ORDER))
    _verify(rsa_key, signer.sign(payload), payload.encode())
    _verify(rsa_key, signer.sign_bytes(payload.encode()), payload.encode())
    frame = orjson.loads(ws_auth_frame(API_KEY, signer, 1711010121452))
    _verify(rsa_key, frame["args"][2], b"GET/realtime1711010121452")
    headers = rest_auth_headers(signer, API_KEY, 1658385579423, 5000, encode_body(ORDER))
    _verify(rsa_key, headers["X-BAPI-SIGN"], payload.encode())


def test_rsa_escaped_newlines_and_overrides(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = _pem(rsa_key, serialization.PrivateFormat.PKCS8)
    one_line = pem.strip().replace("\n", "\\n")  # as kept in an env var
    _verify(rsa_key, Signer(one_line).sign("x"), b"x")
    as_hmac = Signer(pem, rsa=False)  # explicit override wins over detection
    assert not as_hmac.is_rsa and as_hmac.sign("x") == reference_hmac(pem, "x")


def test_rsa_rejects_non_rsa_keys() -> None:
    ec_pem = _pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8)
    with pytest.raises(ConfigurationError, match="RSA"):
        Signer(ec_pem)


def test_rsa_key_parsed_once_per_secret(rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch) -> None:
    pem = _pem(rsa_key, serialization.PrivateFormat.TraditionalOpenSSL)
    calls = []
    real = auth._load_rsa_key

    def counting(secret: str):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(secret)

    monkeypatch.setattr(auth, "_load_rsa_key", counting)
    for i in range(5):
        _verify(rsa_key, sign_message(f"m{i}", pem), f"m{i}".encode())
    assert len(calls) == 1
    assert sign_message("a", SECRET) == reference_hmac(SECRET, "a")
    assert len(calls) == 1


def test_signer_cache_is_bounded() -> None:
    for i in range(auth._SIGNERS_MAX + 10):
        assert sign_message("m", f"secret-{i}") == reference_hmac(f"secret-{i}", "m")
    assert len(auth._SIGNERS) == auth._SIGNERS_MAX
    assert "secret-0" not in auth._SIGNERS and f"secret-{auth._SIGNERS_MAX + 9}" in auth._SIGNERS


# -- encode_query ------------------------------------------------------------------------------

class Side(str, Enum):
    BUY = "Buy"


class Level(Enum):
    FIVE = 5


def test_encode_query_rules() -> None:
    assert encode_query(None) == "" and encode_query({}) == ""
    assert encode_query({"b": 1, "a": 2}) == "b=1&a=2"  # insertion order, not sorted
    assert encode_query({"a": None, "b": "x", "c": None}) == "b=x"
    assert encode_query({"t": True, "f": False}) == "t=true&f=false"
    assert encode_query({"d": Decimal("1E-7"), "e": Decimal("0.10"), "f": 1e-7, "g": 2.5}) == (
        "d=0.0000001&e=0.10&f=0.0000001&g=2.5"
    )
    assert encode_query({"side": Side.BUY, "lvl": Level.FIVE}) == "side=Buy&lvl=5"
    # encodeURIComponent: these stay, everything else is percent-encoded (UTF-8)
    assert encode_query({"s": "AZaz09-_.!~*'()"}) == "s=AZaz09-_.!~*'()"
    assert encode_query({"s": "a b&c=d/e+f,g:h"}) == "s=a%20b%26c%3Dd%2Fe%2Bf%2Cg%3Ah"
    assert encode_query({"s": "é✓"}) == "s=%C3%A9%E2%9C%93"
    assert encode_query({"a b": "1"}) == "a%20b=1"


@pytest.mark.parametrize(
    "params",
    [
        {"x": [1, 2]},
        {"x": {"y": 1}},
        {"x": (1,)},
        {"x": {1, 2}},
        {"x": object()},
        {"x": float("nan")},
        {"x": float("inf")},
        {"x": Decimal("NaN")},
        {"x": b"bytes"},
        {1: "a"},
    ],
)
def test_encode_query_errors(params: dict) -> None:
    with pytest.raises(InvalidParameterError):
        encode_query(params)


def test_encode_query_rejects_non_mapping() -> None:
    with pytest.raises(InvalidParameterError):
        encode_query([("a", 1)])  # type: ignore[arg-type]


# -- encode_body -------------------------------------------------------------------------------

def test_encode_body_rules() -> None:
    assert encode_body(None) == b"{}" and encode_body({}) == b"{}"
    assert encode_body({"a": None}) == b"{}"
    assert encode_body({"b": 1, "a": "x"}) == b'{"b":1,"a":"x"}'  # insertion order, compact
    assert encode_body({"t": True, "f": False, "i": 3, "fl": 0.5}) == b'{"t":true,"f":false,"i":3,"fl":0.5}'
    assert encode_body({"qty": Decimal("0.0010"), "p": Decimal("1E+3")}) == b'{"qty":"0.0010","p":"1000"}'
    nested = {
        "category": "linear",
        "request": [{"symbol": "BTCUSDT", "price": None, "qty": Decimal("1")}, {"symbol": "ETHUSDT", "x": {"y": None}}],
        "drop": None,
    }
    assert encode_body(nested) == (
        b'{"category":"linear","request":[{"symbol":"BTCUSDT","qty":"1"},{"symbol":"ETHUSDT","x":{}}]}'
    )
    assert encode_body({"l": [1, None]}) == b'{"l":[1,null]}'  # list items keep their positions
    assert encode_body({"note": "null"}) == b'{"note":"null"}'
    assert encode_body({"side": Side.BUY}) == b'{"side":"Buy"}'


@pytest.mark.parametrize(
    "params",
    [
        {"x": {1, 2}},
        {"x": object()},
        {"x": float("nan")},
        {"x": [1.0, float("-inf")]},
        {"x": {"y": float("inf")}},
        {"x": Decimal("Infinity")},
        {"x": 2**70},
        {1: "a"},
        {"x": b"bytes"},
    ],
)
def test_encode_body_errors(params: dict) -> None:
    with pytest.raises(InvalidParameterError):
        encode_body(params)


def test_encode_body_rejects_non_mapping() -> None:
    with pytest.raises(InvalidParameterError):
        encode_body([1, 2])  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=8),
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=12)
        | st.floats(allow_nan=False, allow_infinity=False),
        max_size=8,
    )
)
def test_encode_body_round_trips(params: dict) -> None:
    expected = {k: v for k, v in params.items() if v is not None}
    assert orjson.loads(encode_body(params)) == expected


# -- headers -----------------------------------------------------------------------------------

def test_rest_auth_headers_shape_and_bytes_equivalence() -> None:
    signer = Signer(SECRET)
    headers = rest_auth_headers(signer, API_KEY, 1658385579423, 5000, "a=1")
    assert headers == {
        "X-BAPI-API-KEY": API_KEY,
        "X-BAPI-TIMESTAMP": "1658385579423",
        "X-BAPI-SIGN": reference_hmac(SECRET, "1658385579423" + API_KEY + "5000a=1"),
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN-TYPE": "2",
    }
    assert rest_auth_headers(signer, API_KEY, 1658385579423, 5000, b"a=1") == headers
    assert rest_auth_headers(signer, API_KEY, 1658385579423, 5000, "")["X-BAPI-SIGN"] == reference_hmac(
        SECRET, "1658385579423" + API_KEY + "5000"
    )
    raw = b"--boundary\r\n\xff\xfe binary"  # multipart bodies are signed as raw bytes, never decoded
    sig = rest_auth_headers(signer, API_KEY, 1, 5000, raw)["X-BAPI-SIGN"]
    assert sig == reference_hmac(SECRET, b"1" + API_KEY.encode() + b"5000" + raw)


def test_ws_api_header() -> None:
    assert ws_api_header(1711010121452, 5000) == {"X-BAPI-TIMESTAMP": "1711010121452", "X-BAPI-RECV-WINDOW": "5000"}
    assert ws_api_header(1, 8000, referer="broker-1") == {
        "X-BAPI-TIMESTAMP": "1",
        "X-BAPI-RECV-WINDOW": "8000",
        "Referer": "broker-1",
    }


def test_signer_without_extension(monkeypatch: pytest.MonkeyPatch, rsa_key: rsa.RSAPrivateKey) -> None:
    """auth.py loaded while bybitfast._sign cannot be imported: the hashlib fallback signs the same."""
    monkeypatch.setitem(sys.modules, "bybitfast._sign", None)  # makes the import raise ImportError
    spec = importlib.util.spec_from_file_location("bybitfast._auth_pure", auth.__file__)
    assert spec is not None and spec.loader is not None
    pure = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pure)
    assert not pure.NATIVE
    signer = pure.Signer(SECRET)
    assert signer.sign("GET/realtime1711010121452") == (
        "99a3832b0479eb29ae0ae51fb4969a8282faccb5cf90b1acc1ecfcbde8fc7562"
    )
    body = pure.encode_body(ORDER)
    assert pure.rest_auth_headers(signer, API_KEY, 1658385579423, 5000, body)["X-BAPI-SIGN"] == (
        "2c710151292330fd9ff8a07f1185ebd889e3ed357176607aad5733f52324f113"
    )
    assert repr(signer) == "Signer(kind='hmac')" and SECRET not in repr(signer)
    rsa_signer = pure.Signer(_pem(rsa_key, serialization.PrivateFormat.PKCS8))
    _verify(rsa_key, rsa_signer.sign("x"), b"x")
    with pytest.raises(TypeError):
        pickle.dumps(signer)


def test_pure_python_core_matches_native() -> None:
    py = auth._HashlibSignerCore(hmac_key=SECRET.encode())
    assert py.sign("GET/realtime1711010121452") == "99a3832b0479eb29ae0ae51fb4969a8282faccb5cf90b1acc1ecfcbde8fc7562"
    with pytest.raises(TypeError):
        py.sign(b"x")  # type: ignore[arg-type]
    assert auth.NATIVE


# ---- encode_query's fast path agrees with the general (quote-everything) path ----------------
_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=12),
    st.sampled_from(["BTCUSDT", "linear", "page_args%3D123", "a b", "x&y=z", "é", "~*'()", "-_.!"]),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.one_of(st.text(max_size=6), st.sampled_from(["category", "symbol", "a-b", "x y"])), _values, max_size=6))
def test_query_fast_path_matches_general_path(params):
    from bybitfast import auth

    fast = auth._encode_plain_query(params)
    assert fast is None or fast == auth._encode_quoted_query(params)
    assert auth.encode_query(params) == auth._encode_quoted_query(params)
