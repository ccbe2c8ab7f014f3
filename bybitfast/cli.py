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
from collections.abc import Callable, Sequence
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
    p.add_argument("--market-interval", type=float, default=0.05, metavar="SECONDS", help="seconds per market step")
    g = p.add_argument_group("faults")
    g.add_argument("--drop-after-frames", type=int, metavar="N", help="cut the next WebSocket after it sent N frames")
    g.add_argument("--drop-after-seconds", type=float, metavar="S", help="cut every WebSocket S seconds after start")
    g.add_argument("--silence-pings", action="store_true", help="never answer pings (a dead-but-open link)")
    g.add_argument("--gap", type=int, metavar="N", help="withhold the next N order-book deltas (a u gap)")
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
        )

    asyncio.run(main())
    return 0


SUBCOMMANDS: dict[str, tuple[str, AddArguments, Run]] = {
    "emulator": ("run a local Bybit V5 exchange", _emulator_arguments, _emulator_run),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bybitfast", description="bybitfast command-line tools")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        add_arguments(p)
        p.set_defaults(_run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args))  # noqa: SLF001


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
