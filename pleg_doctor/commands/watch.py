"""`watch`: scrape every interval, diagnose the window since the previous scrape, show it.

On a terminal the rich screen updates in place; elsewhere one plain line per refresh goes to
stdout (logs, pipes). A failed scrape after the first is shown and retried at the next interval,
since a live view should ride out one timeout; Ctrl-C ends it cleanly.
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
    common_options,
    runtime_timeout_option,
    source_options,
    source_options_from,
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
    sleep: Callable[[float], None] = time.sleep,
) -> list[Report]:
    """Run the loop; returns the reports (for tests). `console` overrides the rich console."""
    from pleg_doctor.sources.scrape import snapshot_from_dump

    stream = out or sys.stdout
    if plain is None:
        plain = not (hasattr(stream, "isatty") and stream.isatty())
    previous = snapshot_from_dump(source.fetch())
    history: list[Report] = []
    live: Live | None = None
    if not plain:
        from rich.live import Live
        from rich.text import Text

        from pleg_doctor.render.table import SafeConsole

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
            _show(history, interval, live, stream, console)
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
@click.option(
    "--interval", type=Duration(), default="5s", show_default=True, help="Time between scrapes."
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    help="Stop after this many refreshes (default: until Ctrl-C).",
)
@runtime_timeout_option
@common_options
def watch(
    interval: float, count: int | None, runtime_request_timeout: float, debug: bool, **source: Any
) -> None:
    """Live view: re-scrape every --interval, show headroom, relist trend, latency, top cause.

    Each refresh diagnoses the window since the previous scrape. On a terminal the screen
    updates in place; otherwise one line per refresh is printed (for logs and pipes).

    \b
    Example:
      pleg-doctor watch --node worker-3
      pleg-doctor watch --kubelet 127.0.0.1 --client-cert c.crt --client-key c.key --interval 2s
    """
    cli_console.setup_logging(debug)
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
    )
    sys.exit(0)
