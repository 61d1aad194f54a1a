"""A real HTTP(S) server on 127.0.0.1 for source tests: a fake kubelet or a fake API server.

Stdlib `ThreadingHTTPServer` in a thread, on a free port, TLS from `trustme` certificates. The TLS
handshake runs in the per-connection thread (not in the accept loop), so one stalled or dropped
client cannot block the others. Each test decides the answer with a `handler(Seen) -> Reply`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import json
import logging
import re
import select
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme

METRICS_BODY = b"""\
# HELP kubelet_pleg_relist_duration_seconds [ALPHA] Duration in seconds for relisting pods in PLEG.
# TYPE kubelet_pleg_relist_duration_seconds histogram
kubelet_pleg_relist_duration_seconds_bucket{le="0.005"} 0
kubelet_pleg_relist_duration_seconds_bucket{le="0.01"} 3
kubelet_pleg_relist_duration_seconds_bucket{le="+Inf"} 5
kubelet_pleg_relist_duration_seconds_sum 0.041
kubelet_pleg_relist_duration_seconds_count 5
# HELP kubelet_pleg_last_seen_seconds [ALPHA] Timestamp in seconds when PLEG was last seen active.
# TYPE kubelet_pleg_last_seen_seconds gauge
kubelet_pleg_last_seen_seconds 1.7964576e+09
# HELP kubelet_running_pods [ALPHA] Number of pods that have a running pod sandbox
# TYPE kubelet_running_pods gauge
kubelet_running_pods 12
"""

FIXED_DATE = "Fri, 27 Nov 2026 10:00:00 GMT"
"""The `Date` every reply carries unless told otherwise (the kubelet's clock in the tests)."""

METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclasses.dataclass(frozen=True)
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    client_cn: str | None


@dataclasses.dataclass
class Reply:
    """What to answer."""

    status: int = 200
    body: bytes = METRICS_BODY
    content_type: str | None = METRICS_TYPE
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    date: str | None = FIXED_DATE
    content_length: int | None = None
    """Announced length; None = the body's. Larger than the body = a response cut off."""
    stall_seconds: float = 0.0
    """Wait this long (or until the server stops, or the client hangs up) before answering."""
    gzip: bool = False


Handler = Callable[[Seen], Reply]


def metrics_handler(seen: Seen) -> Reply:
    """Answer every request with the metrics body."""
    return Reply()


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_response(self, code: int, message: str | None = None) -> None:
        # Like the base class, but the Date header is ours (fixed, or absent).
        self.send_response_only(code, message)
        self.send_header("Server", "fake-kubelet")
        date = self._reply.date if hasattr(self, "_reply") else FIXED_DATE
        if date is not None:
            self.send_header("Date", date)

    def _stall(self, seconds: float) -> bool:
        """Wait `seconds` like a blocked handler; True if the server stops or the client hangs
        up meanwhile. The wait sits in `select` on the connection, so a client that gives up is
        seen at once and no longer counts as connected (`FakeServer.max_active`)."""
        owner = self.server.owner
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if owner.stopping.is_set():
                return True
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.2))
            if readable:
                try:
                    if not self.connection.recv(1):
                        return True
                except (OSError, ValueError):
                    return True
        return owner.stopping.is_set()

    def do_GET(self) -> None:
        owner = self.server.owner
        cn: str | None = None
        if isinstance(self.connection, ssl.SSLSocket):
            peer = self.connection.getpeercert()
            subject: Any = peer.get("subject", ()) if peer else ()
            for rdn in subject:
                for key, value in rdn:
                    if key == "commonName":
                        cn = value
        seen = Seen("GET", self.path, dict(self.headers.items()), cn)
        with owner.lock:
            owner.seen.append(seen)
            owner.active += 1
            owner.max_active = max(owner.max_active, owner.active)
        try:
            self._answer(owner, seen)
        finally:
            with owner.lock:
                owner.active -= 1

    def _answer(self, owner: FakeServer, seen: Seen) -> None:
        reply = owner.handler(seen)
        self._reply = reply
        if reply.stall_seconds and self._stall(reply.stall_seconds):
            return
        body = reply.body
        if reply.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
        self.send_response(reply.status)
        if reply.content_type is not None:
            self.send_header("Content-Type", reply.content_type)
        if reply.gzip:
            self.send_header("Content-Encoding", "gzip")
        length = reply.content_length if reply.content_length is not None else len(body)
        self.send_header("Content-Length", str(length))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: FakeServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        owner = self.owner
        with owner.lock:
            owner.connections += 1
            number = owner.connections
        drop = number <= owner.drop_first
        if drop and owner.drop_before_handshake:
            return  # shutdown_request() closes the plain socket: EOF in the client's handshake
        conn = request
        if owner.context is not None:
            try:
                conn = owner.context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # the client refused our certificate, or we refused theirs
        try:
            if drop:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(65536)  # read the request, then hang up without answering
                return
            super().finish_request(conn, client_address)
        finally:
            if conn is not request:
                with contextlib.suppress(OSError):
                    conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-way are part of the tests


