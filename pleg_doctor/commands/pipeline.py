"""The steps diagnose, check, watch and capture share: sources, scrapes, diagnosis, output.

`build_sources` turns the source options into sources (warning when TLS verification is off),
`scrape` fetches and parses them, `wait` sleeps between two scrapes with a countdown,
`diagnose_snapshots` runs the core on what was scraped, and `emit` prints the report in the
chosen format. The layers they call are imported inside the functions, so importing this module
costs nothing a command does not use.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn, cast

from pleg_doctor.commands import console

if TYPE_CHECKING:
    from pleg_doctor.core.endpoints import ScrapeFacts
    from pleg_doctor.core.fleet import FleetReport
    from pleg_doctor.core.report import Report
    from pleg_doctor.core.scan import ScanReport
    from pleg_doctor.core.snapshot import Snapshot
    from pleg_doctor.sources.base import MetricsSource
    from pleg_doctor.sources.live import MetricsBlocked
    from pleg_doctor.sources.nodestatus import NodeView
    from pleg_doctor.sources.options import SourceOptions


def build_sources(options: SourceOptions, *, live_only: bool = False) -> list[MetricsSource]:
    """The sources the options name; a warning on stderr for each that skips TLS verification."""
    from pleg_doctor.sources.options import build_sources as build

    sources = build(options, live_only=live_only)
    for source in sources:
        if source.must_warn_insecure:
            console.warn(
                f"TLS verification is off for {source.location}: anyone on the path can impersonate it"
            )
    return sources


def scrape(
    sources: Sequence[MetricsSource], *, window: float | None, at: dt.datetime | None
) -> list[Snapshot]:
    """Fetch and parse: every file once, or a live source once or twice `window` apart."""
    from pleg_doctor.sources.scrape import snapshot_from_dump

    snapshots = [snapshot_from_dump(source.fetch(), at=at) for source in sources]
    if window is not None:
        wait(window, f"second scrape of {sources[0].location}")
        snapshots.append(snapshot_from_dump(sources[0].fetch()))
    return snapshots


def scrape_live(
    sources: Sequence[MetricsSource],
    *,
    window: float | None,
    at: dt.datetime | None,
    patience: float | None,
    progress: bool = False,
) -> tuple[list[Snapshot], ScrapeFacts | None]:
    """`scrape`, with a live source waited on up to `patience` seconds for `/metrics`.

    Returns how the endpoints answered the last scrape too (None for files). Raises
    `MetricsBlocked` when `/metrics` did not answer while `/healthz` did; with `progress`, a
    long wait says on stderr what it is waiting for.
    """
    from pleg_doctor.sources.live import LiveSource, fetch_live, is_live
    from pleg_doctor.sources.scrape import snapshot_from_dump

    if not is_live(sources[0]):
        return scrape(sources, window=window, at=at), None
    source = cast("LiveSource", sources[0])
    say = console.progress if progress else None
    dump, facts = fetch_live(source, patience=patience, progress=say)
    snapshots = [snapshot_from_dump(dump, at=at)]
    if window is not None:
        wait(window, f"second scrape of {source.location}")
        dump, facts = fetch_live(source, patience=patience, progress=say)
        snapshots.append(snapshot_from_dump(dump))
    return snapshots, facts


def blocked_report(
    blocked: MetricsBlocked,
    sources: Sequence[MetricsSource],
    *,
    runtime_request_timeout: float,
    select: Sequence[str],
    ignore: Sequence[str],
    node_view: Callable[[], NodeView | None] | None = None,
    node: str | None = None,
) -> Report:
    """The report of a `/metrics` that did not answer while the kubelet did.

    `node_view` reads the Node's Ready condition (`--node`): "PLEG is not healthy" there makes
    the verdict critical; without it the verdict is unknown, with the likely cause named.
    `node` names the node when the source does not (`watch`: what its earlier scrapes said).
    """
    import dataclasses

    from pleg_doctor.core.report import SourceInfo
    from pleg_doctor.core.report import blocked_report as build

    facts = blocked.facts
    view = node_view() if node_view is not None else None
    if view is not None and view.ready is not None:
        facts = dataclasses.replace(
            facts, node_ready=view.ready.status, node_message=view.ready.message
        )
    source = sources[-1]
    named = getattr(source, "node", None)
    probe = blocked.probe
    return build(
        source=SourceInfo(kind=source.kind, location=source.location),
        node=named if isinstance(named, str) else node,
        scrape=facts,
        captured_at=probe.captured_at.timestamp() if probe.captured_at is not None else None,
        runtime_request_timeout_seconds=runtime_request_timeout,
        select=select or None,
        ignore=ignore,
    )


def node_view_reader(
    options: SourceOptions, *, timeout: float | None = None
) -> Callable[[], NodeView | None] | None:
    """With `--node`: a reader of the Node's Ready condition that never fails the diagnosis;
    each request within `timeout` seconds (default `--timeout`)."""
    node = options.node
    if node is None:
        return None

    def read() -> NodeView | None:
        from pleg_doctor.errors import SourceError, UsageError
        from pleg_doctor.sources.nodestatus import fetch_node_view

        try:
            return fetch_node_view(
                node,
                kubeconfig=options.kubeconfig,
                context=options.context,
                timeout=options.timeout if timeout is None else timeout,
            )
        except (SourceError, UsageError):
            return None

    return read


def wait(seconds: float, what: str) -> None:
    """Sleep `seconds`, with a countdown on stderr when it is a terminal (one line otherwise)."""
    import time

    if not sys.stderr.isatty():
        sys.stderr.write(f"pleg-doctor: waiting {seconds:g} s for the {what}\n")
        time.sleep(seconds)
        return
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        sys.stderr.write(f"\rpleg-doctor: {left:4.0f} s until the {what} ")
        sys.stderr.flush()
        time.sleep(min(1.0, left))
    sys.stderr.write("\r" + " " * 70 + "\r")


def diagnose_snapshots(
    snapshots: Sequence[Snapshot],
    sources: Sequence[MetricsSource],
    *,
    runtime_request_timeout: float,
    select: Sequence[str],
    ignore: Sequence[str],
    scrape: ScrapeFacts | None = None,
) -> Report:
    """The core's report on the window the snapshots span, naming the sources it came from.

    `scrape` is how the live endpoints answered the last scrape (`scrape_live`).
    """
    from pleg_doctor.core.report import SourceInfo, diagnose
    from pleg_doctor.core.window import window_from_snapshots

    window = window_from_snapshots(snapshots)
    return diagnose(
        window,
        source=SourceInfo(
            kind=sources[0].kind,
            location=" ".join(s.location for s in sources),
            locations=tuple(s.location for s in sources),
        ),
        runtime_request_timeout_seconds=runtime_request_timeout,
        select=select or None,
        ignore=ignore,
        scrape=scrape,
    )


def emit(report: Report, output: str) -> None:
    """Print `report` on stdout as `output` (`table`, `json` or `yaml`); colour only on a
    terminal, Unicode escaped in documents when stdout cannot encode it."""
    from pleg_doctor.render import OutputFormat

    fmt = OutputFormat(output)
    color = fmt is OutputFormat.TABLE and console.wants_color(sys.stdout)
    width = console.terminal_width(sys.stdout) if fmt is OutputFormat.TABLE else None
    renderer = fmt.to_renderer(
        color=color, width=width, ascii_only=not console.encodes_unicode(sys.stdout)
    )
    sys.stdout.write(renderer(report))
    sys.stdout.flush()


def emit_ranked(
    report: FleetReport | ScanReport,
    *,
    output: str,
    top: int | None,
    exit_zero: bool,
    table: Callable[..., str],
    write_json: Callable[..., None] | None = None,
) -> NoReturn:
    """Print a ranked report (`fleet`, `scan`) as its JSON or YAML document, or with `table`
    (colour only on a terminal), then exit with the worst node's verdict (0 with `exit_zero`,
    unless nothing could be judged: 3). `write_json(report, stream, top=, ascii_only=)`, when
    given, writes the JSON document itself (fleet streams it a node at a time)."""
    from pleg_doctor.exitcodes import ExitCode

    if output == "table":
        color = console.wants_color(sys.stdout)
        sys.stdout.write(
            table(report, top=top, color=color, width=console.terminal_width(sys.stdout))
        )
        sys.stdout.flush()
    elif output == "json" and write_json is not None:
        write_json(report, sys.stdout, top=top, ascii_only=not console.encodes_unicode(sys.stdout))
        sys.stdout.flush()
    else:
        console.write_document(report.to_dict(top=top), output)
    code = report.exit_code
    sys.exit(0 if exit_zero and code != ExitCode.UNKNOWN else code)
