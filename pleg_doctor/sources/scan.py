"""`scan`: every node's kubelet `/metrics` through the API server, for clusters without Prometheus.

With the kubeconfig (as `--node`): the node list (`GET /api/v1/nodes`, metadata only, in pages,
optionally by label selector; RBAC `list nodes`), then each kubelet's `/metrics` through the node
proxy (`GET /api/v1/nodes/NAME/proxy/metrics`, RBAC `get nodes/proxy`), a bounded number at a
time. One request primitive (`sources/http/`) serves the whole pass: one credential lookup (an
exec plugin runs once per pass, not once per node) and one set of TLS files; each scrape is
parsed in its worker as it arrives, so the pass holds parsed snapshots, never every body.

Every node is answered for (`NodeScrape.outcome`). The deadline of a scrape is the client's
timeout: connecting, each read and the whole body. A kubelet whose container runtime hangs does
not refuse a scrape, it blocks it: its log metrics collector lists sandboxes and containers
through the CRI at scrape time, for up to the CRI timeout (`core/causes/scrape.py`), and the API
server waits with it (the `proxy` subresource is a long-running request: no server-side
timeout). So when `/metrics` outlasts the deadline, `/healthz` of the same kubelet is asked
through the same proxy (no CRI call behind it): if the kubelet answers, the node is `blocked`;
if not, `unreachable`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING

from pleg_doctor.errors import (
    PlegDoctorError,
    SourceAuthError,
    SourceConnectionError,
    SourceError,
    SourceTimeoutError,
    UsageError,
)
from pleg_doctor.sources.apiserver import node_proxy_url, proxy_wording
from pleg_doctor.sources.decode import json_document
from pleg_doctor.sources.http.client import HttpClient, http_client
from pleg_doctor.sources.http.metrics import probe_health, scrape_metrics
from pleg_doctor.sources.http.redaction import safe_url
from pleg_doctor.sources.kubeconfig.config import KubeContext, load_kubeconfig
from pleg_doctor.sources.kubeconfig.credentials import (
    KubeconfigCredentials,
)
from pleg_doctor.sources.live import HealthProbe, scrape_facts
from pleg_doctor.sources.scrape import scrape_from_dump

if TYPE_CHECKING:
    from pleg_doctor.core.endpoints import ScrapeFacts
    from pleg_doctor.core.scan import ScrapeOutcome
    from pleg_doctor.core.snapshot import Snapshot

DEFAULT_CONCURRENCY = 16
"""`--concurrency`: scrapes in flight. The API server proxies each one to a kubelet; 16 keeps a
scan of 1,000 healthy nodes to seconds without weighing on the API server's inflight limits."""

DEFAULT_TIMEOUT_SECONDS = 10.0
"""`--timeout`: the deadline of one scrape. A healthy kubelet answers in well under a second; a
blocked one would hold the scrape for the CRI timeout (2 min)."""

HEALTHZ_TIMEOUT_SECONDS = 5.0
"""The `/healthz` probe's deadline (at most `--timeout`): it makes no CRI call, so a live kubelet
answers at once."""

LIST_PAGE = 500
"""Nodes per page of the list (`limit`), as kubectl pages."""

LIST_TIMEOUT_SECONDS = 30.0
"""The least patience for one page of the node list, whatever `--timeout` says."""

LIST_ACCEPT = (
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;q=0.9"
)
"""Names are all the scan needs: metadata only (a Node is 10-20 KB with its image list), and
the full list from API servers that do not serve metadata lists."""

MAX_LIST_BYTES = 64 << 20
"""One page of the node list: 500 full Node objects are 5-25 MB (their image lists dominate)."""

MAX_LIST_PAGES = 1000
"""Pages of the node list (500,000 nodes; Kubernetes supports 5,000): an API server that hands
out `continue` tokens without end cannot keep the scan listing forever."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class NodeScrape:
    """One node's scrape in one pass, whatever happened."""

    node: str
    location: str
    """The node-proxy URL of its `/metrics`."""
    outcome: ScrapeOutcome
    snapshot: Snapshot | None
    """The parsed metrics, when `outcome` is `ok`."""
    problem: str | None = None
    """Why there is no snapshot, one line (the error's message, never a secret)."""
    waited_seconds: float = 0.0
    """Time spent on `/metrics` (the deadline, for `blocked`)."""
    metrics_seconds: float | None = None
    """How long `/metrics` took to start answering, when it did (`ok`)."""
    health: HealthProbe | None = None
    """What `/healthz` answered when it was asked (after a timeout)."""

    @property
    def healthz(self) -> str | None:
        """What `/healthz` answered (`200 ok`), None if it was not asked or did not answer."""
        return self.health.answer if self.health is not None else None

    @property
    def facts(self) -> ScrapeFacts | None:
        """How the node's endpoints answered, as `diagnose` describes a live scrape (the
        report's `scrape`, and its `runtime_hung` finding when `/metrics` blocked); None when
        the scrape failed for another reason (refused, unreachable, an error)."""
        if self.outcome == "ok":
            return scrape_facts(self.metrics_seconds, None, None)
        if self.outcome == "blocked":
            return scrape_facts(None, self.waited_seconds, self.health)
        return None


