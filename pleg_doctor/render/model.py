"""Renderers of the model: the `model` what-if and `diagnose --explain` (the arithmetic)."""

from __future__ import annotations

import json

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from pleg_doctor.core.model import RELIST_OPS, op_timeouts
from pleg_doctor.core.report import Report
from pleg_doctor.core.whatif import WhatIf
from pleg_doctor.render.table import headroom_bar, render_to_text

PLOT_WIDTH = 40


def _ms(seconds: float) -> str:
    if seconds >= 10:
        return f"{seconds:.1f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.2f} ms"


def render_whatif(answer: WhatIf, *, color: bool = False, width: int | None = None) -> str:
    """The `model` table: inputs, answers, and headroom as pods grow (a small plot)."""
    parts: list[RenderableType] = []
    s = answer.scenario
    c = answer.constants
    inputs = Table.grid(padding=(0, 2))
    inputs.add_column(style="bold")
    inputs.add_column()
    for name, value in (
        (
            "pods",
            f"{s.pods:g} (containers/pod {s.containers_per_pod:g} running + {s.exited_per_pod:g} exited, sandboxes/pod {s.sandboxes_per_pod:g})",
        ),
        ("pods inspected / relist", f"{s.churn:g}"),
        (
            "latency per call",
            f"ListPodSandbox {_ms(s.list_podsandbox_seconds)} · ListContainers {_ms(s.list_containers_seconds)} · PodSandboxStatus {_ms(s.podsandbox_status_seconds)} · ContainerStatus {_ms(s.container_status_seconds)}",
        ),
        (
            "hung calls / relist",
            f"{s.hung_calls:g} (CRI timeout {s.runtime_request_timeout_seconds:g} s)",
        ),
        (
            "kubelet",
            f"{s.kubelet_version} · {c.mode} PLEG · period {c.relist_period_seconds:g} s · threshold {c.relist_threshold_seconds:g} s",
        ),
    ):
        inputs.add_row(name, value)
    parts += [Text("What-if", style="bold"), inputs, Text("")]
    answers = Table.grid(padding=(0, 2))
    answers.add_column(style="bold")
    answers.add_column()
    headroom_line = Text(f"{answer.headroom_seconds:.1f} s  ")
    headroom_line.append_text(headroom_bar(answer.headroom_seconds, c.relist_threshold_seconds))
    for label, shown in (
        ("predicted relist", Text(_ms(answer.prediction.relist_seconds))),
        ("GetPods (G)", Text(_ms(answer.prediction.getpods_seconds))),
        ("worst last-seen age", Text(f"{answer.worst_age_seconds:.2f} s")),
        ("headroom", headroom_line),
        ("hung calls tolerated", Text(str(answer.hung_calls_tolerated))),
        (
            "pods at threshold",
            Text("—" if answer.pods_at_threshold is None else f"{answer.pods_at_threshold:,}"),
        ),
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
    return json.dumps(answer.to_dict(), indent=2, allow_nan=False) + "\n"


def explain_renderable(report: Report) -> RenderableType:
    """`diagnose --explain`: the model's terms, their formulas and the metrics they came from."""
    model = report.model
    costs = model.costs
    prediction = model.prediction
    parts: list[RenderableType] = [Text("Model arithmetic (PLEG-MODEL.md §6)", style="bold")]
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
        ("N", "Δpodsandbox_status / R", f"{n:.4f}", "pods inspected per relist (§6.3)"),
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
