"""Kubelet log lines: the formats, and a streaming scanner that parses only the lines that matter.

A kubelet log is mostly noise for PLEG purposes: volume reconcilers, probes, status syncs. A node
that went NotReady for an hour can easily have a 1 GB journal, so the scanner never looks at
every line in Python. It works on large byte chunks and lets C code do the per-line work:

* `bytes.count(b"\\n")` counts the lines read;
* one regex (`.go:N] `, the end of every klog header) and one substring (`{"ts":`, the start of
  every `--logging-format=json` record) count the kubelet lines; every other line is skipped
  (other units in a syslog file, foreign JSON such as the AWS VPC CNI's, garbage);
* a handful of `bytes.find` passes for rare anchor substrings (`ANCHORS`) find the candidate
  lines, and only those are decoded and parsed.

The formats (fixtures/kubelet-logs/SOURCES.md has the catalogue by era) are all a *prefix* (none;
`journalctl` short or short-precise `Mon DD HH:MM:SS[.ffffff] host ident[pid]: `; syslog without
a pid; an empty or missing host; `<node-ip>: ` from multi-node tools; `journalctl -o short-iso`)
followed by one *record*: a klog header `[IWEF]MMDD HH:MM:SS.uuuuuu PID file.go:N] ` with free
text (glog, ≤ 1.20) or a quoted message and `key="value"` pairs (structured klog, ≥ 1.21), or a
JSON object `{"ts":<epoch ms>,"caller":…,"msg":…}`. The prefix is skipped wherever it ends: the
klog header is searched for, not matched at the start, so new wrappers (`kubenswrapper`, `k3s`,
`hyperkube`, `origin-node`, a kubelet inside `docker[…]`) need no code.

The klog time is the record's time. The journald time in front of it can lag by minutes
(k3s-io/k3s#2370: 16:39:44 in front of 16:35:09), because journald stamps a line when it reads it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from pleg_doctor.sources.decode import json_document

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

EXAMPLE_CHARS = 400
"""Examples quoted in results are cut to this many characters."""

_HEADER_TAIL = re.compile(rb"\.go:\d+\] ")
"""The end of a klog header; counts kubelet lines chunk-wide (1.5 GB/s, no per-line Python)."""

_JSON_START = b'{"ts":'
"""The start of every klog JSON record (foreign JSON such as the VPC CNI's starts otherwise)."""

_KLOG_HEADER = re.compile(
    r"(?P<sev>[IWEF])(?P<month>\d\d)(?P<day>\d\d) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)(?:\.(?P<frac>\d+))?"
    r" +(?P<pid>\d+) (?P<caller>[^ \]]+:\d+)\] "
)
_KLOG_HEADER_BYTES = re.compile(
    rb"[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))? +\d+ [^ \]\n]+:\d+\] "
)
_JOURNAL_HOST = re.compile(
    r"^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\dT\S+) "
    r"(?P<host>[A-Za-z0-9][\w.-]*) [\w./-]+(?:\[\d+\])?: "
)
"""The host of a journald / syslog prefix (`Nov 29 15:18:57 worker-3 kubelet[6671]: `)."""
_SYSLOG_PREFIX = re.compile(rb"^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d[T ]\d\d:)")
_ISO_PREFIX = re.compile(
    r"^(?P<year>\d{4})-(?P<month>\d\d)-(?P<day>\d\d)[T ]\d\d:\d\d:\d\d(?:\.\d+)?"
    r"(?P<tz>Z|[+-]\d\d:?\d\d)?"
)
_KV = re.compile(
    r'(?P<k>[A-Za-z_][\w.-]*)=(?P<v>"(?:[^"\\]|\\.)*"?|&?\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}?|\[[^\]]*\]?|\S*)'
)
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|h|m|s)")
_GO_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}

NEVER_SECONDS = 9223372036.854775807
"""Go's largest `time.Duration` (MaxInt64 ns, `2562047h47m16.854775807s`) in seconds.

Old kubelets print it as the age when PLEG never relisted successfully since start; pleg-doctor
also uses it for `pleg has yet to be successful`, which means the same thing.
"""


