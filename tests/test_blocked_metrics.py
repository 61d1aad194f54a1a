"""A blocked `/metrics` is evidence: a real HTTPS kubelet (trustme certificates) that behaves
like the lab's when its runtime hangs: `/metrics` answers a real lab dump only after a delay,
`/healthz` answers at once.

Patience values are short options (a second or two), never the real 2-minute CRI timeout.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import json
from pathlib import Path
from typing import Any

import pytest

from pleg_doctor.core.endpoints import ScrapeFacts
from tests.fakeserver import (
    CA,
    SERVER_CERT,
    TOKEN,
    FakeServer,
    Reply,
    Seen,
    secret_guard,
)
from tests.helpers import check_schema, run_cli
from tests.kubelet_lab import LAB
from tests.test_nodestatus import EVENTS_DOC, NODE_DOC, PLEG_MESSAGE
from tests.test_sources_apiserver import write_kubeconfig

# The lab's S4 dump 14: scraped at 15:22:05 while ListPodSandbox hung, it took 120 s to answer.
DUMP = LAB / "S4-listpodsandbox-hang" / "14-20261129T152205Z.prom"
HEADER, BODY = DUMP.read_bytes().split(b"\n", 1)
REQUEST_AT = dt.datetime(2026, 11, 29, 15, 22, 5, tzinfo=dt.timezone.utc)
LAST_SEEN_AGE_AT_REQUEST = 195.0  # kubelet_pleg_last_seen_seconds 1795965530 = 15:18:50


@pytest.fixture(autouse=True)
def _no_secrets(monkeypatch, caplog, capsys):
    yield from secret_guard(monkeypatch, caplog, capsys)


@pytest.fixture
def ca_file(tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    CA.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def token_file(tmp_path: Path) -> str:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return str(path)


def _http_date(moment: dt.datetime) -> str:
    return email.utils.format_datetime(moment.replace(microsecond=0), usegmt=True)


def blocking_kubelet(delay: float, *, prefix: str = "") -> Any:
    """`/metrics` after `delay` seconds (its `Date` written then, as Go's server does), `/healthz`
    at once; both on a kubelet clock that read 15:22:05 when the request arrived."""

    def handler(seen: Seen) -> Reply:
        path = seen.path.removeprefix(prefix)
        if path.endswith("/healthz"):
            return Reply(body=b"ok", content_type="text/plain", date=_http_date(REQUEST_AT))
        if path.endswith("/metrics"):
            answered = REQUEST_AT + dt.timedelta(seconds=delay)
            return Reply(body=BODY, stall_seconds=delay, date=_http_date(answered))
        return Reply(404, b"404 page not found\n", "text/plain")

    return handler


def run(args: list[str], capsys: Any) -> tuple[int, str, str]:
    return run_cli(args, capsys, secrets=(TOKEN,))


def _kubelet(server: FakeServer, ca_file: str, token_file: str) -> list[str]:
    return [
        "--kubelet",
        f"127.0.0.1:{server.port}",
        "--cacert",
        ca_file,
        "--token-file",
        token_file,
    ]


def test_check_ends_at_its_patience_with_one_honest_line(ca_file, token_file, tmp_path, capsys):
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    with FakeServer(blocking_kubelet(30.0), cert=SERVER_CERT) as server:
        code, out, err = run(
            ["check", *_kubelet(server, ca_file, token_file), "--timeout", "1s",
             "--textfile", str(textfile)],
            capsys,
        )  # fmt: skip
        paths = [s.path for s in server.seen]
    assert code == 3, err
    line = out.strip()
    assert "\n" not in line
    assert line.startswith(
        "PLEG UNKNOWN - /metrics did not answer in 1.0 s while /healthz answered in "
    ), line
    assert line.split(" | ")[0].endswith("runtime likely hung (runtime_hung)"), line
    assert paths == ["/metrics", "/healthz"]  # no retry of a timed-out scrape
    metrics = (textfile / "pleg_doctor.prom").read_text()
    node = 'node="127.0.0.1"'
    assert f"pleg_doctor_up{{{node}}} 0.0" in metrics
    assert f"pleg_doctor_scrape_blocked_seconds{{{node}}} 1.0" in metrics
    assert f'pleg_doctor_verdict{{{node},verdict="unknown"}} 1.0' in metrics
    assert f'pleg_doctor_cause_score{{cause="runtime_hung",{node}}}' in metrics
    assert "pleg_doctor_headroom_seconds{" not in metrics


def slow_healthz(seconds: float) -> Any:
    """`blocking_kubelet` (`/metrics` after 30 s) whose `/healthz` answers after `seconds`."""
    blocking = blocking_kubelet(30.0)

    def handler(seen: Seen) -> Reply:
        reply = blocking(seen)
        if seen.path.endswith("/healthz"):
            return dataclasses.replace(reply, stall_seconds=seconds)
        return reply

    return handler


def test_a_cron_check_gives_healthz_2_s_at_most(ca_file, token_file, tmp_path, capsys):
    """`check --timeout 2.5s`: `/metrics` blocks, and `/healthz` would answer after 2.3 s,
    within `--timeout` but past the 2 s the probe gets (`check.EVIDENCE_TIMEOUT_SECONDS`): the
    run ends with both unanswered, `up` 0, instead of waiting twice `--timeout`."""
    import time

    from pleg_doctor.commands.check_run import EVIDENCE_TIMEOUT_SECONDS

    assert EVIDENCE_TIMEOUT_SECONDS == 2.0
    start = time.monotonic()
    with FakeServer(slow_healthz(2.3), cert=SERVER_CERT) as server:
        code, out, err = run(
            ["check", *_kubelet(server, ca_file, token_file), "--timeout", "2.5s",
             "--textfile", str(tmp_path)],
            capsys,
        )  # fmt: skip
        paths = [s.path for s in server.seen]
    elapsed = time.monotonic() - start
    assert code == 3, err
    assert paths == ["/metrics", "/healthz"]
    line = out.strip()
    assert line.endswith("/metrics did not answer within the 2.5 s deadline"), line
    assert "hint: /healthz did not answer either within 2 s; raise --timeout" in err, err
    assert "runtime_hung" not in line  # a /healthz past 2 s proves no kubelet alive
    assert "pleg_doctor_up{" in (metrics := (tmp_path / "pleg_doctor.prom").read_text())
    assert "} 0.0" in metrics
    assert elapsed < 3 * 2.5  # generous: the bound is 2.5 s + 2 s


def test_a_cron_check_keeps_the_healthz_answer_within_2_s(ca_file, token_file, capsys):
    """The same kubelet with `/healthz` answering in 1.2 s: the blocked-scrape report, whose
    `scrape` shows the answer the probe's deadline allowed."""
    with FakeServer(slow_healthz(1.2), cert=SERVER_CERT) as server:
        code, out, err = run(
            ["check", *_kubelet(server, ca_file, token_file), "--timeout", "2.5s", "-o", "json"],
            capsys,
        )
    assert code == 3, err
    scrape = json.loads(out)["scrape"]
    assert scrape["blocked"] is True and scrape["waited_seconds"] == 2.5
    assert scrape["health_status"] == 200 and 1.2 <= scrape["health_seconds"] < 2.0


def test_check_json_of_a_blocked_scrape_is_schema_valid(ca_file, token_file, capsys):
    with FakeServer(blocking_kubelet(30.0), cert=SERVER_CERT) as server:
        code, out, _ = run(
            ["check", *_kubelet(server, ca_file, token_file), "--timeout", "1s", "-o", "json"],
            capsys,
        )
    assert code == 3
    doc = json.loads(out)
    check_schema(doc)
    assert doc["verdict"] == "unknown" and doc["headroom_seconds"] is None
    assert doc["relist"]["count"] is None and doc["kubelet_version"] is None
    assert doc["scrape"]["blocked"] is True and doc["scrape"]["waited_seconds"] == 1.0
    assert doc["scrape"]["health_status"] == 200 and doc["scrape"]["health_seconds"] < 1
    assert doc["causes"][0]["id"] == "runtime_hung"
    evidence = doc["causes"][0]["evidence"][0]
    assert evidence["metric"] == "/metrics"
    assert evidence["value"] == "/metrics did not answer in 1.0 s"
    assert "/healthz answered in" in evidence["note"]
    assert any("probe-runtime" in step for step in doc["causes"][0]["next_steps"])


def test_diagnose_waits_with_progress_and_reports_runtime_hung(ca_file, token_file, capsys):
    with FakeServer(blocking_kubelet(30.0), cert=SERVER_CERT) as server:
        code, out, err = run(
            ["diagnose", *_kubelet(server, ca_file, token_file), "--timeout", "0.3s",
             "--metrics-timeout", "1.2s", "-o", "json"],
            capsys,
        )  # fmt: skip
    assert code == 3
    # The wait said what it was waiting for, on stderr.
    assert "/metrics has not answered for 0 s; /healthz answered in" in err
    assert "the runtime is likely hung; waiting up to 1.2 s, Ctrl-C to stop" in err
    doc = json.loads(out)
    check_schema(doc)
    assert doc["verdict"] == "unknown"
    assert doc["causes"][0]["id"] == "runtime_hung"
    assert doc["scrape"]["waited_seconds"] == 1.2


def test_the_blocked_report_table_names_no_empty_capture_origin(ca_file, token_file, capsys):
    """A scrape without an answer has no capture-time origin: the panel shows the time alone."""
    with FakeServer(blocking_kubelet(30.0), cert=SERVER_CERT) as server:
        code, out, _ = run(
            ["diagnose", *_kubelet(server, ca_file, token_file), "--timeout", "0.3s",
             "--metrics-timeout", "0.6s"],
            capsys,
        )  # fmt: skip
    assert code == 3
    captured = [line for line in out.splitlines() if "captured " in line]
    assert captured and not any("()" in line for line in captured), captured


def test_diagnose_gets_the_late_body_with_the_capture_time_of_the_request(
    ca_file, token_file, capsys
):
    # /metrics answers after 2.5 s; its Date says 15:22:07 (whole seconds, as HTTP dates are).
    with FakeServer(blocking_kubelet(2.5), cert=SERVER_CERT) as server:
        code, out, err = run(
            ["diagnose", *_kubelet(server, ca_file, token_file), "--timeout", "0.5s",
             "--metrics-timeout", "20s", "-o", "json"],
            capsys,
        )  # fmt: skip
    assert code == 2, err  # age 195 s: past the threshold
    assert "/metrics has not answered for" in err
    doc = json.loads(out)
    check_schema(doc)
    age = doc["relist"]["last_seen_age_seconds"]
    # Date − elapsed: the kubelet's clock when the request arrived (and the values were read),
    # not when it finally answered (Date alone would say 197 s).
    assert LAST_SEEN_AGE_AT_REQUEST - 1.0 <= age <= LAST_SEEN_AGE_AT_REQUEST + 0.5, age
    assert doc["scrape"]["blocked"] is False
    assert 2.5 <= doc["scrape"]["metrics_seconds"] < 10
    assert doc["causes"][0]["id"] == "runtime_hung"


def test_a_kubelet_that_answers_nothing_is_a_timeout_not_a_hung_runtime(
    ca_file, token_file, capsys
):
    def silent(seen: Seen) -> Reply:
        return Reply(stall_seconds=30.0)

    with FakeServer(silent, cert=SERVER_CERT) as server:
        code, out, _ = run(
            ["check", *_kubelet(server, ca_file, token_file), "--timeout", "0.5s"], capsys
        )
    assert code == 3
    assert (
        out.startswith("PLEG UNKNOWN - kubelet ")
        and "did not answer within the 0.5 s deadline" in out
    )
    assert "runtime_hung" not in out


def test_through_the_api_server_the_node_condition_makes_it_critical(tmp_path, capsys):
    prefix = "/api/v1/nodes/worker-1/proxy"
    metrics = blocking_kubelet(30.0, prefix=prefix)

    def apiserver(seen: Seen) -> Reply:
        if seen.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Reply(401, b"{}", "application/json")
        if seen.path.startswith(prefix):
            return metrics(seen)
        if seen.path == "/api/v1/nodes/worker-1":
            return Reply(body=json.dumps(NODE_DOC).encode(), content_type="application/json")
        if seen.path.startswith("/api/v1/events"):
            return Reply(body=json.dumps(EVENTS_DOC).encode(), content_type="application/json")
        return Reply(404, b"{}", "application/json")

    ca = tmp_path / "ca.pem"
    CA.cert_pem.write_to_path(str(ca))
    with FakeServer(apiserver, cert=SERVER_CERT) as server:
        kubeconfig = write_kubeconfig(
            tmp_path / "config", f"https://127.0.0.1:{server.port}", {"token": TOKEN}, ca=ca
        )
        args = ["check", "--node", "worker-1", "--kubeconfig", str(kubeconfig), "--timeout", "1s"]
        code, out, err = run(args, capsys)
        diagnosed = run(["diagnose", *args[1:], "--metrics-timeout", "1s", "-o", "json"], capsys)
        captured = run(["capture", "-", *args[1:]], capsys)
    # capture: one line, nothing on stdout, and the diagnose through the same API server
    captured_code, captured_out, captured_err = captured
    assert captured_code == 3 and captured_out == ""
    message, hint = captured_err.splitlines()
    assert message.endswith("likely hung; nothing written to standard output"), message
    assert hint == (
        f"  hint: outwait the CRI timeout: pleg-doctor diagnose --node worker-1 --kubeconfig "
        f"{kubeconfig} --metrics-timeout 150s"
    )
    assert code == 2, err
    assert out.startswith(
        "PLEG CRITICAL - /metrics did not answer in 1.0 s while "
        "/api/v1/nodes/worker-1/proxy/healthz answered in "
    ), out
    assert f"the Node's Ready condition is False: {PLEG_MESSAGE}" in out
    code, out, _ = diagnosed
    assert code == 2
    doc = json.loads(out)
    check_schema(doc)
    assert doc["verdict"] == "critical" and doc["node"] == "worker-1"
    assert doc["scrape"]["node_ready"] == "False"
    assert doc["causes"][0]["id"] == "runtime_hung" and doc["causes"][0]["score"] >= 0.8


def test_a_slow_scrape_is_runtime_evidence_in_the_diagnosis():
    # The lab's dump 14 as the lab's curl got it: after 120 s, while /healthz took 15 ms.
    from .helpers import diagnose_texts

    facts = ScrapeFacts(metrics_seconds=120.03, health_seconds=0.015, health_status=200)
    report = diagnose_texts([DUMP.read_bytes()], scrape=facts)
    top = report.causes[0]
    assert top.id == "runtime_hung"
    found = {e.metric: (e.value, e.note) for e in top.evidence}
    assert found["/metrics"][0] == "/metrics took 120 s to answer"
    assert "while /healthz answered in 15 ms" in found["/metrics"][1]
    assert any("the capture time is the kubelet's clock when the request started" in n
               for n in report.notes)  # fmt: skip


# --- one probe and one finding for diagnose, check and scan -------------------------------------


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        (Reply(body=b"ok", content_type="text/plain"), "200 ok"),
        (
            Reply(
                500,
                b"[+]ping ok\n[-]syncloop failed: reason withheld\nhealthz check failed\n",
                "text/plain",
            ),
            "500 [-]syncloop failed: reason withheld",
        ),
        (
            Reply(403, b"Forbidden (user=x, verb=get, resource=nodes)", "text/plain"),
            "403 Forbidden",
        ),
        # the API server's own error: the node proxy could not reach the kubelet
        (Reply(503, b'{"kind": "Status", "code": 503}', "application/json"), None),
    ],
)
def test_the_one_healthz_probe_counts_any_answer_of_the_kubelet(reply, answer):
    from pleg_doctor.sources.http.client import http_client
    from pleg_doctor.sources.http.metrics import probe_health
    from pleg_doctor.sources.http.settings import EndpointWording, HttpSettings

    wording = EndpointWording(endpoint="kubelet")
    with (
        FakeServer(lambda seen: reply) as server,
        http_client(HttpSettings(), wording=wording, timeout=3) as client,
    ):
        probe = probe_health(client, server.url("/api/v1/nodes/n1/proxy/healthz"))
    assert probe.path == "/api/v1/nodes/n1/proxy/healthz"
    if answer is None:
        assert (
            probe.status is None
            and probe.answer is None
            and "could not reach" in (probe.error or "")
        )
    else:
        assert probe.answer is not None and probe.answer.startswith(answer)
        assert probe.seconds is not None and probe.seconds < 3


