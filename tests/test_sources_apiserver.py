"""ApiServerSource against a real HTTPS fake API server, with kubeconfig users of every kind.

Every test also checks (autouse fixture) that no secret reached a DEBUG log record (urllib3's
included), stdout or stderr; failure tests check the exception message too.
"""

from __future__ import annotations

import base64
import os
import tempfile
import traceback
from pathlib import Path
from typing import Any

import pytest
import yaml

from pleg_doctor.errors import (
    SourceAuthError,
    SourceConnectionError,
    SourceError,
    SourceTLSError,
    UsageError,
)
from pleg_doctor.sources.apiserver import ApiServerSource, node_metrics_url
from tests.fakeserver import (
    CA,
    CLIENT_CERT,
    METRICS_BODY,
    OTHER_CA,
    PASSWORD,
    SERVER_CERT,
    TOKEN,
    FakeServer,
    Seen,
    apiserver_handler,
    assert_secret_free,
    closed_port,
    plugin_runs,
    secret_guard,
    write_exec_plugin,
)

NODE = "worker-1"
BASIC = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


@pytest.fixture(autouse=True)
def _clean_env_and_secret_check(monkeypatch, caplog, capsys):
    yield from secret_guard(monkeypatch, caplog, capsys)


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.crt"
    CA.cert_pem.write_to_path(str(path))
    return path


def write_kubeconfig(
    path: Path,
    server: str,
    user: dict[str, Any],
    *,
    cluster: dict[str, Any] | None = None,
    ca: Path | None = None,
) -> Path:
    """A one-context kubeconfig ("test") with `user` and a cluster verified by `ca` (or CA data)."""
    entry: dict[str, Any] = {"server": server}
    if ca is not None:
        entry["certificate-authority"] = str(ca)
    entry.update(cluster or {})
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "test",
        "clusters": [{"name": "test-cluster", "cluster": entry}],
        "users": [{"name": "test-user", "user": user}],
        "contexts": [{"name": "test", "context": {"cluster": "test-cluster", "user": "test-user"}}],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def fail(src: ApiServerSource, error: type[Exception]) -> str:
    with pytest.raises(error) as info:
        src.fetch()
    message = str(info.value)
    assert_secret_free(message)
    assert message.count("\n") <= 1, message
    # --debug prints the traceback with its cause chain: no secret there either
    assert_secret_free("".join(traceback.format_exception(info.value)))
    return message


def source(kubeconfig: Path, node: str = NODE, **kwargs: Any) -> ApiServerSource:
    kwargs.setdefault("timeout", 3)
    return ApiServerSource(node, kubeconfig=kubeconfig, **kwargs)


# --- users of every kind ----------------------------------------------------------------------


def test_token_user(tmp_path, ca_file):
    with FakeServer(apiserver_handler(token=TOKEN), cert=SERVER_CERT) as server:
        kc = write_kubeconfig(tmp_path / "config", server.url(""), {"token": TOKEN}, ca=ca_file)
        src = source(kc)
        dump = src.fetch()
    url = f"{server.url('')}/api/v1/nodes/{NODE}/proxy/metrics"
    assert src.location == url == dump.location
    assert dump.kind == "apiserver"
    assert dump.node == NODE
    assert b"".join(dump.chunks) == METRICS_BODY
    assert dump.captured_at is not None
    assert not src.must_warn_insecure
    assert TOKEN not in repr(src) + repr(src.context)


def test_token_file_relative_to_the_kubeconfig(tmp_path, ca_file):
    (tmp_path / "kube" / "secrets").mkdir(parents=True)
    (tmp_path / "kube" / "secrets" / "token").write_text(TOKEN + "\n")
    with FakeServer(apiserver_handler(token=TOKEN), cert=SERVER_CERT) as server:
        kc = write_kubeconfig(
            tmp_path / "kube" / "config", server.url(""), {"tokenFile": "secrets/token"}, ca=ca_file
        )
        source(kc).fetch()
    assert server.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_client_certificate_files(tmp_path, ca_file):
    kube = tmp_path / "kube"
    kube.mkdir()
    CLIENT_CERT.cert_chain_pems[0].write_to_path(str(kube / "client.crt"))
    CLIENT_CERT.private_key_pem.write_to_path(str(kube / "client.key"))
    user = {"client-certificate": "client.crt", "client-key": "client.key"}
    handler = apiserver_handler(client_cn="system:node:worker-1")
    with FakeServer(handler, cert=SERVER_CERT, client_ca=CA) as server:
        kc = write_kubeconfig(kube / "config", server.url(""), user, ca=ca_file)
        source(kc).fetch()
    assert server.seen[0].client_cn == "system:node:worker-1"


