"""TLS files: the CA bundle to verify with, the client certificate and key, checked before use
and given a path in memory (or private temp files) when they come as PEM bytes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import requests.utils

from pleg_doctor.errors import SourceError, SourceTLSError
from pleg_doctor.sources.http.settings import HttpSettings, PemSource


def check_files(settings: HttpSettings) -> None:
    """Fail early, naming the file, when a CA / cert / key file is missing or unusable.

    Without this, `requests` raises a bare `OSError`, and OpenSSL would prompt on the terminal for
    the passphrase of an encrypted key, hanging a cron job.
    """
    for label, value in (
        ("CA file", settings.ca),
        ("client certificate", settings.client_cert),
        ("client key", settings.client_key),
    ):
        if isinstance(value, Path) and not value.is_file():
            raise SourceError(f"{label} {value} not found")
    key = settings.client_key if settings.client_key is not None else settings.client_cert
    if key is None:
        return
    name = f" {key}" if isinstance(key, Path) else ""
    try:
        data = key.read_bytes() if isinstance(key, Path) else key
    except OSError as exc:
        raise SourceError(
            f"cannot read client key{name}: {exc.strerror or type(exc).__name__}"
        ) from exc
    if b"ENCRYPTED" in data:
        raise SourceTLSError(
            f"client key{name} is protected by a passphrase, which pleg-doctor cannot ask for",
            hint="write an unencrypted copy: openssl pkey -in KEY -out KEY.plain (keep it 0600)",
        )


def default_ca_bundle() -> tuple[str, str]:
    """The CA bundle used when none is given, and how to name it.

    `trust_env` is off (it would also pull credentials from `~/.netrc`), so the variables requests
    honours for the bundle are read here explicitly.
    """
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = os.environ.get(name)
        if value:
            return value, f"the system CA bundle ({value}, from {name})"
    path = requests.utils.DEFAULT_CA_BUNDLE_PATH
    return path, f"the system CA bundle ({path})"


def ca_label(settings: HttpSettings) -> str:
    """How messages name the CA the server is verified with."""
    if settings.ca_label is not None:
        return settings.ca_label
    if isinstance(settings.ca, Path):
        return f"CA file {settings.ca}"
    if settings.ca is not None:
        return "the given CA data"
    return default_ca_bundle()[1]


@contextlib.contextmanager
def tls_files(
    settings: HttpSettings,
) -> Iterator[tuple[bool | str, str | tuple[str, str] | None]]:
    """Yield `requests`' `verify` and `cert` arguments, giving PEM bytes a path to load from.

    `ssl` loads keys and CA bundles from paths only. On Linux the bytes go to anonymous memory
    files (`os.memfd_create`) opened as `/proc/self/fd/N`: a kubeconfig's `client-key-data`
    never touches a disk and nothing is left behind, whatever kills the process. Elsewhere they
    go to 0600 files in a 0700 temporary directory, removed when the block ends, at exit and on
    SIGTERM (`_TempFiles`); SIGKILL alone can leave them.
    """
    with contextlib.ExitStack() as stack:
        memory = _memory_files_work()
        tmpdir: str | None = None

        def as_path(value: PemSource, name: str) -> str:
            nonlocal tmpdir
            if isinstance(value, Path):
                return str(value)
            if memory:
                fd = os.memfd_create(f"pleg-doctor-{name}", os.MFD_CLOEXEC)
                stack.callback(os.close, fd)
                _write_all(fd, value)
                return f"/proc/self/fd/{fd}"
            if tmpdir is None:
                tmpdir = stack.enter_context(_TEMP_FILES.directory())
            path = os.path.join(tmpdir, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(value)
            return path

        verify: bool | str
        if settings.insecure_skip_tls_verify:
            verify = False
        elif settings.ca is not None:
            verify = as_path(settings.ca, "ca.crt")
        else:
            verify = default_ca_bundle()[0]
        cert: str | tuple[str, str] | None = None
        if settings.client_cert is not None:
            cert_path = as_path(settings.client_cert, "client.crt")
            if settings.client_key is not None:
                cert = (cert_path, as_path(settings.client_key, "client.key"))
            else:
                cert = cert_path
        yield verify, cert


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _memory_files_work() -> bool:
    """True where `os.memfd_create` exists and `/proc/self/fd` shows its files (Linux)."""
    return hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")


class _TempFiles:
    """Private temporary directories removed when done, at exit, and on SIGTERM.

    The SIGTERM handler (installed once, from the main thread) removes what is registered, then
    hands the signal on: to the previous handler, or to the default action (the process ends
    with the signal, as it would have).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[str] = set()
        self._installed = False

    @contextlib.contextmanager
    def directory(self) -> Iterator[str]:
        """A new 0700 directory, registered until the block ends."""
        self._install()
        path = tempfile.mkdtemp(prefix="pleg-doctor-")
        with self._lock:
            self._live.add(path)
        try:
            yield path
        finally:
            with self._lock:
                self._live.discard(path)
            shutil.rmtree(path, ignore_errors=True)

    def remove_all(self) -> None:
        """Remove every registered directory now."""
        with self._lock:
            live, self._live = set(self._live), set()
        for path in live:
            shutil.rmtree(path, ignore_errors=True)

    def _install(self) -> None:
        with self._lock:
            if self._installed:
                return
            self._installed = True
        atexit.register(self.remove_all)
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers are set from the main thread only; atexit still runs
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            self.remove_all()
            if callable(previous):
                previous(signum, frame)
                return
            if previous == signal.SIG_IGN:
                return
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_sigterm)


_TEMP_FILES = _TempFiles()