class ApiServerScan:
    """Every node of the kubeconfig's cluster, scraped through the API server's node proxy.

    `kubeconfig`, `context`, `environ` and `home` select the kubeconfig as `--node` does (read
    here: a bad one fails before any request). `selector` is a label selector for the node list.
    `timeout` is the deadline of one scrape (seconds), `concurrency` the scrapes in flight.
    """

    def __init__(
        self,
        *,
        kubeconfig: str | os.PathLike[str] | None = None,
        context: str | None = None,
        selector: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        concurrency: int = DEFAULT_CONCURRENCY,
        exec_timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
        home: str | os.PathLike[str] | None = None,
    ) -> None:
        if not timeout > 0:
            raise UsageError("--timeout must be more than 0 seconds")
        exec_timeout = timeout if exec_timeout is None else exec_timeout
        if concurrency < 1:
            raise UsageError("--concurrency must be at least 1")
        self._timeout = float(timeout)
        self._concurrency = concurrency
        self._selector = selector.strip() if selector and selector.strip() else None
        self._context = load_kubeconfig(kubeconfig, context=context, environ=environ, home=home)
        self._credentials = KubeconfigCredentials(
            self._context, exec_timeout=exec_timeout, environ=environ
        )
        self._server = self._context.cluster.server
        self._wording = proxy_wording(self._context, node=None)
        self._list_wording = dataclasses.replace(
            self._wording,
            permission="list nodes",
            forbidden_hint='grant a ClusterRole rule {apiGroups: [""], resources: ["nodes"], '
            'verbs: ["list"]}',
            not_found=None,
            not_found_hint=None,
        )

    @property
    def location(self) -> str:
        """The API server's URL (a kubeconfig server URL never holds credentials)."""
        return safe_url(self._server)

    @property
    def selector(self) -> str | None:
        """The label selector of the node list, None for every node."""
        return self._selector

    @property
    def context(self) -> KubeContext:
        """The kubeconfig context in use."""
        return self._context

    @property
    def must_warn_insecure(self) -> bool:
        """True when the cluster entry sets `insecure-skip-tls-verify` (the CLI warns)."""
        return self._context.cluster.insecure_skip_tls_verify

    def list_nodes(self) -> tuple[str, ...]:
        """The names of the nodes (matching the selector), in the API server's order.

        Raises `SourceError`s: the API server unreachable, `list nodes` refused, a bad answer.
        """
        timeout = max(self._timeout, LIST_TIMEOUT_SECONDS)
        url = f"{self._server.rstrip('/')}/api/v1/nodes"
        names: list[str] = []
        params: dict[str, str] = {"limit": str(LIST_PAGE)}
        if self._selector is not None:
            params["labelSelector"] = self._selector
        try:
            with http_client(
                self._credentials.http_settings(), wording=self._list_wording, timeout=timeout
            ) as client:
                for _ in range(MAX_LIST_PAGES):
                    body = client.get(
                        url, params=params, accept=LIST_ACCEPT, max_bytes=MAX_LIST_BYTES
                    ).body
                    page, token = parse_node_list(body, location=safe_url(url))
                    names += page
                    if not token:
                        return tuple(names)
                    params["continue"] = token
                raise SourceError(
                    f"API server {safe_url(url)} kept the node list going past "
                    f"{MAX_LIST_PAGES:,} pages of {LIST_PAGE}"
                )
        except SourceAuthError:
            self._credentials.invalidate()  # an exec credential may have expired: ask afresh
            raise

    def scrape(
        self, nodes: Sequence[str], *, on_scraped: Callable[[NodeScrape], None] | None = None
    ) -> list[NodeScrape]:
        """One pass: every node's `/metrics`, `concurrency` at a time; results in `nodes` order.

        `on_scraped` is called in this thread as each node finishes (progress). Errors never
        escape for one node: they become its `NodeScrape`. Ctrl-C cancels the scrapes not
        started and returns after the ones in flight, within one deadline.
        """
        settings = self._credentials.http_settings()
        probe_timeout = min(HEALTHZ_TIMEOUT_SECONDS, self._timeout)
        results: dict[str, NodeScrape] = {}
        with (
            http_client(settings, wording=self._wording, timeout=self._timeout) as client,
            http_client(settings, wording=self._wording, timeout=probe_timeout) as probe,
            ThreadPoolExecutor(
                max_workers=max(1, min(self._concurrency, len(nodes))),
                thread_name_prefix="pleg-doctor-scan",
            ) as pool,
        ):
            futures = [pool.submit(scrape_node, client, probe, self._server, n) for n in nodes]
            try:
                for future in as_completed(futures):
                    result = future.result()
                    results[result.node] = result
                    if on_scraped is not None:
                        on_scraped(result)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        if any(r.outcome == "refused" for r in results.values()):
            self._credentials.invalidate()  # the next pass runs an exec plugin afresh
        return [results[node] for node in nodes]


