"""`pleg-doctor logs` output: a rich table for people, JSON schema `pleg-doctor/logs-v1`."""

from __future__ import annotations

import datetime as dt

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pleg_doctor.logs import LogsResult, evidence_for_causes, rfc3339
from pleg_doctor.logs.notes import format_age
from pleg_doctor.render.document import render_document
from pleg_doctor.render.text import Command, render_to_text

VERDICT_STYLE = {
    "ok": "bold green",
    "warning": "bold yellow",
    "critical": "bold red",
    "unknown": "bold magenta",
}
MAX_CULPRIT_ROWS = 15
MAX_STEPS = 6


def render_logs_json(result: LogsResult) -> str:
    """The `pleg-doctor/logs-v1` object; strict JSON (a NaN would be a bug, not output)."""
    return render_document(result.to_dict(), "json")


def render_logs_table(result: LogsResult, *, color: bool = False, width: int | None = None) -> str:
    """The human report: headline, unhealthy periods, timeline counts, culprits, next steps."""
    return render_to_text(_renderables(result), color=color, width=width)


def _renderables(result: LogsResult) -> list[RenderableType | Command]:
    parts: list[RenderableType | Command] = [_headline(result)]
    periods = _periods(result)
    if periods is not None:
        parts.append(periods)
    parts.append(_counts(result))
    culprits = _culprits(result)
    if culprits is not None:
        parts.append(culprits)
    parts.extend(_next_steps(result))
    if result.notes:
        parts.append(_bullets("Notes", [Text(note) for note in result.notes], "•"))
    return parts


def _reasons(result: LogsResult) -> list[str]:
    reasons: list[str] = []
    incidents = result.unhealthy_periods
    open_periods = [p for p in incidents if p.end is None]
    if open_periods:
        period = open_periods[-1]
        reasons.append(
            f"PLEG still unhealthy at the end of the log (since {rfc3339(period.start)}, "
            f"worst age {format_age(period.max_age_seconds)})"
        )
    if incidents:
        flapping = " (flapping)" if result.timeline.flapping else ""
        worst = max(p.max_age_seconds for p in incidents)
        reasons.append(
            f"{len(incidents)} unhealthy period(s){flapping}, worst age {format_age(worst)}"
        )
    timed_out = [c for c in result.culprits if c.deadline_exceeded]
    if timed_out:
        reasons.append(f"{len(timed_out)} container(s)/sandbox(es)/pod(s) hit the CRI timeout")
    runtime = sum(f.deadline_exceeded for f in result.runtime_failures)
    if runtime:
        reasons.append(f"{runtime} whole-runtime call(s) hit the CRI timeout")
    if result.kubelet_lines == 0:
        reasons.append("no kubelet log line found")
    return reasons


def _headline(result: LogsResult) -> Panel:
    verdict = result.verdict
    body = Text()
    span = ""
    if result.first_time is not None:
        span = f" · {rfc3339(result.first_time)} → {rfc3339(result.last_time)}"
    body.append(
        f"{result.lines_read:,} lines read, {result.kubelet_lines:,} kubelet lines, "
        f"{result.lines_skipped:,} skipped{span}\n",
        style="dim",
    )
    for reason in _reasons(result) or ["nothing in the log points at a PLEG problem"]:
        body.append(f"• {reason}\n")
    title = Text(f" PLEG {verdict.upper()} ", style=VERDICT_STYLE[verdict])
    title.append("— kubelet log ")
    return Panel(body, title=title, title_align="left", box=box.ROUNDED, expand=True)


def _when(moment: dt.datetime | None, default: str = "—") -> str:
    """`2026-10-08 16:21:22` (the table's time; JSON keeps milliseconds and the offset)."""
    return default if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _periods(result: LogsResult) -> RenderableType | None:
    periods = result.unhealthy_periods
    if not periods:
        return None
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    table.title = Text("PLEG unhealthy periods", style="bold")
    table.add_column("start", no_wrap=True)
    table.add_column("end", no_wrap=True)
    table.add_column("worst age", justify="right", no_wrap=True)
    table.add_column("threshold", justify="right")
    table.add_column("lines", justify="right")
    table.add_column("last good relist", no_wrap=True)
    for period in periods:
        table.add_row(
            _when(period.start),
            _when(period.end, "still unhealthy"),
            format_age(period.max_age_seconds),
            format_age(period.threshold_seconds),
            f"{period.messages:,}",
            _when(period.last_relist, "never"),
        )
    return table


def _counts(result: LogsResult) -> Text:
    timeline = result.timeline
    items = [
        ("NotReady transitions", result.not_ready_transitions),
        ("failed relists", result.relist_failures),
        ("discarded-event lines", timeline.discarded_events.count),
        ("runtime down", timeline.runtime_down.count),
        ("Evented PLEG failures", timeline.evented_errors.count),
        ("kubelet starts", len(timeline.kubelet_starts)),
    ]
    text = Text("Timeline  ", style="bold")
    text.append(" · ".join(f"{name} {count:,}" for name, count in items))
    text.append("\n")
    return text


def _culprits(result: LogsResult) -> RenderableType | None:
    culprits = result.culprits
    if not culprits:
        return None
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title_justify="left",
        padding=(0, 1),
        collapse_padding=True,
    )
    table.title = Text("Culprits (failed CRI calls, most errors first)", style="bold")
    table.add_column("kind", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("operation", no_wrap=True)
    table.add_column("timeouts/errors", justify="right", no_wrap=True)
    table.add_column("pod", overflow="fold")  # last: it folds when the terminal is narrow
    for culprit in culprits[:MAX_CULPRIT_ROWS]:
        pod = culprit.pod or "—"
        if culprit.linked_by_timing:
            pod = "*" + pod
        table.add_row(
            culprit.kind,
            (culprit.id or "—")[:12] if culprit.kind != "pod" else "—",
            culprit.operation,
            f"{culprit.deadline_exceeded:,}/{culprit.errors:,}",
            pod,
        )
    parts: list[RenderableType] = [table]
    if any(c.linked_by_timing for c in culprits[:MAX_CULPRIT_ROWS]):
        parts.append(Text("* pod inferred from timing (see the notes), not stated by the log"))
    if len(culprits) > MAX_CULPRIT_ROWS:
        parts.append(Text(f"… and {len(culprits) - MAX_CULPRIT_ROWS} more (-o json lists all)"))
    top = culprits[0]
    parts.append(Text(f"e.g. {top.example}\n", style="dim"))
    return Group(*parts)


def _next_steps(result: LogsResult) -> list[RenderableType | Command]:
    """The causes' next steps, each command whole on a line of its own (never wrapped)."""
    steps: list[str] = []
    for cause in evidence_for_causes(result).values():
        if cause.cause_id == "kubelet_restart":
            continue
        steps.extend(step for step in cause.next_steps if step not in steps)
    if not steps:
        return []
    return [
        Text("Next steps", style="bold"),
        *(Command(step, indent=0) for step in steps[:MAX_STEPS]),
        Text(""),
    ]


def _bullets(title: str, items: list[Text], mark: str) -> Group:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=1, no_wrap=True)
    grid.add_column()
    for item in items:
        grid.add_row(mark, item)
    return Group(Text(title, style="bold"), grid, Text(""))
