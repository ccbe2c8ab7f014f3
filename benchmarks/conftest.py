"""Benchmark folder setup: collect ``bench_*.py``, run timings, print ratios to each baseline.

``pytest benchmarks/`` (or one file) measures for real: pyproject's ``--benchmark-disable`` is
lifted here. After the pytest-benchmark table, each group is summarised relative to its
baseline, the benchmark whose name contains "baseline" (first one if several; none: no ratios):

    group sign-hmac (baseline: test_hmac_new_baseline, mean 1.52 us)
      test_signer_sign                 171.3 ns   0.113x  (8.87x faster)
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Runs before pytest-benchmark builds its session only when this folder is on the command line.
    if hasattr(config.option, "benchmark_enable"):
        config.option.benchmark_enable = True


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def _fmt(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.1f} ns"


def ratio_report(benchmarks: list[Any]) -> list[str]:
    """Lines comparing each benchmark's mean with its group's baseline (pure, for reuse)."""
    groups: dict[str, list[Any]] = defaultdict(list)
    for bench in benchmarks:
        if bench.stats and getattr(bench.stats, "rounds", 0):
            groups[bench.group or "(no group)"].append(bench)
    lines = []
    for group, members in groups.items():
        baseline = next((b for b in members if "baseline" in b.name), None)
        if baseline is None:
            continue
        base = baseline.stats.mean
        lines.append(f"group {group} (baseline: {baseline.name}, mean {_fmt(base)})")
        width = max(len(b.name) for b in members)
        for bench in sorted(members, key=lambda b: b.stats.mean):
            mean = bench.stats.mean
            ratio = mean / base if base else float("nan")
            speed = f"{1 / ratio:.2f}x faster" if ratio < 1 else f"{ratio:.2f}x slower" if ratio > 1 else "baseline"
            lines.append(f"  {bench.name:<{width}}  {_fmt(mean):>10}  {ratio:7.3f}x  ({speed})")
    return lines


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled:
        return
    lines = ratio_report(session.benchmarks)
    if lines:
        terminalreporter.section("ratios to baseline (mean)")
        for line in lines:
            terminalreporter.write_line(line)
