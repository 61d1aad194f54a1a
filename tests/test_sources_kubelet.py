"""KubeletSource and the shared HTTP layer against real HTTPS servers on 127.0.0.1.

Every test also checks (through the autouse fixture) that no secret reached a log record at DEBUG
(urllib3's included), stdout or stderr; failure tests check the exception message too.
"""

from __future__ import annotations

import datetime as dt
import http.client
import time
import traceback
from pathlib import Path

import pytest

from pleg_doctor.errors import (
    SourceAuthError,
    SourceConnectionError,
    SourceError,
    SourceTimeoutError,
    SourceTLSError,
    UsageError,
)
from pleg_doctor.sources.http.metrics import parse_http_date
from pleg_doctor.sources.http.redaction import redact_headers
from pleg_doctor.sources.http.settings import ACCEPT, HttpSettings
from pleg_doctor.sources.kubelet import KubeletSource, kubelet_url
from tests.fakeserver import (
    CA,
    CLIENT_CERT,
    FIXED_DATE,
    METRICS_BODY,
    OTHER_CA,
    SERVER_CERT,
    TOKEN,
    FakeServer,
    Reply,
    Seen,
    assert_secret_free,
    closed_port,
    key_secret,
    logged_text,
    secret_guard,
)

CAPTURED = dt.datetime(2026, 11, 27, 10, 0, 0, tzinfo=dt.timezone.utc)
FORBIDDEN_BODY = (
    b"Forbidden (user=system:serviceaccount:monitoring:prom, verb=get, resource=nodes, "
    b"subresource(s)=[metrics])\n"
)


@pytest.fixture(autouse=True)
def _clean_env_and_secret_check(monkeypatch, caplog, capsys):
    yield from secret_guard(monkeypatch, caplog, capsys)


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "kubelet-ca.crt"
    CA.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def other_ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "other-ca.crt"
    OTHER_CA.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def client_files(tmp_path: Path) -> tuple[Path, Path]:
    cert = tmp_path / "client.crt"
    key = tmp_path / "client.key"
    CLIENT_CERT.cert_chain_pems[0].write_to_path(str(cert))
    CLIENT_CERT.private_key_pem.write_to_path(str(key))
    return cert, key


def bearer_only(token: str = TOKEN):
    def handler(seen: Seen) -> Reply:
        if seen.headers.get("Authorization") != f"Bearer {token}":
            return Reply(status=401, body=b"Unauthorized\n", content_type="text/plain")
        return Reply()

    return handler


def source(target: str, **kwargs) -> KubeletSource:
    kwargs.setdefault("service_account_dir", None)
    kwargs.setdefault("timeout", 3)
    return KubeletSource(target, **kwargs)


def fail(src: KubeletSource, error: type[Exception]) -> str:
    with pytest.raises(error) as info:
        src.fetch()
    message = str(info.value)
    assert_secret_free(message)
    assert message.count("\n") <= 1, message
    # --debug prints the traceback with its cause chain: no secret there either
    assert_secret_free("".join(traceback.format_exception(info.value)))
    return message


# --- success paths ----------------------------------------------------------------------------


def test_token_auth_returns_the_body_the_date_and_the_location(ca_file, caplog):
    with FakeServer(bearer_only(), cert=SERVER_CERT) as server:
        src = source(server.url(), token=TOKEN, cacert=ca_file)
        dump = src.fetch()
    assert dump.kind == "kubelet"
    assert dump.location == server.url() == src.location
    assert b"".join(dump.chunks) == METRICS_BODY
    assert dump.captured_at == CAPTURED
    assert dump.node is None
    (seen,) = server.seen
    assert seen.path == "/metrics"
    assert seen.headers["Accept"] == ACCEPT
    assert "gzip" in seen.headers["Accept-Encoding"]
    log = logged_text(caplog.records)
    assert "<redacted>" in log  # the Authorization header was logged, redacted
    assert "200" in log
    assert TOKEN not in repr(src) + repr(src.settings)


