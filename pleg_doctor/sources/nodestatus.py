"""The control plane's view of a node: its Ready condition and recent node events.

The kubelet decides PLEG health locally; the API server only sees what the kubelet reports in
the Node's `Ready` condition (`status=False`, reason `KubeletNotReady`, message `PLEG is not
healthy: pleg was last seen active 3m8s ago; threshold is 3m0s`: docs/model.md#the-relist-loop) and the
events recorded on the Node (`NodeNotReady`, `NodeReady`, `Starting`, `Rebooted`, from the
kubelet and from the node lifecycle controller). This module reads both, with the same
kubeconfig and the same error handling as the `--node` metrics source:

* `GET /api/v1/nodes/NAME` (RBAC `get nodes`): the Ready condition, node info (versions);
* `GET /api/v1/events?fieldSelector=involvedObject.kind=Node,involvedObject.name=NAME` (RBAC
  `list events`; falls back to the `default` namespace, where node events are recorded, when
  the cluster-wide list is forbidden). Events are optional: without them the view has a note.

Parsing (`parse_node`, `parse_events`) is pure and tested on the shapes the API returns; the
fetch is a thin layer over `sources/http/`'s credential, TLS and error translation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from pleg_doctor.core.causes.base import Evidence
from pleg_doctor.errors import SourceAuthError, SourceError, UsageError
from pleg_doctor.logs.parse import parse_go_duration
from pleg_doctor.sources.decode import json_document

# NOTE: the request machinery of sources/http/ is reused as is (credentials, TLS files, the
# quiet adapter, proxies, error translation). Its public entry point fetches a Prometheus
# exposition and rejects JSON bodies, so the JSON GET below composes the same private helpers.
from pleg_doctor.sources.http.client import http_client
from pleg_doctor.sources.http.redaction import safe_url
from pleg_doctor.sources.http.settings import EndpointWording, HttpSettings
from pleg_doctor.sources.kubeconfig.config import KubeContext, load_kubeconfig
from pleg_doctor.sources.kubeconfig.credentials import (
    KubeconfigCredentials,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_JSON_BYTES = 32 << 20
"""A Node is a few KB, 500 events a few MB; more means a wrong URL."""
EVENT_LIMIT = 500
NODE_EVENT_REASONS = frozenset({"NodeNotReady", "NodeReady", "Starting", "Rebooted"})
"""The events that tell the Ready story; others (disk pressure, GC failures) are kept but
listed after these."""

_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_AGE = re.compile(r"pleg was last seen active (?P<age>.+?) ago")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReadyCondition:
    """`status.conditions[type=Ready]` of a Node."""

    status: str
    """`True`, `False` or `Unknown` (the kubelet stopped posting status)."""
    reason: str | None
    message: str | None
    last_transition: dt.datetime | None
    last_heartbeat: dt.datetime | None

    @property
    def pleg_unhealthy(self) -> bool:
        """True when the message carries the kubelet's `PLEG is not healthy`."""
        return self.message is not None and "PLEG is not healthy" in self.message

    @property
    def pleg_age_seconds(self) -> float | None:
        """The `pleg was last seen active <age>` of the message, in seconds."""
        if self.message is None:
            return None
        match = _AGE.search(self.message)
        return None if match is None else parse_go_duration(match.group("age"))


@dataclasses.dataclass(frozen=True, kw_only=True)
class NodeEvent:
    """One event recorded on the Node."""

    reason: str
    message: str | None
    type: str | None
    """`Normal` or `Warning`."""
    count: int
    first: dt.datetime | None
    last: dt.datetime | None
    source: str | None
    """Who recorded it: `kubelet`, `node-controller`, …"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class NodeView:
    """What the API server says about one node."""

    node: str
    ready: ReadyCondition | None
    events: tuple[NodeEvent, ...]
    """Most recent first; Ready-related reasons (`NODE_EVENT_REASONS`) first among equals."""
    kubelet_version: str | None = None
    container_runtime_version: str | None = None
    kernel_version: str | None = None
    os_image: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def not_ready_events(self) -> tuple[NodeEvent, ...]:
        """`NodeNotReady` events, most recent first."""
        return tuple(e for e in self.events if e.reason == "NodeNotReady")

    @property
    def pleg_unhealthy(self) -> bool:
        """True when the Ready condition says `PLEG is not healthy`."""
        return self.ready is not None and self.ready.pleg_unhealthy


def parse_time(value: Any) -> dt.datetime | None:
    """An API timestamp (`2026-11-27T10:00:00Z`, `…00.123456Z` MicroTime) → aware UTC datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.timezone.utc)


