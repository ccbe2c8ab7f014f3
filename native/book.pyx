# cython: language_level=3, cdivision=True
"""Native Bybit V5 order book: raw frame in, sequence-checked sorted int64 sides out.

``OrderBook.apply`` scans the frame bytes once (``jscan.pxd``), stages every level in a scratch
array of mantissas, decides on the sequence rules, checks the values fit the book's fixed-point
scale and only then mutates the book, so a rejected frame leaves it exactly as it was. No Python
object is created per level. ``bybitfast.book_reference`` is the pure-Python definition of the
same behaviour; ``tests/fuzz/fuzz_book.py`` holds the two in lock-step.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.unicode cimport PyUnicode_Check, PyUnicode_DecodeASCII
from libc.stdint cimport int64_t, int8_t, uint8_t, uint16_t, uint64_t, INT64_MAX
from libc.stdlib cimport calloc, free, malloc, realloc, qsort
from libc.string cimport memcmp, memcpy, memmove, memset
from libc.math cimport NAN

from jscan cimport (JScan, cptr, js_at, js_dec_fast, js_expect, js_fail, js_init, js_int64, js_key, js_obj_next,
                   js_obj_open, js_skip, js_string, js_ws)

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object, Py_ssize_t*) except NULL

APPLIED_SNAPSHOT = 1
APPLIED_DELTA = 2
DROPPED_STALE = 3
IGNORED_NOT_LIVE = 4

# Exception classes are installed by bybitfast.book (the native layer imports nothing of ours).
_FrameError = ValueError
_GapError = RuntimeError
_CrossedError = RuntimeError


def _set_block_parser(bint on):
    """Switch the AVX2 block level parser (levels.h) on or off; returns whether it was on.
    Tests use it to run the same frames through both parsers on one machine."""
    return bool(bf_levels_set(on))


def _set_errors(frame_error, gap_error, crossed_error):
    """Install the exception classes raised by the native book (called once by bybitfast.book)."""
    global _FrameError, _GapError, _CrossedError
    _FrameError = frame_error
    _GapError = gap_error
    _CrossedError = crossed_error


cdef int64_t[19] POW10
cdef double[19] POW10D
cdef int _i
POW10[0] = 1
POW10D[0] = 1.0
for _i in range(1, 19):
    POW10[_i] = POW10[_i - 1] * 10
    POW10D[_i] = POW10D[_i - 1] * 10.0

cdef enum:
    MAX_DEC = 18             # decimals / significant digits an int64 holds with room to spare
    K_TOPIC = 1
    K_TYPE = 2
    K_TS = 4
    K_CTS = 8
    K_DATA = 16
    K_S = 32
    K_B = 64
    K_A = 128
    K_U = 256
    K_SEQ = 512
    K_RETCODE = 1024
    K_RESULT = 2048
    CTX_ROOT = K_TOPIC | K_TYPE | K_TS | K_CTS | K_DATA
    CTX_DATA = K_S | K_B | K_A | K_U | K_SEQ
    CTX_REST_RESULT = K_S | K_B | K_A | K_U | K_SEQ | K_TS | K_CTS
    CTX_REST_ROOT = CTX_REST_RESULT | K_RETCODE | K_RESULT
    ST_EMPTY = 0
    ST_LIVE = 1
    ST_INVALID = 2
    TOPIC_CAP = 256
    SYM_CAP = 128

cdef inline int key_id(cptr k, Py_ssize_t n) noexcept nogil:
    if n == 1:
        if k[0] == 115:
            return K_S
        if k[0] == 98:
            return K_B
        if k[0] == 97:
            return K_A
        if k[0] == 117:
            return K_U
    elif n == 2:
        if k[0] == 116 and k[1] == 115:
            return K_TS
    elif n == 3:
        if memcmp(k, b"cts", 3) == 0:
            return K_CTS
        if memcmp(k, b"seq", 3) == 0:
            return K_SEQ
    elif n == 4:
        if memcmp(k, b"type", 4) == 0:
            return K_TYPE
        if memcmp(k, b"data", 4) == 0:
            return K_DATA
    elif n == 5:
        if memcmp(k, b"topic", 5) == 0:
            return K_TOPIC
    elif n == 6:
        if memcmp(k, b"result", 6) == 0:
            return K_RESULT
    elif n == 7:
        if memcmp(k, b"retCode", 7) == 0:
            return K_RETCODE
    return 0


cdef uint64_t[10] KEY_PAT      # '"topic":' etc. as little/big-endian words, masked to their length
cdef uint64_t[10] KEY_MASK
cdef int[10] KEY_ID
cdef int[10] KEY_LEN


cdef void _init_keys():
    cdef int i, j
    cdef bytes k
    cdef unsigned char buf[8]
    for i, (k, kid) in enumerate(((b"topic", K_TOPIC), (b"ts", K_TS), (b"type", K_TYPE), (b"data", K_DATA),
                                  (b"s", K_S), (b"seq", K_SEQ), (b"b", K_B), (b"a", K_A), (b"u", K_U),
                                  (b"cts", K_CTS))):
        pat = b'"' + k + b'":'
        memcpy(buf, <char*>pat, len(pat))
        for j in range(len(pat), 8):
            buf[j] = 0
        memcpy(&KEY_PAT[i], buf, 8)
        for j in range(8):
            buf[j] = 0xFF if j < len(pat) else 0
        memcpy(&KEY_MASK[i], buf, 8)
        KEY_ID[i] = kid
        KEY_LEN[i] = len(pat)


_init_keys()


cdef inline int fast_key(cptr p, cptr e, Py_ssize_t* adv) noexcept nogil:
    """A known order-book key written plainly and followed directly by ':' (``"topic":``) at
    ``p``: its id, with ``adv`` the bytes to step; 0 sends the key through the general path."""
    cdef uint64_t w
    cdef int i, lo, hi
    if e - p < 8 or p[0] != 34:
        return 0
    memcpy(&w, p, 8)
    c = p[1]
    if c == 116:          # t: topic ts type
        lo, hi = 0, 3
    elif c == 100:        # d: data
        lo, hi = 3, 4
    elif c == 115:        # s: s seq
        lo, hi = 4, 6
    elif c == 98:
        lo, hi = 6, 7
    elif c == 97:
        lo, hi = 7, 8
    elif c == 117:
        lo, hi = 8, 9
    elif c == 99:
        lo, hi = 9, 10
    else:
        return 0
    for i in range(lo, hi):
        if (w & KEY_MASK[i]) == KEY_PAT[i]:
            adv[0] = KEY_LEN[i]
            return KEY_ID[i]
    return 0


cdef inline const char* parse_decimal(cptr sp, Py_ssize_t n, bint allow_neg, int64_t* m,
                                      int8_t* sig, uint8_t* wdp, int8_t* intdig) noexcept nogil:
    """Exact decimal string -> (mantissa, significant decimals, written decimals, integer digits).

    The general path: ``js_dec_fast`` (jscan.pxd) decides the common short unsigned strings in one
    pass and must agree with this function on everything it accepts.

    Grammar: ``-?(0|[1-9][0-9]*)(\\.[0-9]{1,18})?``; at most 18 significant digits; ``-`` only
    where allowed (prices: spread books can be negative) and never on zero.
    """
    cdef Py_ssize_t i = 0, fs, fl, last, k
    cdef bint neg = 0
    cdef int64_t v = 0
    cdef int nd = 0
    if n == 0:
        return "empty decimal string"
    if sp[0] == 45:
        if not allow_neg:
            return "negative size"
        neg = 1
        i = 1
    if i >= n:
        return "malformed decimal string"
    if sp[i] == 48:
        i += 1
        if i < n and 48 <= sp[i] <= 57:
            return "malformed decimal string (leading zero)"
    elif 49 <= sp[i] <= 57:
        while i < n and 48 <= sp[i] <= 57:
            nd += 1
            if nd > MAX_DEC:
                return "decimal has too many digits"
            v = v * 10 + (sp[i] - 48)
            i += 1
    else:
        return "malformed decimal string"
    fl = 0
    fs = i
    if i < n and sp[i] == 46:
        i += 1
        fs = i
        while i < n and 48 <= sp[i] <= 57:
            i += 1
        fl = i - fs
        if fl == 0:
            return "malformed decimal string"
        if fl > MAX_DEC:
            return "decimal has too many decimals"
    if i != n:
        return "malformed decimal string"
    last = fl
    while last > 0 and sp[fs + last - 1] == 48:
        last -= 1
    for k in range(last):
        # v * 10 + digit >= 10**18 exactly when v >= 10**17: test before multiplying, so the
        # multiplication can never overflow int64
        if v >= POW10[MAX_DEC - 1]:
            return "decimal has too many significant digits"
        v = v * 10 + (sp[fs + k] - 48)
    if neg:
        if v == 0:
            return "negative zero"
        v = -v
    m[0] = v
    sig[0] = <int8_t>last
    wdp[0] = <uint8_t>fl
    intdig[0] = <int8_t>nd
    return NULL


cdef int dec_elem(JScan* s, unsigned char* buf, int64_t* m, int8_t* sig, uint8_t* wdp,
                  int8_t* intdig, bint allow_neg) noexcept nogil:
    """General path of one level value (whitespace, escapes, signs, errors)."""
    cdef cptr sp
    cdef Py_ssize_t n
    cdef const char* msg
    cdef cptr p
    cdef cptr e = s.end
    if not js_at(s, 34):
        return js_fail(s, "level values must be decimal strings")
    # Fast path: a plain [-0-9.] run closed by a quote needs no string decoding.
    p = s.p + 1
    while p < e and (48 <= p[0] <= 57 or p[0] == 46 or p[0] == 45):
        p += 1
    if p < e and p[0] == 34:
        msg = parse_decimal(s.p + 1, p - s.p - 1, allow_neg, m, sig, wdp, intdig)
        s.p = p + 1
        if msg != NULL:
            return js_fail(s, msg)
        return 1
    if not js_string(s, buf, 64, &sp, &n):
        return 0
    if n < 0:
        return js_fail(s, "decimal string too long")
    msg = parse_decimal(sp, n, allow_neg, m, sig, wdp, intdig)
    if msg != NULL:
        return js_fail(s, msg)
    return 1


cdef inline int level_fast(cptr p, cptr e, PLevel* pl, bint rpi, int8_t* pi, int8_t* si,
                           int8_t* s2i) noexcept nogil:
    """``["<dec>","<dec>"]`` (``,"<dec>"`` more for RPI) at ``p`` without whitespace: bytes
    consumed, or 0 when the level needs the general path. ``js_dec_fast`` guarantees 32 readable
    bytes from each value it accepts, which covers the delimiters read after it."""
    cdef int n
    cdef cptr q
    if e - p < 3 or p[0] != 91 or p[1] != 34:
        return 0
    n = js_dec_fast(p + 2, e, &pl.p, &pl.pd, &pl.pw, pi)
    if not n or p[n + 3] != 44 or p[n + 4] != 34:
        return 0
    q = p + n + 5
    n = js_dec_fast(q, e, &pl.s, &pl.sd, &pl.sw, si)
    if not n:
        return 0
    q += n + 1
    if not rpi:
        if q[0] != 93:
            return 0
        pl.s2 = 0
        pl.s2d = 0
        pl.s2w = 0
        return <int>(q + 1 - p)
    if q[0] != 44 or q[1] != 34:
        return 0
    n = js_dec_fast(q + 2, e, &pl.s2, &pl.s2d, &pl.s2w, s2i)
    if not n or q[n + 3] != 93:
        return 0
    return <int>(q + n + 4 - p)


cdef int cmp_items(const void* a, const void* b) noexcept nogil:
    cdef const SortItem* x = <const SortItem*>a
    cdef const SortItem* y = <const SortItem*>b
    if x.key != y.key:
        return -1 if x.key < y.key else 1
    return -1 if x.idx < y.idx else (1 if x.idx > y.idx else 0)


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline Py_ssize_t lower_bound(const Side* sd, int64_t key) noexcept nogil:
    """First index whose key is >= ``key``. Branch-free halving (a conditional move per step):
    deltas hit unpredictable positions, and mispredicted branches cost more than the loads."""
    cdef const Level* base = sd.lv
    cdef Py_ssize_t n = sd.n, half
    if n == 0:
        return 0
    while n > 1:
        half = n >> 1
        base = base + half if base[half].key < key else base
        n -= half
    return (base - sd.lv) + (base[0].key < key)


cdef inline void store_level(Level* lv, int64_t key, const PLevel* pl, int ss) noexcept nogil:
    """Write a staged level at the book's size scale ``ss`` (``key`` is already scaled)."""
    lv.key = key
    lv.size = pl.s * POW10[ss - pl.sd]
    lv.size2 = pl.s2 * POW10[ss - pl.s2d]
    lv.pdp = pl.pw
    lv.sdp = pl.sw
    lv.s2dp = pl.s2w


