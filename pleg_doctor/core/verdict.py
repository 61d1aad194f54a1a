"""The verdict at the moment of the data, and the reasons for it, one short sentence each.

Separate from the report because it is the one rule every output reduces to (the exit code of
`check`, the fleet's ranking, the textfile's `pleg_doctor_verdict`): what makes a node critical,
a warning, OK or unknown, in one place (docs/output.md#exit-codes).
"""

from __future__ import annotations

import math
from typing import Literal

from pleg_doctor.core.constants import RELIST_OPS, PlegConstants
from pleg_doctor.core.distribution import DEF_BUCKETS_TOP_SECONDS
from pleg_doctor.core.durations import human_seconds, rfc3339
from pleg_doctor.core.inputs import op_timeouts
from pleg_doctor.core.model import ModelResult
from pleg_doctor.core.window import Window

Verdict = Literal["ok", "warning", "critical", "unknown"]
VERDICT_ORDER: dict[str, int] = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}
"""Also the exit code of each verdict (Nagios)."""

P99_WARNING_SECONDS = 10.0
"""kubernetes-mixin `KubeletPlegDurationHigh` (kubernetes-monitoring/kubernetes-mixin): p99
relist ≥ 10 s is a warning."""


def judge(
    window: Window, model: ModelResult, constants: PlegConstants
) -> tuple[Verdict, list[str]]:
    """The verdict at the moment of the data: critical, then warning, else ok; unknown without
    data (the README's exit codes table).

    Critical: the health clock's age reached the threshold at a scrape (the last, or any scrape of
    a window), no relist completed for that long, or the steady state crosses it. Warning: less
    than half the threshold left; a relist runtime call hit the CRI timeout; ≥ 1 % of relists over
    10 s (p99 ≥ 10 s, kubernetes-mixin `KubeletPlegDurationHigh`); PLEG events discarded;
    EventedPLEG falling back; a stalled relist when no last-seen age can bound it. A window counts
    what happened in it; a single scrape counts since the kubelet started (lifetime counters: a
    timeout since then is a timeout at that moment, one scrape cannot tell when).
    """
    last = window.last
    threshold = constants.relist_threshold_seconds
    if not last.has_pleg_metrics:
        return "unknown", [
            "no PLEG metric in the data (kubelet_pleg_relist_* / kubelet_pleg_last_seen_seconds): "
            "is this a kubelet /metrics dump? (cAdvisor is /metrics/cadvisor)"
        ]
    critical: list[str] = []
    warning: list[str] = []
    unusable = _unusable_figures(window, model, constants)
    age = model.last_seen_age_seconds
    peak = model.peak_age_seconds
    if age is not None and age >= threshold:
        critical.append(
            f"PLEG last seen active {human_seconds(age)} ago: past the {threshold:.0f} s threshold"
        )
    elif peak is not None and peak >= threshold:
        at = model.peak_age_captured_at
        scrape = f"the scrape at {rfc3339(at)}" if at is not None else "a scrape of the window"
        critical.append(
            f"PLEG last seen active {human_seconds(peak)} before {scrape}: past the "
            f"{threshold:.0f} s threshold inside the window"
            + (f" ({human_seconds(age)} at its end)" if age is not None else "")
        )
    if model.stalled_for_seconds is not None and model.stalled_for_seconds >= threshold:
        critical.append(
            f"no relist completed for at least {human_seconds(model.stalled_for_seconds)}"
        )
    elif window.quiet_seconds is not None and window.quiet_seconds >= threshold:
        critical.append(
            f"no relist completed for {human_seconds(window.quiet_seconds)} between scrapes of "
            "the window"
        )
    if (
        model.predicted_worst_age_seconds is not None
        and model.predicted_worst_age_seconds >= threshold
    ):
        critical.append(
            f"steady state crosses the threshold: worst age ≈ "
            f"{human_seconds(model.predicted_worst_age_seconds)} ≥ {threshold:.0f} s"
        )
    if critical:
        return "critical", critical
    if unusable:
        # Nothing past the threshold was seen, but the figure that would show it is missing:
        # neither OK nor a warning can be told honestly.
        return "unknown", unusable
    headroom = model.headroom_seconds
    limit = model.headroom_warning_seconds
    if headroom is not None and model.headroom_low and limit is not None:
        # `terms.HEADROOM_LOW`, the rules' `headroom_low`: half the threshold for the generic
        # PLEG; under EventedPLEG half of what the loop can use past its 300 s period.
        warning.append(
            f"headroom {human_seconds(headroom)} is under half the {threshold:.0f} s threshold"
            if limit == threshold / 2
            else f"headroom {human_seconds(headroom)} is under {human_seconds(limit)}: half of "
            f"what the relist loop can use of the {threshold:.0f} s threshold past its "
            f"{constants.relist_period_seconds:.0f} s period"
        )
    if model.stalled and age is None:
        # With a last-seen age the age itself is judged; without one, a stall is all there is.
        warning.append(
            f"no relist completed for {human_seconds(model.stalled_for_seconds or 0)}: "
            "a relist is hanging"
        )
    where = "since the kubelet started" if window.is_lifetime else "in the window"
    relist = window.relist_duration
    if relist is not None and relist.buckets:
        over = relist.count_above(DEF_BUCKETS_TOP_SECONDS)
        total = relist.total
        if over and total > 0 and over / total >= 0.01:
            warning.append(
                f"p99 relist ≥ {P99_WARNING_SECONDS:.0f} s {where} "
                f"({over:.0f} of {total:.0f} relists over 10 s; KubeletPlegDurationHigh)"
            )
    timeouts = _relist_call_timeouts(window)
    if timeouts:
        warning.append(f"{timeouts:.0f} runtime call(s) hit the CRI timeout {where}")
    if window.discard_events:
        warning.append(f"{window.discard_events:.0f} PLEG event(s) discarded {where}")
    if window.is_lifetime and relist is not None and relist.quantiles and not relist.buckets:
        recent = relist.quantile(0.99)
        if recent is not None and recent >= P99_WARNING_SECONDS:
            warning.append(f"recent p99 relist {recent:.1f} s ≥ {P99_WARNING_SECONDS:.0f} s")
    if constants.mode == "evented" and (
        constants.evented_fallen_back or (not window.is_lifetime and window.evented_errors)
    ):
        warning.append("EventedPLEG stream errors: falling back to generic relisting")
    if warning:
        return "warning", warning
    if headroom is None:
        return "unknown", [
            "the data cannot bound the worst PLEG age (no relist duration and no last-seen age)"
        ]
    return "ok", [f"headroom {human_seconds(headroom)} of {threshold:.0f} s"]


