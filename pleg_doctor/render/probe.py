"""`pleg-doctor probe-runtime` output: the hung, failed and slowest calls; JSON `probe-v1`."""

from __future__ import annotations

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from pleg_doctor.core.printable import shell_command
from pleg_doctor.render.document import render_document
from pleg_doctor.render.text import Command, render_to_text
from pleg_doctor.sources.crictl import ProbeReport

VERDICT_STYLE = {"ok": "bold green", "warning": "bold yellow", "critical": "bold red"}


def render_probe_json(report: ProbeReport) -> str:
    """The `pleg-doctor/probe-v1` object, strict JSON."""
    return render_document(report.to_dict(), "json")


def render_probe_table(
    report: ProbeReport, *, top: int = 10, color: bool = False, width: int | None = None
) -> str:
    """Summary line, list calls, then every hung or failed call and the `top` slowest others."""
    parts: list[RenderableType | Command] = []
    head = Text(f"RUNTIME PROBE {report.verdict.upper()}", style=VERDICT_STYLE[report.verdict])
    containers = sum(1 for c in report.calls if c.kind == "container")
    head.append(
        f"  {containers} container(s), {len(report.calls) - containers} sandbox(es) inspected in "
        f"{report.wall_seconds:.1f} s ({report.parallel} at a time, timeout "
        f"{report.call_timeout_seconds:g} s, slow ≥ {report.slow_seconds:g} s)"
    )
    parts.append(head)
    counts = ", ".join(
        f"{report.count(o)} {o}" for o in ("hung", "error", "slow", "ok", "gone") if report.count(o)
    )
    parts.append(Text(counts or "nothing to inspect", style="dim"))
    for item in report.lists:
        if item.outcome != "ok":
            what = (
                f"did not answer within {report.call_timeout_seconds:g} s: the runtime is hung"
                if item.outcome == "hung"
                else f"failed: {item.error or 'no message'}"
            )
            parts.append(Text(f"{item.command} {what}", style="bold red"))
    shown = [c for c in report.calls if c.outcome in ("hung", "error")]
    others = [c for c in report.calls if c.outcome in ("slow", "ok")]
    shown.extend(others[:top])
    if shown:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("outcome")
        table.add_column("kind")
        table.add_column("id")
        table.add_column("pod", overflow="fold")
        table.add_column("name", overflow="fold")
        table.add_column("seconds", justify="right")
        for call in shown:
            style = {"hung": "red", "error": "yellow", "slow": "yellow"}.get(call.outcome, "")
            seconds = (
                f"> {report.call_timeout_seconds:g}"
                if call.outcome == "hung"
                else f"{call.seconds:.3f}"
            )
            table.add_row(
                Text(call.outcome, style=style),
                call.kind,
                call.id[:13],
                call.pod or "—",
                call.name or (call.error or "—"),
                seconds,
            )
        parts.append(table)
    hung = [c for c in report.calls if c.outcome == "hung"]
    if hung:
        parts.append(Text("Next steps", style="bold"))
        for call in hung[:5]:
            verb = "inspectp" if call.kind == "sandbox" else "inspect"
            command = shell_command("timeout", "30", "crictl", verb, call.id)
            parts.append(Command(command, indent=0))
        parts.append(
            Command("ps -eo pid,stat,wchan:32,cmd | awk '$2 ~ /D/'", indent=0, comment="D-state")
        )
    return render_to_text(parts, color=color, width=width)
