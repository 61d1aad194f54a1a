"""`check`'s one line: a Nagios plugin status line with performance data.

Format (Nagios Plugin Development Guidelines, "Plugin Output" and "Performance data"):

    PLEG WARNING - headroom 58s of 180s; 5 runtime call(s) hit the CRI timeout in the window;
    top cause container_wedged (0.90) | headroom=58s;90:;0:;;180 relist_p99=10s;10;;0; ...

(one line; wrapped here). The text before `|` is for people; after it, space-separated
`label=value[UOM];[warn];[crit];[min];[max]` for graphing. Thresholds use the guidelines' range
syntax so they mean what the verdict rules of `verdict.judge` mean: `90:` alerts below 90
(headroom under half the threshold is a warning), `0:` alerts below 0 (past the threshold), a
plain `10` alerts above 10 (p99 relist ≥ 10 s, kubernetes-mixin `KubeletPlegDurationHigh`). A
value the data cannot give is `U`, as the guidelines say.

Nagios reads only stdout and the exit code, so everything a monitoring system needs is on this one
line; it must never contain a newline, nor a `|` before the performance data.
"""

from __future__ import annotations

import math

from pleg_doctor.core.constants import RELIST_OPS
from pleg_doctor.core.durations import human_seconds
from pleg_doctor.core.inputs import op_timeouts
from pleg_doctor.core.model import ModelResult
from pleg_doctor.core.printable import escape_controls
from pleg_doctor.core.report import Report

PREFIX = "PLEG"
"""The service name Nagios shows first (`PLEG OK - ...`)."""

STATES = {"ok": "OK", "warning": "WARNING", "critical": "CRITICAL", "unknown": "UNKNOWN"}


def check_line(report: Report, *, problem: str | None = None) -> str:
    """The status line of `report` (no trailing newline).

    `problem` marks a run whose diagnosis succeeded but whose delivery did not (a failed push or
    textfile): the state becomes UNKNOWN, matching exit code 3, and the text keeps the verdict so
    nobody loses it.
    """
    state = STATES[report.verdict]
    text = _summary(report)
    if problem is not None:
        text = f"{problem}; verdict was {state}: {text}"
        state = STATES["unknown"]
    return f"{PREFIX} {state} - {_clean(text)} | {perfdata(report)}"


def unknown_line(reason: str) -> str:
    """The line for a run that could not diagnose anything (bad usage, source down, bad dump)."""
    return f"{PREFIX} {STATES['unknown']} - {_clean(reason)}"


def _summary(report: Report) -> str:
    """`headroom 58s of 180s; <first reason when not ok>; top cause <id> (<score>)`."""
    threshold = report.constants.relist_threshold_seconds
    if report.scrape is not None and report.scrape.blocked:
        # No metrics: what the endpoints said is the whole story, the cause named in it.
        return "; ".join(report.reasons[:2]) or "no verdict"
    if report.verdict == "unknown":
        parts = list(report.reasons[:1]) or ["no verdict"]
    else:
        headroom = report.model.headroom_seconds
        parts = [
            f"headroom {human_seconds(headroom, unit='s')} of {threshold:.0f}s"
            if headroom is not None
            else f"headroom unknown (threshold {threshold:.0f}s)"
        ]
        # The headroom reason only restates the first part; any other reason says why.
        parts += [r for r in report.reasons if not r.startswith("headroom")][:1]
    if report.causes:
        top = report.causes[0]
        parts.append(f"top cause {top.id} ({top.score:.2f})")
    return "; ".join(parts)


def perfdata(report: Report) -> str:
    """Space-separated performance data (values in seconds where the unit is `s`)."""
    model = report.model
    window = report.window
    threshold = report.constants.relist_threshold_seconds
    relist = window.relist_duration
    p99 = relist.quantile(0.99) if relist is not None else None
    timeouts: float | None = None
    if window.runtime_ops:
        timeouts = sum(op_timeouts(window.runtime_ops.get(op)) or 0.0 for op in RELIST_OPS)
    # Timeouts and discarded events make a warning only inside a window (verdict.judge); over
    # lifetime counters they are history, so they carry no threshold then.
    count_warn = "" if window.is_lifetime else "0"
    fields = [
        _field(
            "headroom",
            model.headroom_seconds,
            "s",
            f"{_number(_headroom_warning(model, threshold))}:",
            "0:",
            "",
            threshold,
        ),
        _field("relist_p99", p99, "s", "10", "", 0, ""),
        _field("last_seen_age", model.last_seen_age_seconds, "s", "", _number(threshold), 0, ""),
        _field("timeouts", timeouts, "", count_warn, "", 0, ""),
        _field("discards", window.discard_events, "", count_warn, "", 0, ""),
        _field("pods", window.last.running_pods, "", "", "", 0, ""),
    ]
    return " ".join(fields)


def _field(
    label: str,
    value: float | None,
    unit: str,
    warn: str,
    crit: str,
    low: float | str,
    high: float | str,
) -> str:
    """`label=value[UOM];warn;crit;min;max`; `U` (no unit) when the value is unknown."""
    shown = "U" if value is None or not math.isfinite(value) else _number(value) + unit
    bounds = [b if isinstance(b, str) else _number(b) for b in (low, high)]
    return f"{label}={shown};{warn};{crit};{bounds[0]};{bounds[1]}"


def _number(value: float) -> str:
    """At most 3 decimals, no exponent (the guidelines allow only `[-0-9.]`), no `-0`."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _clean(text: str) -> str:
    """One line, no `|` before the performance data, no control character (escaped)."""
    return " ".join(escape_controls(text.replace("|", "/")).split())


def _headroom_warning(model: ModelResult, threshold: float) -> float:
    """The headroom below which the verdict warns (`terms.HEADROOM_WARNING`: `T/2` for the
    generic PLEG), the performance data's warning range."""
    limit = model.headroom_warning_seconds
    return limit if limit is not None else threshold / 2
