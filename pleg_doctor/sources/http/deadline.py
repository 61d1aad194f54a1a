"""One overall deadline per request: connect, TLS handshake, headers and body, all of it.

requests' and urllib3's timeouts are per socket operation: a server that trickles its headers or
its body one byte every few seconds never lets a single read time out, and keeps a cron check
running for hours. So each request gets a `Deadline`: a timer that, when it fires, shuts down
every socket the request opened. The blocked read returns at once (end of stream or an error),
and the caller, seeing `expired`, reports a timeout rather than whatever the cut looked like.

The sockets are found through a context variable: the request primitive sets it (`armed`) while
it connects, and our urllib3 connection classes (`transport`) hand each new socket to
`current()`. A duplicate of the socket's descriptor is watched, not the socket object itself,
because `ssl` detaches the plain socket when it wraps it for TLS (so a slow handshake is cut
too), and because a duplicate cannot be closed and reused under us by urllib3.

Not bounded here: name resolution (`getaddrinfo` cannot be interrupted; the system resolver's
own timeouts apply, `docs/limits.md`).
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
import time
from collections.abc import Iterator

_CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "pleg_doctor_deadline", default=None
)


class Deadline:
    """`seconds` from now, every socket opened under `armed()` is shut down; then `expired`.

    Start it with `start()` (or as a context manager) and always `close()` it: that cancels the
    timer and closes the watched duplicates.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends_at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._expired = False
        self._closed = False
        self._timer = threading.Timer(max(0.0, seconds), self._expire)
        self._timer.daemon = True
        self._timer.name = "pleg-doctor-deadline"

    def start(self) -> Deadline:
        """Start the timer; returns self."""
        self._timer.start()
        return self

    def __enter__(self) -> Deadline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def expired(self) -> bool:
        """True once the deadline has passed (the watched sockets are shut down)."""
        return self._expired or time.monotonic() >= self._ends_at

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._ends_at - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down at the deadline (at once if it has passed)."""
        try:
            duplicate = sock.dup()
        except OSError:
            return
        with self._lock:
            if not self._closed:
                self._watched.append(duplicate)
                if not self._expired:
                    return
        # Expired or closed already: cut it now (expired) or just let the duplicate go.
        if self._expired:
            _shut(duplicate)
        if self._closed:
            duplicate.close()

    @contextlib.contextmanager
    def armed(self) -> Iterator[None]:
        """While inside, sockets opened by our connection classes are watched by this deadline."""
        token = _CURRENT.set(self)
        try:
            yield
        finally:
            _CURRENT.reset(token)

    def close(self) -> None:
        """Cancel the timer and release the watched duplicates (idempotent)."""
        self._timer.cancel()
        with self._lock:
            self._closed = True
            watched, self._watched = self._watched, []
        for duplicate in watched:
            duplicate.close()

    def _expire(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._expired = True
            watched = list(self._watched)
        for duplicate in watched:
            _shut(duplicate)


def current() -> Deadline | None:
    """The deadline armed in this thread, if any (see `Deadline.armed`)."""
    return _CURRENT.get()


def _shut(sock: socket.socket) -> None:
    # shutdown() acts on the connection, not the descriptor: the request's own socket (plain or
    # TLS) sees the end of the stream at once.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
