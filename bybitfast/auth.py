"""Request signing and the exact bytes that get signed (PROTOCOL.md §2, §4.3, §6).

HMAC-SHA256 runs in C (``bybitfast._sign``: own SHA-256, SHA-NI when the CPU has it, key
pre-absorbed once per secret); RSA keys (a secret containing ``PRIVATE KEY``) are parsed once
with ``cryptography`` and sign RSASSA-PKCS1-v1_5 + SHA-256, base64. The same ``Signer`` serves
REST headers and WebSocket auth. Parameters are encoded here once, and those exact bytes are both
signed and sent: Bybit verifies the raw query string / body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import Enum
from typing import Any
from urllib.parse import quote

import orjson

from .errors import ConfigurationError, InvalidParameterError

__all__ = [
    "Signer",
    "sign_message",
    "encode_query",
    "encode_body",
    "rest_payload",
    "rest_auth_headers",
    "ws_auth_payload",
    "ws_auth_frame",
    "ws_api_header",
]


class _HashlibSignerCore:
    """Pure-Python twin of ``bybitfast._sign.SignerCore`` (reference, and fallback when the
    extension is not built): a cached ``hmac`` state copied per signature."""

    __slots__ = ("_hashlib", "_external", "is_rsa")

    def __init__(
        self,
        hmac_key: bytes | None = None,
        external: Callable[[bytes], str] | None = None,
        is_rsa: bool = False,
    ) -> None:
        if (hmac_key is None) == (external is None):
            raise TypeError("exactly one of hmac_key and external is required")
        self._hashlib = None if hmac_key is None else hmac.new(bytes(hmac_key), digestmod=hashlib.sha256)
        self._external = external
        self.is_rsa = is_rsa

    def sign(self, message: str) -> str:
        """Signature of ``message`` (UTF-8): 64-char lowercase hex for HMAC, base64 for RSA."""
        if not isinstance(message, str):
            raise TypeError(f"message must be str, not {type(message).__name__}")
        return self.sign_bytes(message.encode())

    def sign_bytes(self, message: bytes) -> str:
        """Signature of raw bytes."""
        if self._external is not None:
            return self._external(bytes(message))
        h = self._hashlib.copy()  # type: ignore[union-attr]
        h.update(message)
        return h.hexdigest()

    def __reduce__(self) -> Any:
        raise TypeError(f"{type(self).__name__} cannot be pickled: it holds key material")


try:
    from ._sign import SignerCore as _SignerCore
except ImportError:  # extension not built: same results through hashlib, ~5x slower
    _SignerCore = _HashlibSignerCore  # type: ignore[misc,assignment]

NATIVE = _SignerCore is not _HashlibSignerCore


def _load_rsa_key(pem: str) -> Any:
    """Parses a PEM RSA private key (PKCS#8 or PKCS#1). Errors never quote the key."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if "\\n" in pem and "\n" not in pem.strip():
        pem = pem.replace("\\n", "\n")  # keys kept in env vars / JSON often carry escaped newlines
    try:
        key = serialization.load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        reason = type(exc).__name__
        raise ConfigurationError(f"api secret looks like a PEM private key but cannot be loaded ({reason})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        kind = type(key).__name__.lstrip("_")
        raise ConfigurationError(f"api secret is a {kind} private key; Bybit accepts RSA only")
    return key


def _rsa_signer(key: Any) -> Callable[[bytes], str]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    pad, algorithm, sign, b64 = padding.PKCS1v15(), hashes.SHA256(), key.sign, base64.b64encode

    def sign_rsa(message: bytes) -> str:
        return b64(sign(message, pad, algorithm)).decode("ascii")

    return sign_rsa


class Signer(_SignerCore):  # type: ignore[misc,valid-type]
    """Signs with one API secret: HMAC-SHA256 hex, or RSA PKCS#1 v1.5 SHA-256 base64 when the
    secret is a PEM private key (``rsa=None`` detects it; True/False overrides).

    Holds only the pre-keyed HMAC state or the parsed RSA key; ``repr`` never shows either.
    """

    __slots__ = ()

    def __init__(self, secret: str, *, rsa: bool | None = None) -> None:
        if not isinstance(secret, str):
            raise ConfigurationError(f"api secret must be str, not {type(secret).__name__}")
        if not secret:
            raise ConfigurationError("api secret is empty")
        if rsa is None:
            rsa = "PRIVATE KEY" in secret
        if rsa:
            super().__init__(external=_rsa_signer(_load_rsa_key(secret)), is_rsa=True)
        else:
            super().__init__(hmac_key=secret.encode())

    def __repr__(self) -> str:
        return f"Signer(kind={'rsa' if self.is_rsa else 'hmac'!r})"

    __str__ = __repr__


_SIGNERS: dict[str, Signer] = {}
_SIGNERS_MAX = 64


def sign_message(message: str, secret: str) -> str:
    """Signs ``message`` with ``secret`` through a cached ``Signer`` (at most 64 secrets kept)."""
    signer = _SIGNERS.get(secret)
    if signer is None:
        signer = Signer(secret)
        if len(_SIGNERS) >= _SIGNERS_MAX:
            del _SIGNERS[next(iter(_SIGNERS))]  # oldest first
        _SIGNERS[secret] = signer
    return signer.sign(message)


def _clear_signer_cache() -> None:
    _SIGNERS.clear()


# encodeURIComponent leaves exactly these unescaped (besides alphanumerics).
_URI_SAFE = "-_.!~*'()"


def _plain_decimal(value: Decimal, name: object) -> str:
    if not value.is_finite():
        raise InvalidParameterError(f"parameter {name!r}: {value} is not a finite number")
    return format(value, "f")  # positional, never "1E-7"


def _query_value(name: str, value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # an Enum whose value is a bool
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidParameterError(f"parameter {name!r}: {value} is not a finite number")
        return _plain_decimal(Decimal(repr(value)), name)
    if isinstance(value, Decimal):
        return _plain_decimal(value, name)
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        raise InvalidParameterError(f"parameter {name!r}: a {type(value).__name__} cannot be sent in a GET query")
    raise InvalidParameterError(f"parameter {name!r}: cannot encode a {type(value).__name__}")


def encode_query(params: Mapping[str, Any] | None) -> str:
    """GET query string as sent and signed: insertion order, ``None`` dropped, booleans
    ``true``/``false``, values quoted like ``encodeURIComponent`` (a ``cursor`` Bybit returned
    already percent-encoded is encoded again, as bybit-api does)."""
    if not params:
        return ""
    if not isinstance(params, Mapping):
        raise InvalidParameterError(f"query parameters must be a mapping, not {type(params).__name__}")
    fast = _encode_plain_query(params)
    return fast if fast is not None else _encode_quoted_query(params)


def _encode_quoted_query(params: Mapping[str, Any]) -> str:
    """The general path of :func:`encode_query`: every name and value through ``quote``."""
    parts = []
    for name, value in params.items():
        if value is None:
            continue
        if not isinstance(name, str):
            raise InvalidParameterError(f"parameter names must be str, not {type(name).__name__}")
        parts.append(f"{quote(name, safe=_URI_SAFE)}={quote(_query_value(name, value), safe=_URI_SAFE)}")
    return "&".join(parts)


# Characters encodeURIComponent leaves alone, alphanumerics included.
_plain = re.compile(r"[A-Za-z0-9_.!~*'()-]*").fullmatch


def _encode_plain_query(params: Mapping[str, Any]) -> str | None:
    """The common case without ``quote`` (~1 us a call): str/int values and names that need no
    quoting are joined as they are. None when anything needs the full path."""
    parts = []
    for name, value in params.items():
        if value is None:
            continue
        t = type(value)
        if t is int:
            value = str(value)
        elif t is not str or not (value.isascii() and value.isalnum()) and _plain(value) is None:
            return None
        if type(name) is not str or not (name.isascii() and name.isalnum()) and _plain(name) is None:
            return None
        parts.append(f"{name}={value}")
    return "&".join(parts)


# Types orjson would serialise on its own but a request parameter should never be.
_JSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _plain_decimal(value, "?")
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, float):  # float subclass
        return float(value)
    raise InvalidParameterError(f"cannot encode a {type(value).__name__} as JSON")


def _strip(name: object, value: Any) -> Any:
    """Drops None from mappings at every depth and rejects non-finite floats."""
    if isinstance(value, Mapping):
        return {k: _strip(k, v) for k, v in value.items() if v is not None}
    if type(value) is list or type(value) is tuple:
        return [_strip(name, v) for v in value]  # None in a list stays null: dropping it would shift items
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidParameterError(f"parameter {name!r}: {value} is not a finite number")
    return value


def _dumps(body: Any) -> bytes:
    try:
        return orjson.dumps(body, default=_json_default, option=_JSON_OPTIONS)
    except orjson.JSONEncodeError as exc:
        if isinstance(exc.__cause__, InvalidParameterError):
            raise exc.__cause__ from None
        raise InvalidParameterError(f"cannot encode body: {exc}") from None  # non-str key, int beyond 64 bits


def encode_body(params: Mapping[str, Any] | None) -> bytes:
    """POST body as sent and signed: compact JSON, ``None`` dropped at every depth, ``Decimal``
    as a positional string, bool as bool, int/finite float as numbers; ``b"{}"`` when empty."""
    if not params:
        return b"{}"
    if type(params) is not dict and not isinstance(params, Mapping):
        raise InvalidParameterError(f"body parameters must be a mapping, not {type(params).__name__}")
    body = _dumps(params)
    # orjson writes both None and NaN/inf as null: only then walk the parameters (a value merely
    # containing "null" takes the same, still correct, path).
    if body.find(b"null") >= 0:
        body = _dumps(_strip(None, params))
    return body


def rest_payload(timestamp: int | str, api_key: str, recv_window: int | str, query_or_body: str | bytes) -> str:
    """The string Bybit signs: timestamp + api_key + recv_window + query string or raw body."""
    if isinstance(query_or_body, (bytes, bytearray, memoryview)):
        query_or_body = bytes(query_or_body).decode()
    return f"{timestamp}{api_key}{recv_window}{query_or_body}"


def rest_auth_headers(
    signer: Signer, api_key: str, timestamp: int, recv_window: int, query_or_body: str | bytes
) -> dict[str, str]:
    """Headers of a signed REST request over the exact query string / body bytes sent."""
    ts = str(timestamp)
    window = str(recv_window)
    if isinstance(query_or_body, str):
        signature = signer.sign(ts + api_key + window + query_or_body)
    else:  # raw bytes (JSON or multipart) are signed as is, never decoded
        signature = signer.sign_bytes((ts + api_key + window).encode() + bytes(query_or_body))
    return {
        "X-BAPI-API-KEY": api_key,
        "X-BAPI-TIMESTAMP": ts,
        "X-BAPI-SIGN": signature,
        "X-BAPI-RECV-WINDOW": window,
        "X-BAPI-SIGN-TYPE": "2",
    }


def ws_auth_payload(expires_ms: int) -> str:
    """String signed for WebSocket auth: ``"GET/realtime" + expires``."""
    return f"GET/realtime{int(expires_ms)}"


def ws_auth_frame(api_key: str, signer: Signer, expires_ms: int, req_id: str | None = None) -> bytes:
    """``{"req_id"?, "op":"auth", "args":[api_key, expires, signature]}`` as compact JSON."""
    expires = int(expires_ms)
    args = [api_key, expires, signer.sign(f"GET/realtime{expires}")]
    if req_id is None:
        return orjson.dumps({"op": "auth", "args": args})
    return orjson.dumps({"req_id": req_id, "op": "auth", "args": args})


def ws_api_header(timestamp_ms: int, recv_window: int, referer: str | None = None) -> dict[str, str]:
    """``header`` object of a trade-socket request (timestamp and recv window as strings)."""
    header = {"X-BAPI-TIMESTAMP": str(int(timestamp_ms)), "X-BAPI-RECV-WINDOW": str(int(recv_window))}
    if referer:
        header["Referer"] = referer
    return header
