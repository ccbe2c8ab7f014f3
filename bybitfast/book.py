"""Native local order books for Bybit V5 ``orderbook.*`` topics.

``OrderBook.apply(frame)`` takes the raw WebSocket frame (bytes or str) and applies it without
building a Python object per level; see ``docs/decisions/orderbook.md`` for the fixed-point
representation and the sequence rules (PROTOCOL.md §5). ``bybitfast.book_reference`` is the
pure-Python definition of the same behaviour, used by the tests.

Return codes of ``apply``: ``APPLIED_SNAPSHOT``, ``APPLIED_DELTA``, ``DROPPED_STALE``,
``IGNORED_NOT_LIVE``. Errors: ``FrameError`` (bad frame; book untouched), ``OrderBookGapError``
and ``OrderBookCrossedError`` (book marked invalid until the next snapshot).
"""

from __future__ import annotations

from . import _book
from ._book import APPLIED_DELTA, APPLIED_SNAPSHOT, DROPPED_STALE, IGNORED_NOT_LIVE, OrderBook
from .errors import FrameError, OrderBookCrossedError, OrderBookError, OrderBookGapError

_book._set_errors(FrameError, OrderBookGapError, OrderBookCrossedError)

__all__ = [
    "APPLIED_DELTA",
    "APPLIED_SNAPSHOT",
    "DROPPED_STALE",
    "IGNORED_NOT_LIVE",
    "FrameError",
    "OrderBook",
    "OrderBookCrossedError",
    "OrderBookError",
    "OrderBookGapError",
    "frame_info",
]


def __getattr__(name: str):
    # frame_info lives in the router module; imported lazily to keep the two builds independent.
    if name == "frame_info":
        from .router import frame_info

        return frame_info
    raise AttributeError(f"module 'bybitfast.book' has no attribute {name!r}")
