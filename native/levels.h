/* Block parser for order-book level lists (``["<dec>","<dec>"],...``), used by book.pyx.
 *
 * Why: the per-value parser (js_dec_fast) finds each value's closing quote from a load at the
 * value's start, so every level waits for the one before it (load -> compare -> movemask ->
 * ctz -> next address). Here one 64-byte block gives the quote, digit, dot and bracket masks of
 * ~3 levels at once; positions come from bit iteration on the quote mask (1-cycle steps), the
 * checks are mask tests combined without branches, and each value is converted by a fixed
 * sequence (pshufb drops the dot and right-aligns the significant digits, then three
 * multiply-add steps). Values are independent, so the CPU overlaps them.
 *
 * Contract: accepts exactly what js_dec_fast accepts for each value (1-15 bytes of digits with
 * at most one inner dot, no sign, no leading zero) inside the strict shape without whitespace,
 * and produces the same mantissa, significant/written decimals and integer digits; anything
 * else stops before that level, which the general code then reads (and reports errors for).
 * Compiled for AVX2 with a run-time check (bf_levels_available); elsewhere it parses nothing.
 */
#ifndef BF_LEVELS_H
#define BF_LEVELS_H
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define BF_MAYBE_UNUSED __attribute__((unused))
#else
#define BF_MAYBE_UNUSED
#endif

typedef struct {        /* one staged level (book.pxd declares it as PLevel) */
    int64_t p, s, s2;
    int8_t pd, sd, s2d; /* significant decimals (trailing zeros stripped) */
    uint8_t pw, sw, s2w;/* written decimals */
    uint8_t side;       /* 0 bid, 1 ask */
} bf_plevel;

typedef struct {        /* running maxima over staged levels (see OrderBook._prepare) */
    int mpd, msd, mpi, msi;
} bf_lvmax;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(JS_NO_SIMD) \
    && !defined(BF_NO_AVX2)
#define BF_LEVELS_AVX2 1
#include <immintrin.h>

static int bf_levels_enabled = -1;
/* pshufb index per (significant digits nd, integer digits ip): lane i takes digit
   j = i - (16 - nd), skipping the dot (j >= ip -> j + 1); lanes before the number get 0. */
static unsigned char bf_lv_shuf[16][16][16];

/* 1 when the CPU runs the AVX2 block parser (and it has not been switched off for tests). */
BF_MAYBE_UNUSED static int bf_levels_available(void) {
    if (bf_levels_enabled < 0) {
        int nd, ip, i;
        __builtin_cpu_init();
        for (nd = 0; nd < 16; nd++)
            for (ip = 0; ip < 16; ip++)
                for (i = 0; i < 16; i++) {
                    int j = i - (16 - nd);
                    bf_lv_shuf[nd][ip][i] = (unsigned char)(j < 0 ? 0x80 : j + (j >= ip));
                }
        bf_levels_enabled = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi")
                            && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("pclmul") ? 1 : 0;
    }
    return bf_levels_enabled;
}

/* Tests switch it off to exercise the per-value path on the same machine. */
BF_MAYBE_UNUSED static int bf_levels_set(int on) {
    int prev = bf_levels_available();
    if (!on) bf_levels_enabled = 0;
    else { bf_levels_enabled = -1; (void)bf_levels_available(); }
    return prev;
}

#define BF_TGT __attribute__((target("avx2,bmi,bmi2,popcnt,lzcnt,pclmul"), always_inline)) static inline

BF_TGT uint64_t bf_mask64(__m256i lo, __m256i hi, __m256i c) {
    return (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, c))
           | ((uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, c)) << 32);
}

BF_TGT uint32_t bf_load32(const unsigned char* p) { uint32_t w; memcpy(&w, p, 4); return w; }

/* The value between the quotes at a-1 and a+L (block offsets; a + 16 bytes readable). The block
 * checks already hold (digits/dots only, no leading zero, no dot at either end, not empty); this
 * adds the length limit and one dot at most, converts, and returns 1 when accepted. ``T`` is the
 * block's dot mask, ``NZ`` its non-zero digits. */
