"""Scrape a kubelet's `/metrics` directly on port 10250 (`--kubelet`).

This is the direct path of docs/sources.md#the-kubelet: `GET https://NODE:10250/metrics` with a bearer
token (checked by the kubelet through TokenReview) or a client certificate, authorized by
SubjectAccessReview as verb `get` on `nodes/metrics`. Serving certificates are often self-signed
(no `serverTLSBootstrap`), which is why `--insecure-skip-tls-verify` exists (the CLI warns).

Inside a pod, the service-account token and CA are found by themselves, like
Prometheus' `bearer_token_file` / `ca_file` scrape configuration (docs/sources.md#the-kubelet).
"""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
from pathlib import Path

from pleg_doctor.errors import UsageError
from pleg_doctor.sources.base import FetchedDump, SourceKind
from pleg_doctor.sources.http.metrics import fetch_metrics_url, probe_health_url
from pleg_doctor.sources.http.settings import EndpointWording, HttpSettings
from pleg_doctor.sources.live import HealthProbe

DEFAULT_PORT = 10250
"""The kubelet's authenticated HTTPS port (the read-only 10255 is off by default: docs/sources.md#the-kubelet)."""

DEFAULT_PATH = "/metrics"
"""Where PLEG metrics live (not `/metrics/cadvisor`): docs/sources.md."""

HEALTHZ_PATH = "/healthz"
"""The kubelet's health endpoint; any answer (403 without `get nodes/proxy` too) proves it is up."""

DEFAULT_TIMEOUT_SECONDS = 10.0
"""`--timeout` default (docs/sources.md#every-live-source)."""

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
"""Where Kubernetes mounts a pod's service-account `token` and `ca.crt`."""

PERMISSION = "get nodes/metrics"
"""The RBAC the kubelet checks for `/metrics` (`pkg/kubelet/server/auth.go`: docs/sources.md#the-kubelet)."""

WORDING = EndpointWording(
    endpoint="kubelet",
    permission=PERMISSION,
    auth_hint=(
        "pass a token the cluster accepts with --kubelet-token-file or --kubelet-token (or a client certificate); "
        f"its identity needs RBAC `{PERMISSION}`"
    ),
    forbidden_hint=(
        'grant it with a ClusterRole rule {apiGroups: [""], resources: ["nodes/metrics"], '
        'verbs: ["get"]} bound to that identity'
    ),
    tls_hint=(
        "pass the CA that signed the kubelet's serving certificate with --cacert FILE, or use "
        "--insecure-skip-tls-verify (kubelet serving certificates are often self-signed)"
    ),
    connect_hint=f"the kubelet serves HTTPS on port {DEFAULT_PORT} unless configured otherwise",
)


