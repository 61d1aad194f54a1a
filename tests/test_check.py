"""`check`: the Nagios line and exit codes, `--state` windows, the textfile, pushes (fake gateway).

The Pushgateway here is a small recording HTTP server: it shows the exact request (path, headers,
body), lets a test refuse or stall, and carries the bearer-token case the real Pushgateway cannot
(it only knows basic auth). The real node_exporter and Pushgateway are in
test_check_integration.py.
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pleg_doctor.commands.check import check as check_command
from pleg_doctor.commands.check import parse_grouping_key
from pleg_doctor.commands.check_state import (
    STATE_SCHEMA,
    decode_state,
    encode_state,
    load_state,
    saved_from_scrape,
)
from pleg_doctor.core.causes import CAUSE_IDS
from pleg_doctor.errors import UsageError
from pleg_doctor.render.check import _number, check_line, unknown_line
from pleg_doctor.sources.files import FileSource
from pleg_doctor.sources.scrape import scrape_from_dump
from tests.fakeserver import CA, SERVER_CERT, TOKEN, FakeServer, Reply, closed_port

from .conftest import ROOT
from .helpers import diagnose_texts, run_cli
from .kubelet_sim import KubeletSim

PUSH_TOKEN = "push-tok-9e1c5d7a.c2VjcmV0"
PUSH_PASSWORD = "push-pa55-6b2f0e"
PUSH_USER = "pusher"
SECRETS = (
    PUSH_TOKEN,
    PUSH_PASSWORD,
    base64.b64encode(f"{PUSH_USER}:{PUSH_PASSWORD}".encode()).decode(),
)

STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
PERF_RE = re.compile(
    r"^(?P<label>[a-z_0-9]+)=(?P<value>U|-?[0-9.]+)(?P<uom>s?)"
    r";(?P<warn>[0-9.:~@-]*);(?P<crit>[0-9.:~@-]*);(?P<min>-?[0-9.]*);(?P<max>-?[0-9.]*)$"
)


def run(args, capsys):
    return run_cli(args, capsys, secrets=SECRETS)


def _sim_dumps(
    directory: Path, change: Callable[[KubeletSim], None] | None = None, **sim: Any
) -> list[str]:
    """Two dumps of a simulated kubelet 10 minutes apart; `change` applies between them."""
    directory.mkdir(parents=True, exist_ok=True)
    kubelet = KubeletSim(**sim)
    kubelet.run(600)
    first = directory / "a.prom"
    first.write_text(kubelet.dump())
    if change is not None:
        change(kubelet)
    kubelet.run(600)
    second = directory / "b.prom"
    second.write_text(kubelet.dump())
    return [str(first), str(second)]


def _wedge(count: int) -> Callable[[KubeletSim], None]:
    def change(sim: KubeletSim) -> None:
        sim.runtime.wedged_pods = count

    return change


# healthy → 0, one wedged container (a 120 s CRI timeout per relist) → 1, two → 2 (past 180 s).
SCENARIOS: dict[str, tuple[Callable[[KubeletSim], None] | None, int]] = {
    "healthy": (None, 0),
    "warning": (_wedge(1), 1),
    "critical": (_wedge(2), 2),
}


def _one_line(out: str) -> str:
    assert out.endswith("\n") and out.count("\n") == 1, repr(out)
    return out[:-1]


def _without_source(doc: dict[str, Any], extra_notes: int = 0) -> dict[str, Any]:
    doc = dict(doc)
    doc.pop("source")
    if extra_notes:
        doc["notes"] = doc["notes"][:-extra_notes]
    return doc


# --- exit code = verdict, one line --------------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_exit_code_equals_the_diagnose_verdict(scenario, tmp_path, capsys):
    change, expected = SCENARIOS[scenario]
    dumps = _sim_dumps(tmp_path, change)
    diagnosed, out, _ = run(["diagnose", *dumps, "-o", "json"], capsys)
    assert diagnosed == expected
    diagnose_doc = json.loads(out)

    code, out, err = run(["check", *dumps], capsys)
    line = _one_line(out)
    assert code == expected == diagnosed
    assert line.startswith(f"PLEG {STATES[expected]} - headroom ")
    assert err == ""

    code, out, _ = run(["check", *dumps, "-o", "json"], capsys)
    assert code == expected
    doc = json.loads(out)
    assert doc["verdict"] == diagnose_doc["verdict"]
    assert doc == diagnose_doc  # same sources, same object


def test_line_follows_the_nagios_guidelines(tmp_path, capsys):
    dumps = _sim_dumps(tmp_path, _wedge(1))
    _, out, _ = run(["check", *dumps], capsys)
    line = _one_line(out)
    status, _, perf = line.partition(" | ")
    assert "|" not in status and "|" not in perf
    assert status.startswith("PLEG WARNING - headroom 58s of 180s; ")
    assert "top cause container_wedged (0.90)" in status
    fields = {}
    for item in perf.split(" "):
        match = PERF_RE.match(item)
        assert match, item
        fields[match["label"]] = match.groupdict()
    assert list(fields) == [
        "headroom",
        "relist_p99",
        "last_seen_age",
        "timeouts",
        "discards",
        "pods",
    ]
    doc = json.loads(run(["check", *dumps, "-o", "json"], capsys)[1])
    headroom = fields["headroom"]
    assert float(headroom["value"]) == pytest.approx(doc["headroom_seconds"], abs=0.001)
    assert (headroom["uom"], headroom["warn"], headroom["crit"], headroom["max"]) == (
        "s",
        "90:",
        "0:",
        "180",
    )
    assert fields["timeouts"]["value"] == "5" and fields["timeouts"]["warn"] == "0"
    assert fields["pods"]["value"] == "30"
    assert float(fields["last_seen_age"]["value"]) == pytest.approx(
        doc["relist"]["last_seen_age_seconds"], abs=0.001
    )


def test_demo_and_lifetime_counters_carry_no_count_thresholds(capsys):
    code, out, _ = run(["check", "--demo"], capsys)
    line = _one_line(out)
    assert code == 0 and line.startswith(
        "PLEG OK - headroom 179s of 180s | headroom=178.89s;90:;0:"
    )
    # One scrape: timeouts since the kubelet started are history, not a warning.
    assert " timeouts=0;;;0; " in line


def test_number_format_has_no_exponent():
    assert _number(1e-7) == "0"
    assert _number(-0.0001) == "0"
    assert _number(62.0) == "62"
    assert _number(0.0213) == "0.021"
    assert _number(-40.5) == "-40.5"
    assert _number(123456789.0) == "123456789"


def test_lines_stay_one_line_without_pipes(tmp_path):
    assert unknown_line("a | b\n  hint: c") == "PLEG UNKNOWN - a / b hint: c"
    report = diagnose_texts(
        [t.read_text() for t in map(Path, _sim_dumps(tmp_path))],
    )
    line = check_line(report, problem="push to http://x failed: HTTP 500 |oops|\nmore")
    assert "\n" not in line and line.count("|") == 1
    assert line.startswith("PLEG UNKNOWN - push to http://x failed: HTTP 500 /oops/ more; ")
    assert "verdict was OK: headroom" in line


# --- errors: always a PLEG UNKNOWN line and exit 3 ----------------------------------------------

USAGE_ERRORS = {
    "unknown option": (["--demo", "--bogus"], "No such option"),
    "bad duration": (["--demo", "--state-max-age", "soon"], "not a duration"),
    "bad output": (["--demo", "-o", "table"], "'table' is not one of"),
    "no source": ([], "no source given"),
    "two sources": (["--demo", "--kubelet", "10.0.0.1"], "give one source"),
    "job without gateway": (["--demo", "--job", "x"], "only apply with --pushgateway"),
    "ftp gateway": (["--demo", "--pushgateway", "ftp://gw"], "must be http:// or https://"),
    "credentials in url": (["--demo", "--pushgateway", "http://u:p@gw"], "credentials"),
    "bad grouping key": (["--demo", "--pushgateway", "gw", "--grouping-key", "x"], "KEY=VALUE"),
    "job grouping key": (["--demo", "--pushgateway", "gw", "--grouping-key", "job=a"], "--job"),
    "user without password": (
        ["--demo", "--pushgateway", "gw", "--pushgateway-user", "u"],
        "go together",
    ),
    "missing password file": (
        [
            "--demo",
            "--pushgateway",
            "gw",
            "--pushgateway-user",
            "u",
            "--pushgateway-password-file",
            "/nonexistent/pw",
        ],
        "/nonexistent/pw: no such file",
    ),
}


@pytest.mark.parametrize("case", sorted(USAGE_ERRORS))
def test_usage_errors_exit_3_with_an_unknown_line(case, capsys):
    args, expected = USAGE_ERRORS[case]
    code, out, err = run(["check", *args], capsys)
    assert code == 3  # never click's 2, which means CRITICAL to Nagios
    line = _one_line(out)
    assert line.startswith("PLEG UNKNOWN - ") and expected in line
    assert expected in err
    assert "Traceback" not in out + err


def test_usage_error_exit_code_through_the_real_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "pleg_doctor", "check", "--no-such-flag"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 3
    assert result.stdout.startswith("PLEG UNKNOWN - No such option")
    assert result.stdout.count("\n") == 1 and "--no-such-flag" in result.stdout


def test_bad_file_and_json_mode(tmp_path, capsys):
    missing = str(tmp_path / "missing.prom")
    code, out, err = run(["check", missing], capsys)
    assert code == 3
    assert _one_line(out) == f"PLEG UNKNOWN - {missing}: no such file"
    assert err == f"pleg-doctor: error: {missing}: no such file\n"
    # -o json keeps stdout for JSON: an error leaves it empty, as with diagnose.
    code, out, err = run(["check", missing, "-o", "json"], capsys)
    assert (code, out) == (3, "")
    assert "no such file" in err


def test_no_pleg_metrics_is_unknown_with_the_reason(tmp_path, capsys):
    path = tmp_path / "cadvisor.prom"
    path.write_text('container_cpu_usage_seconds_total{id="/"} 1\nkubelet_running_pods 3\n')
    code, out, err = run(["check", str(path)], capsys)
    assert code == 3
    assert _one_line(out).startswith("PLEG UNKNOWN - no PLEG metric in the data")
    assert "no PLEG metric" in err


def test_prometheus_client_is_not_imported_unless_needed(tmp_path):
    dumps = _sim_dumps(tmp_path)
    script = (
        "import sys\n"
        "from pleg_doctor.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    assert 'prometheus_client' not in sys.modules, 'prometheus_client imported'\n"
        "    raise\n"
    )
    for args in (["--version"], ["check", *dumps], ["diagnose", *dumps]):
        result = subprocess.run(
            [sys.executable, "-c", script, *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            check=False,
        )
        assert result.returncode in (0, 1), result.stderr
        assert "prometheus_client imported" not in result.stderr


# --- --state ---------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_state_over_two_runs_equals_the_two_file_window(scenario, tmp_path, capsys):
    change, expected = SCENARIOS[scenario]
    first, second = _sim_dumps(tmp_path, change)
    state = str(tmp_path / "state.json")

    code, out, _ = run(["check", first, "--state", state, "-o", "json"], capsys)
    doc = json.loads(out)
    assert doc["window_seconds"] is None  # the first run has no previous one
    assert any("first run with state file" in n for n in doc["notes"])

    code, out, err = run(["check", second, "--state", state, "-o", "json"], capsys)
    assert err == ""
    windowed = json.loads(out)
    diagnosed_code, out, _ = run(["diagnose", first, second, "-o", "json"], capsys)
    two_files = json.loads(out)
    assert code == diagnosed_code == expected
    assert windowed["notes"][-1].startswith("window since the previous check run at ")
    assert _without_source(windowed, extra_notes=1) == _without_source(two_files)
    assert windowed["source"] == {"kind": "file", "location": second}


def test_state_file_format(tmp_path, capsys):
    first, _ = _sim_dumps(tmp_path)
    state = tmp_path / "state.json"
    run(["check", first, "--state", str(state)], capsys)
    doc = json.loads(state.read_text())
    assert doc["schema"] == STATE_SCHEMA == "pleg-doctor/state-v1"
    assert doc["source"] == {"kind": "file", "location": first}
    assert doc["node"] == "sim-node-1" and doc["captured_at_origin"] == "header"
    family, part, labels, value, bound = doc["samples"][0]
    assert isinstance(family, str) and isinstance(part, str) and isinstance(labels, dict)
    assert isinstance(value, float) and bound is None
    assert len(state.read_bytes()) < 64 * 1024  # small: the kept samples only
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    # +Inf bounds and NaN values survive strict JSON.
    saved = load_state(state)
    assert saved is not None
    assert any(s.bound == float("inf") for s in saved.samples)
    assert decode_state(encode_state(saved, written_at=0.0)) == saved


def test_kubelet_restart_between_runs_is_counted_from_the_restart(tmp_path, capsys):
    sim = KubeletSim()
    sim.run(3600)
    first = tmp_path / "a.prom"
    first.write_text(sim.dump())
    sim.restart()
    sim.run(300)
    second = tmp_path / "b.prom"
    second.write_text(sim.dump())
    state = str(tmp_path / "state.json")
    run(["check", str(first), "--state", state], capsys)
    code, out, _ = run(["check", str(second), "--state", state, "-o", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["verdict"] == "ok"
    assert any("restarted inside the window" in n for n in doc["notes"])
    # The counters after the restart are the increase, never negative (Prometheus increase()).
    lifetime = json.loads(run(["diagnose", str(second), "-o", "json"], capsys)[1])
    assert doc["relist"]["count"] == lifetime["relist"]["count"] > 0
    assert all(op["calls"] >= 0 for op in doc["runtime_ops"])
    two_files = json.loads(run(["diagnose", str(first), str(second), "-o", "json"], capsys)[1])
    assert _without_source(doc, extra_notes=1) == _without_source(two_files)


def _foreign_state(tmp_path: Path, **changes: Any) -> bytes:
    """A valid state of another node (`other-node`), or of another source with `changes`."""
    dumps = _sim_dumps(tmp_path / "other", node="other-node")
    scrape = scrape_from_dump(FileSource(dumps[0]).fetch())
    saved = dataclasses.replace(saved_from_scrape(scrape), **changes)
    return encode_state(saved, written_at=0.0).encode()


UNUSABLE_STATES: dict[str, Callable[[Path], bytes]] = {
    "not json": lambda _: b"{not json",
    "not utf-8": lambda _: b"\xff\xfe\x00garbage",
    "a list": lambda _: b"[1, 2]",
    "other schema": lambda _: b'{"schema": "pleg-doctor/state-v9"}',
    "missing fields": lambda _: json.dumps({"schema": STATE_SCHEMA, "samples": []}).encode(),
    "bad sample": lambda _: json.dumps(
        {
            "schema": STATE_SCHEMA,
            "source": {"kind": "file", "location": "x"},
            "name": "x",
            "node": None,
            "snapshot_node": None,
            "captured_at": None,
            "captured_at_origin": "header",
            "samples": [["f", "value", {}, "lots", None]],
        }
    ).encode(),
    "foreign node": lambda tmp: _foreign_state(tmp),
    "foreign source": lambda tmp: _foreign_state(
        tmp, kind="kubelet", location="https://10.0.0.9:10250/metrics", node=None
    ),
}


@pytest.mark.parametrize("case", sorted(UNUSABLE_STATES))
def test_unusable_state_is_reported_and_replaced(case, tmp_path, capsys):
    change, expected = SCENARIOS["warning"]
    _, second = _sim_dumps(tmp_path / "dumps", change)
    state = tmp_path / "state.json"
    state.write_bytes(UNUSABLE_STATES[case](tmp_path))

    code, out, err = run(["check", second, "--state", str(state), "-o", "json"], capsys)
    assert code == expected  # never fatal
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"pleg-doctor: warning: state file {state} is unusable ("
    )
    assert lines[0].endswith("replacing it")
    doc = json.loads(out)
    assert doc["window_seconds"] is None
    assert any("was unusable" in n for n in doc["notes"])
    saved = load_state(state)  # replaced by this run's scrape
    assert saved is not None and saved.location == second
    assert saved.snapshot_node == "sim-node-1"


def test_state_older_than_max_age_is_not_used(tmp_path, capsys):
    first, second = _sim_dumps(tmp_path, _wedge(1))
    state = str(tmp_path / "state.json")
    run(["check", first, "--state", state], capsys)
    code, out, err = run(
        ["check", second, "--state", state, "--state-max-age", "5m", "-o", "json"], capsys
    )
    assert code == 1
    doc = json.loads(out)
    assert err == "" and doc["window_seconds"] is None
    assert any("more than --state-max-age 5 min: single scrape" in n for n in doc["notes"])
    # The state now holds the second run, so a third on the same dump is not a window either.
    _, out, _ = run(["check", second, "--state", state, "-o", "json"], capsys)
    assert any("is not older than this scrape" in n for n in json.loads(out)["notes"])


def test_state_that_cannot_be_written_is_not_fatal(tmp_path, capsys):
    first, _ = _sim_dumps(tmp_path)
    state = tmp_path / "no-such-dir" / "state.json"
    code, out, err = run(["check", first, "--state", str(state)], capsys)
    assert code == 0 and _one_line(out).startswith("PLEG OK")
    assert err.startswith(f"pleg-doctor: warning: cannot write state file {state} (")
    assert len(err.splitlines()) == 1


# --- live source: the kubelet's Date header is the capture time ----------------------------------


class SimKubelet:
    """Every scrape advances the simulated kubelet by `step` seconds; `fail` answers 500."""

    def __init__(self, sim: KubeletSim, step: float = 60.0) -> None:
        self.sim = sim
        self.step = step
        self.fail = False
        self.lock = threading.Lock()

    def __call__(self, seen) -> Reply:
        with self.lock:
            if self.fail:
                return Reply(500, b"internal error\n", "text/plain")
            self.sim.run(self.step)
            return Reply(
                body=self.sim.dump(header=False).encode(),
                date=email.utils.formatdate(self.sim.now, usegmt=True),
            )


@pytest.fixture
def kubelet_args(tmp_path):
    ca = tmp_path / "ca.pem"
    CA.cert_pem.write_to_path(str(ca))
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")

    def args(server: FakeServer) -> list[str]:
        return [
            "--kubelet",
            f"127.0.0.1:{server.port}",
            "--cacert",
            str(ca),
            "--kubelet-token-file",
            str(token),
        ]

    return args


def test_live_state_windows_use_the_kubelet_date(tmp_path, capsys, kubelet_args):
    kubelet = SimKubelet(KubeletSim(), step=60.0)
    state = str(tmp_path / "state.json")
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    with FakeServer(kubelet, cert=SERVER_CERT) as server:
        args = ["check", *kubelet_args(server), "--state", state, "--textfile", str(textfile)]
        code, out, err = run(args, capsys)
        assert code == 0 and _one_line(out).startswith("PLEG OK"), err
        code, out, _ = run([*args, "-o", "json"], capsys)
        doc = json.loads(out)
        assert doc["window_seconds"] == pytest.approx(60, abs=1)  # Date has 1 s resolution
        assert doc["source"]["kind"] == "kubelet"
        assert doc["captured_at"] == email.utils.parsedate_to_datetime(
            email.utils.formatdate(kubelet.sim.now, usegmt=True)
        ).strftime("%Y-%m-%dT%H:%M:%SZ")

        # The kubelet fails: up 0 under the node the good runs used (from the state), exit 3.
        kubelet.fail = True
        code, out, err = run(args, capsys)
        assert code == 3
        assert _one_line(out).startswith("PLEG UNKNOWN - ")
        assert "500" in err
    metrics = _parse_textfile(textfile / "pleg_doctor.prom")
    assert metrics[("pleg_doctor_up", (("node", "sim-node-1"),))] == 0
    saved = load_state(Path(state))
    assert saved is not None and saved.kind == "kubelet"  # the failed run kept the good state


def test_unreachable_kubelet_still_writes_up_0(tmp_path, capsys):
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    before = time.time()
    code, out, _ = run(
        [
            "check",
            "--kubelet",
            f"127.0.0.1:{closed_port()}",
            "--insecure-skip-tls-verify",
            "--kubelet-token",
            "x",
            "--timeout",
            "2s",
            "--textfile",
            str(textfile),
        ],
        capsys,
    )
    assert code == 3
    assert _one_line(out).startswith("PLEG UNKNOWN - ")
    metrics = _parse_textfile(textfile / "pleg_doctor.prom")
    node = (("node", "127.0.0.1"),)  # no report, no state: the host of the source URL
    assert metrics[("pleg_doctor_up", node)] == 0
    assert before <= metrics[("pleg_doctor_last_run_timestamp_seconds", node)] <= time.time()
    assert metrics[("pleg_doctor_verdict", (*node, ("verdict", "unknown")))] == 1
    assert not any(name == "pleg_doctor_headroom_seconds" for name, _ in metrics)


# --- textfile ----------------------------------------------------------------------------------


def _parse_textfile(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample, keyed by (name, sorted labels), through prometheus_client's own parser."""
    samples = {}
    for family in text_string_to_metric_families(path.read_text()):
        assert family.type == "gauge" and family.documentation
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_textfile_holds_the_contract_metrics(tmp_path, capsys):
    dumps = _sim_dumps(tmp_path / "dumps", _wedge(1))
    directory = tmp_path / "textfile"
    directory.mkdir()
    before = time.time()
    code, _, _ = run(["check", *dumps, "--textfile", str(directory)], capsys)
    after = time.time()
    assert code == 1
    assert [p.name for p in directory.iterdir()] == ["pleg_doctor.prom"]  # no temp file left
    doc = json.loads(run(["check", *dumps, "-o", "json"], capsys)[1])
    metrics = _parse_textfile(directory / "pleg_doctor.prom")
    node = (("node", "sim-node-1"),)
    assert {name for name, _ in metrics} == {
        "pleg_doctor_headroom_seconds",
        "pleg_doctor_verdict",
        "pleg_doctor_cause_score",
        "pleg_doctor_relist_seconds",
        "pleg_doctor_last_run_timestamp_seconds",
        "pleg_doctor_up",
    }
    assert metrics[("pleg_doctor_up", node)] == 1
    assert metrics[("pleg_doctor_headroom_seconds", node)] == pytest.approx(doc["headroom_seconds"])
    assert before <= metrics[("pleg_doctor_last_run_timestamp_seconds", node)] <= after
    verdicts = {
        dict(labels)["verdict"]: value
        for (name, labels), value in metrics.items()
        if name == "pleg_doctor_verdict"
    }
    assert verdicts == {"ok": 0, "warning": 1, "critical": 0, "unknown": 0}
    scores = {
        dict(labels)["cause"]: value
        for (name, labels), value in metrics.items()
        if name == "pleg_doctor_cause_score"
    }
    assert set(scores) == set(CAUSE_IDS)
    expected_scores = {c["id"]: c["score"] for c in doc["causes"]}
    for cause_id, value in scores.items():
        assert value == pytest.approx(expected_scores.get(cause_id, 0.0), abs=0.001), cause_id
    stats = {
        dict(labels)["stat"]: value
        for (name, labels), value in metrics.items()
        if name == "pleg_doctor_relist_seconds"
    }
    assert set(stats) == {"mean", "p50", "p99", "tail", "predicted", "interval"}
    assert stats["mean"] == pytest.approx(doc["relist"]["mean_seconds"], rel=1e-5)
    assert stats["predicted"] == pytest.approx(doc["model"]["predicted_relist_seconds"], rel=1e-5)


