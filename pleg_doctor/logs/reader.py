"""Where kubelet logs come from: files (`.gz` by magic bytes), standard input, `journalctl`.

Everything streams in 1 MiB chunks: a 1 GB journal export never sits in memory. Gzip is
detected by its magic bytes, not the name (`-` can carry gzip too; rotated logs are often
`kubelet.log.1.gz` or no suffix at all), and decompressed in bounded pieces. A truncated `.gz`
(a copy cut off) still yields what it holds, with a note, because half a log is evidence too.

`journalctl -u kubelet --since -2h -o short-precise --no-pager` runs under a deadline: a journal
on a sick node can be slow, and a cron job must not hang. Its stderr goes to a temporary file,
so a chatty journalctl cannot fill a pipe and stall.

A large plain file (`PARALLEL_MIN_BYTES` and up) is scanned by up to `jobs` processes, each
taking `RANGE_BYTES` byte ranges cut at line starts, in order, with a bounded number of ranges
in flight; the records they find are rare, so what comes back is small and is parsed in order
here. The results are those of one process, except that a hard-wrapped record cut exactly at a
range boundary is not glued (pasted logs, the only ones that wrap, are small).

Errors are `SourceError`s with one line naming the file or the command; they are raised while
iterating, before the CLI prints anything.
"""

from __future__ import annotations

import collections
import errno
import itertools
import os
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, BinaryIO

from pleg_doctor.core.limits import GZIP_FLOOR_BYTES
from pleg_doctor.core.streams import GZIP_MAGIC, GzipBomb, GzipProblem, decompressed
from pleg_doctor.errors import SourceError
from pleg_doctor.logs import scanner
from pleg_doctor.logs.scanner import Probe, ScanStats

if TYPE_CHECKING:
    import concurrent.futures

CHUNK_BYTES = 1 << 20

DEFAULT_JOURNAL_TIMEOUT_SECONDS = 60.0

PARALLEL_MIN_BYTES = 64 << 20
"""Smaller files are scanned in this process: starting workers costs more than it saves."""

RANGE_BYTES = 32 << 20
"""One worker's share at a time."""

MAX_JOBS = 4
"""Default cap on reader processes: the node being diagnosed may be short of CPU itself."""


def default_jobs() -> int:
    """Reader processes by default: the CPUs, at most `MAX_JOBS`."""
    return max(1, min(MAX_JOBS, os.cpu_count() or 1))


class LogReader:
    """Chunks of one or more logs, one after the other, with notes on what was odd.

    Files are read in the order given (give rotated files oldest first); a newline is put
    between them so the last line of one never runs into the first of the next. `notes` fills
    while `chunks()` is consumed.
    """

    def __init__(
        self, paths: Sequence[str], *, stdin: BinaryIO | None = None, jobs: int | None = None
    ) -> None:
        self.paths = tuple(paths)
        self._stdin = stdin
        self.jobs = default_jobs() if jobs is None else max(1, jobs)
        self.notes: list[str] = []

    def scan(self, stats: ScanStats) -> Iterator[bytes | Probe]:
        """Candidate records and time probes of every file, in order (see `scanner.scan`)."""
        for path in self.paths:
            if path != "-" and self.jobs > 1 and _is_large_plain_file(path):
                with _open(path) as handle:
                    refuse_binary(handle.read(BINARY_SNIFF_BYTES), path)
                yield from _scan_parallel(path, stats, self.jobs)
            else:
                yield from scanner.scan(self._chunks_of(path), stats)

    def check(self) -> None:
        """Fail early, naming the file, when one cannot be opened (before any output)."""
        for path in self.paths:
            if path != "-":
                _open(path).close()

    def chunks(self) -> Iterator[bytes]:
        """All logs' bytes, decompressed, in chunks."""
        for path in self.paths:
            last = b"\n"
            for chunk in self._chunks_of(path):
                last = chunk
                yield chunk
            if not last.endswith(b"\n"):
                yield b"\n"

    def _chunks_of(self, path: str) -> Iterator[bytes]:
        if path == "-":
            stream = self._stdin if self._stdin is not None else sys.stdin.buffer
            yield from self._decompressed(_read(stream, "standard input"), "standard input")
        else:
            with _open(path) as handle:
                yield from self._decompressed(_read(handle, path), path)

    def _decompressed(self, chunks: Iterator[bytes], name: str) -> Iterator[bytes]:
        """`streams.decompressed`; damaged gzip is read up to the damage and noted, not fatal.

        A gzip bomb is fatal: past the ratio bound the rest of the stream is no log.
        """
        from pleg_doctor.sources.limits import current

        limits = current()
        try:
            first = True
            for chunk in decompressed(
                chunks, max_ratio=limits.gzip_ratio, floor_bytes=GZIP_FLOOR_BYTES
            ):
                if first:
                    refuse_binary(chunk, name)
                    first = False
                yield chunk
        except GzipBomb as exc:
            raise limits.gzip_error(name, exc.compressed_bytes, exc.decompressed_bytes) from None
        except GzipProblem as exc:
            if exc.kind == "truncated":
                self.notes.append(f"{name}: the gzip stream is cut off; read what it holds")
            else:
                self.notes.append(f"{name}: the gzip data is damaged; read up to the damage")


