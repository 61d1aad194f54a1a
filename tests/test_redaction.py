"""Redaction at the edge: whatever a server, a plugin or crictl sends back is quoted through one
function that drops secrets and escapes control characters."""

from __future__ import annotations

import base64

import pytest

from pleg_doctor.sources.http.redaction import quote_outside

from . import hostile
from .conftest import FIXTURES
from .helpers import run_cli

TOKEN = "pushtok-9c1e7f3a5b"
PASSWORD = "gateway-pa55-4e2d"
USER = "pusher"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXZhbHVl"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        (f"Authorization: Bearer {TOKEN}", TOKEN),
        (f"got header authorization={TOKEN} from you", TOKEN),
        (f"Basic {base64.b64encode(f'{USER}:{PASSWORD}'.encode()).decode()}", PASSWORD),
        (f"creds {base64.b64encode(b'admin:s3cret!').decode()} were wrong", "YWRtaW46"),
        (f"token {JWT} expired", "eyJhbGci"),
        (f"password: {PASSWORD}", PASSWORD),
        (f'{{"token": "{TOKEN}"}}', TOKEN),
        (f"key follows {PEM}", "MIIEpAIBAAKCAQEA"),
        (f"x {PASSWORD} y", PASSWORD),
    ],
)
def test_secrets_are_redacted(text, gone):
    quoted = quote_outside(text, [PASSWORD], one_line=False)
    assert gone not in quoted
    assert "<redacted" in quoted


def test_control_characters_are_escaped_and_the_line_is_one():
    quoted = quote_outside("\x1b[2J\x1b]0;pwned\x07 first\r\nsecond\n")
    assert quoted == "\\x1b[2J\\x1b]0;pwned\\x07 first"
    assert quote_outside("a\rb") == "a"  # a carriage return ends the line: nothing overwrites it
    assert quote_outside("a\u2028b\x9bc\rd", one_line=False) == "a\\u2028b\\x9bc\\x0dd"


def test_ordinary_text_is_left_alone():
    text = 'node worker-3 not found: nodes "worker-3" is forbidden (base64encodedword ok)'
    assert quote_outside(text) == text


def test_long_text_is_cut():
    assert quote_outside("x" * 500, limit=20) == "x" * 19 + "…"


@pytest.mark.parametrize("auth", ["bearer", "basic"])
def test_a_pushgateway_echoing_the_credentials_is_quoted_without_them(auth, tmp_path, capsys):
    secret_file = tmp_path / "secret"
    secret_file.write_text((TOKEN if auth == "bearer" else PASSWORD) + "\n")
    options = (
        ["--pushgateway-token-file", str(secret_file)]
        if auth == "bearer"
        else ["--pushgateway-user", USER, "--pushgateway-password-file", str(secret_file)]
    )
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    with hostile.EchoServer(400) as gateway:
        code, out, err = run_cli(
            [
                "check",
                str(FIXTURES / "datadog-v1.21.2.prom"),
                "--pushgateway",
                f"http://127.0.0.1:{gateway.port}",
                *options,
                "--debug",
            ],
            capsys,
            secrets=[TOKEN, PASSWORD, basic],
        )
    assert (TOKEN.encode() if auth == "bearer" else basic.encode()) in gateway.received
    assert code == 3
    assert "failed: HTTP 400 Nope: \\x1b[31mbad request: PUT /metrics/job/" in out
    assert "Authorization: <redacted>" in out
    assert "\x1b" not in out + err


def test_a_kubelet_echoing_the_token_in_its_error(tmp_path, capsys):
    token = tmp_path / "token"
    token.write_text(JWT)
    with hostile.EchoServer(401) as kubelet:
        code, out, err = run_cli(
            ["diagnose", "--kubelet", kubelet.url(), "--token-file", str(token), "--debug"],
            capsys,
            secrets=[JWT],
        )
    assert JWT.encode() in kubelet.received
    assert code == 3
    assert "server said: \\x1b[31mbad request: GET /metrics" in err
    assert "\x1b" not in out + err


def test_debug_logs_quote_response_headers_without_secrets(tmp_path, capsys):
    token = tmp_path / "token"
    token.write_text(JWT)
    body = (FIXTURES / "datadog-v1.21.2.prom").read_bytes()

    def echo_in_headers(conn, stop):
        conn.sendall(
            b"HTTP/1.1 200 OK \x1b[2J" + JWT.encode() + b"\r\n"
            b"X-Echo: Authorization: Bearer " + JWT.encode() + b"\r\n"
            b"Content-Type: text/plain; version=0.0.4\r\nContent-Length: %d\r\n\r\n"
            % len(body)
            + body
        )

    with hostile.ScriptedServer(echo_in_headers) as kubelet:
        code, out, err = run_cli(
            ["diagnose", "--kubelet", kubelet.url(), "--token-file", str(token), "--debug"],
            capsys,
            secrets=[JWT],
        )
    assert code == 0
    assert "PLEG OK" in out
    assert "response headers" in err and "X-Echo" in err
    assert "\x1b" not in err
