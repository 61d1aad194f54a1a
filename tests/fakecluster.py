"""A fake API server with many nodes, for `pleg-doctor scan` (tests and benchmarks/bench_scan.py).

It answers what `scan` asks, the way a real API server does:

* `GET /api/v1/nodes?limit=N[&labelSelector=...][&continue=...]`: the node list in pages of at
  most `page_size` (a real server may return fewer than `limit`), metadata only when the
  `Accept` header asks for a `PartialObjectMetadataList` (a full `NodeList` otherwise), equality
  and existence label selectors;
* `GET /api/v1/nodes/NAME/proxy/metrics` and `.../proxy/healthz`: each node's kubelet, which
  behaves as its `kind` says (below);
* 401 without the bearer token, 404 for a node that does not exist, Kubernetes `Status` bodies
  for errors.

Node kinds: `healthy` and `sick` serve their dumps (the n-th scrape gets the n-th dump, the last
one after that, with the simulated kubelet's clock as the `Date`); `blocked` stalls `/metrics`
while `/healthz` answers `ok` (a hung container runtime); `unreachable` stalls both (the node is
gone); `refused` answers 403 (RBAC); `proxy-error` answers the 503 the API server sends when it
cannot reach the kubelet. The handler runs in the FakeServer's threads (tests/fakeserver.py),
which also counts the connections open at once.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import threading
import urllib.parse
from collections.abc import Sequence
from typing import Any, Literal

from tests.fakeserver import Reply, Seen, status_json
from tests.kubelet_sim import KubeletSim, Runtime

NodeKind = Literal["healthy", "sick", "blocked", "unreachable", "refused", "proxy-error"]

JSON = "application/json"
STALL_SECONDS = 120.0
"""How long a blocked kubelet holds a scrape: the kubelet's CRI timeout."""


@dataclasses.dataclass
class FakeNode:
    name: str
    kind: NodeKind
    dumps: Sequence[tuple[bytes, str]] = ()
    """(body, Date header) per scrape, for `healthy` and `sick` nodes."""
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    expected_verdict: str = "ok"
    expected_cause: str | None = None


def sim_dumps(
    sim: KubeletSim, *, hang: bool = False, seconds: float = 300
) -> list[tuple[bytes, str]]:
    """Two scrapes of `sim`, `seconds` apart; with `hang`, its runtime hangs from `seconds`
    before the first on (so a single scrape shows it too)."""
    sim.run(seconds)
    if hang:
        sim.hang_runtime_for(seconds)
    first = (sim.dump(header=False).encode(), email.utils.formatdate(sim.now, usegmt=True))
    if hang:
        sim.hang_runtime_for(seconds)
    else:
        sim.run(seconds)
    second = (sim.dump(header=False).encode(), email.utils.formatdate(sim.now, usegmt=True))
    return [first, second]


def build_cluster(
    total: int,
    *,
    blocked: int,
    unreachable: int,
    refused: int,
    proxy_errors: int,
    wedged: int,
    hung: int,
) -> list[FakeNode]:
    """`total` nodes: the troubled ones first by kind, then healthy ones (every third a worker
    with the `node-role.kubernetes.io/worker` label). Healthy nodes share three simulated dumps
    (simulating hundreds of kubelets would cost seconds for nothing)."""
    healthy_dumps = [
        sim_dumps(KubeletSim(node=f"sim-{i}", pods=20 + 30 * i, churn_pods_per_relist=0.02 * i))
        for i in range(3)
    ]
    wedged_dumps = sim_dumps(KubeletSim(node="sim-wedged", runtime=Runtime(wedged_pods=1)))
    hung_dumps = sim_dumps(KubeletSim(node="sim-hung"), hang=True)
    nodes: list[FakeNode] = []

    def add(kind: NodeKind, count: int, **extra: Any) -> None:
        for _ in range(count):
            index = len(nodes)
            name = f"node-{index:04d}.{kind}.example"
            labels = {"kubernetes.io/hostname": name}
            if index % 3 == 0:
                labels["node-role.kubernetes.io/worker"] = ""
            nodes.append(FakeNode(name=name, kind=kind, labels=labels, **extra))

    add("blocked", blocked, expected_verdict="unknown", expected_cause="runtime_hung")
    add("unreachable", unreachable, expected_verdict="unknown")
    add("refused", refused, expected_verdict="unknown")
    add("proxy-error", proxy_errors, expected_verdict="unknown")
    add(
        "sick",
        wedged,
        dumps=wedged_dumps,
        expected_verdict="warning",
        expected_cause="container_wedged",
    )
    add("sick", hung, dumps=hung_dumps, expected_verdict="critical", expected_cause="runtime_hung")
    for index in range(total - len(nodes)):
        add("healthy", 1, dumps=healthy_dumps[index % 3])
    return nodes


