"""`pleg-doctor fleet` on simulated kubelets in a real Prometheus: time, CPU, memory, per node.

    .venv/bin/python benchmarks/bench_fleet.py                         # 1,000 nodes
    .venv/bin/python benchmarks/bench_fleet.py --nodes 1000,3000,10000 # the growth, per node
    .venv/bin/python benchmarks/bench_fleet.py --nodes 200 --json-out fleet.json

For each size:

1. simulates the kubelets (tests/promsim.py: healthy ones plus the six sick scenarios of the
   integration test) and writes `--minutes` of OpenMetrics history at `--step` seconds;
2. loads it with `promtool tsdb create-blocks-from openmetrics` and starts Debian's `prometheus`
   on that data dir on a free loopback port;
3. runs `pleg-doctor fleet --prometheus URL --at END --recorded no -o json` once untimed (it
   checks the answer: every node present, the hung runtime first), then `--runs` times timed:
   wall time, the child's CPU (user + system, `os.wait4`), the API calls (Prometheus' own
   `prometheus_http_requests_total`); once under GNU time for the peak RSS (`%M`: `os.wait4`
   cannot report below this script's own RSS), once with `--debug` for the slowest API call
   (what must stay inside `--timeout`, 30 s by default);
4. then records the measurements of `pleg-doctor rules` over the last minutes of the history
   (`promtool tsdb create-blocks-from rules`, as Prometheus would have while it scraped),
   restarts Prometheus, and measures the same with the rules read (`--recorded auto`).

It prints the figures per node, and the growth exponent of CPU and peak RSS over the sizes
(the slope of log figure over log nodes: 1.0 is linear). A measurement, not a test: it exits 0
(1 only when something could not run at all). Machines are noisy; the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from pleg_doctor.sources.prometheus.recording import (  # noqa: E402 - after the sys.path line
    recording_rules,
)
from pleg_doctor.sources.prometheus.rules import (  # noqa: E402 - after the sys.path line
    RULES_INFO,
    RuleOptions,
)
from tests.promserver import serve  # noqa: E402
from tests.promsim import build_fleet, write_history  # noqa: E402

SICK_NODES = 6
"""build_fleet's sick scenarios: wedged, hung, slow, discards, down, old."""

GOAL_CPU_MS_PER_NODE = 0.8
GOAL_RSS_KIB_PER_NODE = 40.0
GOAL_EXPONENT = 1.05

SLOWING_ENV = (
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONDEVMODE",
    "PYTHONTRACEMALLOC",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONMALLOC",
    "PYTHONWARNINGS",
    "PYTHONPATH",
)
"""Removed from the children's environment (as in bench_diagnose.py): they slow Python down."""

_REQUESTS_RE = re.compile(
    r'^prometheus_http_requests_total\{(?=[^}]*handler="/api/v1/query")[^}]*\} (\S+)$', re.M
)
_ANSWERED_RE = re.compile(r"/api/v1/query answered \d+ [^ ]+ in ([0-9.]+) s")


def _child_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SLOWING_ENV}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    env["NO_COLOR"] = "1"
    env["TERM"] = "dumb"
    return env