def test_token_file_is_read_and_stripped_at_every_fetch(tmp_path, ca_file):
    token_file = tmp_path / "token"
    token_file.write_text(f"  {TOKEN}\n")
    with FakeServer(bearer_only(), cert=SERVER_CERT) as server:
        src = source(server.url(), token_file=token_file, cacert=ca_file)
        src.fetch()
        token_file.write_text("rotated-token\n")
        message = fail(src, SourceAuthError)
    assert server.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert server.seen[1].headers["Authorization"] == "Bearer rotated-token"
    assert f"refused the token from {token_file}" in message


def test_gzip_body_is_decompressed(ca_file):
    with FakeServer(lambda seen: Reply(gzip=True), cert=SERVER_CERT) as server:
        dump = source(server.url(), cacert=ca_file).fetch()
    assert b"".join(dump.chunks) == METRICS_BODY


def test_client_certificate_auth(ca_file, client_files):
    cert, key = client_files

    def handler(seen: Seen) -> Reply:
        if seen.client_cn != "system:node:worker-1":
            return Reply(status=401, body=b"Unauthorized")
        return Reply()

    with FakeServer(handler, cert=SERVER_CERT, client_ca=CA, require_client_cert=True) as server:
        dump = source(server.url(), cacert=ca_file, client_cert=cert, client_key=key).fetch()
    assert b"".join(dump.chunks) == METRICS_BODY
    assert server.seen[0].client_cn == "system:node:worker-1"
    assert "Authorization" not in server.seen[0].headers


def test_client_certificate_and_key_in_one_file(tmp_path, ca_file):
    combined = tmp_path / "client.pem"
    CLIENT_CERT.private_key_and_cert_chain_pem.write_to_path(str(combined))
    with FakeServer(cert=SERVER_CERT, client_ca=CA, require_client_cert=True) as server:
        source(server.url(), cacert=ca_file, client_cert=combined).fetch()
    assert server.seen[0].client_cn == "system:node:worker-1"


def test_required_client_certificate_missing_is_an_auth_error(ca_file):
    with FakeServer(
        cert=SERVER_CERT, client_ca=CA, require_client_cert=True, max_tls12=True
    ) as server:
        message = fail(source(server.url(), cacert=ca_file, token=TOKEN), SourceAuthError)
    assert "requires a client certificate" in message
    assert server.url() in message


def test_required_client_certificate_missing_any_tls_version(ca_file):
    # With TLS 1.3 the client may see the server's alert, or just the connection closing.
    with (
        FakeServer(cert=SERVER_CERT, client_ca=CA, require_client_cert=True) as server,
        pytest.raises(SourceError) as info,
    ):
        source(server.url(), cacert=ca_file, token=TOKEN).fetch()
    assert_secret_free(str(info.value))
    message = str(info.value)
    assert server.url() in message
    # the alert, an EOF in the handshake (hint: client certificate), or a reset
    assert "client certificate" in message or "closed the connection" in message


def test_client_certificate_the_server_does_not_trust_is_refused(ca_file, client_files):
    cert, key = client_files
    with FakeServer(
        cert=SERVER_CERT, client_ca=OTHER_CA, require_client_cert=True, max_tls12=True
    ) as server:
        message = fail(
            source(server.url(), cacert=ca_file, client_cert=cert, client_key=key),
            SourceAuthError,
        )
    assert f"refused the client certificate {cert}" in message
    assert "get nodes/metrics" in message


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_host_port_form(ca_file, host):
    with FakeServer(cert=SERVER_CERT) as server:
        src = source(f"{host}:{server.port}", cacert=ca_file)
        assert src.location == f"https://{host}:{server.port}/metrics"
        src.fetch()


def test_insecure_skip_tls_verify_works_without_a_ca_and_must_warn():
    with FakeServer(cert=SERVER_CERT) as server:
        src = source(server.url(), insecure_skip_tls_verify=True)
        assert src.must_warn_insecure
        dump = src.fetch()  # and no InsecureRequestWarning: warnings are errors in this suite
    assert b"".join(dump.chunks) == METRICS_BODY


def test_secure_source_need_not_warn(ca_file):
    assert not source("node1", cacert=ca_file).must_warn_insecure


