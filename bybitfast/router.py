"""Route raw Bybit WebSocket frames by topic without decoding them in Python.

API (native, ``bybitfast._router``):

- ``frame_info(frame) -> (topic, type, u, seq)``: the envelope fields of a raw frame (bytes or
  str) read by a single scan that builds no Python object for ``data``; strings are ``None`` and
  ints ``-1`` when absent. Raises ``FrameError`` when the frame is not a JSON object.
- ``frame_kind(frame) -> (kind, key)``: ``(KIND_DATA, topic)`` for topic frames; for the rest the
  control kind and its ``req_id``/``reqId``: ``KIND_PONG`` (``op:"pong"``, or ``op:"ping"`` with
  ``ret_msg:"pong"`` on public sockets), ``KIND_SUBSCRIBE`` / ``KIND_UNSUBSCRIBE`` (incl. the
  option/spread ``type:"COMMAND_RESP"`` ack), ``KIND_AUTH``, ``KIND_WS_API`` (trade-socket
  ``order.*`` replies, or any reply carrying a ``reqId``), ``KIND_PING``, ``KIND_OTHER``.
  ``KIND_NAMES[kind]`` is its name.
- ``Router(on_control=None, on_unhandled=None, on_book_error=None)``:
  ``add_book(book, topic=None)`` sends frames of the book's topic to ``book.apply(raw)`` (no JSON
  decoding at all); ``add(topic, handler, raw=False)`` calls ``handler(orjson.loads(frame))``, or
  ``handler(frame)`` when ``raw``; ``remove(topic)``, ``topics()``, ``route(topic)``.
  ``dispatch(frame) -> kind`` routes one frame: data frames of unknown topics go to
  ``on_unhandled(frame)``; control frames to ``on_control(kind_name, req_id, decoded_dict)``
  (rare, so decoded); an ``OrderBookError``/``FrameError`` raised by a book goes to
  ``on_book_error(topic, book, exc)`` (resubscribe there) or propagates when no callback is set.
  Counters: ``dispatched``, ``unhandled``.
"""

from __future__ import annotations

from . import _router
from ._router import (
    KIND_AUTH,
    KIND_DATA,
    KIND_NAMES,
    KIND_OTHER,
    KIND_PING,
    KIND_PONG,
    KIND_SUBSCRIBE,
    KIND_UNSUBSCRIBE,
    KIND_WS_API,
    Router,
    frame_info,
    frame_kind,
)
from .book import FrameError, OrderBookError

_router._set_errors(FrameError, (OrderBookError, FrameError))

__all__ = [
    "KIND_AUTH",
    "KIND_DATA",
    "KIND_NAMES",
    "KIND_OTHER",
    "KIND_PING",
    "KIND_PONG",
    "KIND_SUBSCRIBE",
    "KIND_UNSUBSCRIBE",
    "KIND_WS_API",
    "Router",
    "frame_info",
    "frame_kind",
]
