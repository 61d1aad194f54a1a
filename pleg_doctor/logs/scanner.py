"""The streaming scanner: a kubelet log read in big byte chunks, only the lines that matter kept.

A kubelet log is mostly noise for PLEG purposes: volume reconcilers, probes, status syncs. A node
that went NotReady for an hour can easily have a 1 GB journal, so the scanner never looks at
every line in Python. It works on large byte chunks and lets C code do the per-line work:

* `bytes.count(b"\\n")` counts the lines read;
* one regex (`.go:N] `, the end of every klog header) and one substring (`{"ts":`, the start of
  every `--logging-format=json` record) count the kubelet lines; every other line is skipped
  (other units in a syslog file, foreign JSON such as the AWS VPC CNI's, garbage);
* a handful of `bytes.find` passes for rare anchor substrings (`ANCHORS`) find the candidate
  lines, and only those are decoded and parsed (`parse.parse_record`).

Separate from `parse.py` (the formats of one record) because it never decodes a record: it
works on bytes, on lines and chunk boundaries, hard-wrapped continuations and the time probes
at each piece's edges, and its cost is per gigabyte, not per record.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Generator, Iterable, Iterator

from pleg_doctor.logs.parse import LocalTime, local_time

ANCHORS: tuple[bytes, ...] = (
    b"PLEG",  # health lines, GenericPLEG/Evented PLEG errors, SyncLoop (PLEG) links
    b"Ready",  # NodeNotReady / NodeReady events, "Node became not ready: {Type:Ready …"
    b"rpc error:",  # every gRPC failure of a CRI call (DeadlineExceeded, Unavailable, code = 4)
    b"deadline exceeded",  # without "rpc error" (dockershim, the docker client)
    b"runtime is down",  # "skipping pod synchronization - [container runtime is down]"
    b"vent channel is full",  # discarded PLEG events (generic and Evented PLEG)
    b"perationTimeout",  # pre-CRI dockertools timeouts (1.4)
    b"main sync loop",  # "Starting kubelet main sync loop": a kubelet (re)start
    b'node="',  # structured klog naming the node ("Recording event message for node"): whose log
    b'"node":"',  # the same in --logging-format=json
)
"""Substrings at least one of which is in every line the analysis reads.

