"""Pure-Python reference of ``bybitfast.book.OrderBook``: same API, same results, no speed.

It is the executable specification the native book is tested against (fixtures, hypothesis
streams, the fuzz harness): every frame must give the same state, the same return code, and
raise/not raise the same way. It reads frames with ``json.loads`` and keeps levels in dicts, so
its correctness is easy to check by eye; the rules it encodes are listed in
``docs/decisions/orderbook.md``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import FrameError, OrderBookCrossedError, OrderBookGapError

APPLIED_SNAPSHOT = 1
APPLIED_DELTA = 2
DROPPED_STALE = 3
IGNORED_NOT_LIVE = 4

MAX_DEC = 18
MAX_DEPTH = 64
I64_MAX = 2**63 - 1
TOPIC_CAP = 256
_DEC = re.compile(r"(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?")
_TOPIC = re.compile(r"orderbook\.(?:[0-9]+|full)\.(.+)", re.DOTALL)

ROOT_KEYS = ("topic", "type", "ts", "cts", "data")
DATA_KEYS = ("s", "b", "a", "u", "seq")
REST_RESULT_KEYS = ("s", "b", "a", "u", "seq", "ts", "cts")
REST_ROOT_KEYS = (*REST_RESULT_KEYS, "retCode", "result")


class _Obj(dict):
    """A JSON object remembering which keys it saw twice (json.loads keeps the last one)."""

    dups: set[str]
    depth: int   # nesting depth counting values later overwritten by a duplicate key


def _pairs(pairs: list[tuple[str, Any]]) -> _Obj:
    obj = _Obj()
    obj.dups = set()
    obj.depth = 1 + max((_depth(v) for _, v in pairs), default=0)
    for k, v in pairs:
        if k in obj:
            obj.dups.add(k)
        obj[k] = v
    return obj


class _Float:
    """A JSON number with a fraction/exponent: never valid where we read integers."""


class _Big:
    """An integer literal too long to be an int64 (kept out of int() to dodge its digit limit)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(v: Any) -> int:
    if isinstance(v, _Obj):
        return v.depth
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    return 0


def loads(frame: Any) -> Any:
    """Decode a frame exactly as strictly as the native scanner does."""
    if isinstance(frame, str):
        try:
            data = frame.encode("utf-8")
        except UnicodeError as exc:
            raise FrameError(f"frame is not valid UTF-8: {exc}") from None
    elif isinstance(frame, bytes):
        data = frame
    else:
        data = bytes(memoryview(frame))
    try:
        text = data.decode("utf-8")
        obj = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_float=lambda s: _Float(),
            parse_int=lambda s: int(s) if len(s) <= 30 else _Big(),
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError) as exc:
        raise FrameError(f"invalid JSON: {exc}") from None
    if _depth(obj) > MAX_DEPTH:
        raise FrameError("nesting too deep")
    return obj


def parse_decimal(s: Any, allow_neg: bool) -> tuple[int, int, int]:
    """Decimal string -> (mantissa, significant decimals, written decimals); see native parse_decimal."""
    if not isinstance(s, str):
        raise FrameError("level values must be decimal strings")
    m = _DEC.fullmatch(s)
    if m is None:
        raise FrameError(f"malformed decimal string {s!r}")
    neg, ip, fp = m.group(1), m.group(2), m.group(3) or ""
    if neg and not allow_neg:
        raise FrameError("negative size")
    if ip != "0" and len(ip) > MAX_DEC:
        raise FrameError("decimal has too many digits")
    if len(fp) > MAX_DEC:
        raise FrameError("decimal has too many decimals")
    sig = fp.rstrip("0")
    mant = int(ip + sig)
    if mant >= 10**MAX_DEC:
        raise FrameError("decimal has too many significant digits")
    if neg:
        if mant == 0:
            raise FrameError("negative zero")
        mant = -mant
    return mant, len(sig), len(fp)


def _int(v: Any, name: str, *, signed: bool = False) -> int:
    if type(v) is not int:
        raise FrameError(f"{name} must be an integer")
    if not (-(2**63) if signed else 0) <= v <= I64_MAX:
        raise FrameError(f"{name} out of range")
    return v


# A level as staged: (side, (pm, pd, pw), (sm, sd, sw), (s2m, s2d, s2w), strings)
_Level = tuple


