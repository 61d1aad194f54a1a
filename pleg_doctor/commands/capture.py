"""`capture`: save a live scrape with its capture header (docs/output.md#capture-header).

The header is the first line, a comment the exposition format ignores:
`# pleg-doctor capture: captured_at=2026-11-27T10:00:00Z node=worker-3 source=https://...`.
`captured_at` is the kubelet's own clock (its HTTP `Date` header) when known, else the local
clock. The destination is the positional FILE (`-` for standard output), never overwritten
without `--force`; files are written atomically (temporary file, then rename), gzip when the
name ends in `.gz` or with `-o gzip`.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from pleg_doctor.commands import console, pipeline
from pleg_doctor.commands.options import (
    CONTEXT_SETTINGS,
    Duration,
    aliased,
    common_options,
    deprecated_alias,
    source_options,
    source_options_from,
    window_option,
)
from pleg_doctor.errors import SourceError, UsageError

if TYPE_CHECKING:
    from pleg_doctor.sources.base import FetchedDump, MetricsSource
    from pleg_doctor.sources.options import SourceOptions

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


CAPTURE_FORMATS = ("text", "gzip")
"""`capture -o`: the kubelet's exposition text as scraped, plain or gzip-compressed."""

REPORT_FORMATS = ("table", "json", "yaml", "nagios")
"""Formats of the other commands: `capture -o json` is a mistake to explain, not a file name."""


def capture_data(dump: FetchedDump, *, compress: bool, now: dt.datetime | None = None) -> bytes:
    """Header + body, gzip-compressed when `compress` (deterministic: no mtime in the gzip)."""
    import gzip

    body = b"".join(dump.chunks)
    data = capture_header(dump, body, now=now) + body
    return gzip.compress(data, mtime=0) if compress else data


def write_capture(
    dump: FetchedDump,
    path: str,
    *,
    compress: bool | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Write header + body to `path` atomically; returns the path written. `compress` None:
    gzip when the name ends in `.gz`."""
    import tempfile

    data = capture_data(
        dump, compress=path.endswith(".gz") if compress is None else compress, now=now
    )
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


def destination(file: str | None, output: str | None) -> tuple[str, str | None]:
    """(where to write, the format asked for) from `FILE` and `-o`.

    `-o` is the format (`text`, `gzip`). The old `capture -o FILE` still works: a value of `-o`
    that is no format is taken as the file, with a deprecation line on stderr.
    """
    fmt: str | None = None
    if output is not None:
        if output in CAPTURE_FORMATS:
            fmt = output
        elif output in REPORT_FORMATS:
            raise UsageError(
                f"capture saves the kubelet's exposition text (-o text or -o gzip), not {output}",
                hint=f"for a report of the dump: pleg-doctor diagnose FILE -o {output}",
            )
        elif file is not None:
            raise UsageError(
                f"-o is the format (text or gzip), not {output!r}: the file is {file!r}"
            )
        else:
            console.deprecated("capture -o FILE", "capture FILE")
            file = output
    if file is None:
        raise UsageError("where to? give a FILE (a name ending in .gz is compressed; - for stdout)")
    return file, fmt


def fetch(source: MetricsSource, path: str, *, via: SourceOptions) -> FetchedDump:
    """Scrape `source` once within `--timeout`. A `/metrics` that does not answer while the
    kubelet's `/healthz` does (its runtime likely hung) is one error line: what blocked and for
    how long, what `/healthz` said, that `path` is not written, and in the hint the `diagnose`
    that outwaits the CRI timeout (`via`: the options that reach the node)."""
    from pleg_doctor.sources.live import LiveSource, MetricsBlocked, fetch_live, is_live

    if not is_live(source):
        return source.fetch()
    try:
        dump, _ = fetch_live(cast("LiveSource", source))
    except MetricsBlocked as blocked:
        from pleg_doctor.core.causes.scrape import outwait_words
        from pleg_doctor.core.printable import shell_command
        from pleg_doctor.errors import SourceTimeoutError

        if via.node is not None:
            reach = [
                "--node",
                via.node,
                *(("--kubeconfig", via.kubeconfig) if via.kubeconfig else ()),
                *(("--context", via.context) if via.context else ()),
            ]
            options = ""
        else:
            reach = ["--kubelet", source.location]
            options = " (with this capture's TLS and credential options)"
        unwritten = "nothing written to standard output" if path == "-" else f"{path} not written"
        raise SourceTimeoutError(
            f"{blocked.message}; {unwritten}",
            hint="outwait the CRI timeout: " + shell_command(*outwait_words(*reach)) + options,
            timeout_seconds=blocked.timeout_seconds,
        ) from blocked
    return dump


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("file", required=False, metavar="FILE")
@source_options
@click.option(
    "-o",
    "--output",
    "output",
    metavar="[text|gzip]",
    help="The dump's format: text, or gzip (default: gzip when FILE ends in .gz, else text).",
)
@click.option("--force", is_flag=True, help="Replace FILE (or a numbered file) if it exists.")
@click.option(
    "--count", type=click.IntRange(min=1), default=1, show_default=True, help="Dumps to take."
)
@window_option("Time between dumps (with --count).", default="30s")
@deprecated_alias("--every", "--window", "old_every", type=Duration())
@common_options
def capture(
    file: str | None,
    output: str | None,
    force: bool,
    count: int,
    window: float,
    old_every: float | None,
    debug: bool,
    **source: Any,
) -> None:
    """Save the kubelet's /metrics with a capture header, for a later diagnose.

    FILE is where the dump goes (- for standard output); a name ending in .gz is compressed.
    An existing FILE is never overwritten without --force. The first line records when (the
    kubelet's own clock, from its HTTP Date header) and from where the dump was taken. With
    --count N, the files are numbered (a-001.prom, a-002.prom...) and
    `pleg-doctor diagnose a-*.prom` diagnoses the window they span.

    \b
    Example:
      pleg-doctor capture --node worker-3 worker-3.prom.gz
      pleg-doctor capture --kubelet 10.0.0.7 --kubelet-token-file t w3.prom --count 3 --window 30s
      pleg-doctor capture --node worker-3 - | gzip > worker-3.prom.gz
    """
    console.setup_logging(debug)
    every = aliased(
        click.get_current_context(), "window", "old_every", flags=("--window", "--every")
    )
    target, fmt = destination(file, output)
    if target == "-" and count > 1:
        raise UsageError(f"--count {count} writes {count} numbered files: give a FILE name, not -")
    paths = [capture_path(target, index, count) for index in range(count)]
    existing = [path for path in paths if path != "-" and Path(path).exists()]
    if existing and not force:
        raise UsageError(f"{existing[0]} exists: pass --force to replace it, or give another FILE")
    options = source_options_from((), False, source)
    (live,) = pipeline.build_sources(options, live_only=True)
    compress = None if fmt is None else fmt == "gzip"
    for index, path in enumerate(paths):
        if index:
            pipeline.wait(every, f"dump {index + 1} of {count}")
        dump = fetch(live, path, via=options)
        if path == "-":
            data = capture_data(dump, compress=bool(compress))
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            continue
        written = write_capture(dump, path, compress=compress)
        sys.stderr.write(f"pleg-doctor: wrote {written}\n")
    sys.exit(0)
