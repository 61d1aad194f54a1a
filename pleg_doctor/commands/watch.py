"""`watch`: scrape every interval, diagnose the window since the previous scrape, show it.

On a terminal the rich screen updates in place; elsewhere one plain line per refresh goes to
stdout (logs, pipes). `-o json` prints one pleg-doctor/v1 object per refresh, one per line (JSON
Lines), and `-o yaml` one YAML document per refresh (`---` between them), for a program to follow
(docs/output.md#watch). A failed scrape after the first is shown (on stderr outside the screen)
and retried at the next interval, since a live view should ride out one timeout; Ctrl-C ends it
cleanly. A `/metrics` that does not answer while the kubelet's `/healthz` does is no failure but
evidence (a hung runtime holds it): that refresh is the blocked-scrape report `diagnose` gives,
shown like any other, and the watch goes on.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO, cast

import click

from pleg_doctor.commands import console as cli_console
from pleg_doctor.commands import pipeline
from pleg_doctor.commands.options import (
    CONTEXT_SETTINGS,
    Duration,
    aliased,
    common_options,
    deprecated_alias,
    output_format_option,
    runtime_timeout_option,
    source_options,
    source_options_from,
    window_option,
)
from pleg_doctor.errors import SourceError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

    from pleg_doctor.core.endpoints import ScrapeFacts
    from pleg_doctor.core.report import Report
    from pleg_doctor.core.snapshot import Snapshot
    from pleg_doctor.sources.base import MetricsSource
    from pleg_doctor.sources.live import MetricsBlocked


def run_watch(
    source: MetricsSource,
    *,
    interval: float,
    count: int | None,
    runtime_request_timeout: float,
    diagnose_pair: Callable[[Sequence[Snapshot], ScrapeFacts | None], Report],
    blocked: Callable[[MetricsBlocked, str | None], Report] | None = None,
    out: TextIO | None = None,
    console: Console | None = None,
    plain: bool | None = None,
    output: str = "table",
    sleep: Callable[[float], None] = time.sleep,
) -> list[Report]:
    """Run the loop; returns the reports (for tests). `console` overrides the rich console.

    `output` `table` is the screen (or plain lines when `plain`, by default when `out` is not a
    terminal); `json` and `yaml` print every refresh's document. `diagnose_pair` diagnoses two
    scrapes with how the endpoints answered the last; `blocked` turns a `/metrics` that did not
    answer while `/healthz` did (`MetricsBlocked`) into that refresh's report, given the node's
    name the earlier scrapes knew. A blocked refresh is shown and the watch goes on: the next
    refresh may answer (it is diagnosed against the last scrape that did).
    """
    from pleg_doctor.sources.live import MetricsBlocked

    stream = out or sys.stdout
    if output != "table":
        plain = True
    elif plain is None:
        plain = not (hasattr(stream, "isatty") and stream.isatty())
    history: list[Report] = []
    live: Live | None = None
    previous: Snapshot | None = None
    try:
        while previous is None:  # the first scrape that answers: what the refreshes start from
            first = _scrape(source)
            if not isinstance(first, MetricsBlocked):
                previous = first[0]
                break
            if blocked is None:
                raise first
            live = _start(live, plain, stream, console)
            history.append(blocked(first, None))
            _refreshed(history, interval, output, live, stream)
            if count is not None and len(history) >= count:
                return history
            sleep(interval)
        live = _start(live, plain, stream, console)
        if live is not None and not history:
            from rich.text import Text

            live.update(Text(f"first scrape done; next in {interval:g} s"), refresh=True)
        while count is None or len(history) < count:
            sleep(interval)
            try:
                scraped = _scrape(source)
            except SourceError as exc:
                _show_error(str(exc), live, stream)
                continue
            if not isinstance(scraped, MetricsBlocked):
                current, facts = scraped
                history.append(diagnose_pair([previous, current], facts))
                previous = current
            elif blocked is not None:
                history.append(blocked(scraped, previous.node))
            else:
                _show_error(str(scraped), live, stream)
                continue
            _refreshed(history, interval, output, live, stream)
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            live.stop()
    return history


def _scrape(source: MetricsSource) -> tuple[Snapshot, ScrapeFacts | None] | MetricsBlocked:
    """One scrape; a live source through `fetch_live`, whose `/healthz` is asked when
    `/metrics` does not answer in `--timeout`: `MetricsBlocked` (returned, it is a refresh to
    show) when the kubelet answers that. Other failures raise their `SourceError`."""
    from pleg_doctor.sources.live import LiveSource, MetricsBlocked, fetch_live, is_live
    from pleg_doctor.sources.scrape import snapshot_from_dump

    if not is_live(source):
        return snapshot_from_dump(source.fetch()), None
    try:
        dump, facts = fetch_live(cast("LiveSource", source))
    except MetricsBlocked as blocked:
        return blocked
    return snapshot_from_dump(dump), facts


def _start(live: Live | None, plain: bool, stream: TextIO, console: Console | None) -> Live | None:
    """The live screen, started once (None for plain output)."""
    if plain or live is not None:
        return live
    from rich.live import Live

    from pleg_doctor.render.text import SafeConsole

    screen = console or SafeConsole(file=stream)
    started = Live(console=screen, auto_refresh=False, transient=False)
    started.start()
    return started


def _refreshed(
    history: list[Report], interval: float, output: str, live: Live | None, stream: TextIO
) -> None:
    if output == "table":
        _show(history, interval, live, stream)
    else:
        _show_document(history[-1], output, stream)


def _show(history: list[Report], interval: float, live: Live | None, stream: TextIO) -> None:
    if live is None:
        from pleg_doctor.render.watch import watch_line

        stream.write(watch_line(history[-1]) + "\n")
        stream.flush()
        return
    from pleg_doctor.render.watch import watch_renderable

    live.update(watch_renderable(history, interval_seconds=interval), refresh=True)


def _show_document(report: Report, output: str, stream: TextIO) -> None:
    """One refresh as a document: a JSON line, or a YAML document after `---`."""
    from pleg_doctor.commands.console import encodes_unicode
    from pleg_doctor.render.document import json_line, yaml_text

    ascii_only = not encodes_unicode(stream)
    if output == "json":
        stream.write(json_line(report.to_dict(), ascii_only=ascii_only))
    else:
        stream.write("---\n" + yaml_text(report.to_dict(), ascii_only=ascii_only))
    stream.flush()


def _show_error(message: str, live: Live | None, stream: TextIO) -> None:
    first = message.splitlines()[0]
    if live is None:
        sys.stderr.write(f"pleg-doctor: scrape failed, retrying: {first}\n")
        return
    from rich.text import Text

    live.update(
        Text(f"scrape failed, retrying at the next interval: {first}", style="red"), refresh=True
    )


@click.command(context_settings=CONTEXT_SETTINGS)
@source_options
@window_option("Time between scrapes: each refresh diagnoses this window.", default="5s")
@deprecated_alias("--interval", "--window", "old_interval", type=Duration())
@click.option(
    "--count",
    type=click.IntRange(min=1),
    help="Stop after this many refreshes (default: until Ctrl-C).",
)
@runtime_timeout_option
@output_format_option(
    "table: the live screen (plain lines when not a terminal); json: one pleg-doctor/v1 object "
    "per refresh, one per line (JSON Lines); yaml: one YAML document per refresh."
)
@common_options
def watch(
    window: float,
    old_interval: float | None,
    count: int | None,
    runtime_request_timeout: float,
    output: str,
    debug: bool,
    **source: Any,
) -> None:
    """Live view: re-scrape every --window, show headroom, relist trend, latency, top cause.

    Each refresh diagnoses the window since the previous scrape. On a terminal the screen
    updates in place; otherwise one line per refresh is printed (for logs and pipes). With -o
    json each refresh is one JSON object on one line, for jq or a program to follow.

    \b
    Example:
      pleg-doctor watch --node worker-3
      pleg-doctor watch --kubelet 127.0.0.1 --client-cert c.crt --client-key c.key --window 2s
      pleg-doctor watch --node worker-3 -o json | jq -c '{verdict, headroom_seconds}'
    """
    cli_console.setup_logging(debug)
    interval = aliased(
        click.get_current_context(), "window", "old_interval", flags=("--window", "--interval")
    )
    options = source_options_from((), False, source)
    (live,) = pipeline.build_sources(options, live_only=True)
    run_watch(
        live,
        interval=interval,
        count=count,
        runtime_request_timeout=runtime_request_timeout,
        diagnose_pair=lambda snaps, facts: pipeline.diagnose_snapshots(
            snaps,
            [live],
            runtime_request_timeout=runtime_request_timeout,
            select=(),
            ignore=(),
            scrape=facts,
        ),
        blocked=lambda blocked, node: pipeline.blocked_report(
            blocked,
            [live],
            runtime_request_timeout=runtime_request_timeout,
            select=(),
            ignore=(),
            node_view=pipeline.node_view_reader(options),
            node=node,
        ),
        output=output,
    )
    sys.exit(0)