def _str(data: Any, key: str) -> str | None:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, str) and value else None


def _map(data: Any, key: str) -> Mapping[str, Any]:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def parse_node(doc: Any, node: str) -> NodeView:
    """A `v1.Node` object → `NodeView` (without events). Raises `SourceError` if not a Node."""
    if not isinstance(doc, Mapping) or doc.get("kind") not in (None, "Node"):
        raise SourceError(f"the API server did not answer with a Node for '{node}'")
    status = _map(doc, "status")
    conditions = status.get("conditions")
    ready: ReadyCondition | None = None
    for condition in conditions if isinstance(conditions, list) else []:
        if isinstance(condition, Mapping) and condition.get("type") == "Ready":
            ready = ReadyCondition(
                status=_str(condition, "status") or "Unknown",
                reason=_str(condition, "reason"),
                message=_str(condition, "message"),
                last_transition=parse_time(condition.get("lastTransitionTime")),
                last_heartbeat=parse_time(condition.get("lastHeartbeatTime")),
            )
    info = _map(status, "nodeInfo")
    notes: list[str] = []
    if ready is None:
        notes.append(f"node '{node}' has no Ready condition yet (a node that never reported)")
    return NodeView(
        node=_str(_map(doc, "metadata"), "name") or node,
        ready=ready,
        events=(),
        kubelet_version=_str(info, "kubeletVersion"),
        container_runtime_version=_str(info, "containerRuntimeVersion"),
        kernel_version=_str(info, "kernelVersion"),
        os_image=_str(info, "osImage"),
        notes=tuple(notes),
    )


def parse_events(doc: Any) -> tuple[NodeEvent, ...]:
    """A `v1.EventList` → events, most recent first (Ready-related first among equal times).

    Handles both event shapes the API serves: the classic one (`count`, `firstTimestamp`,
    `lastTimestamp`, `source.component`) and the events.k8s.io-style fields newer recorders
    fill in (`eventTime`, `series.count`, `series.lastObservedTime`, `reportingComponent`).
    """
    items = doc.get("items") if isinstance(doc, Mapping) else None
    events: list[NodeEvent] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        reason = _str(item, "reason")
        if reason is None:
            continue
        series = _map(item, "series")
        count = series.get("count") if series else item.get("count")
        first = parse_time(item.get("firstTimestamp")) or parse_time(item.get("eventTime"))
        last = (
            parse_time(series.get("lastObservedTime"))
            or parse_time(item.get("lastTimestamp"))
            or parse_time(item.get("eventTime"))
            or first
        )
        first = first or parse_time(_map(item, "metadata").get("creationTimestamp"))
        events.append(
            NodeEvent(
                reason=reason,
                message=_str(item, "message") or _str(item, "note"),
                type=_str(item, "type"),
                count=count if isinstance(count, int) and count > 0 else 1,
                first=first,
                last=last or first,
                source=_str(_map(item, "source"), "component") or _str(item, "reportingComponent"),
            )
        )
    floor = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    events.sort(key=lambda e: (e.last or floor, e.reason in NODE_EVENT_REASONS), reverse=True)
    return tuple(events)


def node_evidence(view: NodeView) -> tuple[Evidence, ...]:
    """What the control plane saw, as `Evidence` for the report (`diagnose --node`)."""
    evidence: list[Evidence] = []
    ready = view.ready
    if ready is not None:
        since = ready.last_transition.isoformat() if ready.last_transition else "unknown"
        value = f"{ready.status} ({ready.reason})" if ready.reason else ready.status
        if ready.pleg_unhealthy:
            age = ready.pleg_age_seconds
            note = (
                f"the control plane saw 'PLEG is not healthy' (age {age:.0f} s) since {since}"
                if age is not None
                else f"the control plane saw 'PLEG is not healthy' since {since}"
            )
        elif ready.status == "Unknown":
            note = f"the kubelet stopped posting node status (since {since}): it may be hung itself"
        elif ready.status == "False":
            note = f"NotReady since {since}: {ready.message or 'no message'}"
        else:
            note = f"Ready since {since}"
        evidence.append(Evidence("Node Ready condition", value, note))
    not_ready = view.not_ready_events
    if not_ready:
        total = sum(e.count for e in not_ready)
        last = not_ready[0].last
        sources = sorted({e.source for e in not_ready if e.source})
        evidence.append(
            Evidence(
                "NodeNotReady events",
                total,
                f"last at {last.isoformat() if last else 'unknown time'}"
                + (f" (recorded by {', '.join(sources)})" if sources else "")
                + (": the node keeps flapping" if total >= 3 else ""),
            )
        )
    return tuple(evidence)