def test_in_cluster_service_account_token_and_ca(tmp_path):
    sa_dir = tmp_path / "serviceaccount"
    sa_dir.mkdir()
    (sa_dir / "token").write_text(TOKEN)
    CA.cert_pem.write_to_path(str(sa_dir / "ca.crt"))
    with FakeServer(bearer_only(), cert=SERVER_CERT) as server:
        src = KubeletSource(server.url(), service_account_dir=sa_dir, timeout=3)
        assert src.uses_service_account
        assert src.uses_service_account_ca
        src.fetch()
        (sa_dir / "token").write_text("expired-token")
        message = fail(src, SourceAuthError)
    assert server.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert f"service-account token {sa_dir / 'token'}" in message
    assert "get nodes/metrics" in message


def test_service_account_is_not_used_when_a_token_is_given(tmp_path):
    sa_dir = tmp_path / "serviceaccount"
    sa_dir.mkdir()
    (sa_dir / "token").write_text("sa-token")
    src = KubeletSource("node1", token=TOKEN, service_account_dir=sa_dir)
    assert not src.uses_service_account
    assert not src.uses_service_account_ca  # no ca.crt in this directory


def test_service_account_ca_that_does_not_match_names_it(tmp_path):
    sa_dir = tmp_path / "serviceaccount"
    sa_dir.mkdir()
    (sa_dir / "token").write_text(TOKEN)
    OTHER_CA.cert_pem.write_to_path(str(sa_dir / "ca.crt"))
    with FakeServer(cert=SERVER_CERT) as server:
        message = fail(KubeletSource(server.url(), service_account_dir=sa_dir), SourceTLSError)
    assert f"service-account CA {sa_dir / 'ca.crt'}" in message
    assert "--insecure-skip-tls-verify" in message


# --- target parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "url"),
    [
        ("node1", "https://node1:10250/metrics"),
        ("10.0.0.7", "https://10.0.0.7:10250/metrics"),
        ("node1:10255", "https://node1:10255/metrics"),
        ("[::1]:10250", "https://[::1]:10250/metrics"),
        ("[fd00::7]", "https://[fd00::7]:10250/metrics"),
        ("fd00::7", "https://[fd00::7]:10250/metrics"),
        ("https://node1", "https://node1/metrics"),
        ("https://node1:10250/", "https://node1:10250/metrics"),
        ("http://node1:10255/metrics", "http://node1:10255/metrics"),
        ("HTTPS://node1:10250/metrics/cadvisor", "https://node1:10250/metrics/cadvisor"),
    ],
)
def test_kubelet_url_defaults(target, url):
    assert kubelet_url(target) == url
    assert KubeletSource(target, service_account_dir=None).location == url


@pytest.mark.parametrize(
    "target",
    [
        "",
        "node1:abc",
        "node1:70000",
        "node1:",
        "ftp://node1/metrics",
        "https://user:pw@node1/metrics",
        "[::1",
        "[::1]x",
        "[node1]:10250",
        "node1/metrics",
        "https://:10250/metrics",
        "zz::zz::",
    ],
)
def test_kubelet_url_rejects_bad_targets(target):
    with pytest.raises(UsageError) as info:
        kubelet_url(target)
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"token": TOKEN, "token_file": "/x"},
        {"client_key": "/k"},
        {"cacert": "/ca", "insecure_skip_tls_verify": True},
        {"timeout": 0},
    ],
)
def test_conflicting_options_are_usage_errors(kwargs):
    with pytest.raises(UsageError) as info:
        KubeletSource("node1", service_account_dir=None, **kwargs)
    assert_secret_free(str(info.value))


# --- TLS failures -----------------------------------------------------------------------------


def test_wrong_ca_names_the_ca_file_and_how_to_pass_another(other_ca_file):
    with FakeServer(cert=SERVER_CERT) as server:
        message = fail(source(server.url(), token=TOKEN, cacert=other_ca_file), SourceTLSError)
    assert str(other_ca_file) in message
    assert server.url() in message
    assert "--cacert FILE" in message
    assert "--insecure-skip-tls-verify" in message
    assert not server.seen  # the token was never sent


