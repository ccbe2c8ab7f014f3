"""Topics of one WebSocket connection, kept across reconnects (PROTOCOL §4.4, §4.5).

A :class:`TopicStore` knows which topics the user wants (``desired``), which requests are in
flight (``pending``, by a short ``req_id``) and which the exchange acknowledged (``acked``). It
builds the subscribe/unsubscribe frames within the exchange's limits (spot: 10 args per request;
others: 500; public sockets: ≤21,000 characters of the args array per connection; option ≤2,000 args;
private: an all-in-one topic and its categorised variant never share a request) and turns acks
into per-topic results. It does no I/O: the client sends the frames it returns.

Waiters (:class:`Waiter`) are what ``subscribe_v5`` awaits: they complete when every topic of the
call is acked, or fail with :class:`SubscriptionError` naming the refused topics.

:class:`RequestPacer` is the token bucket that spaces those requests on one socket (§4.5: "pace
resubscribes after reconnect"); the client owns the clock and the sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import ConfigurationError, InvalidParameterError, SubscriptionError

SPOT_MAX_ARGS = 10
DEFAULT_MAX_ARGS = 500  # bybit-api's cap; futures/private have no documented limit
PUBLIC_MAX_CHARS = 21_000
OPTION_MAX_TOPICS = 2_000
PRIVATE_CATEGORISED = ("order", "execution", "execution.fast", "position")
_CATEGORIES = (".spot", ".linear", ".inverse", ".option")


class RequestPacer:
    """Token bucket for subscribe/unsubscribe requests on one socket (no I/O; ``now`` is passed in).

    ``burst`` requests go out at once (a single-batch resubscribe, a resync's unsubscribe +
    subscribe pair: never delayed), then one per ``1 / rate`` seconds. Defaults (5, 100/s): 300
    spot topics (30 requests of 10) resubscribe in ~0.25 s. ``rate=None`` disables pacing.
    """

    __slots__ = ("rate", "burst", "_tokens", "_at")

    def __init__(self, rate: float | None = 100.0, burst: int = 5) -> None:
        if rate is not None and rate <= 0:
            raise ConfigurationError("subscribe_rate must be > 0 requests per second (or None: no pacing)")
        if burst < 1:
            raise ConfigurationError("subscribe_burst must be >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at: float | None = None

    def reset(self) -> None:
        """A fresh socket: the bucket is full again."""
        self._tokens = float(self.burst)
        self._at = None

    def _refill(self, now: float) -> None:
        if self._at is not None and self.rate is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now

    def ready(self, now: float) -> bool:
        """Could one request go now without waiting?"""
        if self.rate is None:
            return True
        self._refill(now)
        return self._tokens >= 1.0 - 1e-9

    def reserve(self, now: float) -> float:
        """Book the next request's slot: seconds to wait before sending it (0 = now).

        The bucket may go negative: reservations queue up ``1 / rate`` apart, however the
        caller's sleeps turn out.
        """
        if self.rate is None:
            return 0.0
        self._refill(now)
        self._tokens -= 1.0
        return 0.0 if self._tokens >= -1e-9 else -self._tokens / self.rate


def limits_for(key: str) -> tuple[int, int | None, int | None]:
    """(args per request, characters of args per connection, topics per connection) of a stream key."""
    if key == "v5_spot_public":
        return SPOT_MAX_ARGS, PUBLIC_MAX_CHARS, None
    if key == "v5_option_public":
        return DEFAULT_MAX_ARGS, PUBLIC_MAX_CHARS, OPTION_MAX_TOPICS
    if key.endswith("_public"):
        return DEFAULT_MAX_ARGS, PUBLIC_MAX_CHARS, None
    return DEFAULT_MAX_ARGS, None, None


def args_chars(topics: Iterable[str]) -> int:
    """Characters of ``topics`` as a JSON ``args`` array (``["a","b"]``: quotes, commas, brackets).

    The §4.5 limit (21,000 per public connection) is on the ``args`` array; counting it as sent is
    the conservative reading (topics hold no character JSON escapes: checked on add).
    """
    n = total = 0
    for t in topics:
        n += 1
        total += len(t)
    return total + 3 * n + 1 if n else 2


def private_family(topic: str) -> str:
    """``order.linear`` -> ``order``: topics of one family may not share a private request."""
    for suffix in _CATEGORIES:
        if topic.endswith(suffix) and topic[: -len(suffix)] in PRIVATE_CATEGORISED:
            return topic[: -len(suffix)]
    return topic


def _names(message: str, topic: str) -> bool:
    """Does an error message name this topic (as a whole word: ``topic:X``, ``[X]``)?"""
    return topic in message and re.search(r"(?<![\w.-])" + re.escape(topic) + r"(?![\w.-])", message) is not None


class Waiter:
    """One ``subscribe_v5``/``unsubscribe_v5`` call waiting for its topics' acks."""

    __slots__ = ("op", "remaining", "failed", "future")

    def __init__(self, op: str, topics: Iterable[str], future: asyncio.Future[None]) -> None:
        self.op = op
        self.remaining = set(topics)
        self.failed: dict[str, str] = {}
        self.future = future

    def settle(self, topic: str, error: str | None) -> None:
        if topic not in self.remaining:
            return
        self.remaining.discard(topic)
        if error is not None:
            self.failed[topic] = error
        if not self.remaining and not self.future.done():
            if self.failed:
                detail = "; ".join(f"{t}: {m}" for t, m in self.failed.items())
                err = SubscriptionError(f"{self.op} refused for {len(self.failed)} topic(s): {detail}", topics=list(self.failed))
                err.errors = dict(self.failed)  # type: ignore[attr-defined]
                self.future.set_exception(err)
            else:
                self.future.set_result(None)

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)
            self.future.exception()  # retrieved: the caller may have timed out already