def _query_calls(url: str) -> int:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return round(sum(float(v) for v in _REQUESTS_RE.findall(text)))


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU (user + system) of one run of `command`, output discarded."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def _rss_kib(time_binary: str | None, command: list[str], env: dict[str, str]) -> int | None:
    """Peak RSS of `command` in KiB, from GNU time's `%M` (None without GNU time)."""
    if not time_binary:
        return None
    out = subprocess.run(
        [time_binary, "-f", "%M", *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        timeout=900,
    )
    last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ""
    return int(last) if last.isdigit() else None


def _slowest_call(command: list[str], env: dict[str, str]) -> float | None:
    """The longest answer time of one API call, from a `--debug` run's log."""
    out = subprocess.run(
        [*command, "--debug"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        timeout=900,
    )
    times = [float(t) for t in _ANSWERED_RE.findall(out.stderr)]
    return max(times) if times else None


def _measure(
    args: argparse.Namespace, url: str, end: float, env: dict[str, str], recorded: str
) -> dict[str, Any]:
    command = [
        args.pleg_doctor,
        "fleet",
        "--prometheus",
        url,
        "--at",
        str(end),
        "--recorded",
        recorded,
        "-o",
        "json",
    ]
    check = subprocess.run(
        command, env=env, capture_output=True, text=True, check=False, timeout=900
    )
    if check.returncode not in (0, 1, 2):
        raise RuntimeError(f"fleet failed ({check.returncode}): {check.stderr[-2000:]}")
    doc = json.loads(check.stdout)
    ranked = [n["node"] for n in doc["nodes"]]
    if len(ranked) != args.nodes_now or ranked[0] != "sick-hung":
        raise RuntimeError(f"unexpected answer: {len(ranked)} nodes, first {ranked[:1]}")
    walls: list[float] = []
    cpus: list[float] = []
    calls: list[int] = []
    for _ in range(args.runs):
        before = _query_calls(url)
        wall, cpu = _timed(command, env)
        walls.append(wall)
        cpus.append(cpu)
        calls.append(_query_calls(url) - before)
    return {
        "recording_rules": doc["recording_rules"],
        "by_verdict": doc["summary"]["by_verdict"],
        "wall_seconds": walls,
        "cpu_seconds": cpus,
        "api_calls": calls,
        "peak_rss_kib": _rss_kib(args.time, command, env),
        "slowest_call_seconds": _slowest_call(command, env),
        "output_bytes": len(check.stdout.encode()),
    }


def _record_measurements(
    args: argparse.Namespace, url: str, end: float, data: Path, tmp: Path
) -> None:
    """The rules' measurements (and their info series) over the last minutes before `end`, as
    Prometheus evaluating them would have recorded them (promtool evaluates one layer)."""
    rules = recording_rules(RuleOptions(), layers=("measure",), inline=("identity",))
    rules += tuple(r for r in recording_rules(RuleOptions()) if r.record == RULES_INFO)
    lines = ["groups:", "  - name: measures", "    rules:"]
    for rule in rules:
        lines.append(f"      - record: {rule.record}")
        lines.append(f"        expr: {json.dumps(rule.expr)}")
        if rule.labels:
            lines.append("        labels:")
            lines += [f"          {k}: {json.dumps(v)}" for k, v in rule.labels]
    rule_file = tmp / "measures.yml"
    rule_file.write_text("\n".join(lines) + "\n")
    out = tmp / "recorded-blocks"
    subprocess.run(
        [
            args.promtool,
            "tsdb",
            "create-blocks-from",
            "rules",
            f"--url={url}",
            f"--start={end - 120:.0f}",
            f"--end={end + args.step:.0f}",
            f"--eval-interval={args.step:g}s",
            f"--output-dir={out}",
            "--quiet",
            str(rule_file),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=3600,
    )
    for block in out.iterdir():
        if block.is_dir():
            shutil.move(str(block), data / block.name)


def _exponent(sizes: Sequence[int], values: Sequence[float]) -> float | None:
    """The slope of log(value) over log(size), least squares."""
    points = [(math.log(n), math.log(v)) for n, v in zip(sizes, values, strict=True) if v > 0]
    if len(points) < 2:
        return None
    xs, ys = zip(*points, strict=True)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)


def _run_size(args: argparse.Namespace, nodes: int, tmp: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {"nodes": nodes}
    work = tmp / f"n{nodes}"
    work.mkdir()
    duration = args.minutes * 60
    end = float((int(time.time()) // 60) * 60 - 60)
    started = time.perf_counter()
    fleet = build_fleet(nodes - SICK_NODES, start=end - duration - 300)
    history = work / "history.om"
    stats = write_history(fleet, history, end=end, duration=duration, step=args.step)
    figures["generate_seconds"] = time.perf_counter() - started
    figures["series"] = stats.series
    figures["samples"] = stats.samples
    print(
        f"  history: {stats.series:,} series, {stats.samples:,} samples "
        f"({history.stat().st_size / (1 << 20):.0f} MiB) in {figures['generate_seconds']:.0f} s",
        flush=True,
    )
    data = work / "data"
    started = time.perf_counter()
    subprocess.run(
        [args.promtool, "tsdb", "create-blocks-from", "openmetrics", str(history), str(data)],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=7200,
    )
    history.unlink()
    print(f"  promtool: {time.perf_counter() - started:.0f} s", flush=True)
    env = _child_env(tmp)
    args.nodes_now = nodes
    with serve(data, work, prometheus=args.prometheus, ready_timeout_seconds=120) as url:
        figures["computed"] = _measure(args, url, end, env, "no")
        _print_mode(nodes, "computed", figures["computed"])
        if args.rules:
            _record_measurements(args, url, end, data, work)
    if args.rules:
        with serve(data, work, prometheus=args.prometheus, ready_timeout_seconds=120) as url:
            figures["recorded"] = _measure(args, url, end, env, "auto")
            _print_mode(nodes, "recorded", figures["recorded"])
    return figures


def _print_mode(nodes: int, mode: str, figures: dict[str, Any]) -> None:
    walls, cpus = figures["wall_seconds"], figures["cpu_seconds"]
    rss = figures["peak_rss_kib"]
    print(
        f"  {mode:<9} wall best {min(walls):.2f} s (median {statistics.median(walls):.2f}), "
        f"CPU {min(cpus):.2f} s = {min(cpus) / nodes * 1000:.3f} ms/node, "
        + (f"peak RSS {rss / 1024:.0f} MiB = {rss / nodes:.1f} KiB/node, " if rss else "")
        + f"API calls {figures['api_calls'][0]}, slowest call "
        + (f"{figures['slowest_call_seconds']:.2f} s" if figures["slowest_call_seconds"] else "n/a")
        + f", recording_rules {figures['recording_rules']}",
        flush=True,
    )


def _summary(results: Sequence[dict[str, Any]]) -> None:
    sizes = [r["nodes"] for r in results]
    print(
        "\nper node (best run)         " + "".join(f"{n:>12,}" for n in sizes) + "   exponent  goal"
    )
    for mode in ("computed", "recorded"):
        if not all(mode in r for r in results):
            continue
        cpu = [min(r[mode]["cpu_seconds"]) for r in results]
        rss = [r[mode]["peak_rss_kib"] or 0 for r in results]
        wall = [min(r[mode]["wall_seconds"]) for r in results]
        slow = [r[mode]["slowest_call_seconds"] or 0.0 for r in results]
        rows = (
            (
                "CPU ms/node",
                [c / n * 1000 for c, n in zip(cpu, sizes, strict=True)],
                cpu,
                f"≤ {GOAL_CPU_MS_PER_NODE} ms, ≤ {GOAL_EXPONENT}",
            ),
            (
                "peak RSS KiB/node",
                [m / n for m, n in zip(rss, sizes, strict=True)],
                rss,
                f"≤ {GOAL_RSS_KIB_PER_NODE:g} KiB, ≤ {GOAL_EXPONENT}",
            ),
            ("wall s", wall, wall, ""),
            ("slowest API call s", slow, slow, "< 30 s (--timeout)"),
        )
        print(f"{mode}:")
        for label, per_node, totals, goal in rows:
            exponent = _exponent(sizes, totals) if "node" in label else None
            print(
                f"  {label:<26}"
                + "".join(f"{v:>12.3f}" for v in per_node)
                + (f"   {exponent:8.3f}" if exponent is not None else " " * 11)
                + f"  {goal}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", default="1000", help="sizes, comma-separated: 1000,3000,10000")
    parser.add_argument("--minutes", type=float, default=10.0, help="history length")
    parser.add_argument("--step", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of fleet per mode")
    parser.add_argument("--no-rules", dest="rules", action="store_false", help="skip rules mode")
    parser.add_argument("--tmpdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--pleg-doctor", default=str(REPO / ".venv" / "bin" / "pleg-doctor"))
    parser.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    parser.add_argument("--promtool", default=shutil.which("promtool") or "/usr/bin/promtool")
    parser.add_argument("--time", default="/usr/bin/time" if Path("/usr/bin/time").exists() else "")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.nodes.split(",") if n.strip()]
    for name in ("prometheus", "promtool", "pleg_doctor"):
        if not Path(getattr(args, name)).exists():
            print(f"bench_fleet: {name} not found at {getattr(args, name)}", file=sys.stderr)
            return 1
    if min(sizes) <= SICK_NODES:
        print(f"bench_fleet: --nodes must be more than {SICK_NODES}", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-fleet-", dir=args.tmpdir))
    results: list[dict[str, Any]] = []
    try:
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for nodes in sizes:
            print(
                f"{nodes:,} nodes ({args.minutes:g} min of history at {args.step:g} s):", flush=True
            )
            try:
                results.append(_run_size(args, nodes, tmp))
            except (RuntimeError, subprocess.SubprocessError) as exc:
                print(f"bench_fleet: {nodes} nodes: {exc}", file=sys.stderr)
                return 1
        _summary(results)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.json_out is not None:
            args.json_out.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