class FakeCluster:
    """The handler of a FakeServer acting as the API server of `nodes`."""

    def __init__(self, nodes: Sequence[FakeNode], *, token: str, page_size: int = 80) -> None:
        self.nodes = {node.name: node for node in nodes}
        self.order = [node.name for node in nodes]
        self.token = token
        self.page_size = page_size
        self.lock = threading.Lock()
        self.scrapes: dict[str, int] = {}
        """`/metrics` requests per node."""
        self.probes: dict[str, int] = {}
        """`/healthz` requests per node."""
        self.list_requests: list[tuple[dict[str, str], str]] = []
        """(query, Accept header) of each node-list request."""

    def __call__(self, seen: Seen) -> Reply:
        if seen.headers.get("Authorization") != f"Bearer {self.token}":
            return Reply(401, status_json(401, "Unauthorized", "Unauthorized"), JSON)
        url = urllib.parse.urlsplit(seen.path)
        if url.path == "/api/v1/nodes":
            return self._list(dict(urllib.parse.parse_qsl(url.query)), seen.headers)
        parts = url.path.split("/")
        if len(parts) == 7 and parts[:4] == ["", "api", "v1", "nodes"] and parts[5] == "proxy":
            return self._proxy(urllib.parse.unquote(parts[4]), parts[6])
        return Reply(404, status_json(404, "NotFound", "the server could not find it"), JSON)

    # -- the node list

    def _list(self, query: dict[str, str], headers: dict[str, str]) -> Reply:
        with self.lock:
            self.list_requests.append((query, headers.get("Accept", "")))
        names = [name for name in self.order if _matches(self.nodes[name].labels, query)]
        start = int(query.get("continue", "0") or 0)
        size = min(int(query.get("limit", "500")), self.page_size)
        page = names[start : start + size]
        token = str(start + size) if start + size < len(names) else ""
        metadata_only = "as=PartialObjectMetadataList" in headers.get("Accept", "")
        items = [_item(self.nodes[name], metadata_only=metadata_only) for name in page]
        doc = {
            "kind": "PartialObjectMetadataList" if metadata_only else "NodeList",
            "apiVersion": "meta.k8s.io/v1" if metadata_only else "v1",
            "metadata": {"resourceVersion": "12345", "continue": token},
            "items": items,
        }
        return Reply(body=json.dumps(doc).encode(), content_type=JSON)

    # -- the node proxy

    def _proxy(self, name: str, path: str) -> Reply:
        node = self.nodes.get(name)
        if node is None:
            return Reply(404, status_json(404, "NotFound", f'nodes "{name}" not found'), JSON)
        if path == "healthz":
            with self.lock:
                self.probes[name] = self.probes.get(name, 0) + 1
            if node.kind == "unreachable":
                return Reply(stall_seconds=STALL_SECONDS)
            return Reply(body=b"ok", content_type="text/plain; charset=utf-8")
        if path != "metrics":
            return Reply(404, status_json(404, "NotFound", "the server could not find it"), JSON)
        with self.lock:
            count = self.scrapes.get(name, 0)
            self.scrapes[name] = count + 1
        if node.kind in ("blocked", "unreachable"):
            return Reply(stall_seconds=STALL_SECONDS)
        if node.kind == "refused":
            message = (
                f'nodes "{name}" is forbidden: User "scanner" cannot get resource '
                '"nodes/proxy" in API group "" at the cluster scope'
            )
            return Reply(403, status_json(403, "Forbidden", message), JSON)
        if node.kind == "proxy-error":
            message = (
                "error trying to reach service: dial tcp 10.0.9.9:10250: connect: no route to host"
            )
            return Reply(503, status_json(503, "ServiceUnavailable", message), JSON)
        body, date = node.dumps[min(count, len(node.dumps) - 1)]
        return Reply(body=body, date=date, gzip=True)


def _matches(labels: dict[str, str], query: dict[str, str]) -> bool:
    """`key`, `key=value`, `key!=value`, comma-separated (all must hold)."""
    selector = query.get("labelSelector", "")
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.rstrip("=")) != value:
                return False
        elif term not in labels:
            return False
    return True


def _item(node: FakeNode, *, metadata_only: bool) -> dict[str, Any]:
    metadata = {"name": node.name, "labels": node.labels, "uid": f"uid-{node.name}"}
    if metadata_only:
        return {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
        }
    # A full Node: what makes metadata-only lists worth asking for (the image list).
    images = [
        {"names": [f"registry.example/app-{i}:1.0"], "sizeBytes": 10_000_000} for i in range(50)
    ]
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": metadata,
        "status": {"images": images, "nodeInfo": {"kubeletVersion": "v1.29.4"}},
    }
