"""`pleg-doctor scan` against a real HTTPS fake API server (trustme certificates) with many nodes.

The fake cluster (tests/fakecluster.py) has 200 nodes: kubelets whose `/metrics` blocks while
`/healthz` answers (a hung runtime), nodes that answer nothing, scrapes the API server refuses
(403) or cannot proxy (503), simulated sick kubelets (a wedged container, a hung runtime) and
healthy ones. Every node must be listed with what happened to it, the server must never see more
connections at once than `--concurrency`, and the blocked nodes must be waited for in parallel.
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from pleg_doctor.commands.scan import progress_bar
from pleg_doctor.core.scan import OUTCOMES
from pleg_doctor.sources.scan import LIST_ACCEPT, NodeScrape
from tests.fakecluster import FakeCluster, build_cluster
from tests.fakeserver import (
    CA,
    SERVER_CERT,
    TOKEN,
    FakeServer,
    plugin_runs,
    secret_guard,
    write_exec_plugin,
)
from tests.test_sources_apiserver import write_kubeconfig

from .helpers import check_schema, run_cli

TIMEOUT = "2s"
"""Each scrape's deadline here: the blocked kubelets stall 120 s, so 2 s keeps the test fast. The
deadline covers the TLS handshake and the request too: on a loaded machine 1 s was sometimes
spent before a healthy node's request reached the server."""


@pytest.fixture(autouse=True)
def _clean_env_and_secret_check(monkeypatch, caplog, capsys):
    yield from secret_guard(monkeypatch, caplog, capsys)


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.crt"
    CA.cert_pem.write_to_path(str(path))
    return path


def kubeconfig(
    tmp_path: Path, server: FakeServer, ca: Path, user: dict[str, Any] | None = None
) -> str:
    path = write_kubeconfig(tmp_path / "config", server.url(""), user or {"token": TOKEN}, ca=ca)
    return str(path)


def scan(args: list[str], capsys) -> tuple[int, dict[str, Any] | str, str]:
    code, out, err = run_cli(["scan", *args], capsys, secrets=(TOKEN,))
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, out, err


def by_node(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["node"]: node for node in doc["nodes"]}


# --- 200 nodes -----------------------------------------------------------------------------------


