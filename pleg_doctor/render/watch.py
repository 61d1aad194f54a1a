"""The `watch` view: a live screen on a terminal, one plain line per refresh elsewhere."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from pleg_doctor.core.durations import rfc3339
from pleg_doctor.core.report import Report
from pleg_doctor.render.table import ops_table, verdict_panel

SPARK = "▁▂▃▄▅▆▇█"
HISTORY = 60
"""Refreshes kept for the trend lines."""


def sparkline(values: Sequence[float | None]) -> str:
    """`▁▃█`-style trend of `values` (None shows as a space), scaled to their own range."""
    known = [v for v in values if v is not None and math.isfinite(v)]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = high - low
    out = []
    for value in values:
        if value is None or not math.isfinite(value):
            out.append(" ")
        elif span <= 0:
            out.append(SPARK[0])
        else:
            out.append(
                SPARK[min(len(SPARK) - 1, int((value - low) / span * (len(SPARK) - 1) + 0.5))]
            )
    return "".join(out)


def _rate(report: Report) -> float | None:
    window = report.window
    if window.is_lifetime or not window.seconds or window.relists is None:
        return None
    return window.relists / window.seconds


def _mean(report: Report, which: str) -> float | None:
    dist = report.window.relist_duration if which == "duration" else report.window.relist_interval
    return dist.mean_seconds if dist is not None else None


def _fmt(value: float | None, unit: str = "s") -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.3f} {unit}" if value < 10 else f"{value:.1f} {unit}"


def _fmt_rate(value: float | None) -> str:
    return _fmt(value, "/s")


def watch_renderable(history: Sequence[Report], *, interval_seconds: float) -> RenderableType:
    """The screen for the latest refresh, with trends over `history` (oldest first)."""
    latest = history[-1]
    recent = list(history[-HISTORY:])
    trends = Table(
        title=f"Trend (every {interval_seconds:g} s, last {len(recent)})",
        title_justify="left",
        title_style="bold",
        box=None,
    )
    trends.add_column("figure", style="bold")
    trends.add_column("now", justify="right")
    trends.add_column("trend")
    rows: list[tuple[str, list[float | None], Callable[[float | None], str]]] = [
        ("headroom", [r.model.headroom_seconds for r in recent], _fmt),
        ("relists per second", [_rate(r) for r in recent], _fmt_rate),
        ("relist duration (mean)", [_mean(r, "duration") for r in recent], _fmt),
        ("relist interval (mean)", [_mean(r, "interval") for r in recent], _fmt),
    ]
    for name, values, fmt in rows:
        trends.add_row(name, fmt(values[-1]), sparkline(values))
    causes = Text("Top causes: ", style="bold")
    if latest.causes:
        causes.append(
            ", ".join(f"{c.id} ({c.score:.2f})" for c in latest.causes[:3]),
            style="",
        )
    else:
        causes.append("none", style="")
    parts: list[RenderableType] = [verdict_panel(latest)]
    scrape = latest.scrape
    if scrape is not None and scrape.blocked:
        parts.append(
            Text(
                f"{scrape.scrape_text()} while {scrape.health_text()}: the kubelet is up, its "
                "runtime likely hung; still watching (the next refresh may answer)",
                style="bold red",
            )
        )
    parts.append(trends)
    ops = ops_table(latest)
    if ops is not None:
        parts.append(ops)
    parts.append(causes)
    parts.append(Text("Ctrl-C to quit", style="dim"))
    return Group(*parts)


def watch_line(report: Report) -> str:
    """One line per refresh for logs and pipes (stdout not a terminal); a refresh whose
    `/metrics` blocked ends in `scrape=blocked waited=10s healthz=200` (`healthz=none` when it
    did not answer)."""
    top = report.causes[0] if report.causes else None
    headroom = report.model.headroom_seconds
    fields = [
        rfc3339(report.window.last.captured_at) or "-",
        f"node={report.node or '-'}",
        f"verdict={report.verdict}",
        f"headroom={headroom:.0f}s" if headroom is not None else "headroom=unknown",
        f"relists_per_s={_rate(report):.2f}" if _rate(report) is not None else "relists_per_s=-",
        f"relist_mean={_fmt(_mean(report, 'duration')).replace(' ', '')}",
        f"top={top.id}({top.score:.2f})" if top else "top=none",
    ]
    scrape = report.scrape
    if scrape is not None and scrape.blocked:
        fields.append(f"scrape=blocked waited={scrape.waited_seconds or 0:g}s")
        fields.append(f"healthz={scrape.health_status or 'none'}")
    return " ".join(fields)