def kubelet_url(target: str) -> str:
    """Build the metrics URL for `--kubelet TARGET`, or raise `UsageError`.

    `target` is `HOST`, `HOST:PORT`, `[IPv6]`, `[IPv6]:PORT`, a bare IPv6 address, or a full
    `http(s)://` URL. Host forms get the defaults (https, port 10250, `/metrics`); a full URL is
    used as given, except that an empty path becomes `/metrics` (docs/sources.md#the-kubelet).
    """
    target = target.strip()
    if not target:
        raise UsageError("--kubelet needs a host, HOST:PORT or a URL")
    if "://" in target:
        return _url_from_url(target)
    if target.startswith("["):
        host, closed, rest = target[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise UsageError(f"cannot read --kubelet {target!r}: expected [IPv6]:PORT")
        _check_ipv6(host, target)
        port = _port(rest[1:], target) if rest else DEFAULT_PORT
        netloc = f"[{_quote_zone(host)}]:{port}"
    elif target.count(":") > 1:
        _check_ipv6(target, target)
        netloc = f"[{_quote_zone(target)}]:{DEFAULT_PORT}"
    else:
        host, has_port, port_text = target.partition(":")
        _check_host(host, target)
        port = _port(port_text, target) if has_port else DEFAULT_PORT
        netloc = f"{host}:{port}"
    return f"https://{netloc}{DEFAULT_PATH}"


def _url_from_url(target: str) -> str:
    try:
        parts = urllib.parse.urlsplit(target)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise UsageError(f"cannot read --kubelet URL {target!r}: bad port or host") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UsageError(f"--kubelet URL must be http:// or https://, not {scheme}://")
    if "@" in parts.netloc:
        raise UsageError(
            "credentials in the --kubelet URL are not supported",
            hint="pass a token with --kubelet-token-file or --kubelet-token",
        )
    if not parts.hostname:
        raise UsageError(f"--kubelet URL {target!r} has no host")
    path = parts.path if parts.path not in ("", "/") else DEFAULT_PATH
    return urllib.parse.urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def _port(text: str, target: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"cannot read --kubelet {target!r}: the port must be 1-65535")
    return int(text)


def _check_ipv6(host: str, target: str) -> None:
    try:
        ipaddress.IPv6Address(host.split("%", 1)[0])
    except ValueError as exc:
        raise UsageError(f"cannot read --kubelet {target!r}: not an IPv6 address") from exc


def _quote_zone(host: str) -> str:
    # RFC 6874: the `%` of a zone id (fe80::1%eth0) is written %25 in a URL.
    return host.replace("%", "%25")


def _check_host(host: str, target: str) -> None:
    if not host or any(c in host for c in "/?#@ \t") or not host.isprintable():
        raise UsageError(
            f"cannot read --kubelet {target!r}",
            hint="give HOST, HOST:PORT, [IPv6]:PORT or a full https:// URL",
        )


class KubeletSource:
    """One kubelet's `/metrics`, fetched directly (implements `MetricsSource`).

    `target` is anything `kubelet_url()` accepts. Auth: `token` or `token_file` (read at every
    fetch, so a rotated service-account token keeps working in `watch`), `client_cert` (+
    `client_key`, unless the cert file holds both), `cacert`, or `insecure_skip_tls_verify`.
    When none of token, token file or client certificate is given and
    `service_account_dir`/`token` exists (we run in a pod), that token is used; when no CA is
    given, `service_account_dir`/`ca.crt` is used if present. `service_account_dir=None` turns
    this off. `timeout` is per request, in seconds.
    """

    kind: SourceKind = "kubelet"

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        token_file: str | os.PathLike[str] | None = None,
        cacert: str | os.PathLike[str] | None = None,
        client_cert: str | os.PathLike[str] | None = None,
        client_key: str | os.PathLike[str] | None = None,
        insecure_skip_tls_verify: bool = False,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        service_account_dir: str | os.PathLike[str] | None = SERVICE_ACCOUNT_DIR,
    ) -> None:
        if token is not None and token_file is not None:
            raise UsageError("give either --kubelet-token or --kubelet-token-file, not both")
        if client_key is not None and client_cert is None:
            raise UsageError("--client-key needs --client-cert")
        if cacert is not None and insecure_skip_tls_verify:
            # kubectl refuses the same combination: one of them would be silently ignored.
            raise UsageError("give either --cacert or --insecure-skip-tls-verify, not both")
        if not timeout > 0:
            raise UsageError("--timeout must be more than 0 seconds")
        self._url = kubelet_url(target)
        self._timeout = float(timeout)

        sa_dir = Path(service_account_dir) if service_account_dir is not None else None
        sa_token = sa_dir / "token" if sa_dir is not None else None
        sa_ca = sa_dir / "ca.crt" if sa_dir is not None else None
        self._service_account_token = (
            sa_token
            if token is None
            and token_file is None
            and client_cert is None
            and sa_token is not None
            and sa_token.is_file()
            else None
        )
        ca_path: Path | None = Path(cacert) if cacert is not None else None
        ca_label: str | None = None
        if (
            ca_path is None
            and not insecure_skip_tls_verify
            and sa_ca is not None
            and sa_ca.is_file()
        ):
            ca_path = sa_ca
            ca_label = f"the service-account CA {sa_ca}"
        self._uses_service_account_ca = ca_label is not None

        tokens_file = Path(token_file) if token_file is not None else self._service_account_token
        self._settings = HttpSettings(
            token=token,
            token_file=tokens_file,
            client_cert=Path(client_cert) if client_cert is not None else None,
            client_key=Path(client_key) if client_key is not None else None,
            ca=ca_path,
            ca_label=ca_label,
            credential_label=(
                f"the service-account token {self._service_account_token}"
                if self._service_account_token is not None
                else None
            ),
            insecure_skip_tls_verify=insecure_skip_tls_verify,
        )

    @property
    def location(self) -> str:
        """The metrics URL (never holds credentials: they are rejected in `kubelet_url`)."""
        return self._url

    @property
    def url(self) -> str:
        """The same as `location`."""
        return self._url

    @property
    def timeout(self) -> float:
        """Seconds allowed per request."""
        return self._timeout

    @property
    def settings(self) -> HttpSettings:
        """The auth and TLS settings in use (their `repr` hides secrets)."""
        return self._settings

    @property
    def must_warn_insecure(self) -> bool:
        """True when TLS verification is off: the CLI must print a warning (docs/sources.md#the-kubelet)."""
        return self._settings.must_warn_insecure

    @property
    def uses_service_account(self) -> bool:
        """True when the pod's service-account token was picked up automatically."""
        return self._service_account_token is not None

    @property
    def uses_service_account_ca(self) -> bool:
        """True when the pod's service-account `ca.crt` verifies the kubelet."""
        return self._uses_service_account_ca

    def fetch(self, *, timeout: float | None = None) -> FetchedDump:
        """Scrape the kubelet once; raise a `SourceError` (or `UsageError`) on any failure.

        `timeout` overrides the per-request timeout for this scrape (a patient `diagnose`).
        """
        return fetch_metrics_url(
            self._url,
            settings=self._settings,
            wording=WORDING,
            timeout=self._timeout if timeout is None else timeout,
            kind="kubelet",
        )

    @property
    def health_url(self) -> str:
        """`/healthz` on the same server: the kubelet answers it without asking the runtime."""
        parts = urllib.parse.urlsplit(self._url)
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, HEALTHZ_PATH, "", ""))

    def probe_health(self, *, timeout: float) -> HealthProbe:
        """Ask `/healthz` once with the same credentials; never raises for the endpoint."""
        return probe_health_url(
            self.health_url,
            settings=self._settings,
            wording=WORDING,
            timeout=timeout,
            path=HEALTHZ_PATH,
        )

    def __repr__(self) -> str:
        return f"KubeletSource({self._url!r})"