Each costs one C-speed pass over the data, so there are few, and long ones where possible; a
false positive costs one line parsed in Python (for example `Ready` in a status sync line). The
tests assert that every catalogued message contains one (tests/test_logs_parse.py).
"""

CHUNK_BYTES = 4 << 20
"""How much is scanned at a time: big enough that per-chunk Python overhead vanishes."""

CARRY_LINES = 4
"""Complete lines kept back for the next chunk, so a record can be glued to its continuation."""

MAX_CONTINUATION_LINES = 3
"""A hard-wrapped record is glued to at most this many following lines."""

MAX_LINE_BYTES = 16 << 20
"""A "line" longer than this is garbage (a binary file): counted as one skipped line, not kept."""

_HEADER_TAIL = re.compile(rb"\.go:\d+\] ")
"""The end of a klog header; counts kubelet lines chunk-wide (1.5 GB/s, no per-line Python)."""

_JSON_START = b'{"ts":'
"""The start of every klog JSON record (foreign JSON such as the VPC CNI's starts otherwise)."""

_KLOG_HEADER_BYTES = re.compile(
    rb"[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))? +\d+ [^ \]\n]+:\d+\] "
)
_SYSLOG_PREFIX = re.compile(rb"^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d[T ]\d\d:)")


@dataclasses.dataclass
class ScanStats:
    """What the scanner counted while streaming (mutable: filled in as chunks pass)."""

    lines_read: int = 0
    kubelet_lines: int = 0
    """Lines with a klog header or a kubelet JSON record (counted chunk-wide, never parsed)."""
    continued: int = 0
    """Hard-wrapped continuation lines glued to the record before them."""
    oversized: int = 0
    """Lines longer than `MAX_LINE_BYTES`, dropped."""
    bytes_read: int = 0

    def add(self, other: ScanStats) -> None:
        """Add the counts of a part read elsewhere (a parallel reader's byte range)."""
        self.lines_read += other.lines_read
        self.kubelet_lines += other.kubelet_lines
        self.continued += other.continued
        self.oversized += other.oversized
        self.bytes_read += other.bytes_read

    @property
    def lines_skipped(self) -> int:
        """Lines that are not kubelet records: other units, foreign JSON, garbage, and
        continuation lines of records the analysis did not need (they are not glued)."""
        return max(0, self.lines_read - self.kubelet_lines - self.continued)


@dataclasses.dataclass(frozen=True, slots=True)
class Probe:
    """The time of a kubelet line at a chunk boundary: keeps `first_time`/`last_time` exact
    without parsing the lines in between."""

    local: LocalTime | None
    epoch: float | None


def scan(chunks: Iterable[bytes], stats: ScanStats) -> Iterator[bytes | Probe]:
    """Stream `chunks` (bytes of a log, any sizes) and yield candidate records and time probes.

    A candidate is a line holding one of `ANCHORS`, as raw bytes with its hard-wrapped
    continuation lines glued on (`\\r` and the newline removed). Probes carry the time of the
    first and the last kubelet line of each scanned piece. `stats` is updated as chunks pass.
    Memory stays bounded by `CHUNK_BYTES` plus the longest line.
    """
    buffer = b""
    skip = 0
    dropping = False
    for chunk in chunks:
        if not chunk:
            continue
        stats.bytes_read += len(chunk)
        if dropping:
            newline = chunk.find(b"\n")
            if newline < 0:
                continue
            dropping = False
            chunk = chunk[newline + 1 :]
        buffer = buffer + chunk if buffer else chunk
        if len(buffer) < CHUNK_BYTES:
            continue
        cut_at = _carry_cut(buffer)
        if cut_at <= 0 and len(buffer) > MAX_LINE_BYTES:
            # Few, very long lines: scan the complete ones without keeping lines back.
            cut_at = buffer.rfind(b"\n") + 1
            if cut_at <= 0:
                # One enormous line with no end in sight: count it, drop it, resync at "\n".
                stats.lines_read += 1
                stats.oversized += 1
                buffer, skip, dropping = b"", 0, True
                continue
        if cut_at <= 0:
            continue
        consumed = yield from _scan_piece(buffer, cut_at, skip, stats)
        skip = max(0, consumed - cut_at)
        buffer = buffer[cut_at:]
    if dropping:
        return
    if buffer:
        if not buffer.endswith(b"\n"):
            buffer += b"\n"
        yield from _scan_piece(buffer, len(buffer), skip, stats)


def _carry_cut(buffer: bytes) -> int:
    """Where the scanned piece ends: before the last `CARRY_LINES` complete lines (0: none)."""
    end = buffer.rfind(b"\n")
    if end < 0:
        return 0
    cut_at = end + 1
    for _ in range(CARRY_LINES):
        previous = buffer.rfind(b"\n", 0, cut_at - 1)
        if previous < 0:
            return 0
        cut_at = previous + 1
    return cut_at


def _scan_piece(
    buffer: bytes, end: int, skip: int, stats: ScanStats
) -> Generator[bytes | Probe, None, int]:
    """Count and search `buffer[:end]` (whole lines); lines may glue on continuations past `end`.

    Returns (as the generator's value) the offset up to which lines were consumed, which can
    lie past `end` when a continuation was glued from the carried lines.
    """
    lines = buffer.count(b"\n", 0, end)
    stats.lines_read += lines
    kubelet = len(_HEADER_TAIL.findall(buffer, 0, end)) + buffer.count(_JSON_START, 0, end)
    stats.kubelet_lines += min(kubelet, lines)
    first = _probe(buffer, 0, end, last=False)
    if first is not None:
        yield first
    starts: set[int] = set()
    find = buffer.find
    rfind = buffer.rfind
    for anchor in ANCHORS:
        pos = find(anchor, 0, end)
        while pos >= 0:
            line_end = find(b"\n", pos, end)
            starts.add(rfind(b"\n", 0, pos) + 1)
            if line_end < 0:
                break
            pos = find(anchor, line_end, end)
    consumed = skip
    size = len(buffer)
    for start in sorted(starts):
        if start < consumed:
            continue
        line_end = find(b"\n", start)
        if line_end < 0:
            line_end = size
        record = buffer[start:line_end].rstrip(b"\r")
        consumed = line_end + 1
        if _needs_glue(record):
            for _ in range(MAX_CONTINUATION_LINES):
                if consumed >= size:
                    break
                next_end = find(b"\n", consumed)
                if next_end < 0:
                    next_end = size
                continuation = buffer[consumed:next_end].rstrip(b"\r")
                if not _is_continuation(continuation):
                    break
                record += continuation
                stats.continued += 1
                consumed = next_end + 1
                if not _needs_glue(record):
                    break
        yield record
    last = _probe(buffer, max(0, end - 16384), end, last=True)
    if last is not None:
        yield last
    return consumed


def _probe(buffer: bytes, start: int, end: int, *, last: bool) -> Probe | None:
    """The time of the first (or last) kubelet line in `buffer[start:end]`."""
    found: Probe | None = None
    if last:
        for match in _KLOG_HEADER_BYTES.finditer(buffer, start, end):
            found = _probe_from(match)
    else:
        first = _KLOG_HEADER_BYTES.search(buffer, start, end)
        if first is not None:
            found = _probe_from(first)
    if found is not None:
        return found
    pos = buffer.rfind(_JSON_START, start, end) if last else buffer.find(_JSON_START, start, end)
    if pos < 0:
        return None
    digits = re.match(rb"\s*(\d+(?:\.\d+)?)", buffer[pos + len(_JSON_START) : pos + 40])
    if digits is None:
        return None
    return Probe(local=None, epoch=float(digits.group(1)) / 1000.0)


def _probe_from(match: re.Match[bytes]) -> Probe | None:
    month, day, h, m, s, frac = match.groups()
    local = local_time(int(month), int(day), int(h), int(m), int(s), frac)
    return None if local is None else Probe(local=local, epoch=None)


def _needs_glue(record: bytes) -> bool:
    """True when a record visibly continues on the next line (pasted logs wrap long lines).

    A JSON record that does not end with `}` is cut (kubernetes#61117 JSON, wrapped after
    `"errCauses"`); a structured klog record with an odd number of unescaped quotes stopped
    inside a quoted value (kubernetes#129827, wrapped inside `no such file`). glog free text has no
    such tell, so it is never glued.
    """
    tail = record.rstrip()
    if _JSON_START in record:
        return not tail.endswith(b"}")
    header = _HEADER_TAIL.search(record)
    if header is None or record[header.end() : header.end() + 1] != b'"':
        return False
    quotes = record.count(b'"', header.end()) - record.count(b'\\"', header.end())
    return quotes % 2 == 1


def _is_continuation(line: bytes) -> bool:
    """A line that cannot start a record: no klog header, no JSON record, no syslog prefix."""
    if not line.strip():
        return False
    if _HEADER_TAIL.search(line) or _JSON_START in line:
        return False
    return _SYSLOG_PREFIX.match(line) is None and not line.startswith(b"-- ")
