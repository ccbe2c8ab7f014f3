"""``benchmarks/run.py`` and ``bybitfast bench`` run for real on one tiny benchmark selection.

Quick mode (a few rounds of two HMAC benchmarks) into a temporary output: the Markdown must carry
the machine, the versions, the exact command and a ratio row; the default ``RESULTS.md`` is left
alone. No timing is asserted, only that the figures are there.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SELECTION = "test_hmac_new_baseline or test_hmac_cached_copy"


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_run_py_quick_writes_markdown_with_machine_versions_command_and_ratios(tmp_path: Path) -> None:
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.stat().st_mtime_ns if results.exists() else None
    out, raw = tmp_path / "results.md", tmp_path / "results.json"
    proc = _run("benchmarks/run.py", "--quick", "--no-node", "--output", str(out), "--json", str(raw),
                "-k", SELECTION, "benchmarks/bench_sign.py")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = out.read_text()

    assert "**Quick run (`--quick`)" in text
    assert re.search(r"^\| CPU \| .+ \|$", text, re.M) and re.search(r"^\| cores \| \d+ \|$", text, re.M)
    assert f"| bybitfast | {metadata.version('bybitfast')} |" in text
    assert f"| pybit | {metadata.version('pybit')} |" in text
    # the invocation as typed, then the pytest command it ran
    assert f"python benchmarks/run.py --quick --no-node --output {out} --json {raw} -k '{SELECTION}' benchmarks/bench_sign.py" in text
    assert re.search(r"^python -m pytest benchmarks/bench_sign\.py .*--benchmark-min-rounds=3 .*-k '" + SELECTION + "'$", text, re.M)
    # a ratio row (ratio before the absolute times, then rounds x iterations) and the baseline's own row
    assert re.search(r"^\| `test_hmac_cached_copy` \| [\d.e+]+× \([\d.e+]+× (faster|slower)\) \| [\d.]+ [nµm]?s \|.* \| [\d,]+ × [\d,]+ \|$", text, re.M), text
    assert "| `test_hmac_new_baseline` | 1.00× (baseline) |" in text
    # the group has its title and one-line description; the headline row names both benchmarks
    assert "### HMAC-SHA256 request signature" in text and "What was measured (group `sign-hmac`): one HMAC-SHA256" in text
    assert re.search(r"^\| HMAC-SHA256 request signature \| `test_hmac_cached_copy` \| .* \| `test_hmac_new_baseline` \|", text, re.M)
    assert "_Not measured: skipped with --no-node._" in text
    # the JSON kept with --json is pytest-benchmark's, with exactly the selection
    assert sorted(b["name"] for b in json.loads(raw.read_text())["benchmarks"]) == ["test_hmac_cached_copy", "test_hmac_new_baseline"]
    assert (results.stat().st_mtime_ns if results.exists() else None) == before  # the default output untouched


def test_bybitfast_bench_help() -> None:
    proc = _run("-m", "bybitfast", "bench", "--help", timeout=60)
    assert proc.returncode == 0, proc.stderr
    for option in ("--quick", "--output", "--no-node", "-k"):
        assert option in proc.stdout
    assert "RESULTS.md" in proc.stdout


def test_bybitfast_bench_reaches_run_py() -> None:
    """The subcommand forwards to benchmarks/run.py (which rejects a missing file before running pytest)."""
    proc = _run("-m", "bybitfast", "bench", "--quick", "benchmarks/bench_nosuch.py", timeout=60)
    assert proc.returncode == 2
    assert "no such benchmark file: benchmarks/bench_nosuch.py" in proc.stderr