BINARY_SNIFF_BYTES = 64 * 1024
"""How much of a log's start decides whether it is text."""

BINARY_SHARE = 0.1
"""Share of the sniffed bytes that may be NUL, control or not UTF-8 in a text log."""


def refuse_binary(head: bytes, name: str) -> None:
    """A `SourceError` when `head` (a log's first bytes, decompressed) is not text.

    `/dev/urandom`, a systemd `.journal` file or a core dump would otherwise be read to their
    end, which for a device never comes. Real logs have a few stray bytes at most (a NUL run
    after a crash, an ANSI colour code, a Latin-1 word); a tenth of the sample is binary.
    """
    sample = head[:BINARY_SNIFF_BYTES]
    if not sample:
        return
    text = sample.decode("utf-8", "replace")
    odd = text.count("\ufffd") + sum(1 for c in text if c < " " and c not in "\t\n\r\f\x1b")
    if odd > BINARY_SHARE * len(text):
        hint = (
            "a systemd journal file: read it with journalctl --file FILE -u kubelet"
            if (sample.startswith(b"LPKSHHRH"))
            else None
        )
        raise SourceError(f"{name}: binary data, not a log", hint=hint)


def _is_large_plain_file(path: str) -> bool:
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size < PARALLEL_MIN_BYTES:
            return False
        with open(path, "rb") as handle:
            return handle.read(2) != GZIP_MAGIC
    except OSError:
        return False  # the sequential path reports it


def _scan_parallel(path: str, stats: ScanStats, jobs: int) -> Iterator[bytes | Probe]:
    """Scan `path` in byte ranges on `jobs` processes; yield what they found, in order."""
    # NOTE: imported here, not at the top: they cost ~15 ms, and only large files need them.
    import concurrent.futures
    import concurrent.futures.process
    import multiprocessing

    size = os.path.getsize(path)
    ranges = iter(
        [(start, min(start + RANGE_BYTES, size)) for start in range(0, size, RANGE_BYTES)]
    )
    # fork is cheap and needs no re-import, but is only safe while this process has one thread.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    if threading.active_count() > 1:
        method = "spawn"
    try:
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=jobs, mp_context=multiprocessing.get_context(method)
        )
    except (OSError, ValueError, NotImplementedError):  # no /dev/shm, no semaphores
        yield from scanner.scan(_read_path(path), stats)
        return
    with pool:
        pending: collections.deque[concurrent.futures.Future[tuple[list[bytes | Probe], ScanStats]]]
        pending = collections.deque(
            pool.submit(scan_range, path, start, end)
            for start, end in itertools.islice(ranges, 2 * jobs)
        )
        while pending:
            try:
                items, part = pending.popleft().result()
            except concurrent.futures.process.BrokenProcessPool as exc:
                raise SourceError(f"{path}: a reader process died (out of memory?)") from exc
            following = next(ranges, None)
            if following is not None:
                pending.append(pool.submit(scan_range, path, *following))
            stats.add(part)
            yield from items


def _read_path(path: str) -> Iterator[bytes]:
    with _open(path) as handle:
        yield from _read(handle, path)


