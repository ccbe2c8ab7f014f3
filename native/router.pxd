# cython: language_level=3
cdef class Router:
    cdef dict _routes           # topic (str) -> route tuple (kind, target)
    cdef readonly object on_control
    cdef readonly object on_unhandled
    cdef readonly object on_book_error
    cdef readonly long long dispatched
    cdef readonly long long unhandled
    cpdef int dispatch(self, object frame) except -1
