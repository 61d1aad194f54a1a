"""Read a kubeconfig the way kubectl does, and turn its user and cluster into `HttpSettings`.

`--node NAME` goes through the API server (ANCHORS.md §5, "API-server proxy"), so it must
authenticate exactly as the user's kubectl would: the same file lookup (`--kubeconfig`, else
`KUBECONFIG`, a list merged first-wins, else `~/.kube/config`), `--context`, and the same credential
kinds, including exec credential plugins such as `aws eks get-token` (CONTRACT.md "Sources").

Secrets (tokens, passwords, key data, plugin output) are kept out of `repr()`, out of messages and
out of logs. YAML errors are re-raised without their cause, because PyYAML's message quotes the
offending line of the file, which may hold a token.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
import logging
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from pleg_doctor.errors import SourceAuthError, SourceError, UsageError
from pleg_doctor.sources.http.settings import HttpSettings, PemSource

log = logging.getLogger(__name__)

EXEC_API_VERSIONS = frozenset(
    {"client.authentication.k8s.io/v1beta1", "client.authentication.k8s.io/v1"}
)
"""The ExecCredential versions current kubectl supports (v1alpha1 was removed in 1.24)."""

DEFAULT_EXEC_TIMEOUT_SECONDS = 60.0
"""How long a credential plugin may run; `aws eks get-token` cold-starts in a few seconds."""

_DETAIL_CHARS = 200


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExecPlugin:
    """A `users[].user.exec` credential plugin (client.authentication.k8s.io)."""

    command: str
    """The program: a name looked up in PATH, or a path (relative ones against the kubeconfig)."""

    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = dataclasses.field(default=(), repr=False)
    """Extra environment (`name`/`value` pairs) merged over ours; values may be secrets."""

    api_version: str
    install_hint: str | None = None
    provide_cluster_info: bool = False
    interactive_mode: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class KubeUser:
    """A `users[]` entry, with file paths made absolute."""

    name: str
    token: str | None = dataclasses.field(default=None, repr=False)
    token_file: Path | None = None
    client_certificate: PemSource | None = dataclasses.field(default=None, repr=False)
    client_key: PemSource | None = dataclasses.field(default=None, repr=False)
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    exec_plugin: ExecPlugin | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class KubeCluster:
    """A `clusters[]` entry, with file paths made absolute."""

    name: str
    server: str
    certificate_authority: PemSource | None = dataclasses.field(default=None, repr=False)
    ca_label: str | None = None
    """How messages name the CA ("certificate-authority-data of cluster 'prod' in FILE")."""

    insecure_skip_tls_verify: bool = False
    proxy_url: str | None = None
    tls_server_name: str | None = None
    exec_extension: Any = dataclasses.field(default=None, repr=False)
    """`extensions[name=client.authentication.k8s.io/exec]`, passed to exec plugins."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class KubeContext:
    """The selected context: its cluster and user, and where they were read from."""

    name: str
    cluster: KubeCluster
    user: KubeUser
    origin: str
    """The kubeconfig file(s), for messages: a path or "KUBECONFIG (a:b)"."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExecCredential:
    """What an exec plugin returned: a token or a client certificate, and until when."""

    token: str | None = dataclasses.field(default=None, repr=False)
    client_certificate: bytes | None = dataclasses.field(default=None, repr=False)
    client_key: bytes | None = dataclasses.field(default=None, repr=False)
    expires_at: dt.datetime | None = None


# --- loading ----------------------------------------------------------------------------------


@dataclasses.dataclass
class _Merged:
    clusters: dict[str, tuple[Mapping[str, Any], Path]] = dataclasses.field(default_factory=dict)
    users: dict[str, tuple[Mapping[str, Any], Path]] = dataclasses.field(default_factory=dict)
    contexts: dict[str, tuple[Mapping[str, Any], Path]] = dataclasses.field(default_factory=dict)
    current_context: str | None = None


def kubeconfig_paths(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    home: str | os.PathLike[str] | None = None,
) -> tuple[list[Path], str]:
    """Which files to read, and how to name them in messages, by kubectl's precedence.

    An explicit `path` (`--kubeconfig`) wins; else `KUBECONFIG` (a `os.pathsep`-separated list;
    missing files in it are skipped, as kubectl does); else `~/.kube/config` (`home` overrides
    `~` for tests).
    """
    env = os.environ if environ is None else environ
    if path is not None:
        return [Path(path)], str(path)
    listed = env.get("KUBECONFIG", "")
    if listed:
        entries = [Path(p) for p in listed.split(os.pathsep) if p]
        return [p for p in entries if p.exists()], f"KUBECONFIG ({listed})"
    base = Path(home) if home is not None else Path.home()
    default = base / ".kube" / "config"
    return [default], str(default)


def load_kubeconfig(
    path: str | os.PathLike[str] | None = None,
    *,
    context: str | None = None,
    environ: Mapping[str, str] | None = None,
    home: str | os.PathLike[str] | None = None,
) -> KubeContext:
    """Load the kubeconfig like kubectl and return the selected context, or raise.

    Files of a `KUBECONFIG` list are merged like kubectl: the first file to define a cluster,
    user or context name wins, and `current-context` comes from the first file that sets it.
    Relative file paths (`certificate-authority`, `client-certificate`, `client-key`,
    `tokenFile`, an exec `command` with a `/`) are resolved against the directory of the file
    that holds them. `context` (`--context`) overrides `current-context`.
    Raises `UsageError` for a missing `--kubeconfig` file or an unknown `--context`, and
    `SourceError` for an unreadable or malformed kubeconfig.
    """
    files, origin = kubeconfig_paths(path, environ=environ, home=home)
    if path is not None and not files[0].is_file():
        raise UsageError(f"kubeconfig {files[0]} not found")
    existing = [f for f in files if f.is_file()]
    if not existing:
        raise SourceError(
            f"no kubeconfig found ({origin})",
            hint="pass --kubeconfig FILE, set KUBECONFIG, or use --kubelet HOST instead",
        )
    merged = _Merged()
    for file in existing:
        _merge(merged, _read_yaml(file), file)

    name = context or merged.current_context
    if not name:
        raise UsageError(f"no current-context in {origin}", hint="pick one with --context NAME")
    if name not in merged.contexts:
        known = ", ".join(sorted(merged.contexts)) or "none"
        message = f"context '{name}' not found in {origin} (contexts: {known})"
        if context:
            raise UsageError(message)
        raise SourceError(message, hint="pick another with --context NAME")
    ctx_entry, ctx_file = merged.contexts[name]
    cluster_name = _str_field(ctx_entry, "cluster", ctx_file, f"context '{name}'")
    user_name = _str_field(ctx_entry, "user", ctx_file, f"context '{name}'", required=False)
    if not cluster_name or cluster_name not in merged.clusters:
        raise SourceError(f"context '{name}' names cluster '{cluster_name}', not in {origin}")
    cluster = _cluster(cluster_name, *merged.clusters[cluster_name])
    if user_name and user_name not in merged.users:
        raise SourceError(f"context '{name}' names user '{user_name}', not in {origin}")
    user = _user(user_name, *merged.users[user_name]) if user_name else KubeUser(name="(anonymous)")
    log.debug(
        "kubeconfig %s: context %s, cluster %s (%s), user %s", origin, name, cluster.name,
        cluster.server, user.name,
    )  # fmt: skip
    return KubeContext(name=name, cluster=cluster, user=user, origin=origin)


def _read_yaml(file: Path) -> Mapping[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SourceError(f"cannot read kubeconfig {file}: {reason}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None)
        what = f": {problem}" if isinstance(problem, str) else ""
        # NOTE: `from None`: str(exc) quotes the offending line, which may hold a token.
        raise SourceError(f"kubeconfig {file} is not valid YAML{where}{what}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise SourceError(f"kubeconfig {file} is not a kubeconfig (expected a YAML mapping)")
    return data


def _merge(merged: _Merged, data: Mapping[str, Any], file: Path) -> None:
    for key, target, inner in (
        ("clusters", merged.clusters, "cluster"),
        ("users", merged.users, "user"),
        ("contexts", merged.contexts, "context"),
    ):
        entries = data.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise SourceError(f"kubeconfig {file}: `{key}` must be a list")
        for entry in entries:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
                raise SourceError(f"kubeconfig {file}: an entry of `{key}` has no name")
            body = entry.get(inner) or {}
            if not isinstance(body, Mapping):
                raise SourceError(f"kubeconfig {file}: {inner} '{entry['name']}' is not a mapping")
            target.setdefault(entry["name"], (body, file))
    current = data.get("current-context")
    if merged.current_context is None and isinstance(current, str) and current:
        merged.current_context = current


def _str_field(
    entry: Mapping[str, Any], key: str, file: Path, what: str, *, required: bool = True
) -> str | None:
    value = entry.get(key)
    if value is None or value == "":
        if required:
            raise SourceError(f"kubeconfig {file}: {what} has no `{key}`")
        return None
    if not isinstance(value, str):
        raise SourceError(f"kubeconfig {file}: `{key}` of {what} must be a string")
    return value


def _path_field(entry: Mapping[str, Any], key: str, file: Path, what: str) -> Path | None:
    value = _str_field(entry, key, file, what, required=False)
    if value is None:
        return None
    path = Path(value)
    return path if path.is_absolute() else file.parent / path


def _data_field(entry: Mapping[str, Any], key: str, file: Path, what: str) -> bytes | None:
    value = _str_field(entry, key, file, what, required=False)
    if value is None:
        return None
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        # NOTE: no `from exc`; the value may be a key.
        raise SourceError(f"kubeconfig {file}: `{key}` of {what} is not valid base64") from None


def _cluster(name: str, entry: Mapping[str, Any], file: Path) -> KubeCluster:
    what = f"cluster '{name}'"
    server = _str_field(entry, "server", file, what)
    assert server is not None
    if "@" in server.partition("://")[2].partition("/")[0]:
        raise SourceError(f"kubeconfig {file}: the server URL of {what} holds credentials")
    if not server.startswith(("https://", "http://")):
        raise SourceError(f"kubeconfig {file}: the server of {what} is not an http(s) URL")
    ca_data = _data_field(entry, "certificate-authority-data", file, what)
    ca_file = _path_field(entry, "certificate-authority", file, what)
    ca: PemSource | None = ca_data if ca_data is not None else ca_file
    label = None
    if ca_data is not None:
        label = f"certificate-authority-data of {what} in {file}"
    elif ca_file is not None:
        label = f"CA file {ca_file} (certificate-authority of {what})"
    extension = None
    for item in entry.get("extensions") or []:
        if isinstance(item, Mapping) and item.get("name") == "client.authentication.k8s.io/exec":
            extension = item.get("extension")
    return KubeCluster(
        name=name,
        server=server,
        certificate_authority=ca,
        ca_label=label,
        insecure_skip_tls_verify=entry.get("insecure-skip-tls-verify") is True,
        proxy_url=_str_field(entry, "proxy-url", file, what, required=False),
        tls_server_name=_str_field(entry, "tls-server-name", file, what, required=False),
        exec_extension=extension,
    )


def _user(name: str, entry: Mapping[str, Any], file: Path) -> KubeUser:
    what = f"user '{name}'"
    cert_data = _data_field(entry, "client-certificate-data", file, what)
    key_data = _data_field(entry, "client-key-data", file, what)
    cert: PemSource | None = cert_data or _path_field(entry, "client-certificate", file, what)
    key: PemSource | None = key_data or _path_field(entry, "client-key", file, what)
    token = _str_field(entry, "token", file, what, required=False)
    provider = entry.get("auth-provider")
    if isinstance(provider, Mapping) and token is None:
        config = provider.get("config")
        id_token = config.get("id-token") if isinstance(config, Mapping) else None
        if provider.get("name") == "oidc" and isinstance(id_token, str) and id_token:
            token = id_token  # no refresh: an expired one gets a 401 that says so
        else:
            raise SourceError(
                f"kubeconfig {file}: {what} uses auth-provider "
                f"'{provider.get('name')}', which pleg-doctor does not support",
                hint="use an exec credential plugin (e.g. kubelogin, gke-gcloud-auth-plugin)",
            )
    username = _str_field(entry, "username", file, what, required=False)
    password = _str_field(entry, "password", file, what, required=False)
    token_file = _path_field(entry, "tokenFile", file, what)
    if (token or token_file) and (username or password):
        raise SourceError(f"kubeconfig {file}: {what} has both a token and a username/password")
    if key is not None and cert is None:
        raise SourceError(f"kubeconfig {file}: {what} has a client key but no certificate")
    return KubeUser(
        name=name,
        token=token,
        token_file=token_file,
        client_certificate=cert,
        client_key=key,
        username=username,
        password=password,
        exec_plugin=_exec(entry.get("exec"), file, what),
    )


def _exec(entry: Any, file: Path, what: str) -> ExecPlugin | None:
    if entry is None:
        return None
    if not isinstance(entry, Mapping):
        raise SourceError(f"kubeconfig {file}: `exec` of {what} is not a mapping")
    command = _str_field(entry, "command", file, f"the exec plugin of {what}")
    assert command is not None
    api_version = entry.get("apiVersion")
    if api_version not in EXEC_API_VERSIONS:
        raise SourceError(
            f"kubeconfig {file}: the exec plugin of {what} uses apiVersion {api_version!r}",
            hint="supported: " + ", ".join(sorted(EXEC_API_VERSIONS)),
        )
    if "/" in command and not Path(command).is_absolute():
        # kubectl resolves a relative command path against the kubeconfig's directory.
        command = str(file.parent / command)
    args = entry.get("args") or []
    env = entry.get("env") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise SourceError(f"kubeconfig {file}: exec `args` of {what} must be a list of strings")
    pairs: list[tuple[str, str]] = []
    for item in env if isinstance(env, list) else [None]:
        if not (
            isinstance(item, Mapping)
            and isinstance(item.get("name"), str)
            and isinstance(item.get("value"), str)
        ):
            raise SourceError(f"kubeconfig {file}: exec `env` of {what} must be name/value pairs")
        pairs.append((item["name"], item["value"]))
    hint = entry.get("installHint")
    mode = entry.get("interactiveMode")
    return ExecPlugin(
        command=command,
        args=tuple(args),
        env=tuple(pairs),
        api_version=api_version,
        install_hint=hint if isinstance(hint, str) else None,
        provide_cluster_info=entry.get("provideClusterInfo") is True,
        interactive_mode=mode if isinstance(mode, str) else None,
    )


# --- exec credential plugins ------------------------------------------------------------------


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
    credential), only the first line of its stderr, with any configured env value removed.
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
    start = time.monotonic()
    try:
        proc = subprocess.run(  # the user's own kubeconfig names the command
            [plugin.command, *plugin.args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise SourceAuthError(
            f"exec credential plugin '{name}' not found", hint=_first_line(plugin.install_hint)
        ) from exc
    except PermissionError as exc:
        raise SourceAuthError(f"exec credential plugin '{name}' is not executable") from exc
    except subprocess.TimeoutExpired:
        # NOTE: from None: TimeoutExpired carries the captured output.
        raise SourceAuthError(
            f"exec credential plugin '{name}' did not finish within {timeout:g} s"
        ) from None
    except OSError as exc:
        raise SourceAuthError(
            f"cannot run exec credential plugin '{name}': {exc.strerror or type(exc).__name__}"
        ) from exc
    log.debug(
        "exec credential plugin %s exited %d after %.3f s (%d bytes out, %d bytes err)",
        name, proc.returncode, time.monotonic() - start, len(proc.stdout), len(proc.stderr),
    )  # fmt: skip
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace")
        for _, value in plugin.env:
            if len(value) >= 4:
                stderr = stderr.replace(value, "<redacted>")
        detail = _first_line(stderr)
        suffix = f": {detail}" if detail else ""
        raise SourceAuthError(
            f"exec credential plugin '{name}' failed (exit {proc.returncode}){suffix}",
            hint=f"run it yourself to see why: {name}",
        )
    return _parse_exec_output(proc.stdout, plugin, name)


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
        data = json.loads(stdout)
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


def _first_line(text: str | None) -> str | None:
    if not text:
        return None
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if len(line) > _DETAIL_CHARS:
        line = line[: _DETAIL_CHARS - 1] + "…"
    return line or None


# --- credentials ------------------------------------------------------------------------------


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
