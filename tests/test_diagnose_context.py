"""`diagnose --logs/--journal` (the culprit from the kubelet log) and `--node` (the Node's view)."""

from __future__ import annotations

import email.utils
import json
import os
from pathlib import Path

from tests.fakeserver import (
    CA,
    SECRETS,
    SERVER_CERT,
    TOKEN,
    FakeServer,
    Reply,
    status_json,
)

from .conftest import FIXTURES
from .helpers import check_schema, run_cli
from .kubelet_sim import KubeletSim
from .test_nodestatus import api

K3S_LOG = FIXTURES / "kubelet-logs" / "k3s-2370-containerd-hang-timeline.log"
WEDGED_CONTAINER = "127f2f8567b0680dffea820ff404f50b2566085b3c47d1452c249586ed212a5b"


def run(args, capsys):
    return run_cli(args, capsys, secrets=SECRETS)


# The k3s#2370 log is worker9's, from 16:23 to 16:38 on Oct 8 (no year: the capture's is used):
# the simulated node is that node at that time, or the log would rightly not be joined.
K3S_NODE, K3S_START = "worker9", 1791476400.0  # 2026-10-08T16:20:00Z


def _wedged_window(tmp_path: Path) -> list[str]:
    sim = KubeletSim(node=K3S_NODE, start=K3S_START)
    sim.run(300)
    (tmp_path / "a.prom").write_text(sim.dump())
    sim.runtime.wedged_pods = 1
    sim.run(600)
    (tmp_path / "b.prom").write_text(sim.dump())
    return [str(tmp_path / "a.prom"), str(tmp_path / "b.prom")]


def test_logs_name_the_wedged_container(tmp_path, capsys):
    dumps = _wedged_window(tmp_path)
    code, out, err = run(["diagnose", *dumps, "--logs", str(K3S_LOG), "-o", "json"], capsys)
    assert code == 1, err
    doc = json.loads(out)
    check_schema(doc)
    top = doc["causes"][0]
    assert top["id"] == "container_wedged"
    # the metrics' evidence first, then the log's; the log's next step names the container
    metrics = [e["metric"] for e in top["evidence"]]
    assert metrics[0].startswith("kubelet_runtime_operations")
    assert any(WEDGED_CONTAINER in step for step in top["next_steps"][:2])
    assert any(n.startswith("kubelet log (") for n in doc["notes"])
    # both sources agree: the score rises above what the metrics alone gave
    code, out_alone, _ = run(["diagnose", *dumps, "-o", "json"], capsys)
    assert top["score"] > json.loads(out_alone)["causes"][0]["score"]


def test_journal_runs_journalctl(tmp_path, capsys, monkeypatch):
    fake = tmp_path / "bin" / "journalctl"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "argv"}\ncat {K3S_LOG}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    dumps = _wedged_window(tmp_path)
    code, out, err = run(["diagnose", *dumps, "--journal", "--since", "-3h", "-o", "json"], capsys)
    assert code == 1, err
    assert "-u kubelet --since -3h" in (tmp_path / "argv").read_text()
    assert any(WEDGED_CONTAINER in s for s in json.loads(out)["causes"][0]["next_steps"])


def test_logs_and_journal_together_is_a_usage_error(tmp_path, capsys):
    dumps = _wedged_window(tmp_path)
    code, _, err = run(["diagnose", *dumps, "--logs", str(K3S_LOG), "--journal"], capsys)
    assert code == 3 and "not both" in err


def test_missing_log_file_exits_3(tmp_path, capsys):
    dumps = _wedged_window(tmp_path)
    code, _, err = run(["diagnose", *dumps, "--logs", str(tmp_path / "nope.log")], capsys)
    assert code == 3 and "nope.log" in err


def _serve_node_and_metrics(sim: KubeletSim, *, forbid_node: bool = False):
    node_api = api()

    def handler(seen):
        if seen.path == "/api/v1/nodes/worker-1/proxy/metrics":
            if seen.headers.get("Authorization") != f"Bearer {TOKEN}":
                return Reply(
                    401, status_json(401, "Unauthorized", "Unauthorized"), "application/json"
                )
            # the kubelet's clock (Date header) is the simulated one
            return Reply(
                body=sim.dump(header=False).encode(),
                date=email.utils.formatdate(sim.now, usegmt=True),
            )
        if forbid_node and seen.path.startswith("/api/v1/nodes/"):
            message = 'nodes "worker-1" is forbidden: User "alice" cannot get resource "nodes"'
            return Reply(403, status_json(403, "Forbidden", message), "application/json")
        return node_api(seen)

    return handler


def _kubeconfig(tmp_path: Path, port: int) -> Path:
    ca = tmp_path / "ca.pem"
    CA.cert_pem.write_to_path(str(ca))
    path = tmp_path / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:{port}\n"
        f"    certificate-authority: {ca}\n"
        f"users:\n- name: u\n  user:\n    token: {TOKEN}\n"
        "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
    )
    return path


def test_node_adds_what_the_control_plane_saw(tmp_path, capsys, monkeypatch):
    sim = KubeletSim(node="worker-1")
    sim.run(300)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    with FakeServer(_serve_node_and_metrics(sim), cert=SERVER_CERT) as server:
        config = _kubeconfig(tmp_path, server.port)
        code, out, err = run(
            ["diagnose", "--node", "worker-1", "--kubeconfig", str(config), "-o", "json"], capsys
        )
    assert code == 0, err
    notes = json.loads(out)["notes"]
    ready = [n for n in notes if n.startswith("control plane: Node Ready condition")]
    assert ready and "PLEG is not healthy" in ready[0]
    assert any("NodeNotReady events" in n for n in notes)


def test_node_view_refused_is_a_note_not_a_failure(tmp_path, capsys, monkeypatch):
    sim = KubeletSim(node="worker-1")
    sim.run(300)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    handler = _serve_node_and_metrics(sim, forbid_node=True)
    with FakeServer(handler, cert=SERVER_CERT) as server:
        config = _kubeconfig(tmp_path, server.port)
        code, out, err = run(
            ["diagnose", "--node", "worker-1", "--kubeconfig", str(config), "-o", "json"], capsys
        )
    assert code == 0, err
    assert any(n.startswith("Node condition not read:") for n in json.loads(out)["notes"])
