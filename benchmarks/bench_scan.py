"""`pleg-doctor scan` of 200 nodes through a fake API server: wall time, peak RSS, connections.

    .venv/bin/python benchmarks/bench_scan.py                    # 200 nodes, 3 runs
    .venv/bin/python benchmarks/bench_scan.py --nodes 1000 --runs 1
    .venv/bin/python benchmarks/bench_scan.py --json-out scan.json

What it does:

1. builds a fake cluster (tests/fakecluster.py): `--blocked` kubelets whose `/metrics` blocks
   while `/healthz` answers (a hung runtime), 4 that answer nothing, 6 scrapes the API server
   refuses (403), 4 it cannot proxy (503), 3 wedged containers, 3 hung runtimes, the rest
   healthy simulated kubelets (about 100 KB of metrics each, gzip on the wire), and serves it
   from a real HTTPS server (tests/fakeserver.py, trustme certificates) in this process;
2. runs `pleg-doctor scan -o json` `--runs` times (checking every node is listed and every
   blocked one as blocked), once more under GNU time for the peak RSS (`%M`);
3. as the baseline, in the same run: `pleg-doctor diagnose --node NAME -o json` of one healthy
   node, the cost of scraping nodes one command at a time.

Printed: the wall time (best, median) against the baseline (per node, and the ratio to running
`diagnose --node` once per node), the floor the deadlines set (the blocked and unreachable
nodes hold a worker for `--timeout` each), the peak RSS (per node and against the baseline's),
and the most requests the server answered at once against `--concurrency`. A measurement, not a
test: it exits 0 (1 only when something could not run at all). The load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(HERE))

from bench_diagnose import child_env  # noqa: E402 - after the sys.path lines

from tests.fakecluster import FakeCluster, build_cluster  # noqa: E402
from tests.fakeserver import CA, SERVER_CERT, TOKEN, FakeServer  # noqa: E402


def _child_env(tmp: Path) -> dict[str, str]:
    """bench_diagnose's environment for the children, without a KUBECONFIG of the machine."""
    env, _ = child_env(tmp / "pycache")
    env.pop("KUBECONFIG", None)
    return env


