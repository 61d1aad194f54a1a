"""`diagnose`: the full report for one node, from dumps or a live source.

With `--logs`/`--journal` the kubelet log's culprits join the causes; with `--node` the Node's
Ready condition and events join the notes.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from pleg_doctor.commands import console, pipeline
from pleg_doctor.commands.options import (
    CONTEXT_SETTINGS,
    Timestamp,
    check_journal_options,
    common_options,
    journal_options,
    metrics_timeout_option,
    output_options,
    source_options,
    source_options_from,
    window_option,
)
from pleg_doctor.errors import UsageError
from pleg_doctor.exitcodes import ExitCode

if TYPE_CHECKING:
    from pleg_doctor.core.report import Report
    from pleg_doctor.logs.result import LogsResult
    from pleg_doctor.sources.nodestatus import NodeView


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("files", nargs=-1, metavar="[FILE|NODE]...")
@click.option("--demo", is_flag=True, help="Diagnose a bundled real kubelet dump (v1.21.2, EKS).")
@source_options
@window_option("With a live source: two scrapes this far apart (e.g. 30s), diagnosed as a window.")
@click.option(
    "--at",
    type=Timestamp(),
    help="Capture time of a dump that has no capture header (RFC 3339 or Unix seconds).",
)
@metrics_timeout_option("130s")
@output_options
@click.option(
    "--explain",
    is_flag=True,
    help="Also show the model's arithmetic: each term, its formula and the metrics it came from.",
)
@click.option(
    "--logs",
    "log_files",
    multiple=True,
    metavar="FILE",
    help="Kubelet log (journalctl output, klog, .gz; repeatable): its culprits join the causes.",
)
@journal_options
@click.option(
    "--exit-zero", is_flag=True, help="Exit 0 whatever the verdict (scripts that want JSON)."
)
@common_options
def diagnose(
    files: tuple[str, ...],
    demo: bool,
    window: float | None,
    at: dt.datetime | None,
    metrics_timeout: float,
    output: str,
    explain: bool,
    log_files: tuple[str, ...],
    journal: bool,
    since: str | None,
    unit: str | None,
    journal_timeout: float,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    runtime_request_timeout: float,
    exit_zero: bool,
    debug: bool,
    **source: Any,
) -> None:
    """Full report for one node: verdict, headroom, relist figures, ranked causes.

    FILE is a saved kubelet /metrics dump (text or OpenMetrics, .gz ok, - for stdin). Two or
    more dumps of one node are diagnosed as a window between the earliest and the latest. A live
    source (--kubelet, --node) is scraped once (lifetime counters) or, with --window, twice. A
    NODE that is no file here is read as --node NODE (`kubectl pleg-doctor diagnose NODE`).

    \b
    Example:
      pleg-doctor diagnose --demo
      pleg-doctor diagnose a.prom b.prom            # two dumps = a window
      pleg-doctor diagnose --node worker-3 --window 30s
      pleg-doctor diagnose --kubelet 10.0.0.7 --kubelet-token-file /var/run/secrets/token -o json
    """
    console.setup_logging(debug)
    check_journal_options(journal=journal, since=since, unit=unit)
    options = source_options_from(files, demo, source)
    sources = pipeline.build_sources(options)
    if at is not None and (len(sources) > 1 or options.is_live):
        raise UsageError("--at applies to a single saved dump without a capture header")
    if window is not None and not options.is_live:
        raise UsageError(
            "--window needs a live source (--kubelet or --node); for dumps give two files"
        )
    from pleg_doctor.sources.live import MetricsBlocked

    try:
        snapshots, facts = pipeline.scrape_live(
            sources, window=window, at=at, patience=metrics_timeout, progress=True
        )
    except MetricsBlocked as blocked:
        # /metrics never answered while the kubelet did: that is the evidence to report.
        report = pipeline.blocked_report(
            blocked,
            sources,
            runtime_request_timeout=runtime_request_timeout,
            select=select,
            ignore=ignore,
            node_view=pipeline.node_view_reader(options),
        )
    else:
        report = pipeline.diagnose_snapshots(
            snapshots,
            sources,
            runtime_request_timeout=runtime_request_timeout,
            select=select,
            ignore=ignore,
            scrape=facts,
        )
    if log_files or journal:
        report = with_kubelet_log(
            report,
            log_files,
            journal=journal,
            since=since or "-2h",
            unit=unit or "kubelet",
            journal_timeout=journal_timeout,
        )
    if options.node is not None:
        report = with_node_view(
            report,
            node=options.node,
            kubeconfig=options.kubeconfig,
            context=options.context,
            timeout=options.timeout,
        )
    pipeline.emit(report, output)
    if explain and output == "table":
        from pleg_doctor.render.model import render_explain

        sys.stdout.write(
            render_explain(
                report,
                color=console.wants_color(sys.stdout),
                width=console.terminal_width(sys.stdout),
            )
        )
    if report.verdict == "unknown":
        for reason in report.reasons:
            console.error(reason)
    code = ExitCode.UNKNOWN if report.verdict == "unknown" else report.exit_code
    sys.exit(0 if exit_zero and code != ExitCode.UNKNOWN else int(code))


def with_kubelet_log(
    report: Report,
    files: Sequence[str],
    *,
    journal: bool,
    since: str = "-2h",
    unit: str = "kubelet",
    journal_timeout: float = 60.0,
) -> Report:
    """The report with the kubelet log (`--logs FILE...` or `--journal`) joined in.

    klog and journald print no year: it is assumed so that no line falls after the report's
    capture time (else now); `join_kubelet_log` does the joining.
    """
    from pleg_doctor.logs import JournalReader, LogReader, analyze_logs

    if journal and files:
        raise UsageError("give --logs FILE or --journal, not both")
    reader: JournalReader | LogReader
    if journal:
        reader = JournalReader(unit=unit, since=since, timeout=journal_timeout)
    else:
        reader = LogReader(list(files))
        reader.check()
    captured = report.window.last.captured_at
    reference = (
        dt.datetime.fromtimestamp(captured, tz=dt.timezone.utc)
        if captured is not None
        else dt.datetime.now().astimezone()
    )
    result = analyze_logs(reader, default_year=reference.year, not_after=reference)
    return join_kubelet_log(report, result)


def join_kubelet_log(report: Report, result: LogsResult) -> Report:
    """The report with the kubelet log's culprits merged into its causes.

    The log names what metrics cannot: which container or sandbox hangs its status calls. Its
    findings join the metric findings of the same cause id (`logs.merge_findings`); the verdict
    stays the metrics' own, and the notes say what the log showed.
    """
    import dataclasses

    from pleg_doctor.logs import culprit_findings, log_mismatch, merge_findings, time_notes

    window = report.window
    start = (window.first or window.last).captured_at
    if window.is_lifetime:
        start = window.last.process_start_seconds or start
    mismatch = log_mismatch(result, node=report.node, start=start, end=window.last.captured_at)
    if mismatch is not None:
        # Another host's or another time's culprits must not become this node's causes; how
        # its times were read (an assumed year) stays, since it may be why they do not meet.
        console.warn(f"kubelet log not joined: {mismatch}")
        return dataclasses.replace(
            report,
            notes=(
                *report.notes,
                f"warning: kubelet log not joined: {mismatch}; its culprits are not this report's",
                *(f"kubelet log: {note}" for note in time_notes(result.notes)),
            ),
        )
    periods = result.unhealthy_periods
    summary = (
        f"kubelet log ({result.lines_read:,} lines, {result.kubelet_lines:,} from the kubelet): "
        f"{len(periods)} PLEG-unhealthy period(s), {result.not_ready_transitions} NotReady "
        f"transition(s), {len(result.culprits)} culprit(s)"
    )
    if result.culprits:
        top = result.culprits[0]
        summary += f"; most errors: {top.kind} {top.pod or (top.id or '')[:13]} ({top.operation})"
    return dataclasses.replace(
        report,
        causes=merge_findings(report.causes, culprit_findings(result)),
        notes=(*report.notes, summary, *(f"kubelet log: {n}" for n in result.notes[:5])),
    )


def with_node_view(
    report: Report, *, node: str, kubeconfig: str | None, context: str | None, timeout: float
) -> Report:
    """The report with what the control plane saw: the Node's Ready condition and events.

    Reading them (through the kubeconfig and context that `--node` used) needs `get nodes` and
    `list events`; when that fails the report says so in a note instead of failing the whole
    diagnosis (the metrics already answered).
    """
    import dataclasses

    from pleg_doctor.errors import SourceError
    from pleg_doctor.sources.nodestatus import fetch_node_view

    try:
        view = fetch_node_view(node, kubeconfig=kubeconfig, context=context, timeout=timeout)
    except (SourceError, UsageError) as exc:
        return dataclasses.replace(
            report, notes=(*report.notes, f"Node condition not read: {exc.message}")
        )
    return join_node_view(report, view)


def join_node_view(report: Report, view: NodeView) -> Report:
    """The report with the Node's Ready condition and events added to its notes."""
    import dataclasses

    from pleg_doctor.sources.nodestatus import node_evidence

    lines = tuple(f"control plane: {e.metric} = {e.value}: {e.note}" for e in node_evidence(view))
    return dataclasses.replace(report, notes=(*report.notes, *lines, *view.notes))
