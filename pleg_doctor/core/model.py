"""The reference model of the kubelet's PLEG relist loop, applied to a window (docs/model.md).

What it answers, from a `Window` of kubelet metrics:

* how long a relist should take given the runtime's per-call latencies and how many pods each
  relist inspects (`D ≈ G + N·per-pod cost + H·τ`, docs/model.md#relist-duration), and how that compares with the relist
  duration the kubelet measured (the residual: cost no CRI call explains);
* the worst age `now - relistTime` the node reaches (`D_k + P + G_{k+1}`, docs/model.md#worst-age) and so the
  headroom against the threshold (180 s; 600 s for generic PLEG under EventedPLEG);
* how many hung CRI calls (each costing the 2-minute `--runtime-request-timeout`) one relist absorbs;
* at how many pods the steady state would cross the threshold.

Pure and deterministic: every input is an argument, every constant cites its section.

`evaluate` ties the parts together: the window's inputs (`inputs.py`), the cost model
(`costs.py`) under the PLEG's constants (`constants.py`), the ages, headroom and stall the
verdict reads (here), and the explanations (`explanations.py`).
"""

from __future__ import annotations

import math

from pleg_doctor.core import terms
from pleg_doctor.core.constants import (
    PlegConstants,
)
from pleg_doctor.core.costs import (
    Prediction,
    RelistCosts,
    cost_model,
    full_relist_seconds,
    known,
    pods_at_threshold,
    prediction_from,
    whole,
)
from pleg_doctor.core.explanations import explain_relists
from pleg_doctor.core.formulas import Env
from pleg_doctor.core.inputs import (
    formula_inputs,
    last_seen_age,
    scrape_age_peak,
)
from pleg_doctor.core.records import record
from pleg_doctor.core.window import Window


@record(kw_only=True)
class ModelResult:
    """The model applied to one Window: predictions beside what the kubelet measured."""

    constants: PlegConstants
    costs: RelistCosts | None
    """None when the runtime operation metrics are missing."""
    prediction: Prediction | None
    observed_relist_seconds: float | None
    """Mean relist duration measured by the kubelet in the window (`Δsum/Δcount`)."""
    residual_seconds: float | None
    """Observed minus predicted mean relist: cost no CRI call explains (docs/model.md#residual)."""
    tail_relist_seconds: float | None
    """The long relists of the window: mean of those above 10 s when there are any, else p99."""
    relists_over_top_bucket: float | None
    """Relists above the 10 s DefBuckets top in the window."""
    last_seen_age_seconds: float | None
    """`captured_at − kubelet_pleg_last_seen_seconds` (lower bound when the time is estimated)."""
    last_seen_age_upper_seconds: float | None
    stalled: bool | None
    """No relist completed for much longer than the relists take: a relist hangs (docs/model.md#stalled-relist)."""
    stalled_for_seconds: float | None
    predicted_worst_age_seconds: float | None
    worst_age_seconds: float | None
    """Worst age the data supports, now and predicted."""
    headroom_seconds: float | None
    hung_calls_tolerated: int | None
    hung_calls_worst_relist: int
    """Hung calls in the worst relist of the window (0 for lifetime windows)."""
    pods_at_threshold: int | None
    full_relist_seconds: float | None
    pod_relist_seconds_per_relist: float = 0.0
    """1.36 per-pod relists: seconds they hold the relist lock per global relist (mean)."""
    peak_age_seconds: float | None = None
    """The largest last-seen age at any scrape of the window (= the age now for one scrape)."""
    peak_age_captured_at: float | None = None
    """When that scrape was taken (Unix seconds); None when the server measured the peak."""
    explanations: tuple[str, ...] = ()
    """What the modelled calls cannot show by themselves, in words: relists in progress at the
    window's edges, relists that failed at the CRI timeout, timeouts of other callers."""
    headroom_warning_seconds: float | None = None
    """Headroom under this is a warning (`terms.HEADROOM_WARNING`: `T/2` for the generic PLEG)."""
    headroom_low: bool = False
    """The headroom is under it (`terms.HEADROOM_LOW`, the rules' `headroom_low` signal)."""
    """A relist that inspects every pod, as the first one after a kubelet restart does
    (docs/model.md#relist-duration): `G + pods·(L_lps + L_lc + S̄·L_pss + C̄·L_cs)`."""


def relist_costs(window: Window, constants: PlegConstants) -> RelistCosts | None:
    """The cost-model inputs estimated from a window (the formulas of `terms.COSTS`)."""
    env = formula_inputs(window, constants)
    return _costs_from(env)


def _costs_from(values: dict[str, float | None]) -> RelistCosts | None:
    """The cost model's inputs (`terms.COSTS`) evaluated into `values`, as `RelistCosts`."""
    for formula in terms.COSTS:
        values[formula.name] = formula.evaluate(values)
    if values[terms.COST_LIST_PODSANDBOX.name] is None:
        return None  # no relist in the window, or no runtime operation of the relist exposed
    return RelistCosts(
        list_podsandbox_seconds=known(values[terms.COST_LIST_PODSANDBOX.name]),
        list_containers_seconds=known(values[terms.COST_LIST_CONTAINERS.name]),
        podsandbox_status_seconds=known(values[terms.COST_PODSANDBOX_STATUS.name]),
        container_status_seconds=known(values[terms.COST_CONTAINER_STATUS.name]),
        pods_inspected_per_relist=known(values[terms.COST_PODS.name]),
        podsandbox_status_calls_per_relist=known(values[terms.COST_SANDBOX_CALLS.name]),
        container_status_calls_per_relist=known(values[terms.COST_CONTAINER_CALLS.name]),
        hung_calls_per_relist=known(values[terms.COST_HUNG_CALLS.name]),
        hung_call_seconds=values[terms.COST_HUNG_SECONDS.name],
        edge_seconds_per_relist=known(values[terms.COST_EDGES.name]),
    )