def parse_go_duration(text: str) -> float | None:
    """Parse a Go `time.Duration` string (`3m0.4s`, `16h14m34.4s`, `250ms`) into seconds.

    Spaces inside are dropped first: a paste in runc#2551 turned `3m0.322579259s` into
    `3m0.32           2579259s`. Returns None for anything that is not a duration.
    """
    compact = "".join(text.split())
    if not compact:
        return None
    sign = 1.0
    if compact[0] in "+-":
        sign = -1.0 if compact[0] == "-" else 1.0
        compact = compact[1:]
    if compact == "0":
        return 0.0
    total = 0.0
    pos = 0
    for match in _GO_DURATION_PART.finditer(compact):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(compact) or pos == 0:
        return None
    return sign * total


@dataclasses.dataclass(frozen=True, slots=True)
class LocalTime:
    """A klog time: month, day and seconds of the day, in the node's local time, no year."""

    month: int
    day: int
    seconds: float
    """Seconds since local midnight, with the microseconds of the header."""


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    """One kubelet log record, decoded: what the classifiers in `events.py` read."""

    severity: str
    """`I`, `W`, `E` or `F` (JSON records: `E` when they carry `err`, else `I`)."""

    local: LocalTime | None
    """The klog header time (node local time, no year), or None for JSON records."""

    epoch: float | None
    """Unix seconds (UTC) of a JSON record's `ts`, or None for klog records."""

    caller: str
    """`file.go:N` as logged (it may carry a directory: `kubelet/kubelet.go:1991`)."""

    message: str
    """glog: the free text after the header. Structured klog and JSON: the quoted message."""

    fields: dict[str, str] | None
    """Structured klog and JSON: the `key=value` pairs (values unquoted); glog: None."""

    line: str
    """The whole line as logged (continuations glued on), for examples."""

    year_hint: tuple[int, int] | None = None
    """(year, month) from a `journalctl -o short-iso` prefix, when the line has one."""

    offset_hint: int | None = None
    """UTC offset in minutes from a `short-iso` prefix with a zone, when the line has one."""

    @property
    def text(self) -> str:
        """Everything a classifier may search: the message and, for structured records, the
        field values (the error of a structured record is in `err`)."""
        if not self.fields:
            return self.message
        return self.message + " " + " ".join(f"{k}={v}" for k, v in self.fields.items())

    @property
    def error(self) -> str:
        """The error text: the `err` field of structured records, else the free text."""
        if self.fields is not None:
            return self.fields.get("err", "")
        return self.message

    @property
    def example(self) -> str:
        """The line for a result's `example`: whole, cut at `EXAMPLE_CHARS`."""
        return cut(self.line)


