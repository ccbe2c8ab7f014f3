"""The ``bybitfast`` command: one subcommand per tool.

Each subcommand is a pair of small functions registered in :data:`SUBCOMMANDS`:
``add_arguments(parser)`` and ``run(args) -> exit code``. Add one by writing the pair and an
entry in the dict.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]


# ---- emulator ------------------------------------------------------------------------------------
def _emulator_arguments(p: argparse.ArgumentParser) -> None:
    from .emulator.common import DEFAULT_API_KEY, DEFAULT_API_SECRET

    p.description = (
        "Run a local Bybit V5 exchange (REST + WebSocket on one port). Prints "
        "'ready http://HOST:PORT ws://HOST:PORT' as its first line once listening, then serves "
        "until SIGINT/SIGTERM."
    )
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = (
        "default test credentials (used when no key is given):\n"
        f"  api key:    {DEFAULT_API_KEY}\n"
        f"  api secret: {DEFAULT_API_SECRET}"
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    p.add_argument("--api-key", default=DEFAULT_API_KEY, help="account API key (default: the test key below)")
    p.add_argument(
        "--api-secret",
        default=DEFAULT_API_SECRET,
        help="account HMAC secret (default: the test secret below)",
    )
    p.add_argument(
        "--rsa-public-key",
        metavar="FILE",
        help="PEM RSA public key; registers the extra API key 'rsa_api_key' on the same account",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the price process and ids (default 1)")
    p.add_argument("--no-rate-limits", action="store_true", help="never answer 10006")
    p.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="simulated one-way link latency")
    p.add_argument("--market-interval", type=float, default=0.05, metavar="SECONDS", help="seconds per market tick (0: no ticks)")
    p.add_argument("--steps-per-tick", type=int, default=1, metavar="N", help="price-process steps per market tick (default 1)")
    p.add_argument("--fast-market", action="store_true", help="step the market flat out (benchmarks) instead of on a timer")
    g = p.add_argument_group("faults")
    g.add_argument("--drop-after-frames", type=int, metavar="N", help="cut the next WebSocket after it sent N frames")
    g.add_argument("--drop-after-seconds", type=float, metavar="S", help="cut every WebSocket S seconds after start")
    g.add_argument("--silence-pings", action="store_true", help="never answer pings (a dead-but-open link)")
    g.add_argument("--gap", type=int, metavar="N", help="withhold the next N order-book deltas (a u gap)")
    g.add_argument(
        "--reset-book",
        action="append",
        nargs="?",
        const="",
        default=[],
        metavar="TOPIC",
        help="send a u=1 snapshot (service restart) on TOPIC, e.g. orderbook.50.BTCUSDT, or on every "
        "subscribed book when no TOPIC is given; repeatable",
    )
    g.add_argument("--delay", type=float, metavar="S", help="delay every REST answer and WebSocket ack by S")
    g.add_argument(
        "--fail-next",
        action="append",
        default=[],
        metavar="KIND:COUNT",
        help="answer the next COUNT REST requests with KIND (10002, 10006, 429, 500, 502, 503); repeatable",
    )
    g.add_argument("--reject-auth", type=int, metavar="N", help="reject the next N authentications")


def _arm_faults(faults: Any, args: argparse.Namespace) -> None:
    if args.drop_after_frames is not None:
        faults.drop_connection_after(args.drop_after_frames)
    if args.drop_after_seconds is not None:
        faults.drop_connections_in(args.drop_after_seconds)
    if args.silence_pings:
        faults.silence_pings(True)
    if args.gap:
        faults.skip_delta(None, args.gap)
    for topic in args.reset_book:
        faults.reset_book(topic or None)
    if args.delay:
        faults.delay_responses(args.delay)
    for spec in args.fail_next:
        kind, _, count = spec.partition(":")
        faults.fail_next(kind, int(count or 1))
    if args.reject_auth:
        faults.reject_auth(args.reject_auth)


def _emulator_run(args: argparse.Namespace) -> int:
    from .emulator.server import serve

    for spec in args.fail_next:
        kind, _, count = spec.partition(":")
        if kind not in ("10002", "10006", "429", "500", "502", "503") or (count and not count.isdigit()):
            print(f"bybitfast emulator: bad --fail-next {spec!r}", file=sys.stderr)
            return 2
    rsa_pem = None
    if args.rsa_public_key:
        try:
            with open(args.rsa_public_key, encoding="utf-8") as fh:
                rsa_pem = fh.read()
        except OSError as err:
            print(f"bybitfast emulator: cannot read {args.rsa_public_key}: {err.strerror}", file=sys.stderr)
            return 2

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
                pass

        def ready(ex: Any) -> None:
            _arm_faults(ex.faults, args)
            print(f"ready {ex.rest_url} {ex.ws_url}", flush=True)

        await serve(
            args.host,
            args.port,
            ready=ready,
            stop=stop,
            api_key=args.api_key,
            api_secret=args.api_secret,
            rsa_public_key=rsa_pem,
            seed=args.seed,
            rate_limits=not args.no_rate_limits,
            latency=args.latency,
            market_interval=args.market_interval,
            steps_per_tick=args.steps_per_tick,
            fast_market=args.fast_market,
        )

    run_loop(main())  # uvloop when installed: ~15 us less per emulated REST request
    return 0


# ---- shared by the client tools ---------------------------------------------------------------
def run_loop(main: Coroutine[Any, Any, Any]) -> Any:
    """Run a command's coroutine on uvloop when installed (imported lazily: ``--help`` stays fast)."""
    from .ws.connection import run

    return run(main)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _target_arguments(p: argparse.ArgumentParser, url_help: str) -> None:
    """``--testnet | --url URL | --emulator``: where a client tool connects (mainnet by default)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--testnet", action="store_true", help="use Bybit testnet instead of mainnet")
    g.add_argument("--url", metavar="URL", help=url_help)
    g.add_argument("--emulator", action="store_true", help="run against an in-process emulator (no network)")


def _check_url(parser: argparse.ArgumentParser, url: str | None, schemes: tuple[str, ...]) -> None:
    if url is not None and not url.startswith(tuple(s + "://" for s in schemes)):
        parser.error(f"--url must start with {' or '.join(s + '://' for s in schemes)}, got {url!r}")


# ---- demo ----------------------------------------------------------------------------------------
def _demo_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Run a small market maker against an in-process emulator: a live local order book over the "
        "WebSocket client, quotes placed and amended over the trade socket, fills from the private "
        "stream; shows messages/s, book update cost, order round trips and PnL, then a summary. "
        "No network and no keys needed."
    )
    p.add_argument("--duration", type=_positive_float, default=10.0, metavar="SECONDS", help="how long to run (default 10)")
    p.add_argument("--symbol", default="BTCUSDT", help="instrument (default BTCUSDT)")
    # inverse is left out: its PnL is in the base coin, which this small maker does not model
    p.add_argument("--category", default="linear", choices=("spot", "linear"), help="default linear")


def _run_live(command: str, main: Coroutine[Any, Any, None]) -> int:
    """Run a live command on the SDK's loop: exit 1 with the error on stderr, 130 on Ctrl-C."""
    from .errors import BybitError
    from .ws.connection import run

    try:
        run(main)
    except BybitError as exc:
        print(f"bybitfast {command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _demo_run(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return _run_live("demo", run_demo(duration=args.duration, symbol=args.symbol, category=args.category))


# ---- book ----------------------------------------------------------------------------------------
BOOK_DEPTHS = {"spot": (1, 50, 200, 1000), "linear": (1, 50, 200, 1000), "inverse": (1, 50, 200, 1000), "option": (25, 100)}


def _book_arguments(p: argparse.ArgumentParser) -> None:
    p.description = "Show the live top of one local order book (kept by the WebSocket client) until Ctrl-C or --duration."
    p.add_argument("symbol", metavar="SYMBOL", help="instrument, e.g. BTCUSDT")
    p.add_argument("--category", default="linear", choices=tuple(BOOK_DEPTHS), help="default linear")
    p.add_argument("--depth", type=int, default=50, help="orderbook depth topic (default 50; per category: "
                   + "; ".join(f"{c} {'/'.join(map(str, d))}" for c, d in BOOK_DEPTHS.items()) + ")")
    p.add_argument("--duration", type=_positive_float, metavar="SECONDS", help="stop after this long (default: run until Ctrl-C)")
    p.add_argument("--levels", type=_positive_int, default=5, help="levels shown per side (default 5)")
    _target_arguments(p, "WebSocket base URL, e.g. ws://127.0.0.1:9000 (paths /v5/public/{category} are added)")


def _book_run(args: argparse.Namespace) -> int:
    parser = args._parser  # noqa: SLF001
    if args.depth not in BOOK_DEPTHS[args.category]:
        parser.error(f"--depth {args.depth} is not served for {args.category}; choose one of {BOOK_DEPTHS[args.category]}")
    _check_url(parser, args.url, ("ws", "wss"))
    return _run_live("book", _book_main(args.symbol.upper(), category=args.category, depth=args.depth, duration=args.duration,
                                        levels=args.levels, testnet=args.testnet, ws_base_url=args.url, emulator=args.emulator))


async def _book_main(symbol: str, *, category: str, depth: int, duration: float | None, levels: int,
                     testnet: bool, ws_base_url: str | None, emulator: bool) -> None:
    import time
    from contextlib import AsyncExitStack
    from decimal import Decimal

    from .demo import LiveDisplay
    from .ws.client import WebsocketClient

    async with AsyncExitStack() as stack:
        if emulator:
            from .emulator import Emulator

            ws_base_url = (await stack.enter_async_context(Emulator())).ws_url
        client = await stack.enter_async_context(WebsocketClient(testnet=testnet, ws_url=ws_base_url))
        topic = f"orderbook.{depth}.{symbol}"
        print(f"subscribing {topic} ({category}) on {ws_base_url or ('testnet' if testnet else 'mainnet')}", flush=True)
        started = time.monotonic()
        book = await client.subscribe_order_book(symbol, category, depth, timeout=15.0)
        display = LiveDisplay(sys.stdout)
        deadline = started + duration if duration else float("inf")
        while True:
            updates = book.snapshots + book.deltas
            rate = updates / max(1e-9, time.monotonic() - started)
            bid, ask = book.bids_decimal(1), book.asks_decimal(1)
            spread = str(Decimal(ask[0][0]) - Decimal(bid[0][0])) if bid and ask else "n/a"
            head = (f"{symbol} {category} u={book.update_id} {'valid' if book.valid else 'RESYNCING'}  "
                    f"spread {spread}  updates {updates:,} ({rate:,.0f}/s)")
            if display.tty:
                asks = [f"  ask {p:>14} x {q}" for p, q in reversed(book.asks_decimal(levels))]
                bids = [f"  bid {p:>14} x {q}" for p, q in book.bids_decimal(levels)]
                display.update([head, *asks, *bids])
            else:
                top = f"bid {bid[0][0]} x {bid[0][1]} | ask {ask[0][0]} x {ask[0][1]}" if bid and ask else "empty"
                display.update([head, top])
            left = deadline - time.monotonic()
            if left <= 0:
                break
            await asyncio.sleep(min(left, 0.1))


# ---- time ----------------------------------------------------------------------------------------
def _time_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Ask the exchange for its time (GET /v5/market/time) a few times and print the server time, "
        "the clock offset a signed request would apply and the round-trip latency."
    )
    p.add_argument("--samples", type=_positive_int, default=5, help="round trips to take (default 5; the fastest is used)")
    _target_arguments(p, "REST base URL, e.g. http://127.0.0.1:9000")