def test_200_nodes_every_one_listed_blocked_ones_in_parallel_within_the_bound(
    tmp_path, ca_file, capsys
):
    nodes = build_cluster(
        200, blocked=12, unreachable=4, refused=6, proxy_errors=4, wedged=3, hung=3
    )
    cluster = FakeCluster(nodes, token=TOKEN)
    with FakeServer(cluster, cert=SERVER_CERT) as server:
        config = kubeconfig(tmp_path, server, ca_file)
        started = time.monotonic()
        code, doc, err = scan(
            ["--kubeconfig", config, "--timeout", TIMEOUT, "--concurrency", "8", "-o", "json"],
            capsys,
        )
        elapsed = time.monotonic() - started
        max_active = server.max_active
    assert isinstance(doc, dict), doc
    assert code == 2  # the worst node: a hung runtime, critical
    # fleet's shape, with the API server for the Prometheus
    assert list(doc) == [
        "schema",
        "apiserver",
        "selector",
        "evaluated_at",
        "range_seconds",
        "summary",
        "nodes",
    ]
    assert doc["schema"] == "pleg-doctor/v1"
    assert doc["apiserver"] == server.url("") and doc["selector"] is None
    assert doc["range_seconds"] is None
    assert doc["summary"]["by_scrape"] == {
        "ok": 200 - 12 - 4 - 6 - 4,
        "blocked": 12,
        "refused": 6,
        "unreachable": 4,
        "error": 4,
    }
    assert doc["summary"]["by_verdict"] == {"critical": 3, "warning": 3, "unknown": 26, "ok": 168}
    for node in doc["nodes"]:
        check_schema(node)
        assert node["source"]["kind"] == "apiserver"
        assert node["source"]["location"].endswith(f"/api/v1/nodes/{node['node']}/proxy/metrics")
    # every node listed, with what happened to it
    reports = by_node(doc)
    assert set(reports) == {node.name for node in nodes}
    for node in nodes:
        report = reports[node.name]
        assert report["verdict"] == node.expected_verdict, (node.name, report["notes"])
        top = report["causes"][0]["id"] if report["causes"] else None
        if node.expected_cause is not None:
            assert top == node.expected_cause, (node.name, report["causes"])
        if node.kind == "blocked":
            assert report["notes"][0].startswith("/metrics blocked 2 s while /healthz answers")
            assert "container runtime likely hung" in report["notes"][0]
            evidence = {e["metric"]: e["value"] for e in report["causes"][0]["evidence"]}
            assert evidence["/healthz"] == "200 ok"
            assert evidence["/metrics"].startswith("/metrics did not answer in 2.")
            step = report["causes"][0]["next_steps"][0]
            assert f"--node {node.name} --metrics-timeout 150s" in step
            assert report["scrape"]["blocked"] is True
            assert report["scrape"]["health_path"] == f"/api/v1/nodes/{node.name}/proxy/healthz"
        elif node.kind == "unreachable":
            assert top is None
            assert "/healthz did not answer either" in report["notes"][0]
        elif node.kind == "refused":
            assert report["notes"][0].startswith("API server denied access (403 Forbidden): ")
            assert "get nodes/proxy" in report["notes"][0]
            assert "server said: nodes" in report["notes"][0]
        elif node.kind == "proxy-error":
            assert report["notes"][0] == (
                "API server answered 503 Service Unavailable: server said: error trying to "
                "reach service: dial tcp 10.0.9.9:10250: connect: no route to host"
            )
    # ranked like fleet: critical, warning, unknown, ok
    verdicts = [n["verdict"] for n in doc["nodes"]]
    assert verdicts == sorted(verdicts, key=["critical", "warning", "unknown", "ok"].index)
    # one scrape per node, /healthz asked only after a timeout, the list in pages, names only
    assert cluster.scrapes == {node.name: 1 for node in nodes}
    assert set(cluster.probes) == {n.name for n in nodes if n.kind in ("blocked", "unreachable")}
    assert [query.get("continue", "") for query, _ in cluster.list_requests] == ["", "80", "160"]
    assert all(accept == LIST_ACCEPT for _, accept in cluster.list_requests)
    # the bound held, and it was used
    assert 2 <= max_active <= 8, max_active
    # In parallel: 16 nodes each hold a scrape for the 2 s deadline (4 of them the probe too);
    # one at a time that alone is 40 s.
    assert elapsed < 16, elapsed
    # no progress bar off a terminal: stderr has nothing to say
    assert err == "", err


def test_window_scrapes_every_node_twice_and_diagnoses_between(tmp_path, ca_file, capsys):
    nodes = build_cluster(10, blocked=1, unreachable=0, refused=0, proxy_errors=0, wedged=2, hung=1)
    cluster = FakeCluster(nodes, token=TOKEN)
    with FakeServer(cluster, cert=SERVER_CERT) as server:
        config = kubeconfig(tmp_path, server, ca_file)
        code, doc, err = scan(
            ["--kubeconfig", config, "--timeout", TIMEOUT, "--window", "3s", "-o", "json"],
            capsys,
        )
    assert isinstance(doc, dict), doc
    assert code == 2 and doc["range_seconds"] == 3
    assert cluster.scrapes == {node.name: 2 for node in nodes}
    reports = by_node(doc)
    for node in nodes:
        report = reports[node.name]
        assert report["verdict"] == node.expected_verdict
        if node.kind in ("healthy", "sick"):
            # the window between the passes: the simulated kubelet's Date headers (300 s or more)
            first, second = (parsedate_to_datetime(date) for _, date in node.dumps)
            assert report["window_seconds"] == (second - first).total_seconds() >= 300
    assert "waiting" in err and "second pass" in err


