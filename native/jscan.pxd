# cython: language_level=3
"""Single-pass JSON scanning primitives shared by ``book.pyx`` and ``router.pyx``.

Everything here is ``cdef inline`` so each module compiles its own copy and no runtime import of
a ``jscan`` module is needed. The grammar accepted is exactly RFC 8259 as CPython's ``json``
module reads it (strict mode): whitespace `` \\t\\n\\r``, no NaN/Infinity, strings validated as
UTF-8 with escapes decoded, containers nested at most ``JS_MAX_DEPTH`` deep. A failed call
records a static message and the byte offset in the ``JScan`` and returns 0; callers raise.
"""

from libc.stdint cimport int8_t, int64_t, uint8_t, uint64_t, uint32_t
from libc.string cimport memcpy, memset

# Block primitives in C: 16 bytes at a time with SSE2 (baseline on x86-64, so no run-time
# dispatch is needed), else a portable SWAR/scalar version of the same contract. Define
# JS_NO_SIMD to force the portable path (the tests build it that way once).
cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #if !defined(JS_NO_SIMD) && (defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2))
    #include <emmintrin.h>
    #define JS_SSE2 1
    #else
    #define JS_SSE2 0
    #endif
    #if defined(_MSC_VER) && !defined(__clang__)
    #include <intrin.h>
    static __inline unsigned js_ctz(uint32_t x) { unsigned long i; _BitScanForward(&i, x); return (unsigned)i; }
    static __inline unsigned js_msb(uint32_t x) { unsigned long i; _BitScanReverse(&i, x); return (unsigned)i; }
    #else
    #define js_ctz(x) ((unsigned)__builtin_ctz(x))
    #define js_msb(x) (31u - (unsigned)__builtin_clz(x))
    #endif
    #if defined(__GNUC__) || defined(__clang__)
    #define JS_INLINE static inline __attribute__((always_inline))
    #elif defined(_MSC_VER)
    #define JS_INLINE static __forceinline
    #else
    #define JS_INLINE static inline
    #endif
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    #define JS_BSWAP(x) __builtin_bswap64(x)
    #else
    #define JS_BSWAP(x) (x)
    #endif

    static const uint64_t js_pow10u[19] = {1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
        10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
        10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
        100000000000000000ULL, 1000000000000000000ULL};

    /* Bit i set when byte p[i] (16 readable) is '"' / a digit / '.' / '0'. */
    typedef struct { uint32_t quote, digit, dot, zero; } js_m16;
    JS_INLINE void js_masks16(const unsigned char* p, js_m16* m) {
    #if JS_SSE2
        __m128i v = _mm_loadu_si128((const __m128i*)p);
        m->quote = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
        m->dot = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
        m->zero = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('0')));
        m->digit = (uint32_t)_mm_movemask_epi8(_mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                                             _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1))));
    #else
        /* SWAR on two words: exact per-byte tests leave 0x80 in matching bytes, and one
           multiply gathers those eight bits. */
        const uint64_t lo7 = 0x7F7F7F7F7F7F7F7FULL, hi = 0x8080808080808080ULL, ones = 0x0101010101010101ULL;
        uint32_t r[4] = {0, 0, 0, 0};
        int h, j;
        for (h = 0; h < 2; h++) {
            uint64_t w, x, f[4];
            memcpy(&w, p + 8 * h, 8);
            w = JS_BSWAP(w);
            x = w ^ (ones * '"');   f[0] = ~(((x & lo7) + lo7) | x) & hi;
            x = (w & 0xF0F0F0F0F0F0F0F0ULL) ^ (ones * 0x30);
            f[1] = ~(((x & lo7) + lo7) | x) & hi & ~(((w & 0x0F0F0F0F0F0F0F0FULL) + ones * 0x76) & hi);
            x = w ^ (ones * '.');   f[2] = ~(((x & lo7) + lo7) | x) & hi;
            x = w ^ (ones * '0');   f[3] = ~(((x & lo7) + lo7) | x) & hi;
            for (j = 0; j < 4; j++)
                r[j] |= (uint32_t)((((f[j] >> 7) * 0x0102040810204080ULL) >> 56) << (8 * h));
        }
        m->quote = r[0]; m->digit = r[1]; m->dot = r[2]; m->zero = r[3];
    #endif
    }

    /* Value of the n (1..8) ASCII digits at p (p[0..8) readable; bytes past n are ignored):
       8 digits at once with three multiplies (SWAR). Bytes below '0' past the digits can only
       borrow towards higher bytes, which the shift discards. */
    JS_INLINE uint64_t js_dig8(const unsigned char* p, unsigned n) {
        uint64_t c;
        memcpy(&c, p, 8);
        c = (JS_BSWAP(c) - 0x3030303030303030ULL) << (8 * (8 - n));
        c = c * 10 + (c >> 8);
        return (((c & 0x000000FF000000FFULL) * 0x000F424000000064ULL)
                + (((c >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >> 32;
    }

    /* Value of the n (1..16) digits at p; reads p[0..max(n, 8)). */
    JS_INLINE uint64_t js_digits(const unsigned char* p, unsigned n) {
        if (n <= 8) return js_dig8(p, n);
        return js_dig8(p, n - 8) * 100000000ULL + js_dig8(p + n - 8, 8);
    }

    /* One pass over a plain decimal string body at p (after its opening quote): 1-15 bytes of
       digits with at most one '.', no sign, no leading zero, a digit on both sides of the dot,
       closed by '"'. Needs p[0..32) readable (checked against e). Gives the mantissa with
       trailing fraction zeros dropped, the significant and written decimals and the number of
       integer digits (0 for "0.x"); returns the body length, or 0 when the general path must
       decide (longer, signed, escaped or malformed strings; it also reports the errors). */
    JS_INLINE int js_dec_fast(const unsigned char* p, const unsigned char* e, int64_t* m,
                              int8_t* sig, uint8_t* wdp, int8_t* intdig) {
        js_m16 k;
        unsigned L, ip, fl, last;
        uint32_t region, dots, nz;
        uint64_t v, w, c;
        if (e - p < 32) return 0;
        js_masks16(p, &k);
        if (!k.quote) return 0;
        L = js_ctz(k.quote);
        if (L - 1u >= 15u) return 0;                  /* empty, or longer than a block */
        region = (1u << L) - 1u;
        dots = k.dot & region;
        if (((k.digit | dots) & region) != region || (dots & (dots - 1u))) return 0;
        ip = js_ctz(dots | k.quote);                  /* integer digits: up to the dot or quote */
        fl = dots ? L - ip - 1u : 0u;
        if (ip == 0 || (dots && fl == 0) || (p[0] == '0' && ip > 1)) return 0;
        nz = k.digit & ~k.zero & region & ~((2u << ip) - 1u);   /* non-zero fraction digits */
        last = js_msb(nz | (1u << ip)) - ip;                    /* significant decimals */
        if (L <= 8) {
            /* One word: close the gap of the dot, then convert the ip + last significant
               digits at once ("43726.11" -> 4372611). */
            memcpy(&w, p, 8);
            w = JS_BSWAP(w);
            if (dots)
                w = (w & ((1ULL << (8 * ip)) - 1u)) | ((w >> (8 * (ip + 1))) << (8 * ip));
            c = (w - 0x3030303030303030ULL) << (8 * (8 - ip - last));
            c = c * 10 + (c >> 8);
            v = (((c & 0x000000FF000000FFULL) * 0x000F424000000064ULL)
                 + (((c >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >> 32;
        } else {
            v = js_digits(p, ip);
            if (last) v = v * js_pow10u[last] + js_digits(p + ip + 1, last);
        }
        *m = (int64_t)v;
        *sig = (int8_t)last;
        *wdp = (uint8_t)fl;
        *intdig = (int8_t)(p[0] == '0' ? 0 : ip);
        return (int)L;
    }

    /* A non-negative JSON integer at p: 1-15 digits, no leading zero, not followed by '.', 'e'
       or 'E'; p[0..16) readable (checked). Returns its digit count, 0 for the general path. */
    JS_INLINE int js_uint_fast(const unsigned char* p, const unsigned char* e, int64_t* out) {
        js_m16 k;
        uint32_t nd;
        unsigned n, c;
        if (e - p < 16) return 0;
        js_masks16(p, &k);
        nd = ~k.digit & 0xFFFFu;
        if (!nd) return 0;
        n = js_ctz(nd);
        if (n == 0 || (p[0] == '0' && n > 1)) return 0;
        c = p[n];
        if (c == '.' || c == 'e' || c == 'E') return 0;
        *out = (int64_t)js_digits(p, n);
        return (int)n;
    }

    /* First byte at or after p that may end a plain string run: '"', '\\\\', a control character
       or a non-ASCII byte. Scans whole blocks only; the caller finishes the last <16 bytes (and
       inspects the byte returned). */
    JS_INLINE const unsigned char* js_str_scan(const unsigned char* p, const unsigned char* e) {
    #if JS_SSE2
        const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\\\'), sp = _mm_set1_epi8(' ');
        while (e - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i*)p);
            uint32_t mk = (uint32_t)_mm_movemask_epi8(_mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)), _mm_cmplt_epi8(v, sp)));
            if (mk) return p + js_ctz(mk);
            p += 16;
        }
    #else
        const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
        while (e - p >= 8) {
            uint64_t w, a, b;
            memcpy(&w, p, 8);
            a = w ^ (ones * '"');
            b = w ^ (ones * '\\\\');
            if ((((a - ones) & ~a) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & high) break;
            p += 8;
        }
    #endif
        return p;
    }

    JS_INLINE unsigned js_pop32(uint32_t x) {
        x = x - ((x >> 1) & 0x55555555u);
        x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
        x = (x + (x >> 4)) & 0x0F0F0F0Fu;
        return (x * 0x01010101u) >> 24;
    }

    /* Step over the array or object opening at p by bracket matching, honouring strings and
       their escapes but validating nothing else (frame_info's skip of data it does not return).
       Returns the byte after the matching bracket, or NULL when the input ends first. */
    static inline const unsigned char* js_skip_brackets(const unsigned char* p, const unsigned char* e) {
        int64_t depth = 0;
        int instr = 0;
    #if JS_SSE2
        const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\\\');
        const __m128i o1 = _mm_set1_epi8('['), o2 = _mm_set1_epi8('{');
        const __m128i c1 = _mm_set1_epi8(']'), c2 = _mm_set1_epi8('}');
    #endif
        for (;;) {
    #if JS_SSE2
            /* 32-byte blocks without a backslash: the in-string bits are the prefix XOR of the
               quote bits; the depth is only walked bit by bit when it could reach 0. */
            while (e - p >= 32) {
                __m128i a = _mm_loadu_si128((const __m128i*)p);
                __m128i b = _mm_loadu_si128((const __m128i*)(p + 16));
                uint32_t qm, op, cl, x, all;
                unsigned nc;
                if (_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(a, bs), _mm_cmpeq_epi8(b, bs)))) break;
                qm = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a, q))
                     | ((uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(b, q)) << 16);
                op = (uint32_t)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(a, o1), _mm_cmpeq_epi8(a, o2)))
                     | ((uint32_t)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(b, o1), _mm_cmpeq_epi8(b, o2))) << 16);
                cl = (uint32_t)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(a, c1), _mm_cmpeq_epi8(a, c2)))
                     | ((uint32_t)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(b, c1), _mm_cmpeq_epi8(b, c2))) << 16);
                x = qm; x ^= x << 1; x ^= x << 2; x ^= x << 4; x ^= x << 8; x ^= x << 16;
                x ^= instr ? 0xFFFFFFFFu : 0u;
                instr = (int)(x >> 31);
                op &= ~x;
                cl &= ~x;
                nc = js_pop32(cl);
                if ((int64_t)nc < depth) {
                    depth += (int64_t)js_pop32(op) - (int64_t)nc;   /* cannot reach 0 here */
                } else {
                    all = op | cl;
                    while (all) {
                        unsigned i = js_ctz(all);
                        if ((op >> i) & 1u) depth++;
                        else if (--depth == 0) return p + i + 1;
                        all &= all - 1u;
                    }
                }
                p += 32;
            }
    #endif
            /* Scalar: up to 32 bytes (a block holding a backslash) or the tail. */
            {
                const unsigned char* lim = (e - p > 32) ? p + 32 : e;
                if (p >= e) return NULL;
                while (p < lim) {
                    unsigned c = *p++;
                    if (instr) {
                        if (c == '\\\\') {
                            if (p >= e) return NULL;
                            p++;
                        } else if (c == '"') {
                            instr = 0;
                        }
                    } else if (c == '"') {
                        instr = 1;
                    } else if (c == '[' || c == '{') {
                        depth++;
                    } else if (c == ']' || c == '}') {
                        if (--depth == 0) return p;
                    }
                }
            }
        }
    }
    """
    ctypedef struct js_m16:
        uint32_t quote
        uint32_t digit
        uint32_t dot
        uint32_t zero
    const uint64_t* js_pow10u
    int js_dec_fast(const unsigned char* p, const unsigned char* e, int64_t* m, int8_t* sig, uint8_t* wdp,
                    int8_t* intdig) noexcept nogil
    int js_uint_fast(const unsigned char* p, const unsigned char* e, int64_t* out) noexcept nogil
    const unsigned char* js_str_scan(const unsigned char* p, const unsigned char* e) noexcept nogil
    const unsigned char* js_skip_brackets(const unsigned char* p, const unsigned char* e) noexcept nogil

ctypedef const unsigned char* cptr

cdef enum:
    JS_MAX_DEPTH = 64

cdef struct JScan:
    cptr start
    cptr p
    cptr end
    const char* err
    Py_ssize_t err_at

cdef inline int js_fail(JScan* s, const char* msg) noexcept nogil:
    if s.err == NULL:
        s.err = msg
        s.err_at = s.p - s.start
    return 0

cdef inline void js_init(JScan* s, cptr data, Py_ssize_t n) noexcept nogil:
    s.start = data
    s.p = data
    s.end = data + n
    s.err = NULL
    s.err_at = 0

cdef inline void js_ws(JScan* s) noexcept nogil:
    cdef cptr p = s.p
    cdef cptr e = s.end
    if p < e and p[0] > 32:     # compact JSON: no whitespace at all
        return
    while p < e and (p[0] == 32 or p[0] == 10 or p[0] == 13 or p[0] == 9):
        p += 1
    s.p = p

cdef inline bint js_at(JScan* s, unsigned char c) noexcept nogil:
    """Skip whitespace; true when the next byte is ``c`` (not consumed)."""
    js_ws(s)
    return s.p < s.end and s.p[0] == c

cdef inline int js_expect(JScan* s, unsigned char c, const char* msg) noexcept nogil:
    js_ws(s)
    if s.p < s.end and s.p[0] == c:
        s.p += 1
        return 1
    return js_fail(s, msg)

cdef inline int js_utf8(JScan* s, cptr* pp) noexcept nogil:
    """Validate one multi-byte UTF-8 sequence at ``pp[0]`` (as CPython's strict decoder does:
    no overlongs, no encoded surrogates, nothing above U+10FFFF) and step over it."""
    cdef cptr p = pp[0]
    cdef unsigned char c = p[0]
    cdef unsigned char lo = 0x80
    cdef unsigned char hi = 0xBF
    cdef int n, i
    if 0xC2 <= c <= 0xDF:
        n = 1
    elif 0xE0 <= c <= 0xEF:
        n = 2
        if c == 0xE0:
            lo = 0xA0
        elif c == 0xED:
            hi = 0x9F
    elif 0xF0 <= c <= 0xF4:
        n = 3
        if c == 0xF0:
            lo = 0x90
        elif c == 0xF4:
            hi = 0x8F
    else:
        s.p = p
        return js_fail(s, "invalid UTF-8 in string")
    if s.end - p <= n or p[1] < lo or p[1] > hi:
        s.p = p
        return js_fail(s, "invalid UTF-8 in string")
    for i in range(2, n + 1):
        if (p[i] & 0xC0) != 0x80:
            s.p = p
            return js_fail(s, "invalid UTF-8 in string")
    pp[0] = p + n + 1
    return 1

cdef inline int js_hex4(cptr p, uint32_t* out) noexcept nogil:
    cdef uint32_t v = 0
    cdef int i
    cdef unsigned char c
    for i in range(4):
        c = p[i]
        if 48 <= c <= 57:
            v = (v << 4) | (c - 48)
        elif 97 <= c <= 102:
            v = (v << 4) | (c - 87)
        elif 65 <= c <= 70:
            v = (v << 4) | (c - 55)
        else:
            return 0
    out[0] = v
    return 1

cdef inline Py_ssize_t js_put(unsigned char* buf, Py_ssize_t cap, Py_ssize_t n, cptr src, Py_ssize_t k) noexcept nogil:
    """Append ``k`` bytes to ``buf`` when they fit; -1 marks an overflowed buffer from then on."""
    if n < 0 or buf == NULL:
        return -1
    if n + k > cap:
        return -1
    memcpy(buf + n, src, <size_t>k)
    return n + k

cdef inline int js_str_byte(JScan* s, cptr* pp) noexcept nogil:
    """Step over the string byte at ``pp[0]``, known to be neither '"' nor a backslash: a control
    character fails, a non-ASCII byte must start a valid UTF-8 sequence (stepped over whole)."""
    cdef unsigned char c = pp[0][0]
    if c < 0x20:
        s.p = pp[0]
        return js_fail(s, "control character in string")
    if c >= 0x80:
        return js_utf8(s, pp)
    pp[0] += 1
    return 1

cdef inline int js_string_slow(JScan* s, cptr start, cptr p, unsigned char* buf, Py_ssize_t cap,
                               cptr* out, Py_ssize_t* outlen) noexcept nogil:
    """Escape-decoding path of ``js_string``: ``p`` is at the first backslash."""
    cdef cptr e = s.end
    cdef Py_ssize_t n = js_put(buf, cap, 0, start, p - start)
    cdef unsigned char c
    cdef unsigned char tmp[4]
    cdef uint32_t cp, lo
    cdef cptr run
    while True:
        run = p
        while p < e and p[0] != 34 and p[0] != 92:
            if not js_str_byte(s, &p):
                return 0
        n = js_put(buf, cap, n, run, p - run)
        if p >= e:
            s.p = p
            return js_fail(s, "unterminated string")
        if p[0] == 34:
            break
        # backslash
        if e - p < 2:
            s.p = p
            return js_fail(s, "unterminated string")
        c = p[1]
        p += 2
        if c == 34 or c == 92 or c == 47:
            tmp[0] = c
        elif c == 98:
            tmp[0] = 8
        elif c == 102:
            tmp[0] = 12
        elif c == 110:
            tmp[0] = 10
        elif c == 114:
            tmp[0] = 13
        elif c == 116:
            tmp[0] = 9
        elif c == 117:
            if e - p < 4 or not js_hex4(p, &cp):
                s.p = p - 2
                return js_fail(s, "invalid \\u escape")
            p += 4
            if 0xD800 <= cp <= 0xDBFF and e - p >= 6 and p[0] == 92 and p[1] == 117 and js_hex4(p + 2, &lo) \
                    and 0xDC00 <= lo <= 0xDFFF:
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                p += 6
            # Lone surrogates are kept (CPython's json does too), encoded as 3 bytes.
            if cp < 0x80:
                tmp[0] = <unsigned char>cp
                n = js_put(buf, cap, n, tmp, 1)
            elif cp < 0x800:
                tmp[0] = <unsigned char>(0xC0 | (cp >> 6))
                tmp[1] = <unsigned char>(0x80 | (cp & 0x3F))
                n = js_put(buf, cap, n, tmp, 2)
            elif cp < 0x10000:
                tmp[0] = <unsigned char>(0xE0 | (cp >> 12))
                tmp[1] = <unsigned char>(0x80 | ((cp >> 6) & 0x3F))
                tmp[2] = <unsigned char>(0x80 | (cp & 0x3F))
                n = js_put(buf, cap, n, tmp, 3)
            else:
                tmp[0] = <unsigned char>(0xF0 | (cp >> 18))
                tmp[1] = <unsigned char>(0x80 | ((cp >> 12) & 0x3F))
                tmp[2] = <unsigned char>(0x80 | ((cp >> 6) & 0x3F))
                tmp[3] = <unsigned char>(0x80 | (cp & 0x3F))
                n = js_put(buf, cap, n, tmp, 4)
            continue
        else:
            s.p = p - 2
            return js_fail(s, "invalid escape in string")
        n = js_put(buf, cap, n, tmp, 1)
    s.p = p + 1
    out[0] = buf
    outlen[0] = n
    return 1

cdef inline int js_string(JScan* s, unsigned char* buf, Py_ssize_t cap, cptr* out, Py_ssize_t* outlen) noexcept nogil:
    """Scan the string whose opening quote is at ``s.p``.

    On success ``out``/``outlen`` give its decoded bytes: a pointer into the input when it has no
    escapes, else into ``buf``; ``outlen`` is -1 when the decoded text did not fit ``cap``.
    """
    cdef cptr start = s.p + 1
    cdef cptr e = s.end
    cdef cptr p = js_str_scan(start, e)
    cdef unsigned char c
    while True:
        if p >= e:
            s.p = p
            return js_fail(s, "unterminated string")
        c = p[0]
        if c == 34:
            out[0] = start
            outlen[0] = p - start
            s.p = p + 1
            return 1
        if c == 92:
            return js_string_slow(s, start, p, buf, cap, out, outlen)
        if not js_str_byte(s, &p):
            return 0

cdef inline int js_digit_run(JScan* s, cptr* pp) noexcept nogil:
    """Step over the one or more digits a fraction or an exponent must have at ``pp[0]``."""
    cdef cptr p = pp[0]
    cdef cptr e = s.end
    if p >= e or not (48 <= p[0] <= 57):
        s.p = p
        return js_fail(s, "invalid number")
    while p < e and 48 <= p[0] <= 57:
        p += 1
    pp[0] = p
    return 1

cdef inline int js_number(JScan* s) noexcept nogil:
    """Step over a JSON number (grammar check only)."""
    cdef cptr p = s.p
    cdef cptr e = s.end
    if p < e and p[0] == 45:
        p += 1
    if p >= e:
        s.p = p
        return js_fail(s, "invalid number")
    if p[0] == 48:
        p += 1
    elif 49 <= p[0] <= 57:
        p += 1
        while p < e and 48 <= p[0] <= 57:
            p += 1
    else:
        s.p = p
        return js_fail(s, "invalid number")
    if p < e and p[0] == 46:
        p += 1
        if not js_digit_run(s, &p):
            return 0
    if p < e and (p[0] == 101 or p[0] == 69):
        p += 1
        if p < e and (p[0] == 43 or p[0] == 45):
            p += 1
        if not js_digit_run(s, &p):
            return 0
    s.p = p
    return 1

cdef inline int js_int64(JScan* s, int64_t* out) noexcept nogil:
    """Read a JSON integer into ``out``; a fraction/exponent or a value beyond int64 fails."""
    cdef cptr p
    cdef cptr e = s.end
    cdef bint neg = 0
    cdef uint64_t v = 0
    cdef uint64_t lim
    cdef int nd
    cdef unsigned char tail[16]
    js_ws(s)
    p = s.p
    nd = js_uint_fast(p, e, out)
    if nd:
        s.p = p + nd
        return 1
    if 0 < e - p < 16:
        # the buffer's last bytes (a frame's closing "cts":...}): the same SWAR read on a padded
        # copy instead of a digit-by-digit loop (the padding is not a digit, so it ends the number)
        memset(tail, 32, 16)
        memcpy(tail, p, <size_t>(e - p))
        nd = js_uint_fast(tail, tail + 16, out)
        if nd and nd < e - p:
            s.p = p + nd
            return 1
    if p < e and p[0] == 45:
        neg = 1
        p += 1
    if p >= e or not (48 <= p[0] <= 57):
        return js_fail(s, "expected an integer")
    lim = (<uint64_t>1 << 63) if neg else ((<uint64_t>1 << 63) - 1)
    if p[0] == 48:
        p += 1
    else:
        while p < e and 48 <= p[0] <= 57:
            if v > (lim - (p[0] - 48)) // 10:
                return js_fail(s, "integer out of range")
            v = v * 10 + (p[0] - 48)
            p += 1
    if p < e and (p[0] == 46 or p[0] == 101 or p[0] == 69):
        return js_fail(s, "expected an integer, got a fraction or exponent")
    s.p = p
    if neg:
        out[0] = -(<int64_t>(v - 1)) - 1 if v else 0
    else:
        out[0] = <int64_t>v
    return 1

cdef inline int js_literal(JScan* s, const char* word, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    if s.end - s.p < n:
        return js_fail(s, "invalid literal")
    for i in range(n):
        if s.p[i] != <unsigned char>word[i]:
            return js_fail(s, "invalid literal")
    s.p += n
    return 1

cdef inline int js_scalar(JScan* s) noexcept nogil:
    """Step over a string, number or literal at ``s.p`` (whitespace already skipped)."""
    cdef cptr o
    cdef Py_ssize_t l
    cdef unsigned char c
    if s.p >= s.end:
        return js_fail(s, "unexpected end of input")
    c = s.p[0]
    if c == 34:
        return js_string(s, NULL, 0, &o, &l)
    if c == 45 or 48 <= c <= 57:
        return js_number(s)
    if c == 116:
        return js_literal(s, "true", 4)
    if c == 102:
        return js_literal(s, "false", 5)
    if c == 110:
        return js_literal(s, "null", 4)
    return js_fail(s, "unexpected character")

cdef inline int js_key(JScan* s, unsigned char* buf, Py_ssize_t cap, cptr* k, Py_ssize_t* kn) noexcept nogil:
    """Read an object member's ``"key":`` (whitespace allowed); ``buf``/``cap`` as for ``js_string``."""
    if not js_at(s, 34):
        return js_fail(s, "expected a string key")
    if not js_string(s, buf, cap, k, kn):
        return 0
    return js_expect(s, 58, "expected ':'")

