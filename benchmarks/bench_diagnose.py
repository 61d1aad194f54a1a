"""The performance figures pleg-doctor reports, as ratios to baselines measured in the same run.

    .venv/bin/python benchmarks/bench_diagnose.py            # full run (about 20 s)
    .venv/bin/python benchmarks/bench_diagnose.py --quick    # smoke run, small dumps

Figures (benchmarks/README.md says what each one means):

a. `pleg-doctor diagnose BIG -o json` vs `promtool check metrics < BIG` on a 100 MiB dump, wall
   time, best of 3, alternating; goal ratio <= 0.5. Peak RSS of pleg-doctor; goal < 100 MiB.
b. `pleg-doctor diagnose SMALL -o json` vs a Python process that parses the same 1 MiB dump with
   prometheus_client, best of 5; goal ratio < 0.5.
c. `pleg-doctor --version` vs `python -c pass`, best of 10; goal ratio <= 4.
d. `pleg-doctor diagnose BIG.gz -o json`: wall time (against the plain file, for information) and
   peak RSS (goal < 100 MiB).

Machines are noisy, so nothing here asserts a wall time: it prints figures, ratios against
baselines run interleaved with them, and PASS/MISS against the goals, and it always exits 0.
Every child runs with the venv's interpreter. Peak RSS is measured in extra untimed runs under
GNU time (`%M`), not from `os.wait4`, whose figure cannot go below this script's own RSS (see
`Runner.rss_kib`); without /usr/bin/time it falls back to `os.wait4` and says so.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV_BIN = REPO / ".venv" / "bin"
MIB = 1 << 20

# Variables that would make a child Python slower than a user's (no bytecode cache, dev mode,
# tracing) or change what it imports. They are removed from the children's environment.
SLOWING_ENV = (
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONDEVMODE",
    "PYTHONTRACEMALLOC",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONMALLOC",
    "PYTHONMALLOCSTATS",
    "PYTHONASYNCIODEBUG",
    "PYTHONSTARTUP",
    "PYTHONINSPECT",
    "PYTHONVERBOSE",
    "PYTHONWARNINGS",
    "PYTHONPATH",
    "PYTHONHOME",
)

# Figure b's baseline: the whole dump through prometheus_client's parser, in a fresh process.
PARSE_BASELINE = (
    "import sys, prometheus_client.parser as p; "
    "list(p.text_string_to_metric_families(open(sys.argv[1]).read()))"
)

# diagnose exits with the verdict (0 ok, 1 warning, 2 critical); 3 is UNKNOWN / error.
DIAGNOSE_OK_CODES = frozenset({0, 1, 2})
# promtool check metrics: 0 parsed and lint-clean, 3 parsed with lint problems, 1 parse error.
PROMTOOL_OK_CODES = frozenset({0, 3})


# ---------------------------------------------------------------------------------------------
# Running and timing children


@dataclass(frozen=True)
class Run:
    """One child process: wall time, peak resident set and exit code."""

    wall_s: float
    maxrss_kib: int
    returncode: int


@dataclass(frozen=True)
class Command:
    """A command line, with the file its stdin reads (promtool reads the dump from stdin)."""

    label: str
    argv: tuple[str, ...]
    stdin: Path | None = None


@dataclass
class Runner:
    """Runs children in a fixed environment and times them."""

    env: dict[str, str]
    cwd: Path
    tmp: Path
    time_bin: str | None  # GNU time, for peak RSS; None: os.wait4's figure, floored (see rss_kib)

    def run(self, cmd: Command, *, stdout: Path | None = None, stderr: Path | None = None) -> Run:
        """Run `cmd` to completion; its output goes to DEVNULL unless a file is given."""
        with ExitStack() as stack:

            def open_or_null(path: Path | None, mode: str) -> Any:
                return subprocess.DEVNULL if path is None else stack.enter_context(open(path, mode))

            fin = open_or_null(cmd.stdin, "rb")
            fout = open_or_null(stdout, "wb")
            ferr = open_or_null(stderr, "wb")
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                cmd.argv, stdin=fin, stdout=fout, stderr=ferr, env=self.env, cwd=self.cwd
            )
            # wait4 reaps the child and returns its own rusage, so ru_maxrss is this child's peak
            # RSS (KiB on Linux); RUSAGE_CHILDREN would be the maximum over every child so far.
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        return Run(wall_s=wall, maxrss_kib=int(usage.ru_maxrss), returncode=proc.returncode)

    def rss_kib(self, cmd: Command) -> int:
        """Peak RSS of one run of `cmd`, in KiB.

        NOTE: a child's ru_maxrss, as os.wait4 returns it, is never below its parent's RSS at
        the moment of the spawn: Python spawns with vfork (or fork), and Linux carries the
        address space's high-water mark over exec. For a Python parent that floor is 10-20
        MiB, so the peak is read from GNU time (`%M`), whose own few MiB are the floor instead.
        Without it, os.wait4's figure is used and `rss_method()` says so.
        """
        if self.time_bin is None:
            return self.run(cmd).maxrss_kib
        out = self.tmp / "time.out"
        self.run(
            Command(cmd.label, (self.time_bin, "-f", "%M", "-o", str(out), *cmd.argv), cmd.stdin)
        )
        # time writes "Command exited with non-zero status N" first when the child fails.
        return int(out.read_text().split()[-1])

    def rss_method(self) -> str:
        if self.time_bin is not None:
            return f"{self.time_bin} -f %M (peak RSS of the child, floor: time's own ~1 MiB)"
        floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return f"os.wait4 ru_maxrss: floored at this script's own RSS, {floor:.0f} MiB"


@dataclass
class Series:
    """Repeated runs of one command."""

    cmd: Command
    runs: list[Run] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)  # KiB, from Runner.rss_kib

    @property
    def best_s(self) -> float:
        return min(r.wall_s for r in self.runs)

    @property
    def median_s(self) -> float:
        walls = sorted(r.wall_s for r in self.runs)
        return walls[len(walls) // 2]

    @property
    def maxrss_mib(self) -> float:
        """The largest peak RSS seen: from the RSS runs, else from the timed runs' os.wait4."""
        return max(self.rss or [r.maxrss_kib for r in self.runs]) / 1024

    @property
    def codes(self) -> list[int]:
        return sorted({r.returncode for r in self.runs})

    def stats(self) -> dict[str, Any]:
        return {
            "command": self.cmd.label,
            "best_s": self.best_s,
            "median_s": self.median_s,
            "maxrss_mib": self.maxrss_mib,
            "exit_codes": self.codes,
            "walls_s": [r.wall_s for r in self.runs],
            "rss_kib": self.rss,
        }