def test_textfile_node_label_for_a_dump_without_node(tmp_path, capsys):
    path = tmp_path / "x.prom"
    path.write_text(
        "# TYPE kubelet_pleg_relist_duration_seconds histogram\n"
        'kubelet_pleg_relist_duration_seconds_bucket{le="+Inf"} 5\n'
        "kubelet_pleg_relist_duration_seconds_sum 0.05\n"
        "kubelet_pleg_relist_duration_seconds_count 5\n"
    )
    directory = tmp_path / "t"
    directory.mkdir()
    run(["check", str(path), "--textfile", str(directory)], capsys)
    metrics = _parse_textfile(directory / "pleg_doctor.prom")
    assert metrics[("pleg_doctor_up", (("node", "unknown"),))] == 1


def test_textfile_directory_missing_exits_3_and_keeps_the_verdict(tmp_path, capsys):
    dumps = _sim_dumps(tmp_path)
    missing = tmp_path / "nope"
    code, out, err = run(["check", *dumps, "--textfile", str(missing)], capsys)
    assert code == 3
    line = _one_line(out)
    assert line.startswith(
        f"PLEG UNKNOWN - --textfile {missing}: no such directory; verdict was OK"
    )
    assert " | headroom=" in line
    assert err.startswith(f"pleg-doctor: error: --textfile {missing}: no such directory\n")
    # -o json: the diagnosis is valid and printed; the exit code still says delivery failed.
    code, out, err = run(["check", *dumps, "--textfile", str(missing), "-o", "json"], capsys)
    assert code == 3 and json.loads(out)["verdict"] == "ok"
    assert "no such directory" in err


