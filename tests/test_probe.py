"""`pleg-doctor probe-runtime` with a fake crictl that hangs on one id and fails on another."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from pleg_doctor.errors import UsageError
from pleg_doctor.sources.crictl import probe_runtime
from tests.helpers import run_cli

OK = "aaaa" * 16
HUNG = "bbbb" * 16
BAD = "cccc" * 16
GONE = "dddd" * 16
SLOW = "eeee" * 16
SANDBOX = "ffff" * 16

FAKE_CRICTL = r"""
import json, os, subprocess, sys, time
args = sys.argv[1:]
state = os.environ["FAKE_CRICTL_STATE"]
if args[:1] == ["--runtime-endpoint"]:
    open(os.path.join(state, "endpoint"), "w").write(args[1])
    args = args[2:]
mode = os.environ.get("FAKE_CRICTL_MODE", "")
ids = {"pods": [SANDBOX], "ps": [OK, HUNG, BAD, GONE, SLOW]}
if mode == "all-ok":
    ids["ps"] = [OK]
if args == ["pods", "-q"] or args == ["ps", "-a", "-q"]:
    if mode == "denied":
        sys.stderr.write("E0101 validate service connection: permission denied\n")
        sys.exit(1)
    if mode == "list-hang" and args[0] == "ps":
        time.sleep(60)
    print("\n".join(ids[args[0]]))
    sys.exit(0)
verb, cid = args
if cid == HUNG:
    child = subprocess.Popen(["sleep", "60"])
    open(os.path.join(state, "grandchild"), "w").write(str(child.pid))
    time.sleep(60)
if cid == BAD:
    sys.stderr.write("rpc error: code = Unknown desc = failed to get container status\n")
    sys.exit(1)
if cid == GONE:
    sys.stderr.write('rpc error: code = NotFound desc = container "x" not found\n')
    sys.exit(1)
if cid == SLOW:
    time.sleep(0.5)
if verb == "inspectp":
    print(json.dumps({"status": {"id": cid, "metadata": {"name": "web-1", "namespace": "prod",
                      "uid": "u"}, "state": "SANDBOX_READY"}}))
else:
    print(json.dumps({"status": {"id": cid, "metadata": {"name": "app"}, "state": "CONTAINER_RUNNING",
                      "labels": {"io.kubernetes.pod.name": "web-1",
                                 "io.kubernetes.pod.namespace": "prod"}}, "info": {}}))
"""


@pytest.fixture
def crictl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake `crictl` on PATH; its state directory is `tmp_path / "state"`."""
    state = tmp_path / "state"
    state.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "crictl"
    ids = "".join(
        f"{name} = {value!r}\n"
        for name, value in (
            ("OK", OK),
            ("HUNG", HUNG),
            ("BAD", BAD),
            ("GONE", GONE),
            ("SLOW", SLOW),
            ("SANDBOX", SANDBOX),
        )
    )
    script.write_text(f"#!{sys.executable}\n{ids}{FAKE_CRICTL}")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_CRICTL_STATE", str(state))
    monkeypatch.delenv("FAKE_CRICTL_MODE", raising=False)
    return script


def run(args, capsys):
    return run_cli(args, capsys, secrets=())


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status  # killed, waiting for init to reap it


