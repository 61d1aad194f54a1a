"""`pleg-doctor fleet` against a real Prometheus (Debian's `prometheus` and `promtool`).

A simulated fleet (tests/promsim.py: 30 healthy kubelets plus a wedged container, a hung runtime,
a slow runtime, discarded events, a kubelet Prometheus cannot scrape and a pre-1.14 kubelet) is
written as 30 minutes of OpenMetrics history at 30 s steps, ending a minute before the test
starts, loaded with `promtool tsdb create-blocks-from openmetrics`, and served by a Prometheus on
a free loopback port. The API calls are counted by Prometheus itself
(`prometheus_http_requests_total{handler="/api/v1/query"}` on its own `/metrics`).

The binaries must be there (scripts/test.sh installs them): a missing one fails, never skips.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakeserver import SECRETS, TOKEN

from .helpers import check_schema, run_cli
from .promserver import backfill, serve
from .promsim import SimNode, build_fleet, write_history

pytestmark = pytest.mark.integration

HEALTHY = 30
HISTORY_SECONDS = 1800.0
STEP_SECONDS = 30.0
HEADER_SECRET = "org-secret-51f0e2d3c4b5"

_REQUESTS_RE = re.compile(
    r'^prometheus_http_requests_total\{(?=[^}]*handler="/api/v1/query")[^}]*\} (\S+)$', re.M
)


@dataclasses.dataclass(frozen=True)
class LivePrometheus:
    url: str
    end: float
    nodes: tuple[SimNode, ...]
    log: Path

    def query_calls(self) -> int:
        """Requests Prometheus served on /api/v1/query, by its own count."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:
            text = response.read().decode()
        return round(sum(float(v) for v in _REQUESTS_RE.findall(text)))


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePrometheus]:
    work = tmp_path_factory.mktemp("fleet-prometheus")
    # In the recent past, so the blocks sit well inside any retention, and close enough to now
    # that a query at the server's own time (no --at) still sees the last scrapes (5 m lookback).
    end = float((int(time.time()) // 60) * 60 - 60)
    nodes = build_fleet(HEALTHY, start=end - HISTORY_SECONDS - 600)
    history = work / "history.om"
    write_history(nodes, history, end=end, duration=HISTORY_SECONDS, step=STEP_SECONDS)
    data = work / "data"
    backfill(history, data)
    with serve(data, work) as url:
        yield LivePrometheus(url=url, end=end, nodes=tuple(nodes), log=work / "prometheus.log")


def run(args, capsys):
    return run_cli(args, capsys, secrets=(*SECRETS, HEADER_SECRET))


def _name(node: SimNode) -> str:
    minor = int(node.sim.version.split(".")[1])
    # kubelet_node_name exists from 1.14 on; before, the instance names the node
    return node.sim.node if minor >= 14 else node.instance


def test_fleet_ranks_every_node_with_few_queries(prometheus: LivePrometheus, capsys):
    before = prometheus.query_calls()
    started = time.monotonic()
    code, out, err = run(
        ["fleet", "--prometheus", prometheus.url, "--at", str(prometheus.end), "-o", "json"],
        capsys,
    )
    elapsed = time.monotonic() - started
    calls = prometheus.query_calls() - before
    assert code == 2, err  # the hung runtime is critical
    assert calls == 8 <= 20, calls  # --at: no time() query; the rules' info, 7 queries
    assert elapsed < 10, elapsed
    doc = json.loads(out)
    assert doc["evaluated_at"].startswith(time.strftime("%Y-%m-%dT", time.gmtime(prometheus.end)))
    assert doc["range_seconds"] == 300
    by_name = {n["node"]: n for n in doc["nodes"]}
    assert set(by_name) == {_name(n) for n in prometheus.nodes}, "every node, once"
    assert len(doc["nodes"]) == len(prometheus.nodes)
    for node in doc["nodes"]:
        check_schema(node)
        assert node["source"] == {"kind": "prometheus", "location": prometheus.url}
    # The v1.13 kubelet is healthy: judged from its µs summaries, it ranks among the OK nodes.
    sick = [n for n in prometheus.nodes if n.scenario not in ("healthy", "old")]
    ranked = [n["node"] for n in doc["nodes"]]
    assert set(ranked[: len(sick)]) == {_name(n) for n in sick}, ranked[:8]
    for node in sick:
        got = by_name[_name(node)]
        if node.expected_verdict is not None:
            assert got["verdict"] == node.expected_verdict, (node.scenario, got["notes"])
        top = got["causes"][0]["id"] if got["causes"] else None
        if node.expected_top_cause is not None:
            assert top == node.expected_top_cause, (node.scenario, got["causes"])
        if got["verdict"] == "unknown":  # the reason leads the notes (the JSON has no reasons)
            assert "up == 0" in got["notes"][0] or "kubelet_pleg_" in got["notes"][0]
    assert ranked[0] == "sick-hung"
    hung = by_name["sick-hung"]
    assert hung["relist"]["last_seen_age_seconds"] > 400 and hung["headroom_seconds"] < 0
    wedged = by_name["sick-wedged"]
    assert wedged["relist"]["over_top_bucket"] >= 1
    pss = next(o for o in wedged["runtime_ops"] if o["operation"] == "podsandbox_status")
    assert pss["timeouts"] >= 1
    healthy = [by_name[_name(n)] for n in prometheus.nodes if n.scenario == "healthy"]
    assert all(n["verdict"] == "ok" for n in healthy)
    assert all(n["window_seconds"] == 300 and n["relist"]["count"] > 200 for n in healthy)
    summary = doc["summary"]
    assert summary["by_verdict"] == {
        "critical": 1,
        "warning": 2,
        "unknown": 1,
        "ok": HEALTHY + 2,
    }
    old = by_name[_name(next(n for n in prometheus.nodes if n.scenario == "old"))]
    assert old["relist"]["count"] > 200 and old["relist"]["last_seen_age_seconds"] is None
    assert summary["by_top_cause"]["container_wedged"] == 1
    assert summary["by_top_cause"]["runtime_hung"] == 1


def test_fleet_at_the_servers_time_with_auth_and_debug_leaks_nothing(
    prometheus: LivePrometheus, capsys
):
    before = prometheus.query_calls()
    code, out, err = run(
        [
            "fleet",
            "--prometheus",
            prometheus.url + "/",
            "--prometheus-token",
            TOKEN,
            "--header",
            f"X-Scope-OrgID: {HEADER_SECRET}",
            "--top",
            "8",
            "--debug",
        ],
        capsys,
    )
    calls = prometheus.query_calls() - before
    assert code == 2, err
    assert calls == 9  # time() first, the rules' info, then the seven fleet queries
    assert "pleg-doctor: debug:" in err and "<redacted>" in err
    lines = out.splitlines()
    assert lines[0].startswith(f"PLEG fleet: {len(prometheus.nodes)} node(s)")
    # The first ranked row (the summary line may also start with "1 ": "1 critical · ...").
    first_row = next(line for line in lines if re.match(r"\s*1\s+\S+\s+[A-Z]{2,}", line))
    assert "sick-hung" in first_row and "CRITICAL" in first_row
    assert "more node(s) not shown" in out


def test_fleet_errors_from_a_real_prometheus(prometheus: LivePrometheus, capsys):
    at = str(prometheus.end)
    code, out, err = run(
        ["fleet", "--prometheus", prometheus.url, "--at", at, "--selector", 'job="kubelet'],
        capsys,
    )
    assert code == 3 and out == ""
    assert "rejected a query (bad_data:" in err and "the query was: " in err
    assert len(err.strip().splitlines()) == 2
    code, out, err = run(
        [
            "fleet",
            "--prometheus",
            prometheus.url,
            "--at",
            at,
            "--selector",
            'job="kubernetes-nodes"',
        ],
        capsys,
    )
    assert code == 3 and out == ""
    assert "match --selector 'job=\"kubernetes-nodes\"'" in err
    assert 'try --selector \'job="kubelet",metrics_path="/metrics"\'' in err
