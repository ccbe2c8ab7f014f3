"""Where an example connects: an in-process emulator by default, or Bybit when told.

Every example takes ``--testnet`` / ``--rest-url`` / ``--ws-url`` and reads credentials from
``BYBIT_API_KEY`` / ``BYBIT_API_SECRET`` (``BYBIT_TESTNET=1``, ``BYBIT_REST_URL``,
``BYBIT_WS_URL`` work too). With none of them it starts :class:`bybitfast.Emulator` in the same
process and uses its default test key, so ``python examples/NAME.py`` runs anywhere, offline.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from bybitfast.emulator import DEFAULT_API_KEY, DEFAULT_API_SECRET, Emulator


@dataclass
class Target:
    """Connection settings to pass to any bybitfast client (``**target.rest_kwargs()``...)."""

    testnet: bool
    rest_url: str | None
    ws_url: str | None
    key: str | None
    secret: str | None = field(repr=False)  # never shown in a repr or a log line
    emulator: Emulator | None = None

    def rest_kwargs(self) -> dict[str, Any]:
        return {"testnet": self.testnet, "base_url": self.rest_url}

    def ws_kwargs(self) -> dict[str, Any]:
        return {"testnet": self.testnet, "ws_url": self.ws_url}

    def where(self) -> str:
        if self.emulator is not None:
            return f"in-process emulator at {self.emulator.rest_url}"
        return "Bybit testnet" if self.testnet else (self.rest_url or self.ws_url or "Bybit mainnet")


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the connection options every example shares."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--testnet", action="store_true", default=os.environ.get("BYBIT_TESTNET") == "1",
                   help="use Bybit testnet (keys from BYBIT_API_KEY / BYBIT_API_SECRET)")
    p.add_argument("--rest-url", default=os.environ.get("BYBIT_REST_URL"), help="REST base URL")
    p.add_argument("--ws-url", default=os.environ.get("BYBIT_WS_URL"), help="WebSocket base URL")
    return p


@asynccontextmanager
async def target(args: argparse.Namespace, *, need_keys: bool = False, **emulator_options: Any) -> AsyncIterator[Target]:
    """The emulator unless a real target was chosen; keys from the environment for a real one."""
    if args.testnet or args.rest_url or args.ws_url:
        key, secret = os.environ.get("BYBIT_API_KEY"), os.environ.get("BYBIT_API_SECRET")
        if need_keys and not (key and secret):
            raise SystemExit("set BYBIT_API_KEY and BYBIT_API_SECRET to run this example against Bybit")
        yield Target(args.testnet, args.rest_url, args.ws_url, key, secret)
        return
    async with Emulator(**emulator_options) as ex:
        yield Target(False, ex.rest_url, ex.ws_url, DEFAULT_API_KEY, DEFAULT_API_SECRET, ex)
