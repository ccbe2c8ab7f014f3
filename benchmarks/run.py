"""Run the benchmark suite and write ``benchmarks/RESULTS.md``: ``python benchmarks/run.py``.

One command reproduces the file: it runs every ``benchmarks/bench_*.py`` under pytest-benchmark
with JSON output, then the optional Node.js comparison (``benchmarks/node``, only when ``node`` and
``bybit-api`` are installed), and renders the machine, the versions of bybitfast and of every peer,
the exact commands, and per group the ratios against the group's baseline (the benchmark whose
name contains ``baseline``) before the absolute times and the rounds/iterations behind them.
Each group is titled and described by ``GROUP_INFO`` (what was measured, and whether its baseline
is a peer, a floor or an emulator cost); the headline summary holds the client comparisons only,
the emulator's own costs get their own section.

``--quick`` shortens every measurement (a smoke run; its figures are noisier).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NODE_DIR = HERE / "node"
DEFAULT_OUTPUT = HERE / "RESULTS.md"

# Distribution names whose versions RESULTS.md records (peers first compared against).
PEERS = (
    "bybitfast",
    "pybit",
    "ccxt",
    "order-book",
    "orjson",
    "picows",
    "aiohttp",
    "uvloop",
    "cryptography",
    "Cython",
    "pytest-benchmark",
)


# ---------------------------------------------------------------- what each group measures

PEER, FLOOR, EMULATOR = "peer", "floor", "emulator"
KINDS = {
    PEER: "peer (another library, or the usual pure-Python code, doing the same job)",
    FLOOR: "floor (the least work the same job takes in Python, no SDK)",
    EMULATOR: "emulator cost (the emulator's own work beside a floor, not a client comparison)",
}


class GroupInfo(NamedTuple):
    title: str
    what: str
    kind: str
    # The headline compares like with like: only entries whose name contains ``compare`` (e.g. the
    # 41-level half of a per-level pair); ``timed=False`` groups report figures, not a time ratio.
    compare: str = ""
    timed: bool = True
    # per-level pairs (``*_1`` / ``*_41`` benchmarks over this many frames a round): the cost of
    # one level, (41-change - 1-change) / 40 / frames, is printed under the group's table
    per_level_frames: int = 0


# Keyed by the start of the pytest-benchmark group name (the longest matching key wins: some
# names carry a run-dependent count); ``{rest}`` in a title is the rest of the group name.
# Groups of kind EMULATOR stay out of the headline summary.
GROUP_INFO: dict[str, GroupInfo] = {
    "delta parse+apply (": GroupInfo(
        "Order-book deltas, parse + apply",
        "per round, 2,000 orderbook.200 delta frames of ~10 levels applied after a fresh 200-level snapshot "
        "(per frame: divide by 2,000). bybitfast's native book takes the frame bytes; the orjson + dict book "
        "(baseline), the order-book C package and ccxt's OrderBook decode each frame with orjson; pybit's "
        "book handler gets pre-decoded frames.",
        PEER,
    ),
    "delta parse+apply, book held": GroupInfo(
        "Order-book deltas, book held at 200 levels per side",
        "per round, 2,000 delta frames (~12 levels, far end trimmed and refilled like Bybit's window) applied "
        "after a fresh snapshot: the native book vs orjson + dict (baseline).",
        PEER,
    ),
    "per level (": GroupInfo(
        "Order-book cost per level",
        "per round, 2,000 deltas of 1 or of 41 changed levels; the cost of one level is the difference / 40.",
        PEER,
        compare="_41",
        per_level_frames=2000,
    ),
    "per level, book held": GroupInfo(
        "Order-book cost per level, book held at 200 levels per side",
        "as above on the window stream (far end trimmed and refilled, 200 levels per side throughout).",
        PEER,
        per_level_frames=2000,
    ),
    "per level, RPI book": GroupInfo(
        "Order-book cost per level, RPI book held at 200 levels per side",
        "as above on an orderbook.rpi stream ([price, size, rpi_size] levels).",
        PEER,
        per_level_frames=2000,
    ),
    "snapshot 200+200": GroupInfo(
        "Order-book snapshot load",
        "one 200+200-level snapshot frame (bytes) loaded into a book, per call; baselines: orjson.loads + dict "
        "book, and orjson.loads alone.",
        PEER,
    ),
    "best bid read": GroupInfo(
        "Best bid read",
        "one read of the best bid from a loaded book, per call; baseline: reading a Python attribute holding "
        "a float (the cheapest read there is).",
        FLOOR,
    ),
    "frame_info": GroupInfo(
        "Frame routing (topic, type, u, seq of a delta)",
        "one 10-level delta frame's routing fields read from the bytes, per call; baseline: orjson.loads of "
        "the whole frame.",
        PEER,
    ),
    "memory: 100 books": GroupInfo(
        "Memory: 100 deep books",
        "time: one 1,000+1,000-level snapshot loaded into a fresh book, per call, pybit's book code as the "
        "baseline; memory figures from fresh interpreters (table below the timings).",
        PEER,
        timed=False,
    ),
    "memory: long delta stream": GroupInfo(
        "Memory: long delta stream",
        "time: one 10-change delta on a 200-level book, per call, pybit's book code as the baseline; "
        "growth over the stream from fresh interpreters (table below the timings).",
        PEER,
        timed=False,
    ),
    "rest client side:": GroupInfo(
        "REST client-side cost: {rest}",
        "one full method call with the transport replaced by a canned answer (no network): bybitfast "
        "(coroutine driven without a loop) vs pybit (baseline) and sync ccxt (both with their requests "
        "session's send patched, so request preparation is included; ccxt also parses its unified result).",
        PEER,
    ),
    "rest end to end:": GroupInfo(
        "REST end to end against the emulator: {rest}",
        "per round, N sequential requests to the emulator in a thread of this process; baseline: a bare "
        "aiohttp loop on the same URL (hmac-signed inline for the private call); peers pybit, ccxt (sync) "
        "and ccxt.async_support.",
        FLOOR,
    ),
    "sign-hmac": GroupInfo(
        "HMAC-SHA256 request signature",
        "one HMAC-SHA256 hex signature of a 112-byte payload, per call; baseline: hmac.new(...).hexdigest().",
        PEER,
    ),
    "rest-auth": GroupInfo(
        "REST auth headers",
        "one order body encoded and its auth headers built, per call; baseline: pybit's header code.",
        PEER,
    ),
    "encode-body": GroupInfo(
        "Order body encoding",
        "one order dict encoded to the JSON body, per call; baseline: json.dumps.",
        PEER,
    ),
    "sign-rsa": GroupInfo(
        "RSA request signature",
        "one RSA-2048 signature, per call: bybitfast with the key loaded once vs pybit (baseline).",
        PEER,
    ),
    "ws-e2e-book": GroupInfo(
        "WebSocket order-book stream, end to end",
        "per round, every client subscribes to a local push server (own process) and is timed from \"go\" "
        "until it has applied the last of the same N orderbook.200 deltas (same frames, same server); "
        "baseline aiohttp + orjson + dict book; peers pybit's WebSocket.orderbook_stream (one round: it "
        "takes ~20x the baseline's time) and ccxt.pro watch_order_book, both over the socket.",
        PEER,
    ),
    "ws-api round trip": GroupInfo(
        "Trade socket round trip: {rest}",
        "per round, N sequential order.create requests, each awaited, against a picows server in its own "
        "process answering the documented reply; baseline: raw picows sending a prebuilt frame; peers "
        "pybit WebSocketTrading and ccxt.pro create_order_ws.",
        FLOOR,
    ),
    "ws-api client side": GroupInfo(
        "Trade socket: client-side cost of one order",
        "one order.create through the client with the socket replaced by an in-process answer, per call; "
        "baseline: orjson.dumps of the request + orjson.loads of the reply; peer pybit.",
        FLOOR,
    ),
    "emulator-market-step": GroupInfo(
        "Emulator: market step and REST book view",
        "one Market.step publishing to the given subscribers (or one REST full-book view), per call, beside "
        "orjson.dumps of one L50 delta frame: the emulator's cost per simulated tick.",
        EMULATOR,
    ),
    "emulator-e2e-l50-frames": GroupInfo(
        "Emulator: L50 frames delivered to a picows client",
        "per round, seconds until one picows subscriber (this process) has N orderbook.50 deltas from the "
        "emulator in its own process; baseline: the same client fed pre-built frames by a trivial server.",
        EMULATOR,
    ),
    "emulator-fanout-": GroupInfo(
        "Emulator: fan-out to 8 socket subscribers ({rest} event loop)",
        "per round, market steps with 8 real L50 subscribers vs the same steps with an in-process sink "
        "(baseline): the difference is the delivery cost.",
        EMULATOR,
    ),
    "emulator-rest-public-noop": GroupInfo(
        "Emulator: REST request pipeline",
        "per round, 1,000 GET /v5/market/time through the emulator vs a constant-answer aiohttp app "
        "(baseline), aiohttp client in the same process.",
        EMULATOR,
    ),
}


def group_info(group: str) -> GroupInfo | None:
    """The description of ``group`` (longest matching key), or None for a group not listed."""
    keys = [k for k in GROUP_INFO if group.startswith(k)]
    if not keys:
        return None
    key = max(keys, key=len)
    info = GROUP_INFO[key]
    return info._replace(title=info.title.replace("{rest}", group[len(key):].strip(" :-")))


# ---------------------------------------------------------------- machine and versions


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` first: lscpu often shortens it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_features() -> str:
    """The CPU flags the native code dispatches on (SHA extensions, AVX2, AVX-512)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return " ".join(f for f in ("sha_ni", "avx2", "avx512f") if f in flags) or "none of sha_ni/avx2/avx512f"


