"""`pleg-doctor fleet` and `scan`: the ranked node table (rich) and the fleet JSON.

The table is what an operator scans during an incident: one row per node, worst first (the
ranking is already decided in `fleet.rank_reports`; nothing is re-sorted here), with the verdict,
the headroom, the relist p99 the kubernetes-mixin alerts on, the top cause with its score, and
the pods; above it, where the data came from and the counts by verdict and by top cause. A node
that cannot be judged shows why in place of a cause. `--top N` cuts the rows, never the summary.
The fleet JSON is `render/json.py`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from pleg_doctor.core.durations import human_seconds, rfc3339
from pleg_doctor.core.fleet import VERDICTS_WORST_FIRST, FleetReport, RankedReports, human_duration
from pleg_doctor.core.printable import escape_controls, shell_command
from pleg_doctor.core.report import Report
from pleg_doctor.core.scan import ScanReport
from pleg_doctor.render.table import VERDICT_STYLE, quantile_text
from pleg_doctor.render.text import Command, render_to_text

NODE_CHARS = 40
"""Node names up to this length are never wrapped in the table."""

REASON_CHARS = 60
"""The longest unknown-reason shown in a row (the JSON keeps it whole)."""


def short_reason(reason: str) -> str:
    """A reason's headline: the part before its first `: ` (the reasons read "what: why")."""
    head = reason.split(": ", 1)[0]
    return head if len(head) <= REASON_CHARS else head[: REASON_CHARS - 1] + "…"


def render_fleet_table(
    report: FleetReport,
    *,
    top: int | None = None,
    color: bool = False,
    width: int | None = None,
) -> str:
    """The fleet as text; `color` adds ANSI styles (the CLI decides: terminal, NO_COLOR)."""
    return render_to_text(fleet_renderable(report, top=top), color=color, width=width)


def render_scan_table(
    report: ScanReport,
    *,
    top: int | None = None,
    color: bool = False,
    width: int | None = None,
    via: Sequence[str] = (),
) -> str:
    """`scan`'s table: the fleet's, under a header that says how the scan went. `via`: the
    options that reach the same cluster (`--context prod`), added to the suggested commands."""
    parts = ranked_renderable(report, header=scan_header(report), top=top, via=via)
    return render_to_text(parts, color=color, width=width)


def fleet_renderable(
    report: FleetReport, *, top: int | None = None
) -> list[RenderableType | Command]:
    """Header, summary, ranked table, the "more nodes" line and the next steps."""
    return ranked_renderable(report, header=fleet_header(report), top=top)


def ranked_renderable(
    report: RankedReports, *, header: Text, top: int | None = None, via: Sequence[str] = ()
) -> list[RenderableType | Command]:
    """`header`, the counts, the ranked table, the "more nodes" line and the next steps."""
    parts: list[RenderableType | Command] = [header + counts_text(report)]
    shown = report.reports if top is None else report.reports[:top]
    parts.append(nodes_table(shown))
    hidden = len(report.reports) - len(shown)
    if hidden > 0:
        rest = report.reports[len(shown) :]
        counts = ", ".join(
            f"{n} {verdict}"
            for verdict in VERDICTS_WORST_FIRST
            if (n := sum(1 for r in rest if r.verdict == verdict))
        )
        parts.append(
            Text(
                f"… {hidden} more node(s) not shown ({counts}); without --top every node is listed",
                style="dim",
            )
        )
    parts.extend(next_steps(report, via=via))
    return parts


MAX_NEXT_STEPS = 3
"""Nodes in trouble given a `diagnose` command (the worst first), and as many blocked nodes."""


def next_steps(report: RankedReports, *, via: Sequence[str] = ()) -> list[RenderableType | Command]:
    """`pleg-doctor diagnose` of the worst nodes in trouble, then of the worst nodes whose
    `/metrics` blocked (`scan`): each command whole on its line."""
    troubled = [
        diagnose_command(r.node, via=via)
        for r in report.reports
        if r.verdict in ("critical", "warning") and r.node and not _blocked(r)
    ][:MAX_NEXT_STEPS]
    blocked = [outwait_command(r, via=via) for r in report.reports if _blocked(r) and r.node][
        :MAX_NEXT_STEPS
    ]
    if not troubled and not blocked:
        return []
    return [Text("Next steps", style="bold"), *troubled, *blocked]


def _blocked(report: Report) -> bool:
    return report.scrape is not None and report.scrape.blocked


def outwait_command(report: Report, *, via: Sequence[str] = ()) -> Command:
    """The `diagnose` of a node whose `/metrics` blocked (its kubelet answered `/healthz`):
    through the API server by its name, patient enough to outwait the CRI timeout, when the
    scrape returns with the timed-out calls counted (`causes.scrape`'s first next step, with
    `via` the options that reach the node's cluster)."""
    from pleg_doctor.core.causes.scrape import outwait_words

    words = outwait_words(
        "--node",
        report.node or "",
        runtime_request_timeout_seconds=report.constants.runtime_request_timeout_seconds,
    )
    return Command(
        shell_command(*words, *via),
        indent=0,
        comment="/metrics blocked: outwait the CRI timeout",
    )


