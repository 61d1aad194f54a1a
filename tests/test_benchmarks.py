"""The benchmark scripts keep working: the generator's dump parses, the bench runs end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.integration


def test_generated_dump_is_valid_for_promtool_and_pleg_doctor(tmp_path):
    dump = tmp_path / "big.prom.gz"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gen_dump.py"),
            "--size-mb",
            "2",
            "-o",
            str(dump),
        ],
        check=True,
    )
    out = subprocess.run(
        [sys.executable, "-m", "pleg_doctor", "diagnose", str(dump), "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["verdict"] == "ok"
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/test.sh installs Debian's prometheus"
    plain = tmp_path / "big.prom"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gen_dump.py"),
            "--size-mb",
            "1",
            "-o",
            str(plain),
        ],
        check=True,
    )
    with plain.open("rb") as handle:
        check = subprocess.run([promtool, "check", "metrics"], stdin=handle, capture_output=True)
    assert check.returncode in (0, 3), check.stderr  # 3 = lint warnings on real kubelet names


def test_bench_quick_runs(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_diagnose.py"),
            "--quick",
            "--tmpdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "promtool" in out.stdout and "--version" in out.stdout


def test_bench_fleet_runs_both_modes(tmp_path):
    """`bench_fleet.py` end to end on a small fleet: queries computed, then the rules read."""
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_fleet.py"),
            "--nodes",
            "20,40",
            "--runs",
            "1",
            "--tmpdir",
            str(tmp_path),
            "--json-out",
            str(tmp_path / "fleet.json"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    figures = json.loads((tmp_path / "fleet.json").read_text())
    assert [size["nodes"] for size in figures] == [20, 40]
    for size in figures:
        assert size["computed"]["recording_rules"] is False
        assert size["recorded"]["recording_rules"] is True
        assert size["computed"]["by_verdict"] == size["recorded"]["by_verdict"]
        assert size["computed"]["api_calls"] == [7]  # --recorded no: no look for the rules
        assert size["recorded"]["api_calls"] == [5]  # the rules info, 4 queries
    assert "exponent" in out.stdout and "CPU ms/node" in out.stdout


def _bench(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_bench_startup_quick_runs(tmp_path):
    out = _bench(
        "bench_startup.py",
        "--quick",
        "--tmpdir",
        str(tmp_path),
        "--json-out",
        str(tmp_path / "startup.json"),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    figures = json.loads((tmp_path / "startup.json").read_text())
    assert [f["label"][:2] for f in figures["figures"]] == ["e.", "e'", "f."]
    assert all(set(f["exit_codes"]) <= {0, 1, 2} for f in figures["figures"])
    assert figures["not_needed_loaded"] == []
    assert "python -c pass" in out.stdout and "-X importtime" in out.stdout


def test_bench_scan_small_runs(tmp_path):
    out = _bench(
        "bench_scan.py",
        *("--nodes", "30", "--blocked", "3", "--runs", "1", "--timeout", "2"),
        *("--json-out", str(tmp_path / "scan.json")),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    figures = json.loads((tmp_path / "scan.json").read_text())
    assert figures["every_node_listed"] and figures["every_blocked_node_listed_as_blocked"]
    assert figures["by_scrape"]["blocked"] == 3
    assert figures["max_requests_at_once"] <= figures["concurrency"]
