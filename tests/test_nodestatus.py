"""The Node's view (Ready condition, node events) against a real HTTPS fake API server."""

from __future__ import annotations

import json
import re
import traceback
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from pleg_doctor.errors import SourceAuthError, SourceError, UsageError
from pleg_doctor.sources.nodestatus import (
    events_url,
    fetch_node_view,
    node_evidence,
    parse_events,
    parse_node,
)
from tests.fakeserver import (
    CA,
    SERVER_CERT,
    TOKEN,
    FakeServer,
    Reply,
    Seen,
    assert_secret_free,
    secret_guard,
    status_json,
)
from tests.test_sources_apiserver import write_kubeconfig

NODE = "worker-1"
PLEG_MESSAGE = (
    "container runtime status check may not have completed yet, PLEG is not healthy: pleg was "
    "last seen active 3m8.770461707s ago; threshold is 3m0s"
)

# Shapes as `kubectl get --raw /api/v1/nodes/NAME` and `/api/v1/events?...` return them.
NODE_DOC: dict[str, Any] = {
    "kind": "Node",
    "apiVersion": "v1",
    "metadata": {"name": NODE, "uid": "7d1c", "resourceVersion": "9121"},
    "spec": {"podCIDR": "10.244.1.0/24"},
    "status": {
        "conditions": [
            {
                "type": "MemoryPressure",
                "status": "False",
                "lastHeartbeatTime": "2026-11-27T10:04:50Z",
                "lastTransitionTime": "2026-11-20T08:00:00Z",
                "reason": "KubeletHasSufficientMemory",
                "message": "kubelet has sufficient memory available",
            },
            {
                "type": "Ready",
                "status": "False",
                "lastHeartbeatTime": "2026-11-27T10:04:50Z",
                "lastTransitionTime": "2026-11-27T10:01:40Z",
                "reason": "KubeletNotReady",
                "message": PLEG_MESSAGE,
            },
        ],
        "nodeInfo": {
            "kubeletVersion": "v1.29.4",
            "containerRuntimeVersion": "containerd://1.7.13",
            "kernelVersion": "5.15.0-1051-aws",
            "osImage": "Ubuntu 22.04.4 LTS",
        },
    },
}
EVENTS_DOC: dict[str, Any] = {
    "kind": "EventList",
    "apiVersion": "v1",
    "metadata": {"resourceVersion": "9200"},
    "items": [
        {
            "metadata": {"name": "worker-1.17c1", "namespace": "default"},
            "involvedObject": {"kind": "Node", "name": NODE, "uid": NODE},
            "reason": "NodeNotReady",
            "message": "Node worker-1 status is now: NodeNotReady",
            "source": {"component": "kubelet", "host": NODE},
            "firstTimestamp": "2026-11-27T09:20:10Z",
            "lastTimestamp": "2026-11-27T10:01:40Z",
            "count": 3,
            "type": "Normal",
        },
        {
            "metadata": {"name": "worker-1.17c2", "namespace": "default"},
            "involvedObject": {"kind": "Node", "name": NODE},
            "reason": "NodeReady",
            "message": "Node worker-1 status is now: NodeReady",
            "source": {"component": "kubelet", "host": NODE},
            "firstTimestamp": "2026-11-27T09:22:00Z",
            "lastTimestamp": "2026-11-27T09:58:00Z",
            "count": 2,
            "type": "Normal",
        },
        {
            # events.k8s.io-style fields, as newer recorders fill them in
            "metadata": {
                "name": "worker-1.17c3",
                "namespace": "default",
                "creationTimestamp": "2026-11-27T09:00:00Z",
            },
            "involvedObject": {"kind": "Node", "name": NODE},
            "reason": "NodeNotReady",
            "message": "Node is not ready",
            "reportingComponent": "node-controller",
            "eventTime": "2026-11-27T09:00:00.123456Z",
            "series": {"count": 2, "lastObservedTime": "2026-11-27T09:05:00.000000Z"},
            "firstTimestamp": None,
            "lastTimestamp": None,
            "type": "Normal",
        },
    ],
}


@pytest.fixture(autouse=True)
def _no_secrets(monkeypatch, caplog, capsys):
    yield from secret_guard(monkeypatch, caplog, capsys)


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.crt"
    CA.cert_pem.write_to_path(str(path))
    return path


def api(*, forbid_cluster_events: bool = False, forbid_events: bool = False, nodes=(NODE,)):
    """Node and events endpoints of an API server, token-authenticated."""
    json_type = "application/json"

    def handler(seen: Seen) -> Reply:
        if seen.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Reply(401, status_json(401, "Unauthorized", "Unauthorized"), json_type)
        parts = urllib.parse.urlsplit(seen.path)
        node = re.fullmatch(r"/api/v1/nodes/([^/]+)", parts.path)
        if node is not None:
            if node.group(1) not in nodes:
                message = f'nodes "{node.group(1)}" not found'
                return Reply(404, status_json(404, "NotFound", message), json_type)
            return Reply(200, json.dumps(NODE_DOC).encode(), json_type)
        events = re.fullmatch(r"/api/v1(/namespaces/default)?/events", parts.path)
        if events is not None:
            query = urllib.parse.parse_qs(parts.query)
            assert query["fieldSelector"] == [
                f"involvedObject.kind=Node,involvedObject.name={NODE}"
            ]
            cluster_wide = events.group(1) is None
            if forbid_events or (forbid_cluster_events and cluster_wide):
                message = 'events is forbidden: User "alice" cannot list resource "events"'
                return Reply(403, status_json(403, "Forbidden", message), json_type)
            return Reply(200, json.dumps(EVENTS_DOC).encode(), json_type)
        return Reply(404, status_json(404, "NotFound", "the server could not find it"), json_type)

    return handler


