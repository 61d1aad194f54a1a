"""Renderers of the model: the `model` what-if and `diagnose --explain` (the arithmetic)."""

from __future__ import annotations

import math

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from pleg_doctor.core.constants import RELIST_OPS
from pleg_doctor.core.inputs import op_timeouts
from pleg_doctor.core.report import Report
from pleg_doctor.core.whatif import Change, WhatIf
from pleg_doctor.render.document import render_document
from pleg_doctor.render.table import headroom_bar
from pleg_doctor.render.text import render_to_text

PLOT_WIDTH = 40


def _ms(seconds: float) -> str:
    """A latency for people: `0.1 ms`, `3.4 ms`, `26 ms`, `1.23 s`, `12.3 s`, `120 s`."""
    if seconds >= 100:
        return f"{seconds:.0f} s"
    if seconds >= 10:
        return f"{seconds:.1f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    ms = seconds * 1000
    if ms == 0:
        return "0 ms"
    if ms < 0.05:
        return "< 0.1 ms"
    if ms >= 10:
        return f"{ms:.0f} ms"
    return f"{ms:.1f} ms"


def number(value: float) -> str:
    """A count for people: three significant digits, no exponent (`1.14`, `0.000095`, `12,380`)."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def per_relist(value: float) -> str:
    """`0.000095 (one every 10,515 relists)`: a rate too small to read on its own."""
    if 0 < value < 0.1:
        return f"{number(value)} (one every {number(1 / value)} relists)"
    return number(value)


KNOB_LABELS = {
    "pods": "pods",
    "containers_per_pod": "running containers / pod",
    "exited_per_pod": "exited containers / pod",
    "sandboxes_per_pod": "sandboxes / pod",
    "churn": "pods inspected / relist",
    "list_podsandbox": "ListPodSandbox",
    "list_containers": "ListContainers",
    "podsandbox_status": "PodSandboxStatus",
    "container_status": "ContainerStatus",
    "hung_calls": "hung calls / relist",
    "runtime_request_timeout": "CRI timeout",
    "max_pods": "max pods",
}
LATENCY_KNOBS = ("list_podsandbox", "list_containers", "podsandbox_status", "container_status")


def knob_value(knob: str, value: float) -> str:
    """One knob's value as the table shows it (latencies in ms or s, counts as numbers)."""
    if knob in LATENCY_KNOBS:
        return _ms(value)
    if knob == "runtime_request_timeout":
        return f"{value:g} s"
    return number(value)


def change_line(change: Change) -> str:
    """`pods 29 → 300 (given)`, `ListPodSandbox 11 ms → 114 ms (scaled ×10.3 with the pods)`."""
    line = (
        f"{KNOB_LABELS[change.knob]} {knob_value(change.knob, change.before)} → "
        f"{knob_value(change.knob, change.after)}"
    )
    if not change.scaled:
        return line + " (given)"
    factor = change.after / change.before if change.before else 0.0
    return line + f" (scaled ×{number(factor)} with the pods)"


