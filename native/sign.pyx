# cython: language_level=3, auto_pickle=False
"""HMAC-SHA256 request signing in C (``bybitfast._sign``).

Own SHA-256 rather than OpenSSL: the key is pre-absorbed into the HMAC inner/outer states once
per secret, the block function uses the CPU's SHA extensions when present (checked once at
import), and the hex string is written straight into a new ``str``. See
docs/decisions/signing.md for measurements. ``set_backend`` forces a path (tests, diagnosis).
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t

import hashlib
import hmac as _hmac


cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void *PyUnicode_DATA(object o)
    const char *PyUnicode_AsUTF8AndSize(object o, Py_ssize_t *size) except NULL


cdef bint _use_hashlib = False
bf_sha256_dispatch_init()

_NAMES = {BF_SHA256_PORTABLE: "portable", BF_SHA256_SHANI: "shani"}


def available_backends() -> tuple:
    """Backends usable on this CPU, fastest first."""
    names = []
    if bf_sha256_shani_supported():
        names.append("shani")
    names += ["portable", "hashlib"]
    return tuple(names)


def get_backend() -> str:
    """The path new signatures take: "shani", "portable" or "hashlib"."""
    return "hashlib" if _use_hashlib else _NAMES[bf_sha256_backend()]


def set_backend(str name not None) -> None:
    """Forces "shani", "portable", "hashlib" (cached ``hmac`` state copy) or "auto" (fastest).

    Process-wide; existing signers follow (their pre-keyed state does not depend on the path).
    """
    global _use_hashlib
    if name == "auto":
        bf_sha256_dispatch_init()
        _use_hashlib = False
    elif name == "hashlib":
        _use_hashlib = True
    elif name == "portable" or name == "shani":
        if bf_sha256_set_backend(BF_SHA256_SHANI if name == "shani" else BF_SHA256_PORTABLE) != 0:
            raise ValueError(f"SHA-256 backend {name!r} is not supported by this CPU")
        _use_hashlib = False
    else:
        raise ValueError(f"unknown SHA-256 backend {name!r}; expected auto, shani, portable or hashlib")


def sha256(data) -> bytes:
    """Plain SHA-256 on the current native path (tests compare it with hashlib)."""
    cdef Py_buffer view
    cdef uint8_t out[32]
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        bf_sha256(<const uint8_t *>view.buf, <size_t>view.len, out)
    finally:
        PyBuffer_Release(&view)
    return PyBytes_FromStringAndSize(<char *>out, 32)


cdef inline str _hex_new(const bf_hmac_sha256_key *key, const char *data, Py_ssize_t n):
    # 64 ASCII chars written in place into a fresh (unshared) compact str.
    out = PyUnicode_New(64, 127)
    bf_hmac_sha256_hex(key, <const uint8_t *>data, <size_t>n, <char *>PyUnicode_DATA(out))
    return <str>out


cdef class SignerCore:
    """Base of ``bybitfast.auth.Signer``: holds the pre-keyed state, never the secret text.

    ``SignerCore(hmac_key=b"...")`` signs HMAC-SHA256 hex; ``SignerCore(external=fn)`` calls
    ``fn(message_bytes) -> str`` (RSA). Not picklable, and its repr shows no key material.
    """

    def __init__(self, hmac_key=None, external=None, bint is_rsa=False):
        if (hmac_key is None) == (external is None):
            raise TypeError("exactly one of hmac_key and external is required")
        if hmac_key is not None:
            key = bytes(hmac_key)
            bf_hmac_sha256_init(&self._key, <const uint8_t *>PyBytes_AS_STRING(key), <size_t>PyBytes_GET_SIZE(key))
            self._hashlib = _hmac.new(key, digestmod=hashlib.sha256)
            self._external = None
        else:
            if not callable(external):
                raise TypeError("external must be callable")
            self._external = external
            self._hashlib = None
        self.is_rsa = is_rsa

    cdef str sign_buffer(self, const char *data, Py_ssize_t n):
        if self._external is None:
            if not _use_hashlib:
                return _hex_new(&self._key, data, n)
            h = self._hashlib.copy()
            h.update(PyBytes_FromStringAndSize(data, n))
            return h.hexdigest()
        return self._external(PyBytes_FromStringAndSize(data, n))

    cdef int hmac_hex_into(self, const char *data, Py_ssize_t n, char *out) except -1:
        if self._external is not None:
            raise TypeError("hmac_hex_into needs an HMAC signer")
        bf_hmac_sha256_hex(&self._key, <const uint8_t *>data, <size_t>n, out)
        return 0

    @cython.always_allow_keywords(False)
    def sign(self, str message not None) -> str:
        """Signature of ``message`` (UTF-8): 64-char lowercase hex for HMAC, base64 for RSA."""
        cdef Py_ssize_t n
        cdef const char *data = PyUnicode_AsUTF8AndSize(message, &n)
        return self.sign_buffer(data, n)

    @cython.always_allow_keywords(False)
    def sign_bytes(self, message) -> str:
        """Signature of raw bytes (any buffer: bytes, bytearray, memoryview)."""
        cdef Py_buffer view
        if PyBytes_CheckExact(message):
            return self.sign_buffer(PyBytes_AS_STRING(message), PyBytes_GET_SIZE(message))
        PyObject_GetBuffer(message, &view, PyBUF_SIMPLE)
        try:
            return self.sign_buffer(<const char *>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    def __repr__(self):
        return f"<{type(self).__name__} {'rsa' if self.is_rsa else 'hmac'}>"