def test_no_ca_uses_the_system_bundle_and_says_so():
    with FakeServer(cert=SERVER_CERT) as server:
        message = fail(source(server.url(), token=TOKEN), SourceTLSError)
    assert "system CA bundle" in message
    assert "--cacert FILE" in message


def test_hostname_mismatch_is_a_tls_error(ca_file):
    other = CA.issue_cert("kube.internal")
    with FakeServer(cert=other) as server:
        message = fail(source(server.url(), cacert=ca_file), SourceTLSError)
    assert "kube.internal" in message or "mismatch" in message.lower()


def test_plain_http_server_behind_https_url():
    with FakeServer() as server:
        url = server.url().replace("http://", "https://")
        message = fail(source(url, insecure_skip_tls_verify=True), SourceTLSError)
    assert "http://" in message


def test_missing_ca_file_is_named(tmp_path):
    missing = tmp_path / "nope.crt"
    message = fail(source("node1", token=TOKEN, cacert=missing), SourceError)
    assert str(missing) in message


def test_passphrase_protected_key_is_refused_without_prompting(tmp_path, ca_file, client_files):
    cert, _ = client_files
    key = tmp_path / "encrypted.key"
    key.write_text(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0w\n"
        "-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    message = fail(
        source("node1", cacert=ca_file, client_cert=cert, client_key=key), SourceTLSError
    )
    assert str(key) in message
    assert "passphrase" in message


def test_mismatched_client_key_is_a_tls_error(tmp_path, ca_file, client_files):
    cert, _ = client_files
    other_key = tmp_path / "other.key"
    CA.issue_cert("x.example").private_key_pem.write_to_path(str(other_key))
    with (
        FakeServer(cert=SERVER_CERT, client_ca=CA) as server,
        pytest.raises(SourceError) as info,
    ):
        source(server.url(), cacert=ca_file, client_cert=cert, client_key=other_key).fetch()
    message = str(info.value)
    assert_secret_free(message, key_secret(CA.issue_cert("y.example")))
    assert str(cert) in message


# --- HTTP statuses ----------------------------------------------------------------------------


def test_wrong_token_401_says_the_token_was_refused(ca_file):
    with FakeServer(bearer_only("the-right-one"), cert=SERVER_CERT) as server:
        message = fail(source(server.url(), token=TOKEN, cacert=ca_file), SourceAuthError)
    assert "refused the bearer token" in message
    assert "401" in message
    assert "get nodes/metrics" in message
    assert len(server.seen) == 1  # HTTP errors are not retried


def test_401_without_credentials_says_none_were_sent(ca_file):
    with FakeServer(bearer_only(), cert=SERVER_CERT) as server:
        message = fail(source(server.url(), cacert=ca_file), SourceAuthError)
    assert "no credentials were sent" in message
    assert "get nodes/metrics" in message


def test_403_names_the_rbac_permission_and_the_servers_reason(ca_file):
    def handler(seen: Seen) -> Reply:
        return Reply(status=403, body=FORBIDDEN_BODY, content_type="text/plain")

    with FakeServer(handler, cert=SERVER_CERT) as server:
        message = fail(source(server.url(), token=TOKEN, cacert=ca_file), SourceAuthError)
    assert "403" in message
    assert "`get nodes/metrics`" in message
    assert "user=system:serviceaccount:monitoring:prom" in message
    assert "nodes/metrics" in message.splitlines()[1]  # the hint: how to grant it


def test_server_text_that_echoes_the_token_is_scrubbed(ca_file):
    def handler(seen: Seen) -> Reply:
        return Reply(status=403, body=f"denied {seen.headers['Authorization']}".encode())

    with FakeServer(handler, cert=SERVER_CERT) as server:
        message = fail(source(server.url(), token=TOKEN, cacert=ca_file), SourceAuthError)
    assert "<redacted>" in message


@pytest.mark.parametrize(("status", "text"), [(500, "500"), (503, "503"), (404, "404")])
def test_other_statuses_are_source_errors(ca_file, status, text):
    def handler(seen: Seen) -> Reply:
        return Reply(status=status, body=b"boom\n", content_type="text/plain")

    with FakeServer(handler, cert=SERVER_CERT) as server:
        message = fail(source(server.url(), token=TOKEN, cacert=ca_file), SourceError)
    assert text in message
    assert server.url() in message
    assert len(server.seen) == 1


