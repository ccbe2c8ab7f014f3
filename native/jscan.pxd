# cython: language_level=3
"""Single-pass JSON scanning primitives shared by ``book.pyx`` and ``router.pyx``.

Everything here is ``cdef inline`` so each module compiles its own copy and no runtime import of
a ``jscan`` module is needed. The grammar accepted is exactly RFC 8259 as CPython's ``json``
module reads it (strict mode): whitespace `` \\t\\n\\r``, no NaN/Infinity, strings validated as
UTF-8 with escapes decoded, containers nested at most ``JS_MAX_DEPTH`` deep. A failed call
records a static message and the byte offset in the ``JScan`` and returns 0; callers raise.
"""

from libc.stdint cimport int64_t, uint64_t, uint32_t
from libc.string cimport memcpy

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
            c = p[0]
            if c < 0x20:
                s.p = p
                return js_fail(s, "control character in string")
            if c >= 0x80:
                if not js_utf8(s, &p):
                    return 0
            else:
                p += 1
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
    cdef cptr p = s.p + 1
    cdef cptr start = p
    cdef cptr e = s.end
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
        if c < 0x20:
            s.p = p
            return js_fail(s, "control character in string")
        if c >= 0x80:
            if not js_utf8(s, &p):
                return 0
        else:
            p += 1

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
        if p >= e or not (48 <= p[0] <= 57):
            s.p = p
            return js_fail(s, "invalid number")
        while p < e and 48 <= p[0] <= 57:
            p += 1
    if p < e and (p[0] == 101 or p[0] == 69):
        p += 1
        if p < e and (p[0] == 43 or p[0] == 45):
            p += 1
        if p >= e or not (48 <= p[0] <= 57):
            s.p = p
            return js_fail(s, "invalid number")
        while p < e and 48 <= p[0] <= 57:
            p += 1
    s.p = p
    return 1

cdef inline int js_int64(JScan* s, int64_t* out) noexcept nogil:
    """Read a JSON integer into ``out``; a fraction/exponent or a value beyond int64 fails."""
    cdef cptr p
    cdef cptr e = s.end
    cdef bint neg = 0
    cdef uint64_t v = 0
    cdef uint64_t lim
    js_ws(s)
    p = s.p
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
            if (kinds >> (lvl - 1)) & 1:
                if not js_at(s, 34):
                    return js_fail(s, "expected a string key")
                if not js_string(s, NULL, 0, &o, &l):
                    return 0
                if not js_expect(s, 58, "expected ':'"):
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