def _kubeconfig(path: Path, server: str, ca: Path) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "bench",
        "clusters": [
            {"name": "bench", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [{"name": "bench", "user": {"token": TOKEN}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench"}}],
    }
    path.write_text(json.dumps(doc))  # JSON is YAML
    return path


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)
    return time.perf_counter() - started, result


def _rss_kib(
    time_binary: str | None, argv: list[str], env: dict[str, str], out: Path
) -> int | None:
    if time_binary is None:
        return None
    subprocess.run(
        [time_binary, "-f", "%M", "-o", str(out), *argv],
        env=env,
        capture_output=True,
        timeout=900,
        check=False,
    )
    return int(out.read_text().split()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--blocked", type=int, default=12)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=2.0, help="scan --timeout, seconds")
    parser.add_argument("--pleg-doctor", default=str(REPO / ".venv" / "bin" / "pleg-doctor"))
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)
    pleg = args.pleg_doctor if Path(args.pleg_doctor).exists() else shutil.which("pleg-doctor")
    if pleg is None:
        print("pleg-doctor not found: run ./scripts/test.sh first, or pass --pleg-doctor")
        return 1
    time_binary = shutil.which("time") if Path("/usr/bin/time").exists() else None
    time_binary = "/usr/bin/time" if Path("/usr/bin/time").exists() else time_binary
    unreachable, refused, proxy_errors, wedged, hung = 4, 6, 4, 3, 3
    nodes = build_cluster(
        args.nodes,
        blocked=args.blocked,
        unreachable=unreachable,
        refused=refused,
        proxy_errors=proxy_errors,
        wedged=wedged,
        hung=hung,
    )
    healthy = next(node.name for node in nodes if node.kind == "healthy")
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as work:
        tmp = Path(work)
        ca = tmp / "ca.crt"
        CA.cert_pem.write_to_path(str(ca))
        env = _child_env(tmp)
        cluster = FakeCluster(nodes, token=TOKEN)
        with FakeServer(cluster, cert=SERVER_CERT) as server:
            config = _kubeconfig(tmp / "kubeconfig", server.url(""), ca)
            scan = [
                pleg,
                "scan",
                "--kubeconfig",
                str(config),
                "--timeout",
                f"{args.timeout}s",
                "--concurrency",
                str(args.concurrency),
                "-o",
                "json",
            ]
            diagnose = [
                pleg,
                "diagnose",
                "--node",
                healthy,
                "--kubeconfig",
                str(config),
                "-o",
                "json",
            ]
            _run(diagnose, env)  # untimed: fills the bytecode cache
            walls: list[float] = []
            bases: list[float] = []
            actives: list[int] = []
            checked: dict[str, Any] = {}
            for _ in range(args.runs):
                server.max_active = 0
                wall, result = _run(scan, env)
                actives.append(server.max_active)
                if result.returncode not in (0, 1, 2, 3) or not result.stdout.startswith("{"):
                    print(f"scan failed (exit {result.returncode}): {result.stderr.strip()}")
                    return 1
                doc = json.loads(result.stdout)
                listed = {n["node"]: n for n in doc["nodes"]}
                blocked = [n.name for n in nodes if n.kind == "blocked"]
                checked = {
                    "every_node_listed": set(listed) == {n.name for n in nodes},
                    "every_blocked_node_listed_as_blocked": all(
                        listed[name]["causes"][:1]
                        and listed[name]["causes"][0]["id"] == "runtime_hung"
                        and listed[name]["notes"][0].startswith("/metrics blocked")
                        for name in blocked
                    ),
                    "by_scrape": doc["summary"]["by_scrape"],
                }
                walls.append(wall)
                base, _ = _run(diagnose, env)
                bases.append(base)
            rss = _rss_kib(time_binary, scan, env, tmp / "time.out")
            base_rss = _rss_kib(time_binary, diagnose, env, tmp / "time.out")
    load = os.getloadavg()
    best, median = min(walls), sorted(walls)[len(walls) // 2]
    base = min(bases)
    # A blocked node holds a worker for the deadline; an unreachable one for the deadline and
    # the /healthz probe's (at most 5 s). Spread over the workers, that is the least wall time.
    probe = min(5.0, args.timeout)
    held = args.blocked * args.timeout + unreachable * (args.timeout + probe)
    stuck = args.blocked + unreachable
    floor = max(held / args.concurrency, args.timeout + probe if unreachable else args.timeout)
    print(
        f"pleg-doctor scan: {args.nodes} nodes ({args.blocked} blocked, {unreachable} unreachable, "
        f"{refused} refused, {proxy_errors} proxy errors, {wedged + hung} sick), "
        f"--concurrency {args.concurrency}, --timeout {args.timeout:g}s, {args.runs} run(s); "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(
        f"  wall time      best {best:.2f} s, median {median:.2f} s "
        f"({1000 * best / args.nodes:.1f} ms per node)"
    )
    print(
        f"  baseline       diagnose --node of one node: {base:.2f} s; "
        f"once per node: {base * args.nodes:.0f} s -> scan is {best / (base * args.nodes):.3f} of it"
    )
    print(
        f"  deadline floor {floor:.1f} s ({stuck} nodes hold a worker for --timeout, the "
        f"unreachable ones also for the /healthz probe; {args.concurrency} workers) "
        f"-> scan is {best / floor:.2f}x the floor"
    )
    if rss is not None and base_rss is not None:
        print(
            f"  peak RSS       {rss / 1024:.0f} MiB ({rss / args.nodes:.0f} KiB per node); "
            f"diagnose --node: {base_rss / 1024:.0f} MiB -> ratio {rss / base_rss:.2f}"
        )
    else:
        print("  peak RSS       n/a (GNU time not installed)")
    print(
        f"  connections    at most {max(actives)} requests answered at once "
        f"(--concurrency {args.concurrency}): {'within' if max(actives) <= args.concurrency else 'OVER'} the bound"
    )
    print(
        f"  checks         every node listed: {checked['every_node_listed']}; every blocked node "
        f"listed as blocked: {checked['every_blocked_node_listed_as_blocked']}; "
        f"scrapes: {checked['by_scrape']}"
    )
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "nodes": args.nodes,
                    "concurrency": args.concurrency,
                    "timeout_seconds": args.timeout,
                    "load_average": load,
                    "wall_best_seconds": best,
                    "wall_median_seconds": median,
                    "baseline_diagnose_node_seconds": base,
                    "deadline_floor_seconds": floor,
                    "peak_rss_kib": rss,
                    "baseline_peak_rss_kib": base_rss,
                    "max_requests_at_once": max(actives),
                    **checked,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