cdef inline void move_levels(Level* dst, const Level* src, Py_ssize_t cnt) noexcept nogil:
    """memmove of levels; a plain loop for the short moves near the top (no libc call)."""
    cdef Py_ssize_t i
    if cnt > 8:
        memmove(dst, src, <size_t>cnt * sizeof(Level))
    elif dst < src:
        for i in range(cnt):
            dst[i] = src[i]
    else:
        for i in range(cnt - 1, -1, -1):
            dst[i] = src[i]


cdef int reserve(Side* sd, Py_ssize_t need) except -1:
    """Room for ``need`` levels. Both ends of the array keep slack so inserts/deletes move the
    shorter part: the top of the book changes most, but Bybit also deletes and refills the far
    end of the window on every delta (PROTOCOL §5.2)."""
    cdef Py_ssize_t cap, front, back, nf
    cdef Level* p
    if sd.ladder:
        # only room for a switch back to sorted mode: the sorted array holds nothing meanwhile
        if need > sd.cap:
            cap = need * 2 + 64
            p = <Level*>malloc(<size_t>cap * sizeof(Level))
            if p == NULL:
                raise MemoryError()
            free(sd.base)
            sd.base = sd.lv = p
            sd.cap = cap
        return 0
    if need <= sd.cap:
        front = sd.lv - sd.base
        back = sd.cap - front - sd.n
        if (front == 0 or back == 0) and sd.cap - sd.n >= 2:
            nf = (sd.cap - sd.n) >> 1
            memmove(sd.base + nf, sd.lv, <size_t>sd.n * sizeof(Level))
            sd.lv = sd.base + nf
        return 0
    cap = need * 2 + 64
    p = <Level*>malloc(<size_t>cap * sizeof(Level))
    if p == NULL:
        raise MemoryError()
    nf = (cap - sd.n) >> 1
    if sd.n:
        memcpy(p + nf, sd.lv, <size_t>sd.n * sizeof(Level))
    free(sd.base)
    sd.base = p
    sd.lv = p + nf
    sd.cap = cap
    return 0


