"""The request primitive of `sources/http.py`: `http_client()` and `HttpClient.get()`.

The kubelet, API-server and fleet tests cover it through their sources; these cover what only
the primitive does: query parameters, statuses left to the caller, extra (secret) headers, a
client shared by threads, the body hooks.
"""

from __future__ import annotations

import concurrent.futures
import json
import tempfile
import traceback
import urllib.parse

import pytest

from pleg_doctor.errors import SourceAuthError, SourceError, UsageError
from pleg_doctor.sources.http.client import RawResponse, http_client
from pleg_doctor.sources.http.redaction import quote_outside, redact_headers
from pleg_doctor.sources.http.settings import EndpointWording, HttpSettings
from tests.fakeserver import (
    CA,
    CLIENT_CERT,
    SERVER_CERT,
    TOKEN,
    FakeServer,
    Reply,
    Seen,
    assert_secret_free,
    capture_debug_logs,
    logged_text,
)

HEADER_SECRET = "org-7d3f0c1b9e2a"
WORDING = EndpointWording(endpoint="Thing", auth_hint="pass a token")


@pytest.fixture(autouse=True)
def _secret_check(monkeypatch, caplog, capsys):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    capture_debug_logs(monkeypatch, caplog)
    yield
    assert_secret_free(logged_text(caplog.get_records("call")), HEADER_SECRET)
    out, err = capsys.readouterr()
    assert_secret_free(out + err, HEADER_SECRET)


def fail(error: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(error.value)
    assert_secret_free(message, HEADER_SECRET)
    assert_secret_free("".join(traceback.format_exception(error.value)), HEADER_SECRET)
    return message


def json_reply(status: int, doc: object) -> Reply:
    return Reply(status, json.dumps(doc).encode(), "application/json")


def test_params_are_sent_and_logged_and_the_answer_is_raw(caplog):
    with (
        FakeServer(lambda seen: json_reply(200, {"ok": True})) as server,
        http_client(HttpSettings(), wording=WORDING, timeout=3) as client,
    ):
        response = client.get(
            server.url("/api/q"), params={"query": 'up{job="x"}', "n": "1"}, accept="text/x"
        )
    assert isinstance(response, RawResponse)
    assert (response.status, response.reason) == (200, "OK")
    assert json.loads(response.body) == {"ok": True}
    assert response.headers["content-type"] == "application/json"  # case-insensitive
    (seen,) = server.seen
    parts = urllib.parse.urlsplit(seen.path)
    assert parts.path == "/api/q"
    assert dict(urllib.parse.parse_qsl(parts.query)) == {"query": 'up{job="x"}', "n": "1"}
    assert seen.headers["Accept"] == "text/x"
    assert client.answered == 1
    assert 'up{job="x"}' in caplog.text


def test_error_statuses_decide_what_is_raised_and_what_is_returned():
    def handler(seen: Seen) -> Reply:
        code = int(urllib.parse.urlsplit(seen.path).path.strip("/"))
        return json_reply(code, {"status": "error", "message": f"it is {code}"})

    with (
        FakeServer(handler) as server,
        http_client(HttpSettings(), wording=WORDING, timeout=3) as client,
    ):
        with pytest.raises(SourceError) as info:
            client.get(server.url("/500"))  # default: everything but 2xx
        assert fail(info).startswith(f"Thing {server.url('/500')} answered 500")
        assert "server said: it is 500" in str(info.value)

        def only_auth(code: int) -> bool:
            return code in (401, 403)

        answer = client.get(server.url("/500"), error_statuses=only_auth)
        assert answer.status == 500 and b"it is 500" in answer.body
        with pytest.raises(SourceAuthError) as info:
            client.get(server.url("/401"), error_statuses=only_auth)
        assert "requires authentication (401" in fail(info)
        assert info.value.hint == "pass a token"
    assert client.answered == len(server.seen) == 3  # statuses are never retried


def test_extra_headers_are_sent_secret_and_may_be_the_credentials(caplog):
    seen_bodies: list[bytes] = []

    def handler(seen: Seen) -> Reply:
        body = f"bad org {seen.headers.get('X-Org')}".encode()
        seen_bodies.append(body)
        return Reply(403 if "X-Org" in seen.headers else 401, body, "text/plain")

    settings = HttpSettings(
        headers=(("X-Org", HEADER_SECRET),), credential_label="the --header values given"
    )
    with FakeServer(handler) as server, http_client(settings, wording=WORDING, timeout=3) as client:
        with pytest.raises(SourceAuthError) as info:
            client.get(server.url("/"))
        message = fail(info)
    assert server.seen[0].headers["X-Org"] == HEADER_SECRET
    assert HEADER_SECRET.encode() in seen_bodies[0]  # the server quoted it ...
    assert "server said: bad org <redacted>" in message  # ... the message does not
    assert "auth: the --header values given" in caplog.text
    assert quote_outside(f"x {HEADER_SECRET} y", client.secrets) == "x <redacted> y"

    # An Authorization header among them counts as credentials that were refused.
    auth = HttpSettings(headers=(("Authorization", f"Bearer {TOKEN}"),))
    with (
        FakeServer(lambda seen: Reply(401, b"no", "text/plain")) as server,
        http_client(auth, wording=WORDING, timeout=3) as client,
        pytest.raises(SourceAuthError) as info,
    ):
        client.get(server.url("/"))
    assert "refused the extra headers given (401" in fail(info)
    assert server.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_redact_headers_also_hides_named_headers():
    headers = {"Accept": "a", "authorization": "b", "X-Org": "c"}
    assert redact_headers(headers) == {"Accept": "a", "authorization": "<redacted>", "X-Org": "c"}
    assert redact_headers(headers, also=["x-org"])["X-Org"] == "<redacted>"


def test_one_client_serves_threads_with_one_token_read_and_tls_files_removed(tmp_path, monkeypatch):
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    client_key = CLIENT_CERT.private_key_pem.bytes()
    settings = HttpSettings(
        token_file=token_file,
        ca=CA.cert_pem.bytes(),
        client_cert=CLIENT_CERT.cert_chain_pems[0].bytes(),
        client_key=client_key,
    )

    def handler(seen: Seen) -> Reply:
        ok = seen.headers.get("Authorization") == f"Bearer {TOKEN}" and seen.client_cn
        return Reply(200 if ok else 401)

    with FakeServer(handler, cert=SERVER_CERT, client_ca=CA) as server:
        with http_client(settings, wording=WORDING, timeout=3) as client:
            token_file.write_text("rotated")  # read once, when the client was made
            assert not any(private_tmp.iterdir())  # PEM bytes live in memory files, not on disk
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(lambda _: client.get(server.url()), range(8)))
        assert {a.status for a in answers} == {200}
        assert client.answered == 8
        assert not any(private_tmp.iterdir())
        assert len(server.seen) == 8


