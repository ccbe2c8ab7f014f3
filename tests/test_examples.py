"""Every program in examples/ runs against its in-process emulator and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# example -> substrings its output must contain: a list in this order, a set in any order
EXPECTED: dict[str, list[str] | set[str]] = {
    "rest_public.py": ["in-process emulator", "server time ms:", "BTCUSDT last", "book u="],
    "rest_private.py": ["wallet equity", "placed order", "open orders: ['", "cancelled order", "second cancel refused: retCode 110001"],
    "rsa_keys.py": ["signer kind: RSA", "signer='rsa'", "RSA-signed request accepted"],
    "demo_trading.py": [
        "demo REST base URL: https://api-demo.bybit.com",
        "demo trade socket refused: demo trading has no trade socket",
        "demo-mode client talking to http://127.0.0.1:",
        "demo market order filled:",
        "position Buy 0.001",
    ],
    "trade_socket.py": ["trade socket authenticated", "created ", "amended ", "cancelled ", "batch created 3 orders; failed items: []", "batch cancelled"],
    "public_stream.py": ["subscribed ['tickers.BTCUSDT', 'publicTrade.BTCUSDT']", "frames in", "'tickers.BTCUSDT': ", "'publicTrade.BTCUSDT': "],
    # the four topics push in the emulator's order, which is not part of the contract
    "private_stream.py": {"authenticated on the private stream", "\norder {", "\nexecution {", "\nposition {", "\nwallet {"},
    "managed_books.py": [
        "resync orderbook.50.BTCUSDT: BTCUSDT: update gap", "BTCUSDT valid=True", "ETHUSDT valid=True", "BTCUSDT valid=True",
    ],
    "reconnect_backfill.py": {
        "subscribed publicTrade and execution", "connection dropped (v5_private)", "connection dropped (v5_linear_public)",
        "reconnected (v5_private)", "reconnected (v5_linear_public)", "backfilled 1 missed executions: [('Sell', '0.001',",
        "missed trades",
    },
}


def run_example(name: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BYBIT_")}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=60, env=env, cwd=EXAMPLES.parent
    )
    assert proc.returncode == 0, f"{name} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")))
def test_example_runs(name: str) -> None:
    assert name in EXPECTED, f"examples/{name} has no expected output in this test"
    out = run_example(name)
    expected_lines = EXPECTED[name]
    if isinstance(expected_lines, set):
        missing = [e for e in expected_lines if e not in out]
        assert not missing, f"{name}: {missing} missing from:\n{out}"
        return
    position = 0
    for expected in EXPECTED[name]:
        found = out.find(expected, position)
        assert found >= 0, f"{name}: {expected!r} missing (in order) from:\n{out}"
        position = found + len(expected)


def test_examples_cover_the_list() -> None:
    present = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    wanted = {
        "rest_public.py", "rest_private.py", "rsa_keys.py", "demo_trading.py", "public_stream.py",
        "private_stream.py", "managed_books.py", "trade_socket.py", "reconnect_backfill.py",
    }
    assert wanted <= present, f"missing examples: {sorted(wanted - present)}"


def test_real_target_without_keys_is_refused() -> None:
    """Pointed at a real host without keys, a private example stops with a clear message, before any I/O."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BYBIT_")}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "rest_private.py"), "--testnet"], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode != 0
    assert "set BYBIT_API_KEY and BYBIT_API_SECRET" in proc.stderr