def _unusable_figures(window: Window, model: ModelResult, constants: PlegConstants) -> list[str]:
    """Why the verdict cannot be OK: a set-aside last-seen time, or a model figure not finite.

    `kubelet_pleg_last_seen_seconds` is the clock the kubelet's own `Healthy()` reads
    (`pkg/kubelet/pleg/generic.go`); a NaN or out-of-range value there means the age of the last
    relist is unknown, so a verdict built without it would be a guess. Under EventedPLEG the
    gauge carries no staleness and is not read at all. The second check is the last line of
    defence: a NaN headroom compares false with every threshold and once read as OK.
    """
    reasons: list[str] = []
    rejected = window.last.rejected_family("last_seen")
    if rejected is not None and constants.mode != "evented":
        reasons.append(
            f"{rejected.text}: the age of the last relist cannot be judged, so neither can "
            "PLEG health"
        )
    figures = {
        "headroom": model.headroom_seconds,
        "worst age": model.worst_age_seconds,
        "last-seen age": model.last_seen_age_seconds,
    }
    broken = [
        name for name, value in figures.items() if value is not None and not math.isfinite(value)
    ]
    if broken:
        reasons.append(
            f"the model's {', '.join(broken)} is not a finite number: the data is inconsistent"
        )
    return reasons


def _relist_call_timeouts(window: Window) -> float:
    """Relist runtime calls that hit the CRI timeout: in a window, every timeout-sized call;
    over a lifetime, only those the (119.2, 298] bucket proves (≥ 1.20): DefBuckets' "over 10 s"
    since start is history of unknown size, reported in the notes."""
    ops = [window.runtime_ops.get(op) for op in RELIST_OPS]
    if window.is_lifetime:
        return sum((op.timeouts or 0.0) for op in ops if op is not None)
    return sum(op_timeouts(op) or 0.0 for op in ops)
