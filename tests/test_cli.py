"""Wiring, exit codes and error messages of the CLI, through its real entry point."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import FIXTURES, ROOT
from .helpers import check_schema, run_cli
from .kubelet_sim import KubeletSim


def run(args, capsys, *, stdin: bytes | None = None, monkeypatch=None):
    return run_cli(args, capsys, secrets=(), stdin=stdin, monkeypatch=monkeypatch)


def test_demo_table_and_json(capsys):
    code, out, err = run(["diagnose", "--demo"], capsys)
    assert code == 0, err
    assert "PLEG OK" in out and "ip-172-29-240-188.ec2.internal" in out
    assert "Runtime operations" in out and "\x1b[" not in out  # NO_COLOR in tests
    code, out, _ = run(["diagnose", "--demo", "-o", "json"], capsys)
    doc = json.loads(out)
    check_schema(doc)
    assert doc["source"]["kind"] == "demo" and doc["kubelet_version"] == "v1.21.2"


def _write_window(tmp_path: Path, change=None) -> list[str]:
    sim = KubeletSim()
    sim.run(600)
    a = tmp_path / "a.prom"
    a.write_text(sim.dump())
    if change:
        change(sim)
    sim.run(600)
    b = tmp_path / "b.prom.gz"
    b.write_bytes(gzip.compress(sim.dump().encode()))
    return [str(a), str(b)]


def test_exit_code_is_the_verdict(tmp_path, capsys):
    healthy = _write_window(tmp_path)
    assert run(["diagnose", *healthy], capsys)[0] == 0
    wedged_dir = tmp_path / "w"
    wedged_dir.mkdir()
    wedged = _write_window(wedged_dir, lambda s: setattr(s.runtime, "wedged_pods", 1))
    code, out, _ = run(["diagnose", *wedged, "-o", "json"], capsys)
    assert code == 1 and json.loads(out)["verdict"] == "warning"
    assert run(["diagnose", *wedged, "--exit-zero"], capsys)[0] == 0
    hung_dir = tmp_path / "h"
    hung_dir.mkdir()
    hung = _write_window(hung_dir, lambda s: setattr(s.runtime, "wedged_pods", 2))
    code, out, _ = run(["diagnose", *hung, "-o", "json"], capsys)
    assert code == 2 and json.loads(out)["verdict"] == "critical"


def test_stdin_and_gzip_stdin(capsys, monkeypatch):
    data = (FIXTURES / "spitdb-v1.35.0.prom").read_bytes()
    code, out, _ = run(["diagnose", "-", "-o", "json"], capsys, stdin=data, monkeypatch=monkeypatch)
    assert code == 0 and json.loads(out)["kubelet_version"] == "v1.35.0"
    code, out, _ = run(
        ["diagnose", "-", "-o", "json"], capsys, stdin=gzip.compress(data), monkeypatch=monkeypatch
    )
    assert code == 0 and json.loads(out)["source"]["location"] == "-"


def test_at_sets_the_capture_time(capsys):
    path = str(FIXTURES / "datadog-v1.21.2.prom")
    # last_seen is 1648119277; ten minutes later the node is past the threshold
    code, out, _ = run(["diagnose", path, "--at", "2022-03-24T11:04:37Z", "-o", "json"], capsys)
    doc = json.loads(out)
    assert doc["captured_at"] == "2022-03-24T11:04:37Z"
    assert doc["relist"]["last_seen_age_seconds"] == 600
    assert doc["verdict"] == "critical" and code == 2
    assert run(["diagnose", path, "--at", "yesterday"], capsys)[0] == 3


BAD_FILES = {
    "missing": (None, "no such file"),
    "directory": ("DIR", "is a directory"),
    "empty": (b"", "empty"),
    "binary": (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00", "binary"),
    "html": (b"<html><head><title>502 Bad Gateway</title></head></html>", "HTML"),
    "json": (b'{"kind":"Status","apiVersion":"v1","status":"Failure","code":403}', "JSON"),
    "bad-gzip": (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03not deflate at all", "gzip"),
    "bad-line": (
        b"# TYPE kubelet_running_pods gauge\nkubelet_running_pods 3\nkubelet_pleg_last_seen_seconds x1\n",
        "line 3",
    ),
    "no-pleg": (
        b"# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 1.7e9\n",
        "no PLEG metric",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_exit_3_with_one_clear_line(case, tmp_path, capsys):
    content, expected = BAD_FILES[case]
    path = tmp_path / f"{case}.prom"
    if content == "DIR":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    code, out, err = run(["diagnose", str(path)], capsys)
    assert code == 3
    assert expected in err
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, err
    if case != "no-pleg":
        assert str(path) in err


def test_no_pleg_still_prints_json_with_unknown(tmp_path, capsys):
    path = tmp_path / "cadvisor.prom"
    path.write_text('container_cpu_usage_seconds_total{id="/"} 1\nkubelet_running_pods 3\n')
    code, out, err = run(["diagnose", str(path), "-o", "json"], capsys)
    assert code == 3 and json.loads(out)["verdict"] == "unknown"
    assert "no PLEG metric" in err


def test_debug_shows_the_traceback(tmp_path, capsys):
    path = tmp_path / "x.prom"
    path.write_bytes(b"<html></html>")
    code, _, err = run(["diagnose", str(path), "--debug"], capsys)
    assert code == 3 and "Traceback" in err


@pytest.mark.parametrize(
    "args",
    [
        ["diagnose"],
        ["diagnose", "--demo", "x.prom"],
        ["diagnose", "--demo", "-o", "xml"],
        ["diagnose", "--demo", "--select", "not_a_cause"],
        ["diagnose", "--demo", "--runtime-request-timeout", "soon"],
        ["diagnose", "--no-such-option"],
        ["no-such-command"],
    ],
)
def test_usage_errors_exit_3_not_2(args, capsys):
    code, _, err = run(args, capsys)
    assert code == 3, err
    assert "Traceback" not in err


def test_dumps_from_two_nodes_diagnose_the_latest_node_alone_with_a_note(tmp_path, capsys):
    # A window needs dumps of one node: the latest dump's node is diagnosed, the note says so.
    a, b = KubeletSim(node="n1"), KubeletSim(node="n2")
    a.run(10)
    b.run(20)
    (tmp_path / "a").write_text(a.dump())
    (tmp_path / "b").write_text(b.dump())
    code, out, err = run(
        ["diagnose", str(tmp_path / "a"), str(tmp_path / "b"), "-o", "json"], capsys
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["node"] == "n2" and doc["window_seconds"] is None  # one dump left: one scrape
    assert "different nodes (n1 besides n2)" in doc["notes"][0]


def test_help_and_version(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "diagnose" in out
    code, out, _ = run(["diagnose", "--help"], capsys)
    assert code == 0 and "Example:" in out


def test_console_script_version_and_module_entry():
    exe = Path(sys.executable).parent / "pleg-doctor"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("pleg-doctor, version ")
    out = subprocess.run(
        [sys.executable, "-m", "pleg_doctor", "diagnose", "--demo", "-o", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0 and json.loads(out.stdout)["schema"] == "pleg-doctor/v1"


def test_colour_on_a_terminal_unless_no_color(monkeypatch):
    from pleg_doctor.commands import console

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert console.wants_color(Tty())
    assert not console.wants_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "")
    assert not console.wants_color(Tty())
