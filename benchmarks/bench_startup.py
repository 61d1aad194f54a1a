"""`pleg-doctor check` start-up cost, as a ratio to a bare interpreter start measured in the same run.

    .venv/bin/python benchmarks/bench_startup.py             # 20 alternating runs each, ~20 s
    .venv/bin/python benchmarks/bench_startup.py --quick     # 5 runs each
    .venv/bin/python benchmarks/bench_startup.py --json-out startup.json

Cron and monitoring agents run `pleg-doctor check` on every node every minute, so its fixed cost
(interpreter, imports, argument parsing) is paid thousands of times an hour. Figures:

e. `pleg-doctor check DUMP` on a 1 MiB dump (benchmarks/gen_dump.py) vs a bare `python -c pass`,
   best of N and median of N, alternating; goal ratio (best) <= 7. Both run in a plain venv made
   for the run: this checkout is installed in editable mode, and the dev venv's `.pth` hooks
   (setuptools' editable finder, coverage's start-up hook) add 10-15 ms to every start, bare or
   not, which a regular install does not pay. The plain venv's site-packages holds one `.pth`
   that only puts the checkout and the dev venv's site-packages on `sys.path`: the modules of a
   regular install, and a bare start that is the interpreter with its ordinary `site`.
e'. The same check through the dev venv's console script, against the dev venv's `python -c
   pass` (both pay the `.pth` hooks): for information.
f. `pleg-doctor check DUMP --textfile DIR` (what the DaemonSet runs), against the same bare
   start as e, for information (it writes the file's text format itself).

Then the `-X importtime` breakdown of figure e's command: the imports it pays for beyond a bare
start (the minimum over a few runs of each module's cumulative time, so one noisy run does not
dominate), the top ones, and whether modules `check FILE` has no use for (`http.client`,
`urllib.request`, `rich`, `requests`, `prometheus_client`, `yaml`) were loaded.

A measurement, not a test: it prints the figures with PASS/MISS and exits 0. Machines are noisy;
the load average is printed, and both sides of every ratio ran interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_diagnose import (  # noqa: E402 - after the sys.path line
    REPO,
    VENV_BIN,
    Command,
    Runner,
    Series,
    child_env,
    generate,
)

GOAL_RATIO = 7.0
"""`check DUMP` may cost at most this many bare interpreter starts."""

NOT_NEEDED = ("http.client", "urllib.request", "rich", "requests", "prometheus_client", "yaml")
"""Modules `check FILE` has no use for; any of them loaded is a start-up regression."""

_IMPORTTIME_RE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


def importtime(argv: Sequence[str], env: dict[str, str], runs: int) -> dict[str, tuple[int, int]]:
    """Module → (depth, min cumulative µs) over `runs` runs of `python -X importtime ARGV...`."""
    best: dict[str, tuple[int, int]] = {}
    for _ in range(runs):
        out = subprocess.run(
            list(argv), env=env, capture_output=True, text=True, timeout=120, check=False
        )
        for line in out.stderr.splitlines():
            match = _IMPORTTIME_RE.match(line)
            if match is None:
                continue
            cumulative, depth, name = int(match[2]), len(match[3]) // 2, match[4]
            if name not in best or cumulative < best[name][1]:
                best[name] = (depth, cumulative)
    return best


def total_us(breakdown: dict[str, tuple[int, int]]) -> int:
    """Import time of the top-level imports (depth 0): the whole import cost of the process."""
    return sum(cumulative for depth, cumulative in breakdown.values() if depth == 0)


def ratio_line(label: str, pleg: Series, bare: Series, goal: float | None) -> dict[str, Any]:
    best = pleg.best_s / bare.best_s
    median = pleg.median_s / bare.median_s
    result = "INFO" if goal is None else ("PASS" if best <= goal else "MISS")
    goal_text = "none" if goal is None else f"<= {goal:g}"
    print(
        f"{label:<34} {pleg.best_s * 1000:7.1f} ms best {pleg.median_s * 1000:7.1f} ms median"
        f"   ratio {best:5.2f} (median {median:5.2f})   goal {goal_text:<6} {result}"
    )
    return {
        "label": label,
        "best_ms": pleg.best_s * 1000,
        "median_ms": pleg.median_s * 1000,
        "ratio_best": best,
        "ratio_median": median,
        "goal": goal,
        "result": result,
        "exit_codes": pleg.codes,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed runs of each command")
    parser.add_argument("--quick", action="store_true", help="5 runs each, 2 importtime runs")
    parser.add_argument("--size-mb", type=float, default=1.0, help="size of the dump checked")
    parser.add_argument("--importtime-runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=12, help="imports listed in the breakdown")
    parser.add_argument("--python", default=str(VENV_BIN / "python"), help="the interpreter")
    parser.add_argument("--tmpdir", help="where the dump and the bytecode cache go")
    parser.add_argument("--json-out", help="also write the figures here as JSON")
    parser.add_argument(
        "--compare",
        metavar="DIR",
        help="another checkout of pleg-doctor (e.g. `git archive main | tar -x -C DIR`): its "
        "check DUMP is timed in the same alternation, for a before/after ratio",
    )
    return parser.parse_args(argv)


def site_packages(python: str) -> str:
    """The interpreter's site-packages."""
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def plain_venv(python: str, where: Path, checkout: Path = REPO) -> str:
    """A venv without pip whose site-packages only points at `checkout` and `python`'s own.

    Returns its interpreter. Its start-up is that of a regular install: `site` runs, but no
    editable finder and no coverage hook (only a `.pth` of two paths).
    """
    subprocess.run([python, "-m", "venv", "--without-pip", str(where)], check=True)
    interpreter = str(where / "bin" / "python")
    paths = f"{checkout}\n{site_packages(python)}\n"
    Path(site_packages(interpreter), "pleg-doctor-bench.pth").write_text(paths)
    return interpreter