BF_TGT int bf_value(const unsigned char* p, unsigned a, unsigned L, uint64_t T, uint64_t NZ, uint64_t Z,
                    int64_t* m, int8_t* sig, uint8_t* wdp, int8_t* intd) {
    const uint64_t dots = _bzhi_u64(T >> a, L);
    const unsigned ip = (unsigned)_tzcnt_u64(dots | ((uint64_t)1 << L));     /* integer digits */
    const unsigned fl = L - ip - (ip != L);                                  /* written decimals */
    const unsigned last = 64u - (unsigned)_lzcnt_u64(_bzhi_u64(NZ >> (a + ip + 1), fl));
    const unsigned nd = ip + last;                                           /* digits converted */
    const __m128i idx = _mm_loadu_si128((const __m128i*)bf_lv_shuf[nd & 15][ip & 15]);
    __m128i v = _mm_sub_epi8(_mm_loadu_si128((const __m128i*)(p + a)), _mm_set1_epi8('0'));
    uint64_t w;
    v = _mm_shuffle_epi8(v, idx);
    v = _mm_maddubs_epi16(v, _mm_setr_epi8(10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1));
    v = _mm_madd_epi16(v, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
    v = _mm_packus_epi32(v, v);
    v = _mm_madd_epi16(v, _mm_setr_epi16(10000, 1, 10000, 1, 10000, 1, 10000, 1));
    w = (uint64_t)_mm_cvtsi128_si64(v);
    *m = (int64_t)((w & 0xFFFFFFFFu) * 100000000u + (w >> 32));
    *sig = (int8_t)last;
    *wdp = (uint8_t)fl;
    *intd = (int8_t)(ip - (unsigned)((Z >> a) & 1));   /* "0" and "0.x" count no integer digit */
    return (L - 1u < 15u) & (_blsr_u64(dots) == 0);
}

/* Stage the plain levels of a list from ``p`` (at a level's '['): ``nv`` = 2 values a level
 * (price, size) or 3 (RPI books: price, size, RPI size). Stops at the first level it does not
 * accept, when fewer than 96 bytes remain, or after ``room`` levels. Returns the number staged;
 * ``*endp`` is where reading continues: past the list's closing ']' (``*closed`` = 1), or at the
 * next level's '['. */
__attribute__((target("avx2,bmi,bmi2,popcnt,lzcnt,pclmul"), always_inline))
static inline ptrdiff_t bf_levels_impl(const unsigned char* p, const unsigned char* e, bf_plevel* out,
                                       ptrdiff_t room, uint8_t side, bf_lvmax* mx,
                                       const unsigned char** endp, int* closed, const int nv) {
    ptrdiff_t n = 0;
    int mpd = mx->mpd, msd = mx->msd, mpi = mx->mpi, msi = mx->msi;
    /* little-endian words of the delimiters: '["', '","', '"],[' and '"]]' */
    const uint32_t W_OPEN = 0x225Bu, W_MID = 0x222C22u, W_NEXT = 0x5B2C5D22u, W_END = 0x5D5D22u;
    *closed = 0;
    while (e - p >= 96 && n < room) {
        const __m256i lo = _mm256_loadu_si256((const __m256i*)p);
        const __m256i hi = _mm256_loadu_si256((const __m256i*)(p + 32));
        const __m256i c0 = _mm256_set1_epi8('0' - 1), c9 = _mm256_set1_epi8('9' + 1);
        const uint64_t Q = bf_mask64(lo, hi, _mm256_set1_epi8('"'));
        const uint64_t T = bf_mask64(lo, hi, _mm256_set1_epi8('.'));
        const uint64_t Z = bf_mask64(lo, hi, _mm256_set1_epi8('0'));
        const uint64_t D = (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_and_si256(
                               _mm256_cmpgt_epi8(lo, c0), _mm256_cmpgt_epi8(c9, lo)))
                           | ((uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_and_si256(
                               _mm256_cmpgt_epi8(hi, c0), _mm256_cmpgt_epi8(c9, hi))) << 32);
        /* in-string bits: prefix XOR of the quotes (the block starts outside any string) */
        const uint64_t PX = (uint64_t)_mm_cvtsi128_si64(_mm_clmulepi64_si128(
                                _mm_cvtsi64_si128((long long)Q), _mm_set1_epi8((char)0xFF), 0));
        const uint64_t QO = Q & PX, QC = Q & ~PX;
        /* anything a plain value may not hold: a byte other than a digit or dot, a leading zero,
           a dot first or last, an empty string. A level stops the block before the first one. */
        const uint64_t bad = (PX & ~Q & ~(D | T)) | (Z & (QO << 1) & (D >> 1))
                             | (T & ((QO << 1) | (QC >> 1))) | (QO & (QC >> 1));
        const unsigned badpos = (unsigned)_tzcnt_u64(bad);
        const uint64_t NZ = D & ~Z;
        unsigned s = 0;
        uint64_t q = Q;
        for (;;) {
            unsigned q0, q1, q2, q3, q4 = 0, q5 = 0, ql;
            int ok;
            int8_t pi, si, s2i = 0;
            uint32_t tail;
            bf_plevel* pl;
            q0 = (unsigned)_tzcnt_u64(q); q = _blsr_u64(q);
            q1 = (unsigned)_tzcnt_u64(q); q = _blsr_u64(q);
            q2 = (unsigned)_tzcnt_u64(q); q = _blsr_u64(q);
            q3 = (unsigned)_tzcnt_u64(q); q = _blsr_u64(q);
            if (nv == 3) {
                q4 = (unsigned)_tzcnt_u64(q); q = _blsr_u64(q);
                q5 = (unsigned)_tzcnt_u64(q); q = _blsr_u64(q);
            }
            ql = nv == 3 ? q5 : q3;                  /* the level's last quote */
            if (ql > 60) break;                      /* level not inside this block: reload */
            tail = bf_load32(p + ql);
            ok = ((bf_load32(p + s) & 0xFFFFu) == W_OPEN) & ((bf_load32(p + q1) & 0xFFFFFFu) == W_MID)
                 & ((tail == W_NEXT) | ((tail & 0xFFFFFFu) == W_END)) & (ql < badpos);
            if (nv == 3) ok &= (bf_load32(p + q3) & 0xFFFFFFu) == W_MID;
            pl = out + n;
            ok &= bf_value(p, q0 + 1, q1 - q0 - 1, T, NZ, Z, &pl->p, &pl->pd, &pl->pw, &pi);
            ok &= bf_value(p, q2 + 1, q3 - q2 - 1, T, NZ, Z, &pl->s, &pl->sd, &pl->sw, &si);
            if (nv == 3)
                ok &= bf_value(p, q4 + 1, q5 - q4 - 1, T, NZ, Z, &pl->s2, &pl->s2d, &pl->s2w, &s2i);
            if (!ok) { *endp = p + s; goto done; }
            if (nv != 3) { pl->s2 = 0; pl->s2d = 0; pl->s2w = 0; }
            pl->side = side;
            mpd = pl->pd > mpd ? pl->pd : mpd;
            msd = pl->sd > msd ? pl->sd : msd;
            mpi = pi > mpi ? pi : mpi;
            msi = si > msi ? si : msi;
            if (nv == 3) {
                msd = pl->s2d > msd ? pl->s2d : msd;
                msi = s2i > msi ? s2i : msi;
            }
            n++;
            if (tail != W_NEXT) { *endp = p + ql + 3; *closed = 1; goto done; }
            s = ql + 3;
            if (n == room) break;
        }
        if (s == 0) break;                           /* a level longer than a block */
        p += s;
    }
    *endp = p;
done:
    mx->mpd = mpd; mx->msd = msd; mx->mpi = mpi; mx->msi = msi;
    return n;
}

__attribute__((target("avx2,bmi,bmi2,popcnt,lzcnt,pclmul")))
BF_MAYBE_UNUSED static ptrdiff_t bf_levels_avx2(const unsigned char* p, const unsigned char* e, bf_plevel* out,
                                 ptrdiff_t room, uint8_t side, int rpi, bf_lvmax* mx,
                                 const unsigned char** endp, int* closed) {
    return rpi ? bf_levels_impl(p, e, out, room, side, mx, endp, closed, 3)
               : bf_levels_impl(p, e, out, room, side, mx, endp, closed, 2);
}

#else
BF_MAYBE_UNUSED static int bf_levels_available(void) { return 0; }
BF_MAYBE_UNUSED static int bf_levels_set(int on) { (void)on; return 0; }
BF_MAYBE_UNUSED static ptrdiff_t bf_levels_avx2(const unsigned char* p, const unsigned char* e, bf_plevel* out,
                                 ptrdiff_t room, uint8_t side, int rpi, bf_lvmax* mx,
                                 const unsigned char** endp, int* closed) {
    (void)e; (void)out; (void)room; (void)side; (void)rpi; (void)mx;
    *endp = p; *closed = 0;
    return 0;
}
#endif
#endif
