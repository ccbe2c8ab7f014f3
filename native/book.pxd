# cython: language_level=3
from libc.stdint cimport int64_t, int8_t, uint8_t, uint16_t, uint64_t
from jscan cimport JScan, cptr

cdef struct Level:
    int64_t key        # sign * price at the book's price scale (ascending; best level last)
    int64_t size       # at the book's size scale
    int64_t size2      # RPI size (orderbook.rpi only), same scale
    uint8_t pdp        # decimals as written, so bids_decimal() returns the exact strings
    uint8_t sdp
    uint8_t s2dp

cdef struct Slot:       # one ladder slot: the level at key ``lo + index`` (occupied when its bit is set)
    int64_t size
    int64_t size2
    uint8_t pdp
    uint8_t sdp
    uint8_t s2dp

cdef struct Side:
    # Sorted mode: levels lv[0..n) inside base[0..cap), ascending key, best last, slack at both ends.
    # Ladder mode (``ladder``): keys are direct-indexed, slot ``key - lo`` of an occupancy bitmap
    # and of ``grid``, which names the level's entry in ``pool``; base keeps room for n + staged
    # levels so a switch back to sorted mode never allocates.
    Level* base
    Level* lv
    Py_ssize_t n
    Py_ssize_t cap
    int64_t sign       # +1 bids, -1 asks
    bint ladder
    uint16_t* grid     # pool entry per slot (meaningful where the bitmap bit is set)
    uint64_t* bm
    Py_ssize_t lalloc  # slots allocated
    Py_ssize_t lcap    # slots in use, a multiple of 64
    int64_t lo         # key of slot 0
    Py_ssize_t top     # upper bound of the occupied slots (exact after each apply), -1 when empty
    Slot* pool         # level data, pcap entries
    uint16_t* fs       # free pool entries, a stack (room for pcap + 1)
    Py_ssize_t fsn
    Py_ssize_t pcap


cdef extern from "levels.h":
    ctypedef struct PLevel "bf_plevel":   # one parsed level of the frame being applied (mantissas, not yet scaled)
        int64_t p
        int64_t s
        int64_t s2
        int8_t pd          # significant decimals (trailing zeros stripped)
        int8_t sd
        int8_t s2d
        uint8_t pw         # written decimals
        uint8_t sw
        uint8_t s2w
        uint8_t side       # 0 bid, 1 ask

    ctypedef struct LvMax "bf_lvmax":
        int mpd
        int msd
        int mpi
        int msi

    int bf_levels_available() nogil
    int bf_levels_set(int on) nogil
    Py_ssize_t bf_levels_avx2(cptr p, cptr e, PLevel* out, Py_ssize_t room, uint8_t side, int rpi, LvMax* mx,
                              cptr* endp, int* closed) nogil


cdef struct Frame:      # header fields of the frame being applied (pointers into it or its buffers)
    cptr topic
    Py_ssize_t topic_len
    cptr sym
    Py_ssize_t sym_len
    int kind                 # 1 snapshot, 2 delta, 0 unknown
    int seen                 # bitmask of known keys met
    int64_t ts
    int64_t cts
    int64_t u
    int64_t seq
    int64_t ret_code
    Py_ssize_t b_off
    Py_ssize_t b_n
    Py_ssize_t a_off
    Py_ssize_t a_n
    int mpd                  # maxima over the staged levels: price / size significant decimals,
    int msd
    int mpi                  # price / size integer digits (see OrderBook._prepare)
    int msi
    unsigned char tbuf[256]
    unsigned char sbuf[128]
    unsigned char ybuf[16]

cdef struct SortItem:
    int64_t key
    Py_ssize_t idx

cdef class OrderBook:
    cdef readonly str symbol
    cdef readonly object category
    cdef readonly object depth
    cdef readonly bint strict
    cdef readonly bint rpi
    cdef bytes _sym
    cdef bytes _want          # topic fixed by the constructor's depth, or None
    cdef bytes _bound         # topic of the first applied frame, or None
    cdef int _state           # 0 empty, 1 live, 2 invalid
    cdef readonly int64_t update_id
    cdef readonly int64_t seq
    cdef readonly int64_t ts
    cdef readonly int64_t cts
    cdef readonly int64_t snapshots
    cdef readonly int64_t deltas
    cdef readonly int64_t stale_dropped
    cdef readonly int64_t absent_deletes
    cdef readonly int64_t ignored_not_live
    cdef readonly int64_t gaps
    cdef readonly int64_t crossed
    cdef int _ps              # price scale (decimals)
    cdef int _ss              # size scale
    cdef Side _bids
    cdef Side _asks
    cdef PLevel* _pl          # the module's shared staging buffer, set by each apply
    cdef Py_ssize_t _pn
    cdef Py_ssize_t _pcap


    cdef void _reset_state(self) noexcept
    cdef int _grow(self) except -1
    cdef int _parse_levels(self, JScan* s, uint8_t side, Frame* f) except -1
    cdef int _parse_level_slow(self, JScan* s, PLevel* pl, int8_t* pi, int8_t* si, int8_t* s2i) noexcept
    cdef int _parse_object(self, JScan* s, Frame* f, int ctx, int depth) except -1
    cdef int _topic_ok(self, Frame* f) noexcept
    cdef object _frame_error(self, JScan* s)
    cdef int _prepare(self, Frame* f, bint fresh, int* nps, int* nss) except -1
    cdef int64_t _side_max_key(self, Side* sd) noexcept
    cdef int64_t _side_max_size(self, Side* sd) noexcept
    cdef void _rescale(self, int ps, int ss) noexcept
    cdef void _build_side(self, Side* sd, Py_ssize_t off, Py_ssize_t cnt) noexcept
    cdef void _place_side(self, Side* sd) noexcept
    cdef void _apply_side(self, Side* sd, Py_ssize_t off, Py_ssize_t cnt) noexcept
    cdef int _check_crossed(self) except -1
    cdef int _gap(self, str why) except -1
    cdef int _apply(self, cptr data, Py_ssize_t n, bint rest) except -1
    cdef int _apply_obj(self, object frame, bint rest) except -1
    cdef str topic_expected(self)
    cdef double _size_f(self, Level* lv) noexcept
    cdef list _levels(self, Side* sd, object n, int mode)
    cpdef int apply(self, object frame) except -1