def test_selector_and_table(tmp_path, ca_file, capsys):
    nodes = build_cluster(30, blocked=3, unreachable=0, refused=1, proxy_errors=0, wedged=1, hung=0)
    workers = {n.name for n in nodes if "node-role.kubernetes.io/worker" in n.labels}
    cluster = FakeCluster(nodes, token=TOKEN)
    with FakeServer(cluster, cert=SERVER_CERT) as server:
        config = kubeconfig(tmp_path, server, ca_file)
        code, table, _ = scan(
            ["--kubeconfig", config, "--timeout", TIMEOUT, "-l", "node-role.kubernetes.io/worker"],
            capsys,
        )
    assert isinstance(table, str)
    assert set(cluster.scrapes) == workers and len(workers) == 10
    assert cluster.list_requests[0][0]["labelSelector"] == "node-role.kubernetes.io/worker"
    lines = table.splitlines()
    assert lines[0].startswith(f"PLEG scan: {len(workers)} node(s) · API server {server.url('')}")
    assert lines[1].startswith("one scrape per node: counters since each kubelet started")
    assert lines[2] == "selector node-role.kubernetes.io/worker"
    blocked = sum(1 for n in nodes if n.kind == "blocked" and n.name in workers)
    assert lines[3].startswith(f"scrapes: {len(workers) - blocked - 1} read · {blocked} blocked")
    rows = [line for line in lines if ".blocked.example" in line and not line.startswith("$")]
    assert len(rows) == blocked
    assert all("UNKNOWN" in row and "runtime_hung (0.70)" in row for row in rows)
    # each blocked node (up to 3, worst first) gets the diagnose that outwaits the CRI timeout
    blocked_workers = sorted(n.name for n in nodes if n.kind == "blocked" and n.name in workers)
    assert blocked_workers
    assert [line for line in lines if "--metrics-timeout" in line] == [
        f"$ pleg-doctor diagnose --node {name} --metrics-timeout 150s --kubeconfig {config}"
        "   # /metrics blocked: outwait the CRI timeout"
        for name in blocked_workers[:3]
    ], table
    # the worst worker's verdict (unknown ranks below warning, above ok)
    order = ["critical", "warning", "unknown", "ok"]
    worst = min((n.expected_verdict for n in nodes if n.name in workers), key=order.index)
    assert code == {"critical": 2, "warning": 1, "unknown": 3, "ok": 0}[worst]


def test_one_credential_lookup_per_pass(tmp_path, ca_file, capsys):
    """An exec plugin (aws eks get-token, gke-gcloud-auth-plugin) runs once, not once per node."""
    nodes = build_cluster(20, blocked=0, unreachable=0, refused=0, proxy_errors=0, wedged=0, hung=0)
    plugin, record = write_exec_plugin(tmp_path, token=TOKEN)
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin)}}
    with FakeServer(FakeCluster(nodes, token=TOKEN), cert=SERVER_CERT) as server:
        config = kubeconfig(tmp_path, server, ca_file, user=user)
        # --debug logs every request: the token must not be in any of it (secret_guard)
        code, doc, err = scan(["--kubeconfig", config, "-o", "json", "--debug"], capsys)
    assert code == 0 and isinstance(doc, dict) and len(doc["nodes"]) == 20
    assert len(plugin_runs(record)) == 1
    assert err.count("/proxy/metrics") >= 20 and "Authorization" in err  # debug lines, redacted


# --- failures of the scan itself ------------------------------------------------------------------


def test_list_refused_names_the_permission(tmp_path, ca_file, capsys):
    nodes = build_cluster(3, blocked=0, unreachable=0, refused=0, proxy_errors=0, wedged=0, hung=0)
    with FakeServer(FakeCluster(nodes, token="another-token"), cert=SERVER_CERT) as server:
        config = kubeconfig(tmp_path, server, ca_file)
        code, out, err = scan(["--kubeconfig", config], capsys)
    assert code == 3 and out == ""
    assert "pleg-doctor: error: API server" in err and "401" in err
    assert err.count("\n") <= 2


def test_no_node_matches_the_selector(tmp_path, ca_file, capsys):
    nodes = build_cluster(3, blocked=0, unreachable=0, refused=0, proxy_errors=0, wedged=0, hung=0)
    with FakeServer(FakeCluster(nodes, token=TOKEN), cert=SERVER_CERT) as server:
        config = kubeconfig(tmp_path, server, ca_file)
        code, out, err = scan(["--kubeconfig", config, "-l", "pool=gpu"], capsys)
    assert code == 3 and out == ""
    assert "no node matches --selector 'pool=gpu'" in err


def test_bad_options_exit_3(capsys):
    code, _, err = scan(["--concurrency", "0"], capsys)
    assert code == 3 and "--concurrency" in err


