/* Run-time choice of the SHA-256 block function, and pre-keyed HMAC-SHA256 on top of it. */
#include <string.h>

#include "sha256.h"

static bf_sha256_compress_fn compress = bf_sha256_compress_portable;
static int current = BF_SHA256_PORTABLE;

static const uint32_t IV[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

int bf_sha256_set_backend(int backend) {
    if (backend == BF_SHA256_SHANI) {
        if (!bf_sha256_shani_supported())
            return -1;
        compress = bf_sha256_compress_shani;
    } else if (backend == BF_SHA256_PORTABLE) {
        compress = bf_sha256_compress_portable;
    } else {
        return -1;
    }
    current = backend;
    return 0;
}

int bf_sha256_backend(void) { return current; }

int bf_sha256_dispatch_init(void) {
    if (bf_sha256_set_backend(BF_SHA256_SHANI) != 0)
        bf_sha256_set_backend(BF_SHA256_PORTABLE);
    return current;
}

static inline void store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static void wipe(void *p, size_t n) {
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n--)
        *v++ = 0;
}

/* Hashes msg[0:len] on top of a state that has already absorbed `prefix` bytes (a multiple of
 * 64), then pads with the total length: the tail of any SHA-256 computation. */
static void finish(uint32_t state[8], uint64_t prefix, const uint8_t *msg, size_t len) {
    uint8_t buf[128];
    size_t full = len / 64, rem = len % 64, nblocks;
    uint64_t bits = (prefix + (uint64_t)len) * 8;

    if (full)
        compress(state, msg, full);
    if (rem)
        memcpy(buf, msg + full * 64, rem);
    buf[rem] = 0x80;
    nblocks = rem + 9 <= 64 ? 1 : 2;
    memset(buf + rem + 1, 0, nblocks * 64 - rem - 1 - 8);
    store_be32(buf + nblocks * 64 - 8, (uint32_t)(bits >> 32));
    store_be32(buf + nblocks * 64 - 4, (uint32_t)bits);
    compress(state, buf, nblocks);
}

void bf_sha256(const uint8_t *data, size_t len, uint8_t out[32]) {
    uint32_t state[8];
    int i;
    memcpy(state, IV, sizeof state);
    finish(state, 0, data, len);
    for (i = 0; i < 8; i++)
        store_be32(out + 4 * i, state[i]);
}

void bf_hmac_sha256_init(bf_hmac_sha256_key *key, const uint8_t *secret, size_t len) {
    uint8_t k[64], pad[64];
    int i;
    memset(k, 0, sizeof k);
    if (len > 64)
        bf_sha256(secret, len, k); /* RFC 2104: long keys are hashed first */
    else if (len)
        memcpy(k, secret, len);
    for (i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    memcpy(key->inner, IV, sizeof IV);
    compress(key->inner, pad, 1);
    for (i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    memcpy(key->outer, IV, sizeof IV);
    compress(key->outer, pad, 1);
    wipe(k, sizeof k);
    wipe(pad, sizeof pad);
}

/* Inner hash over msg, then the single outer block; leaves the digest as eight words. */
static inline void hmac_words(const bf_hmac_sha256_key *key, const uint8_t *msg, size_t len, uint32_t out[8]) {
    uint32_t inner[8];
    uint8_t block[64];
    int i;
    memcpy(inner, key->inner, sizeof inner);
    finish(inner, 64, msg, len);
    for (i = 0; i < 8; i++)
        store_be32(block + 4 * i, inner[i]);
    /* outer message = 64 pad bytes (already in key->outer) + 32 digest bytes = 768 bits */
    block[32] = 0x80;
    memset(block + 33, 0, 64 - 33 - 2);
    block[62] = 0x03;
    block[63] = 0x00;
    memcpy(out, key->outer, 32);
    compress(out, block, 1);
}

void bf_hmac_sha256(const bf_hmac_sha256_key *key, const uint8_t *msg, size_t len, uint8_t out[32]) {
    uint32_t words[8];
    int i;
    hmac_words(key, msg, len, words);
    for (i = 0; i < 8; i++)
        store_be32(out + 4 * i, words[i]);
}

static const char HEX_PAIRS[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

void bf_hmac_sha256_hex(const bf_hmac_sha256_key *key, const uint8_t *msg, size_t len, char out[64]) {
    uint32_t words[8];
    int i, j;
    hmac_words(key, msg, len, words);
    for (i = 0; i < 8; i++) {
        for (j = 0; j < 4; j++) {
            unsigned b = (words[i] >> (24 - 8 * j)) & 0xff;
            memcpy(out + 8 * i + 2 * j, HEX_PAIRS + 2 * b, 2);
        }
    }
}