# ------------------------------------------------------------------ ladder mode
# A side whose keys are dense (prices a few ticks apart, as in every depth-limited Bybit book) is
# kept as a direct-indexed array: a level is found at ``key - lo`` with no search, and inserts and
# deletes move nothing, so applying a level is a few stores with no data-dependent branch. A side
# that is too sparse for it (a wide full-depth book) stays sorted.

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define bf_clz64(x) ((unsigned)__builtin_clzll(x))
    #define bf_ctz64(x) ((unsigned)__builtin_ctzll(x))
    #else
    #include <intrin.h>
    static __inline unsigned bf_clz64(unsigned __int64 x) { unsigned long i; _BitScanReverse64(&i, x); return 63u - (unsigned)i; }
    static __inline unsigned bf_ctz64(unsigned __int64 x) { unsigned long i; _BitScanForward64(&i, x); return (unsigned)i; }
    #endif
    """
    unsigned bf_clz64(uint64_t x) nogil
    unsigned bf_ctz64(uint64_t x) nogil


cdef enum:
    LAD_MAX_POOL = 65535      # pool entries are uint16 (one more slot in the free stack)
    LAD_MAX_SLOTS = 1 << 21   # 4 MiB of grid per side at most


cdef inline Py_ssize_t lad_prev(const Side* sd, Py_ssize_t i) noexcept nogil:
    """Highest occupied slot below ``i`` (-1 when none)."""
    cdef Py_ssize_t w
    cdef uint64_t m
    if i <= 0:
        return -1
    i -= 1
    w = i >> 6
    m = sd.bm[w] & ((<uint64_t>2 << (i & 63)) - 1)
    while m == 0:
        w -= 1
        if w < 0:
            return -1
        m = sd.bm[w]
    return (w << 6) + 63 - bf_clz64(m)


cdef inline Py_ssize_t lad_next(const Side* sd, Py_ssize_t i) noexcept nogil:
    """Lowest occupied slot above ``i`` (-1 when none; ``i = -1`` gives the lowest)."""
    cdef Py_ssize_t w
    cdef uint64_t m
    i += 1
    if i >= sd.lcap:
        return -1
    w = i >> 6
    m = sd.bm[w] & (~<uint64_t>0 << (i & 63))
    while m == 0:
        w += 1
        if w >= (sd.lcap >> 6):
            return -1
        m = sd.bm[w]
    return (w << 6) + bf_ctz64(m)


cdef inline void lad_to_sorted(Side* sd) noexcept nogil:
    """Leave ladder mode: the occupied slots become the sorted array (its room was reserved)."""
    cdef Py_ssize_t i, j = 0
    sd.lv = sd.base + ((sd.cap - sd.n) >> 1)
    i = lad_next(sd, -1) if sd.n else -1
    while i >= 0:
        side_get(sd, i, &sd.lv[j])
        j += 1
        i = lad_next(sd, i)
    sd.ladder = 0


cdef inline bint lad_fits(Py_ssize_t n, int64_t kmin, int64_t kmax, Py_ssize_t* lcap, int64_t* slack) noexcept nogil:
    """Slots for ``n`` levels over keys [kmin, kmax], with room for the price to drift on both
    sides; refused for a very sparse side (over ~256 slots per level: 2 bytes of grid each)."""
    cdef int64_t span = kmax - kmin + 1
    if span <= 0 or span > LAD_MAX_SLOTS:
        return 0
    slack[0] = (span >> 2) + 64
    lcap[0] = <Py_ssize_t>((span + 2 * slack[0] + 63) & ~<int64_t>63)
    return lcap[0] <= 256 * n + 16384 and lcap[0] <= LAD_MAX_SLOTS


cdef bint lad_grid(Side* sd, Py_ssize_t lcap) noexcept nogil:
    """Grid and bitmap for ``lcap`` slots (bitmap cleared), reused when large enough; 0 when out
    of memory (nothing changed)."""
    cdef uint16_t* grid
    cdef uint64_t* bm
    if lcap > sd.lalloc:
        grid = <uint16_t*>malloc(<size_t>lcap * sizeof(uint16_t))
        bm = <uint64_t*>malloc(<size_t>(lcap >> 6) * sizeof(uint64_t))
        if grid == NULL or bm == NULL:
            free(grid)
            free(bm)
            return 0
        free(sd.grid)
        free(sd.bm)
        sd.grid = grid
        sd.bm = bm
        sd.lalloc = lcap
    memset(sd.bm, 0, <size_t>(lcap >> 6) * sizeof(uint64_t))
    sd.lcap = lcap
    return 1


cdef bint lad_pool(Side* sd, Py_ssize_t need) noexcept nogil:
    """Room for ``need`` levels in the pool (new entries pushed on the free stack); 0 when it
    cannot (too many levels for uint16 entries, or out of memory)."""
    cdef Py_ssize_t cap, i
    cdef Slot* pool
    cdef uint16_t* fs
    if need <= sd.pcap:
        return 1
    if need > LAD_MAX_POOL:
        return 0
    cap = min(need * 2 + 64, <Py_ssize_t>LAD_MAX_POOL)
    pool = <Slot*>realloc(sd.pool, <size_t>cap * sizeof(Slot))
    if pool == NULL:
        return 0
    sd.pool = pool
    fs = <uint16_t*>realloc(sd.fs, <size_t>(cap + 1) * sizeof(uint16_t))
    if fs == NULL:
        return 0
    sd.fs = fs
    for i in range(cap - 1, sd.pcap - 1, -1):
        fs[sd.fsn] = <uint16_t>i
        sd.fsn += 1
    sd.pcap = cap
    return 1


cdef void lad_from_sorted(Side* sd) noexcept nogil:
    """Enter ladder mode when the sorted side is dense enough (else it stays sorted)."""
    cdef Py_ssize_t i, k, lcap
    cdef int64_t slack
    cdef Level* lv
    cdef Slot* sl
    cdef uint16_t e
    if sd.n == 0 or not lad_fits(sd.n, sd.lv[0].key, sd.lv[sd.n - 1].key, &lcap, &slack):
        return
    # every pool entry free again, then room for the side (lad_pool doubles what it allocates)
    sd.fsn = 0
    for i in range(sd.pcap - 1, -1, -1):
        sd.fs[sd.fsn] = <uint16_t>i
        sd.fsn += 1
    if not lad_pool(sd, sd.n + 64) or not lad_grid(sd, lcap):
        return
    sd.lo = sd.lv[0].key - slack
    for i in range(sd.n):
        lv = &sd.lv[i]
        k = <Py_ssize_t>(lv.key - sd.lo)
        sd.fsn -= 1
        e = sd.fs[sd.fsn]
        sd.grid[k] = e
        sl = &sd.pool[e]
        sl.size = lv.size
        sl.size2 = lv.size2
        sl.pdp = lv.pdp
        sl.sdp = lv.sdp
        sl.s2dp = lv.s2dp
        sd.bm[k >> 6] |= <uint64_t>1 << (k & 63)
    sd.top = <Py_ssize_t>(sd.lv[sd.n - 1].key - sd.lo)
    sd.ladder = 1


cdef void lad_regrow(Side* sd, int64_t key) noexcept nogil:
    """Make room for an insert at ``key`` outside the slots: a new grid around the occupied keys
    and ``key`` (the pool stays), or sorted mode when that would be too sparse or memory is short."""
    cdef Py_ssize_t lcap, i, k
    cdef int64_t slack, kmin = key, kmax = key, lo
    cdef uint16_t* grid
    cdef uint64_t* bm
    if sd.n:
        kmin = min(kmin, sd.lo + lad_next(sd, -1))
        kmax = max(kmax, sd.lo + sd.top)
    if not lad_fits(sd.n + 1, kmin, kmax, &lcap, &slack):
        lad_to_sorted(sd)
        return
    grid = <uint16_t*>malloc(<size_t>lcap * sizeof(uint16_t))
    bm = <uint64_t*>calloc(<size_t>(lcap >> 6), sizeof(uint64_t))
    if grid == NULL or bm == NULL:
        free(grid)
        free(bm)
        lad_to_sorted(sd)
        return
    lo = kmin - slack
    i = lad_next(sd, -1) if sd.n else -1
    while i >= 0:
        k = <Py_ssize_t>(sd.lo + i - lo)
        grid[k] = sd.grid[i]
        bm[k >> 6] |= <uint64_t>1 << (k & 63)
        i = lad_next(sd, i)
    sd.top = <Py_ssize_t>(sd.lo + sd.top - lo) if sd.n else -1
    free(sd.grid)
    free(sd.bm)
    sd.grid = grid
    sd.bm = bm
    sd.lalloc = lcap
    sd.lcap = lcap
    sd.lo = lo


cdef inline void lad_settle(Side* sd) noexcept nogil:
    """Make ``top`` exact again after a frame (a delete of the best level leaves it above)."""
    if not sd.ladder:
        return
    if sd.n == 0:
        sd.top = -1
    elif not (sd.bm[sd.top >> 6] >> (sd.top & 63)) & 1:
        sd.top = lad_prev(sd, sd.top)


@cython.boundscheck(False)
@cython.wraparound(False)
cdef Py_ssize_t lad_apply(Side* sd, const PLevel* pls, Py_ssize_t i, Py_ssize_t end, int ps, int ss,
                          int64_t* absent) noexcept nogil:
    """Apply staged levels ``pls[i:end]`` of one side in ladder mode. No search, nothing moves and
    no branch on the kind of change: the slot's bit and a pool entry are written whatever it is
    (an insert pops a free entry, a delete pushes it back; ``_prepare`` left a free entry per
    staged level). The side's counters live in registers for the loop. Returns ``end``, or the
    index of the level at which the side went back to sorted mode (the caller goes on sorted)."""
    cdef Py_ssize_t n = sd.n, fsn = sd.fsn, top = sd.top, lcap = sd.lcap, idx
    cdef int64_t lo = sd.lo, sign = sd.sign, key, size, size2, ab = 0
    cdef uint16_t* grid = sd.grid
    cdef uint64_t* bm = sd.bm
    cdef Slot* pool = sd.pool
    cdef uint16_t* fs = sd.fs
    cdef const PLevel* pl
    cdef Slot* sl
    cdef uint64_t* w
    cdef uint64_t now, was
    cdef uint16_t e, eold
    cdef unsigned b
    while i < end:
        pl = &pls[i]
        key = sign * pl.p * POW10[ps - pl.pd]
        size = pl.s * POW10[ss - pl.sd]
        size2 = pl.s2 * POW10[ss - pl.s2d]
        idx = <Py_ssize_t>(key - lo)
        if <uint64_t>idx >= <uint64_t>lcap:
            if size == 0 and size2 == 0:      # outside the slots: cannot be there
                ab += 1
                i += 1
                continue
            sd.n = n
            sd.fsn = fsn
            sd.top = top
            lad_regrow(sd, key)
            if not sd.ladder:
                absent[0] += ab
                return i
            lo = sd.lo
            lcap = sd.lcap
            grid = sd.grid
            bm = sd.bm
            top = sd.top
            idx = <Py_ssize_t>(key - lo)
        now = (size | size2) != 0
        b = <unsigned>(idx & 63)
        w = &bm[idx >> 6]
        was = (w[0] >> b) & 1
        ab += <int64_t>((now | was) ^ 1)
        n += <Py_ssize_t>now - <Py_ssize_t>was
        w[0] = (w[0] & ~(<uint64_t>1 << b)) | (now << b)
        eold = grid[idx]
        e = eold if was else fs[fsn - 1]
        fsn -= <Py_ssize_t>(now & (was ^ 1))
        fs[fsn] = eold
        fsn += <Py_ssize_t>(was & (now ^ 1))
        grid[idx] = e
        sl = &pool[e]
        sl.size = size
        sl.size2 = size2
        sl.pdp = pl.pw
        sl.sdp = pl.sw
        sl.s2dp = pl.s2w
        top = idx if (now and idx > top) else top
        i += 1
    sd.n = n
    sd.fsn = fsn
    sd.top = top
    lad_settle(sd)
    absent[0] += ab
    return end


cdef inline Py_ssize_t side_top(const Side* sd) noexcept nogil:
    """Position of the best level (-1 when empty); positions walk down with ``side_down``."""
    if sd.n == 0:
        return -1
    return sd.top if sd.ladder else sd.n - 1


cdef inline Py_ssize_t side_down(const Side* sd, Py_ssize_t pos) noexcept nogil:
    return lad_prev(sd, pos) if sd.ladder else pos - 1


cdef inline void side_get(const Side* sd, Py_ssize_t pos, Level* out) noexcept nogil:
    """The level at a position as a Level, in either mode."""
    cdef const Slot* sl
    if not sd.ladder:
        out[0] = sd.lv[pos]
        return
    sl = &sd.pool[sd.grid[pos]]
    out.key = sd.lo + pos
    out.size = sl.size
    out.size2 = sl.size2
    out.pdp = sl.pdp
    out.sdp = sl.sdp
    out.s2dp = sl.s2dp


cdef inline int64_t side_best_key(const Side* sd) noexcept nogil:
    return sd.lo + sd.top if sd.ladder else sd.lv[sd.n - 1].key


# Snapshots are built sorted in one scratch array shared by all books (apply holds the GIL), then
# become a ladder or are copied into the side's own array: a ladder side leaves that array untouched.
cdef Level* _scratch = NULL
cdef Py_ssize_t _scap = 0
# Likewise the staged levels of the frame being applied and the sort buffer of unsorted
# snapshots: scratch for the length of one apply() call, so one set serves every book.
cdef PLevel* _stage = NULL
cdef Py_ssize_t _stage_cap = 0
cdef SortItem* _sort = NULL
cdef Py_ssize_t _sort_cap = 0


cdef int grow_scratch(void** buf, Py_ssize_t* cap, Py_ssize_t need, size_t size) except -1:
    """Make one of the shared scratch buffers above hold ``need`` items of ``size`` bytes."""
    cdef void* p
    if need <= cap[0]:
        return 0
    p = realloc(buf[0], <size_t>need * size)
    if p == NULL:
        raise MemoryError()
    buf[0] = p
    cap[0] = need
    return 0


cdef str fmt_decimal(int64_t v, int sc, int w):
    """``v / 10**sc`` written with exactly ``w`` decimals (the digits dropped are zeros)."""
    cdef char buf[64]
    cdef char dig[24]
    cdef int nd = 0, pos = 0, i
    cdef bint neg = v < 0
    cdef unsigned long long u = <unsigned long long>(-v) if neg else <unsigned long long>v
    while True:
        dig[nd] = <char>(48 + u % 10)
        nd += 1
        u //= 10
        if u == 0:
            break
    while nd <= sc:
        dig[nd] = 48
        nd += 1
    if neg:
        buf[pos] = 45
        pos += 1
    for i in range(nd - 1, sc - 1, -1):
        buf[pos] = dig[i]
        pos += 1
    if w > 0:
        buf[pos] = 46
        pos += 1
        for i in range(sc - 1, sc - 1 - w, -1):
            buf[pos] = dig[i] if i >= 0 else 48
            pos += 1
    return PyUnicode_DecodeASCII(buf, pos, NULL)


cdef class OrderBook:
    """Local order book of one Bybit topic (``orderbook.{depth}|rpi|full.{symbol}``).

    ``depth`` fixes the topic (an int, ``"rpi"`` or ``"full"``); ``None`` accepts any non-RPI
    order-book topic of the symbol and binds to the first one applied. ``strict`` requires
    ``u == last_u + 1`` for deltas (else ``u > last_u``). Readers must check ``valid``: after a gap
    or a crossed book the levels are kept for inspection but are not trustworthy.
    """

    def __cinit__(self):
        self._bids.sign = 1
        self._asks.sign = -1
        self._bids.top = -1
        self._asks.top = -1

    def __init__(self, str symbol, *, category=None, depth=None, bint strict=True):
        if not symbol or len(symbol) > 64 or not symbol.isascii() or not symbol.isprintable() or "." in symbol \
                or '"' in symbol or "\\" in symbol:
            raise ValueError(f"invalid symbol {symbol!r}")
        self.symbol = symbol
        self.category = category
        self.strict = strict
        self._sym = symbol.encode()
        self.rpi = False
        self._want = None
        if depth is not None:
            if isinstance(depth, str) and depth.isdigit():
                depth = int(depth)
            if depth == "rpi":
                self.rpi = True
            elif depth != "full" and not (type(depth) is int and depth > 0):
                raise ValueError(f"depth must be a positive int, 'rpi', 'full' or None, not {depth!r}")
            self._want = f"orderbook.{depth}.{symbol}".encode()
        self.depth = depth
        self._bound = None
        self._reset_state()
        self.snapshots = self.deltas = self.stale_dropped = self.absent_deletes = 0
        self.ignored_not_live = self.gaps = self.crossed = 0

    def __dealloc__(self):
        free(self._bids.base)
        free(self._asks.base)
        free(self._bids.grid)
        free(self._asks.grid)
        free(self._bids.pool)
        free(self._asks.pool)
        free(self._bids.fs)
        free(self._asks.fs)
        free(self._bids.bm)
        free(self._asks.bm)

    cdef void _reset_state(self) noexcept:
        self._state = ST_EMPTY
        self.update_id = -1
        self.seq = -1
        self.ts = -1
        self.cts = -1
        self._ps = 0
        self._ss = 0
        self._bids.n = 0
        self._asks.n = 0
        self._bids.ladder = 0
        self._asks.ladder = 0
        self._bids.top = -1
        self._asks.top = -1

    # ------------------------------------------------------------------ parsing

    cdef int _grow(self) except -1:
        grow_scratch(<void**>&_stage, &_stage_cap, self._pcap * 2 if self._pcap else 256, sizeof(PLevel))
        self._pl = _stage
        self._pcap = _stage_cap
        return 0

    @cython.boundscheck(False)
    @cython.wraparound(False)
    cdef int _parse_levels(self, JScan* s, uint8_t side, Frame* f) except -1:
        """Stage the level array at ``s.p``. The common shape ``["<dec>","<dec>"]`` without
        whitespace is read a 64-byte block at a time by ``bf_levels_avx2`` (levels.h) where the
        CPU has AVX2, else by ``js_dec_fast`` in one pass per value; anything else (whitespace,
        escapes, signs, the last bytes of the buffer, errors) re-reads that level generally.
        The frame's maximum decimals and integer digits are tracked here so that ``_prepare``
        needs no second pass over the levels."""
        cdef PLevel* pl
        cdef cptr p
        cdef cptr e = s.end
        cdef int n
        cdef int8_t pi = 0, si = 0, s2i = 0
        cdef bint rpi = self.rpi
        # locals, not fields: the int8 stores into levels would make the compiler reload them
        cdef int mpd = f.mpd, msd = f.msd, mpi = f.mpi, msi = f.msi, ok = 1
        cdef Py_ssize_t pn = self._pn, k
        cdef bint bulk = bf_levels_available()
        cdef LvMax mx
        cdef int closed
        s.p += 1
        if js_at(s, 93):
            s.p += 1
            return 1
        while True:
            if bulk:
                # a block at a time (levels.h); it stops before anything it does not accept
                if self._pcap - pn < 64:
                    self._pn = pn
                    self._grow()
                mx.mpd = mpd
                mx.msd = msd
                mx.mpi = mpi
                mx.msi = msi
                k = bf_levels_avx2(s.p, e, self._pl + pn, self._pcap - pn, side, rpi, &mx, &s.p, &closed)
                mpd = mx.mpd
                msd = mx.msd
                mpi = mx.mpi
                msi = mx.msi
                pn += k
                if closed:
                    break
                bulk = k != 0
            if pn == self._pcap:
                self._pn = pn
                self._grow()
            pl = self._pl + pn
            pn += 1
            pl.side = side
            n = level_fast(s.p, e, pl, rpi, &pi, &si, &s2i)
            if n:
                s.p += n
            elif not self._parse_level_slow(s, pl, &pi, &si, &s2i):
                ok = 0
                break
            # running maxima for _prepare (branch-free selects)
            mpd = pl.pd if pl.pd > mpd else mpd
            mpi = pi if pi > mpi else mpi
            msd = pl.sd if pl.sd > msd else msd
            msi = si if si > msi else msi
            if rpi:
                msd = pl.s2d if pl.s2d > msd else msd
                msi = s2i if s2i > msi else msi
            p = s.p
            if p < e and p[0] == 44:
                s.p = p + 1
                continue
            if p < e and p[0] == 93:
                s.p = p + 1
                break
            js_ws(s)
            if s.p < e and s.p[0] == 44:
                s.p += 1
                js_ws(s)
                continue
            if s.p < e and s.p[0] == 93:
                s.p += 1
                break
            ok = js_fail(s, "expected ',' or ']' in a level list")
            break
        self._pn = pn
        f.mpd = mpd
        f.msd = msd
        f.mpi = mpi
        f.msi = msi
        return ok

    cdef int _parse_level_slow(self, JScan* s, PLevel* pl, int8_t* pi, int8_t* si, int8_t* s2i) noexcept:
        """One level ``[price, size(, rpi_size)]`` at ``s.p`` (whitespace allowed), every error reported."""
        cdef unsigned char buf[64]
        if not js_at(s, 91):
            return js_fail(s, "a level must be an array")
        s.p += 1
        if not dec_elem(s, buf, &pl.p, &pl.pd, &pl.pw, pi, 1):
            return 0
        if not js_expect(s, 44, "a level needs [price, size]"):
            return 0
        if not dec_elem(s, buf, &pl.s, &pl.sd, &pl.sw, si, 0):
            return 0
        if self.rpi:
            if not js_expect(s, 44, "an RPI level needs [price, size, rpi_size]"):
                return 0
            if not dec_elem(s, buf, &pl.s2, &pl.s2d, &pl.s2w, s2i, 0):
                return 0
        else:
            pl.s2 = 0
            pl.s2d = 0
            pl.s2w = 0
        if not js_expect(s, 93, "too many values in a level"):
            return 0
        return 1

    cdef int _parse_object(self, JScan* s, Frame* f, int ctx, int depth) except -1:
        """Scan the object at ``s.p``; known keys of ``ctx`` are read, the rest validated and skipped.
        Returns 1, or 0 with ``s.err`` set."""
        cdef cptr k
        cdef Py_ssize_t kn
        cdef int kid
        cdef int64_t v
        cdef unsigned char kbuf[16]
        cdef cptr tp
        cdef Py_ssize_t tn
        cdef int more = js_obj_open(s)
        while more > 0:
            kid = fast_key(s.p, s.end, &kn)
            if kid:
                s.p += kn
                kid &= ctx
            else:
                if not js_key(s, kbuf, 16, &k, &kn):
                    return 0
                kid = key_id(k, kn) & ctx if kn > 0 else 0
            if kid:
                if f.seen & kid:
                    return js_fail(s, "duplicate key")
                f.seen |= kid
                js_ws(s)
                if kid == K_TOPIC or kid == K_TYPE or kid == K_S:
                    if not js_at(s, 34):
                        return js_fail(s, "topic, type and s must be strings")
                    if kid == K_TOPIC:
                        if not js_string(s, f.tbuf, TOPIC_CAP, &f.topic, &f.topic_len):
                            return 0
                    elif kid == K_S:
                        if not js_string(s, f.sbuf, SYM_CAP, &f.sym, &f.sym_len):
                            return 0
                    else:
                        if not js_string(s, f.ybuf, 16, &tp, &tn):
                            return 0
                        if tn == 5 and memcmp(tp, b"delta", 5) == 0:
                            f.kind = 2
                        elif tn == 8 and memcmp(tp, b"snapshot", 8) == 0:
                            f.kind = 1
                        else:
                            f.kind = 0
                elif kid == K_DATA or kid == K_RESULT:
                    if not js_at(s, 123):
                        return js_fail(s, "data must be an object")
                    if not self._parse_object(s, f, CTX_DATA if kid == K_DATA else CTX_REST_RESULT, depth + 1):
                        return 0
                elif kid == K_B or kid == K_A:
                    if not js_at(s, 91):
                        return js_fail(s, "b and a must be arrays")
                    if kid == K_B:
                        f.b_off = self._pn
                        if not self._parse_levels(s, 0, f):
                            return 0
                        f.b_n = self._pn - f.b_off
                    else:
                        f.a_off = self._pn
                        if not self._parse_levels(s, 1, f):
                            return 0
                        f.a_n = self._pn - f.a_off
                else:
                    if not js_int64(s, &v):
                        return 0
                    if kid == K_RETCODE:
                        f.ret_code = v
                    elif v < 0:
                        return js_fail(s, "ts, cts, u and seq must be non-negative")
                    elif kid == K_TS:
                        f.ts = v
                    elif kid == K_CTS:
                        f.cts = v
                    elif kid == K_U:
                        f.u = v
                    else:
                        f.seq = v
            elif not js_skip(s, depth + 1):
                return 0
            more = js_obj_next(s)
        return more == 0

    cdef int _topic_ok(self, Frame* f) noexcept:
        cdef bytes want = self._bound if self._bound is not None else self._want
        cdef Py_ssize_t n = f.topic_len, sl = len(self._sym), i
        cdef cptr t = f.topic
        if want is not None:
            return n == len(want) and memcmp(t, PyBytes_AS_STRING(want), n) == 0
        # depth=None, not RPI: orderbook.<digits|full>.<symbol>
        if n < 12 + sl or memcmp(t, b"orderbook.", 10) != 0 or t[n - sl - 1] != 46 \
                or memcmp(t + n - sl, PyBytes_AS_STRING(self._sym), sl) != 0:
            return 0
        if n - sl - 11 == 4 and memcmp(t + 10, b"full", 4) == 0:
            return 1
        for i in range(10, n - sl - 1):
            if not (48 <= t[i] <= 57):
                return 0
        return 1

    cdef object _frame_error(self, JScan* s):
        return _FrameError(f"{(<bytes>s.err).decode()} at byte {s.err_at}")

    # ------------------------------------------------------------------ applying

    cdef int _prepare(self, Frame* f, bint fresh, int* nps, int* nss) except -1:
        """New scales for the staged levels; FrameError when a value does not fit in int64 at
        them; capacity reserved, so mutation cannot fail halfway.

        A mantissa ``m`` with ``d`` decimals and ``i`` integer digits fits at scale ``sc >= d``
        iff ``m * 10**(sc - d) < 10**18`` iff ``i + sc <= 18`` (``i`` is 0 for "0.x", which
        always fits), so the running maxima of the parse decide it without a pass over levels."""
        cdef int ps = 0 if fresh else self._ps
        cdef int ss = 0 if fresh else self._ss
        cdef Py_ssize_t nb = f.b_n, na = f.a_n
        cdef int64_t lim, mx
        if f.mpd > ps:
            ps = f.mpd
        if f.msd > ss:
            ss = f.msd
        if f.mpi + ps > MAX_DEC or f.msi + ss > MAX_DEC:
            raise _FrameError("value out of range at the book's fixed-point scale "
                              f"(price decimals {ps}, size decimals {ss})")
        if not fresh:
            if ps > self._ps:
                lim = POW10[MAX_DEC - (ps - self._ps)]
                if self._side_max_key(&self._bids) >= lim or self._side_max_key(&self._asks) >= lim:
                    raise _FrameError(f"rescaling prices to {ps} decimals would overflow the book")
            if ss > self._ss:
                lim = POW10[MAX_DEC - (ss - self._ss)]
                mx = self._side_max_size(&self._bids)
                if mx < self._side_max_size(&self._asks):
                    mx = self._side_max_size(&self._asks)
                if mx >= lim:
                    raise _FrameError(f"rescaling sizes to {ss} decimals would overflow the book")
            reserve(&self._bids, self._bids.n + nb)
            reserve(&self._asks, self._asks.n + na)
            # a ladder needs a free pool entry per staged level; if it cannot have them, the side
            # goes back to sorted mode (same content), so applying still cannot fail
            if self._bids.ladder and not lad_pool(&self._bids, self._bids.n + nb):
                lad_to_sorted(&self._bids)
            if self._asks.ladder and not lad_pool(&self._asks, self._asks.n + na):
                lad_to_sorted(&self._asks)
        else:
            reserve(&self._bids, 2 * nb + 32)
            reserve(&self._asks, 2 * na + 32)
            mx = nb if nb > na else na
            grow_scratch(<void**>&_scratch, &_scap, mx + 64, sizeof(Level))
            grow_scratch(<void**>&_sort, &_sort_cap, mx, sizeof(SortItem))
        nps[0] = ps
        nss[0] = ss
        return 0

    cdef int64_t _side_max_key(self, Side* sd) noexcept:
        cdef int64_t a, b
        if sd.n == 0:
            return 0
        if sd.ladder:
            a = sd.lo + lad_next(sd, -1)
            b = sd.lo + sd.top
        else:
            a = sd.lv[0].key
            b = sd.lv[sd.n - 1].key
        if a < 0:
            a = -a
        if b < 0:
            b = -b
        return a if a > b else b

    cdef int64_t _side_max_size(self, Side* sd) noexcept:
        cdef int64_t mx = 0
        cdef Py_ssize_t i
        cdef Slot* sl
        if sd.ladder:
            i = lad_next(sd, -1) if sd.n else -1
            while i >= 0:
                sl = &sd.pool[sd.grid[i]]
                mx = max(mx, sl.size, sl.size2)
                i = lad_next(sd, i)
            return mx
        for i in range(sd.n):
            if sd.lv[i].size > mx:
                mx = sd.lv[i].size
            if sd.lv[i].size2 > mx:
                mx = sd.lv[i].size2
        return mx

    cdef void _rescale(self, int ps, int ss) noexcept:
        cdef int64_t fp = POW10[ps - self._ps], fs = POW10[ss - self._ss]
        cdef Py_ssize_t i
        cdef bint lb = self._bids.ladder, la = self._asks.ladder
        if fp != 1 or fs != 1:
            # a ladder is indexed by key: finer prices spread it, so rebuild it from sorted form
            if lb:
                lad_to_sorted(&self._bids)
            if la:
                lad_to_sorted(&self._asks)
            for i in range(self._bids.n):
                self._bids.lv[i].key *= fp
                self._bids.lv[i].size *= fs
                self._bids.lv[i].size2 *= fs
            for i in range(self._asks.n):
                self._asks.lv[i].key *= fp
                self._asks.lv[i].size *= fs
                self._asks.lv[i].size2 *= fs
            if lb:
                lad_from_sorted(&self._bids)
            if la:
                lad_from_sorted(&self._asks)
        self._ps = ps
        self._ss = ss

    cdef void _build_side(self, Side* sd, Py_ssize_t off, Py_ssize_t cnt) noexcept:
        """Fill a side from a snapshot's levels: O(n) when they come strictly sorted (as Bybit sends
        them) without zero sizes, else sort with the message order as tie-break (last one wins)."""
        cdef Py_ssize_t i, j, w
        cdef PLevel* pl
        cdef int64_t key, prev = 0
        cdef bint ok = True
        cdef SortItem* items
        sd.ladder = 0
        sd.lv = _scratch
        for i in range(cnt):
            pl = &self._pl[off + i]
            key = sd.sign * pl.p * POW10[self._ps - pl.pd]
            if (i and key >= prev) or (pl.s == 0 and pl.s2 == 0):
                ok = False
                break
            prev = key
            store_level(&sd.lv[cnt - 1 - i], key, pl, self._ss)
        if ok:
            sd.n = cnt
            self._place_side(sd)
            return
        items = _sort
        for i in range(cnt):
            pl = &self._pl[off + i]
            items[i].key = sd.sign * pl.p * POW10[self._ps - pl.pd]
            items[i].idx = off + i
        qsort(items, <size_t>cnt, sizeof(SortItem), cmp_items)
        w = 0
        i = 0
        while i < cnt:
            j = i
            while j + 1 < cnt and items[j + 1].key == items[i].key:
                j += 1
            pl = &self._pl[items[j].idx]
            if pl.s != 0 or pl.s2 != 0:
                store_level(&sd.lv[w], items[j].key, pl, self._ss)
                w += 1
            i = j + 1
        sd.n = w
        self._place_side(sd)

    cdef void _place_side(self, Side* sd) noexcept:
        """A side just built in the scratch array: a ladder when dense enough, else copied into
        the side's own array (room reserved by _prepare)."""
        cdef Level* dst
        lad_from_sorted(sd)
        if sd.ladder:
            return
        dst = sd.base + ((sd.cap - sd.n) >> 1)
        if sd.n:
            memcpy(dst, _scratch, <size_t>sd.n * sizeof(Level))
        sd.lv = dst

    @cython.boundscheck(False)
    @cython.wraparound(False)
    cdef void _apply_side(self, Side* sd, Py_ssize_t off, Py_ssize_t cnt) noexcept:
        cdef Py_ssize_t i = off, end = off + cnt, idx
        cdef PLevel* pl
        cdef Level* lv
        cdef int64_t key, size, size2, absent = 0
        cdef int ps = self._ps, ss = self._ss
        if cnt == 0:
            return
        if sd.ladder:
            i = lad_apply(sd, self._pl, off, end, ps, ss, &absent)
        # sorted mode: binary search, then shift the shorter part
        while i < end:
            pl = &self._pl[i]
            i += 1
            key = sd.sign * pl.p * POW10[ps - pl.pd]
            size = pl.s * POW10[ss - pl.sd]
            size2 = pl.s2 * POW10[ss - pl.s2d]
            idx = lower_bound(sd, key)
            if size == 0 and size2 == 0:
                if idx < sd.n and sd.lv[idx].key == key:
                    if idx < sd.n - idx - 1:
                        move_levels(sd.lv + 1, sd.lv, idx)
                        sd.lv += 1
                    else:
                        move_levels(sd.lv + idx, sd.lv + idx + 1, sd.n - idx - 1)
                    sd.n -= 1
                else:
                    absent += 1
                continue
            if idx == sd.n or sd.lv[idx].key != key:
                # _prepare reserved one free slot per staged level, at the front or the back
                if sd.lv > sd.base and (idx < sd.n - idx or sd.lv + sd.n == sd.base + sd.cap):
                    move_levels(sd.lv - 1, sd.lv, idx)
                    sd.lv -= 1
                else:
                    move_levels(sd.lv + idx + 1, sd.lv + idx, sd.n - idx)
                sd.n += 1
                sd.lv[idx].key = key
            lv = &sd.lv[idx]
            lv.size = size
            lv.size2 = size2
            lv.pdp = pl.pw
            lv.sdp = pl.sw
            lv.s2dp = pl.s2w
        self.absent_deletes += absent

    cdef int _check_crossed(self) except -1:
        cdef int64_t bid, ask
        if self._bids.n and self._asks.n:
            bid = side_best_key(&self._bids)
            ask = -side_best_key(&self._asks)
            if bid >= ask:
                self._state = ST_INVALID
                self.crossed += 1
                raise _CrossedError(f"{self.symbol}: crossed book after u={self.update_id}: best bid "
                                    f"{fmt_decimal(bid, self._ps, self._ps)} >= best ask "
                                    f"{fmt_decimal(ask, self._ps, self._ps)}")
        return 0

    cdef int _gap(self, str why) except -1:
        self._state = ST_INVALID
        self.gaps += 1
        raise _GapError(f"{self.symbol}: {why}; book invalid until a new snapshot")

    cdef int _apply(self, cptr data, Py_ssize_t n, bint rest) except -1:
        cdef JScan s
        cdef Frame f
        cdef int nps, nss, need
        f.seen = 0
        f.kind = 0
        f.topic_len = 0
        f.sym_len = 0
        f.b_n = f.a_n = f.b_off = f.a_off = 0
        f.ts = f.cts = f.u = f.seq = -1
        f.ret_code = 0
        f.mpd = f.msd = f.mpi = f.msi = 0
        self._pn = 0
        self._pl = _stage          # the shared staging buffer (it may have grown for another book)
        self._pcap = _stage_cap
        js_init(&s, data, n)
        if not js_at(&s, 123):
            raise _FrameError("frame is not a JSON object")
        if not self._parse_object(&s, &f, CTX_REST_ROOT if rest else CTX_ROOT, 1):
            raise self._frame_error(&s)
        js_ws(&s)
        if s.p != s.end:
            raise _FrameError(f"trailing data at byte {s.p - s.start}")
        if rest:
            if f.seen & K_RETCODE and f.ret_code != 0:
                raise _FrameError(f"REST response carries retCode {f.ret_code}")
            need = K_B | K_A | K_U | K_TS
        else:
            need = K_TOPIC | K_TYPE | K_TS | K_DATA | K_B | K_A | K_U
        if (f.seen & need) != need:
            raise _FrameError("order-book frame is missing " + ", ".join(
                [nm for bit, nm in ((K_TOPIC, "topic"), (K_TYPE, "type"), (K_TS, "ts"), (K_DATA, "data"),
                                    (K_B, "b"), (K_A, "a"), (K_U, "u")) if need & bit and not f.seen & bit]))
        if not rest:
            if f.kind == 0:
                raise _FrameError("type must be 'snapshot' or 'delta'")
            if f.topic_len < 0 or not self._topic_ok(&f):
                raise _FrameError(f"frame topic {PyBytes_FromStringAndSize(<char*>f.topic, f.topic_len if f.topic_len > 0 else 0)!r} "
                                  f"does not belong to this book ({self.topic_expected()})")
        if f.seen & K_S and (f.sym_len != len(self._sym) or memcmp(f.sym, PyBytes_AS_STRING(self._sym), f.sym_len) != 0):
            raise _FrameError(f"frame symbol {PyBytes_FromStringAndSize(<char*>f.sym, f.sym_len if f.sym_len > 0 else 0)!r} "
                              f"is not {self.symbol!r}")

        if rest or f.kind == 1:
            self._prepare(&f, True, &nps, &nss)
            self._ps = nps
            self._ss = nss
            self._build_side(&self._bids, f.b_off, f.b_n)
            self._build_side(&self._asks, f.a_off, f.a_n)
            self._state = ST_LIVE
            self.update_id = f.u
            self.seq = f.seq
            self.ts = f.ts
            self.cts = f.cts
            self.snapshots += 1
            if not rest and self._bound is None:
                self._bound = PyBytes_FromStringAndSize(<char*>f.topic, f.topic_len)
            self._check_crossed()
            return 1

        if self._state != ST_LIVE:
            self.ignored_not_live += 1
            return 4
        if f.u <= self.update_id:
            if f.u == 1 and self.update_id > 1:
                self._gap(f"u reset to 1 after u={self.update_id} (service restart)")
            self.stale_dropped += 1
            return 3
        if self.strict and f.u != self.update_id + 1:
            self._gap(f"update gap: u={f.u} after u={self.update_id}")
        if f.seq >= 0 and f.seq < self.seq:
            self._gap(f"seq went backwards: {f.seq} after {self.seq} (u={f.u})")
        self._prepare(&f, False, &nps, &nss)
        self._rescale(nps, nss)
        # the sides are independent (the crossed check comes after): each is applied in turn
        self._apply_side(&self._bids, f.b_off, f.b_n)
        self._apply_side(&self._asks, f.a_off, f.a_n)
        self.update_id = f.u
        if f.seq >= 0:
            self.seq = f.seq
        self.ts = f.ts
        self.cts = f.cts
        self.deltas += 1
        if self._bound is None:
            self._bound = PyBytes_FromStringAndSize(<char*>f.topic, f.topic_len)
        self._check_crossed()
        return 2

    cdef int _apply_obj(self, object frame, bint rest) except -1:
        cdef Py_buffer view
        cdef Py_ssize_t n
        cdef const char* data
        if PyBytes_CheckExact(frame):
            return self._apply(<cptr>PyBytes_AS_STRING(frame), PyBytes_GET_SIZE(frame), rest)
        if PyUnicode_Check(frame):
            try:
                data = PyUnicode_AsUTF8AndSize(frame, &n)
            except UnicodeError as exc:
                raise _FrameError(f"frame is not valid UTF-8: {exc}") from None
            return self._apply(<cptr>data, n, rest)
        PyObject_GetBuffer(frame, &view, PyBUF_SIMPLE)
        try:
            return self._apply(<cptr>view.buf, view.len, rest)
        finally:
            PyBuffer_Release(&view)

    cpdef int apply(self, object frame) except -1:
        """Apply one raw WebSocket frame (bytes, str or a bytes-like buffer).

        Returns APPLIED_SNAPSHOT (1), APPLIED_DELTA (2), DROPPED_STALE (3) or IGNORED_NOT_LIVE (4).
        Raises FrameError (book untouched), OrderBookGapError or OrderBookCrossedError (book invalid).
        """
        return self._apply_obj(frame, False)

    def apply_snapshot(self, response):
        """Replace the book from a REST ``/v5/market/orderbook`` (or ``rpi_orderbook`` /
        ``full_orderbook``) response: the envelope or its ``result``, raw or decoded."""
        if not isinstance(response, (bytes, str, bytearray, memoryview)):
            import orjson
            try:
                response = orjson.dumps(response)
            except TypeError as exc:
                raise _FrameError(f"snapshot is not JSON-serialisable: {exc}") from None
        self._apply_obj(response, True)

    def invalidate(self):
        """Mark the book invalid (e.g. after a reconnect) until the next snapshot."""
        self._state = ST_INVALID

    def clear(self):
        """Empty the book and forget its topic binding; counters are kept."""
        self._reset_state()
        self._bound = None

    # ------------------------------------------------------------------ reading

    cdef str topic_expected(self):
        if self._bound is not None:
            return self._bound.decode()
        if self._want is not None:
            return self._want.decode()
        return f"orderbook.<depth>.{self.symbol}"

    @property
    def topic(self):
        """The topic this book is bound to (fixed by ``depth`` or by the first frame), or None."""
        t = self._bound if self._bound is not None else self._want
        return None if t is None else t.decode()

    @property
    def valid(self):
        return self._state == ST_LIVE

    @property
    def state(self):
        return ("empty", "live", "invalid")[self._state]

    @property
    def num_bids(self):
        return self._bids.n

    @property
    def num_asks(self):
        return self._asks.n

    def _check_invariants(self):
        """Raise AssertionError when the internal layout is inconsistent (tests call it after
        every frame): ladder bitmap count, pool free stack, top; sorted order."""
        cdef Side* sd
        cdef Py_ssize_t i, cnt, hi
        cdef bytearray seen
        cdef int k
        for k in range(2):
            sd = &self._asks if k else &self._bids
            if sd.ladder:
                cnt = 0
                hi = -1
                seen = bytearray(sd.pcap)
                for i in range(sd.lcap):
                    if (sd.bm[i >> 6] >> (i & 63)) & 1:
                        cnt += 1
                        hi = i
                        assert sd.grid[i] < sd.pcap and not seen[sd.grid[i]], "pool entry shared"
                        seen[sd.grid[i]] = 1
                assert cnt == sd.n, f"bitmap holds {cnt} levels, n={sd.n}"
                assert sd.top == hi, f"top {sd.top} != {hi}"
                assert sd.fsn == sd.pcap - sd.n, f"free stack {sd.fsn} != {sd.pcap} - {sd.n}"
                for i in range(sd.fsn):
                    assert sd.fs[i] < sd.pcap and not seen[sd.fs[i]], "free entry in use or twice"
                    seen[sd.fs[i]] = 1
            else:
                for i in range(1, sd.n):
                    assert sd.lv[i - 1].key < sd.lv[i].key, "sorted side out of order"

    @property
    def layout(self):
        """Storage of (bids, asks): "ladder" (dense keys, direct-indexed) or "sorted" (sparse)."""
        return ("ladder" if self._bids.ladder else "sorted", "ladder" if self._asks.ladder else "sorted")

    @property
    def price_scale(self):
        """Decimals of the fixed-point price representation (grows when a finer price arrives)."""
        return self._ps

    @property
    def size_scale(self):
        return self._ss

    def __len__(self):
        return self._bids.n + self._asks.n

    def __repr__(self):
        return (f"<OrderBook {self.topic or self.symbol} {self.state} u={self.update_id} "
                f"bids={self._bids.n} asks={self._asks.n}>")

    cdef double _size_f(self, Level* lv) noexcept:
        return <double>(lv.size + lv.size2) / POW10D[self._ss]

    def best_bid(self):
        """(price, size) of the best bid as floats, or None. RPI books: size = non-RPI + RPI."""
        cdef Level lv
        if self._bids.n == 0:
            return None
        side_get(&self._bids, side_top(&self._bids), &lv)
        return (<double>lv.key / POW10D[self._ps], self._size_f(&lv))

    def best_ask(self):
        cdef Level lv
        if self._asks.n == 0:
            return None
        side_get(&self._asks, side_top(&self._asks), &lv)
        return (<double>(-lv.key) / POW10D[self._ps], self._size_f(&lv))

    def best_bid_price(self):
        """Best bid price, nan when the side is empty."""
        if self._bids.n == 0:
            return NAN
        return <double>side_best_key(&self._bids) / POW10D[self._ps]

    def best_ask_price(self):
        if self._asks.n == 0:
            return NAN
        return <double>(-side_best_key(&self._asks)) / POW10D[self._ps]

    cdef list _levels(self, Side* sd, object n, int mode):
        cdef Py_ssize_t k = sd.n, pos
        cdef Level lv_
        cdef Level* lv = &lv_
        cdef list out = []
        cdef double ps = POW10D[self._ps]
        if n is not None:
            if n < 0:
                raise ValueError("n must be >= 0")
            if n < k:
                k = n
        pos = side_top(sd)
        while k > 0:
            side_get(sd, pos, lv)
            pos = side_down(sd, pos)
            k -= 1
            if mode == 0:
                out.append((<double>(lv.key * sd.sign) / ps, self._size_f(lv)))
            elif mode == 1 and not self.rpi:
                out.append((fmt_decimal(lv.key * sd.sign, self._ps, lv.pdp), fmt_decimal(lv.size, self._ss, lv.sdp)))
            elif mode == 1:
                out.append((fmt_decimal(lv.key * sd.sign, self._ps, lv.pdp), fmt_decimal(lv.size, self._ss, lv.sdp),
                            fmt_decimal(lv.size2, self._ss, lv.s2dp)))
            else:
                out.append((<double>(lv.key * sd.sign) / ps, <double>lv.size / POW10D[self._ss],
                            <double>lv.size2 / POW10D[self._ss]))
        return out

    def bids(self, n=None):
        """Up to ``n`` bids, best first, as (price, size) floats."""
        return self._levels(&self._bids, n, 0)

    def asks(self, n=None):
        return self._levels(&self._asks, n, 0)

    def bids_decimal(self, n=None):
        """Up to ``n`` bids, best first, as the exact strings received ((price, size, rpi_size) for RPI)."""
        return self._levels(&self._bids, n, 1)

    def asks_decimal(self, n=None):
        return self._levels(&self._asks, n, 1)

    def bids_rpi(self, n=None):
        """RPI books: (price, non_rpi_size, rpi_size) floats, best first."""
        return self._levels(&self._bids, n, 2)

    def asks_rpi(self, n=None):
        return self._levels(&self._asks, n, 2)