def test_client_key_data_is_never_written_to_disk(tmp_path, ca_file, monkeypatch):
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    during: list[tuple[str, int]] = []
    inner = apiserver_handler(client_cn="system:node:worker-1")

    def handler(seen: Seen):
        for root, dirs, files in os.walk(private_tmp):
            during.extend((d, os.stat(os.path.join(root, d)).st_mode & 0o777) for d in dirs)
            during.extend((f, os.stat(os.path.join(root, f)).st_mode & 0o777) for f in files)
        return inner(seen)

    user = {
        "client-certificate-data": b64(CLIENT_CERT.cert_chain_pems[0].bytes()),
        "client-key-data": b64(CLIENT_CERT.private_key_pem.bytes()),
    }
    with FakeServer(handler, cert=SERVER_CERT, client_ca=CA) as server:
        kc = write_kubeconfig(tmp_path / "config", server.url(""), user, ca=ca_file)
        source(kc).fetch()
    assert server.seen[0].client_cn == "system:node:worker-1"
    assert during == []  # the key was never written to disk: it lived in a memory file
    assert list(private_tmp.iterdir()) == []  # cleaned up


def test_basic_auth(tmp_path, ca_file):
    with FakeServer(apiserver_handler(basic=BASIC), cert=SERVER_CERT) as server:
        kc = write_kubeconfig(
            tmp_path / "config",
            server.url(""),
            {"username": "alice", "password": PASSWORD},
            ca=ca_file,
        )
        source(kc).fetch()


def test_wrong_password_is_refused_without_quoting_it(tmp_path, ca_file):
    with FakeServer(apiserver_handler(basic="nope"), cert=SERVER_CERT) as server:
        kc = write_kubeconfig(
            tmp_path / "config",
            server.url(""),
            {"username": "alice", "password": PASSWORD},
            ca=ca_file,
        )
        message = fail(source(kc), SourceAuthError)
    assert "401" in message
    assert "password of kubeconfig user 'test-user'" in message


@pytest.mark.parametrize(
    "api_version", ["client.authentication.k8s.io/v1beta1", "client.authentication.k8s.io/v1"]
)
def test_exec_plugin_token(tmp_path, ca_file, api_version):
    plugin, record = write_exec_plugin(tmp_path, api_version=api_version, token=TOKEN)
    user = {
        "exec": {
            "apiVersion": api_version,
            "command": str(plugin),
            "args": ["get-token", "--cluster", "prod"],
            "env": [{"name": "PLUGIN_SETTING", "value": "from-kubeconfig"}],
            "interactiveMode": "Never",
        }
    }
    with FakeServer(apiserver_handler(token=TOKEN), cert=SERVER_CERT) as server:
        kc = write_kubeconfig(tmp_path / "config", server.url(""), user, ca=ca_file)
        src = source(kc)
        src.fetch()
        src.fetch()
    (run,) = plugin_runs(record)  # cached: no expiry means valid for the process
    assert run["args"] == ["get-token", "--cluster", "prod"]
    assert run["setting"] == "from-kubeconfig"
    assert run["info"]["apiVersion"] == api_version
    assert run["info"]["kind"] == "ExecCredential"
    assert run["info"]["spec"]["interactive"] is False
    assert "cluster" not in run["info"]["spec"]


def test_exec_plugin_with_cluster_info_and_expired_credential(tmp_path, ca_file):
    plugin, record = write_exec_plugin(tmp_path, token=TOKEN, expiration="2000-01-01T00:00:00Z")
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": str(plugin),
            "provideClusterInfo": True,
        }
    }
    with FakeServer(apiserver_handler(token=TOKEN), cert=SERVER_CERT) as server:
        kc = write_kubeconfig(tmp_path / "config", server.url(""), user, ca=ca_file)
        src = source(kc)
        src.fetch()
        src.fetch()
    runs = plugin_runs(record)
    assert len(runs) == 2  # expired: run again
    cluster = runs[0]["info"]["spec"]["cluster"]
    assert cluster["server"] == server.url("")
    assert base64.b64decode(cluster["certificate-authority-data"]) == CA.cert_pem.bytes()


