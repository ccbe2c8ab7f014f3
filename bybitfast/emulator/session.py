"""What the two authenticated sockets, ``/v5/private`` and ``/v5/trade``, share.

A connection id shaped like the exchange's, the ``op: auth`` login (with the armed auth-rejection
fault), acks delayed by the armed response delay, silenced op pings, and serving one accepted
socket until it closes. Each socket keeps its own reply shapes (PROTOCOL §4.3 vs §6).
"""

from __future__ import annotations

import asyncio
import random
import string
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from aiohttp import web

from .auth import authenticate_ws
from .common import ApiError, now_ms
from .wsconn import ServerSocket

if TYPE_CHECKING:
    from .server import Emulator

_ALNUM = string.ascii_lowercase + string.digits


def make_conn_id() -> str:
    """An id shaped like the exchange's (``cejreaspqfh3sjdnldmg-p``)."""
    return "".join(random.choices(_ALNUM, k=20)) + "-" + "".join(random.choices(_ALNUM, k=random.randint(1, 5)))


def decode(text: str) -> dict[str, Any] | None:
    """The request object of one text frame, or None when it is not a JSON object."""
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return msg if isinstance(msg, dict) else None


class Session:
    """One authenticated-socket connection: its id, the account it logged in as, its acks."""

    PATH: ClassVar[str]

    def __init__(self, ex: Emulator, sock: ServerSocket) -> None:
        self.ex = ex
        self.sock = sock
        self.conn_id = make_conn_id()
        self.uid: str | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        """Send one ack, after the armed response delay."""
        delay = self.ex.faults.response_delay
        if delay:
            self.ex.faults.record("delay", self.PATH, seconds=delay)
            await asyncio.sleep(delay)
        await self.sock.send(frame)

    def ping_silenced(self) -> bool:
        """True (and recorded) when op pings go unanswered by fault."""
        if not self.ex.faults.pings_silenced:
            return False
        self.ex.faults.record("ping_ignored", self.PATH, conn_id=self.conn_id, ping="op")
        return True

    def login(self, args: Any) -> None:
        """``op: auth``: bind the connection to the key's account, or raise the exchange's error."""
        if self.uid is not None:
            raise ApiError(20001, "Repeat auth")
        if self.ex.faults.take_auth_rejection(self.PATH):
            raise ApiError(10004, "Invalid sign")
        self.uid = authenticate_ws(self.ex.keys, args, now_ms()).uid

    async def handle(self, text: str) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        async for text in self.sock.messages():
            await self.handle(text)
            if self.sock.closed:
                break

    @classmethod
    async def serve(cls, ex: Emulator, request: web.Request) -> web.WebSocketResponse:
        """aiohttp entry: accept the socket and run one connection on it until it closes."""
        sock = await ServerSocket.accept(request, cls.PATH, ex.faults, latency=ex.latency)
        ex.sockets.add(sock)
        try:
            await cls(ex, sock).run()
        finally:
            ex.sockets.discard(sock)
        return sock.ws