# --- fetching ----------------------------------------------------------------------------------


def node_url(server: str, node: str) -> str:
    """`{server}/api/v1/nodes/NAME` (keeps a path prefix of `server`, as the proxy source does)."""
    return f"{server.rstrip('/')}/api/v1/nodes/{urllib.parse.quote(node, safe='')}"


def events_url(server: str, node: str, *, namespace: str | None = None) -> str:
    """The node's events, cluster-wide or in one namespace."""
    query = urllib.parse.urlencode(
        {
            "fieldSelector": f"involvedObject.kind=Node,involvedObject.name={node}",
            "limit": str(EVENT_LIMIT),
        }
    )
    scope = f"/namespaces/{urllib.parse.quote(namespace, safe='')}" if namespace else ""
    return f"{server.rstrip('/')}/api/v1{scope}/events?{query}"


def fetch_node_view(
    node: str,
    *,
    kubeconfig: str | os.PathLike[str] | None = None,
    context: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    exec_timeout: float | None = None,
    environ: Mapping[str, str] | None = None,
    home: str | os.PathLike[str] | None = None,
    kube_context: KubeContext | None = None,
) -> NodeView:
    """Read the Node and its events through the API server, with the user's kubeconfig.

    The kubeconfig is selected as kubectl would (see `load_kubeconfig`); `kube_context` skips
    loading. Raises `SourceError`s (one line, no secret) when the Node cannot be read; events
    that cannot be read only add a note.
    """
    if not _NODE_NAME.match(node):
        raise UsageError(f"--node {node!r} is not a valid node name")
    if not timeout > 0:
        raise UsageError("--timeout must be more than 0 seconds")
    ctx = kube_context or load_kubeconfig(kubeconfig, context=context, environ=environ, home=home)
    credentials = KubeconfigCredentials(
        ctx, exec_timeout=timeout if exec_timeout is None else exec_timeout, environ=environ
    )
    server = ctx.cluster.server
    wording = EndpointWording(
        endpoint="API server",
        permission="get nodes",
        auth_hint=(
            f"the credentials of kubeconfig user '{ctx.user.name}' (context '{ctx.name}') were "
            "not accepted: log in again or check them"
        ),
        forbidden_hint='grant a ClusterRole rule {apiGroups: [""], resources: ["nodes"], verbs: ["get"]}',
        tls_hint=f"fix certificate-authority(-data) of cluster '{ctx.cluster.name}' in {ctx.origin}",
        not_found=f"node '{node}' not found",
        not_found_hint=f"list the nodes of context '{ctx.name}' with kubectl get nodes",
    )
    try:
        doc = get_json(
            node_url(server, node),
            settings=credentials.http_settings(),
            wording=wording,
            timeout=timeout,
        )
    except SourceAuthError:
        credentials.invalidate()
        raise
    view = parse_node(doc, node)
    events_wording = dataclasses.replace(
        wording,
        permission="list events",
        forbidden_hint='grant {apiGroups: [""], resources: ["events"], verbs: ["list"]}',
        not_found=None,
        not_found_hint=None,
    )
    notes = list(view.notes)
    events: tuple[NodeEvent, ...] = ()
    for namespace in (None, "default"):
        try:
            events = parse_events(
                get_json(
                    events_url(server, node, namespace=namespace),
                    settings=credentials.http_settings(),
                    wording=events_wording,
                    timeout=timeout,
                )
            )
            break
        except SourceAuthError as exc:
            if namespace is None:
                continue  # node events live in `default`: try the narrower permission
            notes.append(f"node events not read: {exc.message}")
        except SourceError as exc:
            notes.append(f"node events not read: {exc.message}")
            break
    return dataclasses.replace(view, events=events, notes=tuple(notes))


def get_json(
    url: str,
    *,
    settings: HttpSettings,
    wording: EndpointWording,
    timeout: float,
    max_bytes: int = MAX_JSON_BYTES,
) -> Any:
    """GET `url` as JSON with the credentials and TLS of `settings`; raise `SourceError`s.

    The request itself is `sources/http/`'s (`http_client`): `timeout` per connect and read
    and for the whole body, one retry on connection errors only, no redirects followed, secrets
    never in messages or logs.
    """
    with http_client(settings, wording=wording, timeout=timeout) as client:
        body = client.get(url, accept="application/json", max_bytes=max_bytes).body
    try:
        return json_document(body)
    except ValueError:
        raise SourceError(
            f"API server {safe_url(url)} answered with something that is not JSON"
        ) from None