def measure(
    runner: Runner, commands: Sequence[Command | None], repeat: int, *, rss: bool = False
) -> list[Series | None]:
    """Run each command `repeat` times, alternating (A B A B ...); `None` entries are skipped.

    With `rss`, each timed run is followed by an untimed one that measures peak RSS.
    """
    series = [None if c is None else Series(c) for c in commands]
    for _ in range(repeat):
        for s in series:
            if s is not None:
                s.runs.append(runner.run(s.cmd))
                if rss:
                    s.rss.append(runner.rss_kib(s.cmd))
    return series


# ---------------------------------------------------------------------------------------------
# Figures


@dataclass(frozen=True)
class Goal:
    """`value < limit` (strict) or `value <= limit`."""

    limit: float
    strict: bool
    unit: str = ""

    @property
    def text(self) -> str:
        return (
            f"{'<' if self.strict else '<='} {self.limit:g}{' ' + self.unit if self.unit else ''}"
        )

    def met(self, value: float) -> bool:
        return value < self.limit if self.strict else value <= self.limit


@dataclass(frozen=True)
class Figure:
    """One reported row."""

    key: str
    title: str
    value: str
    baseline: str
    ratio: float | None
    goal: str
    result: str  # PASS, MISS, ERROR (pleg-doctor failed, see notes), INFO or n/a
    raw: dict[str, Any]


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.3f} s"


def verdict(ok: bool, goal: Goal | None, value: float) -> str:
    if not ok:
        return "ERROR"
    if goal is None:
        return "INFO"
    return "PASS" if goal.met(value) else "MISS"


def time_figure(
    key: str, title: str, subject: Series | None, base: Series | None, goal: Goal | None, ok: bool
) -> Figure:
    """Best wall time of `subject` against `base`, judged on their ratio."""
    ratio = subject.best_s / base.best_s if subject and base else None
    return Figure(
        key=key,
        title=title,
        value=fmt_s(subject.best_s) if subject else "-",
        baseline=fmt_s(base.best_s) if base else "-",
        ratio=ratio,
        goal=goal.text if goal else "-",
        result="n/a" if ratio is None else verdict(ok, goal, ratio),
        raw={
            "ratio": ratio,
            "subject": subject.stats() if subject else None,
            "baseline": base.stats() if base else None,
        },
    )


