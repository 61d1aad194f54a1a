"""Saved dumps: files, `.gz` files, standard input, and the bundled demo dump.

Files are streamed in 1 MiB chunks (a dump with cAdvisor series reaches 100 MB); gzip is
detected by its magic bytes downstream (`exposition.iter_lines`), so `-` can carry gzip too and
a `.gz` name is not required.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator

from pleg_doctor.errors import SourceError
from pleg_doctor.sources.base import FetchedDump, SourceKind

CHUNK_BYTES = 1 << 20
DEMO_RESOURCE = "demo-kubelet-v1.21.2.prom.gz"


class FileSource:
    """A saved dump on disk, or `-` for standard input."""

    kind: SourceKind = "file"
    must_warn_insecure = False
    """A file is not fetched over TLS."""

    def __init__(self, path: str) -> None:
        self.path = path

    @property
    def location(self) -> str:
        """The path as given (`-` for stdin)."""
        return self.path

    def fetch(self) -> FetchedDump:
        """Open the dump; errors (missing, directory, unreadable) are reported here, not later."""
        if self.path == "-":
            return FetchedDump(kind=self.kind, location="-", chunks=_read_stream(sys.stdin.buffer))
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed by _read_file's `with`
        except FileNotFoundError as exc:
            raise SourceError(f"{self.path}: no such file") from exc
        except IsADirectoryError as exc:
            raise SourceError(f"{self.path}: is a directory, not a metrics dump") from exc
        except PermissionError as exc:
            raise SourceError(f"{self.path}: permission denied") from exc
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot open ({os.strerror(exc.errno or 0)})") from exc
        if os.path.isdir(self.path):  # pragma: no cover - some platforms open directories
            handle.close()
            raise SourceError(f"{self.path}: is a directory, not a metrics dump")
        return FetchedDump(kind=self.kind, location=self.path, chunks=_read_file(handle, self.path))


def _read_file(handle: object, name: str) -> Iterator[bytes]:
    with handle:  # type: ignore[attr-defined]
        while True:
            try:
                chunk: bytes = handle.read(CHUNK_BYTES)  # type: ignore[attr-defined]
            except OSError as exc:
                if exc.errno == errno.EISDIR:
                    raise SourceError(f"{name}: is a directory, not a metrics dump") from exc
                raise SourceError(f"{name}: read failed ({os.strerror(exc.errno or 0)})") from exc
            if not chunk:
                return
            yield chunk


def _read_stream(stream: object) -> Iterator[bytes]:
    while True:
        chunk: bytes = stream.read(CHUNK_BYTES)  # type: ignore[attr-defined]
        if not chunk:
            return
        yield chunk


class DemoSource:
    """The bundled real kubelet dump (package data), so `--demo` needs no cluster.

    It is DataDog's v1.21.2 EKS kubelet capture (BSD-3-Clause), see `pleg_doctor/data/SOURCES.md`.
    """

    kind: SourceKind = "demo"
    must_warn_insecure = False
    """The bundled dump is read from the package."""

    @property
    def location(self) -> str:
        """Names the bundled file."""
        return f"bundled {DEMO_RESOURCE} (real kubelet v1.21.2, EKS, dockershim)"

    def fetch(self) -> FetchedDump:
        """Read the bundled dump."""
        from importlib import resources  # only --demo needs it

        data = resources.files("pleg_doctor").joinpath("data", DEMO_RESOURCE).read_bytes()
        return FetchedDump(kind=self.kind, location=self.location, chunks=(data,))
