"""``/v5/private``: auth, private topic subscriptions and pushes (PROTOCOL §4.2-4.4, §4.7, §7).

Replies use the private stream's shapes: ``{"success", "ret_msg", "op", "conn_id"}`` (+``req_id``
when the request had one); pong ``{"req_id"?, "op": "pong", "args": [ms], "conn_id"}``. Pushes are
``{"id", "topic", "creationTime", "data": [...]}`` (``execution.fast`` has no ``id``) and arrive
after every order event of the authenticated account, in the exchange's order: executions, order,
position, wallet.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .common import ApiError, now_ms
from .session import Session, decode
from .wsconn import ServerSocket

if TYPE_CHECKING:
    from .server import Emulator

PATH = "/v5/private"
# topic -> categories of its categorised variants ("order.linear", ...)
TOPICS: dict[str, tuple[str, ...]] = {
    "order": ("spot", "linear", "inverse", "option"),
    "execution": ("spot", "linear", "inverse", "option"),
    "execution.fast": ("spot", "linear", "inverse", "option"),
    "position": ("linear", "inverse", "option"),
    "wallet": (),
    "greeks": (),
    "dcp.future": (),
    "dcp.spot": (),
    "dcp.option": (),
}
VALID_TOPICS = frozenset(TOPICS) | frozenset(f"{t}.{c}" for t, cats in TOPICS.items() for c in cats)
# the private stream's words for the login errors (the trade socket answers with the retCode)
_AUTH_TEXT = {10001: "Params Error", 10003: "API key is invalid.", 10004: "Invalid sign", 20001: "Repeat auth"}


def base_topic(topic: str) -> str:
    for cat in ("spot", "linear", "inverse", "option"):
        if topic.endswith("." + cat) and topic[: -len(cat) - 1] in TOPICS:
            return topic[: -len(cat) - 1]
    return topic


class PrivateConnection(Session):
    """State of one private socket: auth, subscriptions, and its outgoing push queue."""

    PATH = PATH

    def __init__(self, ex: Emulator, sock: ServerSocket) -> None:
        super().__init__(ex, sock)
        self.topics: set[str] = set()
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._writer: asyncio.Task | None = None

    # ---- push side -------------------------------------------------------------------------
    def on_event(self, uid: str, topic: str, category: str, items: list[dict[str, Any]]) -> None:
        """Exchange listener: queue the frames this connection is subscribed to."""
        if uid != self.uid or not self.topics:
            return
        names = [topic] if not category else [topic, f"{topic}.{category}"]
        for name in names:
            if name not in self.topics:
                continue
            frame: dict[str, Any] = {}
            if topic != "execution.fast":
                frame["id"] = f"{uid}_{items[0].get('symbol', topic)}_{self.ex.exchange._next_seq()}"  # noqa: SLF001
            frame["topic"] = name
            frame["creationTime"] = now_ms()
            frame["data"] = items
            self.queue.put_nowait(frame)

    async def _write(self) -> None:
        while True:
            frame = await self.queue.get()
            if not await self.sock.send(frame):
                return

    # ---- request side ------------------------------------------------------------------------
    def _reply(self, op: str, success: bool, msg: str, req_id: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"success": success, "ret_msg": msg, "op": op, "conn_id": self.conn_id}
        if req_id is not None:
            out = {"req_id": req_id, **out}
        return out

    async def handle(self, text: str) -> None:
        msg = decode(text)
        if msg is None:
            await self.send({"success": False, "ret_msg": "error:invalid op", "conn_id": self.conn_id, "op": ""})
            return
        op = msg.get("op")
        req_id = msg.get("req_id")
        if op == "ping":
            if self.ping_silenced():
                return
            pong: dict[str, Any] = {"op": "pong", "args": [str(now_ms())], "conn_id": self.conn_id}
            if req_id is not None:
                pong = {"req_id": req_id, **pong}
            await self.send(pong)
        elif op == "auth":
            await self.send(self._auth(msg.get("args"), req_id))
        elif op in ("subscribe", "unsubscribe"):
            await self.send(self._subscribe(op, msg.get("args"), req_id))
        else:
            await self.send(self._reply(str(op or ""), False, f"error:invalid op {op}", req_id))

    def _auth(self, args: Any, req_id: Any) -> dict[str, Any]:
        try:
            self.login(args)
        except ApiError as err:
            return self._reply("auth", False, _AUTH_TEXT.get(err.code, err.msg), req_id)
        return self._reply("auth", True, "", req_id)

    def _subscribe(self, op: str, args: Any, req_id: Any) -> dict[str, Any]:
        if self.uid is None:
            return self._reply(op, False, "Request not authorized", req_id)
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            return self._reply(op, False, "Params Error", req_id)
        for topic in args:
            if topic not in VALID_TOPICS:
                return self._reply(op, False, f"error:handler not found,topic:{topic}", req_id)
        if op == "subscribe":
            for topic in args:
                if topic in self.topics or args.count(topic) > 1:
                    return self._reply(op, False, f"error:topic:{topic} already subscribed", req_id)
                # the all-in-one topic and a categorised variant may not share one request
                if base_topic(topic) != topic and base_topic(topic) in args:
                    return self._reply(op, False, f"error:topic:{topic} conflicts with {base_topic(topic)}", req_id)
            self.topics.update(args)
        else:
            for topic in args:
                if topic not in self.topics:
                    return self._reply(op, False, f"error:topic:{topic} not subscribed", req_id)
            self.topics.difference_update(args)
        return self._reply(op, True, "", req_id)

    async def run(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write())
        self.ex.exchange.listeners.append(self.on_event)
        try:
            await super().run()
        finally:
            if self.on_event in self.ex.exchange.listeners:
                self.ex.exchange.listeners.remove(self.on_event)
            self._writer.cancel()


async def handle(ex: Emulator, request: web.Request) -> web.WebSocketResponse:
    """aiohttp entry for ``/v5/private``."""
    return await PrivateConnection.serve(ex, request)