def render_whatif(answer: WhatIf, *, color: bool = False, width: int | None = None) -> str:
    """The `model` table: where it started, what changed, inputs, answers, the curve."""
    parts: list[RenderableType] = []
    s = answer.scenario
    c = answer.constants
    inputs = Table.grid(padding=(0, 2))
    inputs.add_column(style="bold", no_wrap=True)
    inputs.add_column()
    start = (
        f"measured from {', '.join(answer.start)}"
        if answer.start
        else "the defaults (a 30-pod node; see --help)"
    )
    inputs.add_row("start", start)
    for index, change in enumerate(answer.changes):
        inputs.add_row("changed" if index == 0 else "", change_line(change))
    for name, value in (
        (
            "pods",
            f"{number(s.pods)} (containers/pod {number(s.containers_per_pod)} running + "
            f"{number(s.exited_per_pod)} exited, sandboxes/pod {number(s.sandboxes_per_pod)}; "
            f"max pods {number(s.max_pods)})"
            + (" — more than max pods (--max-pods)" if s.pods > s.max_pods else ""),
        ),
        ("pods inspected / relist", per_relist(s.churn)),
        (
            "latency per call",
            f"ListPodSandbox {_ms(s.list_podsandbox_seconds)} · ListContainers "
            f"{_ms(s.list_containers_seconds)} · PodSandboxStatus "
            f"{_ms(s.podsandbox_status_seconds)} · ContainerStatus "
            f"{_ms(s.container_status_seconds)}",
        ),
        (
            "hung calls / relist",
            f"{number(s.hung_calls)} (CRI timeout {s.runtime_request_timeout_seconds:g} s)",
        ),
        (
            "kubelet",
            f"{s.kubelet_version} · {c.mode} PLEG · period {c.relist_period_seconds:g} s · "
            f"threshold {c.relist_threshold_seconds:g} s",
        ),
    ):
        inputs.add_row(name, value)
    parts += [Text("What-if", style="bold"), inputs, Text("")]
    answers = Table.grid(padding=(0, 2))
    answers.add_column(style="bold", no_wrap=True)
    answers.add_column()
    headroom_line = Text(f"{answer.headroom_seconds:.1f} s  ")
    headroom_line.append_text(headroom_bar(answer.headroom_seconds, c.relist_threshold_seconds))
    limit = answer.pods_at_threshold
    pods_limit = Text("—" if limit is None else f"{limit:,}")
    if answer.beyond_max_pods:
        pods_limit.append(
            f" (beyond the node's max pods, {number(s.max_pods)}: pods alone cannot get there)",
            style="dim",
        )
    for label, shown in (
        ("predicted relist", Text(_ms(answer.prediction.relist_seconds))),
        ("GetPods (G)", Text(_ms(answer.prediction.getpods_seconds))),
        ("worst last-seen age", Text(f"{answer.worst_age_seconds:.2f} s")),
        ("headroom", headroom_line),
        ("hung calls tolerated", Text(str(answer.hung_calls_tolerated))),
        ("pods at threshold", pods_limit),
    ):
        answers.add_row(label, shown)
    parts += [Text("Answer", style="bold"), answers, Text("")]
    if answer.curve:
        parts.append(curve_table(answer))
    return render_to_text(parts, color=color, width=width)


def curve_table(answer: WhatIf) -> Table:
    """Worst age and headroom at several pod counts, with a bar of the threshold used."""
    threshold = answer.constants.relist_threshold_seconds
    table = Table(
        title="Headroom as pods grow", title_justify="left", title_style="bold", box=box.SIMPLE_HEAD
    )
    table.add_column("pods", justify="right")
    table.add_column("worst age", justify="right")
    table.add_column("headroom", justify="right")
    table.add_column(f"share of the {threshold:g} s threshold used")
    for point in answer.curve:
        used = min(1.0, max(0.0, point.worst_age_seconds / threshold))
        filled = round(used * PLOT_WIDTH)
        style = "green" if used < 0.5 else ("yellow" if used < 1 else "red")
        bar = Text("█" * filled, style=style)
        bar.append("░" * (PLOT_WIDTH - filled), style="dim")
        if point.worst_age_seconds > threshold:
            bar.append(" NotReady", style="red")
        marker = " ◀ now" if point.pods == round(answer.scenario.pods) else ""
        table.add_row(
            f"{point.pods:,}{marker}",
            f"{point.worst_age_seconds:.1f} s",
            f"{point.headroom_seconds:.1f} s",
            bar,
        )
    return table


def render_whatif_json(answer: WhatIf) -> str:
    """`model -o json`."""
    return render_document(answer.to_dict(), "json")


