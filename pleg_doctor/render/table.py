"""`-o table`: the human report (rich): verdict panel, headroom bar, figures, causes, notes."""

from __future__ import annotations

import math
import posixpath

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pleg_doctor.core.distribution import Distribution
from pleg_doctor.core.durations import human_seconds, rfc3339
from pleg_doctor.core.inputs import op_timeouts
from pleg_doctor.core.report import Report, SourceInfo
from pleg_doctor.render.text import Command
from pleg_doctor.render.text import render_to_text as render_to_text

VERDICT_STYLE = {
    "ok": "bold green",
    "warning": "bold yellow",
    "critical": "bold red",
    "unknown": "bold magenta",
}
BAR_WIDTH = 40


def render_table(report: Report, *, color: bool = False, width: int | None = None) -> str:
    """Render the report as text; `color` adds ANSI styles (the CLI decides: terminal, NO_COLOR)."""
    return render_to_text(report_renderables(report), color=color, width=width)


def report_renderables(report: Report) -> list[RenderableType | Command]:
    """The report's parts, in order."""
    parts: list[RenderableType | Command] = [verdict_panel(report), relist_section(report)]
    ops = ops_table(report)
    if ops is not None:
        parts.append(ops)
    parts.extend(causes_section(report))
    if report.notes:
        parts.append(notes_section(report))
    return parts


def headroom_bar(headroom: float | None, threshold: float, width: int = BAR_WIDTH) -> Text:
    """`[████████░░░░]`: the share of the threshold still free; empty when past it."""
    if headroom is None:
        return Text("[" + "?" * width + "]", style="dim")
    share = max(0.0, min(1.0, headroom / threshold)) if threshold > 0 else 0.0
    filled = round(share * width)
    style = "green" if share >= 0.5 else ("yellow" if share > 0 else "red")
    bar = Text("[")
    bar.append("█" * filled, style=style)
    bar.append("░" * (width - filled), style="dim")
    bar.append("]")
    return bar


def verdict_panel(report: Report) -> Panel:
    """The headline: verdict, headroom with a bar, what was diagnosed and why."""
    window = report.window
    last = window.last
    constants = report.constants
    threshold = constants.relist_threshold_seconds
    headroom = report.model.headroom_seconds
    body = Text()
    body.append("headroom ", style="bold")
    if headroom is None:
        body.append("unknown")
    else:
        body.append(human_seconds(headroom), style=VERDICT_STYLE[report.verdict])
        body.append(f" of {threshold:.0f} s  ")
    body.append_text(headroom_bar(headroom, threshold))
    body.append("\n")
    version = last.kubelet_version or (
        f"{last.version_range} (inferred)" if last.version_range is not None else "unknown"
    )
    mode = (
        "single scrape, lifetime counters"
        if window.is_lifetime
        else f"window of {window.scrapes} scrapes, "
        + (f"{window.seconds:.0f} s" if window.seconds is not None else "unknown length")
    )
    body.append(
        f"kubelet {version} · {constants.mode} PLEG · period {constants.relist_period_seconds:.0f} s"
        f" · threshold {threshold:.0f} s · {mode}\n"
    )
    captured = rfc3339(last.captured_at)
    origin = {
        "header": "capture header",
        "http-date": "kubelet clock",
        "at": "--at",
        "estimated": "estimated from the dump's clocks",
        "unknown": "",
    }[last.captured_at_origin]
    body.append(f"source {report.source.kind}: {source_text(report.source)}\n", style="dim")
    if captured is not None:
        body.append(f"captured {captured}" + (f" ({origin})" if origin else "") + "\n", style="dim")
    for reason in report.reasons:
        body.append(f"• {reason}\n")
    title = Text(f" PLEG {report.verdict.upper()} ", style=VERDICT_STYLE[report.verdict])
    if report.node:
        title.append(f"— node {report.node} ")
    return Panel(body, title=title, title_align="left", box=box.ROUNDED, expand=True)


def _s(value: float | None, digits: int = 3) -> str:
    if value is None or math.isnan(value):
        return "—"
    if abs(value) >= 100:
        return human_seconds(value)
    if value >= 10:
        return f"{value:.1f} s"
    return f"{value:.{digits}f} s"


def quantile_text(dist: Distribution | None, q: float) -> str:
    """A quantile, or `> 10 s` when it falls in the `+Inf` bucket (the histogram says no more)."""
    if dist is None:
        return "—"
    value = dist.quantile(q)
    top = dist.top_finite_bucket
    if value is not None and top is not None and dist.count > 0:
        above = dist.count_above(top) or 0.0
        if above / dist.count > 1 - q:
            return f"> {top:g} s"
    return _s(value)


def _n(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:,.0f}"


