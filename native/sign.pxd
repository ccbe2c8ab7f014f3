# cython: language_level=3
"""C-level signing API of ``bybitfast._sign`` (HMAC-SHA256 hex with pre-keyed states).

Another Cython module signs without any Python call through ``SignerCore.hmac_hex_into``
(64 hex characters into a caller buffer): ``from bybitfast._sign cimport SignerCore``. That
resolves to native/bybitfast/_sign.pxd, which includes this file: Cython looks a module's .pxd up
by its full name, and the full name is what the type import needs at run time.
"""

from libc.stdint cimport uint8_t, uint32_t


cdef extern from "sha256.h" nogil:
    ctypedef struct bf_hmac_sha256_key:
        uint32_t inner[8]
        uint32_t outer[8]

    enum:
        BF_SHA256_PORTABLE
        BF_SHA256_SHANI

    int bf_sha256_dispatch_init()
    int bf_sha256_set_backend(int backend)
    int bf_sha256_backend()
    int bf_sha256_shani_compiled()
    int bf_sha256_shani_supported()
    void bf_sha256(const uint8_t *data, size_t len, uint8_t *out)
    void bf_hmac_sha256_init(bf_hmac_sha256_key *key, const uint8_t *secret, size_t len)
    void bf_hmac_sha256(const bf_hmac_sha256_key *key, const uint8_t *msg, size_t len, uint8_t *out)
    void bf_hmac_sha256_hex(const bf_hmac_sha256_key *key, const uint8_t *msg, size_t len, char *out)


cdef class SignerCore:
    """Signs with one secret: native HMAC, or an external callable (RSA) set by the caller."""
    cdef bf_hmac_sha256_key _key
    cdef object _hashlib        # cached hmac.HMAC, copied per call when the hashlib backend is forced
    cdef object _external       # Callable[[bytes], str] for non-HMAC keys, else None
    cdef readonly bint is_rsa

    # Signature of data[0:n] as a new str (hex for HMAC, whatever _external returns otherwise).
    cdef str sign_buffer(self, const char *data, Py_ssize_t n)
    # HMAC only: writes 64 lowercase hex chars to out (no terminator), no Python objects touched.
    cdef int hmac_hex_into(self, const char *data, Py_ssize_t n, char *out) except -1
