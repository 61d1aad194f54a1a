"""Read a kubeconfig the way kubectl does: file lookup, merge, and the selected context.

Users, clusters and contexts come out as typed entries with file paths made absolute (`KubeUser`,
`KubeCluster`, `KubeContext`); `credentials` turns them into what a request sends. Secrets
(tokens, passwords, key data) are kept out of `repr()`, out of messages and out of logs. YAML
errors are re-raised without their cause, because PyYAML's message quotes the offending line of
the file, which may hold a token.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pleg_doctor.errors import LimitError, SourceError, UsageError
from pleg_doctor.sources.decode import YamlTooLarge, yaml_document
from pleg_doctor.sources.http.settings import PemSource

log = logging.getLogger(__package__)

EXEC_API_VERSIONS = frozenset(
    {"client.authentication.k8s.io/v1beta1", "client.authentication.k8s.io/v1"}
)
"""The ExecCredential versions current kubectl supports (v1alpha1 was removed in 1.24)."""


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
        data = yaml_document(text)
    except YamlTooLarge as exc:
        if exc.variable is not None:
            raise LimitError(
                f"kubeconfig {file} {exc.problem}: past the bound ({exc.variable})",
                variable=exc.variable,
            ) from None
        raise SourceError(f"kubeconfig {file} {exc.problem}") from None
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
