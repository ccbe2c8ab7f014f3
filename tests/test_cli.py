"""The ``bybitfast`` command line: help everywhere, clear argument errors, demo, time, book, bench."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bybitfast.cli import SUBCOMMANDS, main

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BYBIT_")}
    return subprocess.run([sys.executable, "-m", "bybitfast", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def test_top_level_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in ("emulator", "demo", "book", "time", "bench"):
        assert name in out


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_subcommand_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: bybitfast {name}")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["nosuch"], "invalid choice: 'nosuch'"),
        (["demo", "--duration", "0"], "must be a positive number of seconds"),
        (["demo", "--duration", "abc"], "not a number"),
        (["demo", "--category", "option"], "invalid choice: 'option'"),
        (["book"], "the following arguments are required: SYMBOL"),
        (["book", "BTCUSDT", "--depth", "7"], "--depth 7 is not served for linear"),
        (["book", "BTCUSDT", "--category", "option", "--depth", "50"], "--depth 50 is not served for option"),
        (["book", "BTCUSDT", "--testnet", "--url", "ws://x"], "not allowed with argument"),
        (["book", "BTCUSDT", "--url", "http://x"], "--url must start with ws:// or wss://"),
        (["time", "--url", "ws://x"], "--url must start with http:// or https://"),
        (["time", "--samples", "0"], "must be > 0"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_time_against_the_emulator(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["time", "--emulator", "--samples", "3"]) == 0
    out = capsys.readouterr().out
    assert "server time" in out and "clock offset" in out and "round trip" in out and "fastest of 3" in out


def test_time_unreachable_host_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["time", "--url", "http://127.0.0.1:9", "--samples", "1"]) == 1
    err = capsys.readouterr().err
    assert "TransportError" in err and "/v5/market/time" in err


def test_book_against_the_emulator() -> None:
    proc = cli("book", "BTCUSDT", "--emulator", "--duration", "1.5", "--levels", "3")
    assert proc.returncode == 0, proc.stderr
    assert "BTCUSDT" in proc.stdout and "bid" in proc.stdout and "ask" in proc.stdout
    assert "updates" in proc.stdout


def test_demo_runs_fills_and_summarises() -> None:
    proc = cli("demo", "--duration", "3")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "summary" in out
    summary = dict(
        line.split(None, 1) for line in out.split("\nsummary\n", 1)[1].splitlines() if line.strip()
    )
    assert int(summary["books_updated"]) > 0
    assert float(summary["book_update_p50_us"]) > 0  # the managed book's own apply time (on_update hook)
    assert int(summary["orders_placed"]) > 0
    assert int(summary["orders_amended"]) > 0  # quotes followed the touch over the trade socket
    assert int(summary["orders_filled"]) > 0
    assert int(summary["fills"]) > 0
    assert summary["round_trip_p50_ms"] != "n/a"
    assert summary["pnl_currency"] == "USDT" and float(summary["pnl"]) == float(summary["pnl"])  # a number, not nan
    # the live PnL line (one " | "-joined line per refresh when stdout is not a terminal)
    live = out.split("\nsummary\n", 1)[0]
    assert re.search(r"(?:^|\| )pnl +[+-][\d,]+\.\d{4} USDT +position -?[\d.]+ +fees ", live, re.M), live


def _load_runner():
    spec = importlib.util.spec_from_file_location("bench_run_under_test", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bench(name: str, group: str, median: float, **extra: object) -> dict:
    stats = {"median": median, "min": median * 0.9, "mean": median * 1.1, "stddev": median / 10, "rounds": 100, "iterations": 10}
    return {"name": name, "group": group, "fullname": f"bench_x.py::{name}", "stats": stats, "extra_info": dict(extra)}


def test_results_markdown_puts_ratios_first() -> None:
    runner = _load_runner()
    data = {
        "benchmarks": [
            _bench("test_fast", "sign", 1e-7),
            _bench("test_pybit_baseline", "sign", 2e-6),
            _bench("test_mem[bybitfast]", "memory", 1e-5, bytes_per_level_rss=66.0, what="memory of books"),
            _bench("test_nobase", "other", 3e-3),
        ]
    }
    text = runner.render(
        data, machine={"CPU": "X"}, versions={"bybitfast": "0.1.0", "pybit": "5"}, commands=["python -m pytest ..."],
        node=None, node_reason="node not installed", elapsed=1.0, quick=False, invocation="python benchmarks/run.py",
    )
    assert "| CPU | X |" in text and "| pybit | 5 |" in text
    assert "python benchmarks/run.py" in text and "python -m pytest ..." in text
    row = next(line for line in text.splitlines() if line.startswith("| `test_fast`"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[1] == "0.05× (20× faster)"  # ratio column comes before the absolute times
    assert cells[2] == "100 ns" and cells[5] == "100 × 10"
    assert "| sign | `test_fast` | 0.05× (20× faster) | `test_pybit_baseline` | 2 µs |" in text
    assert "_No baseline in this group: absolute figures only._" in text
    assert "| `test_mem[bybitfast]` | 66 |" in text and "What was measured: memory of books" in text
    assert "_Not measured: node not installed._" in text


def test_results_markdown_reports_node_as_another_runtime() -> None:
    runner = _load_runner()
    node = {"node": "v20", "bybit_api": "4.7.7", "results": [
        {"name": "sign_hmac", "median_ns": 60000.0, "min_ns": 50000.0, "rounds": 5, "iterations": 500, "what": "sign"}]}
    text = runner.render({"benchmarks": []}, machine={}, versions={}, commands=[], node=node, node_reason="",
                         elapsed=0.0, quick=True)
    assert "a different runtime" in text and "| `sign_hmac` | 60 µs | 50 µs | 5 × 500 | sign |" in text
    assert "Quick run" in text


def test_bench_runner_rejects_a_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _load_runner().main(["benchmarks/bench_nosuch.py"])
    assert exit_info.value.code == 2
    assert "no such benchmark file" in capsys.readouterr().err


def test_node_benchmark_output_is_json_when_available() -> None:
    runner = _load_runner()
    if "bybit-api" not in runner.node_versions():
        pytest.skip("node + bybit-api not installed (npm install --prefix benchmarks/node)")
    result = runner.run_node(quick=True)
    assert result is not None and {r["name"] for r in result["results"]} >= {"sign_hmac", "parse_book_delta"}
    assert json.dumps(result)
