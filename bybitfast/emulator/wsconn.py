"""One server-side WebSocket connection, with the faults that apply to every socket path.

Every handler (public, private, trade) sends through :class:`ServerSocket` (:meth:`send`, or
:meth:`write_frames` for a batch), so frame counting, drop-after-N-frames, drop-at-time,
simulated link latency and ping silence behave the same on all paths. Bybit speaks compact JSON
text frames.

Direct writes: the emulator does not negotiate permessage-deflate ([inferred] Bybit does not
either), and a server never masks, so a text frame on the wire is a 2/4/10-byte header followed by
the payload. With no latency configured, :meth:`write_frames` builds those bytes itself and hands
a whole batch to ``transport.write`` in one call, instead of one ``await ws.send_str`` (an
encode, a header and a ``send`` syscall) per frame. Backpressure is aiohttp's: the transport
pauses its protocol above the high-water mark, :attr:`paused` reports it and :meth:`drain`
waits for the resume. With latency (or if compression were negotiated) every frame goes through
aiohttp's writer, one at a time, as before.
"""

from __future__ import annotations

import asyncio
import operator
import struct
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .faults import Faults

_TEXT_SMALL = [bytes((0x81, n)) for n in range(126)]  # FIN | opcode 1 (text), unmasked, length < 126
_PACK_MEDIUM = struct.Struct("!BBH").pack
_PACK_LARGE = struct.Struct("!BBQ").pack


def text_header(n: int) -> bytes:
    """RFC 6455 header of an unmasked, final text frame carrying ``n`` payload bytes."""
    if n < 126:
        return _TEXT_SMALL[n]
    if n < 65536:
        return _PACK_MEDIUM(0x81, 126, n)
    return _PACK_LARGE(0x81, 127, n)


def encode_text_frames(frames: list[bytes]) -> bytes:
    """``frames`` as consecutive server text frames (the bytes :meth:`ServerSocket.write_frames` writes)."""
    parts: list[bytes] = []
    add = parts.append
    small = _TEXT_SMALL
    for f in frames:
        n = len(f)
        add(small[n] if n < 126 else _PACK_MEDIUM(0x81, 126, n) if n < 65536 else _PACK_LARGE(0x81, 127, n))
        add(f)
    return b"".join(parts)


class _WireMemo:
    """The wire bytes of the last batch written: subscribers flushed in the same loop iteration
    usually hold the very same frame objects (built once by the hub), so the batch is encoded once
    and the other subscribers get the same ``bytes`` (checked by identity, element by element)."""

    __slots__ = ("frames", "wire")

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.wire = b""

    def encode(self, frames: list[bytes]) -> bytes:
        if len(frames) == len(self.frames) and all(map(operator.is_, frames, self.frames)):
            return self.wire
        wire = encode_text_frames(frames)
        self.frames, self.wire = frames, wire
        return wire


_memo = _WireMemo()