def evaluate(window: Window, constants: PlegConstants) -> ModelResult:
    """Apply the model to `window`: prediction, observation, residual, ages and headroom.

    Every figure comes from `terms`' formulas (the ones the recording rules render as PromQL),
    evaluated in order on `formula_inputs(window)`: the cost model, then the ages.
    """
    env = formula_inputs(window, constants)
    costs = _costs_from(env)
    prediction: Prediction | None = None
    if costs is not None:
        tolerance = (
            terms.INCREASE_TOLERANCE if window.extrapolated else terms.EXACT_COUNTS_TOLERANCE
        )
        env.update(cost_model(costs, constants, tolerance))
        prediction = prediction_from(env)
    else:
        env.update(dict.fromkeys((formula.name for formula in terms.PREDICTION), None))
    relist = window.relist_duration
    observed = relist.mean_seconds if relist is not None else None
    residual = (
        observed - prediction.relist_seconds
        if observed is not None and prediction is not None
        else None
    )
    # The relist the ages read: in a window, one that carries the window's hung calls whole
    # (any timeout means at least one relist did); over a lifetime, old timeouts say nothing
    # about now, so the mean-field prediction.
    hung_worst = 0
    if window.is_lifetime:
        env["predicted_relist_for_age_seconds"] = env[terms.PREDICTED_RELIST.name]
    else:
        env["predicted_relist_for_age_seconds"] = env[terms.PREDICTED_RELIST_WORST.name]
        hung_worst = whole(env[terms.HUNG_WORST.name])
    # 1.36: per-pod relist requests share `relistLock` with the global relist (`pkg/kubelet/pleg/generic.go`; docs/model.md#relist-duration),
    # so the time they hold it per global relist delays the next relist start and the health clock.
    for formula in terms.AGES:
        env[formula.name] = formula.evaluate(env)
    age, age_upper = last_seen_age(window, constants)
    stalled, stalled_for = _stall(window, env)
    env[terms.STALLED_FOR.name] = stalled_for
    for formula in terms.VERDICT_FIGURES:
        env[formula.name] = formula.evaluate(env)
    tolerated = env[terms.HUNG_CALLS_TOLERATED.name]
    pods_limit = (
        pods_at_threshold(constants, prediction, window.last.running_pods, hung_worst)
        if prediction is not None
        else None
    )
    peak = env[terms.PEAK_AGE.name]
    _, earlier_at = scrape_age_peak(window, constants)
    peak_at = window.last.captured_at if peak is not None and peak == age else earlier_at
    return ModelResult(
        constants=constants,
        costs=costs,
        prediction=prediction,
        observed_relist_seconds=observed,
        residual_seconds=residual,
        tail_relist_seconds=env[terms.TAIL.name],
        relists_over_top_bucket=env["relists_over_top"],
        last_seen_age_seconds=age,
        last_seen_age_upper_seconds=age_upper,
        stalled=stalled,
        stalled_for_seconds=stalled_for,
        predicted_worst_age_seconds=env[terms.PREDICTED_WORST_AGE.name],
        worst_age_seconds=env[terms.WORST_AGE.name],
        headroom_seconds=env[terms.HEADROOM.name],
        hung_calls_tolerated=whole(tolerated) if tolerated is not None else None,
        hung_calls_worst_relist=hung_worst,
        full_relist_seconds=full_relist_seconds(costs, window.last) if costs is not None else None,
        pod_relist_seconds_per_relist=known(env[terms.LOCK_WAIT.name]),
        pods_at_threshold=pods_limit,
        peak_age_seconds=peak,
        peak_age_captured_at=peak_at,
        explanations=explain_relists(window, constants, costs, env),
        headroom_warning_seconds=env[terms.HEADROOM_WARNING.name],
        headroom_low=terms.HEADROOM_LOW.holds(env),
    )


SUMMARY_WINDOW_SECONDS = 600.0
"""client_golang summaries keep a 10-minute sliding window (docs/model.md#metric-names-by-era)."""


def _stall(window: Window, env: Env) -> tuple[bool | None, float | None]:
    """Whether a relist is hung now, and for at least how long (`terms.STALLED_FOR`).

    A window without a relist that lasts longer than the stall limit, or a last-seen age past it,
    is a stall; a single scrape of a ≤ 1.16 kubelet whose µs summary saw no relist in its
    10-minute window (NaN quantiles) is one too (docs/model.md#stalled-relist).
    """
    stalled_for = terms.STALLED_FOR.evaluate(env)
    if stalled_for is not None:
        return True, stalled_for
    if env["last_seen_age_seconds"] is not None:
        return False, None
    summary = window.last.relist_duration_summary
    uptime = window.last.uptime_seconds
    if summary is not None and window.is_lifetime:
        recent = summary.summary_quantile(0.5)
        if recent is not None and math.isnan(recent) and uptime and uptime > SUMMARY_WINDOW_SECONDS:
            # NaN: no relist finished in the summary's 10-minute window: PLEG is hung (docs/model.md#stalled-relist).
            return True, SUMMARY_WINDOW_SECONDS
        if recent is not None:
            return False, None
    if not window.is_lifetime and window.relists is not None:
        return False, None
    return None, None