def explain_renderable(report: Report) -> RenderableType:
    """`diagnose --explain`: the model's terms, their formulas and the metrics they came from."""
    model = report.model
    costs = model.costs
    prediction = model.prediction
    parts: list[RenderableType] = [Text("Model arithmetic (docs/model.md)", style="bold")]
    if costs is None or prediction is None:
        parts.append(Text("  no runtime-operation metrics: the relist cost cannot be modelled\n"))
        return Group(*parts)
    window = report.window
    relists = window.relists or 0
    ops = window.runtime_ops
    where = "since the kubelet started" if window.is_lifetime else "in the window"
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("term")
    table.add_column("formula", overflow="fold")
    table.add_column("value", justify="right")
    table.add_column(f"from ({where})", overflow="fold")

    def calls(op: str) -> str:
        stats = ops.get(op)
        return f"{stats.calls:,.0f} calls" if stats is not None else "absent"

    timeouts = sum(op_timeouts(ops.get(o)) or 0.0 for o in RELIST_OPS)
    n = costs.pods_inspected_per_relist
    rows = [
        (
            "L_lps",
            "mean ListPodSandbox (timeouts excluded)",
            _ms(costs.list_podsandbox_seconds),
            f"runtime_operations_duration_seconds{{list_podsandbox}}: {calls('list_podsandbox')}",
        ),
        (
            "L_lc",
            "mean ListContainers",
            _ms(costs.list_containers_seconds),
            f"…{{list_containers}}: {calls('list_containers')}",
        ),
        (
            "L_pss",
            "mean PodSandboxStatus",
            _ms(costs.podsandbox_status_seconds),
            f"…{{podsandbox_status}}: {calls('podsandbox_status')}",
        ),
        (
            "L_cs",
            "mean ContainerStatus",
            _ms(costs.container_status_seconds),
            f"…{{container_status}}: {calls('container_status')}",
        ),
        ("R", "relists", f"{relists:,.0f}", "kubelet_pleg_relist_duration_seconds_count"),
        ("N", "Δpodsandbox_status / R", f"{n:.4f}", "pods inspected per relist (docs/model.md)"),
        (
            "N·C̄",
            "Δcontainer_status / R",
            f"{costs.container_status_calls_per_relist:.4f}",
            "container statuses per relist",
        ),
        (
            "H",
            "timeout-sized calls / R",
            f"{costs.hung_calls_per_relist:.5f}",
            f"{timeouts:,.0f} calls in the (119, 298] s bucket (or > 10 s)",
        ),
        (
            "G",
            "L_lps + L_lc",
            _ms(prediction.terms["getpods"]),
            "GetPods: the health clock resets after it",
        ),
        (
            "",
            "N·(L_lps + L_lc)",
            _ms(prediction.terms["per_pod_lists"]),
            "filtered lists of each inspected pod",
        ),
        ("", "N·S̄·L_pss", _ms(prediction.terms["podsandbox_status"]), "S̄ = 1 (not observable)"),
        ("", "N·C̄·L_cs", _ms(prediction.terms["container_status"]), ""),
        (
            "",
            "H·τ",
            _ms(prediction.terms["hung_calls"]),
            f"τ = {report.constants.runtime_request_timeout_seconds:g} s",
        ),
        ("D̂", "sum of the above", _ms(prediction.relist_seconds), "predicted mean relist"),
        (
            "D̄",
            "Δsum / Δcount",
            _ms(model.observed_relist_seconds or 0.0),
            "kubelet_pleg_relist_duration_seconds",
        ),
        (
            "residual",
            "D̄ − D̂",
            _ms(model.residual_seconds or 0.0)
            if (model.residual_seconds or 0) >= 0
            else "−" + _ms(-(model.residual_seconds or 0.0)),
            "kubelet CPU, other callers, host reads",
        ),
        (
            "worst age",
            "D_tail + P + G",
            f"{model.predicted_worst_age_seconds or 0:.2f} s",
            f"D_tail = {model.tail_relist_seconds or 0:.3f} s (p99, or the mean above 10 s)",
        ),
        (
            "headroom",
            "T − max(age now, worst age)",
            f"{model.headroom_seconds or 0:.1f} s",
            f"T = {report.constants.relist_threshold_seconds:g} s",
        ),
        ("hung tolerated", "⌊(T − P − G − N·cost)/τ⌋", str(model.hung_calls_tolerated), ""),
    ]
    for row in rows:
        table.add_row(*row)
    parts.append(table)
    return Group(*parts)


def render_explain(report: Report, *, color: bool = False, width: int | None = None) -> str:
    """`explain_renderable` as text."""
    return render_to_text([explain_renderable(report)], color=color, width=width)