def _kubeconfig(tmp_path: Path, server: FakeServer, ca_file: Path) -> Path:
    return write_kubeconfig(
        tmp_path / "kubeconfig", server.url(path=""), {"token": TOKEN}, ca=ca_file
    )


def test_ready_condition_and_events(tmp_path, ca_file):
    with FakeServer(api(), cert=SERVER_CERT) as server:
        view = fetch_node_view(NODE, kubeconfig=_kubeconfig(tmp_path, server, ca_file), timeout=3)
    ready = view.ready
    assert ready is not None and ready.status == "False" and ready.reason == "KubeletNotReady"
    assert view.pleg_unhealthy and ready.pleg_age_seconds == pytest.approx(188.770461707)
    assert ready.last_transition is not None and ready.last_transition.isoformat() == (
        "2026-11-27T10:01:40+00:00"
    )
    assert view.kubelet_version == "v1.29.4" and view.container_runtime_version == (
        "containerd://1.7.13"
    )
    assert [(e.reason, e.count) for e in view.events] == [
        ("NodeNotReady", 3),
        ("NodeReady", 2),
        ("NodeNotReady", 2),
    ]
    assert view.events[2].source == "node-controller"
    assert [s.path.split("?")[0] for s in server.seen] == [
        f"/api/v1/nodes/{NODE}",
        "/api/v1/events",
    ]
    assert view.notes == ()
    evidence = node_evidence(view)
    assert evidence[0].value == "False (KubeletNotReady)"
    assert "the control plane saw 'PLEG is not healthy' (age 189 s)" in evidence[0].note
    assert evidence[1].metric == "NodeNotReady events" and evidence[1].value == 5
    assert "flapping" in evidence[1].note


def test_events_fall_back_to_the_default_namespace(tmp_path, ca_file):
    with FakeServer(api(forbid_cluster_events=True), cert=SERVER_CERT) as server:
        view = fetch_node_view(NODE, kubeconfig=_kubeconfig(tmp_path, server, ca_file), timeout=3)
    assert len(view.events) == 3 and view.notes == ()
    assert server.seen[-1].path.startswith("/api/v1/namespaces/default/events?")


def test_events_not_readable_is_a_note_not_a_failure(tmp_path, ca_file):
    with FakeServer(api(forbid_events=True), cert=SERVER_CERT) as server:
        view = fetch_node_view(NODE, kubeconfig=_kubeconfig(tmp_path, server, ca_file), timeout=3)
    assert view.ready is not None and view.events == ()
    (note,) = view.notes
    assert note.startswith("node events not read: ") and "list events" in note


def test_unknown_node_and_refused_token(tmp_path, ca_file):
    with FakeServer(api(nodes=()), cert=SERVER_CERT) as server:
        kubeconfig = _kubeconfig(tmp_path, server, ca_file)
        with pytest.raises(SourceError) as info:
            fetch_node_view(NODE, kubeconfig=kubeconfig, timeout=3)
        assert "node 'worker-1' not found" in str(info.value)
        bad = write_kubeconfig(tmp_path / "bad", server.url(path=""), {"token": "nope"}, ca=ca_file)
        with pytest.raises(SourceAuthError) as info:
            fetch_node_view(NODE, kubeconfig=bad, timeout=3)
    message = str(info.value)
    assert "refused" in message and message.count("\n") <= 1
    assert_secret_free("".join(traceback.format_exception(info.value)), "nope")


def test_bad_node_name_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError):
        fetch_node_view("Not_A_Node", kubeconfig=tmp_path / "missing")


def test_parse_shapes_without_a_server():
    view = parse_node({"kind": "Node", "metadata": {"name": "n"}, "status": {}}, "n")
    assert view.ready is None and "no Ready condition" in view.notes[0]
    with pytest.raises(SourceError):
        parse_node({"kind": "Status", "status": "Failure"}, "n")
    ready_doc = json.loads(json.dumps(NODE_DOC))
    ready_doc["status"]["conditions"][1].update(
        status="True", reason="KubeletReady", message="kubelet is posting ready status"
    )
    view = parse_node(ready_doc, NODE)
    assert (
        view.ready is not None and not view.pleg_unhealthy and view.ready.pleg_age_seconds is None
    )
    assert node_evidence(view)[0].note.startswith("Ready since")
    assert parse_events({"items": [{"reason": None}, "junk", {"reason": "Starting"}]})[0].count == 1
    assert parse_events([]) == ()
    assert "limit=500" in events_url("https://h:6443/", NODE)
