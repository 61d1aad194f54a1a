"""`capture`: save a live scrape with the capture header of CONTRACT.md, for a later `diagnose`.

The header is the first line, a comment the exposition format ignores:
`# pleg-doctor capture: captured_at=2026-11-27T10:00:00Z node=worker-3 source=https://...`.
`captured_at` is the kubelet's own clock (its HTTP `Date` header) when known, else the local
clock. Files are written atomically (temporary file, then rename), gzip when the name ends in
`.gz`.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pleg_doctor.commands import console, pipeline
from pleg_doctor.commands.options import (
    CONTEXT_SETTINGS,
    Duration,
    common_options,
    source_options,
    source_options_from,
)
from pleg_doctor.errors import SourceError

if TYPE_CHECKING:
    from pleg_doctor.sources.base import FetchedDump

_SUFFIXES = (".prom.gz", ".txt.gz", ".prom", ".txt", ".gz")


def capture_path(template: str, index: int, count: int) -> str:
    """`template` itself for a single dump; numbered (`a-001.prom`) for a series."""
    if count == 1:
        return template
    for suffix in _SUFFIXES:
        if template.endswith(suffix):
            return f"{template[: -len(suffix)]}-{index + 1:03d}{suffix}"
    return f"{template}-{index + 1:03d}"


def capture_header(dump: FetchedDump, body: bytes, *, now: dt.datetime | None = None) -> bytes:
    """The header line for `dump` (node from the source, else from `kubelet_node_name`).

    `exposition.capture_header_line` writes it: every value percent-encoded, a node name that
    is not one left out, so nothing read from the kubelet can forge a field or add a line.
    """
    from pleg_doctor.core.exposition import capture_header_line, parse_exposition
    from pleg_doctor.core.snapshot import build_snapshot
    from pleg_doctor.sources.limits import current as current_limits

    captured = dump.captured_at or now or dt.datetime.now(dt.timezone.utc)
    node = dump.node
    if node is None:
        parsed = parse_exposition([body], name=dump.location, limits=current_limits())
        node = build_snapshot(parsed.samples, name=dump.location).node
    return capture_header_line(captured_at=captured, node=node, source=dump.location)


def write_capture(dump: FetchedDump, path: str, *, now: dt.datetime | None = None) -> str:
    """Write header + body to `path` atomically; returns the path written."""
    import gzip
    import tempfile

    body = b"".join(dump.chunks)
    data = capture_header(dump, body, now=now) + body
    if path.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as exc:
        raise SourceError(f"{path}: cannot write ({exc.strerror})") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SourceError(f"{path}: cannot write ({exc.strerror})") from exc
    return path


@click.command(context_settings=CONTEXT_SETTINGS)
@source_options
@click.option(
    "-o",
    "--output",
    "output_path",
    required=True,
    metavar="FILE",
    help="Where to write the dump; a name ending in .gz is gzip-compressed.",
)
@click.option(
    "--count", type=click.IntRange(min=1), default=1, show_default=True, help="Dumps to take."
)
@click.option(
    "--every", type=Duration(), default="30s", show_default=True, help="Time between dumps."
)
@common_options
def capture(output_path: str, count: int, every: float, debug: bool, **source: Any) -> None:
    """Save the kubelet's /metrics with a capture header, for a later diagnose.

    The first line records when (the kubelet's own clock, from its HTTP Date header) and from
    where the dump was taken. With --count N, the files are numbered (a-001.prom, a-002.prom...)
    and `pleg-doctor diagnose a-*.prom` diagnoses the window they span.

    \b
    Example:
      pleg-doctor capture --node worker-3 -o worker-3.prom.gz
      pleg-doctor capture --kubelet 10.0.0.7 --token-file t -o w3.prom --count 3 --every 30s
    """
    console.setup_logging(debug)
    options = source_options_from((), False, source)
    (live,) = pipeline.build_sources(options, live_only=True)
    for index in range(count):
        if index:
            pipeline.wait(every, f"dump {index + 1} of {count}")
        path = capture_path(output_path, index, count)
        written = write_capture(live.fetch(), path)
        sys.stderr.write(f"pleg-doctor: wrote {written}\n")
    sys.exit(0)