def scan_range(path: str, start: int, end: int) -> tuple[list[bytes | Probe], ScanStats]:
    """Scan the lines of `path` that start in `[start, end)` (a worker process's share).

    A line that starts before `start` belongs to the previous range, which reads it to its end;
    the last line that starts before `end` is read to its end here.
    """
    stats = ScanStats()

    def chunks() -> Iterator[bytes]:
        with _open(path) as handle:
            pos = start
            if start > 0:
                handle.seek(start - 1)
                if handle.read(1) != b"\n":
                    pos += len(handle.readline(scanner.MAX_LINE_BYTES))
            handle.seek(pos)
            last = b"\n"
            while pos < end:
                data = handle.read(min(CHUNK_BYTES, end - pos))
                if not data:
                    return
                pos += len(data)
                last = data
                yield data
            if not last.endswith(b"\n"):
                yield handle.readline(scanner.MAX_LINE_BYTES)

    return list(scanner.scan(chunks(), stats)), stats


def _open(path: str) -> BinaryIO:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the caller's `with`
    except FileNotFoundError as exc:
        raise SourceError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise SourceError(f"{path}: is a directory, not a log file") from exc
    except PermissionError as exc:
        raise SourceError(f"{path}: permission denied", hint="kubelet logs need root") from exc
    except OSError as exc:
        raise SourceError(f"{path}: cannot open ({os.strerror(exc.errno or 0)})") from exc
    return handle


def _read(stream: BinaryIO, name: str) -> Iterator[bytes]:
    while True:
        try:
            chunk = stream.read(CHUNK_BYTES)
        except OSError as exc:
            if exc.errno == errno.EISDIR:
                raise SourceError(f"{name}: is a directory, not a log file") from exc
            raise SourceError(f"{name}: read failed ({os.strerror(exc.errno or 0)})") from exc
        if not chunk:
            return
        yield chunk


class JournalReader:
    """`journalctl -u UNIT --since SINCE -o short-precise --no-pager`, streamed, with a deadline.

    `journalctl` is the command (a path for tests). `timeout` bounds the whole run: past it the
    process is killed and `chunks()` raises. `notes` says when journalctl warned that it cannot
    see every message (not root, not in the systemd-journal group).
    """

    def __init__(
        self,
        *,
        unit: str = "kubelet",
        since: str = "-2h",
        timeout: float = DEFAULT_JOURNAL_TIMEOUT_SECONDS,
        journalctl: str = "journalctl",
    ) -> None:
        self.argv = (
            journalctl,
            "-u",
            unit,
            "--since",
            since,
            "-o",
            "short-precise",
            "--no-pager",
        )
        self.timeout = timeout
        self.notes: list[str] = []

    @property
    def location(self) -> str:
        """The command line, for messages."""
        return " ".join(self.argv)

    def scan(self, stats: ScanStats) -> Iterator[bytes | Probe]:
        """Candidate records and time probes of the journal (see `scanner.scan`)."""
        return scanner.scan(self.chunks(), stats)

    def chunks(self) -> Iterator[bytes]:
        """The journal's bytes as journalctl prints them."""
        name = os.path.basename(self.argv[0])
        with tempfile.TemporaryFile() as errors:
            try:
                proc = subprocess.Popen(  # the command is ours; the unit and --since are args
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=errors,
                )
            except FileNotFoundError as exc:
                raise SourceError(
                    f"{name} not found: --journal works on a node with systemd",
                    hint="save the log (journalctl -u kubelet > kubelet.log) and give the file",
                ) from exc
            except OSError as exc:
                raise SourceError(f"cannot run {name}: {exc.strerror or exc}") from exc
            expired = threading.Event()

            def kill() -> None:
                expired.set()
                proc.kill()

            timer = threading.Timer(self.timeout, kill)
            timer.daemon = True
            timer.start()
            assert proc.stdout is not None
            try:
                while True:
                    chunk = proc.stdout.read(CHUNK_BYTES)
                    if not chunk:
                        break
                    yield chunk
                code = proc.wait()
            finally:
                timer.cancel()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()
            errors.seek(0)
            stderr = errors.read(64 * 1024).decode("utf-8", "replace")
        if expired.is_set():
            raise SourceError(
                f"{self.location} did not finish within {self.timeout:g} s",
                hint="narrow --since, or raise --journal-timeout",
            )
        first = next((ln.strip() for ln in stderr.splitlines() if ln.strip()), "")
        if code != 0:
            detail = f": {first[:200]}" if first else ""
            raise SourceError(f"{name} failed (exit {code}){detail}")
        if "not seeing messages" in stderr or "insufficient permissions" in stderr:
            self.notes.append(
                f"{name} could not read every journal file (run as root or in the "
                "systemd-journal group): the log may be incomplete"
            )
