"""One overall deadline per request, whatever the server does: trickled headers, a trickled
`Content-Length` body, a chunked body that never ends, a TLS handshake that trickles. Each run
ends near `--timeout` with exit 3 and one line naming the deadline and how to raise it.

The servers would keep a request alive for `hostile.FOREVER` (600 s); the bound asserted is
generous (a fraction of that), so it proves the deadline without timing the machine.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import pytest

from pleg_doctor.errors import SourceTimeoutError
from pleg_doctor.sources.http.deadline import Deadline

from . import hostile
from .fakeserver import CA, SERVER_CERT, FakeServer
from .helpers import run_cli

TIMEOUT = 1.0
BOUND = 20.0
"""Seconds no run may reach: 600 s of trickle would otherwise keep it going."""


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    SERVER_CERT.configure_cert(context)
    return context


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, float]:
    start = time.monotonic()
    code, out, err = run_cli(args, capsys)
    return code, out, err, time.monotonic() - start


def _assert_deadline_line(code: int, out: str, err: str, elapsed: float) -> None:
    assert code == 3
    assert elapsed < BOUND
    assert f"within the {TIMEOUT:g} s deadline" in err
    assert "raise --timeout" in err
    assert "Traceback" not in err and "internal error" not in err


def _assert_blocked_line(code: int, err: str, elapsed: float) -> None:
    """A kubelet (or one through the API server) that trickles: `/metrics` ends at its deadline,
    then `/healthz` is asked once (it trickles too) and ends at its own."""
    assert code == 3
    assert elapsed < BOUND
    assert "/metrics did not answer in" in err
    assert f"/healthz did not answer either within {TIMEOUT:g} s" in err
    assert "Traceback" not in err and "internal error" not in err


@pytest.mark.parametrize(
    "script",
    [hostile.trickling_headers, hostile.trickling_body, hostile.endless_chunked_body()],
    ids=["trickling-headers", "trickling-body", "endless-chunked-body"],
)
def test_a_trickling_kubelet_ends_at_the_deadline(capsys, script):
    # diagnose waits for /metrics up to --metrics-timeout (130 s, to outwait a CRI timeout):
    # that is the deadline of the scrape itself, shortened here like --timeout.
    deadline = f"{TIMEOUT:g}s"
    with hostile.ScriptedServer(script) as server:
        code, out, err, elapsed = _run(
            [
                "diagnose",
                "--kubelet",
                server.url(),
                "--timeout",
                deadline,
                "--metrics-timeout",
                deadline,
            ],
            capsys,
        )
        assert server.connections <= 2  # /metrics, and /healthz at most once
    if "/metrics did not answer in" in err:  # /healthz was asked meanwhile, and trickled too
        _assert_blocked_line(code, err, elapsed)
    else:
        _assert_deadline_line(code, out, err, elapsed)
        if server.connections == 2:  # /healthz, asked after the deadline, trickled too
            assert f"hint: /healthz did not answer either within {TIMEOUT:g} s" in err


def test_a_trickling_tls_handshake_ends_at_the_deadline(capsys, tmp_path):
    ca = tmp_path / "ca.pem"
    CA.cert_pem.write_to_path(str(ca))
    with FakeServer(cert=SERVER_CERT) as server, hostile.TrickleProxy(server.port) as proxy:
        code, out, err, elapsed = _run(
            [
                "check",
                "--kubelet",
                f"https://127.0.0.1:{proxy.port}/metrics",
                "--cacert",
                str(ca),
                "--timeout",
                f"{TIMEOUT:g}s",
            ],
            capsys,
        )
    _assert_deadline_line(code, out, err, elapsed)
    assert out.startswith("PLEG UNKNOWN - kubelet https://127.0.0.1:")
    assert "deadline" in out and "\n" not in out.rstrip("\n")


def test_check_with_a_trickling_kubelet_still_writes_up_0(capsys, tmp_path):
    with hostile.ScriptedServer(hostile.trickling_body) as server:
        code, out, err, elapsed = _run(
            [
                "check",
                "--kubelet",
                server.url(),
                "--timeout",
                f"{TIMEOUT:g}s",
                "--textfile",
                str(tmp_path),
            ],
            capsys,
        )
    _assert_deadline_line(code, out, err, elapsed)
    assert "pleg_doctor_up{node=" in (tmp_path / "pleg_doctor.prom").read_text()
    assert "} 0.0" in (tmp_path / "pleg_doctor.prom").read_text()


def test_a_trickling_prometheus_ends_at_the_deadline(capsys):
    with hostile.ScriptedServer(hostile.trickling_headers) as server:
        code, out, err, elapsed = _run(
            ["fleet", "--prometheus", server.url("/"), "--timeout", f"{TIMEOUT:g}s"], capsys
        )
    _assert_deadline_line(code, out, err, elapsed)


def test_a_trickling_api_server_ends_at_the_deadline(capsys, tmp_path):
    with hostile.ScriptedServer(hostile.trickling_body) as server:
        kubeconfig = _kubeconfig(tmp_path, f"http://127.0.0.1:{server.port}")
        code, _, err, elapsed = _run(
            [
                "diagnose",
                "--node",
                "worker-1",
                "--kubeconfig",
                str(kubeconfig),
                "--timeout",
                f"{TIMEOUT:g}s",
            ],
            capsys,
        )
    _assert_blocked_line(code, err, elapsed)


def test_a_trickling_pushgateway_ends_at_the_deadline(capsys, tmp_path):
    from .conftest import FIXTURES

    dump = FIXTURES / "datadog-v1.21.2.prom"
    with hostile.ScriptedServer(hostile.trickling_headers) as server:
        code, out, err, elapsed = _run(
            [
                "check",
                str(dump),
                "--pushgateway",
                f"http://127.0.0.1:{server.port}",
                "--timeout",
                f"{TIMEOUT:g}s",
            ],
            capsys,
        )
    _assert_deadline_line(code, out, err, elapsed)
    assert "verdict was OK" in out


def test_a_fast_endless_body_stops_at_the_body_bound(capsys, bounds):
    bounds(PLEG_DOCTOR_MAX_BODY_BYTES=str(1 << 20))
    with hostile.ScriptedServer(hostile.endless_chunked_body(interval=0)) as server:
        code, _, err, elapsed = _run(
            ["diagnose", "--kubelet", server.url(), "--timeout", "60s"], capsys
        )
    assert code == 3
    assert elapsed < BOUND
    assert "sent more than 1 MiB" in err and "PLEG_DOCTOR_MAX_BODY_BYTES" in err


def test_a_gzip_bomb_body_stops_at_the_body_bound(capsys, bounds):
    bounds(PLEG_DOCTOR_MAX_BODY_BYTES=str(4 << 20))
    with hostile.ScriptedServer(hostile.gzip_bomb_body(64 << 20)) as server:
        code, _, err, _ = _run(["diagnose", "--kubelet", server.url()], capsys)
    assert code == 3
    assert "sent more than 4 MiB" in err


def test_the_deadline_cuts_a_blocked_read():
    import socket

    left, right = socket.socketpair()
    with left, right, Deadline(0.2) as deadline:
        deadline.watch(left)
        start = time.monotonic()
        assert left.recv(10) == b""  # the shutdown ends the blocked read
        assert deadline.expired
    assert time.monotonic() - start < BOUND


def test_a_timeout_is_a_source_timeout_error():
    from pleg_doctor.sources.kubelet import KubeletSource

    with hostile.ScriptedServer(hostile.trickling_headers) as server:
        source = KubeletSource(server.url(), timeout=TIMEOUT)
        with pytest.raises(SourceTimeoutError) as info:
            source.fetch()
    assert info.value.timeout_seconds == TIMEOUT


def _kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: k, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: u, user: {token: t0k3n-abc}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    return path