def machine_info() -> dict[str, str]:
    """What the figures were measured on."""
    info = {
        "CPU": cpu_model(),
        "CPU features": cpu_features(),
        "cores": str(os.cpu_count() or "?"),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": platform.platform(),
    }
    if hasattr(os, "getloadavg"):
        info["load average at start"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return info


def package_versions() -> dict[str, str]:
    """Installed versions of bybitfast and every peer; ``not installed`` when absent."""
    versions = {}
    for name in PEERS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    node = node_versions()
    versions["node"] = node.get("node", "not installed")
    versions["bybit-api (npm)"] = node.get("bybit-api", "not installed")
    return versions


def node_versions() -> dict[str, str]:
    """``node`` and ``bybit-api`` versions, whichever are present."""
    out: dict[str, str] = {}
    node = shutil.which("node")
    if node:
        try:
            out["node"] = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    pkg = NODE_DIR / "node_modules" / "bybit-api" / "package.json"
    if pkg.is_file():
        out["bybit-api"] = json.loads(pkg.read_text()).get("version", "?")
    return out


# ---------------------------------------------------------------- running


def pytest_command(json_path: Path, *, quick: bool, keyword: str | None, files: Sequence[str]) -> list[str]:
    """The pytest-benchmark command line (kept whole so RESULTS.md can quote it)."""
    targets = list(files) or [str(HERE.relative_to(ROOT))]
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *targets,
        "-p",
        "no:cacheprovider",
        "--benchmark-enable",
        "--benchmark-only",
        "--benchmark-sort=name",
        f"--benchmark-json={json_path}",
        "--timeout=1800",
        "-q",
    ]
    if quick:
        cmd += ["--benchmark-min-rounds=3", "--benchmark-max-time=0.05", "--benchmark-warmup=off"]
    if keyword:
        cmd += ["-k", keyword]
    return cmd