# --- push (fake gateway) -----------------------------------------------------------------------


@dataclasses.dataclass
class Pushed:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class FakeGateway:
    """A Pushgateway stand-in on 127.0.0.1 that records requests; `status` decides the answer."""

    def __init__(self, status: int = 200, stall_seconds: float = 0.0) -> None:
        self.status = status
        self.stall_seconds = stall_seconds
        self.requests: list[Pushed] = []
        self.stop = threading.Event()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                gateway.requests.append(
                    Pushed(self.command, self.path, dict(self.headers.items()), body)
                )
                if gateway.stall_seconds:
                    gateway.stop.wait(gateway.stall_seconds)
                    return
                payload = b"" if gateway.status < 300 else b"go away\n"
                self.send_response(gateway.status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PUT

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeGateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def secret_files(tmp_path):
    token = tmp_path / "push-token"
    token.write_text(PUSH_TOKEN + "\n")
    password = tmp_path / "push-password"
    password.write_text(PUSH_PASSWORD + "\n")
    return {"token": str(token), "password": str(password)}


def _pushed_metrics(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_push_with_a_bearer_token(tmp_path, capsys, secret_files):
    dumps = _sim_dumps(tmp_path / "d", _wedge(1))
    with FakeGateway() as gateway:
        code, out, err = run(
            [
                "check",
                *dumps,
                "--pushgateway",
                gateway.url + "/",
                "--pushgateway-token-file",
                secret_files["token"],
                "--debug",
            ],
            capsys,
        )
    assert code == 1 and _one_line(out).startswith("PLEG WARNING")
    (pushed,) = gateway.requests
    assert pushed.method == "PUT"  # replaces the group: a cause that stopped scoring goes away
    assert pushed.path == "/metrics/job/pleg-doctor/node/sim-node-1"
    assert pushed.headers["Authorization"] == f"Bearer {PUSH_TOKEN}"
    metrics = _pushed_metrics(pushed.body)
    assert metrics[("pleg_doctor_up", (("node", "sim-node-1"),))] == 1
    assert "pushing to" in err and "auth bearer" in err  # --debug, without the token


def test_push_with_basic_auth_job_and_grouping_key(tmp_path, capsys, secret_files):
    dumps = _sim_dumps(tmp_path / "d")
    with FakeGateway() as gateway:
        code, _, _ = run(
            [
                "check",
                *dumps,
                "--pushgateway",
                gateway.url.removeprefix("http://"),  # no scheme: http, as prometheus_client
                "--job",
                "pleg",
                "--grouping-key",
                "cluster=prod eu",
                "--grouping-key",
                "team=nodes",
                "--pushgateway-user",
                PUSH_USER,
                "--pushgateway-password-file",
                secret_files["password"],
            ],
            capsys,
        )
    assert code == 0
    (pushed,) = gateway.requests
    expected_auth = base64.b64encode(f"{PUSH_USER}:{PUSH_PASSWORD}".encode()).decode()
    assert pushed.headers["Authorization"] == f"Basic {expected_auth}"
    # Sorted grouping labels; a value with a space travels base64-encoded (Pushgateway ≥ 0.9).
    cluster = base64.urlsafe_b64encode(b"prod eu").decode()
    assert pushed.path == f"/metrics/job/pleg/cluster@base64/{cluster}/node/sim-node-1/team/nodes"


def test_grouping_key_node_names_the_node(tmp_path, capsys):
    dumps = _sim_dumps(tmp_path / "d")
    with FakeGateway() as gateway:
        run(
            ["check", *dumps, "--pushgateway", gateway.url, "--grouping-key", "node=worker-7"],
            capsys,
        )
    (pushed,) = gateway.requests
    assert pushed.path == "/metrics/job/pleg-doctor/node/worker-7"
    metrics = _pushed_metrics(pushed.body)
    assert metrics[("pleg_doctor_up", (("node", "worker-7"),))] == 1


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, "HTTP 401"), (403, "HTTP 403"), (500, "HTTP 500"), (None, "connection refused")],
)
def test_failed_push_exits_3_without_secrets(status, expected, tmp_path, capsys, secret_files):
    dumps = _sim_dumps(tmp_path / "d")
    args = [
        "check",
        *dumps,
        "--pushgateway-user",
        PUSH_USER,
        "--pushgateway-password-file",
        secret_files["password"],
        "--debug",
    ]
    if status is None:
        code, out, err = run([*args, "--pushgateway", f"127.0.0.1:{closed_port()}"], capsys)
    else:
        with FakeGateway(status=status) as gateway:
            code, out, err = run([*args, "--pushgateway", gateway.url], capsys)
    assert code == 3
    line = _one_line(out)
    assert line.startswith("PLEG UNKNOWN - push to http://127.0.0.1:") and expected in line
    assert "; verdict was OK: headroom" in line
    errors = [line for line in err.splitlines() if not line.startswith("pleg-doctor: debug:")]
    assert errors[0].startswith("pleg-doctor: error: push to http://127.0.0.1:")
    assert expected in errors[0]
    assert 1 <= len(errors) <= 2  # the error, and what to try when there is something to try
    assert "Traceback" not in err
    # `run` asserted that neither the password nor its base64 form is anywhere in the output.