class OrderBook:
    """Reference order book; see ``bybitfast.book.OrderBook`` for the documented behaviour."""

    def __init__(self, symbol: str, *, category: str | None = None, depth: int | str | None = None,
                 strict: bool = True) -> None:
        if not symbol or len(symbol) > 64 or not symbol.isascii() or not symbol.isprintable() or "." in symbol \
                or '"' in symbol or "\\" in symbol:
            raise ValueError(f"invalid symbol {symbol!r}")
        self.symbol = symbol
        self.category = category
        self.strict = strict
        self.rpi = False
        self._want: str | None = None
        if depth is not None:
            if isinstance(depth, str) and depth.isdigit():
                depth = int(depth)
            if depth == "rpi":
                self.rpi = True
            elif depth != "full" and not (type(depth) is int and depth > 0):
                raise ValueError(f"depth must be a positive int, 'rpi', 'full' or None, not {depth!r}")
            self._want = f"orderbook.{depth}.{symbol}"
        self.depth = depth
        self._bound: str | None = None
        self.snapshots = self.deltas = self.stale_dropped = self.absent_deletes = 0
        self.ignored_not_live = self.gaps = self.crossed = 0
        self._reset_state()

    def _reset_state(self) -> None:
        self._state = "empty"
        self.update_id = self.seq = self.ts = self.cts = -1
        self._ps = self._ss = 0
        # key (pm, pd) -> ((pm, pd, pw), (sm, sd, sw), (s2m, s2d, s2w), (price_str, size_str, size2_str))
        self._bids: dict[tuple[int, int], tuple] = {}
        self._asks: dict[tuple[int, int], tuple] = {}

    # -------------------------------------------------------------- parsing

    def _levels(self, v: Any, side: int) -> list[_Level]:
        if not isinstance(v, list):
            raise FrameError("b and a must be arrays")
        out = []
        width = 3 if self.rpi else 2
        for lv in v:
            if not isinstance(lv, list):
                raise FrameError("a level must be an array")
            if len(lv) != width:
                raise FrameError("level has the wrong number of values")
            p = parse_decimal(lv[0], True)
            s = parse_decimal(lv[1], False)
            s2 = parse_decimal(lv[2], False) if self.rpi else (0, 0, 0)
            out.append((side, p, s, s2, tuple(lv)))
        return out

    def _fields(self, obj: Any, keys: tuple[str, ...], into: dict[str, Any]) -> None:
        if not isinstance(obj, dict):
            raise FrameError("data must be an object")
        for k in keys:
            if k in obj:
                if k in obj.dups or k in into:
                    raise FrameError("duplicate key")
                into[k] = obj[k]

    def _parse(self, frame: Any, rest: bool) -> dict[str, Any]:
        root = loads(frame)
        if not isinstance(root, dict):
            raise FrameError("frame is not a JSON object")
        f: dict[str, Any] = {}
        if rest:
            self._fields(root, REST_ROOT_KEYS, f)
            if "result" in f:
                self._fields(f.pop("result"), REST_RESULT_KEYS, f)
        else:
            self._fields(root, ROOT_KEYS, f)
            if "data" in f:
                self._fields(f["data"], DATA_KEYS, f)
        for k in ("topic", "type", "s"):
            if k in f and not isinstance(f[k], str):
                raise FrameError("topic, type and s must be strings")
        for k in ("ts", "cts", "u", "seq"):
            if k in f:
                _int(f[k], k)
        if "retCode" in f:
            _int(f["retCode"], "retCode", signed=True)
        levels = []
        for k, side in (("b", 0), ("a", 1)):
            if k in f:
                levels += self._levels(f[k], side)
        f["levels"] = levels
        if rest:
            if f.get("retCode", 0) != 0:
                raise FrameError(f"REST response carries retCode {f['retCode']}")
            need = ("b", "a", "u", "ts")
        else:
            need = ("topic", "type", "ts", "data", "b", "a", "u")
        missing = [k for k in need if k not in f]
        if missing:
            raise FrameError("order-book frame is missing " + ", ".join(missing))
        if not rest:
            if f["type"] not in ("snapshot", "delta"):
                raise FrameError("type must be 'snapshot' or 'delta'")
            if not self._topic_ok(f["topic"]):
                raise FrameError(f"frame topic {f['topic']!r} does not belong to this book")
        if "s" in f and f["s"] != self.symbol:
            raise FrameError(f"frame symbol {f['s']!r} is not {self.symbol!r}")
        return f

    def _topic_ok(self, topic: str) -> bool:
        if len(topic.encode("utf-8", "surrogatepass")) > TOPIC_CAP:
            return False
        want = self._bound if self._bound is not None else self._want
        if want is not None:
            return topic == want
        m = _TOPIC.fullmatch(topic)
        return m is not None and m.group(1) == self.symbol

    # -------------------------------------------------------------- applying

    def _prepare(self, levels: list[_Level], fresh: bool) -> tuple[int, int]:
        ps = 0 if fresh else self._ps
        ss = 0 if fresh else self._ss
        for _, p, s, s2, _ in levels:
            ps = max(ps, p[1])
            ss = max(ss, s[1], s2[1])
        for _, p, s, s2, _ in levels:
            if abs(p[0]) >= 10 ** (MAX_DEC - (ps - p[1])) or s[0] >= 10 ** (MAX_DEC - (ss - s[1])) \
                    or s2[0] >= 10 ** (MAX_DEC - (ss - s2[1])):
                raise FrameError("value out of range at the book's fixed-point scale")
        if not fresh:
            book = [*self._bids.values(), *self._asks.values()]
            if ps > self._ps and any(abs(p[0]) * 10 ** (ps - p[1]) >= 10**MAX_DEC for p, *_ in book):
                raise FrameError("rescaling prices would overflow the book")
            if ss > self._ss and any(x[0] * 10 ** (ss - x[1]) >= 10**MAX_DEC for _, s, s2, _ in book for x in (s, s2)):
                raise FrameError("rescaling sizes would overflow the book")
        return ps, ss

    @staticmethod
    def _entry(lv: _Level) -> tuple:
        _, p, s, s2, raw = lv
        return (p, s, s2, raw)

    def _gap(self, why: str) -> None:
        self._state = "invalid"
        self.gaps += 1
        raise OrderBookGapError(f"{self.symbol}: {why}; book invalid until a new snapshot")

    def _check_crossed(self) -> None:
        if self._bids and self._asks:
            bid = max(self._bids, key=_key_value)
            ask = min(self._asks, key=_key_value)
            if _key_value(bid) >= _key_value(ask):
                self._state = "invalid"
                self.crossed += 1
                raise OrderBookCrossedError(f"{self.symbol}: crossed book after u={self.update_id}")

    def _apply(self, frame: Any, rest: bool) -> int:
        f = self._parse(frame, rest)
        levels = f["levels"]
        if rest or f["type"] == "snapshot":
            self._ps, self._ss = self._prepare(levels, True)
            sides: tuple[dict, dict] = ({}, {})
            for lv in levels:
                side = sides[lv[0]]
                key = (lv[1][0], lv[1][1])
                if lv[2][0] == 0 and lv[3][0] == 0:
                    side.pop(key, None)
                else:
                    side[key] = self._entry(lv)
            self._bids, self._asks = sides
            self._state = "live"
            self.update_id = f["u"]
            self.seq = f.get("seq", -1)
            self.ts = f["ts"]
            self.cts = f.get("cts", -1)
            self.snapshots += 1
            if not rest and self._bound is None:
                self._bound = f["topic"]
            self._check_crossed()
            return APPLIED_SNAPSHOT
        if self._state != "live":
            self.ignored_not_live += 1
            return IGNORED_NOT_LIVE
        u = f["u"]
        if u <= self.update_id:
            if u == 1 and self.update_id > 1:
                self._gap(f"u reset to 1 after u={self.update_id} (service restart)")
            self.stale_dropped += 1
            return DROPPED_STALE
        if self.strict and u != self.update_id + 1:
            self._gap(f"update gap: u={u} after u={self.update_id}")
        seq = f.get("seq", -1)
        if seq >= 0 and seq < self.seq:
            self._gap(f"seq went backwards: {seq} after {self.seq}")
        self._ps, self._ss = self._prepare(levels, False)
        for lv in levels:
            side = self._asks if lv[0] else self._bids
            key = (lv[1][0], lv[1][1])
            if lv[2][0] == 0 and lv[3][0] == 0:
                if key in side:
                    del side[key]
                else:
                    self.absent_deletes += 1
            else:
                side[key] = self._entry(lv)
        self.update_id = u
        if seq >= 0:
            self.seq = seq
        self.ts = f["ts"]
        self.cts = f.get("cts", -1)
        self.deltas += 1
        if self._bound is None:
            self._bound = f["topic"]
        self._check_crossed()
        return APPLIED_DELTA

    def apply(self, frame: bytes | str) -> int:
        return self._apply(frame, False)

    def apply_snapshot(self, response: bytes | str | Mapping[str, Any]) -> None:
        if not isinstance(response, (bytes, str, bytearray, memoryview)):
            import orjson

            try:
                response = orjson.dumps(response)
            except TypeError as exc:
                raise FrameError(f"snapshot is not JSON-serialisable: {exc}") from None
        self._apply(response, True)

    def invalidate(self) -> None:
        self._state = "invalid"

    def clear(self) -> None:
        self._reset_state()
        self._bound = None

    # -------------------------------------------------------------- reading

    @property
    def topic(self) -> str | None:
        return self._bound if self._bound is not None else self._want

    @property
    def valid(self) -> bool:
        return self._state == "live"

    @property
    def state(self) -> str:
        return self._state

    @property
    def num_bids(self) -> int:
        return len(self._bids)

    @property
    def num_asks(self) -> int:
        return len(self._asks)

    @property
    def price_scale(self) -> int:
        return self._ps

    @property
    def size_scale(self) -> int:
        return self._ss

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)

    def _sorted(self, side: dict, best_high: bool, n: int | None) -> list[tuple]:
        if n is not None and n < 0:
            raise ValueError("n must be >= 0")
        keys = sorted(side, key=_key_value, reverse=best_high)
        return [side[k] for k in (keys if n is None else keys[:n])]

    def _pf(self, p: tuple[int, int, int]) -> float:
        return float(p[0] * 10 ** (self._ps - p[1])) / 10.0**self._ps

    def _sint(self, s: tuple[int, int, int]) -> int:
        return s[0] * 10 ** (self._ss - s[1])

    def _float_level(self, e: tuple) -> tuple[float, float]:
        return (self._pf(e[0]), float(self._sint(e[1]) + self._sint(e[2])) / 10.0**self._ss)

    def best_bid(self) -> tuple[float, float] | None:
        lv = self._sorted(self._bids, True, 1)
        return self._float_level(lv[0]) if lv else None

    def best_ask(self) -> tuple[float, float] | None:
        lv = self._sorted(self._asks, False, 1)
        return self._float_level(lv[0]) if lv else None

    def best_bid_price(self) -> float:
        b = self.best_bid()
        return math.nan if b is None else b[0]

    def best_ask_price(self) -> float:
        a = self.best_ask()
        return math.nan if a is None else a[0]

    def bids(self, n: int | None = None) -> list[tuple[float, float]]:
        return [self._float_level(e) for e in self._sorted(self._bids, True, n)]

    def asks(self, n: int | None = None) -> list[tuple[float, float]]:
        return [self._float_level(e) for e in self._sorted(self._asks, False, n)]

    def bids_decimal(self, n: int | None = None) -> list[tuple[str, ...]]:
        return [e[3] for e in self._sorted(self._bids, True, n)]

    def asks_decimal(self, n: int | None = None) -> list[tuple[str, ...]]:
        return [e[3] for e in self._sorted(self._asks, False, n)]

    def _rpi(self, e: tuple) -> tuple[float, float, float]:
        return (self._pf(e[0]), float(self._sint(e[1])) / 10.0**self._ss, float(self._sint(e[2])) / 10.0**self._ss)

    def bids_rpi(self, n: int | None = None) -> list[tuple[float, float, float]]:
        return [self._rpi(e) for e in self._sorted(self._bids, True, n)]

    def asks_rpi(self, n: int | None = None) -> list[tuple[float, float, float]]:
        return [self._rpi(e) for e in self._sorted(self._asks, False, n)]


def _key_value(key: tuple[int, int]) -> int:
    return key[0] * 10 ** (MAX_DEC - key[1])


def snapshot_state(book: Any) -> dict[str, Any]:
    """Everything observable about a book (native or reference), for equality checks in tests."""
    names = ("valid", "state", "topic", "update_id", "seq", "ts", "cts", "snapshots", "deltas", "stale_dropped",
             "absent_deletes", "ignored_not_live", "gaps", "crossed", "num_bids", "num_asks", "price_scale",
             "size_scale")
    out = {n: getattr(book, n) for n in names}
    out.update(bids=book.bids_decimal(), asks=book.asks_decimal(), fbids=book.bids(), fasks=book.asks(),
               best=(book.best_bid(), book.best_ask()))
    return out
