"""A kubeconfig context's credentials: exec credential plugins, and `HttpSettings` per request.

Exec plugins (`aws eks get-token`, `gke-gcloud-auth-plugin`, ...) run the way client-go runs them,
non-interactively; their output is never quoted in a message (it may hold the credential).
`KubeconfigCredentials` caches a plugin's credential until it expires or the server refuses it.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pleg_doctor.errors import SourceAuthError
from pleg_doctor.sources.decode import json_document
from pleg_doctor.sources.http.redaction import quote_outside
from pleg_doctor.sources.http.settings import HttpSettings
from pleg_doctor.sources.kubeconfig.config import ExecPlugin, KubeCluster, KubeContext
from pleg_doctor.sources.limits import current as current_limits
from pleg_doctor.sources.process import run_bounded

log = logging.getLogger(__package__)

DEFAULT_EXEC_TIMEOUT_SECONDS = 60.0
"""How long a credential plugin may run; `aws eks get-token` cold-starts in a few seconds."""

_DETAIL_CHARS = 200


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExecCredential:
    """What an exec plugin returned: a token or a client certificate, and until when."""

    token: str | None = dataclasses.field(default=None, repr=False)
    client_certificate: bytes | None = dataclasses.field(default=None, repr=False)
    client_key: bytes | None = dataclasses.field(default=None, repr=False)
    expires_at: dt.datetime | None = None


def run_exec_plugin(
    plugin: ExecPlugin,
    *,
    cluster: KubeCluster | None = None,
    timeout: float = DEFAULT_EXEC_TIMEOUT_SECONDS,
    environ: Mapping[str, str] | None = None,
) -> ExecCredential:
    """Run a credential plugin like client-go does, non-interactively, and parse its answer.

    The plugin gets our environment plus its `env`, and `KUBERNETES_EXEC_INFO` (an
    `ExecCredential` with `spec.interactive: false`, plus `spec.cluster` when it asks for cluster
    info). Its stdout must be an `ExecCredential` of the same apiVersion with `status.token` or
    `status.clientCertificateData` + `status.clientKeyData` (PEM). Failures raise a one-line
    `SourceAuthError` naming the command; the plugin's output is never quoted (it may hold the
    credential), only the first line of its stderr through `redaction.quote_outside` (every
    configured env value and anything shaped like a credential removed, control characters
    escaped). The plugin runs in its own process group, killed whole at `timeout` seconds or
    when an output passes `PLEG_DOCTOR_MAX_OUTPUT_BYTES` (`process.run_bounded`).
    """
    name = Path(plugin.command).name
    if plugin.interactive_mode == "Always":
        raise SourceAuthError(
            f"exec credential plugin '{name}' requires an interactive terminal",
            hint="log in once with kubectl so the plugin caches a credential, then retry",
        )
    spec: dict[str, Any] = {"interactive": False}
    if plugin.provide_cluster_info and cluster is not None:
        spec["cluster"] = _exec_cluster_info(cluster)
    info = {"apiVersion": plugin.api_version, "kind": "ExecCredential", "spec": spec}
    env = dict(os.environ if environ is None else environ)
    env.update(plugin.env)
    env["KUBERNETES_EXEC_INFO"] = json.dumps(info)
    log.debug("running exec credential plugin %s (%s)", name, plugin.api_version)
    limits = current_limits()
    try:
        finished = run_bounded(
            [plugin.command, *plugin.args],  # the user's own kubeconfig names the command
            env=env,
            timeout=timeout,
            max_output_bytes=limits.output_bytes,
        )
    except FileNotFoundError as exc:
        raise SourceAuthError(
            f"exec credential plugin '{name}' not found",
            hint=quote_outside(plugin.install_hint or "", limit=_DETAIL_CHARS) or None,
        ) from exc
    except PermissionError as exc:
        raise SourceAuthError(f"exec credential plugin '{name}' is not executable") from exc
    except OSError as exc:
        raise SourceAuthError(
            f"cannot run exec credential plugin '{name}': {exc.strerror or type(exc).__name__}"
        ) from exc
    log.debug(
        "exec credential plugin %s ended after %.3f s (exit %s, %d bytes out, %d bytes err)",
        name, finished.seconds, finished.returncode, len(finished.stdout), len(finished.stderr),
    )  # fmt: skip
    if finished.timed_out:
        raise SourceAuthError(
            f"exec credential plugin '{name}' did not finish within {timeout:g} s: it was "
            "stopped, with everything it started",
            hint="raise --timeout, or run the plugin yourself to see where it waits",
        )
    if finished.killed is not None:
        raise limits.error(
            "output_bytes", f"exec credential plugin '{name}' wrote too much to {finished.killed}"
        )
    if finished.returncode != 0:
        secrets = [value for _, value in plugin.env]
        detail = quote_outside(finished.stderr, secrets, limit=_DETAIL_CHARS)
        suffix = f": {detail}" if detail else ""
        raise SourceAuthError(
            f"exec credential plugin '{name}' failed (exit {finished.returncode}){suffix}",
            hint=f"run it yourself to see why: {name}",
        )
    return _parse_exec_output(finished.stdout, plugin, name)


def _exec_cluster_info(cluster: KubeCluster) -> dict[str, Any]:
    info: dict[str, Any] = {"server": cluster.server}
    ca = cluster.certificate_authority
    try:
        ca_bytes = ca.read_bytes() if isinstance(ca, Path) else ca
    except OSError:
        ca_bytes = None
    if ca_bytes:
        info["certificate-authority-data"] = base64.b64encode(ca_bytes).decode("ascii")
    if cluster.insecure_skip_tls_verify:
        info["insecure-skip-tls-verify"] = True
    if cluster.tls_server_name:
        info["tls-server-name"] = cluster.tls_server_name
    if cluster.proxy_url:
        info["proxy-url"] = cluster.proxy_url
    if cluster.exec_extension is not None:
        info["config"] = cluster.exec_extension
    return info


def _parse_exec_output(stdout: bytes, plugin: ExecPlugin, name: str) -> ExecCredential:
    def bad(why: str) -> SourceAuthError:
        return SourceAuthError(f"exec credential plugin '{name}' returned {why}")

    try:
        data = json_document(stdout)
    except ValueError as exc:
        raise bad("output that is not JSON") from exc
    if not isinstance(data, Mapping) or data.get("kind") != "ExecCredential":
        raise bad("something other than an ExecCredential")
    if data.get("apiVersion") != plugin.api_version:
        raise bad(f"apiVersion {data.get('apiVersion')!r}, expected {plugin.api_version}")
    status = data.get("status")
    if not isinstance(status, Mapping):
        raise bad("an ExecCredential without status")
    token = status.get("token")
    cert = status.get("clientCertificateData")
    key = status.get("clientKeyData")
    expires = _parse_timestamp(status.get("expirationTimestamp"))
    if isinstance(token, str) and token:
        return ExecCredential(token=token, expires_at=expires)
    if isinstance(cert, str) and cert and isinstance(key, str) and key:
        return ExecCredential(
            client_certificate=cert.encode(), client_key=key.encode(), expires_at=expires
        )
    raise bad("neither a token nor a client certificate and key")


def _parse_timestamp(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.timezone.utc)


class KubeconfigCredentials:
    """Turns a context into `HttpSettings` for each request, running its exec plugin as needed.

    An exec plugin's credential is cached until its `expirationTimestamp` (forever if it has
    none, as client-go does) and dropped by `invalidate()` after a 401, so `watch` keeps going
    when a token expires. `clock` returns the current time (tests pass a fake).
    """

    def __init__(
        self,
        context: KubeContext,
        *,
        exec_timeout: float = DEFAULT_EXEC_TIMEOUT_SECONDS,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self._context = context
        self._exec_timeout = exec_timeout
        self._environ = environ
        self._clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self._cached: ExecCredential | None = None

    @property
    def uses_exec_plugin(self) -> bool:
        """True when credentials come from an exec plugin."""
        return self._context.user.exec_plugin is not None

    def invalidate(self) -> None:
        """Forget a cached exec credential (after the server refused it)."""
        self._cached = None

    def exec_credential(self) -> ExecCredential | None:
        """The exec plugin's credential, from cache while valid; None without a plugin."""
        plugin = self._context.user.exec_plugin
        if plugin is None:
            return None
        cached = self._cached
        if cached is not None and (cached.expires_at is None or cached.expires_at > self._clock()):
            return cached
        self._cached = run_exec_plugin(
            plugin, cluster=self._context.cluster, timeout=self._exec_timeout, environ=self._environ
        )
        return self._cached

    def http_settings(self) -> HttpSettings:
        """Settings for one request: the user's credentials and the cluster's TLS and proxy."""
        user = self._context.user
        cluster = self._context.cluster
        cert, key = user.client_certificate, user.client_key
        token, token_file = user.token, user.token_file
        label: str | None = None
        credential = self.exec_credential()
        if credential is not None:
            assert user.exec_plugin is not None
            name = Path(user.exec_plugin.command).name
            if credential.token is not None:
                token, token_file = credential.token, None
                label = f"the token from exec plugin '{name}'"
            else:
                cert, key = credential.client_certificate, credential.client_key
                label = f"the client certificate from exec plugin '{name}'"
        basic = (
            (user.username or "", user.password or "")
            if user.username is not None or user.password is not None
            else None
        )
        if label is None and (token is not None or token_file is not None):
            where = f" {token_file}" if token_file is not None else ""
            label = f"the token{where} of kubeconfig user '{user.name}'"
        elif label is None and basic is not None:
            label = f"the password of kubeconfig user '{user.name}'"
        elif label is None and cert is not None:
            label = f"the client certificate of kubeconfig user '{user.name}'"
        return HttpSettings(
            token=token if token_file is None else None,
            token_file=token_file,
            basic_auth=basic if token is None and token_file is None else None,
            client_cert=cert,
            client_key=key,
            ca=None if cluster.insecure_skip_tls_verify else cluster.certificate_authority,
            ca_label=cluster.ca_label,
            credential_label=label,
            insecure_skip_tls_verify=cluster.insecure_skip_tls_verify,
            proxy_url=cluster.proxy_url,
            tls_server_name=cluster.tls_server_name,
        )