class FakeServer:
    """A threaded HTTP(S) server on 127.0.0.1; use as a context manager.

    `cert` makes it HTTPS with that leaf certificate; `client_ca` asks for client certificates
    signed by it (`require_client_cert` makes one mandatory). `drop_first` connections are
    closed without an answer (after the TLS handshake and the request, or before the handshake
    with `drop_before_handshake`). `max_tls12` caps the protocol at TLS 1.2. `seen` and
    `connections` record what arrived, `max_active` the most requests answered at once.
    """

    def __init__(
        self,
        handler: Handler = metrics_handler,
        *,
        cert: trustme.LeafCert | None = None,
        client_ca: trustme.CA | None = None,
        require_client_cert: bool = False,
        drop_first: int = 0,
        drop_before_handshake: bool = False,
        max_tls12: bool = False,
    ) -> None:
        self.handler = handler
        self.drop_first = drop_first
        self.drop_before_handshake = drop_before_handshake
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.seen: list[Seen] = []
        self.connections = 0
        self.active = 0
        """Requests being answered now: from the request read to the answer sent, or to the
        client hanging up on a stalled answer. Every request has its own connection (the server
        closes it after one answer), so this is the connections a client holds open, without
        the server's own teardown after each answer."""
        self.max_active = 0
        """The most requests answered at once so far."""
        self.context: ssl.SSLContext | None = None
        if cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(context)
            if max_tls12:
                # In TLS 1.2 the server checks the client certificate inside the handshake, so the
                # client reliably gets the alert (in 1.3 it may see a bare EOF instead).
                context.maximum_version = ssl.TLSVersion.TLSv1_2
            if client_ca is not None:
                client_ca.configure_trust(context)
                context.verify_mode = (
                    ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
                )
            self.context = context
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def scheme(self) -> str:
        return "https" if self.context is not None else "http"

    def url(self, path: str = "/metrics", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- shared certificates and secrets -----------------------------------------------------------

CA = trustme.CA()
"""Signs the servers' and the client's certificates."""

OTHER_CA = trustme.CA()
"""A CA that signed nothing here: verifying with it must fail."""

SERVER_CERT = CA.issue_cert("127.0.0.1", "localhost")
CLIENT_CERT = CA.issue_cert("worker-1.example", common_name="system:node:worker-1")

TOKEN = "tok-4f1d2c9e8b7a.Zm9vYmFyYmF6cXV4"
"""A bearer token; it must never show up in a message, a log record or on stdout/stderr."""

PASSWORD = "pa55-W0rd-7c1e9d"


def key_secret(leaf: trustme.LeafCert) -> str:
    """A line of the key's PEM body: enough to tell if the key leaked anywhere."""
    lines = leaf.private_key_pem.bytes().decode().splitlines()
    return max(lines[1:-1], key=len)


SECRETS = (TOKEN, PASSWORD, key_secret(CLIENT_CERT))


def assert_secret_free(text: str, *extra: str) -> None:
    """Fail if any known secret (or one of `extra`) appears in `text`."""
    for secret in (*SECRETS, *extra):
        assert secret not in text, f"a secret leaked: ...{secret[:4]}..."


def capture_debug_logs(monkeypatch: Any, caplog: Any) -> None:
    """Capture DEBUG records of pleg_doctor and urllib3, whatever earlier tests did to logging.

    `console.setup_logging()` (run by CLI tests) gives the `pleg_doctor` logger its own handler,
    level WARNING and `propagate = False`, which would hide records from `caplog`; undo that for
    the duration of one test (monkeypatch restores it afterwards).
    """
    for name in ("pleg_doctor", "urllib3"):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "propagate", True)
        monkeypatch.setattr(logger, "handlers", [])
        caplog.set_level(logging.DEBUG, logger=name)
    caplog.set_level(logging.DEBUG)