def test_statuses_map_to_the_right_classes(ca_file):
    def answer(status: int):
        return lambda seen: Reply(status=status)

    for status, cls in ((500, SourceError), (404, SourceError), (401, SourceAuthError)):
        with (
            FakeServer(answer(status), cert=SERVER_CERT) as server,
            pytest.raises(SourceError) as info,
        ):
            source(server.url(), token=TOKEN, cacert=ca_file).fetch()
        assert type(info.value) is cls


def test_redirect_is_not_followed(ca_file):
    def handler(seen: Seen) -> Reply:
        return Reply(status=302, body=b"", headers={"Location": "https://sso.example/login?x=1"})

    with FakeServer(handler, cert=SERVER_CERT) as server:
        message = fail(source(server.url(), token=TOKEN, cacert=ca_file), SourceError)
    assert "redirected to https://sso.example/login" in message
    assert "x=1" not in message
    assert len(server.seen) == 1


# --- not metrics ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "found"),
    [
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "text/html", "HTML"),
        (b"\n  <html><body>hi</body></html>", "text/plain", "HTML"),
        (b'{"kind": "Status", "status": "Success"}', "application/json", "JSON"),
        (b'  {"metrics": []}', "text/plain", "JSON"),
        (b'["a"]', None, "JSON"),
        (b"# HELP x\n", "application/json; charset=utf-8", "JSON"),
    ],
)
def test_html_or_json_body_is_not_metrics(ca_file, body, content_type, found):
    def handler(seen: Seen) -> Reply:
        return Reply(body=body, content_type=content_type)

    with FakeServer(handler, cert=SERVER_CERT) as server:
        message = fail(source(server.url(), token=TOKEN, cacert=ca_file), SourceError)
    assert f"answered with {'an HTML page' if found == 'HTML' else found}" in message


# --- connection failures ----------------------------------------------------------------------


def test_stalled_server_times_out_within_bounded_time(ca_file):
    with FakeServer(lambda seen: Reply(stall_seconds=30), cert=SERVER_CERT) as server:
        src = source(server.url(), token=TOKEN, cacert=ca_file, timeout=0.5)
        start = time.monotonic()
        message = fail(src, SourceTimeoutError)
        elapsed = time.monotonic() - start
    assert elapsed < 5
    assert "0.5 s" in message
    assert server.connections == 1  # a read timeout is not retried


def test_refused_connection(ca_file):
    port = closed_port()
    message = fail(source(f"127.0.0.1:{port}", token=TOKEN, cacert=ca_file), SourceConnectionError)
    assert "connection refused" in message
    assert f"https://127.0.0.1:{port}/metrics" in message
    assert "10250" in message  # the hint names the default port


def test_dns_failure():
    message = fail(source("node-7.invalid", token=TOKEN), SourceConnectionError)
    assert "cannot resolve host 'node-7.invalid'" in message
    assert "https://node-7.invalid:10250/metrics" in message


def test_response_cut_off_mid_way_is_a_connection_error(ca_file):
    def handler(seen: Seen) -> Reply:
        return Reply(content_length=len(METRICS_BODY) + 1000)

    with FakeServer(handler, cert=SERVER_CERT) as server:
        message = fail(source(server.url(), token=TOKEN, cacert=ca_file), SourceConnectionError)
    assert "cut the response off" in message
    assert server.connections == 2  # retried once


def test_exactly_one_retry_after_a_dropped_connection(ca_file, caplog):
    with FakeServer(cert=SERVER_CERT, drop_first=1) as server:
        dump = source(server.url(), token=TOKEN, cacert=ca_file).fetch()
    assert b"".join(dump.chunks) == METRICS_BODY
    assert server.connections == 2
    assert "retrying once" in caplog.text


def test_no_second_retry(ca_file):
    with FakeServer(cert=SERVER_CERT, drop_first=5) as server:
        message = fail(source(server.url(), token=TOKEN, cacert=ca_file), SourceConnectionError)
    assert server.connections == 2
    assert "closed the connection" in message