class ServerSocket:
    """Wraps an aiohttp ``WebSocketResponse`` opened with ``autoping=False``."""

    def __init__(self, ws: web.WebSocketResponse, path: str, faults: Faults, *, latency: float = 0.0) -> None:
        self.ws = ws
        self.path = path
        self.faults = faults
        self.latency = latency
        self.conn_id = str(uuid.uuid4())
        self.sent = 0
        self.closed = False
        self._drop_after = faults.claim_drop_after(path)
        self._lock = asyncio.Lock()
        writer = getattr(ws, "_writer", None)
        self.transport: asyncio.Transport | None = getattr(writer, "transport", None)
        self._protocol: Any = getattr(writer, "protocol", None)
        # Direct writes only where they are byte-identical to aiohttp's: no compression, no mask,
        # and no latency (which delays every frame one by one).
        self.direct = (
            not latency and self.transport is not None and self._protocol is not None
            and not getattr(writer, "compress", 1) and not getattr(writer, "use_mask", True)
        )

    @classmethod
    async def accept(cls, request: web.Request, path: str, faults: Faults, *, latency: float = 0.0, compress: bool = False) -> ServerSocket:
        """Upgrade ``request``; ``compress`` lets a client negotiate permessage-deflate (off: Bybit's behaviour)."""
        ws = web.WebSocketResponse(autoping=False, heartbeat=None, max_msg_size=1 << 20, compress=compress)
        await ws.prepare(request)
        return cls(ws, path, faults, latency=latency)

    # ---- sending ---------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        """The transport's buffer is above its high-water mark: stop writing until :meth:`drain`."""
        p = self._protocol
        return p is not None and p.writing_paused

    async def drain(self) -> None:
        """Wait until the transport takes data again (returns at once when it is not paused)."""
        p = self._protocol
        if p is None or not p.writing_paused or p.transport is None:
            return
        # shielded: aiohttp's protocol shares one waiter future between all drainers, and
        # cancelling this task (connection teardown) must not cancel aiohttp's own close().
        await asyncio.shield(p._drain_helper())  # noqa: SLF001

    def write_frames(self, frames: list[bytes]) -> int:
        """Direct path: write ``frames`` as text frames in one ``transport.write``; how many went out.

        Counts every frame. An armed drop-after-N-frames lets exactly the N-th frame out and then
        cuts the connection; a due drop-at-time lets one frame out and cuts (as :meth:`send` does
        frame by frame). Frames not written because of a cut are dropped with the connection.
        """
        transport = self.transport
        if self.closed or self.ws.closed or transport is None or transport.is_closing():
            self.closed = True
            return 0
        n = len(frames)
        drop = self._drop_after
        if drop is not None and n > drop - self.sent:
            n = max(drop - self.sent, 1)
        faults = self.faults
        drop_now = faults.drop_at is not None and faults.should_drop_now(self.path)
        if drop_now:
            n = 1
        transport.write(_memo.encode(frames if n == len(frames) else frames[:n]))
        self.sent += n
        if drop is not None and self.sent >= drop:
            self.faults.record("drop_after_frames", self.path, frames=self.sent, conn_id=self.conn_id)
            self.abort()
        elif drop_now:
            self.faults.record("drop_at_time", self.path, conn_id=self.conn_id)
            self.abort()
        return n

    async def send(self, message: Any) -> bool:
        """Send one frame (dict/list -> compact JSON, str/bytes as is). False once closed."""
        if self.closed or self.ws.closed:
            self.closed = True
            return False
        if isinstance(message, (dict, list)):
            data = orjson.dumps(message)
        elif isinstance(message, str):
            data = message.encode()
        else:
            data = bytes(message)
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.direct:
            self.write_frames([data])
            if self.closed:
                return False
            if self.paused:  # aiohttp's writer waits here too once the buffer is full
                try:
                    await self.drain()
                except ConnectionError:
                    self.closed = True
                    return False
            return True
        try:
            await self.ws.send_frame(data, WSMsgType.TEXT)
        except (ConnectionError, RuntimeError):
            self.closed = True
            return False
        self.sent += 1
        if self._drop_after is not None and self.sent >= self._drop_after:
            self.faults.record("drop_after_frames", self.path, frames=self.sent, conn_id=self.conn_id)
            self.abort()
            return False
        if self.faults.should_drop_now(self.path):
            self.faults.record("drop_at_time", self.path, conn_id=self.conn_id)
            self.abort()
            return False
        return True

    def abort(self) -> None:
        """Cut the TCP connection without a close frame, as a network failure would."""
        self.closed = True
        transport = self.ws._req.transport if self.ws._req is not None else None  # noqa: SLF001
        if transport is not None:
            transport.abort()

    async def answer_ping_frame(self, payload: bytes) -> None:
        """A WebSocket-protocol ping (not op ping): pong unless pings are silenced."""
        if self.faults.pings_silenced:
            self.faults.record("ping_ignored", self.path, conn_id=self.conn_id, ping="frame")
            return
        await self.ws.pong(payload)

    async def messages(self):
        """Yield text frames from the client; handles protocol pings and closes."""
        async for msg in self.ws:
            if msg.type == WSMsgType.TEXT:
                yield msg.data
            elif msg.type == WSMsgType.BINARY:
                yield msg.data.decode("utf-8", "replace")
            elif msg.type == WSMsgType.PING:
                await self.answer_ping_frame(msg.data)
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                break
        self.closed = True