def parse_node_list(body: bytes, *, location: str) -> tuple[list[str], str | None]:
    """A `NodeList` or `PartialObjectMetadataList` page → (node names, the `continue` token)."""
    try:
        doc = json_document(body)
    except ValueError:
        raise SourceError(
            f"API server {location} answered with something that is not JSON"
        ) from None
    items = doc.get("items") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise SourceError(f"API server {location} did not answer with a node list")
    names = [
        name
        for item in items
        if isinstance(item, dict)
        and isinstance(metadata := item.get("metadata"), dict)
        and isinstance(name := metadata.get("name"), str)
        and name
    ]
    metadata = doc.get("metadata")
    token = metadata.get("continue") if isinstance(metadata, dict) else None
    return names, token if isinstance(token, str) and token else None


def scrape_node(client: HttpClient, probe: HttpClient, server: str, node: str) -> NodeScrape:
    """One node's `/metrics` through the proxy, parsed; `/healthz` asked when it times out.

    Never raises for the node's own failures: they are its outcome and problem.
    """
    location = node_proxy_url(server, node, "metrics")
    start = time.monotonic()
    try:
        dump = scrape_metrics(client, location, endpoint="API server", kind="apiserver", node=node)
        snapshot = scrape_from_dump(dump).snapshot
    except SourceTimeoutError as exc:
        waited = time.monotonic() - start
        health = probe_health(probe, node_proxy_url(server, node, "healthz"))
        healthz = health.answer
        if healthz is None:
            return NodeScrape(
                node=node,
                location=location,
                outcome="unreachable",
                snapshot=None,
                problem="kubelet not answering through the API server: "
                f"{problem_text(exc.message, location)}; /healthz did not answer either",
                waited_seconds=waited,
            )
        return NodeScrape(
            node=node,
            location=location,
            outcome="blocked",
            snapshot=None,
            problem=f"/metrics blocked {waited:.0f} s while /healthz answers ({healthz}): "
            "container runtime likely hung",
            waited_seconds=waited,
            health=health,
        )
    except SourceAuthError as exc:
        return _failed(node, location, "refused", problem_text(exc.message, location))
    except SourceConnectionError as exc:
        return _failed(node, location, "unreachable", problem_text(exc.message, location))
    except PlegDoctorError as exc:
        return _failed(node, location, "error", problem_text(exc.message, location))
    return NodeScrape(
        node=node,
        location=location,
        outcome="ok",
        snapshot=snapshot,
        waited_seconds=time.monotonic() - start,
        metrics_seconds=dump.latency_seconds,
    )


def problem_text(message: str, location: str) -> str:
    """An error's message without the node's URL (its row names the node; the JSON keeps the
    URL in `source`), the server's own words after the headline: `API server denied access
    (403 Forbidden): ...`, `API server answered 503 Service Unavailable: server said: ...`."""
    text = message.replace(f" {location}", "")
    head, quoted, detail = text.partition(" (server said: ")
    return f"{head}: server said: {detail.removesuffix(')')}" if quoted else text


def _failed(node: str, location: str, outcome: ScrapeOutcome, problem: str) -> NodeScrape:
    return NodeScrape(node=node, location=location, outcome=outcome, snapshot=None, problem=problem)