def _time_run(args: argparse.Namespace) -> int:
    _check_url(args._parser, args.url, ("http", "https"))  # noqa: SLF001
    from .errors import BybitError

    try:
        run_loop(_time_main(testnet=args.testnet, base_url=args.url, emulator=args.emulator, samples=args.samples))
    except BybitError as exc:
        print(f"bybitfast time: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _time_main(*, testnet: bool, base_url: str | None, emulator: bool, samples: int) -> None:
    from contextlib import AsyncExitStack
    from datetime import datetime, timezone

    from .rest.client import RestClientV5

    async with AsyncExitStack() as stack:
        if emulator:
            from .emulator import Emulator

            base_url = (await stack.enter_async_context(Emulator())).rest_url
        client = await stack.enter_async_context(RestClientV5(testnet=testnet, base_url=base_url, timeout=10.0))
        print(f"asking {client.base_url} ({samples} round trips)", flush=True)
        s = await client.sync_time(samples)
    server = datetime.fromtimestamp(s.server_time_ms / 1000, tz=timezone.utc)
    print(f"server time   {server.isoformat(timespec='milliseconds')} ({int(s.server_time_ms)} ms)")
    print(f"clock offset  {s.midpoint_offset_ms:+.1f} ms (server minus local, at the midpoint of the fastest round trip)")
    print(f"applied       {s.offset_ms:+d} ms to signed timestamps (biased back by half the round trip, never ahead)")
    print(f"round trip    {s.round_trip_ms:.2f} ms fastest of {s.samples}; one way ~{s.one_way_ms:.2f} ms")
    if s.skew_warning:
        print("warning       the local clock is off by more than 500 ms: sync it (NTP) or enable time sync")


# ---- bench ---------------------------------------------------------------------------------------
def _bench_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Run the benchmark suite (benchmarks/ of a source checkout) and write benchmarks/RESULTS.md; "
        "the same as `python benchmarks/run.py`."
    )
    p.add_argument("files", nargs="*", help="benchmark files (default: every benchmarks/bench_*.py)")
    p.add_argument("-o", "--output", metavar="FILE", help="Markdown output (default benchmarks/RESULTS.md)")
    p.add_argument("-k", dest="keyword", metavar="EXPR", help="pytest -k expression selecting benchmarks")
    p.add_argument("--quick", action="store_true", help="short measurements (smoke run, noisier figures)")
    p.add_argument("--no-node", action="store_true", help="skip the Node.js SDK comparison")