def test_exec_plugin_client_certificate(tmp_path, ca_file):
    plugin, _ = write_exec_plugin(
        tmp_path,
        api_version="client.authentication.k8s.io/v1",
        cert_pem=CLIENT_CERT.cert_chain_pems[0].bytes().decode(),
        key_pem=CLIENT_CERT.private_key_pem.bytes().decode(),
    )
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": str(plugin),
            "interactiveMode": "IfAvailable",
        }
    }
    handler = apiserver_handler(client_cn="system:node:worker-1")
    with FakeServer(handler, cert=SERVER_CERT, client_ca=CA) as server:
        kc = write_kubeconfig(tmp_path / "config", server.url(""), user, ca=ca_file)
        source(kc).fetch()
    assert server.seen[0].client_cn == "system:node:worker-1"


def test_exec_plugin_refused_token_is_run_again_next_time(tmp_path, ca_file):
    plugin, record = write_exec_plugin(tmp_path, token=TOKEN)
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin)}}
    with FakeServer(apiserver_handler(token="another"), cert=SERVER_CERT) as server:
        kc = write_kubeconfig(tmp_path / "config", server.url(""), user, ca=ca_file)
        src = source(kc)
        message = fail(src, SourceAuthError)
        fail(src, SourceAuthError)
    assert "the token from exec plugin 'fake-auth-plugin'" in message
    assert len(plugin_runs(record)) == 2


def test_failing_exec_plugin_names_the_command(tmp_path, ca_file):
    plugin, _ = write_exec_plugin(
        tmp_path, exit_code=1, stderr="error: SSO session expired\nsecret detail\n"
    )
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin)}}
    with FakeServer(apiserver_handler(token=TOKEN), cert=SERVER_CERT) as server:
        kc = write_kubeconfig(tmp_path / "config", server.url(""), user, ca=ca_file)
        message = fail(source(kc), SourceAuthError)
    assert "exec credential plugin 'fake-auth-plugin' failed (exit 1)" in message
    assert "SSO session expired" in message
    assert "secret detail" not in message
    assert not server.seen


# --- statuses ---------------------------------------------------------------------------------


def test_403_names_get_nodes_proxy(tmp_path, ca_file):
    handler = apiserver_handler(token=TOKEN, forbidden=(NODE,))
    with FakeServer(handler, cert=SERVER_CERT) as server:
        kc = write_kubeconfig(tmp_path / "config", server.url(""), {"token": TOKEN}, ca=ca_file)
        message = fail(source(kc), SourceAuthError)
    assert "403" in message
    assert "`get nodes/proxy`" in message
    assert 'User "alice" cannot get resource "nodes/proxy"' in message


def test_401_says_the_token_was_refused(tmp_path, ca_file):
    with FakeServer(apiserver_handler(token="other"), cert=SERVER_CERT) as server:
        kc = write_kubeconfig(tmp_path / "config", server.url(""), {"token": TOKEN}, ca=ca_file)
        message = fail(source(kc), SourceAuthError)
    assert "refused the token of kubeconfig user 'test-user' (401 Unauthorized)" in message


def test_404_names_the_node(tmp_path, ca_file):
    with FakeServer(apiserver_handler(token=TOKEN), cert=SERVER_CERT) as server:
        kc = write_kubeconfig(tmp_path / "config", server.url(""), {"token": TOKEN}, ca=ca_file)
        message = fail(source(kc, node="worker-9"), SourceError)
    assert "node 'worker-9' not found" in message
    assert "404" in message


def test_503_quotes_the_proxy_error(tmp_path, ca_file):
    handler = apiserver_handler(token=TOKEN, unreachable=(NODE,))
    with FakeServer(handler, cert=SERVER_CERT) as server:
        kc = write_kubeconfig(tmp_path / "config", server.url(""), {"token": TOKEN}, ca=ca_file)
        message = fail(source(kc), SourceError)
    assert "503" in message
    assert "dial tcp 10.0.0.7:10250: i/o timeout" in message


