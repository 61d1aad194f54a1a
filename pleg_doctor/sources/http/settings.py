"""What a request is made with: `HttpSettings` (credentials, TLS, proxy, headers), the
`EndpointWording` that phrases its errors, and the constants of every request.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TypeAlias

ACCEPT = "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5,*/*;q=0.1"
"""What we ask for: classic text exposition first (what every kubelet serves), OpenMetrics next.

The same preference order Prometheus itself sends, minus protobuf, which we cannot parse.
"""

ACCEPT_ENCODING = "gzip"
"""The kubelet compresses `/metrics` with gzip when asked; a few MB shrink about tenfold."""

PemSource: TypeAlias = "Path | bytes"
"""A PEM file, or its contents (kubeconfig `*-data` fields, exec plugin output)."""


def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"pleg-doctor/{version('pleg-doctor')}"
    except PackageNotFoundError:  # running from a source checkout
        return "pleg-doctor"


USER_AGENT = _user_agent()


@dataclasses.dataclass(frozen=True, kw_only=True)
class HttpSettings:
    """How to authenticate to an endpoint and verify its TLS certificate.

    Secret-bearing fields are excluded from `repr()` so that a settings object showing up in a log
    line or a `--debug` traceback cannot leak them. At most one of `token` / `token_file` /
    `basic_auth` is used for the `Authorization` header (a token file wins over a token, as in
    client-go); a client certificate can be combined with any of them.
    """

    token: str | None = dataclasses.field(default=None, repr=False)
    """A bearer token, sent as `Authorization: Bearer ...`."""

    token_file: Path | None = None
    """A file holding a bearer token, read (and stripped) at every fetch: tokens rotate."""

    basic_auth: tuple[str, str] | None = dataclasses.field(default=None, repr=False)
    """Username and password for HTTP basic auth (old kubeconfigs, auth proxies)."""

    client_cert: PemSource | None = dataclasses.field(default=None, repr=False)
    """Client certificate (file or PEM bytes); may also hold the key when `client_key` is None."""

    client_key: PemSource | None = dataclasses.field(default=None, repr=False)
    """Client private key (file or PEM bytes). `ssl` loads keys from paths only: bytes get one
    in memory for the duration of the request (`tls.tls_files`), never a file on disk."""

    ca: PemSource | None = dataclasses.field(default=None, repr=False)
    """The CA bundle to verify the server with (file or PEM bytes); None = the default bundle."""

    ca_label: str | None = None
    """How to name the CA in messages, e.g. "certificate-authority-data of cluster 'prod'"."""

    credential_label: str | None = None
    """How to name the credentials in a 401 message, e.g. "the token from exec plugin 'aws'"."""

    insecure_skip_tls_verify: bool = False
    """Do not verify the server certificate (the CLI warns; see `must_warn_insecure`)."""

    proxy_url: str | None = None
    """An explicit proxy (kubeconfig `proxy-url`); else `HTTPS_PROXY`/`NO_PROXY` from the env."""

    tls_server_name: str | None = None
    """Name to send as SNI and verify the certificate against (kubeconfig `tls-server-name`)."""

    headers: tuple[tuple[str, str], ...] = dataclasses.field(default=(), repr=False)
    """Extra request headers, `(name, value)` (e.g. Mimir's `X-Scope-OrgID`). Every value is
    treated as a secret: redacted in debug logs and scrubbed from quoted server text. An
    `Authorization`-like header among them counts as credentials sent; when the settings hold no
    other credentials, `credential_label` names them in messages."""

    @property
    def must_warn_insecure(self) -> bool:
        """True when TLS verification is off, which the CLI must tell the user about."""
        return self.insecure_skip_tls_verify


@dataclasses.dataclass(frozen=True, kw_only=True)
class EndpointWording:
    """How to phrase errors for one kind of endpoint, so each source explains its own failures.

    The status codes are common to every endpoint, but what a user must do about them is not: a
    kubelet 403 needs RBAC `get nodes/metrics`, an API-server 403 needs `get nodes/proxy`
    (docs/sources.md), and a 404 from the API server means the node does not exist.
    """

    endpoint: str
    """What we talk to, as it starts a message: "kubelet", "API server"."""

    permission: str | None = None
    """The RBAC permission needed, e.g. "get nodes/metrics"; named by 403 messages."""

    auth_hint: str | None = None
    """What to try after a 401 (the place to name the permission the identity will need)."""

    forbidden_hint: str | None = None
    """What to try after a 403."""

    tls_hint: str = "pass the CA that signed the server certificate, or skip verification"
    """What to try after a TLS verification failure (how to pass another CA)."""

    not_found: str | None = None
    """The message for a 404 (e.g. "node 'worker-3' not found"); None = generic."""

    not_found_hint: str | None = None
    """What to try after a 404."""

    connect_hint: str | None = None
    """What to try when the endpoint cannot be reached (e.g. the default port)."""
