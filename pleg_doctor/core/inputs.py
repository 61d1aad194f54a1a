"""A window's measurements, named as `terms`' formulas read them: what the rules' PromQL measures.

Per runtime operation of the relist: its calls, its timed-out calls and what one cost, the mean
of the answered ones; per window: the relists, their sum, tail and top bucket, and the health
clock's age (`kubelet_pleg_last_seen_seconds`) now, at the window's start and at its peak.
Separate from `model.py` because it only reads the `Window` (the recording rules' measure layer
does the same in PromQL): the model's formulas are evaluated over these inputs there.
"""

from __future__ import annotations

import math

from pleg_doctor.core import terms
from pleg_doctor.core.constants import (
    LIST_OPS,
    RELIST_OPS,
    STATUS_OPS,
    PlegConstants,
)
from pleg_doctor.core.distribution import DEF_BUCKETS_TOP_SECONDS, OpStats
from pleg_doctor.core.window import Window


def op_timeouts(op: OpStats | None) -> float | None:
    """Calls of `op` that ran into a timeout-sized latency.

    ≥1.20 exponential buckets: the (119.2, 298] bucket (docs/model.md#estimating-the-terms). DefBuckets (≤1.19): every call over
    10 s (a healthy CRI call takes milliseconds). Summaries (≤1.13): unknown.
    """
    if op is None or op.latency is None:
        return None
    exact = op.timeouts
    if exact is not None:
        return exact
    return op.latency.count_above(DEF_BUCKETS_TOP_SECONDS)


def _op_env(op: OpStats | None, timeout_seconds: float) -> dict[str, float | None]:
    """The per-operation inputs of `terms` for `op`, with its hung-call cost evaluated."""
    latency = op.latency if op is not None else None
    exact = op.timeouts if op is not None else None
    timeouts = exact
    if exact is None and latency is not None:
        timeouts = latency.count_above(DEF_BUCKETS_TOP_SECONDS)
    env: dict[str, float | None] = {
        "op_count": latency.count if latency is not None else None,
        "op_sum_seconds": latency.sum_seconds if latency is not None and latency.has_sum else None,
        "op_timeouts": timeouts,
        # Only DefBuckets say "over 10 s" without saying how long: exponential buckets put the
        # timed-out calls in (119.2, 298], which took τ.
        "op_over_top_mean_seconds": latency.over_top_mean_seconds()
        if latency is not None and exact is None
        else None,
        "runtime_request_timeout_seconds": timeout_seconds,
    }
    env[terms.HUNG_CALL.name] = terms.HUNG_CALL.evaluate(env)
    return env


def hung_call_seconds(op: OpStats | None, timeout_seconds: float) -> float:
    """How long one of `op`'s timeout-sized calls took (`terms.HUNG_CALL`).

    Exponential buckets put them in (119.2, 298]: they took `τ`. DefBuckets only say "over 10 s":
    estimate their mean from `_sum` (`Distribution.over_top_mean_seconds`), capped at `τ`.
    """
    cost = _op_env(op, timeout_seconds)[terms.HUNG_CALL.name]
    return cost if cost is not None else timeout_seconds


def mean_without_timeouts(op: OpStats | None, timeout_seconds: float) -> float | None:
    """Mean latency of `op`'s answered calls: the timed-out ones taken out (None without data,
    or without a `_sum`): `terms.ANSWERED_MEAN`."""
    return terms.ANSWERED_MEAN.evaluate(_op_env(op, timeout_seconds))


def _relist_op_inputs(window: Window, tau: float) -> dict[str, float | None]:
    """Per relist operation: answered mean, calls; and the window's timed-out relist calls."""
    ops = window.runtime_ops
    env: dict[str, float | None] = {}
    timeouts: dict[str, float] = {}
    timeout_seconds = 0.0
    for name in RELIST_OPS:
        op = ops.get(name)
        op_env = _op_env(op, tau)
        env[f"{name}_answered_seconds"] = terms.ANSWERED_MEAN.evaluate(op_env)
        env[f"{name}_calls"] = op.calls if op is not None else None
        count = op_env["op_timeouts"] or 0.0
        timeouts[name] = count
        cost = op_env[terms.HUNG_CALL.name]
        timeout_seconds += count * (cost if cost is not None else tau)
    env["relist_ops"] = float(sum(1 for name in RELIST_OPS if name in ops))
    # A latency exposed without its `_sum` has no mean: no prediction is built on a guess.
    env["relist_ops_without_sum"] = float(
        sum(
            1
            for name in RELIST_OPS
            if (op := ops.get(name)) is not None
            and op.latency is not None
            and not op.latency.has_sum
        )
    )
    list_errors = [op.errors for name in LIST_OPS if (op := ops.get(name)) is not None]
    env["list_errors"] = sum(list_errors) if list_errors else None
    env["relist_timeouts"] = sum(timeouts.values())
    env["relist_timeout_seconds"] = timeout_seconds
    env["list_timeouts"] = sum(timeouts[name] for name in LIST_OPS)
    env["status_timeouts"] = sum(timeouts[name] for name in STATUS_OPS)
    return env


