"""Prometheus text exposition (0.0.4) and OpenMetrics → the few normalized families the model needs.

A kubelet dump that includes cAdvisor series reaches 100 MB, of which the PLEG model needs a few
hundred lines. So this module never parses a dump whole: it streams byte chunks, keeps only lines
whose metric name starts with one of `KEPT_PREFIXES` (a `bytes.startswith` on the raw line, before
any decoding), looks the exact name up in `families.NAME_TABLE`, and parses only those samples.

Era differences are normalized here (docs/model.md#metric-names-by-era, #version-inference), so the core never sees an exposed
metric name:

* microsecond summaries (≤1.16) are scaled to seconds and kept apart from the second histograms
  (≥1.14; 1.14-1.16 expose both side by side);
* `kubelet_runtime_operations` and `kubelet_runtime_operations_total` become one counter
  (the `_total` one wins when both are present, as in 1.14-1.16);
* `kubelet_running_pod_count` (≤1.18) and `kubelet_running_pods` (≥1.19) become `running_pods`;
* counters that prometheus_client / OpenMetrics expose with an added `_total`
  (`kubelet_pleg_discard_events_total`) are read under either name;
* `le` and `quantile` label strings become floats.

The parser is our own (measured: several times faster than prometheus_client's on the kept lines,
and it cannot raise mid-iteration); `tests/test_exposition.py` checks it against prometheus_client's
parser on every real dump.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator

from pleg_doctor.core.families import KEPT_FIRST_BYTES, KEPT_PREFIXES, NAME_TABLE
from pleg_doctor.core.limits import GZIP_FLOOR_BYTES, Limits
from pleg_doctor.core.records import record
from pleg_doctor.core.streams import GzipBomb, GzipProblem, decompressed
from pleg_doctor.errors import ExpositionError, LimitError

DEFAULT_LIMITS = Limits()
CAPTURE_HEADER_PREFIX = b"# pleg-doctor capture:"

_CHUNK_LIMIT_LINE = 1 << 20  # a single line longer than 1 MiB is not exposition


@record
class Sample:
    """One parsed sample of a kept family, already normalized."""

    family: str
    """Canonical family key, e.g. `relist_duration_hist` (see `families.py`)."""
    part: str
    """`value`, `bucket`, `sum`, `count` or `quantile`."""
    labels: dict[str, str]
    """Labels without `le`/`quantile` (those are in `bound`)."""
    value: float
    """Value in base units (seconds), scaled from microseconds where the era needs it."""
    bound: float | None = None
    """`le` for a bucket, `quantile` for a summary quantile."""


@record(kw_only=True)
class CaptureHeader:
    """The `# pleg-doctor capture:` line (docs/output.md#capture-header)."""

    captured_at: dt.datetime | None
    node: str | None
    source: str | None


@record(kw_only=True)
class ParsedDump:
    """What one dump yields: the kept samples plus facts about the text itself."""

    name: str
    """The dump's name for messages (a path, `-` or a URL)."""
    samples: tuple[Sample, ...]
    header: CaptureHeader | None
    is_openmetrics: bool
    lines_total: int
    lines_kept: int


_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"\\]*)"\s*(?:,|$)')
_NAME_RE = re.compile(rb"[a-zA-Z_:][a-zA-Z0-9_:]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


def iter_lines(
    chunks: Iterable[bytes], name: str, *, limits: Limits = DEFAULT_LIMITS
) -> Iterator[bytes]:
    """Split a stream of byte chunks (gzip or plain, detected by magic bytes) into lines.

    Decompression is streaming (`zlib` with gzip framing, concatenated members allowed), so a
    100 MB `.gz` dump never sits in memory whole.
    """
    for _, lines in _blocks(chunks, name, limits):
        yield from lines


def _blocks(
    chunks: Iterable[bytes], name: str, limits: Limits
) -> Iterator[tuple[bytes, list[bytes]]]:
    """`(block, lines)`: each decompressed piece (with the line the last one cut in front) and
    its whole lines; the unfinished last line is carried into the next piece."""
    carry = b""
    for chunk in _decompressed(chunks, name, limits):
        if not chunk:
            continue
        if carry:
            chunk = carry + chunk
        lines = chunk.split(b"\n")
        carry = lines.pop()
        if len(carry) > _CHUNK_LIMIT_LINE:
            raise ExpositionError(f"{name}: a line longer than 1 MiB: not metrics text")
        yield chunk, lines
    if carry:
        yield carry, [carry]


def _decompressed(chunks: Iterable[bytes], name: str, limits: Limits) -> Iterator[bytes]:
    """`streams.decompressed`, with a damaged or cut-off gzip stream as an `ExpositionError`."""
    try:
        yield from decompressed(chunks, max_ratio=limits.gzip_ratio, floor_bytes=GZIP_FLOOR_BYTES)
    except GzipBomb as exc:
        raise limits.gzip_error(name, exc.compressed_bytes, exc.decompressed_bytes) from None
    except GzipProblem as exc:
        if exc.kind == "truncated":
            raise ExpositionError(
                f"{name}: gzip stream is truncated (cut off before its end)"
            ) from exc
        raise ExpositionError(f"{name}: not a valid gzip stream ({exc.detail})") from exc


class _LineError(Exception):
    """A malformed line; `parse_exposition` adds the name and the line number (found only then,
    so the loop over lines does not count them one by one)."""


def parse_exposition(
    chunks: Iterable[bytes], *, name: str, limits: Limits = DEFAULT_LIMITS
) -> ParsedDump:
    """Parse one dump, keeping only the PLEG-relevant families.

    `chunks` is the dump's bytes in any chunking, plain or gzip; `name` is used in messages.
    Raises `ExpositionError` for anything that is not metrics text: empty input, binary data,
    HTML or JSON bodies, a malformed kept line (the message gives its number); and
    `LimitError` past `limits` (kept lines and bytes, gzip ratio).

    Blank lines cost no Python step (a block's lines are filtered in C) and lines are counted
    per block, so 1 GB of newlines is only as slow as reading it.
    """
    samples: list[Sample] = []
    header: CaptureHeader | None = None
    is_openmetrics = False
    lines_before = 0  # lines in the blocks before this one
    kept = 0
    kept_bytes = 0
    max_kept, max_kept_bytes = limits.samples, limits.kept_bytes
    sniffed = False  # the first non-blank line was checked for binary, HTML, JSON
    sample_checked = False  # the first line that is not a comment was checked as a sample
    table = NAME_TABLE
    prefixes = KEPT_PREFIXES
    first_bytes = KEPT_FIRST_BYTES
    for block, lines in _blocks(chunks, name, limits):
        if not sample_checked:
            for index, raw in enumerate(lines):
                stripped = raw.strip()
                if not stripped:
                    continue
                if not sniffed:
                    _sniff(stripped, name)
                    sniffed = True
                if not stripped.startswith(b"#"):
                    # A Markdown file or a log starts with `#` too: the first line that is not
                    # a comment must be a sample for the whole input to be exposition text.
                    if not _looks_like_sample(stripped):
                        raise ExpositionError(
                            f"{name}: line {lines_before + index + 1} is not a metric sample: "
                            f"{_show(stripped)}",
                        )
                    sample_checked = True
                    break
        raw = b""
        try:
            for raw in filter(None, lines):  # blank lines filtered in C
                if raw[0] in first_bytes and raw.startswith(prefixes):
                    kept += 1
                    kept_bytes += len(raw)
                    if kept > max_kept or kept_bytes > max_kept_bytes:
                        raise _kept_too_much(limits, name, kept, max_kept)
                    sample = _parse_sample_line(raw, table)
                    if sample is not None:
                        samples.append(sample)
                elif raw.startswith(b"#"):
                    if raw.startswith(CAPTURE_HEADER_PREFIX):
                        if header is not None or lines_before or not block.startswith(raw):
                            raise _LineError(
                                "a capture header is valid only as the first line "
                                "(two dumps in one file, or a forged header?)"
                            )
                        header = _parse_capture_header(raw)
                    elif raw.startswith(b"# EOF"):
                        is_openmetrics = True
        except _LineError as exc:
            lineno = lines_before + _line_index(block, raw) + 1
            raise ExpositionError(f"{name}: line {lineno}: {exc}") from None
        lines_before += len(lines)
    if lines_before == 0 or not sniffed:
        raise ExpositionError(f"{name}: empty: no metrics in it")
    return ParsedDump(
        name=name,
        samples=tuple(samples),
        header=header,
        is_openmetrics=is_openmetrics,
        lines_total=lines_before,
        lines_kept=kept,
    )


def _kept_too_much(limits: Limits, name: str, kept: int, max_kept: int) -> LimitError:
    if kept > max_kept:
        return limits.error("samples", f"{name}: more than {max_kept:,} PLEG-relevant lines")
    return limits.error("kept_bytes", f"{name}: PLEG-relevant lines too long in total")


def _line_index(block: bytes, line: bytes) -> int:
    """The index of `line` among the lines of `block` (its first occurrence as a whole line;
    every line of a block but a final carry ends with a newline)."""
    if block.startswith(line + b"\n") or block == line:
        return 0
    return block.count(b"\n", 0, block.find(b"\n" + line + b"\n") + 1)


# What may follow `[` in a JSON array; `[build-system]` (TOML) or `[Unit]` (INI) is not JSON.
_JSON_ARRAY_STARTS = frozenset(
    {b"{", b"[", b"]", b'"', b"-", b"t", b"f", b"n", *(str(d).encode() for d in range(10))}
)


def _sniff(first: bytes, name: str) -> None:
    """Reject input that is plainly not exposition text, with a message saying what it is."""
    if b"\x00" in first or not _is_text(first):
        raise ExpositionError(f"{name}: binary data, not Prometheus metrics text")
    head = first[:1]
    if head == b"<":
        raise ExpositionError(
            f"{name}: an HTML page, not metrics text",
            hint="a login page or proxy error? fetch the kubelet's /metrics directly",
        )
    if head == b"{" or (head == b"[" and first[1:].lstrip()[:1] in _JSON_ARRAY_STARTS):
        raise ExpositionError(
            f"{name}: JSON, not metrics text",
            hint="an API error or a Prometheus query result? pass the kubelet's raw /metrics",
        )


def _looks_like_sample(line: bytes) -> bool:
    """`name{labels} value [timestamp]` with a number for the value (the sniff of line one)."""
    match = _NAME_RE.match(line)
    if match is None:
        return False
    rest = line[match.end() :]
    if rest.startswith(b"{"):
        close = rest.rfind(b"}")
        if close == -1:
            return False
        rest = rest[close + 1 :]
    fields = rest.split(b" # ")[0].split()
    if not 1 <= len(fields) <= 2:
        return False
    try:
        float(fields[0])
    except ValueError:
        return False
    return True


def _is_text(data: bytes) -> bool:
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the 4096 boundary is still text.
        return exc.start >= min(len(data), 4096) - 3
    return True


def _show(line: bytes) -> str:
    text = line[:80].decode("utf-8", "replace")
    return repr(text + ("…" if len(line) > 80 else ""))


_NODE_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
"""A Kubernetes node name: a DNS-1123 subdomain (lowercase letters, digits, `-`, `.`)."""

_HEADER_SAFE = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/@!$&'()*+,;=?[]"
)
"""What a header value holds as is; anything else (space, `%`, control, non-ASCII) is `%XX`."""

_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")

CAPTURE_HEADER_KEYS = ("captured_at", "node", "source")


def is_node_name(text: str) -> bool:
    """True for a valid Kubernetes node name (a DNS-1123 subdomain)."""
    return _NODE_NAME.fullmatch(text) is not None


def capture_header_line(*, captured_at: dt.datetime, node: str | None, source: str) -> bytes:
    """The `# pleg-doctor capture: captured_at=... node=... source=...` line, newline included.

    Each value is percent-encoded outside URL-safe characters, so no value (a node name from a
    dump's label, a URL) can add a field, forge `captured_at` or start a new line; a `node` that
    is not a valid node name is left out (the dump's `kubelet_node_name` still says it).
    """
    stamp = captured_at.astimezone(dt.timezone.utc).isoformat(timespec="seconds")
    fields = [("captured_at", stamp.replace("+00:00", "Z"))]
    if node and is_node_name(node):
        fields.append(("node", node))
    fields.append(("source", source))
    text = " ".join(f"{key}={_percent_encoded(value)}" for key, value in fields)
    return CAPTURE_HEADER_PREFIX + b" " + text.encode("ascii") + b"\n"


def _percent_encoded(value: str) -> str:
    return "".join(
        char if char in _HEADER_SAFE else "".join(f"%{b:02X}" for b in char.encode("utf-8"))
        for char in value
    )


def _parse_capture_header(raw: bytes) -> CaptureHeader:
    """Read the `key=value` fields after `# pleg-doctor capture:`, strictly.

    Every word must be `key=value` and each key appear once (a repeated key is how a forged
    value would win); values are percent-decoded; `captured_at` must be RFC 3339 and `node` a
    valid node name. Unknown keys are ignored (a later version may add fields).
    """
    fields: dict[str, str] = {}
    for token in raw[len(CAPTURE_HEADER_PREFIX) :].split():
        key, sep, value = token.partition(b"=")
        name = key.decode("ascii", "replace")
        if not sep or not key:
            raise _LineError(f"capture header has a word that is not key=value: {_show(token)}")
        if name in fields:
            raise _LineError(f"capture header repeats {name!r}")
        try:
            fields[name] = _PERCENT.sub(lambda m: bytes([int(m.group(1), 16)]), value).decode(
                "utf-8"
            )
        except UnicodeDecodeError:
            raise _LineError(f"capture header's {name} is not UTF-8") from None
    captured_at: dt.datetime | None = None
    if "captured_at" in fields:
        captured_at = parse_rfc3339(fields["captured_at"])
        if captured_at is None:
            raise _LineError(
                f"capture header has a bad captured_at {fields['captured_at'][:40]!r} "
                "(want RFC 3339, e.g. 2026-11-27T10:00:00Z)"
            )
    node = fields.get("node") or None
    if node is not None and not is_node_name(node):
        raise _LineError(f"capture header has a bad node {node[:80]!r}: not a node name")
    return CaptureHeader(captured_at=captured_at, node=node, source=fields.get("source"))


def parse_rfc3339(text: str) -> dt.datetime | None:
    """Parse an RFC 3339 timestamp (`Z` or an offset) into an aware UTC datetime, else None."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(dt.timezone.utc)


def _parse_sample_line(raw: bytes, table: dict[bytes, tuple[str, str, float]]) -> Sample | None:
    """Parse one kept line, or return None when its exact name is not one the model uses."""
    brace = raw.find(b"{")
    space = raw.find(b" ")
    if brace != -1 and (space == -1 or brace < space):
        metric = raw[:brace]
    elif space != -1:
        metric = raw[:space]
    else:
        raise _LineError(f"no value: {_show(raw)}")
    entry = table.get(metric)
    if entry is None:
        return None
    family, part, scale = entry
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _LineError("not UTF-8 text") from exc
    labels: dict[str, str] = {}
    rest_at = len(metric)
    if brace != -1 and (space == -1 or brace < space):
        close = _closing_brace(text, brace)
        if close == -1:
            raise _LineError(f"unclosed label set: {_show(raw)}")
        labels = _parse_labels(text[brace + 1 : close], raw)
        rest_at = close + 1
    rest = text[rest_at:]
    hash_at = rest.find(" # ")  # OpenMetrics exemplar
    if hash_at != -1:
        rest = rest[:hash_at]
    fields = rest.split()
    if not fields or len(fields) > 2:
        raise _LineError(f"bad value: {_show(raw)}")
    try:
        value = float(fields[0])
    except ValueError as exc:
        raise _LineError(f"value {fields[0][:40]!r} is not a number") from exc
    bound: float | None = None
    if part == "bucket" or part == "quantile":
        key = "le" if part == "bucket" else "quantile"
        bound_text = labels.pop(key, None)
        if bound_text is None:
            raise _LineError(f"{part} without a {key} label")
        try:
            bound = float(bound_text)
        except ValueError as exc:
            raise _LineError(f"{key}={bound_text[:40]!r} is not a number") from exc
        if part == "bucket":
            scale = 1.0
    if scale != 1.0:
        value *= scale
    return Sample(family=family, part=part, labels=labels, value=value, bound=bound)


def _closing_brace(text: str, start: int) -> int:
    """Index of the `}` closing the label set opened at `start`, honouring quoted values.

    A `}` inside a quoted value (`node="a}b"`) is legal. Without backslashes a `}` closes the
    set when an even number of quotes precede it (one C-speed count per kept line); with them,
    the characters are walked.
    """
    if "\\" not in text:
        close = text.find("}", start)
        while close != -1 and text.count('"', start, close) % 2:
            close = text.find("}", close + 1)
        return close
    in_quotes = False
    escaped = False
    for index in range(start + 1, len(text)):
        char = text[index]
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            in_quotes = not in_quotes
        elif char == "}" and not in_quotes:
            return index
    return -1


def _parse_labels(body: str, raw: bytes) -> dict[str, str]:
    """Parse `a="x",b="y"` (trailing comma allowed), with the exposition format's escapes."""
    labels: dict[str, str] = {}
    if "\\" not in body:
        position = 0
        stripped_end = len(body.rstrip().rstrip(","))
        while position < stripped_end:
            match = _LABEL_RE.match(body, position)
            if match is None:
                raise _LineError(f"bad label set: {_show(raw)}")
            labels[match.group(1)] = match.group(2)
            position = match.end()
        return labels
    return _parse_labels_escaped(body, raw)


def _parse_labels_escaped(body: str, raw: bytes) -> dict[str, str]:
    labels: dict[str, str] = {}
    index = 0
    length = len(body)
    while index < length:
        while index < length and body[index] in " ,":
            index += 1
        if index >= length:
            break
        equals = body.find("=", index)
        if equals == -1 or equals + 1 >= length or body[equals + 1] != '"':
            raise _LineError(f"bad label set: {_show(raw)}")
        key = body[index:equals].strip()
        index = equals + 2
        value_chars: list[str] = []
        while True:
            if index >= length:
                raise _LineError("unterminated label value")
            char = body[index]
            if char == "\\" and index + 1 < length:
                value_chars.append(_ESCAPES.get(body[index + 1], "\\" + body[index + 1]))
                index += 2
            elif char == '"':
                index += 1
                break
            else:
                value_chars.append(char)
                index += 1
        labels[key] = "".join(value_chars)
    return labels