def test_push_timeout_is_the_timeout_option(tmp_path, capsys, secret_files):
    dumps = _sim_dumps(tmp_path / "d")
    with FakeGateway(stall_seconds=10) as gateway:
        started = time.monotonic()
        code, out, _ = run(
            [
                "check",
                *dumps,
                "--pushgateway",
                gateway.url,
                "--pushgateway-token-file",
                secret_files["token"],
                "--timeout",
                "0.5s",
                "--debug",
            ],
            capsys,
        )
        elapsed = time.monotonic() - started
    assert code == 3 and "within the 0.5 s deadline" in out
    assert elapsed < 5


def test_push_auth_options_exclude_each_other(capsys, secret_files):
    code, out, _ = run(
        [
            "check",
            "--demo",
            "--pushgateway",
            "gw",
            "--pushgateway-token-file",
            secret_files["token"],
            "--pushgateway-user",
            "u",
            "--pushgateway-password-file",
            secret_files["password"],
        ],
        capsys,
    )
    assert code == 3 and "not both" in out


def test_empty_secret_file_is_refused(tmp_path, capsys):
    empty = tmp_path / "token"
    empty.write_text("\n")
    code, out, _ = run(
        ["check", "--demo", "--pushgateway", "gw", "--pushgateway-token-file", str(empty)],
        capsys,
    )
    assert code == 3 and f"{empty}: the file is empty" in out


def test_parse_grouping_key():
    assert parse_grouping_key(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    for bad in ("1a=x", "=x", "noequals", "__name__=x", "job=x"):
        with pytest.raises(UsageError):
            parse_grouping_key([bad])


def test_check_help_has_an_example():
    assert "Example:" in (check_command.help or "")
    for option in ("--state", "--textfile", "--pushgateway", "--grouping-key"):
        assert any(option in p.opts for p in check_command.params)