def formula_inputs(window: Window, constants: PlegConstants) -> dict[str, float | None]:
    """The inputs of `terms`' formulas for `window`, by name: what the rules' PromQL measures.

    `None` is "absent", as a series the rules read would be. Window-only inputs (the over-10 s
    mean, the window's length, the age at the window's start) are absent for a single scrape's
    lifetime counters.
    """
    last = window.last
    relist = window.relist_duration
    lifetime = window.is_lifetime
    tau = constants.runtime_request_timeout_seconds
    summary = last.relist_duration_summary
    recent = summary.summary_quantile(0.99) if summary is not None else None
    pod = window.pod_relist_duration
    age, _ = last_seen_age(window, constants)
    evented_fallback = constants.mode == "evented" and bool(
        constants.evented_fallen_back or (not lifetime and window.evented_errors)
    )
    top = relist.top_finite_bucket if relist is not None else None
    env: dict[str, float | None] = {
        "relist_threshold_seconds": constants.relist_threshold_seconds,
        "relist_period_seconds": constants.relist_period_seconds,
        "runtime_request_timeout_seconds": tau,
        "window_seconds": None if lifetime else window.seconds,
        "relists": relist.count if relist is not None else None,
        "relist_sum_seconds": relist.sum_seconds if relist is not None and relist.has_sum else None,
        "relists_over_top": relist.count_above(DEF_BUCKETS_TOP_SECONDS)
        if relist is not None
        else None,
        "relist_over_top_mean_seconds": relist.over_top_mean_seconds()
        if relist is not None and not lifetime
        else None,
        "relist_p99_seconds": relist.quantile(0.99) if relist is not None else None,
        "relist_recent_p99_seconds": recent
        if recent is not None and not math.isnan(recent)
        else None,
        "pod_relist_sum_seconds": pod.sum_seconds
        if pod is not None and pod.count > 0 and pod.has_sum
        else None,
        "last_seen_age_seconds": age,
        "edge_start_age_seconds": _edge_start_age(window, constants),
        "scrape_age_peak_seconds": scrape_age_peak(window, constants)[0],
        "quiet_seconds": window.quiet_seconds,
        # The hung-call bound reads the relist histogram at its own top finite bucket (10 s).
        "hung_bound_top_seconds": top,
        "hung_bound_relists": relist.count_above(top)
        if relist is not None and top is not None
        else None,
        "hung_bound_mean_seconds": relist.over_top_mean_seconds() if relist is not None else None,
        "discard_events": window.discard_events,
        "evented_fallback": 1.0 if evented_fallback else 0.0,
    }
    env.update(_relist_op_inputs(window, tau))
    env[terms.SLOWNESS.name] = terms.SLOWNESS.evaluate(env)
    return env


def last_seen_age(window: Window, constants: PlegConstants) -> tuple[float | None, float | None]:
    """Age of the last successful relist start at the capture (docs/model.md#worst-age, the age now).

    Not under EventedPLEG: its Healthy() overwrites the gauge with "now" (docs/model.md#eventedpleg).
    """
    last = window.last
    if constants.mode == "evented" or last.last_seen_seconds is None or last.captured_at is None:
        return None, None
    lower = last.captured_at - last.last_seen_seconds
    upper = (
        last.captured_at_upper - last.last_seen_seconds
        if last.captured_at_upper is not None
        else None
    )
    return lower, upper


def _edge_start_age(window: Window, constants: PlegConstants) -> float | None:
    """The health clock's age at the window's first scrape (none for a single scrape, whose
    lifetime window starts with the kubelet, and none under EventedPLEG)."""
    first = window.first
    if (
        first is None
        or constants.mode == "evented"
        or first.captured_at is None
        or first.last_seen_seconds is None
    ):
        return None
    return first.captured_at - first.last_seen_seconds


def scrape_age_peak(window: Window, constants: PlegConstants) -> tuple[float | None, float | None]:
    """`(age, captured_at)` of the earlier scrape of the window with the largest last-seen age
    over the stall floor (`terms.EARLIER_AGE_PEAK`; None under EventedPLEG, whose gauge carries
    no staleness). Fleet windows carry the server's measurement instead (no scrape time).

    Below the floor, ages are the healthy loop's jitter between 0 and `D + P` plus the gauge's
    1 s truncation, which the predicted worst age already covers.
    """
    if constants.mode == "evented":
        return None, None
    if window.scrape_age_peak_seconds is not None:
        return window.scrape_age_peak_seconds, None
    last_captured = window.last.captured_at
    peak: float | None = None
    peak_at: float | None = None
    for captured, seen in window.last_seen_by_scrape:
        age = captured - seen
        earlier = last_captured is None or captured < last_captured
        if earlier and age > STALL_AGE_FLOOR_SECONDS and (peak is None or age > peak):
            peak, peak_at = age, captured
    return peak, peak_at


STALL_AGE_FLOOR_SECONDS = terms.STALL_AGE_FLOOR_SECONDS
"""A healthy loop refreshes the health clock every `D + P` (≈ 1 s): older ages mean a stall."""
GAUGE_TRUNCATION_SECONDS = terms.GAUGE_TRUNCATION_SECONDS
"""`kubelet_pleg_last_seen_seconds` holds whole seconds (`relistTime.Unix()`)."""
