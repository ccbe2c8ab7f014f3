/* SHA-256 block function on the x86 SHA extensions (SHA-NI).
 *
 * Compiled for every x86 target through a function-level target attribute, so the file needs
 * no special compiler flags; the dispatcher calls it only when CPUID reports "sha". Layout
 * follows Intel's reference: the state is kept as ABEF/CDGH lane pairs for sha256rnds2.
 */
#include "sha256.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* Four rounds: two sha256rnds2, each consuming two (W + K) words. */
#define ROUNDS4(W, k)                                                                      \
    do {                                                                                   \
        __m128i m_ = _mm_add_epi32((W), _mm_load_si128((const __m128i *)&bf_sha256_k[k])); \
        s1 = _mm_sha256rnds2_epu32(s1, s0, m_);                                            \
        m_ = _mm_shuffle_epi32(m_, 0x0E);                                                  \
        s0 = _mm_sha256rnds2_epu32(s0, s1, m_);                                            \
    } while (0)

/* Next four schedule words from the previous sixteen, written over the oldest (W0). */
#define SCHEDULE(W0, W1, W2, W3) \
    W0 = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(W0, W1), _mm_alignr_epi8(W3, W2, 4)), W3)

__attribute__((target("sha,sse4.1,ssse3")))
void bf_sha256_compress_shani(uint32_t state[8], const uint8_t *data, size_t nblocks) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&state[0]);
    __m128i s1 = _mm_loadu_si128((const __m128i *)&state[4]);
    __m128i s0;

    tmp = _mm_shuffle_epi32(tmp, 0xB1);      /* CDAB */
    s1 = _mm_shuffle_epi32(s1, 0x1B);        /* EFGH */
    s0 = _mm_alignr_epi8(tmp, s1, 8);        /* ABEF */
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);     /* CDGH */

    while (nblocks--) {
        const __m128i abef = s0, cdgh = s1;
        __m128i w0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 0)), bswap);
        __m128i w1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16)), bswap);
        __m128i w2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 32)), bswap);
        __m128i w3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 48)), bswap);
        int k;

        ROUNDS4(w0, 0);
        ROUNDS4(w1, 4);
        ROUNDS4(w2, 8);
        ROUNDS4(w3, 12);
        for (k = 16; k < 64; k += 16) {
            SCHEDULE(w0, w1, w2, w3); ROUNDS4(w0, k);
            SCHEDULE(w1, w2, w3, w0); ROUNDS4(w1, k + 4);
            SCHEDULE(w2, w3, w0, w1); ROUNDS4(w2, k + 8);
            SCHEDULE(w3, w0, w1, w2); ROUNDS4(w3, k + 12);
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
        data += 64;
    }

    tmp = _mm_shuffle_epi32(s0, 0x1B);       /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);        /* DCHG */
    s0 = _mm_blend_epi16(tmp, s1, 0xF0);     /* DCBA */
    s1 = _mm_alignr_epi8(s1, tmp, 8);        /* ABEF */
    _mm_storeu_si128((__m128i *)&state[0], s0);
    _mm_storeu_si128((__m128i *)&state[4], s1);
}

int bf_sha256_shani_compiled(void) { return 1; }

int bf_sha256_shani_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("ssse3");
}

#else /* not x86, or a compiler without target attributes: portable only */

void bf_sha256_compress_shani(uint32_t state[8], const uint8_t *data, size_t nblocks) {
    bf_sha256_compress_portable(state, data, nblocks);
}
int bf_sha256_shani_compiled(void) { return 0; }
int bf_sha256_shani_supported(void) { return 0; }

#endif