def test_scan_and_diagnose_give_one_and_the_same_blocked_scrape_finding():
    from pleg_doctor.core.report import SourceInfo, blocked_report
    from pleg_doctor.core.scan import diagnose_scan, scanned_node

    facts = ScrapeFacts(
        metrics_seconds=None,
        waited_seconds=10.0,
        health_path="/api/v1/nodes/n1/proxy/healthz",
        health_seconds=0.003,
        health_status=200,
        health_said="ok",
    )
    location = "https://api.example/api/v1/nodes/n1/proxy/metrics"
    diagnosed = blocked_report(
        source=SourceInfo(kind="apiserver", location=location), node="n1", scrape=facts
    )
    node = scanned_node(
        node="n1",
        location=location,
        snapshots=[],
        outcome="blocked",
        scanned_at=1_795_965_725.0,
        problem="/metrics blocked 10 s while /healthz answers (200 ok): container runtime likely hung",
        scrape=facts,
    )
    report = diagnose_scan(
        [node], apiserver="https://api.example", selector=None, scanned_at=1_795_965_725.0,
        window_seconds=None,
    )  # fmt: skip
    (scanned,) = report.reports
    assert scanned.causes == diagnosed.causes
    assert scanned.to_dict()["scrape"] == diagnosed.to_dict()["scrape"]
    (finding,) = diagnosed.causes
    assert finding.id == "runtime_hung" and finding.score == 0.7
    assert [(e.metric, e.value) for e in finding.evidence] == [
        ("/metrics", "/metrics did not answer in 10 s"),
        ("/healthz", "200 ok"),
    ]
    assert "while /api/v1/nodes/n1/proxy/healthz answered in 3 ms" in finding.evidence[0].note
    assert finding.next_steps[0].startswith("pleg-doctor diagnose --node n1 --metrics-timeout 150s")
    assert any("probe-runtime" in step for step in finding.next_steps)