def relist_section(report: Report) -> Table:
    """Relist figures and the model's answers, side by side."""
    window = report.window
    model = report.model
    relist = window.relist_duration
    interval = window.relist_interval
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_column(style="bold")
    grid.add_column()
    stalled = {True: "yes", False: "no", None: "unknown"}[model.stalled]
    age = model.last_seen_age_seconds
    age_text = _s(age, 1) if age is not None else "—"
    if (
        age is not None
        and model.last_seen_age_upper_seconds is not None
        and (model.last_seen_age_upper_seconds - age > 1)
    ):
        age_text = f"≥ {age_text} (≤ {_s(model.last_seen_age_upper_seconds, 0)})"
    prediction = model.prediction
    rows = [
        (
            "relists",
            _n(relist.count if relist else None),
            "predicted relist",
            _s(prediction.relist_seconds if prediction else None),
        ),
        (
            "mean",
            _s(relist.mean_seconds if relist else None),
            "observed relist",
            _s(model.observed_relist_seconds),
        ),
        (
            "p50 / p99",
            f"{quantile_text(relist, 0.5)} / {quantile_text(relist, 0.99)}",
            "residual",
            _s(model.residual_seconds),
        ),
        (
            "over 10 s",
            _n(model.relists_over_top_bucket),
            "worst age (predicted)",
            _s(model.predicted_worst_age_seconds, 1),
        ),
        (
            "interval mean",
            _s(interval.mean_seconds if interval else None),
            "hung calls tolerated",
            "—" if model.hung_calls_tolerated is None else str(model.hung_calls_tolerated),
        ),
        (
            "last seen",
            f"{age_text} ago" if age is not None else "—",
            "pods at threshold",
            _pods_limit(model.pods_at_threshold, window.last.running_pods),
        ),
        (
            "stalled",
            stalled,
            "pods inspected / relist",
            f"{model.costs.pods_inspected_per_relist:.2f}" if model.costs else "—",
        ),
        ("", "", "relist of every pod", _s(model.full_relist_seconds, 1)),
    ]
    for row in rows:
        grid.add_row(*row)
    outer = Table(
        title="Relist", title_justify="left", title_style="bold", box=None, show_header=False
    )
    outer.add_column()
    outer.add_row(grid)
    return outer


def _pods_limit(limit: int | None, running: float | None) -> str:
    if limit is None:
        return "—"
    now = f" (now {running:.0f})" if running is not None else ""
    return (f"{limit:,}" if limit < 100_000 else "> 100,000") + now


def ops_table(report: Report) -> Table | None:
    """Per-operation calls, errors and latency, relist operations first."""
    rows = report.runtime_ops_rows()
    if not rows:
        return None
    where = "since start" if report.window.is_lifetime else "in the window"
    table = Table(
        title=f"Runtime operations ({where})",
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
    )
    for name, justify in (
        ("operation", "left"),
        ("calls", "right"),
        ("errors", "right"),
        ("mean", "right"),
        ("p99", "right"),
        ("timeouts", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for op, stats in rows[:12]:
        latency = stats.latency
        timeouts = op_timeouts(stats)
        table.add_row(
            op,
            _n(stats.calls),
            _n(stats.errors),
            _s(latency.mean_seconds if latency else None),
            quantile_text(latency, 0.99),
            _n(timeouts),
        )
    return table


def _bullets(rows: list[tuple[str, Text]]) -> Table:
    """A two-column grid so wrapped lines stay indented under their bullet."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=4, justify="right", no_wrap=True)
    grid.add_column(overflow="fold")
    for mark, text in rows:
        grid.add_row(mark, text)
    return grid


def causes_section(report: Report) -> list[RenderableType | Command]:
    """Ranked causes with evidence, then their next steps: each command on a line of its own,
    whole, never wrapped (docs/output.md#text-output)."""
    if not report.causes:
        return [Text("Likely causes: none scored (nothing in the data points at a problem)\n")]
    parts: list[RenderableType | Command] = [Text("Likely causes", style="bold")]
    for rank, finding in enumerate(report.causes, start=1):
        head = Text(f"{rank}. {finding.title} ")
        head.append(f"[{finding.id}] ", style="dim")
        style = "red" if finding.score >= 0.75 else ("yellow" if finding.score >= 0.5 else "dim")
        head.append(f"score {finding.score:.2f}", style=style)
        parts.append(head)
        rows: list[tuple[str, Text]] = []
        for item in finding.evidence:
            value = item.value if isinstance(item.value, str) else f"{item.value:g}"
            line = Text(f"{item.metric} = {value}", style="bold")
            line.append(f"\n{item.note}", style="")
            rows.append(("•", line))
        if rows:
            parts.append(_bullets(rows))
        parts.extend(Command(step) for step in finding.next_steps)
    parts.append(Text(""))
    return parts


def notes_section(report: Report) -> RenderableType:
    """What the data could not tell."""
    return Group(
        Text("Notes", style="bold"), _bullets([("•", Text(note)) for note in report.notes])
    )


SOURCES_LISTED = 3
"""Up to this many sources are listed whole; more (a window of dumps) show as a count, their
folder and the first and last names."""


def source_text(source: SourceInfo) -> str:
    """Where the data came from, short enough for the panel: a window of 33 dumps is one line
    ("33 dumps in DIR/: 01-….prom.gz … 33-….prom.gz"), not 33 paths."""
    parts = source.locations
    if len(parts) <= SOURCES_LISTED:
        return source.location
    folders = {posixpath.dirname(part) for part in parts}
    if len(folders) == 1:
        folder = folders.pop()
        first, last = posixpath.basename(parts[0]), posixpath.basename(parts[-1])
        return f"{len(parts)} dumps in {folder or '.'}/: {first} … {last}"
    return f"{len(parts)} dumps: {parts[0]} … {parts[-1]}"
