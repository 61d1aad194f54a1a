"""Copy-paste safety of every renderer that prints commands, at 40, 60 and 100 columns.

A suggested command is printed whole on a line of its own (never wrapped, never cut with "…"),
container ids are never shortened inside one, no line ends in spaces, `COLUMNS` is honoured when
piped, large ages read `3d4h`, and a stdout that cannot encode Unicode gets ASCII.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence

import pytest

from pleg_doctor.core.durations import human_seconds
from pleg_doctor.logs import LogReader, analyze_logs, evidence_for_causes
from pleg_doctor.render.fleet import render_fleet_table
from pleg_doctor.render.logs import render_logs_table
from pleg_doctor.render.probe import render_probe_table
from pleg_doctor.render.table import render_table
from pleg_doctor.sources.crictl import CallResult, ListResult, ProbeReport

from .conftest import FIXTURES, ROOT
from .helpers import diagnose_texts, run_cli
from .test_causes import SCENARIOS
from .test_fleet import _mixed_fleet, fleet_report

WIDTHS = (40, 60, 100)
HUNG = "b7" * 32
SANDBOX = "5a" * 32


def assert_copy_paste_safe(text: str, commands: Sequence[str]) -> None:
    """Every command is one whole line (after `$ `); no line has trailing spaces."""
    lines = text.splitlines()
    assert commands, "the scenario must suggest commands"
    for number, line in enumerate(lines, start=1):
        assert line == line.rstrip(), f"line {number} ends in spaces: {line!r}"
    shown = [line.split("$ ", 1)[1] for line in lines if line.lstrip().startswith("$ ")]
    for command in commands:
        assert any(s == command or s.startswith(command + "   # ") for s in shown), (
            f"command not on a line of its own: {command!r}\n{text}"
        )
    for line in shown:
        assert "…" not in line, line


@pytest.mark.parametrize("width", WIDTHS)
def test_diagnose_table_prints_each_next_step_whole(width):
    report = diagnose_texts(SCENARIOS["container_wedged"]())
    text = render_table(report, width=width)
    assert_copy_paste_safe(text, [s for f in report.causes for s in f.next_steps])


@pytest.mark.parametrize("width", WIDTHS)
def test_logs_table_prints_each_next_step_whole(width):
    path = FIXTURES / "kubelet-logs" / "k3s-2370-containerd-hang-timeline.log"
    result = analyze_logs(LogReader([str(path)]), default_year=2020)
    text = render_logs_table(result, width=width)
    steps = [s for cause in evidence_for_causes(result).values() for s in cause.next_steps]
    ids = [c.id for c in result.culprits if c.id]
    assert any(i in s for i in ids for s in steps), "a full container id in a command"
    assert_copy_paste_safe(text, [s for s in steps if "crictl inspect" in s])


@pytest.fixture(scope="module")
def named_reports():
    """Reports of kubelets that name their node, whose causes suggest commands with `$NODE`."""
    return [diagnose_texts(SCENARIOS[name]()) for name in ("pod_churn", "event_channel_full")]


@pytest.mark.parametrize("width", WIDTHS)
def test_next_steps_name_the_node_and_stay_whole(named_reports, width):
    for report in named_reports:
        assert report.node == "sim-node-1"
        steps = [s for f in report.causes for s in f.next_steps]
        assert any("spec.nodeName=sim-node-1 " in s for s in steps), steps
        assert not any("$NODE" in s for s in steps), steps
        assert_copy_paste_safe(render_table(report, width=width), steps)


def probe_report() -> ProbeReport:
    return ProbeReport(
        crictl="crictl",
        call_timeout_seconds=10.0,
        parallel=4,
        slow_seconds=1.0,
        lists=(
            ListResult(command="crictl ps -a -q", seconds=0.02, outcome="ok", count=2, error=None),
        ),
        calls=(
            CallResult(kind="container", id=HUNG, seconds=10.0, outcome="hung"),
            CallResult(
                kind="sandbox",
                id=SANDBOX,
                seconds=0.01,
                outcome="ok",
                name="web-1",
                pod="prod/a-pod-with-a-rather-long-name-7d9f8c6b5-x2x4z",
            ),
        ),
        wall_seconds=10.1,
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_probe_table_prints_each_command_whole_with_the_full_id(width):
    text = render_probe_table(probe_report(), width=width)
    assert_copy_paste_safe(
        text, [f"timeout 30 crictl inspect {HUNG}", "ps -eo pid,stat,wchan:32,cmd | awk '$2 ~ /D/'"]
    )


@pytest.fixture(scope="module")
def sick_fleet():
    return fleet_report(_mixed_fleet())


@pytest.mark.parametrize("width", WIDTHS)
def test_fleet_table_prints_a_diagnose_command_per_node_in_trouble(sick_fleet, width):
    text = render_fleet_table(sick_fleet, width=width)
    troubled = [r.node for r in sick_fleet.reports if r.verdict in ("critical", "warning")]
    assert troubled
    assert_copy_paste_safe(
        text, [f"pleg-doctor diagnose --node {node} --window 30s" for node in troubled[:3]]
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_scan_table_prints_a_diagnose_command_per_node_in_trouble_for_its_cluster(
    sick_fleet, width
):
    from pleg_doctor.core.scan import ScanReport
    from pleg_doctor.render.fleet import render_scan_table

    scan = ScanReport(
        reports=sick_fleet.reports,
        apiserver="https://10.0.0.1:6443",
        selector=None,
        scanned_at=1_764_000_000.0,
        window_seconds=None,
        outcomes=tuple("ok" for _ in sick_fleet.reports),
    )
    via = ["--kubeconfig", "/home/me/kube configs/prod.yaml", "--context", "prod"]
    text = render_scan_table(scan, width=width, via=via)
    troubled = [r.node for r in scan.reports if r.verdict in ("critical", "warning")]
    assert troubled
    assert_copy_paste_safe(
        text,
        [
            f"pleg-doctor diagnose --node {node} --window 30s "
            "--kubeconfig '/home/me/kube configs/prod.yaml' --context prod"
            for node in troubled[:3]
        ],
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_scan_table_prints_an_outwaiting_diagnose_per_blocked_node(sick_fleet, width):
    from pleg_doctor.core.endpoints import ScrapeFacts
    from pleg_doctor.core.fleet import diagnose_node, rank_reports
    from pleg_doctor.core.report import SourceInfo
    from pleg_doctor.core.scan import ScanReport, scanned_node
    from pleg_doctor.render.fleet import render_scan_table

    names = [f"ip-10-0-{i}-7.eu-west-1.compute.internal" for i in range(4)]
    blocked = [
        diagnose_node(
            scanned_node(
                node=name,
                location=f"https://10.0.0.1:6443/api/v1/nodes/{name}/proxy/metrics",
                snapshots=[],
                outcome="blocked",
                scanned_at=1_764_000_000.0,
                problem="/metrics did not answer in 10 s while /healthz answered: runtime likely hung",
                scrape=ScrapeFacts(
                    metrics_seconds=None, waited_seconds=10.0, health_status=200, health_said="ok"
                ),
            ),
            source=SourceInfo(kind="apiserver", location=name),
            runtime_request_timeout_seconds=60.0,
        )
        for name in names
    ]
    reports = rank_reports([*sick_fleet.reports, *blocked])
    scan = ScanReport(
        reports=reports,
        apiserver="https://10.0.0.1:6443",
        selector=None,
        scanned_at=1_764_000_000.0,
        window_seconds=None,
        outcomes=tuple("blocked" if r in blocked else "ok" for r in reports),
    )
    via = ["--context", "prod eu"]
    text = render_scan_table(scan, width=width, via=via)
    troubled = [r.node for r in reports if r.verdict in ("critical", "warning")][:3]
    outwait = [
        f"pleg-doctor diagnose --node {name} --metrics-timeout 90s --context 'prod eu'"
        for name in names[:3]  # the worst three (unknown ranks by name)
    ]
    assert_copy_paste_safe(
        text,
        [f"pleg-doctor diagnose --node {n} --window 30s --context 'prod eu'" for n in troubled],
    )
    assert_copy_paste_safe(text, outwait)
    assert names[3] not in text.split("Next steps", 1)[1]


def test_fleet_commands_for_an_instance_name_and_a_cluster():
    from pleg_doctor.render.fleet import diagnose_command

    assert diagnose_command("10.1.0.6:10250").command == (
        "pleg-doctor diagnose --kubelet 10.1.0.6:10250 --window 30s"
    )
    prod = diagnose_command("prod/worker-3")
    assert prod.command == "pleg-doctor diagnose --node worker-3 --window 30s"
    assert prod.comment == "in cluster prod"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (58.3, "58 s"),
        (-331, "-331 s"),
        (3599.4, "3599 s"),
        (3600 * 5 + 60 * 12, "5h12m"),
        (86400 * 3 + 3600 * 4 + 59, "3d4h"),
        (-27024608, "-312d18h"),
    ],
)
def test_large_ages_read_in_days_and_hours(seconds, text):
    assert human_seconds(seconds) == text


def test_a_dump_saved_long_after_its_last_relist_reads_in_days(tmp_path, capsys):
    dump = (FIXTURES / "spitdb-v1.35.0.prom").read_text()
    # The kubelet's last relist 312 days before the capture header's time.
    header = "# pleg-doctor capture: captured_at=2026-11-27T10:00:00Z node=n source=test\n"
    last_seen = 1795773600 - 27024608
    dump = re.sub(
        r"^kubelet_pleg_last_seen_seconds .*$",
        f"kubelet_pleg_last_seen_seconds {last_seen}",
        dump,
        flags=re.M,
    )
    path = tmp_path / "old.prom"
    path.write_text(header + dump)
    code, out, _ = run_cli(["diagnose", str(path)], capsys)
    assert code == 2
    assert "-312d18h" in out and "27024608" not in out
    assert not re.search(r"\d{6,} s", out), out


def test_columns_is_honoured_when_piped(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    code, out, _ = run_cli(["diagnose", "--demo"], capsys)
    assert code == 0
    assert max(len(line) for line in out.splitlines()) == 60
    monkeypatch.setenv("COLUMNS", "100")
    _, out, _ = run_cli(["diagnose", "--demo"], capsys)
    assert max(len(line) for line in out.splitlines()) == 100


def _run_ascii(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "LANG": "C", "LC_ALL": "C"}
    return subprocess.run(
        [sys.executable, "-m", "pleg_doctor", *args],
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_a_non_utf8_stdout_degrades_to_ascii():
    table = _run_ascii("diagnose", "--demo")
    assert table.returncode == 0, table.stderr
    text = table.stdout.decode("ascii")  # raises if anything else slipped through
    assert "PLEG OK" in text and "[####" in text and "+-" in text
    assert b"internal error" not in table.stderr
    logs = _run_ascii(
        "logs", str(FIXTURES / "kubelet-logs" / "k3s-2370-containerd-hang-timeline.log")
    )
    assert logs.returncode == 2, logs.stderr
    logs.stdout.decode("ascii")


def test_a_non_utf8_stdout_keeps_the_json_data_exact():
    plain = subprocess.run(
        [sys.executable, "-m", "pleg_doctor", "diagnose", "--demo", "-o", "json"],
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    escaped = _run_ascii("diagnose", "--demo", "-o", "json")
    assert escaped.returncode == 0, escaped.stderr
    escaped.stdout.decode("ascii")
    assert json.loads(escaped.stdout) == json.loads(plain.stdout)
    assert "≥" in plain.stdout.decode() or "≈" in plain.stdout.decode()