# --- watch and capture ---------------------------------------------------------------------------


class FlakyKubelet:
    """A simulated kubelet whose `/metrics` blocks (as under a hung runtime) on the scrapes
    numbered in `blocked` (1 = the first), answering `/healthz` at once, else serving the
    simulation (5 s on at every scrape) with its clock as `Date`."""

    def __init__(self, blocked: set[int]) -> None:
        import threading

        from tests.kubelet_sim import KubeletSim

        self.sim = KubeletSim()
        self.sim.run(300)
        self.blocked = blocked
        self.scrapes = 0
        self.lock = threading.Lock()

    def __call__(self, seen: Seen) -> Reply:
        if seen.path.endswith("/healthz"):
            return Reply(body=b"ok", content_type="text/plain")
        with self.lock:
            self.scrapes += 1
            self.sim.run(5)  # the kubelet's time goes on, answered or not
            if self.scrapes in self.blocked:
                return Reply(stall_seconds=30.0)
            return Reply(
                body=self.sim.dump(header=False).encode(),
                date=email.utils.formatdate(self.sim.now, usegmt=True),
            )


PATIENCE = ["--timeout", "0.5s", "--window", "0.05s"]
"""watch waits --timeout for /metrics: short here, the blocked scrapes stall 30 s."""


def test_watch_shows_a_blocked_refresh_and_goes_on(ca_file, token_file, capsys):
    kubelet = FlakyKubelet(blocked={3})  # the first scrape, then three refreshes
    with FakeServer(kubelet, cert=SERVER_CERT) as server:
        code, out, err = run(
            ["watch", *_kubelet(server, ca_file, token_file), *PATIENCE, "--count", "3"], capsys
        )
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 3, out
    normal, blocked, again = lines
    assert "verdict=ok" in normal and "scrape=" not in normal
    assert blocked.split()[1:3] == ["node=sim-node-1", "verdict=unknown"]
    assert blocked.endswith(
        "headroom=unknown relists_per_s=- relist_mean=— top=runtime_hung(0.70) "
        "scrape=blocked waited=0.5s healthz=200"
    ), blocked
    # the next refresh answered: diagnosed since the last scrape that did (two intervals)
    assert "verdict=ok" in again and "scrape=" not in again
    assert kubelet.scrapes == 4


