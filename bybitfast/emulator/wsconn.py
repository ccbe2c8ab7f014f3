"""One server-side WebSocket connection, with the faults that apply to every socket path.

Every handler (public, private, trade) sends through :meth:`ServerSocket.send`, so frame
counting, drop-after-N-frames, simulated link latency and ping silence behave the same on all
paths. Bybit speaks compact JSON text frames.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .faults import Faults


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

    @classmethod
    async def accept(cls, request: web.Request, path: str, faults: Faults, *, latency: float = 0.0) -> ServerSocket:
        ws = web.WebSocketResponse(autoping=False, heartbeat=None, max_msg_size=1 << 20)
        await ws.prepare(request)
        return cls(ws, path, faults, latency=latency)

    async def send(self, message: Any) -> bool:
        """Send one frame (dict/list -> compact JSON, str/bytes as is). False once closed."""
        if self.closed or self.ws.closed:
            self.closed = True
            return False
        if isinstance(message, (dict, list)):
            data = orjson.dumps(message).decode()
        elif isinstance(message, bytes):
            data = message.decode()
        else:
            data = message
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            await self.ws.send_str(data)
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