@dataclass
class Request:
    req_id: str
    op: str
    topics: list[str]
    frame: bytes


@dataclass
class AckResult:
    """What one ack meant: the request it answered and the outcome per topic."""

    request: Request | None
    ok: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    retry: list[str] = field(default_factory=list)  # refused only because a sibling topic failed: resent


class TopicStore:
    """Subscription state of one stream key; survives reconnects (only ``acked``/``pending`` reset)."""

    _ids = itertools.count(1)

    def __init__(self, key: str) -> None:
        self.key = key
        self.max_args, self.max_chars, self.max_topics = limits_for(key)
        self.private = not key.endswith("_public")
        self.desired: dict[str, None] = {}  # insertion-ordered set
        self.acked: set[str] = set()
        self.pending: dict[str, Request] = {}
        self.waiters: dict[str, list[Waiter]] = {}

    # ---- desired set ---------------------------------------------------------------------
    def check_add(self, topics: Iterable[str]) -> list[str]:
        """Topics not desired yet; raises (state untouched) when they break a per-connection limit."""
        new = [t for t in dict.fromkeys(topics) if t not in self.desired]
        for t in new:
            if not isinstance(t, str) or not t or '"' in t or "\\" in t:
                raise InvalidParameterError(f"invalid topic {t!r}")
        if self.max_chars is not None:
            chars = args_chars(itertools.chain(self.desired, new))
            if chars > self.max_chars:
                raise SubscriptionError(
                    f"{self.key}: the args of {len(self.desired) + len(new)} topics take {chars} characters; "
                    f"the exchange allows {self.max_chars} per public connection",
                    topics=new,
                )
        if self.max_topics is not None and len(self.desired) + len(new) > self.max_topics:
            raise SubscriptionError(f"{self.key}: more than {self.max_topics} topics per connection", topics=new)
        return new

    def add(self, topics: Iterable[str]) -> list[str]:
        new = self.check_add(topics)
        for t in new:
            self.desired[t] = None
        return new

    def remove(self, topics: Iterable[str]) -> list[str]:
        """Forget topics; returns those the exchange may have (acked or in flight): unsubscribe them."""
        gone = []
        for t in dict.fromkeys(topics):
            if t in self.desired:
                del self.desired[t]
            if t in self.acked or self._in_flight(t):
                gone.append(t)
            self.acked.discard(t)
        return gone

    def _in_flight(self, topic: str) -> bool:
        return any(topic in r.topics for r in self.pending.values())

    # ---- requests ------------------------------------------------------------------------
    def batches(self, topics: list[str]) -> list[list[str]]:
        """Split into requests within the per-request arg limit (private: one topic family per request)."""
        out: list[list[str]] = []
        cur: list[str] = []
        families: set[str] = set()
        for t in topics:
            fam = private_family(t) if self.private else t
            if len(cur) >= self.max_args or (self.private and fam in families):
                out.append(cur)
                cur, families = [], set()
            cur.append(t)
            families.add(fam)
        if cur:
            out.append(cur)
        return out

    def requests(self, op: str, topics: list[str]) -> list[Request]:
        """Build and register the requests for ``topics`` (frames to send, in order)."""
        reqs = []
        for batch in self.batches(topics):
            req_id = f"{op[0]}{next(self._ids)}"
            frame = orjson.dumps({"req_id": req_id, "op": op, "args": batch})
            r = Request(req_id, op, batch, frame)
            self.pending[req_id] = r
            reqs.append(r)
        return reqs

    def resubscribe_all(self) -> list[Request]:
        """After a (re)connect: subscribe every desired topic afresh."""
        return self.requests("subscribe", list(self.desired))

    def unsent(self) -> list[str]:
        """Desired topics neither acked nor in flight."""
        return [t for t in self.desired if t not in self.acked and not self._in_flight(t)]

    # ---- acks ------------------------------------------------------------------------------
    def on_ack(self, op: str, req_id: str | None, msg: Mapping[str, Any]) -> AckResult:
        """Apply one subscribe/unsubscribe ack and settle the waiters it concerns."""
        req = self.pending.pop(req_id, None) if req_id else None
        data = msg.get("data")
        success_topics = fail_topics = None
        if isinstance(data, Mapping):  # option/spread COMMAND_RESP
            success_topics = _str_list(data.get("successTopics"))
            fail_topics = _str_list(data.get("failTopics"))
        if req is None:
            req = self._match(op, success_topics, fail_topics)
        res = AckResult(req)
        if req is None:
            return res  # an ack for a request we no longer track (timed out, superseded)
        op = req.op  # option acks carry no op: the request says what was answered
        success = bool(msg.get("success", False))
        ret_msg = str(msg.get("ret_msg") or "")
        if success_topics is not None or fail_topics is not None:
            failed = set(fail_topics or ())
            for t in req.topics:
                if t in failed:
                    res.failed[t] = ret_msg or "refused by the exchange"
                else:
                    res.ok.append(t)
        elif success:
            res.ok.extend(req.topics)
        else:
            named = [t for t in req.topics if _names(ret_msg, t)]
            if named and len(named) < len(req.topics):
                # the whole request was refused because of the named topic(s): resend the rest
                for t in named:
                    res.failed[t] = ret_msg
                res.retry = [t for t in req.topics if t not in named]
            else:
                for t in req.topics:
                    res.failed[t] = ret_msg or "refused by the exchange"
        if op == "subscribe":
            for t, m in list(res.failed.items()):
                if "already subscribed" in m:  # the exchange has it: that is what we wanted
                    del res.failed[t]
                    res.ok.append(t)
            for t in res.ok:
                if t in self.desired:
                    self.acked.add(t)
            for t in res.failed:
                self.desired.pop(t, None)  # refused topics are not retried on reconnect
                self.acked.discard(t)
        else:
            for t in res.ok:
                self.acked.discard(t)
        for t in res.ok:
            self._settle(op, t, None)
        for t, m in res.failed.items():
            self._settle(op, t, m)
        return res

    def _match(self, op: str, ok: list[str] | None, bad: list[str] | None) -> Request | None:
        """An ack without a known req_id: match by its topics, else the oldest request of that op."""
        names = set(ok or ()) | set(bad or ())
        for rid, r in self.pending.items():
            if names and names <= set(r.topics):
                return self.pending.pop(rid)
        for rid, r in self.pending.items():
            if not names and r.op == op:
                return self.pending.pop(rid)
        return None

    # ---- waiters ---------------------------------------------------------------------------
    def wait(self, op: str, topics: Iterable[str], future: asyncio.Future[None]) -> Waiter:
        w = Waiter(op, topics, future)
        for t in w.remaining:
            self.waiters.setdefault(f"{op}:{t}", []).append(w)
        return w

    def _settle(self, op: str, topic: str, error: str | None) -> None:
        for w in self.waiters.pop(f"{op}:{topic}", ()):
            w.settle(topic, error)

    def drop_waiter(self, w: Waiter) -> None:
        """Forget a waiter (its caller timed out or was cancelled)."""
        for t in list(w.remaining):
            lst = self.waiters.get(f"{w.op}:{t}")
            if lst is not None:
                if w in lst:
                    lst.remove(w)
                if not lst:
                    del self.waiters[f"{w.op}:{t}"]

    def settle_now(self, op: str, topics: Iterable[str]) -> None:
        """Complete waiters for topics that need no exchange round-trip."""
        for t in topics:
            self._settle(op, t, None)

    def fail_waiters(self, exc: BaseException) -> None:
        waiters = {id(w): w for lst in self.waiters.values() for w in lst}
        self.waiters.clear()
        for w in waiters.values():
            w.fail(exc)

    # ---- connection life -----------------------------------------------------------------------
    def on_disconnect(self) -> None:
        """The socket is gone: nothing is subscribed any more; unsubscribes in flight are done."""
        unsub = [t for r in self.pending.values() if r.op == "unsubscribe" for t in r.topics]
        self.pending.clear()
        self.acked.clear()
        self.settle_now("unsubscribe", unsub)

    def sizes(self) -> dict[str, int]:
        """Sizes of every structure that could grow (tests assert they stay bounded)."""
        return {"desired": len(self.desired), "acked": len(self.acked), "pending": len(self.pending), "waiters": len(self.waiters)}


def _str_list(value: Any) -> list[str]:
    """The strings of an ack's topic list; anything else in a malformed ack counts as none."""
    return [t for t in value if isinstance(t, str)] if isinstance(value, list) else []
