"""``/v5/trade``: the WebSocket order-entry API (PROTOCOL §6).

Auth once per connection (retCode replies: 0, 10001, 10003, 10004, 20001 repeat auth); then
``order.create|amend|cancel`` and their ``-batch`` forms with a required ``X-BAPI-TIMESTAMP``
header (string or integer: pybit sends an integer) checked with the REST time-window rule.
Replies: ``{"reqId"?, "retCode", "retMsg", "op", "data", "retExtInfo", "header", "connId"}`` with
rate-limit headers shared with REST (same account, same endpoint bucket).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .auth import DEFAULT_RECV_WINDOW, check_window, parse_int
from .common import ApiError, now_ms
from .session import Session, decode
from .wsconn import ServerSocket

if TYPE_CHECKING:
    from .server import Emulator

PATH = "/v5/trade"
# op -> (REST twin used for rate limits, exchange call kind)
OPS: dict[str, tuple[str, str]] = {
    "order.create": ("/v5/order/create", "create"),
    "order.amend": ("/v5/order/amend", "amend"),
    "order.cancel": ("/v5/order/cancel", "cancel"),
    "order.create-batch": ("/v5/order/create-batch", "create"),
    "order.amend-batch": ("/v5/order/amend-batch", "amend"),
    "order.cancel-batch": ("/v5/order/cancel-batch", "cancel"),
}
CATEGORIES = ("spot", "linear", "inverse", "option")


class TradeConnection(Session):
    """One trade socket: its auth state and the reqIds it has seen."""

    PATH = PATH

    def __init__(self, ex: Emulator, sock: ServerSocket) -> None:
        super().__init__(ex, sock)
        self.req_ids: set[str] = set()

    def _frame(self, op: str, code: int, msg: str, req_id: Any, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if req_id is not None:
            out["reqId"] = req_id
        out.update({"retCode": code, "retMsg": msg, "op": op})
        out.update(extra)
        out["connId"] = self.conn_id
        return out

    async def handle(self, text: str) -> None:
        msg = decode(text)
        if msg is None:
            await self.send(self._frame("", 10001, "Params Error", None))
            return
        op = msg.get("op")
        req_id = msg.get("reqId")
        if op == "ping":
            if self.ping_silenced():
                return
            await self.send(self._frame("pong", 0, "OK", req_id, data=[str(now_ms())]))
        elif op == "auth":
            await self.send(self._auth(msg.get("args"), req_id))
        elif isinstance(op, str) and op in OPS:
            await self.send(self._order_op(op, msg, req_id))
        else:
            await self.send(self._frame(str(op or ""), 10404, "op type is not found", req_id))

    def _auth(self, args: Any, req_id: Any) -> dict[str, Any]:
        try:
            self.login(args)
        except ApiError as err:
            return self._frame("auth", err.code, err.msg, req_id)
        return self._frame("auth", 0, "OK", req_id)

    def _order_op(self, op: str, msg: dict[str, Any], req_id: Any) -> dict[str, Any]:
        header: dict[str, str] = {}
        rest_path, kind = OPS[op]
        try:
            if req_id is not None:
                if not isinstance(req_id, str) or not req_id or len(req_id) > 36:
                    raise ApiError(10001, "params error: reqId invalid")
                if req_id in self.req_ids:
                    raise ApiError(20006, "reqId is duplicated")
                self.req_ids.add(req_id)
            if self.uid is None:
                raise ApiError(10001, "Request not authorized")
            hdr = msg.get("header")
            if not isinstance(hdr, dict) or hdr.get("X-BAPI-TIMESTAMP") in (None, ""):
                raise ApiError(10001, "params error: header X-BAPI-TIMESTAMP is required")
            ts = parse_int(hdr["X-BAPI-TIMESTAMP"], "X-BAPI-TIMESTAMP")
            rw_raw = hdr.get("X-BAPI-RECV-WINDOW")
            rw = DEFAULT_RECV_WINDOW if rw_raw in (None, "") else parse_int(rw_raw, "X-BAPI-RECV-WINDOW")
            check_window(ts, rw, now_ms())
            args = msg.get("args")
            if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
                raise ApiError(10001, "params error: args must hold one request object")
            params = args[0]
            category = params.get("category")
            if category not in CATEGORIES:
                raise ApiError(10404, "category is not correct/supported")
            allowed, limit, remaining, reset = self.ex.limiter.hit(self.uid, rest_path, category)
            header.update(self.ex.limiter.headers(allowed, limit, remaining, reset))
            if not allowed:
                raise ApiError(10006, "Too many visits!")
            exch = self.ex.exchange
            ext: dict[str, Any] = {}
            if op.endswith("-batch"):
                data, ext = exch.batch(self.uid, kind, params)
            elif kind == "create":
                data = exch.create_order(self.uid, params)
            elif kind == "amend":
                data = exch.amend_order(self.uid, params)
            else:
                data = exch.cancel_order(self.uid, params)
            code, text = 0, "OK"
        except ApiError as err:
            data, ext, code, text = {}, {}, err.code, err.msg
        header["Traceid"] = uuid.uuid4().hex
        header["Timenow"] = str(now_ms())
        return self._frame(op, code, text, req_id, data=data, retExtInfo=ext, header=header)

async def handle(ex: Emulator, request: web.Request) -> web.WebSocketResponse:
    """aiohttp entry for ``/v5/trade``."""
    return await TradeConnection.serve(ex, request)
