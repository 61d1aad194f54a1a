"""Kubelet log records: the formats of one line, decoded into a `Record`.

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

Only the candidate lines the scanner (`scanner.py`) found are parsed here; Go durations
(`parse_go_duration`) are read here too, as the kubelet prints them in its messages.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from pleg_doctor.sources.decode import json_document

EXAMPLE_CHARS = 400
"""Examples quoted in results are cut to this many characters."""

_KLOG_HEADER = re.compile(
    r"(?P<sev>[IWEF])(?P<month>\d\d)(?P<day>\d\d) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)(?:\.(?P<frac>\d+))?"
    r" +(?P<pid>\d+) (?P<caller>[^ \]]+:\d+)\] "
)
_JOURNAL_HOST = re.compile(
    r"^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\dT\S+) "
    r"(?P<host>[A-Za-z0-9][\w.-]*) [\w./-]+(?:\[\d+\])?: "
)
"""The host of a journald / syslog prefix (`Nov 29 15:18:57 worker-3 kubelet[6671]: `)."""
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


def local_time(
    month: int, day: int, h: int, m: int, s: int, frac: bytes | str | None
) -> LocalTime | None:
    """A klog header's time (`frac`: its digits after the second), None for no valid time."""
    if not (1 <= month <= 12 and 1 <= day <= 31 and h < 24 and m < 60 and s < 61):
        return None
    seconds = h * 3600 + m * 60 + s
    if frac:
        digits = frac.decode() if isinstance(frac, bytes) else frac
        seconds += int(digits) / 10 ** len(digits)
    return LocalTime(month=month, day=day, seconds=float(seconds))


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
    local = local_time(
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