def _bench_run(args: argparse.Namespace) -> int:
    import importlib.util
    from pathlib import Path

    runner = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
    if not runner.is_file():
        print("bybitfast bench: benchmarks/run.py not found; run it from a source checkout of bybitfast", file=sys.stderr)
        return 2
    spec = importlib.util.spec_from_file_location("bybitfast_bench_run", runner)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = list(args.files)
    if args.output:
        argv += ["--output", args.output]
    if args.keyword:
        argv += ["-k", args.keyword]
    argv += ["--quick"] * args.quick + ["--no-node"] * args.no_node
    return int(module.main(argv))


SUBCOMMANDS: dict[str, tuple[str, AddArguments, Run]] = {
    "emulator": ("run a local Bybit V5 exchange", _emulator_arguments, _emulator_run),
    "demo": ("run a small market maker against an in-process emulator", _demo_arguments, _demo_run),
    "book": ("show a live local order book", _book_arguments, _book_run),
    "time": ("server time, clock offset and latency", _time_arguments, _time_run),
    "bench": ("run the benchmarks and write benchmarks/RESULTS.md", _bench_arguments, _bench_run),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bybitfast", description="bybitfast command-line tools")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        add_arguments(p)
        p.set_defaults(_run=run, _parser=p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args))  # noqa: SLF001


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