def test_watch_json_lines_carry_diagnoses_scrape_object(ca_file, token_file, capsys):
    kubelet = FlakyKubelet(blocked={1, 3})  # the very first scrape blocks too
    with FakeServer(kubelet, cert=SERVER_CERT) as server:
        code, out, err = run(
            ["watch", *_kubelet(server, ca_file, token_file), *PATIENCE, "--count", "3",
             "-o", "json"],
            capsys,
        )  # fmt: skip
    assert code == 0, err
    docs = [json.loads(line) for line in out.splitlines()]
    for doc in docs:
        check_schema(doc)
    first, blocked, answered = docs
    for doc in (first, blocked):
        assert doc["verdict"] == "unknown" and doc["causes"][0]["id"] == "runtime_hung"
        assert doc["scrape"]["blocked"] is True and doc["scrape"]["waited_seconds"] == 0.5
        assert doc["scrape"]["health_status"] == 200 and doc["scrape"]["metrics_seconds"] is None
    assert first["node"] is None and blocked["node"] == "sim-node-1"  # known once one answered
    assert answered["verdict"] == "ok" and answered["window_seconds"] == 10  # scrapes 2 and 4
    assert answered["scrape"]["blocked"] is False
    assert 0 <= answered["scrape"]["metrics_seconds"] < 0.5
    assert kubelet.scrapes == 4