def timed_series(runner: Runner, commands: Sequence[Command], repeat: int) -> list[Series]:
    """Each command `repeat` times, alternating (A B C A B C ...)."""
    series = [Series(cmd) for cmd in commands]
    for _ in range(repeat):
        for cmd, into in zip(commands, series, strict=True):
            into.runs.append(runner.run(cmd))
    return series


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    repeat = 5 if args.quick else args.repeat
    imports_runs = 2 if args.quick else args.importtime_runs
    python = args.python if Path(args.python).exists() else sys.executable
    script = VENV_BIN / "pleg-doctor"
    if not script.exists():
        print("pleg-doctor not found in .venv: run ./scripts/test.sh first")
        return 1
    with tempfile.TemporaryDirectory(dir=args.tmpdir, prefix="bench-startup-") as work:
        tmp = Path(work)
        dump = tmp / "node.prom"
        generate(python, args.size_mb, dump, seed=1)
        textfile = tmp / "textfile"
        textfile.mkdir()
        env, removed = child_env(tmp / "pycache")
        runner = Runner(env=env, cwd=tmp, tmp=tmp, time_bin=None)
        plain = plain_venv(python, tmp / "venv")
        check_argv = (plain, str(script), "check", str(dump))
        pairs = [
            Command("python -c pass", (plain, "-c", "pass")),
            Command("check DUMP", check_argv),
            Command("dev venv python -c pass", (python, "-c", "pass")),
            Command("dev venv check DUMP", (str(script), "check", str(dump))),
            Command("check --textfile", (*check_argv, "--textfile", str(textfile))),
        ]
        if args.compare:
            other = plain_venv(python, tmp / "venv-compare", Path(args.compare).resolve())
            compared_argv = (other, str(script), "check", str(dump))
            pairs.append(Command("compared check DUMP", compared_argv))
            textfile_argv = (*compared_argv, "--textfile", str(textfile))
            pairs.append(Command("compared check --textfile", textfile_argv))
        for cmd in pairs:  # untimed: fills the bytecode cache, warms the page cache
            first = runner.run(cmd)
            if first.returncode not in (0, 1, 2):
                print(f"{cmd.label} exited {first.returncode}: nothing to measure")
                return 1
        bare, check, venv_bare, venv_check, check_textfile, *compared = timed_series(
            runner, pairs, repeat
        )
        load = os.getloadavg()
        print(
            f"start-up of pleg-doctor check, {repeat} alternating runs each, "
            f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )
        if removed:
            print(f"(removed from the children's environment: {', '.join(removed)})")
        for label, baseline in (
            ("python -c pass", bare),
            ("dev venv python -c pass", venv_bare),
        ):
            print(
                f"{label:<34} {baseline.best_s * 1000:7.1f} ms best "
                f"{baseline.median_s * 1000:7.1f} ms median   (a baseline)"
            )
        figures = [
            ratio_line("e. check DUMP (1 MiB)", check, bare, GOAL_RATIO),
            ratio_line("e'. dev venv's check DUMP", venv_check, venv_bare, None),
            ratio_line("f. check DUMP --textfile DIR", check_textfile, bare, None),
        ]
        if compared:
            figures += [
                ratio_line(f"e. from {args.compare}", compared[0], bare, None),
                ratio_line(f"f. from {args.compare}", compared[1], bare, None),
                ratio_line("e. this checkout / the compared one", check, compared[0], None),
                ratio_line(
                    "f. this checkout / the compared one", check_textfile, compared[1], None
                ),
            ]

        def imports(*command: str) -> dict[str, tuple[int, int]]:
            return importtime([plain, "-X", "importtime", *command], env, imports_runs)

        bare_imports = imports("-c", "pass")
        check_imports = imports(str(script), "check", str(dump))
        own = {name: value for name, value in check_imports.items() if name not in bare_imports}
        print()
        print(
            f"-X importtime of figure e (min over {imports_runs} runs; importtime itself slows "
            f"imports down): {total_us(check_imports) / 1000:.1f} ms of imports, of which "
            f"{total_us(bare_imports) / 1000:.1f} ms a bare start pays too"
        )
        top = sorted(own.items(), key=lambda item: -item[1][1])
        shown = [(name, cumulative) for name, (depth, cumulative) in top if depth <= 1]
        for name, cumulative in shown[: args.top]:
            print(f"  {cumulative / 1000:6.1f} ms  {name}")
        loaded = [name for name in NOT_NEEDED if name in check_imports]
        print(f"not needed by check FILE, loaded: {', '.join(loaded) if loaded else 'none'}")
        if args.json_out:
            Path(args.json_out).write_text(
                json.dumps(
                    {
                        "repeat": repeat,
                        "load_average": load,
                        "baseline_best_ms": bare.best_s * 1000,
                        "baseline_median_ms": bare.median_s * 1000,
                        "venv_baseline_best_ms": venv_bare.best_s * 1000,
                        "figures": figures,
                        "imports_ms": total_us(check_imports) / 1000,
                        "bare_imports_ms": total_us(bare_imports) / 1000,
                        "top_imports_ms": {name: c / 1000 for name, c in shown[: args.top]},
                        "not_needed_loaded": loaded,
                    },
                    indent=2,
                )
                + "\n"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