# --- the progress bar -----------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_counts_what_did_not_read(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setenv("TERM", "xterm")  # rich does not animate a dumb terminal
    with progress_bar(3, "scraping kubelets") as advance:
        for outcome in ("ok", "blocked", "refused"):
            advance(NodeScrape(node="n", location="u", outcome=outcome, snapshot=None))
        time.sleep(0.3)  # rich redraws 10 times a second; the bar is gone (transient) after
    shown = terminal.getvalue()
    assert "scraping kubelets" in shown and "3/3" in shown
    assert "1 blocked" in shown and "1 refused" in shown
    assert set(OUTCOMES) == {"ok", "blocked", "refused", "unreachable", "error"}


# --- the core's side, pure ------------------------------------------------------------------------


def _snapshot(text: str, *, captured_at: float | None) -> Any:
    from pleg_doctor.core.exposition import parse_exposition
    from pleg_doctor.core.snapshot import build_snapshot

    parsed = parse_exposition([text.encode()], name="sim")
    origin = "at" if captured_at is not None else "unknown"
    return build_snapshot(
        parsed.samples, name="sim", node="n1", captured_at=captured_at, captured_at_origin=origin
    )


def test_a_node_that_blocks_on_the_second_pass_keeps_the_first_pass_figures_and_says_so():
    from pleg_doctor.core.causes.scrape import metrics_blocked
    from pleg_doctor.core.scan import diagnose_scan, scanned_node
    from tests.kubelet_sim import KubeletSim

    sim = KubeletSim(node="n1")
    sim.run(300)
    first = _snapshot(sim.dump(header=False), captured_at=sim.now)
    blocked = metrics_blocked(node="n1", waited_seconds=10, healthz="200 ok")
    node = scanned_node(
        node="n1",
        location="https://api/api/v1/nodes/n1/proxy/metrics",
        snapshots=[first],
        outcome="blocked",
        scanned_at=sim.now + 30,
        problem="/metrics blocked 10 s while /healthz answers (200 ok): container runtime likely hung",
        findings=[blocked],
    )
    report = diagnose_scan(
        [node], apiserver="https://api", selector=None, scanned_at=sim.now + 30, window_seconds=30
    )
    (only,) = report.reports
    assert only.verdict == "unknown" and only.notes[0].startswith("/metrics blocked 10 s")
    assert any("earlier pass" in note for note in only.notes)
    assert only.causes[0].id == "runtime_hung" and only.causes[0].score == 0.7
    assert only.model.headroom_seconds is not None  # the first pass's figures are kept
    assert report.by_scrape()["blocked"] == 1
    doc = report.to_dict()
    assert doc["range_seconds"] == 30 and doc["summary"]["by_scrape"]["blocked"] == 1


def test_scrapes_without_a_date_are_diagnosed_alone_and_duplicate_causes_merge():
    from pleg_doctor.core.causes import Evidence, Finding
    from pleg_doctor.core.fleet import merge_causes
    from pleg_doctor.core.scan import scanned_node
    from tests.kubelet_sim import KubeletSim

    sim = KubeletSim(node="n1")
    sim.run(60)
    # No capture time at all (no Date header, and the dump's own clocks could not bound it).
    a = dataclasses.replace(_snapshot(sim.dump(header=False), captured_at=None), captured_at=None)
    sim.run(60)
    b = dataclasses.replace(_snapshot(sim.dump(header=False), captured_at=None), captured_at=None)
    node = scanned_node(node="n1", location="u", snapshots=[a, b], outcome="ok", scanned_at=sim.now)
    assert node.window.is_lifetime and node.window.last is b
    assert any("no Date header" in note for note in node.notes)
    low = Finding(
        id="runtime_hung", score=0.4, title="t", evidence=(Evidence("m", 1, "a"),), next_steps=()
    )
    high = Finding(
        id="runtime_hung", score=0.7, title="t", evidence=(Evidence("n", 2, "b"),), next_steps=()
    )
    other = Finding(id="pod_churn", score=0.5, title="c", evidence=(), next_steps=())
    (hung, churn) = merge_causes([high], [low, other])
    assert (hung.id, hung.score, churn.id) == ("runtime_hung", 0.7, "pod_churn")
    assert [e.metric for e in hung.evidence] == ["n", "m"]