def run_pytest(cmd: list[str], env: dict[str, str]) -> int:
    """Run pytest with its output streamed (it is the progress display)."""
    print("+", shlex.join(display_command(cmd)), flush=True)
    return subprocess.call(cmd, cwd=ROOT, env=env)


def display_command(cmd: Sequence[str]) -> list[str]:
    """The command as a reader would type it (``python`` for the interpreter, no temp paths)."""
    shown = []
    for part in cmd:
        if part == sys.executable:
            part = "python"
        elif part.startswith("--benchmark-json="):
            part = "--benchmark-json=<tmp>.json"
        shown.append(part)
    return shown


def run_node(quick: bool) -> dict[str, Any] | None:
    """The Node.js SDK measurement, or None (with the reason printed) when it cannot run."""
    node = shutil.which("node")
    if node is None:
        print("node: not installed; skipping the Node SDK comparison", flush=True)
        return None
    if not (NODE_DIR / "node_modules" / "bybit-api").is_dir():
        print("node: bybit-api not installed (npm install --prefix benchmarks/node); skipping", flush=True)
        return None
    cmd = [node, str(NODE_DIR / "bench.js")] + (["--quick"] if quick else [])
    print("+", shlex.join(["node", "benchmarks/node/bench.js", *cmd[2:]]), flush=True)
    try:
        proc = subprocess.run(cmd, cwd=NODE_DIR, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        print("node: timed out; skipping", flush=True)
        return None
    if proc.returncode != 0:
        print(f"node: failed ({proc.returncode}): {proc.stderr.strip()[-500:]}", flush=True)
        return None
    try:
        return json.loads(proc.stdout)
    except ValueError:
        print("node: unreadable output; skipping", flush=True)
        return None


# ---------------------------------------------------------------- rendering


def fmt_time(seconds: float) -> str:
    """A duration in the unit that keeps 3 significant digits readable."""
    if seconds != seconds:  # nan
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_ratio(value: float, base: float) -> str:
    """``0.12× (8.3× faster)``: time relative to the baseline, lower is better."""
    if base <= 0 or value <= 0:
        return "n/a"
    ratio = value / base
    if abs(ratio - 1.0) < 0.005:
        return "1.00× (baseline)" if value == base else "1.00×"
    trend = f"{1 / ratio:.3g}× faster" if ratio < 1 else f"{ratio:.3g}× slower"
    return f"{ratio:.3g}× ({trend})"


def fmt_extra(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def group_benchmarks(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Benchmarks per group, in the order their groups first appear; ungrouped ones by module."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for bench in data.get("benchmarks", []):
        group = bench.get("group") or bench.get("fullname", "").split("::")[0]
        groups.setdefault(group, []).append(bench)
    return groups


def baseline_of(benches: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The group's baseline: the benchmark whose name contains ``baseline`` (the first one)."""
    for bench in benches:
        if "baseline" in bench["name"].lower():
            return bench
    return None


def render_group(name: str, benches: list[dict[str, Any]]) -> list[str]:
    """What was measured, then ratios first, absolute times second, and how often (rounds × iterations)."""
    base = baseline_of(benches)
    base_median = base["stats"]["median"] if base else 0.0
    ordered = sorted(benches, key=lambda b: b["stats"]["median"])
    info = group_info(name)
    if info is None:
        lines = [f"### {name}", ""]
    else:
        lines = [f"### {info.title}", "", f"What was measured (group `{name}`): {info.what} Baseline kind: {KINDS[info.kind]}.", ""]
    if base is None:
        lines += ["_No baseline in this group: absolute figures only._", ""]
    else:
        lines += [f"Baseline: `{base['name']}`. Ratio = median time / baseline median (lower is better).", ""]
    lines += [
        "| benchmark | vs baseline | median | min | mean ± stddev | rounds × iterations |",
        "|---|---|---|---|---|---|",
    ]
    for bench in ordered:
        st = bench["stats"]
        ratio = fmt_ratio(st["median"], base_median) if base else "—"
        lines.append(
            f"| `{bench['name']}` | {ratio} | {fmt_time(st['median'])} | {fmt_time(st['min'])} | "
            f"{fmt_time(st['mean'])} ± {fmt_time(st['stddev'])} | {st['rounds']:,} × {st.get('iterations', 1):,} |"
        )
    extras = [(b["name"], b.get("extra_info") or {}) for b in ordered]
    keys: list[str] = []
    for _, extra in extras:
        keys += [k for k in extra if k not in keys and k != "what"]
    if keys:
        lines += ["", "| benchmark | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        for bname, extra in extras:
            if any(k in extra for k in keys):
                lines.append(f"| `{bname}` | " + " | ".join(fmt_extra(extra.get(k, "")) for k in keys) + " |")
    if info is not None and info.per_level_frames:
        lines += per_level_lines(benches, info.per_level_frames)
    descriptions = [(b["name"], doc) for b in ordered if (doc := describe(b))]
    if descriptions and len({doc for _, doc in descriptions}) == 1 and len(descriptions) == len(ordered):
        lines += ["", f"What was measured: {descriptions[0][1]}"]
    elif descriptions:
        lines += ["", "What was measured:", ""]
        lines += [f"- `{bname}`: {doc}" for bname, doc in descriptions]
    lines.append("")
    return lines


def per_level_lines(benches: list[dict[str, Any]], frames: int) -> list[str]:
    """The cost of one level from each ``X_1`` / ``X_41`` pair of a per-level group."""
    by_name = {b["name"]: b["stats"] for b in benches}
    out = []
    for name, st41 in by_name.items():
        if not name.endswith("_41") or (st1 := by_name.get(name[:-3] + "_1")) is None:
            continue
        med = (st41["median"] - st1["median"]) / 40 / frames
        low = (st41["min"] - st1["min"]) / 40 / frames
        out.append(f"Per level (`{name[:-3]}_41` − `_1`, / 40 levels / {frames:,} frames): "
                   f"{fmt_time(med)} from the medians, {fmt_time(low)} from the minima.")
    return ["", *out] if out else []


def describe(bench: dict[str, Any]) -> str:
    """A benchmark's own description: ``extra_info['what']`` if it set one."""
    return str((bench.get("extra_info") or {}).get("what", "") or "")


def is_emulator_group(name: str) -> bool:
    info = group_info(name)
    return info is not None and info.kind == EMULATOR


def fmt_rounds(bench: dict[str, Any]) -> str:
    st = bench["stats"]
    return f"{st['rounds']:,} × {st.get('iterations', 1):,}"


def render_summary(groups: dict[str, list[dict[str, Any]]], *, emulator: bool = False) -> list[str]:
    """One line per group with a baseline: the fastest non-baseline entry against the baseline.

    The headline (``emulator=False``) holds the client comparisons, whose baseline is a peer or a
    floor doing the same job; ``emulator=True`` lists the emulator's own costs instead."""
    lines = [
        "| group | fastest | vs baseline | baseline | baseline median | rounds × iterations (fastest; baseline) | baseline kind |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, benches in groups.items():
        base = baseline_of(benches)
        info = group_info(name)
        others = [b for b in benches if b is not base and (info is None or info.compare in b["name"])]
        if base is None or not others or is_emulator_group(name) != emulator or (info and not info.timed):
            continue
        best = min(others, key=lambda b: b["stats"]["median"])
        lines.append(
            f"| {info.title if info else name} | `{best['name']}` | {fmt_ratio(best['stats']['median'], base['stats']['median'])} | "
            f"`{base['name']}` | {fmt_time(base['stats']['median'])} | {fmt_rounds(best)}; {fmt_rounds(base)} | "
            f"{info.kind if info else '—'} |"
        )
    return lines + [""] if len(lines) > 2 else []


MEMORY_KEYS = ("bytes_per_level_rss", "rss_MiB", "bytes_per_level_traced", "rss_growth_bytes", "heap_blocks_growth", "traced_growth_bytes")


def render_memory_summary(groups: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Memory figures (from ``extra_info``) of every benchmark that reports any, one row each."""
    rows = []
    for benches in groups.values():
        for bench in benches:
            extra = bench.get("extra_info") or {}
            if any(k in extra for k in MEMORY_KEYS):
                rows.append((bench["name"], extra))
    if not rows:
        return []
    keys = [k for k in MEMORY_KEYS if any(k in extra for _, extra in rows)]
    lines = ["Memory (figures, not timings; details under each group):", "",
             "| benchmark | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, extra in rows:
        lines.append(f"| `{name}` | " + " | ".join(fmt_extra(extra[k]) if k in extra else "" for k in keys) + " |")
    return lines + [""]


def render_node(node: dict[str, Any] | None, reason: str) -> list[str]:
    lines = ["## Node.js SDK (bybit-api), another runtime", ""]
    if node is None:
        return lines + [f"_Not measured: {reason}._", ""]
    lines += [
        f"Measured in-process by `benchmarks/node/bench.js` under node {node.get('node', '?')} with "
        f"bybit-api {node.get('bybit_api', '?')}: **a different runtime**, timed with `process.hrtime`, each "
        "figure the median of its rounds. Compare per operation with the Python groups above, not as a ratio "
        "measured in one process.",
        "",
        "| operation | per op (median) | min | rounds × iterations | what |",
        "|---|---|---|---|---|",
    ]
    for r in node.get("results", []):
        lines.append(
            f"| `{r['name']}` | {fmt_time(r['median_ns'] * 1e-9)} | {fmt_time(r['min_ns'] * 1e-9)} | "
            f"{r['rounds']:,} × {r['iterations']:,} | {r.get('what', '')} |"
        )
    return lines + [""]


def render(
    data: dict[str, Any],
    *,
    machine: dict[str, str],
    versions: dict[str, str],
    commands: list[str],
    node: dict[str, Any] | None,
    node_reason: str,
    elapsed: float,
    quick: bool,
    invocation: str = "python benchmarks/run.py",
) -> str:
    groups = group_benchmarks(data)
    lines = [
        "# bybitfast benchmark results",
        "",
        "Generated by `python benchmarks/run.py` (do not edit by hand: rerun it). Every ratio compares "
        "two figures measured in the same run on the same machine; absolute times depend on the machine.",
        "",
    ]
    if quick:
        lines += ["**Quick run (`--quick`): shortened measurements, noisier figures.**", ""]
    lines += ["## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in machine.items()]
    lines += ["", "## Versions", "", "| package | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in versions.items()]
    lines += ["", "## Command", "", "```sh", invocation, "```", ""]
    lines += ["which ran:", "", "```sh", *commands, "```", "", f"Wall time: {elapsed:.0f} s.", ""]
    lines += [
        "## Summary",
        "",
        "Client comparisons only: each group's baseline is a peer (another library, or the usual "
        "pure-Python code, doing the same job) or a floor (the least work the same job takes); "
        "\"fastest\" is the quickest entry other than the baseline. Ratio = median time / baseline median "
        "(lower is better); what each group measures is under its heading below.",
        "",
        *render_summary(groups),
        *render_memory_summary(groups),
    ]
    client_groups = {k: v for k, v in groups.items() if not is_emulator_group(k)}
    emulator_groups = {k: v for k, v in groups.items() if is_emulator_group(k)}
    if client_groups:
        lines += ["## Groups", ""]
    for name, benches in client_groups.items():
        lines += render_group(name, benches)
    if emulator_groups:
        lines += [
            "## Emulator costs",
            "",
            "The local emulator's own work (a test bench, not a client): each figure beside a floor measured "
            "in the same run, so the ratios say how much the simulation costs, not how fast a client is.",
            "",
            *render_summary(emulator_groups, emulator=True),
        ]
        for name, benches in emulator_groups.items():
            lines += render_group(name, benches)
    lines += render_node(node, node_reason)
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description="Run the bybitfast benchmark suite and write benchmarks/RESULTS.md.",
    )
    parser.add_argument("files", nargs="*", help="benchmark files to run (default: every benchmarks/bench_*.py)")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the Markdown (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="also keep pytest-benchmark's JSON here")
    parser.add_argument("-k", dest="keyword", default=None, help="pytest -k expression selecting benchmarks")
    parser.add_argument("--quick", action="store_true", help="short measurements (smoke run, noisier figures)")
    parser.add_argument("--no-node", action="store_true", help="skip the Node.js SDK comparison")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    for f in args.files:
        if not (ROOT / f).exists() and not Path(f).exists():
            build_parser().error(f"no such benchmark file: {f}")
    started = time.perf_counter()
    machine = machine_info()
    env = dict(os.environ)
    if args.quick:
        env["BYBITFAST_BENCH_QUICK"] = "1"  # benchmarks that size their own workload read this
    with tempfile.TemporaryDirectory() as tmp:
        json_path = args.json.resolve() if args.json else Path(tmp) / "benchmarks.json"
        cmd = pytest_command(json_path, quick=args.quick, keyword=args.keyword, files=args.files)
        rc = run_pytest(cmd, env)
        if not json_path.is_file():
            print(f"pytest exited {rc} without writing benchmark results", file=sys.stderr)
            return rc or 1
        data = json.loads(json_path.read_text())
    commands = [shlex.join(display_command(cmd))]
    if args.no_node:
        node, reason = None, "skipped with --no-node"
    else:
        node = run_node(args.quick)
        reason = "node or bybit-api not installed (`npm install --prefix benchmarks/node`)"
        if node is not None:
            commands.append("node benchmarks/node/bench.js" + (" --quick" if args.quick else ""))
    text = render(
        data,
        machine=machine,
        versions=package_versions(),
        commands=commands,
        node=node,
        node_reason=reason,
        elapsed=time.perf_counter() - started,
        quick=args.quick,
        invocation=shlex.join(["python", "benchmarks/run.py", *argv]),
    )
    args.output.write_text(text)
    print(f"wrote {args.output} ({len(data.get('benchmarks', []))} benchmarks)", flush=True)
    if rc not in (0, 5):
        print(f"warning: pytest exited {rc}; some benchmarks failed (see above)", file=sys.stderr)
    return 0 if rc in (0, 5) else rc


if __name__ == "__main__":
    sys.exit(main())