def test_server_url_with_a_path_prefix(tmp_path, ca_file):
    handler = apiserver_handler(token=TOKEN, prefix="/k8s/clusters/c-123")
    with FakeServer(handler, cert=SERVER_CERT) as server:
        kc = write_kubeconfig(
            tmp_path / "config", server.url("/k8s/clusters/c-123/"), {"token": TOKEN}, ca=ca_file
        )
        source(kc).fetch()
    assert server.seen[0].path == f"/k8s/clusters/c-123/api/v1/nodes/{NODE}/proxy/metrics"


def test_node_metrics_url_quotes_the_node():
    assert (
        node_metrics_url("https://k:6443/", "n1") == "https://k:6443/api/v1/nodes/n1/proxy/metrics"
    )


@pytest.mark.parametrize("node", ["", "Worker", "a/b", "../etc", "x" * 300])
def test_invalid_node_names_are_usage_errors(tmp_path, node):
    kc = write_kubeconfig(tmp_path / "config", "https://127.0.0.1:1", {"token": TOKEN})
    with pytest.raises(UsageError):
        ApiServerSource(node, kubeconfig=kc)


# --- cluster TLS settings ---------------------------------------------------------------------


def test_ca_data(tmp_path):
    cluster = {"certificate-authority-data": b64(CA.cert_pem.bytes())}
    with FakeServer(apiserver_handler(token=TOKEN), cert=SERVER_CERT) as server:
        kc = write_kubeconfig(
            tmp_path / "config", server.url(""), {"token": TOKEN}, cluster=cluster
        )
        source(kc).fetch()


def test_wrong_ca_data_is_named(tmp_path):
    cluster = {"certificate-authority-data": b64(OTHER_CA.cert_pem.bytes())}
    with FakeServer(apiserver_handler(token=TOKEN), cert=SERVER_CERT) as server:
        kc = write_kubeconfig(
            tmp_path / "config", server.url(""), {"token": TOKEN}, cluster=cluster
        )
        message = fail(source(kc), SourceTLSError)
    assert "certificate-authority-data of cluster 'test-cluster'" in message
    assert str(kc) in message
    assert not server.seen


def test_wrong_ca_file_is_named(tmp_path):
    other = tmp_path / "other-ca.crt"
    OTHER_CA.cert_pem.write_to_path(str(other))
    with FakeServer(apiserver_handler(token=TOKEN), cert=SERVER_CERT) as server:
        kc = write_kubeconfig(tmp_path / "config", server.url(""), {"token": TOKEN}, ca=other)
        message = fail(source(kc), SourceTLSError)
    assert str(other) in message


def test_insecure_skip_tls_verify(tmp_path):
    cluster = {"insecure-skip-tls-verify": True}
    with FakeServer(apiserver_handler(token=TOKEN), cert=SERVER_CERT) as server:
        kc = write_kubeconfig(
            tmp_path / "config", server.url(""), {"token": TOKEN}, cluster=cluster
        )
        src = source(kc)
        assert src.must_warn_insecure
        src.fetch()


def test_tls_server_name(tmp_path, ca_file):
    internal = CA.issue_cert("kube.internal")
    with FakeServer(apiserver_handler(token=TOKEN), cert=internal) as server:
        plain = write_kubeconfig(
            tmp_path / "a" / "config", server.url(""), {"token": TOKEN}, ca=ca_file
        )
        fail(source(plain), SourceTLSError)
        named = write_kubeconfig(
            tmp_path / "b" / "config",
            server.url(""),
            {"token": TOKEN},
            ca=ca_file,
            cluster={"tls-server-name": "kube.internal"},
        )
        source(named).fetch()


def test_unreachable_proxy_is_a_connection_error_without_its_password(tmp_path, ca_file):
    proxy = f"http://proxyuser:{PASSWORD}@127.0.0.1:{closed_port()}"
    kc = write_kubeconfig(
        tmp_path / "config",
        "https://127.0.0.1:6443",
        {"token": TOKEN},
        ca=ca_file,
        cluster={"proxy-url": proxy},
    )
    message = fail(source(kc), SourceConnectionError)
    assert "proxy" in message


def test_unreachable_api_server(tmp_path, ca_file):
    kc = write_kubeconfig(
        tmp_path / "config", f"https://127.0.0.1:{closed_port()}", {"token": TOKEN}, ca=ca_file
    )
    message = fail(source(kc), SourceConnectionError)
    assert "connection refused" in message
    assert "API server" in message
