"""`watch`: scrape every interval, diagnose the window since the previous scrape, show it.

On a terminal the rich screen updates in place; elsewhere one plain line per refresh goes to
stdout (logs, pipes). `-o json` prints one pleg-doctor/v1 object per refresh, one per line (JSON
Lines), and `-o yaml` one YAML document per refresh (`---` between them), for a program to follow
(docs/output.md#watch). A failed scrape after the first is shown (on stderr outside the screen)
and retried at the next interval, since a live view should ride out one timeout; Ctrl-C ends it
cleanly.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

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

    from pleg_doctor.core.report import Report
    from pleg_doctor.core.snapshot import Snapshot
    from pleg_doctor.sources.base import MetricsSource


def run_watch(
    source: MetricsSource,
    *,
    interval: float,
    count: int | None,
    runtime_request_timeout: float,
    diagnose_pair: Callable[[Sequence[Snapshot]], Report],
    out: TextIO | None = None,
    console: Console | None = None,
    plain: bool | None = None,
    output: str = "table",
    sleep: Callable[[float], None] = time.sleep,
) -> list[Report]:
    """Run the loop; returns the reports (for tests). `console` overrides the rich console.

    `output` `table` is the screen (or plain lines when `plain`, by default when `out` is not a
    terminal); `json` and `yaml` print every refresh's document.
    """
    from pleg_doctor.sources.scrape import snapshot_from_dump

    stream = out or sys.stdout
    if output != "table":
        plain = True
    elif plain is None:
        plain = not (hasattr(stream, "isatty") and stream.isatty())
    previous = snapshot_from_dump(source.fetch())
    history: list[Report] = []
    live: Live | None = None
    if not plain:
        from rich.live import Live
        from rich.text import Text

        from pleg_doctor.render.text import SafeConsole

        screen = console or SafeConsole(file=stream)
        live = Live(
            Text(f"first scrape done; next in {interval:g} s"),
            console=screen,
            auto_refresh=False,
            transient=False,
        )
        live.start()
    try:
        while count is None or len(history) < count:
            sleep(interval)
            try:
                current = snapshot_from_dump(source.fetch())
            except SourceError as exc:
                _show_error(str(exc), live, stream)
                continue
            report = diagnose_pair([previous, current])
            previous = current
            history.append(report)
            if output == "table":
                _show(history, interval, live, stream, console)
            else:
                _show_document(report, output, stream)
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            live.stop()
    return history


def _show(
    history: list[Report],
    interval: float,
    live: Live | None,
    stream: TextIO,
    console: Console | None,
) -> None:
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
        diagnose_pair=lambda snaps: pipeline.diagnose_snapshots(
            snaps, [live], runtime_request_timeout=runtime_request_timeout, select=(), ignore=()
        ),
        output=output,
    )
    sys.exit(0)