def logged_text(records: list[Any]) -> str:
    """All log records, formatted with their arguments and exception info."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(r) for r in records)


# --- a fake API server and exec credential plugins ---------------------------------------------


def status_json(code: int, reason: str, message: str) -> bytes:
    """A Kubernetes `Status` object, as the API server sends with errors."""
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
    ).encode()


def apiserver_handler(
    *,
    token: str | None = None,
    client_cn: str | None = None,
    basic: str | None = None,
    nodes: tuple[str, ...] = ("worker-1",),
    forbidden: tuple[str, ...] = (),
    unreachable: tuple[str, ...] = (),
    prefix: str = "",
) -> Handler:
    """Answer `/api/v1/nodes/NAME/proxy/metrics` like an API server, checking credentials.

    A request is authenticated by the bearer `token`, a client certificate with CN `client_cn`,
    or an `Authorization: Basic` value equal to `basic`. Nodes in `forbidden` get a 403, nodes
    not in `nodes` a 404, nodes in `unreachable` the 503 the proxy sends when the kubelet is down.
    """
    pattern = re.compile(re.escape(prefix) + r"/api/v1/nodes/([^/]+)/proxy/metrics")

    def handler(seen: Seen) -> Reply:
        auth = seen.headers.get("Authorization", "")
        ok = (
            (token is not None and auth == f"Bearer {token}")
            or (client_cn is not None and seen.client_cn == client_cn)
            or (basic is not None and auth == f"Basic {basic}")
        )
        json_type = "application/json"
        if not ok:
            return Reply(401, status_json(401, "Unauthorized", "Unauthorized"), json_type)
        match = pattern.fullmatch(seen.path)
        if match is None:
            return Reply(
                404, status_json(404, "NotFound", "the server could not find it"), json_type
            )
        node = match.group(1)
        if node in forbidden:
            message = (
                f'nodes "{node}" is forbidden: User "alice" cannot get resource "nodes/proxy" '
                'in API group "" at the cluster scope'
            )
            return Reply(403, status_json(403, "Forbidden", message), json_type)
        if node in unreachable:
            message = "error trying to reach service: dial tcp 10.0.0.7:10250: i/o timeout"
            return Reply(503, status_json(503, "ServiceUnavailable", message), json_type)
        if node not in nodes:
            return Reply(404, status_json(404, "NotFound", f'nodes "{node}" not found'), json_type)
        return Reply()

    return handler


def write_exec_plugin(
    directory: Path,
    *,
    api_version: str = "client.authentication.k8s.io/v1beta1",
    token: str | None = None,
    cert_pem: str | None = None,
    key_pem: str | None = None,
    expiration: str | None = None,
    exit_code: int = 0,
    stderr: str = "",
    stdout: str | None = None,
    sleep_seconds: float = 0,
    name: str = "fake-auth-plugin",
) -> tuple[Path, Path]:
    """Write an executable Python credential plugin; return (its path, the record file).

    Each run appends one JSON line to the record file: its arguments, `KUBERNETES_EXEC_INFO`
    (parsed) and the value of `PLUGIN_SETTING` (to check `env` from the kubeconfig).
    """
    record = directory / f"{name}.record"
    status: dict[str, Any] = {}
    if token is not None:
        status["token"] = token
    if cert_pem is not None:
        status["clientCertificateData"] = cert_pem
    if key_pem is not None:
        status["clientKeyData"] = key_pem
    if expiration is not None:
        status["expirationTimestamp"] = expiration
    credential = {"apiVersion": api_version, "kind": "ExecCredential", "status": status}
    output = stdout if stdout is not None else json.dumps(credential)
    script = directory / name
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys, time\n"
        f"with open({str(record)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'args': sys.argv[1:],\n"
        "        'info': json.loads(os.environ['KUBERNETES_EXEC_INFO']),\n"
        "        'setting': os.environ.get('PLUGIN_SETTING')}) + '\\n')\n"
        f"time.sleep({sleep_seconds!r})\n"
        f"sys.stderr.write({stderr!r})\n"
        f"sys.stdout.write({output!r})\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(0o755)
    return script, record


def plugin_runs(record: Path) -> list[dict[str, Any]]:
    """What the plugin recorded, one dict per run."""
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines()]


PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)


def secret_guard(monkeypatch: Any, caplog: Any, capsys: Any) -> Iterator[None]:
    """Body of an autouse fixture: no proxy or KUBECONFIG from the environment, DEBUG logs
    captured, and after the test no known secret in any log record, stdout or stderr."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    capture_debug_logs(monkeypatch, caplog)
    yield
    assert_secret_free(logged_text(caplog.get_records("call")))
    out, err = capsys.readouterr()
    assert_secret_free(out + err)
