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

import contextlib
import dataclasses
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakeserver import SECRETS, TOKEN

from .helpers import check_schema, run_cli
from .promsim import SimNode, build_fleet, write_history

pytestmark = pytest.mark.integration

HEALTHY = 30
HISTORY_SECONDS = 1800.0
STEP_SECONDS = 30.0
READY_TIMEOUT_SECONDS = 30.0
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


def _binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(
            f"{name} not found: fleet integration tests need Debian's prometheus package "
            "(scripts/test.sh installs it: apt-get install prometheus)"
        )
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited with {process.returncode}: {log.read_text()[-2000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    pytest.fail(
        f"prometheus not ready after {READY_TIMEOUT_SECONDS:g} s: {log.read_text()[-2000:]}"
    )


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePrometheus]:
    promtool = _binary("promtool")
    binary = _binary("prometheus")
    work = tmp_path_factory.mktemp("fleet-prometheus")
    # In the recent past, so the blocks sit well inside any retention, and close enough to now
    # that a query at the server's own time (no --at) still sees the last scrapes (5 m lookback).
    end = float((int(time.time()) // 60) * 60 - 60)
    nodes = build_fleet(HEALTHY, start=end - HISTORY_SECONDS - 600)
    history = work / "history.om"
    write_history(nodes, history, end=end, duration=HISTORY_SECONDS, step=STEP_SECONDS)
    data = work / "data"
    created = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(history), str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert created.returncode == 0, created.stderr[-2000:]
    config = work / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n")  # no targets: the data is backfilled
    port = _free_port()
    log = work / "prometheus.log"
    with log.open("wb") as log_handle:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=10y",
                "--log.level=warn",
            ],
            stdout=log_handle,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process, log)
        yield LivePrometheus(url=url, end=end, nodes=tuple(nodes), log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


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
    assert calls == 7 <= 20, calls  # --at: no time() query
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
    sick = [n for n in prometheus.nodes if n.scenario != "healthy"]
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
        "unknown": 2,
        "ok": HEALTHY + 1,
    }
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
    assert calls == 8  # time() first, then the seven fleet queries at that instant
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
