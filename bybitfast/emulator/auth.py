"""Signature and timestamp checks, done the way the exchange does them (PROTOCOL §2, §4.3).

REST: ``payload = timestamp + api_key + recv_window + X`` where X is the raw query string (GET)
or the raw body bytes (POST) exactly as received, never re-serialised. HMAC-SHA256 hex for
system keys, RSASSA-PKCS1-v1_5 SHA-256 base64 for keys registered with an RSA public key.
Deliberately independent of ``bybitfast.auth``: a signing bug in the client cannot be mirrored
here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .common import ApiError

DEFAULT_RECV_WINDOW = 5000
FUTURE_TOLERANCE_MS = 1000  # a timestamp up to 1 s ahead of the server is accepted


@dataclass
class ApiKey:
    """One registered key: HMAC secret or RSA public key, bound to an account."""

    api_key: str
    uid: str
    secret: bytes | None = None
    rsa_key: rsa.RSAPublicKey | None = None

    @property
    def is_rsa(self) -> bool:
        return self.rsa_key is not None

    def verify(self, payload: bytes, sign: str) -> bool:
        """True when ``sign`` is this key's signature of ``payload``."""
        if self.rsa_key is not None:
            try:
                raw = base64.b64decode(sign, validate=True)
                self.rsa_key.verify(raw, payload, padding.PKCS1v15(), hashes.SHA256())
            except (InvalidSignature, binascii.Error, ValueError):
                return False
            return True
        assert self.secret is not None
        expected = hmac.new(self.secret, payload, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, sign.lower())


class KeyStore:
    """api_key -> :class:`ApiKey`."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}

    def add(self, api_key: str, uid: str, secret: str | None = None, *, rsa_public_key: str | bytes | None = None) -> ApiKey:
        if not api_key:
            raise ValueError("api_key must be a non-empty string")
        if (secret is None) == (rsa_public_key is None):
            raise ValueError("give exactly one of secret (HMAC) or rsa_public_key (PEM)")
        if rsa_public_key is not None:
            pem = rsa_public_key.encode() if isinstance(rsa_public_key, str) else rsa_public_key
            key = serialization.load_pem_public_key(pem)
            if not isinstance(key, rsa.RSAPublicKey):
                raise ValueError("rsa_public_key is not an RSA public key")
            entry = ApiKey(api_key, uid, rsa_key=key)
        else:
            assert secret is not None
            entry = ApiKey(api_key, uid, secret=secret.encode())
        self._keys[api_key] = entry
        return entry

    def get(self, api_key: str) -> ApiKey | None:
        return self._keys.get(api_key)

    def __contains__(self, api_key: object) -> bool:
        return api_key in self._keys


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    return str(value)


def check_window(timestamp: int, recv_window: int, server_ms: int) -> None:
    """Raise 10002 unless ``server_time - recv_window <= timestamp < server_time + 1000``."""
    if not (server_ms - recv_window <= timestamp < server_ms + FUTURE_TOLERANCE_MS):
        raise ApiError(
            10002,
            "invalid request, please check your server timestamp or recv_window param. "
            f"req_timestamp[{timestamp}],server_timestamp[{server_ms}],recv_window[{recv_window}]",
        )


def parse_int(value: Any, what: str) -> int:
    """An integer header / field sent as a string or a JSON number; 10001 otherwise."""
    if isinstance(value, bool):
        raise ApiError(10001, f"params error: {what} invalid")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text or not (text.isdigit() or (text[0] == "-" and text[1:].isdigit())):
        raise ApiError(10001, f"params error: {what} invalid")
    return int(text)


def authenticate_rest(keys: KeyStore, headers: Mapping[str, str], signed: bytes, server_ms: int) -> ApiKey:
    """Check a private REST request; ``signed`` is the raw query string or raw body bytes.

    Order of checks as observed on the exchange: presence of the headers, the time window,
    the key, the signature.
    """
    api_key = _header(headers, "X-BAPI-API-KEY")
    ts_text = _header(headers, "X-BAPI-TIMESTAMP")
    sign = _header(headers, "X-BAPI-SIGN")
    if not api_key or not ts_text or not sign:
        raise ApiError(
            10001, f"empty value: apiTimestamp[{ts_text or ''}] apiKey[{api_key or ''}] apiSignature[{sign or ''}]"
        )
    rw_text = _header(headers, "X-BAPI-RECV-WINDOW")
    timestamp = parse_int(ts_text, "timestamp")
    recv_window = DEFAULT_RECV_WINDOW if rw_text in (None, "") else parse_int(rw_text, "recv_window")
    if recv_window <= 0:
        raise ApiError(10001, "params error: recv_window invalid")
    check_window(timestamp, recv_window, server_ms)
    entry = keys.get(api_key)
    if entry is None:
        raise ApiError(10003, "API key is invalid.")
    # The signed prefix uses the header strings exactly as sent.
    prefix = ts_text + api_key + (rw_text if rw_text not in (None, "") else "")
    payload = prefix.encode() + signed
    if not entry.verify(payload, sign):
        raise ApiError(10004, f"error sign! origin_string[{payload.decode('utf-8', 'replace')}]")
    return entry


def sign_error(api_key: str, headers: Mapping[str, str], signed: bytes) -> ApiError:
    """The 10004 answer for a request whose signature is refused (used by the reject_auth fault)."""
    prefix = (_header(headers, "X-BAPI-TIMESTAMP") or "") + api_key + (_header(headers, "X-BAPI-RECV-WINDOW") or "")
    return ApiError(10004, f"error sign! origin_string[{prefix}{signed.decode('utf-8', 'replace')}]")


def authenticate_ws(keys: KeyStore, args: Any, server_ms: int) -> ApiKey:
    """Check ``op:auth`` args ``[api_key, expires_ms, signature]`` of a private or trade socket.

    Raises ApiError: 10001 malformed or expired ("Params Error" on the private stream),
    10003 unknown key, 10004 bad signature.
    """
    if not isinstance(args, list) or len(args) != 3:
        raise ApiError(10001, "Params Error")
    api_key, expires, sign = args
    if not isinstance(api_key, str) or not isinstance(sign, str):
        raise ApiError(10001, "Params Error")
    try:
        expires_ms = parse_int(expires, "expires")
    except ApiError:
        raise ApiError(10001, "Params Error") from None
    if expires_ms <= server_ms:
        raise ApiError(10001, "Params Error")
    entry = keys.get(api_key)
    if entry is None:
        raise ApiError(10003, "API key is invalid.")
    if not entry.verify(f"GET/realtime{expires}".encode(), sign):
        raise ApiError(10004, "Invalid sign")
    return entry
