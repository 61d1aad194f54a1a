"""`scan`: every node of a cluster through the API server, ranked like `fleet`, no Prometheus needed."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from pleg_doctor.commands import console, pipeline
from pleg_doctor.commands.options import (
    CONTEXT_SETTINGS,
    Duration,
    cause_options,
    common_options,
    exit_zero_option,
    output_format_option,
    top_option,
)

if TYPE_CHECKING:
    from pleg_doctor.core.scan import ScanNode
    from pleg_doctor.sources.scan import ApiServerScan, NodeScrape


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option("--kubeconfig", metavar="FILE", help="Kubeconfig (else KUBECONFIG, ~/.kube/config).")
@click.option("--context", metavar="NAME", help="Kubeconfig context.")
@click.option(
    "-l",
    "--selector",
    metavar="SELECTOR",
    help="Label selector of the nodes to scan, as kubectl's (e.g. 'node-role.kubernetes.io/worker').",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=256),
    default=16,
    show_default=True,
    help="Scrapes in flight at once.",
)
@click.option(
    "--timeout",
    type=Duration(),
    default="10s",
    show_default=True,
    help="Deadline of one node's scrape. A /metrics that outlasts it while the kubelet's /healthz "
    "answers is listed as blocked (a hung runtime blocks it for the 2-minute CRI timeout).",
)
@click.option(
    "--window",
    type=Duration(),
    help="Scrape every node twice this far apart (e.g. 30s) and diagnose the window between: "
    "rates now instead of lifetime counters.",
)
@top_option
@output_format_option(
    "Report format: a readable table, or the scan document (pleg-doctor schema scan-v1: fleet's "
    "shape with the API server and the scrape outcomes) as JSON or YAML."
)
@cause_options
@exit_zero_option
@common_options
def scan(
    kubeconfig: str | None,
    context: str | None,
    selector: str | None,
    concurrency: int,
    timeout: float,
    window: float | None,
    top: int | None,
    output: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    runtime_request_timeout: float,
    exit_zero: bool,
    debug: bool,
) -> None:
    """Every node of a cluster through the API server, ranked by PLEG headroom: no Prometheus.

    Lists the nodes (RBAC list nodes), scrapes each kubelet's /metrics through the API server's
    node proxy (RBAC get nodes/proxy), --concurrency at a time, each within --timeout, then runs
    the model and causes of diagnose on each and ranks them like fleet (same table and JSON). No
    node is dropped: a scrape refused, failed or blocked is listed as unknown with the reason. A
    progress bar goes to stderr on a terminal. Exit code: the worst node's verdict.

    \b
    Example:
      pleg-doctor scan
      pleg-doctor scan --context prod -l node-role.kubernetes.io/worker --window 30s --top 20
      pleg-doctor scan --concurrency 32 --timeout 20s -o json > scan.json
    """
    console.setup_logging(debug)
    from pleg_doctor.core.scan import diagnose_scan
    from pleg_doctor.render.fleet import render_scan_table
    from pleg_doctor.sources.scan import ApiServerScan

    source = ApiServerScan(
        kubeconfig=kubeconfig,
        context=context,
        selector=selector,
        timeout=timeout,
        concurrency=concurrency,
    )
    if source.must_warn_insecure:
        console.warn(
            f"TLS verification is off for {source.location}: anyone on the path can impersonate it"
        )
    names = source.list_nodes()
    if not names:
        from pleg_doctor.errors import SourceError

        where = f"matches --selector {source.selector!r}" if source.selector else "is listed"
        raise SourceError(f"no node {where} by API server {source.location}")
    nodes = scan_passes(source, names, window=window)
    report = diagnose_scan(
        nodes,
        apiserver=source.location,
        selector=source.selector,
        scanned_at=time.time(),
        window_seconds=window,
        runtime_request_timeout_seconds=runtime_request_timeout,
        select=select or None,
        ignore=ignore,
    )
    via = [
        *(("--kubeconfig", kubeconfig) if kubeconfig else ()),
        *(("--context", context) if context else ()),
    ]
    pipeline.emit_ranked(
        report,
        output=output,
        top=top,
        exit_zero=exit_zero,
        table=functools.partial(render_scan_table, via=via),
    )


def scan_passes(
    source: ApiServerScan, names: Sequence[str], *, window: float | None
) -> list[ScanNode]:
    """One pass, or two `window` apart (from the start of one to the start of the next), then
    each node from what its scrapes gave."""
    from pleg_doctor.core.scan import scanned_node

    started = time.monotonic()
    with progress_bar(len(names), "scraping kubelets") as advance:
        first = source.scrape(names, on_scraped=advance)
    last = first
    if window is not None:
        left = window - (time.monotonic() - started)
        if left > 0:
            pipeline.wait(left, "second pass")
        with progress_bar(len(names), "second pass") as advance:
            last = source.scrape(names, on_scraped=advance)
    scanned_at = time.time()
    nodes = []
    for index, scrape in enumerate(last):
        earlier = first[index] if window is not None else None
        snapshots = [s.snapshot for s in (earlier, scrape) if s is not None and s.snapshot]
        nodes.append(
            scanned_node(
                node=scrape.node,
                location=scrape.location,
                snapshots=snapshots,
                outcome=scrape.outcome,
                scanned_at=scanned_at,
                problem=scrape.problem,
                scrape=scrape.facts,
            )
        )
    return nodes


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[NodeScrape], None]]:
    """A progress bar of `total` scrapes on stderr when it is a terminal (rich, gone when done);
    nothing otherwise, so cron mail and CI logs carry only the report."""
    if not sys.stderr.isatty():
        yield lambda scrape: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pleg_doctor.render.text import SafeConsole

    counts: dict[str, int] = {}
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=SafeConsole(stderr=True, no_color=not console.wants_color(sys.stderr)),
        transient=True,
    ) as progress:
        task = progress.add_task("scan", total=total, status="")

        def advance(scrape: NodeScrape) -> None:
            if scrape.outcome != "ok":
                counts[scrape.outcome] = counts.get(scrape.outcome, 0) + 1
            status = " · ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
            progress.update(task, advance=1, status=status)

        yield advance
