/* SHA-256 and pre-keyed HMAC-SHA256 for the bybitfast signer (no OpenSSL).
 *
 * One block function per CPU path (portable C, x86 SHA extensions), chosen once at import by
 * bf_sha256_dispatch_init() and switchable for tests. The HMAC key is kept as the SHA-256
 * states after the ipad and opad blocks, so a signature costs ceil((n + 9) / 64) + 1 block
 * compressions and no key work.
 */
#ifndef BF_SHA256_H
#define BF_SHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The 64 round constants (FIPS 180-4 §4.2.2), one table for every block function; 16-byte aligned. */
extern const uint32_t bf_sha256_k[64];

/* Compress nblocks consecutive 64-byte blocks into state[8]. */
typedef void (*bf_sha256_compress_fn)(uint32_t state[8], const uint8_t *data, size_t nblocks);

void bf_sha256_compress_portable(uint32_t state[8], const uint8_t *data, size_t nblocks);
/* Only callable when bf_sha256_shani_supported() is true. */
void bf_sha256_compress_shani(uint32_t state[8], const uint8_t *data, size_t nblocks);
int bf_sha256_shani_compiled(void);
int bf_sha256_shani_supported(void);

enum { BF_SHA256_PORTABLE = 0, BF_SHA256_SHANI = 1 };

/* Picks the fastest path this CPU supports; returns the chosen backend. */
int bf_sha256_dispatch_init(void);
/* Forces a backend; returns 0, or -1 when it is not available here (selection unchanged). */
int bf_sha256_set_backend(int backend);
int bf_sha256_backend(void);

typedef struct {
    uint32_t inner[8]; /* state after compressing key ^ ipad */
    uint32_t outer[8]; /* state after compressing key ^ opad */
} bf_hmac_sha256_key;

void bf_sha256(const uint8_t *data, size_t len, uint8_t out[32]);
void bf_hmac_sha256_init(bf_hmac_sha256_key *key, const uint8_t *secret, size_t len);
void bf_hmac_sha256(const bf_hmac_sha256_key *key, const uint8_t *msg, size_t len, uint8_t out[32]);
/* Writes 64 lowercase hex characters (no terminator). */
void bf_hmac_sha256_hex(const bf_hmac_sha256_key *key, const uint8_t *msg, size_t len, char out[64]);

#ifdef __cplusplus
}
#endif
#endif /* BF_SHA256_H */
