"""`pleg-doctor logs` through the real entry point: files, stdin, .gz, --journal, exit codes."""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli

from .conftest import FIXTURES
from .logsamples import render
from .test_logs_formats import check_logs_schema

LOGS = FIXTURES / "kubelet-logs"
K3S = LOGS / "k3s-2370-containerd-hang-timeline.log"


def run(args, capsys, *, stdin: bytes | None = None, monkeypatch=None):
    return run_cli(args, capsys, secrets=(), stdin=stdin, monkeypatch=monkeypatch)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("k3s-2370-containerd-hang-timeline.log", 2),  # unhealthy at the end of the log
        ("eks-ami-648-syslog-mixed-cni-json.log", 1),  # CRI timeouts
        ("crio-5549-startup-structured.log", 0),  # start-up noise only
    ],
)
def test_exit_codes_follow_the_verdict(name, code, capsys):
    got, out, err = run(["logs", str(LOGS / name)], capsys)
    assert got == code, err
    assert "PLEG" in out and err == ""


def test_json_output_and_exit_zero(capsys):
    code, out, _ = run(["logs", str(K3S), "-o", "json", "--year", "2020", "--exit-zero"], capsys)
    assert code == 0
    doc = json.loads(out)
    check_logs_schema(doc)
    assert doc["first_time"] == "2020-10-08T16:23:14.139"
    assert len(doc["unhealthy_periods"]) == 2 and len(doc["culprits"]) == 4


def test_stdin_gzip_and_several_files(capsys, monkeypatch, tmp_path):
    data = gzip.compress(K3S.read_bytes())
    code, out, _ = run(["logs", "-", "-o", "json"], capsys, stdin=data, monkeypatch=monkeypatch)
    assert code == 2 and json.loads(out)["lines_read"] == 30
    rotated = tmp_path / "kubelet.log.1"  # no .gz suffix: detected by content
    rotated.write_bytes(gzip.compress(render("glog").encode()))
    current = tmp_path / "kubelet.log"
    current.write_text(render("glog").rstrip("\n"))  # no final newline
    code, out, _ = run(["logs", str(rotated), str(current), "-o", "json"], capsys)
    doc = json.loads(out)
    assert doc["lines_read"] == 2 * render("glog").count("\n")
    assert len(doc["unhealthy_periods"]) == 4  # the same incident twice


def test_truncated_gzip_is_read_as_far_as_it_goes(capsys, tmp_path):
    path = tmp_path / "cut.log.gz"
    data = gzip.compress(render("glog").encode() * 3)
    path.write_bytes(data[: len(data) // 2])
    _code, out, _ = run(["logs", str(path), "-o", "json"], capsys)
    doc = json.loads(out)
    assert doc["lines_read"] > 0 and any("cut off" in n for n in doc["notes"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["logs"], "no log given"),
        (["logs", "x.log", "--journal"], "not both"),
        (["logs", "x.log", "--since", "-1h"], "apply to --journal"),
        (["logs", "/nonexistent/kubelet.log"], "no such file"),
        (["logs", "-", "-"], "once"),
        (["logs", "x.log", "--year", "1800"], "1800"),
    ],
)
def test_usage_and_file_errors_exit_3_in_one_line(args, message, capsys):
    code, out, err = run(args, capsys)
    assert code == 3 and out == ""
    assert message in err and "Traceback" not in err


def test_a_directory_and_a_non_log(capsys, tmp_path):
    code, _, err = run(["logs", str(tmp_path)], capsys)
    assert code == 3 and "is a directory" in err
    other = tmp_path / "notes.txt"
    other.write_text("hello\nworld\n")
    code, out, err = run(["logs", str(other)], capsys)
    assert code == 3 and "no kubelet log line found in 2 line(s)" in err
    assert "PLEG UNKNOWN" in out


# --- --journal with a fake journalctl on PATH --------------------------------------------------


def _fake_journalctl(tmp_path: Path, monkeypatch, body: str) -> Path:
    script = tmp_path / "journalctl"
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    return script


def test_journal_runs_journalctl_and_streams_it(capsys, monkeypatch, tmp_path):
    args_file = tmp_path / "args.json"
    _fake_journalctl(
        tmp_path,
        monkeypatch,
        "import json, sys\n"
        f"json.dump(sys.argv[1:], open({str(args_file)!r}, 'w'))\n"
        f"sys.stdout.buffer.write(open({str(K3S)!r}, 'rb').read())\n"
        "sys.stderr.write('Hint: You are currently not seeing messages from other users.\\n')\n",
    )
    code, out, err = run(["logs", "--journal", "--since", "-6h", "-o", "json"], capsys)
    assert code == 2, err
    doc = json.loads(out)
    assert doc["lines_read"] == 30
    assert json.loads(args_file.read_text()) == [
        "-u", "kubelet", "--since", "-6h", "-o", "short-precise", "--no-pager"
    ]  # fmt: skip
    assert any("could not read every journal file" in n for n in doc["notes"])
    # The node's own UTC offset is known: times carry it.
    assert doc["first_time"][-6] in "+-" or doc["first_time"].endswith("Z")


def test_journal_unit_option(capsys, monkeypatch, tmp_path):
    args_file = tmp_path / "args.json"
    _fake_journalctl(
        tmp_path,
        monkeypatch,
        f"import json, sys\njson.dump(sys.argv[1:], open({str(args_file)!r}, 'w'))\n"
        "print('-- No entries --')\n",
    )
    code, _, err = run(["logs", "--journal", "--unit", "k3s"], capsys)
    assert code == 3 and "no kubelet log line" in err
    assert json.loads(args_file.read_text())[:4] == ["-u", "k3s", "--since", "-2h"]


def test_journal_timeout_and_failure(capsys, monkeypatch, tmp_path):
    _fake_journalctl(tmp_path, monkeypatch, "import time\nprint('x', flush=True)\ntime.sleep(60)\n")
    code, _, err = run(["logs", "--journal", "--journal-timeout", "0.5s"], capsys)
    assert code == 3 and "did not finish within 0.5 s" in err
    _fake_journalctl(
        tmp_path,
        monkeypatch,
        "import sys\nsys.stderr.write('Failed to get journal\\n')\nsys.exit(1)\n",
    )
    code, _, err = run(["logs", "--journal"], capsys)
    assert code == 3 and "failed (exit 1): Failed to get journal" in err


def test_journal_missing(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = run(["logs", "--journal"], capsys)
    assert code == 3 and "journalctl not found" in err


def test_help_has_an_example(capsys):
    code, out, _ = run(["logs", "--help"], capsys)
    assert code == 0 and "Example:" in out and "--journal" in out


def test_the_benchmark_runs(tmp_path):
    import subprocess

    from .conftest import ROOT

    figures = tmp_path / "figures.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_logs.py"),
            "--size-mb",
            "8",
            "--repeat",
            "1",
            "--json-out",
            str(figures),
            "--tmpdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "check:" in done.stdout and "PASS" in done.stdout.split("check:")[1]
    doc = json.loads(figures.read_text())
    assert doc["unhealthy_periods"] >= 1 and doc["lines"] > 40_000
