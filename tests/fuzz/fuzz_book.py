"""Differential fuzzer: native ``bybitfast.book.OrderBook`` vs ``bybitfast.book_reference``.

Feeds realistic generated streams, fixture frames and mutations of both (byte flips,
truncation, splices, hostile values, duplicate/missing keys, escapes, deep nesting) to both books
and requires, after every frame, the same outcome (return code or exception class) and the same
observable state. The native book must never crash.

    python tests/fuzz/fuzz_book.py --iterations 1000000 [--seed N] [--per-value]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bybitfast import book as native  # noqa: E402
from bybitfast import book_reference as reference  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "bybit" / "ws" / "public" / "orderbook"
SYMBOL = "BTCUSDT"


def fixture_frames() -> list[bytes]:
    """Every order-book frame in the fixtures (jsonl lines and single-message files)."""
    out: list[bytes] = []
    for f in sorted(FIXTURES.glob("*.json*")):
        chunks = f.read_bytes().splitlines() if f.suffix == ".jsonl" else [f.read_bytes()]
        out += [c for c in chunks if b'"topic"' in c]
    return out


def fmt_price(ticks: int, rng: random.Random | None, decimals: int = 2) -> str:
    s = f"{ticks / 10**decimals:.{decimals}f}"
    # Bybit spot strips trailing zeros ("43730"), futures keep them ("30247.20"): mix both
    # (rng None: always strip, as spot does).
    if (rng is None or rng.random() < 0.5) and "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def fmt_size(lots: int) -> str:
    s = f"{lots / 1e6:.6f}".rstrip("0").rstrip(".")
    return s or "0"


def make_frame(topic: str, typ: str, bids: list, asks: list, u: int, seq: int, ts: int, *,
               symbol: str = SYMBOL, rng: random.Random | None = None) -> bytes:
    """A frame as Bybit sends it; with ``rng`` the key order varies like on the real feed."""
    data = {"s": symbol, "b": bids, "a": asks, "u": u, "seq": seq}
    env = {"topic": topic, "type": typ, "ts": ts, "data": data, "cts": ts - 2}
    if rng is not None and rng.random() < 0.5:
        env = {"topic": topic, "ts": ts, "type": typ, "data": data, "cts": ts - 2}
    return orjson.dumps(env)


class Stream:
    """A live-looking book stream: snapshot, then deltas that update, insert and delete levels
    (including deletes of absent levels) around a drifting mid price; never crossed."""

    def __init__(self, rng: random.Random, *, levels: int = 50, topic: str = "orderbook.50.BTCUSDT",
                 rpi: bool = False, mid: int = 4_373_000, decimals: int = 2, absent: bool = True,
                 mixed_format: bool = True, window: bool = False) -> None:
        self.rng = rng
        self.window = window   # keep exactly ``levels`` per side, as Bybit's depth window does
        self.topic = topic
        self.rpi = rpi
        self.decimals = decimals
        self.fmt_rng = rng if mixed_format else None
        self.absent = absent   # emit deletes of levels we never had (pybit cannot take them)
        self.n = levels
        self.mid = mid
        self.u = rng.randint(1, 10**7)
        self.seq = rng.randint(10**9, 10**11)
        self.ts = 1_703_430_557_696
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        bid, ask = mid - 1, mid + 1
        for _ in range(levels):
            self.bids[bid] = rng.randint(1, 5_000_000)
            self.asks[ask] = rng.randint(1, 5_000_000)
            bid -= rng.randint(1, 3)
            ask += rng.randint(1, 3)

    def _lv(self, ticks: int, lots: int) -> list[str]:
        if self.rpi:
            a = self.rng.choice((0, lots))
            return [fmt_price(ticks, self.fmt_rng, self.decimals), fmt_size(a), fmt_size(lots - a if a else lots)]
        return [fmt_price(ticks, self.fmt_rng, self.decimals), fmt_size(lots)]

    def snapshot(self) -> bytes:
        self.ts += 100
        bids = [self._lv(p, q) for p, q in sorted(self.bids.items(), reverse=True)]
        asks = [self._lv(p, q) for p, q in sorted(self.asks.items())]
        return make_frame(self.topic, "snapshot", bids, asks, self.u, self.seq, self.ts, rng=self.rng)

    def delta(self, changes: int = 10) -> bytes:
        rng = self.rng
        self.u += 1
        self.seq += rng.randint(1, 500)
        self.ts += 100
        out: dict[str, list] = {"b": [], "a": []}
        for _ in range(changes):
            side, book, sign = (("b", self.bids, -1), ("a", self.asks, 1))[rng.random() < 0.5]
            best = max(self.bids) if side == "b" else min(self.asks)
            r = rng.random()
            if r < 0.45 and book:        # update near the top
                p = sorted(book, key=lambda x: -sign * x)[: 10][rng.randrange(min(10, len(book)))] if sign < 0 \
                    else sorted(book)[: 10][rng.randrange(min(10, len(book)))]
                book[p] = rng.randint(1, 5_000_000)
                out[side].append(self._lv(p, book[p]))
            elif r < 0.7 and len(book) > 2:  # delete
                p = rng.choice(list(book))
                del book[p]
                out[side].append(self._lv(p, 0) if not self.rpi else [fmt_price(p, self.fmt_rng, self.decimals), "0", "0"])
            elif r < 0.75 and self.absent:  # delete of a level we never had
                p = best + sign * rng.randint(1, 50) + (0 if rng.random() < 0.5 else 10**6)
                if p not in book and p != self.mid:
                    out[side].append([fmt_price(p, self.fmt_rng, self.decimals), "0"] + (["0"] if self.rpi else []))
            else:                        # insert away from the other side
                other_best = min(self.asks) if side == "b" else max(self.bids)
                p = best + sign * rng.randint(0, 30)
                if (side == "b" and p < other_best) or (side == "a" and p > other_best):
                    book[p] = rng.randint(1, 5_000_000)
                    out[side].append(self._lv(p, book[p]))
        if self.window:  # PROTOCOL §5.2: the far end of the window is deleted / refilled
            for side, book, sign in (("b", self.bids, -1), ("a", self.asks, 1)):
                while len(book) > self.n:
                    p = max(book) if sign > 0 else min(book)
                    del book[p]
                    out[side].append(self._lv(p, 0))
                while len(book) < self.n:
                    p = (max(book) if sign > 0 else min(book)) + sign * rng.randint(1, 3)
                    book[p] = rng.randint(1, 5_000_000)
                    out[side].append(self._lv(p, book[p]))
        return make_frame(self.topic, "delta", out["b"], out["a"], self.u, self.seq, self.ts, rng=self.rng)


HOSTILE_STRINGS = [
    "NaN", "nan", "inf", "-1", "-0", "-0.0", "1e5", "1E5", ".5", "5.", "+1", "01", "00.1", " 1", "1 ",
    "0x10", "1_000", "9" * 19, "1." + "0" * 19, "0." + "0" * 17 + "1", "0." + "0" * 18 + "1",
    "123456789012345678.9", "99999999999999999.9", "1" * 18, "\u0661", "", "1.5\u0000", "٣",
]
HOSTILE_VALUES = [
    b"null", b"true", b"false", b"1", b"-1", b"1.5", b"1e400", b"NaN", b"Infinity", b"-Infinity",
    b"9223372036854775807", b"9223372036854775808", b"-9223372036854775808", b"1" * 40, b"[]", b"{}",
    b"[[[[[[[[[[]]]]]]]]]]", b"[" * 70 + b"]" * 70, b'{"a":' * 70 + b"1" + b"}" * 70, b'"x"',
    b'"\\u0031"', b'"\\ud800"', b'"\\u00e9"', b'"\xc3\xa9"', b'"\xed\xa0\x80"', b'"\xff"',
    b'["1"]', b'[["1","2","3","4"]]', b'[["1",2]]', b'[["1","2"],]', b"0", b"-0", b"01",
]


def mutate(frame: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    """One random structural or byte-level mutation."""
    r = rng.randrange(14)
    b = bytearray(frame)
    if not b:
        return bytes([rng.randrange(256)])
    if r == 0:       # truncate
        return bytes(b[: rng.randrange(len(b))])
    if r == 1:       # flip bytes
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if r == 2:       # insert JSON-ish punctuation
        i = rng.randrange(len(b) + 1)
        return bytes(b[:i]) + rng.choice([b",", b"]", b"[", b"{", b"}", b'"', b":", b"\\", b" ", b"\n"]) + bytes(b[i:])
    if r == 3:       # splice two frames
        other = rng.choice(pool)
        return bytes(b[: rng.randrange(len(b) + 1)]) + other[rng.randrange(len(other) + 1):]
    if r == 4:       # replace a quoted decimal by a hostile string
        idxs = [i for i in range(len(b) - 1) if b[i] == 34 and chr(b[i + 1]).isdigit()]
        if idxs:
            i = rng.choice(idxs)
            j = b.find(b'"', i + 1)
            if j < 0:
                return bytes(b)
            h = orjson.dumps(rng.choice(HOSTILE_STRINGS))
            return bytes(b[:i]) + h + bytes(b[j + 1:])
    if r == 5:       # replace a value after a key by a hostile value
        idxs = [i for i in range(len(b)) if b[i] == 58]
        if idxs:
            i = rng.choice(idxs) + 1
            j = i
            depth = 0
            while j < len(b):
                c = b[j]
                if c in b"[{":
                    depth += 1
                elif c in b"]}":
                    if depth == 0:
                        break
                    depth -= 1
                elif c == 44 and depth == 0:
                    break
                j += 1
            return bytes(b[:i]) + rng.choice(HOSTILE_VALUES) + bytes(b[j:])
    if r == 6:       # duplicate or drop a known key (via re-encoding)
        try:
            obj = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return bytes(b)
        if isinstance(obj, dict):
            tgt = obj.get("data") if rng.random() < 0.5 and isinstance(obj.get("data"), dict) else obj
            if tgt:
                k = rng.choice(list(tgt))
                if rng.random() < 0.5:
                    del tgt[k]
                    return orjson.dumps(obj)
                s = orjson.dumps(obj)
                kk = orjson.dumps(k)
                i = s.index(kk)
                return s[:i] + kk + b':"dup",' + s[i:] if rng.random() < 0.5 else s[:i] + kk + b":0," + s[i:]
    if r == 7:       # whitespace everywhere
        return frame.replace(b",", b" ,\n\t").replace(b":", b" : ")
    if r == 8:       # escape a character inside a string
        idxs = [i for i in range(len(b)) if 48 <= b[i] <= 122 and b[i] != 92]
        if idxs:
            i = rng.choice(idxs)
            return bytes(b[:i]) + b"\\u%04x" % b[i] + bytes(b[i + 1:])
    if r == 9:       # change u / seq numerically (gaps, stale, resends)
        try:
            obj = orjson.loads(frame)
            d = obj["data"]
            key = rng.choice(["u", "seq"])
            d[key] = max(0, d[key] + rng.choice([-2, -1, 0, 1, 2, 5, -10**6]))
            return orjson.dumps(obj)
        except Exception:  # noqa: BLE001 - any mutation input is fine
            return bytes(b)
    if r == 10:      # wrong topic / symbol / type
        return frame.replace(rng.choice([b"BTCUSDT", b"snapshot", b"delta", b"orderbook.50", b"orderbook"]),
                             rng.choice([b"ETHUSDT", b"delta", b"snapshot", b"orderbook.200", b"orderbook.full",
                                         b"orderbook.rpi", b"", b"BTCUSDT.X"]), 1)
    if r == 11:      # add an unknown nested field
        i = frame.find(b"{") + 1
        return frame[:i] + b'"x":' + rng.choice(HOSTILE_VALUES) + b"," + frame[i:]
    if r == 12:      # a finer decimal (rescale) or a huge one
        return frame.replace(b'"0.', rng.choice([b'"0.0000000', b'"12345678901.', b'"0.00000000000000001']), 1)
    return bytes(b)


def outcome(book, frame):  # noqa: ANN001, ANN201 - both book types
    try:
        return ("ok", book.apply(frame))
    except (native.FrameError, native.OrderBookError, TypeError) as exc:
        return ("raise", type(exc).__name__)


def check_same(nb, rb, frame: bytes) -> None:  # noqa: ANN001
    on, orf = outcome(nb, frame), outcome(rb, frame)
    if on != orf:
        raise AssertionError(f"outcome differs: native={on} reference={orf}\nframe={frame!r}")
    sn, sr = reference.snapshot_state(nb), reference.snapshot_state(rb)
    if sn != sr:
        diff = {k: (sn[k], sr[k]) for k in sn if sn[k] != sr[k]}
        raise AssertionError(f"state differs after {on}: {diff}\nframe={frame!r}")
    nb._check_invariants()  # ladder bitmap/pool/top or sorted order consistent after every frame


def make_books(rng: random.Random):  # noqa: ANN201
    depth = rng.choice([None, None, 50, "rpi", "full"])
    strict = rng.random() < 0.8
    return (native.OrderBook(SYMBOL, depth=depth, strict=strict),
            reference.OrderBook(SYMBOL, depth=depth, strict=strict), depth)


def run(iterations: int, seed: int, *, frames_per_book: int = 12, log_every: float = 10.0) -> int:
    """Run ``iterations`` frames through both books; returns the number of frames checked."""
    rng = random.Random(seed)
    fixtures = fixture_frames()
    done = 0
    last = time.monotonic()
    while done < iterations:
        nb, rb, depth = make_books(rng)
        topic = {None: "orderbook.50.BTCUSDT", 50: "orderbook.50.BTCUSDT", "rpi": "orderbook.rpi.BTCUSDT",
                 "full": "orderbook.full.BTCUSDT"}[depth]
        st = Stream(rng, levels=rng.randint(1, 12), topic=topic, rpi=depth == "rpi",
                    decimals=rng.choice([0, 1, 2, 2, 4]), window=rng.random() < 0.25)
        pool = [st.snapshot()] + fixtures
        if depth == "full":
            rest = orjson.dumps({"retCode": 0, "retMsg": "OK", "result": {
                "s": SYMBOL, "b": [[fmt_price(p, rng, st.decimals), fmt_size(q)] for p, q in sorted(st.bids.items(), reverse=True)],
                "a": [[fmt_price(p, rng, st.decimals), fmt_size(q)] for p, q in sorted(st.asks.items())],
                "ts": st.ts, "u": st.u, "seq": st.seq}})
            if rng.random() < 0.3:
                rest = mutate(rest, rng, pool)
            rn = rr = None
            try:
                nb.apply_snapshot(rest)
            except (native.FrameError, native.OrderBookError) as exc:
                rn = type(exc).__name__
            try:
                rb.apply_snapshot(rest)
            except (native.FrameError, native.OrderBookError) as exc:
                rr = type(exc).__name__
            if rn != rr or reference.snapshot_state(nb) != reference.snapshot_state(rb):
                raise AssertionError(f"apply_snapshot differs: {rn} vs {rr}\n{rest!r}")
        for i in range(frames_per_book):
            r = rng.random()
            if i == 0 and depth != "full":
                frame = pool[0]
            elif r < 0.5:
                frame = st.delta(rng.randint(0, 12))
            elif r < 0.6:
                frame = st.snapshot()
            elif r < 0.65:
                frame = rng.choice(fixtures)
            else:
                frame = st.delta(rng.randint(0, 6))
            if rng.random() < 0.4:
                for _ in range(rng.randint(1, 3)):
                    frame = mutate(frame, rng, pool)
            check_same(nb, rb, frame)
            done += 1
        if log_every and time.monotonic() - last > log_every:
            last = time.monotonic()
            print(f"{done} frames ok", flush=True)
    return done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--per-value", action="store_true",
                    help="switch the AVX2 block level parser off (fuzz the per-value parser)")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    if args.per_value:
        from bybitfast import _book
        _book._set_block_parser(False)
    print(f"seed {seed}")
    t = time.monotonic()
    n = run(args.iterations, seed)
    print(f"{n} frames, native == reference, {time.monotonic() - t:.1f} s")


if __name__ == "__main__":
    main()
