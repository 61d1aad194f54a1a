"""Scrape a kubelet's `/metrics` through the API server's node proxy (`--node NAME`).

This is the API-server path of docs/sources.md#through-the-api-server: `GET {server}/api/v1/nodes/NAME/proxy/metrics`
with the kubeconfig's credentials, the same request as `kubectl get --raw`. It needs RBAC
`get nodes/proxy` (a broad permission: it also reaches `/exec`), and works from a laptop or behind a firewall
where port 10250 is closed. The API server then calls the kubelet with its own client certificate.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping

from pleg_doctor.errors import SourceAuthError, SourceError, UsageError
from pleg_doctor.sources.base import FetchedDump, SourceKind
from pleg_doctor.sources.http.metrics import fetch_metrics_url, probe_health_url
from pleg_doctor.sources.http.settings import EndpointWording
from pleg_doctor.sources.kubeconfig.config import KubeContext, load_kubeconfig
from pleg_doctor.sources.kubeconfig.credentials import (
    KubeconfigCredentials,
)
from pleg_doctor.sources.live import HealthProbe

DEFAULT_TIMEOUT_SECONDS = 10.0
"""`--timeout` default (docs/sources.md#every-live-source)."""

PERMISSION = "get nodes/proxy"
"""What the API server checks for `/api/v1/nodes/NAME/proxy/...` (docs/sources.md#through-the-api-server)."""

_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
"""Node names are DNS-1123 subdomains; anything else cannot exist, so say so before asking."""


def node_metrics_url(server: str, node: str) -> str:
    """The node-proxy metrics URL; keeps a path prefix of `server` (Rancher-style proxies)."""
    return node_proxy_url(server, node, "metrics")


def node_proxy_url(server: str, node: str, path: str) -> str:
    """`{server}/api/v1/nodes/NODE/proxy/PATH`: the kubelet's `/PATH` through the API server."""
    return f"{server.rstrip('/')}/api/v1/nodes/{urllib.parse.quote(node, safe='')}/proxy/{path}"


def proxy_wording(context: KubeContext, *, node: str | None) -> EndpointWording:
    """How errors of the node proxy read: the permission, what to do after a 401/403, a TLS
    failure, a 404 (for one `node`; None: any node, e.g. `scan`'s)."""
    cluster = context.cluster
    return EndpointWording(
        endpoint="API server",
        permission=PERMISSION,
        auth_hint=(
            f"the credentials of kubeconfig user '{context.user.name}' "
            f"(context '{context.name}') were not accepted: log in again or check them"
        ),
        forbidden_hint=(
            'grant a ClusterRole rule {apiGroups: [""], resources: ["nodes/proxy"], '
            'verbs: ["get"]}, or use --kubelet with RBAC `get nodes/metrics`'
        ),
        tls_hint=f"fix certificate-authority(-data) of cluster '{cluster.name}' in {context.origin}",
        not_found=f"node '{node}' not found" if node is not None else None,
        not_found_hint=f"list the nodes of context '{context.name}' with kubectl get nodes",
    )


class ApiServerSource:
    """One node's kubelet `/metrics` through the API server (implements `MetricsSource`).

    `node` is the node name; `kubeconfig` (`--kubeconfig`), `context` (`--context`), `environ`
    and `home` select the kubeconfig as kubectl would (see `load_kubeconfig`). The kubeconfig is
    read here, so a bad one fails before any request; exec plugins run at the first fetch.
    `kube_context` skips loading and uses an already loaded context.
    `timeout` is the deadline of each request, and of a credential plugin unless `exec_timeout`
    says otherwise, both in seconds.
    """

    kind: SourceKind = "apiserver"

    def __init__(
        self,
        node: str,
        *,
        kubeconfig: str | os.PathLike[str] | None = None,
        context: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        exec_timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
        home: str | os.PathLike[str] | None = None,
        kube_context: KubeContext | None = None,
    ) -> None:
        if not _NODE_NAME.match(node):
            raise UsageError(
                f"--node {node!r} is not a valid node name",
                hint="node names are lowercase DNS names; list them with kubectl get nodes",
            )
        if not timeout > 0:
            raise UsageError("--timeout must be more than 0 seconds")
        self._node = node
        self._timeout = float(timeout)
        self._context = kube_context or load_kubeconfig(
            kubeconfig, context=context, environ=environ, home=home
        )
        self._credentials = KubeconfigCredentials(
            self._context,
            exec_timeout=timeout if exec_timeout is None else exec_timeout,
            environ=environ,
        )
        self._url = node_metrics_url(self._context.cluster.server, node)
        self._wording = proxy_wording(self._context, node=node)

    @property
    def location(self) -> str:
        """The node-proxy URL (the kubeconfig server URL never holds credentials)."""
        return self._url

    @property
    def node(self) -> str:
        """The node name given."""
        return self._node

    @property
    def timeout(self) -> float:
        """Seconds allowed per request."""
        return self._timeout

    @property
    def context(self) -> KubeContext:
        """The kubeconfig context in use."""
        return self._context

    @property
    def must_warn_insecure(self) -> bool:
        """True when the cluster entry sets `insecure-skip-tls-verify` (the CLI warns)."""
        return self._context.cluster.insecure_skip_tls_verify

    def fetch(self, *, timeout: float | None = None) -> FetchedDump:
        """Scrape the node's kubelet through the API server once; raise a `SourceError`.

        `timeout` overrides the per-request timeout for this scrape (a patient `diagnose`).
        """
        settings = self._credentials.http_settings()
        try:
            return fetch_metrics_url(
                self._url,
                settings=settings,
                wording=self._wording,
                timeout=self._timeout if timeout is None else timeout,
                kind="apiserver",
                node=self._node,
            )
        except SourceAuthError:
            # A refused exec credential may just have expired early: run the plugin afresh next
            # time (client-go does the same on 401).
            self._credentials.invalidate()
            raise

    def __repr__(self) -> str:
        return f"ApiServerSource({self._url!r})"

    @property
    def health_url(self) -> str:
        """The kubelet's `/healthz` through the node proxy (the same RBAC, `get nodes/proxy`)."""
        return self._url.removesuffix("/metrics") + "/healthz"

    def probe_health(self, *, timeout: float) -> HealthProbe:
        """Ask the kubelet's `/healthz` through the API server once; never raises for it."""
        path = urllib.parse.urlsplit(self.health_url).path
        try:
            settings = self._credentials.http_settings()
        except SourceError as exc:
            return HealthProbe(path=path, status=None, seconds=None, error=exc.message)
        return probe_health_url(
            self.health_url, settings=settings, wording=self._wording, timeout=timeout, path=path
        )