def diagnose_command(node: str, *, via: Sequence[str] = ()) -> Command:
    """The command that looks at one node closely: through the API server by its name (`via`
    the options that reach its cluster, e.g. `--context prod`), or at the kubelet itself when
    Prometheus named it by its `host:port` instance."""
    cluster, _, name = node.rpartition("/")
    host, _, port = name.rpartition(":")
    # The node's name and cluster come from Prometheus' labels: every word is quoted for the
    # shell, and the comment cannot start a line of its own.
    if host and port.isdigit():
        return Command(
            shell_command("pleg-doctor", "diagnose", "--kubelet", name, "--window", "30s"),
            indent=0,
        )
    comment = f"in cluster {' '.join(escape_controls(cluster).split())}" if cluster else ""
    command = shell_command("pleg-doctor", "diagnose", "--node", name, "--window", "30s", *via)
    return Command(command, indent=0, comment=comment)


def summary_text(report: FleetReport) -> Text:
    """Where the data came from, then the counts by verdict and by top cause."""
    return fleet_header(report) + counts_text(report)


def fleet_header(report: FleetReport) -> Text:
    """`PLEG fleet: N node(s) · Prometheus URL · at TIME · range 5m`, then the selector."""
    text = Text()
    total = len(report.reports)
    text.append(f"PLEG fleet: {total} node(s)", style="bold")
    text.append(
        f" · Prometheus {report.prometheus} · at {rfc3339(report.evaluated_at)} · "
        f"range {human_duration(report.range_seconds)}\n",
    )
    read = " · histograms measured by the recording rules" if report.recorded else ""
    text.append(f"selector {{{report.selector}}}{read}\n", style="dim")
    return text


def scan_header(report: ScanReport) -> Text:
    """`PLEG scan: N node(s) · API server URL · at TIME · window 30s`, the selector, and the
    scrapes that did not read metrics (blocked first: the ones that point at a hung runtime)."""
    text = Text()
    text.append(f"PLEG scan: {len(report.reports)} node(s)", style="bold")
    text.append(f" · API server {report.apiserver} · at {rfc3339(report.scanned_at)}\n")
    if report.window_seconds is not None:
        how = f"two scrapes per node, window {human_duration(report.window_seconds)}"
    else:
        how = "one scrape per node: counters since each kubelet started (--window 30s: rates now)"
    text.append(f"{how}\nselector {report.selector or '(every node)'}\n", style="dim")
    scrapes = report.by_scrape()
    text.append(f"scrapes: {scrapes['ok']} read")
    for outcome in ("blocked", "refused", "unreachable", "error"):
        if scrapes[outcome]:
            text.append(" · ")
            style = "bold red" if outcome == "blocked" else "yellow"
            text.append(f"{scrapes[outcome]} {outcome}", style=style)
    text.append("\n")
    return text


def counts_text(report: RankedReports) -> Text:
    """The counts by verdict, then by top cause."""
    text = Text()
    counts = report.by_verdict()
    first = True
    for verdict, count in counts.items():
        if not first:
            text.append(" · ")
        first = False
        text.append(f"{count} {verdict}", style=VERDICT_STYLE[verdict] if count else "dim")
    text.append("\n")
    causes = report.by_top_cause()
    if causes:
        text.append("top causes: ")
        text.append(" · ".join(f"{cause} {count}" for cause, count in causes.items()))
    else:
        text.append("top causes: none (nothing in the data points at a problem)")
    text.append("\n")
    return text


def nodes_table(reports: tuple[Report, ...] | list[Report]) -> Table:
    """One row per node, in the order given (already worst first)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("#", justify="right", no_wrap=True)
    # Node names stay whole up to NODE_CHARS (rich would otherwise share the width evenly and
    # fold every EC2 name); longer ones fold.
    longest = max((len(r.node or "—") for r in reports), default=4)
    table.add_column("node", overflow="fold", min_width=min(longest, NODE_CHARS))
    table.add_column("verdict", no_wrap=True)
    table.add_column("headroom", justify="right", no_wrap=True)
    table.add_column("relist p99", justify="right", no_wrap=True)
    table.add_column("top cause (score)", overflow="fold", min_width=18)
    table.add_column("pods", justify="right", no_wrap=True)
    for rank, report in enumerate(reports, start=1):
        headroom = report.model.headroom_seconds
        verdict = Text(report.verdict.upper(), style=VERDICT_STYLE[report.verdict])
        if report.causes:
            finding = report.causes[0]
            cause = Text(finding.id)
            cause.append(f" ({finding.score:.2f})", style="dim")
        elif report.verdict == "unknown" and report.reasons:
            cause = Text(short_reason(report.reasons[0]), style="dim")
        else:
            cause = Text("—", style="dim")
        pods = report.window.last.running_pods
        table.add_row(
            str(rank),
            report.node or "—",
            verdict,
            "—" if headroom is None else human_seconds(headroom),
            quantile_text(report.window.relist_duration, 0.99)
            if report.window.relist_duration
            else "—",
            cause,
            "—" if pods is None else f"{pods:.0f}",
        )
    return table
