# cython: language_level=3, cdivision=True
"""Frame classification and topic dispatch without decoding frames into Python objects.

See ``bybitfast/router.py`` for the documented API. Scanning is ``jscan.pxd`` (shared with the
order book): top-level keys are read, values we do not need are stepped over.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.unicode cimport PyUnicode_Check, PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t
from libc.string cimport memcmp

import orjson

cimport cython
from bybitfast._book cimport OrderBook

from jscan cimport (JScan, cptr, js_at, js_fail, js_init, js_int64, js_key, js_obj_next, js_obj_open, js_skip,
                   js_skip_brackets, js_string, js_ws)

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object, Py_ssize_t*) except NULL

KIND_OTHER = 0
KIND_DATA = 1
KIND_PONG = 2
KIND_SUBSCRIBE = 3
KIND_UNSUBSCRIBE = 4
KIND_AUTH = 5
KIND_WS_API = 6
KIND_PING = 7
KIND_NAMES = ("other", "data", "pong", "subscribe", "unsubscribe", "auth", "ws_api", "ping")

_FrameError = ValueError
_BookErrors = (ValueError, RuntimeError)


def _set_errors(frame_error, book_errors):
    """Install the exception classes (called once by bybitfast.router)."""
    global _FrameError, _BookErrors
    _FrameError = frame_error
    _BookErrors = book_errors


cdef enum:
    F_TOPIC = 1
    F_TYPE = 2
    F_OP = 4
    F_REQ = 8
    F_RETMSG = 16
    F_DATA = 32
    STR_CAP = 256

cdef struct Info:
    cptr topic
    Py_ssize_t topic_len
    cptr typ
    Py_ssize_t typ_len
    cptr op
    Py_ssize_t op_len
    cptr req
    Py_ssize_t req_len
    cptr retmsg
    Py_ssize_t retmsg_len
    int seen
    int64_t u
    int64_t seq
    unsigned char tbuf[256]
    unsigned char ybuf[32]
    unsigned char obuf[32]
    unsigned char rbuf[256]
    unsigned char mbuf[32]


cdef inline int key_of(cptr k, Py_ssize_t n) noexcept nogil:
    if n == 5 and memcmp(k, b"topic", 5) == 0:
        return F_TOPIC
    if n == 4 and memcmp(k, b"type", 4) == 0:
        return F_TYPE
    if n == 4 and memcmp(k, b"data", 4) == 0:
        return F_DATA
    if n == 2 and k[0] == 111 and k[1] == 112:
        return F_OP
    if (n == 6 and memcmp(k, b"req_id", 6) == 0) or (n == 5 and memcmp(k, b"reqId", 5) == 0):
        return F_REQ
    if n == 7 and memcmp(k, b"ret_msg", 7) == 0:
        return F_RETMSG
    return 0


cdef inline int skip_value(JScan* s, int depth, bint lenient) noexcept nogil:
    """Step over the value at ``s.p``: validated, or (``lenient``) containers by bracket matching
    only (frame_info does not return them, and apply() validates frames in full)."""
    cdef cptr q
    if lenient and s.p < s.end and (s.p[0] == 91 or s.p[0] == 123):
        q = js_skip_brackets(s.p, s.end)
        if q == NULL:
            s.p = s.end
            return js_fail(s, "unterminated array or object")
        s.p = q
        return 1
    return js_skip(s, depth)


cdef int scan_data(JScan* s, Info* inf, bint lenient) noexcept nogil:
    """Read ``u`` and ``seq`` of a data object, stepping over everything else."""
    cdef cptr k
    cdef Py_ssize_t kn
    cdef unsigned char kbuf[8]
    cdef int more = js_obj_open(s)
    while more > 0:
        if not js_key(s, kbuf, 8, &k, &kn):
            return 0
        js_ws(s)
        if kn == 1 and k[0] == 117 and s.p < s.end and s.p[0] != 34:
            if not js_int64(s, &inf.u):
                return 0
        elif kn == 3 and memcmp(k, b"seq", 3) == 0 and s.p < s.end and s.p[0] != 34:
            if not js_int64(s, &inf.seq):
                return 0
        elif not skip_value(s, 3, lenient):
            return 0
        more = js_obj_next(s)
    return more == 0


cdef int scan(JScan* s, Info* inf, bint want_data, bint stop_at_topic) noexcept nogil:
    """Read the top-level keys we classify by; with ``stop_at_topic`` return as soon as the topic
    is known (data frames), else read the whole object."""
    cdef cptr k
    cdef Py_ssize_t kn
    cdef int kid, more
    cdef unsigned char kbuf[8]
    if not js_at(s, 123):
        return js_fail(s, "frame is not a JSON object")
    more = js_obj_open(s)
    while more > 0:
        if not js_key(s, kbuf, 8, &k, &kn):
            return 0
        kid = key_of(k, kn)
        js_ws(s)
        if kid == F_DATA and want_data and s.p < s.end and s.p[0] == 123 and not (inf.seen & F_DATA):
            inf.seen |= F_DATA
            if not scan_data(s, inf, want_data):
                return 0
        elif kid and kid != F_DATA and s.p < s.end and s.p[0] == 34 and not (inf.seen & kid):
            inf.seen |= kid
            if kid == F_TOPIC:
                if not js_string(s, inf.tbuf, STR_CAP, &inf.topic, &inf.topic_len):
                    return 0
                if stop_at_topic and inf.topic_len >= 0:
                    return 1
            elif kid == F_TYPE:
                if not js_string(s, inf.ybuf, 32, &inf.typ, &inf.typ_len):
                    return 0
            elif kid == F_OP:
                if not js_string(s, inf.obuf, 32, &inf.op, &inf.op_len):
                    return 0
            elif kid == F_REQ:
                if not js_string(s, inf.rbuf, STR_CAP, &inf.req, &inf.req_len):
                    return 0
            else:
                if not js_string(s, inf.mbuf, 32, &inf.retmsg, &inf.retmsg_len):
                    return 0
        elif not skip_value(s, 2, want_data):
            return 0
        more = js_obj_next(s)
    return more == 0


cdef inline void info_init(Info* inf) noexcept nogil:
    inf.seen = 0
    inf.u = -1
    inf.seq = -1
    inf.topic_len = inf.typ_len = inf.op_len = inf.req_len = inf.retmsg_len = 0


cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object)
    void* PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)

# Recently decoded ASCII topics/types, so that hot frames reuse one str (and its cached hash for
# the route lookup) instead of decoding a new one per frame. Direct-mapped, never stale: a slot
# is only returned when its text equals the bytes.
cdef list _str_cache = [None] * 64


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline object cached_str(int seen, int bit, cptr p, Py_ssize_t n):
    cdef Py_ssize_t h
    cdef object s
    if not (seen & bit):
        return None
    if n <= 0:
        return opt_str(seen, bit, p, n)
    h = (n * 5 + p[n - 1] * 3 + p[n >> 1]) & 63
    s = _str_cache[h]
    if s is not None and PyUnicode_GET_LENGTH(s) == n and memcmp(PyUnicode_DATA(s), p, n) == 0:
        return s
    s = PyUnicode_DecodeUTF8(<const char*>p, n, "surrogatepass")
    if PyUnicode_IS_COMPACT_ASCII(s):
        _str_cache[h] = s
    return s


cdef inline object opt_str(int seen, int bit, cptr p, Py_ssize_t n):
    if not (seen & bit):
        return None
    if n < 0:
        raise _FrameError("string field too long")
    return PyUnicode_DecodeUTF8(<const char*>p, n, "surrogatepass")


cdef inline bint eq(cptr p, Py_ssize_t n, const char* lit, Py_ssize_t ln) noexcept nogil:
    return n == ln and memcmp(p, lit, ln) == 0


cdef int classify(Info* inf) noexcept nogil:
    if inf.seen & F_TOPIC:
        return 1
    if inf.seen & F_OP:
        if eq(inf.op, inf.op_len, "pong", 4):
            return 2
        if eq(inf.op, inf.op_len, "ping", 4):
            if inf.seen & F_RETMSG and eq(inf.retmsg, inf.retmsg_len, "pong", 4):
                return 2
            return 7
        if eq(inf.op, inf.op_len, "subscribe", 9):
            return 3
        if eq(inf.op, inf.op_len, "unsubscribe", 11):
            return 4
        if eq(inf.op, inf.op_len, "auth", 4):
            return 5
        if inf.op_len > 6 and memcmp(inf.op, "order.", 6) == 0:
            return 6
    if inf.seen & F_TYPE and eq(inf.typ, inf.typ_len, "COMMAND_RESP", 12):
        return 3
    return 0


cdef int run_scan(object frame, JScan* s, Info* inf, bint want_data, bint stop_at_topic) except -1:
    cdef Py_buffer view
    cdef Py_ssize_t n
    cdef const char* data
    cdef int ok
    info_init(inf)
    if PyBytes_CheckExact(frame):
        js_init(s, <cptr>PyBytes_AS_STRING(frame), PyBytes_GET_SIZE(frame))
        ok = scan(s, inf, want_data, stop_at_topic)
    elif PyUnicode_Check(frame):
        try:
            data = PyUnicode_AsUTF8AndSize(frame, &n)
        except UnicodeError as exc:
            raise _FrameError(f"frame is not valid UTF-8: {exc}") from None
        js_init(s, <cptr>data, n)
        ok = scan(s, inf, want_data, stop_at_topic)
    else:
        # Pointers into the buffer are only used before release (callers copy what they keep).
        PyObject_GetBuffer(frame, &view, PyBUF_SIMPLE)
        try:
            js_init(s, <cptr>view.buf, view.len)
            ok = scan(s, inf, want_data, stop_at_topic)
            if ok:
                return 1
            raise _FrameError(f"{(<bytes>s.err).decode()} at byte {s.err_at}")
        finally:
            PyBuffer_Release(&view)
    if not ok:
        raise _FrameError(f"{(<bytes>s.err).decode()} at byte {s.err_at}")
    return 1


def frame_info(frame):
    """(topic, type, u, seq) of a raw frame without building its data: strings are None and
    ints -1 when absent. Raises FrameError when the frame is not a JSON object."""
    cdef JScan s
    cdef Info inf
    if not (PyBytes_CheckExact(frame) or PyUnicode_Check(frame)):
        frame = bytes(frame)
    run_scan(frame, &s, &inf, True, False)
    return (cached_str(inf.seen, F_TOPIC, inf.topic, inf.topic_len), cached_str(inf.seen, F_TYPE, inf.typ, inf.typ_len),
            inf.u, inf.seq)


def frame_kind(frame):
    """(kind, key) of a raw frame: (KIND_DATA, topic) for data frames, else the control kind
    (pong, subscribe/unsubscribe ack, auth reply, WS-API reply, ping, other) and its
    ``req_id``/``reqId`` (None when absent). Stops reading at the topic of data frames."""
    cdef JScan s
    cdef Info inf
    cdef int kind
    if not (PyBytes_CheckExact(frame) or PyUnicode_Check(frame)):
        frame = bytes(frame)
    run_scan(frame, &s, &inf, False, True)
    kind = classify(&inf)
    if kind == 1:
        return (1, cached_str(inf.seen, F_TOPIC, inf.topic, inf.topic_len))
    if kind == 0 and inf.seen & F_REQ:
        kind = 6
    return (kind, opt_str(inf.seen, F_REQ, inf.req, inf.req_len))


cdef class Router:
    """Topic -> handler dispatch of raw frames; see bybitfast.router for the API."""

    def __init__(self, *, on_control=None, on_unhandled=None, on_book_error=None):
        self._routes = {}
        self.on_control = on_control
        self.on_unhandled = on_unhandled
        self.on_book_error = on_book_error
        self.dispatched = 0
        self.unhandled = 0

    def add_book(self, book, topic=None):
        """Route ``topic`` (default: the book's own topic) to ``book.apply(raw_frame)``."""
        topic = topic if topic is not None else book.topic
        if not topic:
            raise ValueError("the book has no fixed topic: pass depth= when creating it, or topic= here")
        # a native book is applied through its C method (no Python call); others via .apply
        self._routes[topic] = (0 if isinstance(book, OrderBook) else 3, book.apply, book)

    def add(self, topic, handler, *, raw=False):
        """Route ``topic`` to ``handler(frame_bytes)`` when ``raw`` else ``handler(orjson_dict)``."""
        self._routes[topic] = (1 if raw else 2, handler, None)

    def remove(self, topic):
        self._routes.pop(topic, None)

    def topics(self):
        return list(self._routes)

    def route(self, topic):
        """The book or handler registered for ``topic`` (None when absent)."""
        r = self._routes.get(topic)
        return None if r is None else (r[2] if r[0] == 0 or r[0] == 3 else r[1])

    cpdef int dispatch(self, object frame) except -1:
        """Route one raw frame; returns its KIND_* (KIND_DATA for topic frames)."""
        cdef JScan s
        cdef Info inf
        cdef int kind, k
        cdef tuple r
        if not (PyBytes_CheckExact(frame) or PyUnicode_Check(frame)):
            frame = bytes(frame)
        run_scan(frame, &s, &inf, False, True)
        kind = classify(&inf)
        self.dispatched += 1
        if kind == 1:
            topic = cached_str(inf.seen, F_TOPIC, inf.topic, inf.topic_len)
            r = self._routes.get(topic)
            if r is None:
                self.unhandled += 1
                if self.on_unhandled is not None:
                    self.on_unhandled(frame)
                return 1
            k = r[0]
            if k == 0 or k == 3:
                try:
                    if k == 0:
                        (<OrderBook>r[2])._apply_obj(frame, False)
                    else:
                        r[1](frame)
                except _BookErrors as exc:
                    if self.on_book_error is None:
                        raise
                    self.on_book_error(topic, r[2], exc)
            elif k == 1:
                r[1](frame)
            else:
                r[1](orjson.loads(frame))
            return 1
        if kind == 0 and inf.seen & F_REQ:
            kind = 6
        if self.on_control is not None:
            self.on_control(KIND_NAMES[kind], opt_str(inf.seen, F_REQ, inf.req, inf.req_len), orjson.loads(frame))
        return kind
