"""`pleg-doctor fleet`: the ranked node table (rich) and the fleet JSON.

The table is what an operator scans during an incident: one row per node, worst first (the
ranking is already decided in `fleet.rank_reports`; nothing is re-sorted here), with the verdict,
the headroom, the relist p99 the kubernetes-mixin alerts on, the top cause with its score, and
the pods; above it, where the data came from and the counts by verdict and by top cause. A node
that cannot be judged shows why in place of a cause. `--top N` cuts the rows, never the summary.
"""

from __future__ import annotations

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from pleg_doctor.core.durations import human_seconds
from pleg_doctor.core.fleet import VERDICTS_WORST_FIRST, FleetReport, human_duration
from pleg_doctor.core.report import Report, rfc3339
from pleg_doctor.render.document import render_document
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


def render_fleet_json(report: FleetReport, *, top: int | None = None) -> str:
    """The fleet object (schema `pleg-doctor/v1`), strict JSON: a NaN slip is a bug, not output."""
    return render_document(report.to_dict(top=top), "json")


def render_fleet_table(
    report: FleetReport,
    *,
    top: int | None = None,
    color: bool = False,
    width: int | None = None,
) -> str:
    """The fleet as text; `color` adds ANSI styles (the CLI decides: terminal, NO_COLOR)."""
    return render_to_text(fleet_renderable(report, top=top), color=color, width=width)


def fleet_renderable(
    report: FleetReport, *, top: int | None = None
) -> list[RenderableType | Command]:
    """Header, summary, ranked table, the "more nodes" line and the next steps."""
    parts: list[RenderableType | Command] = [summary_text(report)]
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
    parts.extend(next_steps(report))
    return parts


MAX_NEXT_STEPS = 3
"""Nodes in trouble given a `diagnose` command (the worst first)."""


def next_steps(report: FleetReport) -> list[RenderableType | Command]:
    """`pleg-doctor diagnose` of the worst nodes in trouble: each command whole on its line."""
    commands = [
        diagnose_command(r.node)
        for r in report.reports
        if r.verdict in ("critical", "warning") and r.node
    ][:MAX_NEXT_STEPS]
    if not commands:
        return []
    return [Text("Next steps", style="bold"), *commands]


def diagnose_command(node: str) -> Command:
    """The command that looks at one node closely: through the API server by its name, or at
    the kubelet itself when Prometheus named it by its `host:port` instance."""
    cluster, _, name = node.rpartition("/")
    host, _, port = name.rpartition(":")
    if host and port.isdigit():
        return Command(f"pleg-doctor diagnose --kubelet {name} --window 30s", indent=0)
    comment = f"in cluster {cluster}" if cluster else ""
    return Command(f"pleg-doctor diagnose --node {name} --window 30s", indent=0, comment=comment)


def summary_text(report: FleetReport) -> Text:
    """Where the data came from, then the counts by verdict and by top cause."""
    text = Text()
    total = len(report.reports)
    text.append(f"PLEG fleet: {total} node(s)", style="bold")
    text.append(
        f" · Prometheus {report.prometheus} · at {rfc3339(report.evaluated_at)} · "
        f"range {human_duration(report.range_seconds)}\n",
    )
    text.append(f"selector {{{report.selector}}}\n", style="dim")
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