def test_watch_screen_says_the_kubelet_is_up_and_the_watch_goes_on(ca_file, token_file):
    import io

    from rich.console import Console

    from pleg_doctor.commands import pipeline
    from pleg_doctor.commands.watch import run_watch
    from pleg_doctor.sources.kubelet import KubeletSource

    kubelet = FlakyKubelet(blocked={2})
    with FakeServer(kubelet, cert=SERVER_CERT) as server:
        source = KubeletSource(
            f"127.0.0.1:{server.port}", cacert=ca_file, token_file=token_file, timeout=0.5
        )
        screen = Console(file=io.StringIO(), record=True, force_terminal=True, width=100)
        reports = run_watch(
            source,
            interval=0.01,
            count=1,
            runtime_request_timeout=120,
            diagnose_pair=lambda snaps, facts: pytest.fail("the refresh blocked"),
            blocked=lambda exc, node: pipeline.blocked_report(
                exc, [source], runtime_request_timeout=120, select=(), ignore=(), node=node
            ),
            console=screen,
            plain=False,
        )
    text = " ".join(screen.export_text().split())
    assert [r.verdict for r in reports] == ["unknown"]
    assert "PLEG UNKNOWN" in text and "runtime_hung (0.70)" in text
    assert "/metrics did not answer in 500 ms while /healthz answered in" in text
    assert "still watching (the next refresh may answer)" in text


def test_capture_of_a_blocked_scrape_is_one_line_and_writes_nothing(
    ca_file, token_file, tmp_path, capsys
):
    target = tmp_path / "w3.prom"
    with FakeServer(blocking_kubelet(30.0), cert=SERVER_CERT) as server:
        args = [*_kubelet(server, ca_file, token_file), "--timeout", "0.5s"]
        code, out, err = run(["capture", str(target), *args], capsys)
        url = f"https://127.0.0.1:{server.port}/metrics"
    assert code == 3 and out == ""
    assert not target.exists() and not list(tmp_path.glob(".w3.prom*"))  # no temporary left
    message, hint = err.splitlines()[-2:]  # after the deprecation line of --token-file
    assert message.startswith(f"pleg-doctor: error: kubelet {url}: /metrics did not answer in ")
    assert "while /healthz answered in " in message
    assert message.endswith(f": the container runtime is likely hung; {target} not written")
    assert hint == (
        f"  hint: outwait the CRI timeout: pleg-doctor diagnose --kubelet {url} "
        "--metrics-timeout 150s (with this capture's TLS and credential options)"
    )
