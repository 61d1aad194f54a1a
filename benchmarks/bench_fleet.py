"""`pleg-doctor fleet` on 1,000 simulated kubelets in a real Prometheus: wall time, API calls, RSS.

    .venv/bin/python benchmarks/bench_fleet.py                 # 1,000 nodes, 10 min at 30 s
    .venv/bin/python benchmarks/bench_fleet.py --nodes 200     # smaller
    .venv/bin/python benchmarks/bench_fleet.py --json-out fleet.json

What it does:

1. simulates `--nodes` kubelets (tests/promsim.py: healthy ones plus the six sick scenarios of
   the integration test) and writes `--minutes` of OpenMetrics history at `--step` seconds;
2. loads it with `promtool tsdb create-blocks-from openmetrics` and starts Debian's `prometheus`
   on that data dir on a free loopback port;
3. runs `pleg-doctor fleet --prometheus URL --at END -o json` once untimed (it checks the answer:
   every node present, the hung runtime first), then `--runs` times timed, and once more under
   GNU time for the peak RSS (`%M`; `os.wait4` cannot report below this script's own RSS);
4. counts the API calls of each run from Prometheus' own `prometheus_http_requests_total`.

A measurement, not a test: it prints the figures and exits 0 (1 only when something could not
run at all). Machines are noisy; the load average is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from tests.promsim import build_fleet, write_history  # noqa: E402 - after the sys.path line

SICK_NODES = 6
"""build_fleet's sick scenarios: wedged, hung, slow, discards, down, old."""

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


def _child_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SLOWING_ENV}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    env["NO_COLOR"] = "1"
    env["TERM"] = "dumb"
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _query_calls(url: str) -> int:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return round(sum(float(v) for v in _REQUESTS_RE.findall(text)))


@contextlib.contextmanager
def _prometheus(binary: str, data: Path, work: Path) -> Iterator[str]:
    config = work / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n")
    port = _free_port()
    log = work / "prometheus.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=10y",
                "--log.level=warn",
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {log.read_text()[-1000:]}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response,
            ):
                if response.status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"prometheus not ready in 60 s: {log.read_text()[-1000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


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
        timeout=600,
    )
    last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ""
    return int(last) if last.isdigit() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=10.0, help="history length")
    parser.add_argument("--step", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of fleet")
    parser.add_argument("--tmpdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--pleg-doctor", default=str(REPO / ".venv" / "bin" / "pleg-doctor"))
    parser.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    parser.add_argument("--promtool", default=shutil.which("promtool") or "/usr/bin/promtool")
    parser.add_argument("--time", default="/usr/bin/time" if Path("/usr/bin/time").exists() else "")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)

    for name in ("prometheus", "promtool", "pleg_doctor"):
        if not Path(getattr(args, name)).exists():
            print(f"bench_fleet: {name} not found at {getattr(args, name)}", file=sys.stderr)
            return 1
    if args.nodes <= SICK_NODES:
        print(f"bench_fleet: --nodes must be more than {SICK_NODES}", file=sys.stderr)
        return 1

    tmp = Path(tempfile.mkdtemp(prefix="bench-fleet-", dir=args.tmpdir))
    figures: dict[str, Any] = {"nodes": args.nodes, "minutes": args.minutes, "step": args.step}
    try:
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        duration = args.minutes * 60
        end = float((int(time.time()) // 60) * 60 - 60)
        started = time.perf_counter()
        nodes = build_fleet(args.nodes - SICK_NODES, start=end - duration - 300)
        history = tmp / "history.om"
        stats = write_history(nodes, history, end=end, duration=duration, step=args.step)
        figures["generate_seconds"] = time.perf_counter() - started
        figures["openmetrics_mib"] = history.stat().st_size / (1 << 20)
        figures["samples"] = stats.samples
        figures["series"] = stats.series
        print(
            f"history: {len(nodes)} nodes, {stats.series:,} series, {stats.samples:,} samples, "
            f"{figures['openmetrics_mib']:.0f} MiB OpenMetrics in {figures['generate_seconds']:.1f} s"
        )
        data = tmp / "data"
        started = time.perf_counter()
        subprocess.run(
            [args.promtool, "tsdb", "create-blocks-from", "openmetrics", str(history), str(data)],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=1800,
        )
        figures["promtool_seconds"] = time.perf_counter() - started
        print(f"promtool create-blocks-from openmetrics: {figures['promtool_seconds']:.1f} s")
        history.unlink()
        env = _child_env(tmp)
        with _prometheus(args.prometheus, data, tmp) as url:
            command = [
                args.pleg_doctor,
                "fleet",
                "--prometheus",
                url,
                "--at",
                str(end),
                "-o",
                "json",
            ]
            check = subprocess.run(
                command, env=env, capture_output=True, text=True, check=False, timeout=600
            )
            if check.returncode not in (0, 1, 2):
                print(f"bench_fleet: fleet failed ({check.returncode}): {check.stderr}")
                return 1
            doc = json.loads(check.stdout)
            ranked = [n["node"] for n in doc["nodes"]]
            figures["summary"] = doc["summary"]
            print(
                f"answer: {len(ranked)} nodes, first {ranked[0]}, exit {check.returncode}, "
                f"{doc['summary']['by_verdict']}"
            )
            if len(ranked) != args.nodes or ranked[0] != "sick-hung":
                print("bench_fleet: unexpected answer (node count or ranking)")
                return 1
            walls: list[float] = []
            calls: list[int] = []
            for _ in range(args.runs):
                before = _query_calls(url)
                started = time.perf_counter()
                subprocess.run(
                    command,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    check=False,
                    timeout=600,
                )
                walls.append(time.perf_counter() - started)
                calls.append(_query_calls(url) - before)
            rss = _rss_kib(args.time, command, env)
        figures["wall_seconds"] = walls
        figures["api_calls"] = calls
        figures["peak_rss_mib"] = rss / 1024 if rss is not None else None
        print()
        print(f"pleg-doctor fleet --at END -o json on {args.nodes:,} nodes ({args.runs} runs):")
        print(
            f"  wall time     best {min(walls):.2f} s, median {sorted(walls)[len(walls) // 2]:.2f} s"
        )
        print(f"  API calls     {', '.join(map(str, calls))} per run (goal ≤ 20)")
        if rss is not None:
            print(f"  peak RSS      {rss / 1024:.0f} MiB (GNU time %M)")
        else:
            print("  peak RSS      n/a (no GNU time; pass --time PATH)")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.json_out is not None:
            args.json_out.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