def rss_figure(
    key: str, title: str, subject: Series | None, other: Series | None, goal: Goal, ok: bool
) -> Figure:
    """Peak RSS of `subject` (max over its runs), with `other`'s shown for scale."""
    value = subject.maxrss_mib if subject else None
    return Figure(
        key=key,
        title=title,
        value="-" if value is None else f"{value:.1f} MiB",
        baseline=f"{other.maxrss_mib:.1f} MiB ({other.cmd.label})" if other else "-",
        ratio=None,
        goal=goal.text,
        result="n/a" if value is None else verdict(ok, goal, value),
        raw={
            "maxrss_mib": value,
            "other_maxrss_mib": other.maxrss_mib if other else None,
        },
    )


def print_table(figures: Sequence[Figure]) -> None:
    headers = ("figure", "pleg-doctor", "baseline", "ratio", "goal", "result")
    rows = [
        (
            f"{f.key}  {f.title}",
            f.value,
            f.baseline,
            "-" if f.ratio is None else f"{f.ratio:.2f}",
            f.goal,
            f.result,
        )
        for f in figures
    ]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for r in [headers, tuple("-" * w for w in widths), *rows]:
        print("  ".join(f"{cell:<{w}}" for cell, w in zip(r, widths, strict=True)).rstrip())


# ---------------------------------------------------------------------------------------------
# Set-up: dumps, commands, sanity checks


@dataclass(frozen=True)
class Check:
    """What the untimed warm-up run of a diagnose command showed."""

    ok: bool
    detail: str


