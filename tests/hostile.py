"""Hostile servers on 127.0.0.1: they answer, but never in a way a per-read timeout catches.

* `ScriptedServer(script)`: a raw TCP server (TLS optional) that runs `script(conn, stop)` on
  every connection: send headers byte by byte, a `Content-Length` body that trickles, a chunked
  body that never ends, a gzip bomb, an error body that echoes the request's headers.
* `TrickleProxy(port)`: relays to a real server, passing what the server says one byte at a
  time: in front of a TLS server, the handshake itself trickles.

Each trickle sends a byte well within any read timeout (every `BYTE_INTERVAL` s) and would go on
for `FOREVER` seconds, so only an overall deadline ends a request in time. Used by the tests and
by `scripts/hostile.py` (the figures of `docs/limits.md`).
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import socket
import ssl
import threading
from collections.abc import Callable, Iterator

BYTE_INTERVAL = 0.2
"""Seconds between two trickled bytes: far below any read timeout."""

FOREVER = 600.0
"""How long a trickle would go on without a deadline."""

Script = Callable[[socket.socket, threading.Event], None]


class ScriptedServer:
    """Runs `script(conn, stop)` for every connection, in its own thread; a context manager."""

    def __init__(self, script: Script, *, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.stop = threading.Event()
        self.connections = 0
        self.received = b""
        """The first request's bytes (up to its headers' end)."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def url(self, path: str = "/metrics") -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> ScriptedServer:
        self._accepting.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._accepting.join(timeout=5)
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)  # a thread blocked reading it returns now
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError, ssl.SSLError), contextlib.closing(conn):
            conn.settimeout(FOREVER)
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            request = read_request(conn)
            if not self.received:
                self.received = request
            self.script(conn, self.stop)


def read_request(conn: socket.socket) -> bytes:
    """Read up to the end of the request's headers (and a small body after them)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            break
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            want = int(value.strip()) - len(rest)
            while want > 0:
                piece = conn.recv(min(want, 65536))
                if not piece:
                    break
                want -= len(piece)
    return data


def trickle(conn: socket.socket, data: bytes, stop: threading.Event) -> None:
    """Send `data` one byte every `BYTE_INTERVAL` seconds until done or stopped."""
    for byte in data:
        if stop.wait(BYTE_INTERVAL):
            return
        conn.sendall(bytes([byte]))


# --- scripts ---------------------------------------------------------------------------------


def trickling_headers(conn: socket.socket, stop: threading.Event) -> None:
    """A status line, then header bytes one at a time, forever."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    header = b"X-Slow: " + b"a" * int(FOREVER / BYTE_INTERVAL)
    trickle(conn, header, stop)


def trickling_body(conn: socket.socket, stop: threading.Event) -> None:
    """Headers at once with a large `Content-Length`, then the body one byte at a time."""
    body = b"# HELP x y\n" * 100_000
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    trickle(conn, body, stop)


def endless_chunked_body(*, interval: float = 0.05) -> Script:
    """A chunked body of metric lines that never ends, a chunk every `interval` seconds."""

    def script(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        line = b'container_cpu_usage_seconds_total{id="/"} 1\n' * 200
        chunk = b"%x\r\n%s\r\n" % (len(line), line)
        for _ in itertools.count():
            if stop.wait(interval):
                return
            conn.sendall(chunk)

    return script


def gzip_bomb_body(uncompressed_bytes: int) -> Script:
    """A `Content-Encoding: gzip` body of newlines that expands to `uncompressed_bytes`."""
    body = gzip.compress(b"kubelet_running_pods 1\n" + b"\n" * uncompressed_bytes, 9)

    def script(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        conn.sendall(body)

    return script


class EchoServer(ScriptedServer):
    """Answers every request with `status` and a body quoting the request back, like a
    misconfigured proxy or a Pushgateway's error does, with a terminal escape sequence."""

    def __init__(self, status: int = 400, *, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(self._answer, tls=tls)
        self.status = status

    def _answer(self, conn: socket.socket, stop: threading.Event) -> None:
        lines = self.received.split(b"\r\n")
        credentials = [line for line in lines if line.lower().startswith(b"authorization:")]
        quoted = b" ".join([lines[0], *credentials])
        body = b"\x1b[31mbad request: " + quoted + b"\n"
        conn.sendall(
            b"HTTP/1.1 %d Nope\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (self.status, len(body), body)
        )


# --- the trickling proxy ------------------------------------------------------------------------


class TrickleProxy(ScriptedServer):
    """Relays to 127.0.0.1:`upstream`; the client's bytes pass at once, the server's one at a
    time (in front of a TLS server, the handshake trickles)."""

    def __init__(self, upstream: int) -> None:
        super().__init__(_unused)
        self._upstream = upstream

    def _serve(self, conn: socket.socket) -> None:
        stop = self.stop
        with contextlib.suppress(OSError), contextlib.closing(conn):
            upstream = socket.create_connection(("127.0.0.1", self._upstream))
            with contextlib.closing(upstream):
                forward = threading.Thread(target=_pump, args=(conn, upstream, stop), daemon=True)
                forward.start()
                for byte in _bytes_of(upstream, stop):
                    if stop.wait(BYTE_INTERVAL):
                        return
                    conn.sendall(byte)


def _unused(conn: socket.socket, stop: threading.Event) -> None:
    raise AssertionError("a proxy relays; it runs no script")  # pragma: no cover


def _pump(source: socket.socket, target: socket.socket, stop: threading.Event) -> None:
    with contextlib.suppress(OSError):
        source.settimeout(0.1)
        while not stop.is_set():
            try:
                data = source.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            target.sendall(data)


def _bytes_of(sock: socket.socket, stop: threading.Event) -> Iterator[bytes]:
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        if not data:
            return
        for index in range(len(data)):
            yield data[index : index + 1]