def cut(text: str, limit: int = EXAMPLE_CHARS) -> str:
    """`text` cut to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    local = _local_time(int(month), int(day), int(h), int(m), int(s), frac)
    return None if local is None else Probe(local=local, epoch=None)


def _local_time(
    month: int, day: int, h: int, m: int, s: int, frac: bytes | str | None
) -> LocalTime | None:
    if not (1 <= month <= 12 and 1 <= day <= 31 and h < 24 and m < 60 and s < 61):
        return None
    seconds = h * 3600 + m * 60 + s
    if frac:
        digits = frac.decode() if isinstance(frac, bytes) else frac
        seconds += int(digits) / 10 ** len(digits)
    return LocalTime(month=month, day=day, seconds=float(seconds))


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


# --- records ---------------------------------------------------------------------------------


def node_of(record: Record) -> str | None:
    """The node a record names: its `node` field, else the host of its journald prefix."""
    node = (record.fields or {}).get("node")
    if node:
        return node
    match = _JOURNAL_HOST.match(record.line)
    return match.group("host") if match else None


def parse_record(raw: bytes) -> Record | None:
    """Decode one candidate line into a `Record`, or None when it is not a kubelet record."""
    line = raw.decode("utf-8", "replace")
    header = _KLOG_HEADER.search(line)
    json_at = line.find('{"ts":')
    if header is not None and (json_at < 0 or header.start() < json_at):
        return _klog_record(line, header)
    if json_at >= 0:
        return _json_record(line, json_at)
    return None


def _prefix_hints(prefix: str) -> tuple[tuple[int, int] | None, int | None]:
    match = _ISO_PREFIX.match(prefix)
    if match is None:
        return None, None
    offset: int | None = None
    zone = match.group("tz")
    if zone == "Z":
        offset = 0
    elif zone:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
    return (int(match.group("year")), int(match.group("month"))), offset


def _klog_record(line: str, header: re.Match[str]) -> Record | None:
    local = _local_time(
        int(header.group("month")),
        int(header.group("day")),
        int(header.group("h")),
        int(header.group("m")),
        int(header.group("s")),
        header.group("frac"),
    )
    body = line[header.end() :]
    year_hint, offset_hint = _prefix_hints(line[: header.start()])
    if body.startswith('"'):
        message, rest = _quoted(body)
        fields = parse_fields(rest)
    else:
        message, fields = body, None
    return Record(
        severity=header.group("sev"),
        local=local,
        epoch=None,
        caller=header.group("caller"),
        message=message,
        fields=fields,
        line=line,
        year_hint=year_hint,
        offset_hint=offset_hint,
    )


def _quoted(body: str) -> tuple[str, str]:
    """Split `"message" rest` (Go-quoted message) into the unquoted message and the rest."""
    i = 1
    n = len(body)
    while i < n:
        c = body[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return unquote(body[1:i]), body[i + 1 :]
        i += 1
    return unquote(body[1:]), ""


_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


def unquote(text: str) -> str:
    """Undo Go's `%q` escaping of `\\"`, `\\\\`, `\\n`, `\\t` (others are kept as written)."""
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in _ESCAPES:
            out.append(_ESCAPES[text[i + 1]])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_fields(rest: str) -> dict[str, str]:
    """The `key=value` pairs of a structured klog record, values unquoted.

    Values are a Go-quoted string, a `{…}` or `&{…}` struct (one nesting level, as klog prints
    `condition={Type:Ready …}`), a `[…]` list, or a bare token. A value cut off by a truncated
    line (`journalctl` ellipsizes with `>`) is kept as far as it goes.
    """
    fields: dict[str, str] = {}
    for match in _KV.finditer(rest):
        value = match.group("v")
        if value.startswith('"'):
            value = unquote(value[1:-1] if value.endswith('"') and len(value) > 1 else value[1:])
        fields.setdefault(match.group("k"), value)
    return fields


_JSON_FIELD = re.compile(r'"(?P<k>\w+)":(?P<v>"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)')


def _json_record(line: str, at: int) -> Record | None:
    text = line[at:]
    data: Any
    try:
        data = json_document(text)
    except ValueError:
        # Cut or wrapped beyond repair: take the scalar fields that are there.
        data = {}
        for match in _JSON_FIELD.finditer(text):
            raw = match.group("v")
            try:
                data.setdefault(match.group("k"), json.loads(raw))
            except ValueError:
                data.setdefault(match.group("k"), raw.strip('"'))
    if not isinstance(data, dict):
        return None
    ts = data.get("ts")
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        return None  # foreign JSON (e.g. the VPC CNI's `"ts":"2021-04-08T07:44:28.615Z"`)
    message = data.get("msg")
    fields: dict[str, str] = {}
    for key, value in data.items():
        if key in ("ts", "msg", "caller", "v"):
            continue
        fields[key] = _json_value(value)
    caller = data.get("caller")
    return Record(
        severity="E" if "err" in data else "I",
        local=None,
        epoch=float(ts) / 1000.0,
        caller=caller if isinstance(caller, str) else "",
        message=message if isinstance(message, str) else "",
        fields=fields,
        line=line,
    )


def _json_value(value: Any) -> str:
    """A JSON field as text; `{"name":…,"namespace":…}` objects (klog.KObj) become `ns/name`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        name, namespace = value.get("name"), value.get("namespace")
        if isinstance(name, str) and isinstance(namespace, str):
            return f"{namespace}/{name}" if namespace else name
    try:
        return json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError):  # pragma: no cover - json.loads output always dumps
        return str(value)