def test_hung_failed_slow_and_gone_calls(crictl, capsys, tmp_path):
    start = time.monotonic()
    code, out, err = run(
        ["probe-runtime", "--call-timeout", "1.5s", "--slow", "0.4s", "-o", "json"], capsys
    )
    elapsed = time.monotonic() - start
    assert code == 2, err  # one call hung
    assert elapsed < 10
    doc = json.loads(out)
    assert doc["schema"] == "pleg-doctor/probe-v1" and doc["verdict"] == "critical"
    assert doc["counts"] == {
        "containers": 5,
        "sandboxes": 1,
        "ok": 2,
        "slow": 1,
        "hung": 1,
        "error": 1,
        "gone": 1,
    }
    by_id = {c["id"]: c for c in doc["calls"]}
    assert by_id[HUNG]["outcome"] == "hung" and doc["calls"][0]["id"] == HUNG
    assert by_id[BAD]["outcome"] == "error" and "Unknown" in by_id[BAD]["error"]
    assert by_id[GONE]["outcome"] == "gone"
    assert by_id[SLOW]["outcome"] == "slow" and by_id[SLOW]["seconds"] >= 0.4
    assert by_id[OK]["pod"] == "prod/web-1" and by_id[OK]["state"] == "CONTAINER_RUNNING"
    assert by_id[SANDBOX]["pod"] == "prod/web-1" and by_id[SANDBOX]["state"] == "SANDBOX_READY"
    assert [item["outcome"] for item in doc["lists"]] == ["ok", "ok"]
    # Only our own crictl process group was ended: the grandchild it started is gone too.
    grandchild = int((tmp_path / "state" / "grandchild").read_text())
    deadline = time.monotonic() + 5
    while not _gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(grandchild)


def test_table_names_the_hung_container(crictl, capsys):
    code, out, _ = run(["probe-runtime", "--call-timeout", "1s", "--slow", "0.4s"], capsys)
    assert code == 2
    assert "RUNTIME PROBE CRITICAL" in out and HUNG[:13] in out
    assert f"crictl inspect {HUNG}" in out


def test_slow_or_failed_is_a_warning_and_all_good_is_ok(crictl, capsys, monkeypatch):
    monkeypatch.setenv("FAKE_CRICTL_MODE", "all-ok")
    code, out, _ = run(["probe-runtime", "--crictl", str(crictl), "-o", "json"], capsys)
    assert code == 0 and json.loads(out)["verdict"] == "ok"
    code, out, _ = run(["probe-runtime", "--slow", "0.0001s", "-o", "json"], capsys)
    assert code == 1 and json.loads(out)["counts"]["slow"] == 2


def test_a_list_that_hangs_is_the_finding(crictl, capsys, monkeypatch):
    monkeypatch.setenv("FAKE_CRICTL_MODE", "list-hang")
    code, out, _ = run(["probe-runtime", "--call-timeout", "0.7s", "-o", "json"], capsys)
    doc = json.loads(out)
    assert code == 2
    assert [item["outcome"] for item in doc["lists"]] == ["ok", "hung"]
    code, out, _ = run(["probe-runtime", "--call-timeout", "0.7s"], capsys)
    assert "crictl ps -a -q did not answer within 0.7 s: the runtime is hung" in out


def test_runtime_endpoint_is_passed_through(crictl, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_CRICTL_MODE", "all-ok")
    code, _, _ = run(["probe-runtime", "--runtime-endpoint", "unix:///run/x.sock"], capsys)
    assert code == 0
    assert (tmp_path / "state" / "endpoint").read_text() == "unix:///run/x.sock"


def test_cannot_probe_exits_3(crictl, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_CRICTL_MODE", "denied")
    code, out, err = run(["probe-runtime"], capsys)
    assert code == 3 and out == ""
    assert (
        "crictl cannot reach the runtime: E0101 validate service connection: permission denied"
        in err
    )
    code, _, err = run(["probe-runtime", "--crictl", str(tmp_path / "nope")], capsys)
    assert code == 3 and "not found" in err and "Traceback" not in err


def test_api_rejects_bad_bounds(crictl):
    with pytest.raises(UsageError):
        probe_runtime(parallel=0)
    with pytest.raises(UsageError):
        probe_runtime(call_timeout=0)


def test_runner_injection_without_processes():
    from pleg_doctor.sources.crictl import RunOutcome

    def runner(argv, timeout):
        if argv[1:] == ["pods", "-q"]:
            return RunOutcome(returncode=0, stdout=b"", stderr=b"", seconds=0.01, timed_out=False)
        return RunOutcome(returncode=1, stdout=b"", stderr=b"boom", seconds=0.01, timed_out=False)

    report = probe_runtime(runner=runner)  # one list works: a report, not an error
    assert [item.outcome for item in report.lists] == ["ok", "error"]
    assert report.calls == () and report.verdict == "warning"
