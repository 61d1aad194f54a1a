"""Kubeconfig loading (kubectl's lookup and merge rules), exec plugins, and the HttpSettings built.

No network: these tests read files and run small plugin scripts. Every error message and every
DEBUG log record is checked for secrets.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import traceback
from pathlib import Path
from typing import Any

import pytest
import yaml

from pleg_doctor.errors import SourceAuthError, SourceError, UsageError
from pleg_doctor.sources.kubeconfig.config import ExecPlugin, load_kubeconfig
from pleg_doctor.sources.kubeconfig.credentials import KubeconfigCredentials, run_exec_plugin
from tests.fakeserver import (
    CA,
    CLIENT_CERT,
    PASSWORD,
    TOKEN,
    assert_secret_free,
    capture_debug_logs,
    logged_text,
    plugin_runs,
    write_exec_plugin,
)

V1BETA1 = "client.authentication.k8s.io/v1beta1"
V1 = "client.authentication.k8s.io/v1"


@pytest.fixture(autouse=True)
def _secret_check(monkeypatch, caplog, capsys):
    capture_debug_logs(monkeypatch, caplog)
    yield
    assert_secret_free(logged_text(caplog.get_records("call")))
    out, err = capsys.readouterr()
    assert_secret_free(out + err)


def config(
    *,
    current: str | None = "ctx-a",
    clusters: dict[str, dict[str, Any]] | None = None,
    users: dict[str, dict[str, Any]] | None = None,
    contexts: dict[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Config"}
    if current is not None:
        doc["current-context"] = current
    doc["clusters"] = [{"name": n, "cluster": c} for n, c in (clusters or {}).items()]
    doc["users"] = [{"name": n, "user": u} for n, u in (users or {}).items()]
    doc["contexts"] = [
        {"name": n, "context": {"cluster": c, "user": u}} for n, (c, u) in (contexts or {}).items()
    ]
    return doc


def write(path: Path, doc: dict[str, Any] | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


def simple(
    server: str = "https://a.example:6443", user: dict[str, Any] | None = None
) -> dict[str, Any]:
    return config(
        clusters={"cluster-a": {"server": server}},
        users={"user-a": user if user is not None else {"token": TOKEN}},
        contexts={"ctx-a": ("cluster-a", "user-a")},
    )


def error_text(info: pytest.ExceptionInfo[Exception]) -> str:
    message = str(info.value)
    assert_secret_free(message)
    assert message.count("\n") <= 1
    assert_secret_free("".join(traceback.format_exception(info.value)))
    return message


# --- where the kubeconfig comes from ----------------------------------------------------------


def test_explicit_path(tmp_path):
    kc = write(tmp_path / "my-config", simple())
    ctx = load_kubeconfig(kc, environ={"KUBECONFIG": "/nonexistent"}, home=tmp_path / "home")
    assert ctx.name == "ctx-a"
    assert ctx.cluster.server == "https://a.example:6443"
    assert ctx.user.token == TOKEN
    assert ctx.origin == str(kc)
    assert TOKEN not in repr(ctx)


def test_default_is_home_kube_config(tmp_path):
    write(tmp_path / "home" / ".kube" / "config", simple())
    ctx = load_kubeconfig(environ={}, home=tmp_path / "home")
    assert ctx.cluster.name == "cluster-a"


def test_kubeconfig_env_merges_first_definition_wins(tmp_path):
    first = write(
        tmp_path / "one",
        config(
            current=None,
            clusters={"shared": {"server": "https://first:6443"}},
            users={"user-a": {"token": TOKEN}},
            contexts={"ctx-a": ("shared", "user-a")},
        ),
    )
    second = write(
        tmp_path / "two",
        config(
            current="ctx-b",
            clusters={
                "shared": {"server": "https://second:6443"},
                "only-second": {"server": "https://only-second:6443"},
            },
            users={"user-a": {"token": "from-second"}, "user-b": {"token": "b"}},
            contexts={"ctx-a": ("only-second", "user-b"), "ctx-b": ("shared", "user-a")},
        ),
    )
    env = {"KUBECONFIG": os.pathsep.join([str(first), str(tmp_path / "missing"), str(second)])}
    ctx = load_kubeconfig(environ=env, home=tmp_path)
    # current-context from the first file that sets it (the second); names from the first file
    assert ctx.name == "ctx-b"
    assert ctx.cluster.server == "https://first:6443"
    assert ctx.user.token == TOKEN
    assert ctx.origin.startswith("KUBECONFIG (")
    # ctx-a is defined in both files: the first file's definition wins
    ctx_a = load_kubeconfig(context="ctx-a", environ=env, home=tmp_path)
    assert ctx_a.cluster.server == "https://first:6443"


def test_context_override(tmp_path):
    doc = config(
        clusters={"a": {"server": "https://a:6443"}, "b": {"server": "https://b:6443"}},
        users={"u": {"token": TOKEN}},
        contexts={"ctx-a": ("a", "u"), "ctx-b": ("b", "u")},
    )
    kc = write(tmp_path / "config", doc)
    assert load_kubeconfig(kc, context="ctx-b").cluster.server == "https://b:6443"


def test_unknown_context_is_a_usage_error_listing_the_known_ones(tmp_path):
    kc = write(tmp_path / "config", simple())
    with pytest.raises(UsageError) as info:
        load_kubeconfig(kc, context="prod")
    message = error_text(info)
    assert "context 'prod' not found" in message
    assert "ctx-a" in message


def test_current_context_that_does_not_exist(tmp_path):
    doc = simple()
    doc["current-context"] = "gone"
    kc = write(tmp_path / "config", doc)
    with pytest.raises(SourceError) as info:
        load_kubeconfig(kc)
    assert "context 'gone' not found" in error_text(info)


def test_no_current_context(tmp_path):
    doc = simple()
    del doc["current-context"]
    kc = write(tmp_path / "config", doc)
    with pytest.raises(UsageError) as info:
        load_kubeconfig(kc)
    assert "--context" in error_text(info)


def test_missing_explicit_file(tmp_path):
    with pytest.raises(UsageError) as info:
        load_kubeconfig(tmp_path / "nope")
    assert str(tmp_path / "nope") in error_text(info)


def test_no_kubeconfig_anywhere(tmp_path):
    with pytest.raises(SourceError) as info:
        load_kubeconfig(environ={}, home=tmp_path)
    assert "no kubeconfig found" in error_text(info)


def test_kubeconfig_env_with_only_missing_files(tmp_path):
    with pytest.raises(SourceError) as info:
        load_kubeconfig(environ={"KUBECONFIG": str(tmp_path / "x")}, home=tmp_path)
    assert "KUBECONFIG" in error_text(info)


def test_bad_yaml_names_the_line_but_never_quotes_it(tmp_path):
    kc = write(
        tmp_path / "config",
        f"apiVersion: v1\nusers:\n- name: u\n  user:\n    token: {TOKEN}: [oops\n",
    )
    with pytest.raises(SourceError) as info:
        load_kubeconfig(kc)
    message = error_text(info)
    assert "not valid YAML at line 5" in message
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    "text",
    [
        "- just\n- a list\n",
        "clusters: {}\n",
        "clusters:\n- cluster: {server: x}\n",
        "users:\n- name: u\n  user: [1]\n",
    ],
)
def test_malformed_kubeconfigs_are_source_errors(tmp_path, text):
    kc = write(tmp_path / "config", text)
    with pytest.raises(SourceError) as info:
        load_kubeconfig(kc)
    assert str(kc) in error_text(info)


def test_context_naming_a_missing_cluster_or_user(tmp_path):
    doc = simple()
    doc["contexts"] = [{"name": "ctx-a", "context": {"cluster": "nope", "user": "user-a"}}]
    with pytest.raises(SourceError) as info:
        load_kubeconfig(write(tmp_path / "c1", doc))
    assert "cluster 'nope'" in error_text(info)
    doc["contexts"] = [{"name": "ctx-a", "context": {"cluster": "cluster-a", "user": "nobody"}}]
    with pytest.raises(SourceError) as info:
        load_kubeconfig(write(tmp_path / "c2", doc))
    assert "user 'nobody'" in error_text(info)


def test_server_url_with_credentials_is_refused(tmp_path):
    kc = write(tmp_path / "config", simple(server=f"https://alice:{PASSWORD}@a:6443"))
    with pytest.raises(SourceError) as info:
        load_kubeconfig(kc)
    error_text(info)


# --- users and clusters -----------------------------------------------------------------------


def test_relative_paths_resolve_against_the_kubeconfig_directory(tmp_path):
    doc = config(
        clusters={"c": {"server": "https://a:6443", "certificate-authority": "pki/ca.crt"}},
        users={
            "u": {
                "client-certificate": "pki/client.crt",
                "client-key": "/abs/client.key",
                "tokenFile": "token",
            }
        },
        contexts={"ctx-a": ("c", "u")},
    )
    kc = write(tmp_path / "kube" / "config", doc)
    ctx = load_kubeconfig(kc)
    assert ctx.cluster.certificate_authority == tmp_path / "kube" / "pki" / "ca.crt"
    assert ctx.user.client_certificate == tmp_path / "kube" / "pki" / "client.crt"
    assert ctx.user.client_key == Path("/abs/client.key")
    assert ctx.user.token_file == tmp_path / "kube" / "token"


def test_ca_file_vs_ca_data(tmp_path):
    data = base64.b64encode(CA.cert_pem.bytes()).decode()
    doc = config(
        clusters={
            "file": {"server": "https://a:6443", "certificate-authority": "/etc/ca.crt"},
            "data": {"server": "https://a:6443", "certificate-authority-data": data},
            "both": {
                "server": "https://a:6443",
                "certificate-authority": "/etc/ca.crt",
                "certificate-authority-data": data,
            },
        },
        users={"u": {}},
        contexts={"file": ("file", "u"), "data": ("data", "u"), "both": ("both", "u")},
    )
    kc = write(tmp_path / "config", doc)
    by_file = load_kubeconfig(kc, context="file").cluster
    assert by_file.certificate_authority == Path("/etc/ca.crt")
    assert by_file.ca_label is not None and "/etc/ca.crt" in by_file.ca_label
    by_data = load_kubeconfig(kc, context="data").cluster
    assert by_data.certificate_authority == CA.cert_pem.bytes()
    assert by_data.ca_label is not None and "certificate-authority-data" in by_data.ca_label
    # data wins over a file, as in client-go
    assert load_kubeconfig(kc, context="both").cluster.certificate_authority == CA.cert_pem.bytes()


def test_invalid_base64_never_quotes_the_value(tmp_path):
    user = {"client-certificate-data": "abc", "client-key-data": f"{TOKEN}!!"}
    kc = write(tmp_path / "config", simple(user=user))
    with pytest.raises(SourceError) as info:
        load_kubeconfig(kc)
    assert "not valid base64" in error_text(info)
    assert info.value.__cause__ is None


def test_http_settings_for_each_user_kind(tmp_path):
    key_data = base64.b64encode(CLIENT_CERT.private_key_pem.bytes()).decode()
    cert_data = base64.b64encode(CLIENT_CERT.cert_chain_pems[0].bytes()).decode()
    doc = config(
        clusters={
            "c": {
                "server": "https://a:6443",
                "certificate-authority": "ca.crt",
                "proxy-url": "http://proxy:3128",
                "tls-server-name": "kube.internal",
            },
            "insecure": {"server": "https://a:6443", "insecure-skip-tls-verify": True},
        },
        users={
            "token": {"token": TOKEN},
            "both": {"token": "ignored", "tokenFile": "/run/token"},
            "basic": {"username": "alice", "password": PASSWORD},
            "certs": {"client-certificate-data": cert_data, "client-key-data": key_data},
        },
        contexts={
            "token": ("c", "token"),
            "both": ("c", "both"),
            "basic": ("insecure", "basic"),
            "certs": ("c", "certs"),
        },
    )
    kc = write(tmp_path / "config", doc)

    def settings(name: str):
        return KubeconfigCredentials(load_kubeconfig(kc, context=name)).http_settings()

    token = settings("token")
    assert token.token == TOKEN
    assert token.ca == tmp_path / "ca.crt"
    assert token.proxy_url == "http://proxy:3128"
    assert token.tls_server_name == "kube.internal"
    assert not token.insecure_skip_tls_verify
    both = settings("both")
    assert both.token_file == Path("/run/token")  # tokenFile wins over token, as in client-go
    assert both.token is None
    basic = settings("basic")
    assert basic.basic_auth == ("alice", PASSWORD)
    assert basic.insecure_skip_tls_verify
    assert basic.must_warn_insecure
    assert basic.ca is None
    certs = settings("certs")
    assert certs.client_cert == CLIENT_CERT.cert_chain_pems[0].bytes()
    assert certs.client_key == CLIENT_CERT.private_key_pem.bytes()
    for s in (token, both, basic, certs):
        assert_secret_free(repr(s), key_data)


def test_token_with_basic_auth_is_ambiguous(tmp_path):
    kc = write(tmp_path / "config", simple(user={"token": TOKEN, "username": "a", "password": "b"}))
    with pytest.raises(SourceError) as info:
        load_kubeconfig(kc)
    error_text(info)


def test_oidc_auth_provider_id_token_is_a_bearer_token(tmp_path):
    user = {"auth-provider": {"name": "oidc", "config": {"id-token": TOKEN, "idp-issuer-url": "x"}}}
    ctx = load_kubeconfig(write(tmp_path / "config", simple(user=user)))
    assert ctx.user.token == TOKEN


def test_other_auth_providers_are_refused_with_a_hint(tmp_path):
    user = {"auth-provider": {"name": "gcp", "config": {"access-token": TOKEN}}}
    with pytest.raises(SourceError) as info:
        load_kubeconfig(write(tmp_path / "config", simple(user=user)))
    assert "auth-provider 'gcp'" in error_text(info)


# --- exec plugins -----------------------------------------------------------------------------


def test_exec_config_is_parsed_and_a_relative_command_resolved(tmp_path):
    user = {
        "exec": {
            "apiVersion": V1,
            "command": "./bin/get-token",
            "args": ["--x"],
            "env": [{"name": "A", "value": "b"}],
            "installHint": "install it",
            "provideClusterInfo": True,
            "interactiveMode": "Never",
        }
    }
    ctx = load_kubeconfig(write(tmp_path / "kube" / "config", simple(user=user)))
    plugin = ctx.user.exec_plugin
    assert plugin is not None
    assert plugin.command == str(tmp_path / "kube" / "bin" / "get-token")
    assert plugin.args == ("--x",)
    assert plugin.env == (("A", "b"),)
    assert plugin.provide_cluster_info
    bare = load_kubeconfig(
        write(tmp_path / "k2", simple(user={"exec": {"apiVersion": V1, "command": "aws"}}))
    )
    assert bare.user.exec_plugin is not None
    assert bare.user.exec_plugin.command == "aws"  # looked up in PATH


@pytest.mark.parametrize("version", ["client.authentication.k8s.io/v1alpha1", None, "v1"])
def test_unsupported_exec_api_versions(tmp_path, version):
    user = {"exec": {"apiVersion": version, "command": "aws"}}
    with pytest.raises(SourceError) as info:
        load_kubeconfig(write(tmp_path / "config", simple(user=user)))
    assert "apiVersion" in error_text(info)


@pytest.mark.parametrize("api_version", [V1BETA1, V1])
def test_run_exec_plugin_passes_exec_info_and_env(tmp_path, api_version):
    script, record = write_exec_plugin(
        tmp_path, api_version=api_version, token=TOKEN, expiration="2099-01-01T00:00:00Z"
    )
    plugin = ExecPlugin(
        command=str(script),
        args=("token", "--cluster", "prod"),
        env=(("PLUGIN_SETTING", "on"),),
        api_version=api_version,
    )
    credential = run_exec_plugin(plugin, environ={"PATH": os.environ.get("PATH", "")})
    assert credential.token == TOKEN
    assert credential.expires_at == dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc)
    (run,) = plugin_runs(record)
    assert run["args"] == ["token", "--cluster", "prod"]
    assert run["setting"] == "on"
    assert run["info"] == {
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "spec": {"interactive": False},
    }


def run_failing(tmp_path: Path, **kwargs: Any) -> str:
    script, _ = write_exec_plugin(tmp_path, **kwargs)
    plugin = ExecPlugin(command=str(script), api_version=V1BETA1)
    with pytest.raises(SourceAuthError) as info:
        run_exec_plugin(plugin, timeout=5)
    message = error_text(info)
    assert "fake-auth-plugin" in message
    return message


def test_exec_plugin_output_that_is_not_json_is_never_quoted(tmp_path):
    message = run_failing(tmp_path, stdout=f"token={TOKEN}")
    assert "not JSON" in message


def test_exec_plugin_with_wrong_api_version(tmp_path):
    message = run_failing(tmp_path, token=TOKEN, api_version=V1)  # kubeconfig says v1beta1
    assert "apiVersion" in message


def test_exec_plugin_without_credentials(tmp_path):
    message = run_failing(tmp_path)
    assert "neither a token nor a client certificate" in message


def test_exec_plugin_failure_quotes_one_scrubbed_line_of_stderr(tmp_path):
    script, _ = write_exec_plugin(tmp_path, exit_code=3, stderr=f"bad key {PASSWORD}\nmore\n")
    plugin = ExecPlugin(
        command=str(script), api_version=V1BETA1, env=(("PLUGIN_SECRET", PASSWORD),)
    )
    with pytest.raises(SourceAuthError) as info:
        run_exec_plugin(plugin)
    message = error_text(info)
    assert "failed (exit 3): bad key <redacted>" in message
    assert "more" not in message


def test_exec_plugin_timeout(tmp_path):
    script, _ = write_exec_plugin(tmp_path, token=TOKEN, sleep_seconds=10)
    plugin = ExecPlugin(command=str(script), api_version=V1BETA1)
    with pytest.raises(SourceAuthError) as info:
        run_exec_plugin(plugin, timeout=0.5)
    assert "did not finish within 0.5 s" in error_text(info)


def test_exec_plugin_not_found_shows_the_install_hint(tmp_path):
    plugin = ExecPlugin(
        command=str(tmp_path / "no-such-plugin"),
        api_version=V1,
        install_hint="Install it with: brew install no-such-plugin\nmore text",
    )
    with pytest.raises(SourceAuthError) as info:
        run_exec_plugin(plugin)
    message = error_text(info)
    assert "'no-such-plugin' not found" in message
    assert "brew install no-such-plugin" in message


def test_exec_plugin_that_needs_a_terminal(tmp_path):
    plugin = ExecPlugin(command="kubelogin", api_version=V1, interactive_mode="Always")
    with pytest.raises(SourceAuthError) as info:
        run_exec_plugin(plugin)
    assert "interactive" in error_text(info)


def test_exec_credentials_are_cached_until_expiry(tmp_path):
    script, record = write_exec_plugin(tmp_path, token=TOKEN, expiration="2030-01-01T00:00:00Z")
    user = {"exec": {"apiVersion": V1BETA1, "command": str(script)}}
    ctx = load_kubeconfig(write(tmp_path / "config", simple(user=user)))
    now = [dt.datetime(2029, 12, 31, 23, 0, tzinfo=dt.timezone.utc)]
    creds = KubeconfigCredentials(ctx, clock=lambda: now[0])
    assert creds.uses_exec_plugin
    assert creds.http_settings().token == TOKEN
    assert creds.http_settings().credential_label == "the token from exec plugin 'fake-auth-plugin'"
    assert len(plugin_runs(record)) == 1
    now[0] = dt.datetime(2030, 1, 1, 0, 1, tzinfo=dt.timezone.utc)
    creds.http_settings()
    assert len(plugin_runs(record)) == 2
    creds.invalidate()
    creds.http_settings()
    assert len(plugin_runs(record)) == 3
