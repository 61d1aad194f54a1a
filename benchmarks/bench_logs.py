"""`pleg-doctor logs` on a generated 1 GiB kubelet log: throughput and peak memory, vs grep.

    .venv/bin/python benchmarks/bench_logs.py              # 1 GiB log (about 1-2 min in all)
    .venv/bin/python benchmarks/bench_logs.py --quick      # 100 MiB
    .venv/bin/python benchmarks/bench_logs.py --log BIG    # bring your own log

The generated log mixes every format the parser reads (journald + glog, short-precise +
structured klog, `kubenswrapper`, syslog without a pid, `--logging-format=json` with a node
prefix) with foreign lines (systemd, containerd's logfmt, the VPC CNI's JSON). It is mostly
noise; about one line in a thousand is a PLEG line: a series of incidents, each a container
whose ContainerStatus times out, a run of `PLEG is not healthy` lines with consistent ages, a
NotReady, a failed relist.

Figures, each against a baseline run on the same file in the same run (the page cache is warm:
the file was just written):

* throughput: lines/s of `pleg-doctor logs BIG -o json` (best of N) against `grep -c PLEG BIG`
  (best of N), the floor: grep does the least any tool can do with the file, one pass of
  C string search;
* peak RSS of `pleg-doctor logs` (GNU time `%M`), goal < 100 MiB: the log streams, it is never
  loaded;
* a check that the analysis saw every line and every generated incident.

Nothing here asserts a wall time (machines are noisy); it prints the figures and always exits 0.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV_BIN = REPO / ".venv" / "bin"
MIB = 1 << 20
RSS_GOAL_MIB = 100
DEADLINE = "rpc error: code = DeadlineExceeded desc = context deadline exceeded"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ---------------------------------------------------------------------------------------------
# The log


def _noise_templates() -> list[tuple[str, str]]:
    """(glog free text, structured body) pairs of everyday kubelet noise."""
    return [
        (
            'operationExecutor.VerifyControllerAttachedVolume started for volume "kube-api-access-x7k2p"',
            '"operationExecutor.VerifyControllerAttachedVolume started for volume" '
            'volume="kube-api-access-x7k2p" pod="default/web-7d9c9c8d8b-q2lzj"',
        ),
        (
            'Readiness probe for "web-7d9c9c8d8b-q2lzj_default(8c0e)" succeeded',
            '"Probe succeeded" probeType="Readiness" pod="default/web-7d9c9c8d8b-q2lzj"',
        ),
        (
            'MountVolume.SetUp succeeded for volume "config" (UniqueName: "kubernetes.io/configmap/8c0e-config")',
            '"MountVolume.SetUp succeeded for volume" volume="config" pod="default/web-1"',
        ),
        (
            "Status for pod web-1 updated successfully: (3, {Phase:Running})",
            '"Patch status for pod" pod="default/web-1" podUID="8c0e" patch="{}"',
        ),
        (
            'Path "/var/lib/kubelet/pods/8c0e/volumes" does not exist',
            '"Path does not exist" path="/var/lib/kubelet/pods/8c0e/volumes"',
        ),
        (
            'SyncLoop (probe): "web-1_default(8c0e)" readiness status "ready"',
            '"SyncLoop (probe)" probe="readiness" status="ready" pod="default/web-1"',
        ),
    ]


FOREIGN = [
    "systemd[1]: Started Session 4242 of user root.",
    'containerd[812]: time="2026-03-10T10:00:00.000000000Z" level=info msg="ImageCreate event"',
    'kubelet: {"level":"info","ts":"2026-03-10T10:00:00.000Z","caller":"/usr/local/go/src/'
    'runtime/proc.go:203","msg":"CNI Plugin version: v1.7.5 ..."}',
    "kernel: [123456.789] IPv6: ADDRCONF(NETDEV_CHANGE): veth1234: link becomes ready",
]


def generate(path: Path, size_bytes: int, *, seed: int = 7) -> dict[str, int]:
    """Write a mixed-format kubelet log of about `size_bytes`; return what it holds."""
    rng = random.Random(seed)
    noise = _noise_templates()
    pid = 2101
    lines = 0
    incidents = 0
    written = 0
    t = 0.0  # seconds since 2026-03-10 00:00:00 (local time)
    next_incident = 300.0
    buf: list[str] = []
    base_day = 68  # day-of-year index of March 10, 2026 (0-based)

    def stamp(seconds: float) -> tuple[str, str, str, float]:
        day = base_day + int(seconds // 86400)
        month_days = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
        month = 0
        while day >= month_days[month]:
            day -= month_days[month]
            month += 1
        sod = seconds % 86400
        h, rem = divmod(int(sod), 3600)
        m, s = divmod(rem, 60)
        us = int((sod % 1) * 1e6)
        klog = f"{month + 1:02d}{day + 1:02d} {h:02d}:{m:02d}:{s:02d}.{us:06d}"
        journal = f"{MONTHS[month]} {day + 1:02d} {h:02d}:{m:02d}:{s:02d}"
        precise = f"{journal}.{us:06d}"
        epoch = 1773100800.0 + seconds  # 2026-03-10T00:00:00Z
        return klog, journal, precise, epoch

    def emit(kind: str, severity: str, caller: str, glog: str, structured: str) -> None:
        nonlocal lines
        klog, journal, precise, epoch = stamp(t)
        fmt = rng.random()
        if fmt < 0.40:
            line = f"{journal} node-1 kubelet[{pid}]: {severity}{klog} {pid:>7} {caller}] {glog}"
        elif fmt < 0.65:
            line = (
                f"{precise} node-1 kubelet[{pid}]: {severity}{klog} {pid:>7} {caller}] {structured}"
            )
        elif fmt < 0.75:
            line = f"{journal} node-1 kubenswrapper[{pid}]: {severity}{klog} {pid:>7} {caller}] {structured}"
        elif fmt < 0.85:
            line = f"{journal} node-1 kubelet: {severity}{klog} {pid:>7} {caller}] {glog}"
        else:
            message, _, rest = structured[1:].partition('" ')
            fields = {}
            for part in rest.split('" '):
                key, _, value = part.partition('="')
                if key:
                    fields[key] = value.rstrip('"')
            record = {"ts": round(epoch * 1000, 3), "caller": f"kubelet/{caller}", "msg": message}
            record.update(fields)
            line = "10.0.0.7: " + json.dumps(record, separators=(",", ":"))
        buf.append(line)
        lines += 1

    while written < size_bytes:
        t += rng.expovariate(120.0)  # ~120 lines per second of log time
        if rng.random() < 0.06:
            _, journal, _, _ = stamp(t)
            buf.append(f"{journal} node-1 {rng.choice(FOREIGN)}")
            lines += 1
        else:
            glog, structured = rng.choice(noise)
            emit("noise", "I", "reconciler_common.go:245", glog, structured)
        if t >= next_incident:
            incidents += 1
            cid = f"{incidents:04x}" * 16
            anchor = t
            t += 120.0
            emit(
                "cs",
                "E",
                "remote_runtime.go:432",
                f'ContainerStatus "{cid}" from runtime service failed: {DEADLINE}',
                f'"ContainerStatus from runtime service failed" err="{DEADLINE}" containerID="{cid}"',
            )
            t = anchor + 183.0
            for i in range(30):
                age = t - anchor
                text = (
                    f"PLEG is not healthy: pleg was last seen active {int(age // 60)}m"
                    f"{age % 60:.6f}s ago; threshold is 3m0s"
                )
                emit(
                    "health",
                    "E",
                    "kubelet.go:2355",
                    f"skipping pod synchronization - {text}",
                    f'"Skipping pod synchronization" err="{text}"',
                )
                if i == 2:
                    emit(
                        "notready",
                        "I",
                        "setters.go:549",
                        f"Node became not ready: {{Type:Ready Status:False Reason:KubeletNotReady Message:{text}}}",
                        f'"Node became not ready" node="node-1" condition={{Type:Ready Status:False Reason:KubeletNotReady Message:{text}}}',
                    )
                if i == 10:
                    emit(
                        "relist",
                        "E",
                        "generic.go:256",
                        f"GenericPLEG: Unable to retrieve pods: {DEADLINE}",
                        f'"GenericPLEG: Unable to retrieve pods" err="{DEADLINE}"',
                    )
                t += 5.0
            t += 60.0
            next_incident = t + rng.uniform(300.0, 900.0)
        if len(buf) >= 5_000:
            block = "\n".join(buf) + "\n"
            buf.clear()
            with path.open("a", encoding="utf-8") as handle:
                handle.write(block)
            written += len(block)
    if buf:
        with path.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(buf) + "\n")
    return {"lines": lines, "incidents": incidents}


# ---------------------------------------------------------------------------------------------
# Measuring


def timed(argv: list[str], *, time_bin: str | None) -> tuple[float, int | None, bytes, int]:
    """(wall seconds, peak RSS KiB or None, stdout, exit code) of one run."""
    rss: int | None = None
    with tempfile.NamedTemporaryFile(suffix=".time") as out:
        full = [time_bin, "-f", "%M", "-o", out.name, *argv] if time_bin else argv
        start = time.perf_counter()
        proc = subprocess.run(full, capture_output=True, check=False)
        wall = time.perf_counter() - start
        if time_bin:
            text = Path(out.name).read_text().strip().splitlines()
            rss = int(text[-1]) if text and text[-1].isdigit() else None
    return wall, rss, proc.stdout, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 100 MiB log instead of 1 GiB")
    parser.add_argument("--size-mb", type=int, help="log size in MiB (default 1024; --quick 100)")
    parser.add_argument("--log", type=Path, help="measure this log instead of generating one")
    parser.add_argument(
        "--repeat", type=int, help="runs per command, best taken (default 3; 2 for 1 GiB)"
    )
    parser.add_argument("--tmpdir", type=Path, help="where to write the generated log")
    parser.add_argument("--keep", action="store_true", help="keep the generated log")
    parser.add_argument("--pleg-doctor", default=str(VENV_BIN / "pleg-doctor"))
    parser.add_argument("--time", default="/usr/bin/time", help="GNU time, for peak RSS")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)

    size_mb = args.size_mb or (100 if args.quick else 1024)
    repeat = args.repeat or (3 if size_mb <= 200 else 2)
    time_bin = args.time if Path(args.time).exists() else None
    tmp = Path(tempfile.mkdtemp(prefix="bench-logs-", dir=args.tmpdir))
    try:
        if args.log is not None:
            log = args.log
            expected: dict[str, int] | None = None
        else:
            log = tmp / "kubelet.log"
            start = time.perf_counter()
            expected = generate(log, size_mb * MIB)
            print(
                f"generated {log.stat().st_size / MIB:,.0f} MiB, {expected['lines']:,} lines, "
                f"{expected['incidents']} incidents in {time.perf_counter() - start:.1f} s"
            )
        size = log.stat().st_size
        grep = shutil.which("grep") or "grep"
        pleg = [args.pleg_doctor, "logs", str(log), "-o", "json", "--exit-zero"]
        if not Path(args.pleg_doctor).exists():
            pleg = [sys.executable, "-m", "pleg_doctor", *pleg[1:]]
        grep_runs = []
        pleg_runs = []
        doc: dict[str, object] = {}
        for _ in range(repeat):  # alternate, so both see the same machine state
            grep_runs.append(timed([grep, "-c", "PLEG", str(log)], time_bin=time_bin))
            wall, rss, out, code = timed(pleg, time_bin=time_bin)
            pleg_runs.append((wall, rss, out, code))
            if code != 0:
                print(f"pleg-doctor exited {code}: {out[:200]!r}")
                return 0
            doc = json.loads(out)
        grep_wall = min(r[0] for r in grep_runs)
        pleg_wall = min(r[0] for r in pleg_runs)
        lines = int(doc["lines_read"])  # type: ignore[call-overload]
        pleg_rss = max((r[1] or 0) for r in pleg_runs) / 1024
        grep_rss = max((r[1] or 0) for r in grep_runs) / 1024
        figures = {
            "log_mib": round(size / MIB, 1),
            "lines": lines,
            "grep_seconds": round(grep_wall, 3),
            "grep_lines_per_second": round(lines / grep_wall),
            "pleg_doctor_seconds": round(pleg_wall, 3),
            "pleg_doctor_lines_per_second": round(lines / pleg_wall),
            "pleg_doctor_mib_per_second": round(size / MIB / pleg_wall, 1),
            "ratio_time_pleg_doctor_over_grep": round(pleg_wall / grep_wall, 1),
            "pleg_doctor_peak_rss_mib": round(pleg_rss, 1) if time_bin else None,
            "grep_peak_rss_mib": round(grep_rss, 1) if time_bin else None,
            "unhealthy_periods": len(doc["unhealthy_periods"]),  # type: ignore[arg-type]
            "culprits": len(doc["culprits"]),  # type: ignore[arg-type]
        }
        print(f"log: {figures['log_mib']:,} MiB, {lines:,} lines ({repeat} runs each, best)")
        print(
            f"  grep -c PLEG      {grep_wall:7.2f} s  {lines / grep_wall:14,.0f} lines/s   "
            f"peak RSS {grep_rss:6.1f} MiB"
        )
        print(
            f"  pleg-doctor logs  {pleg_wall:7.2f} s  {lines / pleg_wall:14,.0f} lines/s   "
            f"peak RSS {pleg_rss:6.1f} MiB   ({size / MIB / pleg_wall:,.0f} MiB/s)"
        )
        print(f"  ratio pleg-doctor / grep (time): {pleg_wall / grep_wall:.1f}x")
        if time_bin:
            verdict = "PASS" if pleg_rss < RSS_GOAL_MIB else "MISS"
            print(f"  peak RSS goal < {RSS_GOAL_MIB} MiB: {verdict}")
        else:
            print("  peak RSS: GNU time not found (--time PATH)")
        if expected is not None:
            ok = (
                lines == expected["lines"] and figures["unhealthy_periods"] == expected["incidents"]
            )
            print(
                f"  check: {lines:,} of {expected['lines']:,} lines read, "
                f"{figures['unhealthy_periods']} of {expected['incidents']} incidents found, "
                f"{figures['culprits']} culprits: {'PASS' if ok else 'MISS'}"
            )
        if args.json_out is not None:
            args.json_out.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        if args.keep and args.log is None:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