cdef inline int js_obj_open(JScan* s) noexcept nogil:
    """Step into the object whose '{' is at ``s.p``: 1 when a member follows, 0 when the object
    is empty (its '}' consumed too)."""
    s.p += 1
    if js_at(s, 125):
        s.p += 1
        return 0
    return 1

cdef inline int js_obj_next(JScan* s) noexcept nogil:
    """After a member's value: 1 when another member follows (',' consumed), 0 when the object
    closed ('}' consumed), -1 on anything else (``s.err`` set). Member loops end on
    ``return more == 0``."""
    js_ws(s)
    if s.p < s.end:
        if s.p[0] == 44:
            s.p += 1
            return 1
        if s.p[0] == 125:
            s.p += 1
            return 0
    js_fail(s, "expected ',' or '}'")
    return -1

cdef inline int js_skip(JScan* s, int depth) noexcept nogil:
    """Validate and step over any JSON value. ``depth`` is the nesting level the value has if it
    is a container (root object = 1); anything nested deeper than JS_MAX_DEPTH fails."""
    cdef uint64_t kinds = 0   # bit i set: open container i is an object
    cdef int lvl = 0
    cdef int state = 0        # 0 at an opening bracket, 1 before a member, 2 after a value
    cdef unsigned char c
    cdef cptr o
    cdef Py_ssize_t l
    cdef bint is_obj
    js_ws(s)
    if s.p >= s.end:
        return js_fail(s, "unexpected end of input")
    c = s.p[0]
    if c != 123 and c != 91:
        return js_scalar(s)
    while True:
        if state == 0:
            if depth + lvl > JS_MAX_DEPTH:
                return js_fail(s, "nesting too deep")
            if s.p[0] == 123:
                kinds |= (<uint64_t>1 << lvl)
            else:
                kinds &= ~(<uint64_t>1 << lvl)
            lvl += 1
            s.p += 1
            js_ws(s)
            is_obj = (kinds >> (lvl - 1)) & 1
            if s.p < s.end and s.p[0] == (125 if is_obj else 93):
                s.p += 1
                lvl -= 1
                if lvl == 0:
                    return 1
                state = 2
            else:
                state = 1
        elif state == 1:
            if (kinds >> (lvl - 1)) & 1 and not js_key(s, NULL, 0, &o, &l):
                return 0
            js_ws(s)
            if s.p >= s.end:
                return js_fail(s, "unexpected end of input")
            c = s.p[0]
            if c == 123 or c == 91:
                state = 0
            else:
                if not js_scalar(s):
                    return 0
                state = 2
        else:
            js_ws(s)
            if s.p >= s.end:
                return js_fail(s, "unexpected end of input")
            c = s.p[0]
            is_obj = (kinds >> (lvl - 1)) & 1
            if c == 44:
                s.p += 1
                state = 1
            elif c == (125 if is_obj else 93):
                s.p += 1
                lvl -= 1
                if lvl == 0:
                    return 1
            else:
                return js_fail(s, "expected ',' or a closing bracket")