def check_diagnose(runner: Runner, cmd: Command, tmp: Path, tag: str) -> Check:
    """Run `cmd` once, untimed: is stdout JSON with a `verdict`, and is the exit 0, 1 or 2?"""
    out, err = tmp / f"{tag}.stdout", tmp / f"{tag}.stderr"
    run = runner.run(cmd, stdout=out, stderr=err)
    problems: list[str] = []
    found: object = None
    try:
        doc = json.loads(out.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        problems.append(f"stdout is not JSON ({exc})")
    else:
        if isinstance(doc, dict) and "verdict" in doc:
            found = doc["verdict"]
        else:
            problems.append("the JSON has no 'verdict' field")
    if run.returncode not in DIAGNOSE_OK_CODES:
        problems.append(
            f"exit {run.returncode}" + (" (3 = UNKNOWN/error)" if run.returncode == 3 else "")
        )
    if problems:
        tail = err.read_text(errors="replace").strip().splitlines()[-5:]
        return Check(False, "; ".join(problems) + ("; stderr: " + " | ".join(tail) if tail else ""))
    return Check(True, f"verdict={found!r}, exit {run.returncode}")


def find_pleg(explicit: str | None, python: str) -> tuple[str, ...] | None:
    """The pleg-doctor command: --pleg-doctor, the venv's console script, or `python -m`."""
    if explicit:
        found = shutil.which(explicit)
        return (found,) if found else None
    script = VENV_BIN / "pleg-doctor"
    if script.exists():
        return (str(script),)
    if (REPO / "pleg_doctor" / "__main__.py").exists():
        return (python, "-m", "pleg_doctor")
    return None


def child_env(pycache: Path) -> tuple[dict[str, str], list[str]]:
    """The environment children run in, and the variables removed from ours."""
    env = dict(os.environ)
    removed = [name for name in SLOWING_ENV if env.pop(name, None) is not None]
    # Bytecode is cached, as it is for an installed tool, but outside the work tree.
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env["NO_COLOR"] = "1"
    env["TERM"] = "dumb"
    return env, removed


def generate(python: str, size_mb: float, path: Path, seed: int) -> float:
    """Write a dump with gen_dump.py; returns the seconds it took."""
    t0 = time.perf_counter()
    argv = [python, str(HERE / "gen_dump.py"), "--size-mb", str(size_mb), "-o", str(path)]
    subprocess.run([*argv, "--seed", str(seed), "--quiet"], check=True)
    return time.perf_counter() - t0


def gzip_file(src: Path, dst: Path) -> None:
    with (
        open(src, "rb") as fin,
        open(dst, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz,
    ):
        shutil.copyfileobj(fin, gz, 1 << 20)


def mib(path: Path) -> str:
    size = path.stat().st_size / MIB
    return f"{size:.0f} MiB" if size >= 10 else f"{size:.2f} MiB"


# ---------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="pleg-doctor performance figures (ratios against same-run baselines).",
        epilog="Always exits 0: it measures, it does not test.",
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 5 / 0.25 MiB, fewer repeats")
    p.add_argument(
        "--dump", type=Path, help="plain-text dump to use as the big one (else generated)"
    )
    p.add_argument("--big-mb", type=float, help="size of the generated big dump (default 100)")
    p.add_argument("--small-mb", type=float, help="size of the small dump (default 1)")
    p.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    p.add_argument("--python", help="interpreter for children (default: the repo's .venv)")
    p.add_argument(
        "--pleg-doctor",
        dest="pleg",
        help="pleg-doctor executable (default: .venv/bin/pleg-doctor, else python -m pleg_doctor)",
    )
    p.add_argument("--promtool", default=shutil.which("promtool") or "/usr/bin/promtool")
    p.add_argument(
        "--time",
        dest="time_bin",
        default="/usr/bin/time",
        help="GNU time, for peak RSS ('' to use os.wait4, whose figure has a floor)",
    )
    p.add_argument("--tmpdir", type=Path, help="where the dumps are written (default: system tmp)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--json-out", type=Path, help="also write the figures as JSON to this file")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    big_mb = args.big_mb if args.big_mb is not None else (5.0 if args.quick else 100.0)
    small_mb = args.small_mb if args.small_mb is not None else (0.25 if args.quick else 1.0)
    n_a, n_b, n_c, n_d = (1, 2, 3, 1) if args.quick else (3, 5, 10, 3)

    venv_python = VENV_BIN / "python"
    python = args.python or (str(venv_python) if venv_python.exists() else sys.executable)
    notes: list[str] = []
    if args.python is None and not venv_python.exists():
        notes.append(f"{venv_python} not found: children ran {python}")
    pleg = find_pleg(args.pleg, python)
    promtool = args.promtool if shutil.which(args.promtool) else None
    if pleg is None:
        notes.append("pleg-doctor not found: only the baselines were measured")
    if promtool is None:
        notes.append(f"promtool not found ({args.promtool}): figure a has no baseline")

    tmp = Path(tempfile.mkdtemp(prefix="pleg-bench-", dir=args.tmpdir))
    env, removed = child_env(tmp / "pycache")
    time_bin = args.time_bin if args.time_bin and shutil.which(args.time_bin) else None
    runner = Runner(env=env, cwd=REPO, tmp=tmp, time_bin=time_bin)
    load_before = os.getloadavg()
    try:
        # -- dumps
        if args.dump is not None:
            big, big_note = args.dump.resolve(), "--dump"
        else:
            big = tmp / "big.prom"
            big_note = f"generated in {generate(python, big_mb, big, args.seed):.2f} s"
        small = tmp / "small.prom"
        small_note = f"generated in {generate(python, small_mb, small, args.seed):.2f} s"
        big_gz = tmp / "big.prom.gz"
        gzip_file(big, big_gz)

        print(
            "pleg-doctor benchmarks" + ("  [--quick: smoke run, small dumps]" if args.quick else "")
        )
        print(f"  python      {python} ({platform.python_version()}), {os.cpu_count()} CPUs")
        print(f"  pleg-doctor {' '.join(pleg) if pleg else 'NOT FOUND'}")
        print(f"  promtool    {promtool or 'NOT FOUND'}")
        print(f"  big dump    {mib(big)} ({big_note}); as .gz {mib(big_gz)}")
        print(f"  small dump  {mib(small)} ({small_note})")
        print(f"  peak RSS    {runner.rss_method()}")
        if removed:
            print(f"  children run without {', '.join(removed)}; their bytecode cache is in tmp")

        # -- commands
        def pleg_cmd(label: str, *extra: str) -> Command | None:
            return Command(label, (*pleg, *extra)) if pleg else None

        bare = Command("python -c pass", (python, "-c", "pass"))
        parse = Command("prometheus_client", (python, "-c", PARSE_BASELINE, str(small)))
        prom = Command("promtool", (promtool, "check", "metrics"), big) if promtool else None
        version = pleg_cmd("pleg-doctor --version", "--version")
        diag_big = pleg_cmd("diagnose big", "diagnose", str(big), "-o", "json")
        diag_gz = pleg_cmd("diagnose big.gz", "diagnose", str(big_gz), "-o", "json")
        diag_small = pleg_cmd("diagnose small", "diagnose", str(small), "-o", "json")

        # -- one untimed run of each: sanity checks, warm page cache and bytecode cache
        runner.run(bare)
        if (rc := runner.run(parse).returncode) != 0:
            notes.append(f"the prometheus_client baseline exited {rc}")
        if prom is not None:
            rc = runner.run(prom).returncode
            if rc not in PROMTOOL_OK_CODES:
                notes.append(
                    f"promtool exited {rc} on the big dump: 1 = parse error, not valid text"
                )
            else:
                meaning = "lint warnings only, as expected" if rc == 3 else "no lint problem"
                notes.append(f"promtool parsed the big dump (exit {rc}: {meaning})")
        checks = {"big": Check(False, "not run"), "gz": Check(False, "not run")}
        checks["small"] = checks["version"] = Check(False, "not run")
        if version is not None:
            out = tmp / "version.stdout"
            run = runner.run(version, stdout=out)
            text = out.read_text(errors="replace").strip()
            checks["version"] = Check(run.returncode == 0, f"{text!r}, exit {run.returncode}")
            print(f"  --version   {checks['version'].detail}")
        for tag, diag in (("big", diag_big), ("gz", diag_gz), ("small", diag_small)):
            if diag is not None:
                checks[tag] = check_diagnose(runner, diag, tmp, tag)
                state = "ok" if checks[tag].ok else "FAILED"
                print(f"  diagnose {tag + ':':<6} {state}: {checks[tag].detail}")
        print()

        # -- a. the big dump against promtool
        a_pleg, a_prom = measure(runner, [diag_big, prom], n_a, rss=True)
        size = mib(big)
        figures = [
            time_figure(
                "a", f"diagnose {size} -o json vs promtool check metrics, best of {n_a}",
                a_pleg, a_prom, Goal(0.5, strict=False), checks["big"].ok,
            ),
            rss_figure(
                "a", f"diagnose {size} peak RSS, max of {n_a}",
                a_pleg, a_prom, Goal(100, strict=True, unit="MiB"), checks["big"].ok,
            ),
        ]  # fmt: skip

        # -- b. the small dump against prometheus_client parsing it
        b_pleg, b_base = measure(runner, [diag_small, parse], n_b)
        figures.append(
            time_figure(
                "b", f"diagnose {mib(small)} vs prometheus_client parse, process, best of {n_b}",
                b_pleg, b_base, Goal(0.5, strict=True), checks["small"].ok,
            )
        )  # fmt: skip

        # -- c. --version against a bare interpreter start
        c_pleg, c_bare = measure(runner, [version, bare], n_c)
        figures.append(
            time_figure(
                "c", f"pleg-doctor --version vs python -c pass, best of {n_c}",
                c_pleg, c_bare, Goal(4, strict=False), checks["version"].ok,
            )
        )  # fmt: skip

        # -- d. the .gz variant of the big dump
        (d_pleg,) = measure(runner, [diag_gz], n_d, rss=True)
        figures += [
            time_figure(
                "d", f"diagnose {size} as .gz, best of {n_d} (baseline: the plain file)",
                d_pleg, a_pleg, None, checks["gz"].ok,
            ),
            time_figure(
                "d", "  the same, against promtool on the plain file",
                d_pleg, a_prom, None, checks["gz"].ok,
            ),
            rss_figure(
                "d", f"diagnose {size} as .gz, peak RSS, max of {n_d}",
                d_pleg, a_pleg, Goal(100, strict=True, unit="MiB"), checks["gz"].ok,
            ),
        ]  # fmt: skip

        load_after = os.getloadavg()
        print_table(figures)
        print()
        print(
            f"load average {load_before[0]:.2f} -> {load_after[0]:.2f} on {os.cpu_count()} CPUs "
            "(other work on the machine skews ratios: rerun if it was busy)"
        )
        notes += [f"{tag}: {c.detail}" for tag, c in checks.items() if pleg and not c.ok]
        if args.quick:
            notes.append("--quick: small dumps, few repeats; PASS/MISS are indicative only")
        for note in notes:
            print(f"note: {note}")
        if args.json_out:
            doc = {
                "quick": args.quick,
                "big_bytes": big.stat().st_size,
                "big_gz_bytes": big_gz.stat().st_size,
                "small_bytes": small.stat().st_size,
                "load_average": [load_before[0], load_after[0]],
                "rss_method": runner.rss_method(),
                "notes": notes,
                "figures": [
                    {"key": f.key, "title": f.title, "goal": f.goal, "result": f.result, **f.raw}
                    for f in figures
                ],
            }
            args.json_out.write_text(json.dumps(doc, indent=2) + "\n")
    finally:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