def test_without_memory_files_pem_bytes_go_to_private_files_removed_after(tmp_path, monkeypatch):
    from pleg_doctor.sources.http import tls

    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    monkeypatch.setattr(tls, "_memory_files_work", lambda: False)
    settings = HttpSettings(
        ca=CA.cert_pem.bytes(),
        client_cert=CLIENT_CERT.cert_chain_pems[0].bytes(),
        client_key=CLIENT_CERT.private_key_pem.bytes(),
    )
    with FakeServer(cert=SERVER_CERT, client_ca=CA) as server:
        with http_client(settings, wording=WORDING, timeout=3) as client:
            (tls_dir,) = private_tmp.iterdir()
            assert tls_dir.stat().st_mode & 0o777 == 0o700
            assert {p.name: p.stat().st_mode & 0o777 for p in tls_dir.iterdir()} == {
                "ca.crt": 0o600,
                "client.crt": 0o600,
                "client.key": 0o600,
            }
            assert client.get(server.url()).status == 200
        assert not any(private_tmp.iterdir())
    assert server.seen[0].client_cn == "system:node:worker-1"


def test_temp_key_files_are_removed_on_sigterm(tmp_path):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys, tempfile, time\n"
        f"tempfile.tempdir = {str(tmp_path)!r}\n"
        "from pleg_doctor.sources.http import tls\n"
        "from pleg_doctor.sources.http.settings import HttpSettings\n"
        "tls._memory_files_work = lambda: False\n"
        "with tls.tls_files(HttpSettings(client_cert=b'c', client_key=b'k')) as (_, cert):\n"
        "    print(cert[1], flush=True)\n"
        "    time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        key = Path(child.stdout.readline().strip())
        assert key.name == "client.key"
        assert key.exists()
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == -signal.SIGTERM  # still ends by the signal
    assert not key.exists() and not key.parent.exists()


def test_body_hooks_and_limits():
    firsts: list[tuple[bytes, str]] = []

    def record(first: bytes, content_type: str) -> None:
        firsts.append((first, content_type))

    def refuse(first: bytes, content_type: str) -> None:
        raise SourceError("not for me")

    def handler(seen: Seen) -> Reply:
        body = b"" if seen.path == "/empty" else b"x" * 100
        return Reply(body=body, content_type="text/plain")

    with (
        FakeServer(handler) as server,
        http_client(HttpSettings(), wording=WORDING, timeout=3) as client,
    ):
        assert client.get(server.url("/"), check_body_start=record).body == b"x" * 100
        assert client.get(server.url("/empty"), check_body_start=record).chunks == ()
        with pytest.raises(SourceError, match="not for me"):
            client.get(server.url("/"), check_body_start=refuse)
        with pytest.raises(SourceError) as info:
            client.get(server.url("/"), max_bytes=10, too_large_hint="narrow it")
    assert firsts == [(b"x" * 100, "text/plain"), (b"", "text/plain")]
    assert "sent more than 10 bytes" in str(info.value) and info.value.hint == "narrow it"


def test_credentials_in_the_url_are_refused():
    with (
        http_client(HttpSettings(), wording=WORDING, timeout=3) as client,
        pytest.raises(UsageError) as info,
    ):
        client.get(f"http://user:{TOKEN}@127.0.0.1:1/")
    assert "credentials in the URL" in fail(info)
    assert client.answered == 0


def test_unusable_files_fail_when_the_client_is_made(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(SourceError) as info:
        http_client(HttpSettings(ca=missing), wording=WORDING, timeout=3).__enter__()
    assert fail(info) == f"CA file {missing} not found"