def test_retry_after_a_drop_during_the_tls_handshake(ca_file):
    with FakeServer(cert=SERVER_CERT, drop_first=1, drop_before_handshake=True) as server:
        source(server.url(), token=TOKEN, cacert=ca_file).fetch()
    assert server.connections == 2


def test_tls_errors_are_not_retried(other_ca_file):
    with FakeServer(cert=SERVER_CERT) as server:
        fail(source(server.url(), cacert=other_ca_file), SourceTLSError)
    assert server.connections == 1


def test_oversized_body_is_refused(ca_file):
    from pleg_doctor.sources.http.metrics import fetch_metrics_url
    from pleg_doctor.sources.http.settings import EndpointWording

    with FakeServer(cert=SERVER_CERT) as server, pytest.raises(SourceError) as info:
        fetch_metrics_url(
            server.url(),
            settings=HttpSettings(ca=ca_file),
            wording=EndpointWording(endpoint="kubelet"),
            timeout=3,
            kind="kubelet",
            max_bytes=10,
        )
    assert "more than" in str(info.value)


# --- Date header ------------------------------------------------------------------------------


@pytest.mark.parametrize(("date", "expected"), [(None, None), ("not a date", None)])
def test_missing_or_bad_date_gives_no_capture_time(ca_file, date, expected):
    with FakeServer(lambda seen: Reply(date=date), cert=SERVER_CERT) as server:
        dump = source(server.url(), cacert=ca_file).fetch()
    assert dump.captured_at is expected


def test_parse_http_date():
    assert parse_http_date(FIXED_DATE) == CAPTURED
    assert parse_http_date("Fri, 27 Nov 2026 11:00:00 +0100") == CAPTURED
    assert parse_http_date("Fri, 27 Nov 2026 10:00:00 -0000") == CAPTURED
    parsed = parse_http_date(FIXED_DATE)
    assert parsed is not None
    assert parsed.tzinfo is dt.timezone.utc
    for bad in (None, "", "yesterday", "Fri, 99 Nov 2026 10:00:00 GMT"):
        assert parse_http_date(bad) is None


# --- secrets ----------------------------------------------------------------------------------


def test_redact_headers():
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "proxy-authorization": "Basic x",
        "Cookie": "a=b",
        "Set-Cookie": "c=d",
        "Accept": "text/plain",
    }
    redacted = redact_headers(headers)
    assert redacted["Accept"] == "text/plain"
    assert {redacted[k] for k in headers if k != "Accept"} == {"<redacted>"}


def test_http_client_debuglevel_cannot_print_the_authorization_header(ca_file, monkeypatch, capsys):
    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
    with FakeServer(bearer_only(), cert=SERVER_CERT) as server:
        source(server.url(), token=TOKEN, cacert=ca_file).fetch()
    out, err = capsys.readouterr()
    assert "Authorization" not in out + err
    assert TOKEN not in out + err


def test_token_with_a_newline_is_refused_without_quoting_it(ca_file):
    message = fail(source("node1", token=f"{TOKEN}\nX-Evil: 1", cacert=ca_file), SourceAuthError)
    assert "control characters" in message


def test_empty_token_file_is_an_auth_error(tmp_path, ca_file):
    token_file = tmp_path / "token"
    token_file.write_text("\n")
    message = fail(source("node1", token_file=token_file, cacert=ca_file), SourceAuthError)
    assert f"token file {token_file} is empty" in message


def test_missing_token_file_is_named(tmp_path, ca_file):
    token_file = tmp_path / "missing-token"
    message = fail(source("node1", token_file=token_file, cacert=ca_file), SourceAuthError)
    assert str(token_file) in message


def test_failure_logs_at_debug_hold_no_secret(ca_file, caplog, client_files):
    cert, key = client_files
    with FakeServer(bearer_only("x"), cert=SERVER_CERT, client_ca=CA) as server:
        fail(
            source(server.url(), token=TOKEN, cacert=ca_file, client_cert=cert, client_key=key),
            SourceAuthError,
        )
    text = logged_text(caplog.records)
    assert "urllib3" in text  # urllib3's own debug lines were captured too
    assert_secret_free(text)
    assert key.read_text().splitlines()[1] not in text
