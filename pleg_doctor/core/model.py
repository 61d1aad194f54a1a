"""The reference model of the kubelet's PLEG relist loop (docs/model.md).

What it answers, from a `Window` of kubelet metrics:

* how long a relist should take given the runtime's per-call latencies and how many pods each
  relist inspects (`D ≈ G + N·per-pod cost + H·τ`, docs/model.md#relist-duration), and how that compares with the relist
  duration the kubelet measured (the residual: cost no CRI call explains);
* the worst age `now - relistTime` the node reaches (`D_k + P + G_{k+1}`, docs/model.md#worst-age) and so the
  headroom against the threshold (180 s; 600 s for generic PLEG under EventedPLEG);
* how many hung CRI calls (each costing the 2-minute `--runtime-request-timeout`) one relist absorbs;
* at how many pods the steady state would cross the threshold.

Pure and deterministic: every input is an argument, every constant cites its section.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal, NamedTuple

from pleg_doctor.core import terms
from pleg_doctor.core.distribution import DEF_BUCKETS_TOP_SECONDS, OpStats
from pleg_doctor.core.formulas import Env
from pleg_doctor.core.records import record
from pleg_doctor.core.snapshot import Snapshot
from pleg_doctor.core.window import Window

# --- Constants (docs/model.md#constants) ----------------------------------------------------
GENERIC_RELIST_PERIOD_SECONDS = 1.0
"""`plegRelistPeriod` / `genericPlegRelistPeriod` = 1 s, unchanged since PLEG exists (docs/model.md#constants)."""
GENERIC_RELIST_THRESHOLD_SECONDS = 180.0
"""`relistThreshold` / `genericPlegRelistThreshold` = 3 min, never configurable (docs/model.md#constants)."""
EVENTED_RELIST_PERIOD_SECONDS = 300.0
"""`eventedPlegRelistPeriod`: generic relist period while EventedPLEG is in use (docs/model.md#eventedpleg)."""
EVENTED_RELIST_THRESHOLD_SECONDS = 600.0
"""`eventedPlegRelistThreshold`: generic threshold while EventedPLEG is in use (docs/model.md#eventedpleg)."""
EVENTED_MAX_STREAM_RETRIES = 5
"""`eventedPlegMaxStreamRetries`: stream errors before falling back to generic relisting (docs/model.md#eventedpleg)."""
PLEG_CHANNEL_CAPACITY = 1000
"""`plegChannelCapacity` (docs/model.md#constants): events beyond it are discarded (≥1.14) or block (≤1.13)."""
DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS = 120.0
"""`--runtime-request-timeout` default, 2 min: the cost of one hung CRI call (docs/model.md#constants)."""
SANDBOXES_PER_POD = 1.0
"""`S̄`: not observable from metrics; 1 unless sandboxes were recreated (docs/model.md#terms)."""

LIST_OPS = ("list_podsandbox", "list_containers")
"""The two calls of `GetPods(all=true)` at the start of every relist (docs/model.md#the-relist-loop)."""
STATUS_OPS = ("podsandbox_status", "container_status")
"""The per-pod inspection calls of `GetPodStatus` (docs/model.md#the-relist-loop)."""
RELIST_OPS = (*LIST_OPS, *STATUS_OPS)

PlegMode = Literal["generic", "evented", "unknown"]


@record(kw_only=True)
class PlegConstants:
    """The PLEG constants in force for one kubelet version and mode."""

    mode: PlegMode
    relist_period_seconds: float
    """`P`."""
    relist_threshold_seconds: float
    """`T`."""
    runtime_request_timeout_seconds: float
    """`τ`."""
    evented_fallen_back: bool = False
    """EventedPLEG gave up after 5 stream errors: generic runs at 1 s / 3 min again (docs/model.md#eventedpleg)."""
    non_blocking_events: bool = True
    """≥1.14: a full event channel discards (`kubelet_pleg_discard_events`); ≤1.13 it blocks
    and can deadlock the relist (kubernetes#72482, docs/model.md#constants)."""
    has_last_seen: bool = True
    """≥1.18: `kubelet_pleg_last_seen_seconds` exists (docs/model.md#metric-names-by-era)."""
    relist_time_after_getpods: bool = True
    """≥1.7: the health clock is reset after `GetPods` succeeds, not before (kubernetes#45496, docs/model.md#the-relist-loop)."""
    may_inspect_twice: bool = True
    """≤1.31: a failing pod with events can be inspected twice per relist (2τ, kubernetes#94829, docs/model.md#constants)."""


def constants_for(
    version: tuple[int, int] | None,
    *,
    evented_gate: bool | None,
    evented_errors: float | None = None,
    runtime_request_timeout_seconds: float = DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS,
) -> PlegConstants:
    """The constants for kubelet `version` (None: assume current) and the EventedPLEG gate."""
    minor = version[1] if version is not None and version[0] == 1 else 99
    gate = bool(evented_gate) and minor >= 26
    fallen_back = gate and (evented_errors or 0) >= EVENTED_MAX_STREAM_RETRIES
    evented_in_use = gate and not fallen_back
    mode: PlegMode = "evented" if gate else ("generic" if version is not None else "unknown")
    return PlegConstants(
        mode=mode,
        relist_period_seconds=EVENTED_RELIST_PERIOD_SECONDS
        if evented_in_use
        else GENERIC_RELIST_PERIOD_SECONDS,
        relist_threshold_seconds=EVENTED_RELIST_THRESHOLD_SECONDS
        if evented_in_use
        else GENERIC_RELIST_THRESHOLD_SECONDS,
        runtime_request_timeout_seconds=runtime_request_timeout_seconds,
        evented_fallen_back=fallen_back,
        non_blocking_events=minor >= 14,
        has_last_seen=minor >= 18,
        relist_time_after_getpods=minor >= 7,
        may_inspect_twice=minor <= 31,
    )


@record(kw_only=True)
class RelistCosts:
    """The inputs of the cost model (docs/model.md#terms), all per relist or per call."""

    list_podsandbox_seconds: float
    """`L_lps`: one `ListPodSandbox`."""
    list_containers_seconds: float
    """`L_lc`: one `ListContainers`."""
    podsandbox_status_seconds: float
    """`L_pss`: one `PodSandboxStatus` that did not time out."""
    container_status_seconds: float
    """`L_cs`: one `ContainerStatus` that did not time out."""
    pods_inspected_per_relist: float
    """`N`: pods with events, in reinspection or watched."""
    podsandbox_status_calls_per_relist: float
    """`N·S̄`."""
    container_status_calls_per_relist: float
    """`N·C̄`."""
    hung_calls_per_relist: float = 0.0
    """`H`: calls per relist that run into the CRI timeout."""
    hung_call_seconds: float | None = None
    """What one hung call costs; None means `τ`. With DefBuckets (≤1.19) the runtime histogram
    only says "over 10 s", so the cost is estimated from `_sum` instead (docs/model.md#estimating-the-terms)."""
    edge_seconds_per_relist: float = 0.0
    """Status-call time of the relists in progress at the window's edges, per relist: added for
    the one running at the start (its duration is in the window, its earlier calls are not),
    subtracted for the one running at the end (its calls are in, its duration is not yet). See
    `window_edges` and docs/model.md "Window edges and failed relists"."""


@record(kw_only=True)
class Prediction:
    """The model's relist duration and its terms."""

    getpods_seconds: float
    """`G = L_lps + L_lc`: the part before the health clock resets."""
    inspection_seconds: float
    """`N·(L_lps + L_lc) + N·S̄·L_pss + N·C̄·L_cs`: the serial `updateCache` loop (docs/model.md#relist-duration)."""
    hung_seconds: float
    """`H·τ`."""
    edge_seconds: float
    """The window-edge correction per relist (`RelistCosts.edge_seconds_per_relist`)."""
    relist_seconds: float
    """`D = G + inspection + edges + H·τ`."""
    terms: dict[str, float]
    """Named terms for `--explain` and the JSON `model.terms`."""

    @property
    def per_pod_total_seconds(self) -> float:
        """`G + inspection + edges`: everything but the hung calls."""
        return self.getpods_seconds + self.inspection_seconds + self.edge_seconds


def _cost_model(
    costs: RelistCosts,
    constants: PlegConstants,
    tolerance: float = terms.EXACT_COUNTS_TOLERANCE,
) -> dict[str, float | None]:
    """The cost model's formulas (`terms.PREDICTION`) evaluated for `costs`, by name;
    `tolerance` is how far above a whole number of hung calls per relist is noise."""
    env: dict[str, float | None] = {
        field.name: getattr(costs, field.name) for field in dataclasses.fields(costs)
    }
    env["relist_threshold_seconds"] = constants.relist_threshold_seconds
    env["relist_period_seconds"] = constants.relist_period_seconds
    env["runtime_request_timeout_seconds"] = constants.runtime_request_timeout_seconds
    env[terms.HUNG_TOLERANCE.name] = tolerance
    for formula in terms.PREDICTION:
        env[formula.name] = formula.evaluate(env)
    return env


def _known(value: float | None) -> float:
    """A figure the formulas always give when their inputs are all there."""
    if value is None:
        raise ValueError("a model formula has no value although its inputs are all known")
    return value


def predict_relist(costs: RelistCosts, constants: PlegConstants) -> Prediction:
    """Expected relist duration from per-call latencies and pods inspected (docs/model.md#relist-duration).

    Mean field: `D ≈ L_lps + L_lc + N·(L_lps + L_lc) + N·S̄·L_pss + N·C̄·L_cs + H·τ`; the per-pod
    `ListPodSandbox`/`ListContainers` are the label-filtered calls of `GetPodStatus` (docs/model.md#the-relist-loop).
    The formulas are `terms.PREDICTION`, the same the recording rules render as PromQL.
    """
    return _prediction_from(_cost_model(costs, constants))


def _prediction_from(env: Env) -> Prediction:
    """The `Prediction` of an evaluated cost model (`_cost_model`)."""
    getpods = _known(env[terms.GETPODS.name])
    inspection = _known(env[terms.INSPECTION.name])
    hung = _known(env[terms.HUNG_TERM.name])
    edges = _known(env[terms.WINDOW_EDGES.name])
    named = {
        "getpods": getpods,
        "per_pod_lists": _known(env[terms.PER_POD_LISTS.name]),
        "podsandbox_status": _known(env[terms.SANDBOX_STATUS.name]),
        "container_status": _known(env[terms.CONTAINER_STATUS.name]),
        "hung_calls": hung,
    }
    if edges:
        named["window_edges"] = edges
    return Prediction(
        getpods_seconds=getpods,
        inspection_seconds=inspection,
        hung_seconds=hung,
        edge_seconds=edges,
        relist_seconds=_known(env[terms.PREDICTED_RELIST.name]),
        terms=named,
    )


def worst_age_seconds(
    relist_seconds: float, getpods_seconds: float, period_seconds: float
) -> float:
    """`D_k + P + G_{k+1}`: the age peaks just before the next relist's `GetPods` ends (docs/model.md#worst-age)."""
    env: dict[str, float | None] = {
        "predicted_relist_for_age_seconds": relist_seconds,
        "relist_tail_seconds": None,
        "pod_relist_seconds_per_relist": 0.0,
        "relist_period_seconds": period_seconds,
        "getpods_seconds": getpods_seconds,
        "relist_threshold_seconds": 0.0,  # only the anchor of the formula's constants
    }
    return _known(terms.PREDICTED_WORST_AGE.evaluate(env))


def hung_calls_tolerated(
    constants: PlegConstants, getpods_seconds: float, inspection_seconds: float
) -> int:
    """`floor((T − P − G − N·cost)/τ)`, at least 0: hung calls one relist absorbs (docs/model.md#hung-calls-tolerated).

    With the defaults it is 1: one timeout (120 s) leaves about 60 s; two break the threshold.
    """
    if constants.runtime_request_timeout_seconds <= 0:
        return 0
    env: dict[str, float | None] = {
        "relist_threshold_seconds": constants.relist_threshold_seconds,
        "relist_period_seconds": constants.relist_period_seconds,
        "runtime_request_timeout_seconds": constants.runtime_request_timeout_seconds,
        "getpods_seconds": getpods_seconds,
        "inspection_seconds": inspection_seconds,
    }
    return _whole(terms.HUNG_CALLS_TOLERATED.evaluate(env))


def _whole(value: float | None) -> int:
    """A whole-number figure of the formulas; 0 for one that is not a finite number (figures
    no kubelet gives: the verdict says so)."""
    return int(value) if value is not None and math.isfinite(value) else 0


def pods_at_threshold(
    constants: PlegConstants,
    prediction: Prediction,
    running_pods: float | None,
    hung_calls: int = 0,
) -> int | None:
    """Pods at which the steady-state worst age reaches the threshold.

    With `x = p/p0` the pods relative to today: the list latencies grow with the sandboxes and
    containers listed (`G`, and the label-filtered per-pod lists, which the runtime answers by
    scanning everything), and the pods inspected per relist grow with the pods (churn is a share
    of them; `pod_density` in docs/model.md#causes). So the worst age `D + P + G` is
    `P + hung·τ + x·(2G + N·S̄·L_pss + N·C̄·L_cs) + x²·N·(L_lps + L_lc)`: solve for `x`.
    Scaling every list with the pods is the conservative choice (a list also has a fixed
    per-call overhead that does not grow).
    """
    if running_pods is None or running_pods <= 0:
        return None
    quadratic = prediction.terms.get("per_pod_lists", 0.0)
    linear = (
        2 * prediction.getpods_seconds
        + prediction.terms.get("podsandbox_status", 0.0)
        + prediction.terms.get("container_status", 0.0)
    )
    budget = (
        constants.relist_threshold_seconds
        - constants.relist_period_seconds
        - hung_calls * constants.runtime_request_timeout_seconds
    )
    if budget <= 0:
        return 0
    if quadratic <= 0 and linear <= 0:
        return None
    if quadratic <= 1e-15:
        share = budget / linear
    else:
        share = (-linear + math.sqrt(linear * linear + 4 * quadratic * budget)) / (2 * quadratic)
    pods = running_pods * share
    return math.floor(pods) if math.isfinite(pods) else None


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
        list_podsandbox_seconds=_known(values[terms.COST_LIST_PODSANDBOX.name]),
        list_containers_seconds=_known(values[terms.COST_LIST_CONTAINERS.name]),
        podsandbox_status_seconds=_known(values[terms.COST_PODSANDBOX_STATUS.name]),
        container_status_seconds=_known(values[terms.COST_CONTAINER_STATUS.name]),
        pods_inspected_per_relist=_known(values[terms.COST_PODS.name]),
        podsandbox_status_calls_per_relist=_known(values[terms.COST_SANDBOX_CALLS.name]),
        container_status_calls_per_relist=_known(values[terms.COST_CONTAINER_CALLS.name]),
        hung_calls_per_relist=_known(values[terms.COST_HUNG_CALLS.name]),
        hung_call_seconds=values[terms.COST_HUNG_SECONDS.name],
        edge_seconds_per_relist=_known(values[terms.COST_EDGES.name]),
    )


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
    age, _ = _last_seen_age(window, constants)
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
        "scrape_age_peak_seconds": _scrape_age_peak(window, constants)[0],
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
        env.update(_cost_model(costs, constants, tolerance))
        prediction = _prediction_from(env)
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
        hung_worst = _whole(env[terms.HUNG_WORST.name])
    # 1.36: per-pod relist requests share `relistLock` with the global relist (`pkg/kubelet/pleg/generic.go`; docs/model.md#relist-duration),
    # so the time they hold it per global relist delays the next relist start and the health clock.
    for formula in terms.AGES:
        env[formula.name] = formula.evaluate(env)
    age, age_upper = _last_seen_age(window, constants)
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
    _, earlier_at = _scrape_age_peak(window, constants)
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
        hung_calls_tolerated=_whole(tolerated) if tolerated is not None else None,
        hung_calls_worst_relist=hung_worst,
        full_relist_seconds=full_relist_seconds(costs, window.last) if costs is not None else None,
        pod_relist_seconds_per_relist=_known(env[terms.LOCK_WAIT.name]),
        pods_at_threshold=pods_limit,
        peak_age_seconds=peak,
        peak_age_captured_at=peak_at,
        explanations=explain_relists(window, constants, costs, env),
        headroom_warning_seconds=env[terms.HEADROOM_WARNING.name],
        headroom_low=terms.HEADROOM_LOW.holds(env),
    )


class HungCalls(NamedTuple):
    """The relist operations' timed-out calls of a window, and how many were inside relists.

    NamedTuples for this and `WindowEdges`: immutable intermediate results, cheaper to define
    than dataclasses on the start-up path of every `check`.
    """

    by_operation: dict[str, float]
    """Timeout-sized calls per relist operation (`op_timeouts`)."""
    call_seconds: float | None
    """What one of them cost (`hung_call_seconds`, weighted), None without any."""
    in_relists: float
    """How many the relists can hold (`terms.RELIST_HUNG_CALLS`)."""

    @property
    def total(self) -> float:
        """All timeout-sized calls of the relist operations, whoever made them."""
        return sum(self.by_operation.values())


def hung_accounting(window: Window, timeout_seconds: float) -> HungCalls:
    """Count the timed-out relist-operation calls of `window` and book them to relists
    (`terms.RELIST_HUNG_CALLS`: the relists over the top bucket bound them)."""
    ops = window.runtime_ops
    counts = {op: op_timeouts(ops.get(op)) or 0.0 for op in RELIST_OPS}
    constants = PlegConstants(
        mode="generic",
        relist_period_seconds=GENERIC_RELIST_PERIOD_SECONDS,
        relist_threshold_seconds=GENERIC_RELIST_THRESHOLD_SECONDS,
        runtime_request_timeout_seconds=timeout_seconds,
    )
    return _hung_calls(counts, formula_inputs(window, constants))


def _hung_calls(counts: dict[str, float], env: Env) -> HungCalls:
    """`HungCalls` from the timed-out calls per operation and the formulas' inputs."""
    total = env["relist_timeouts"] or 0.0
    cost = _known(env["relist_timeout_seconds"]) / total if total else None
    in_relists = env.get(terms.RELIST_HUNG_CALLS.name)
    if in_relists is None:
        in_relists = terms.RELIST_HUNG_CALLS.evaluate(env)
    return HungCalls(
        by_operation=counts,
        call_seconds=cost,
        in_relists=in_relists if in_relists is not None else max(0.0, total),
    )


class WindowEdges(NamedTuple):
    """The relists in progress at a window's two edges, from the health clock's age there.

    Runtime-operation counters count a call when it returns; the relist histogram counts a
    relist when it ends. `kubelet_pleg_last_seen_seconds` is the start of the latest relist whose
    `GetPods` succeeded, so the age at an edge is how long the relist in progress has been
    running: past what a loop without status calls reaches (`G + P + G`, the previous relist's
    `GetPods`, the period and the next `GetPods`) and the gauge's 1 s truncation, that much of
    its status-call time lies on the other side of the edge from its duration
    (`terms.EDGE_START`, `terms.EDGE_END`).
    """

    start_age_seconds: float | None
    end_age_seconds: float | None
    start_seconds: float
    """Status-call time of the relist in progress at the start (its duration is inside)."""
    end_seconds: float
    """Status-call time of the relist in progress at the end (its duration is not yet)."""


def window_edges(env: Env) -> WindowEdges:
    """The status-call time of the relists in progress at the window's edges, from an evaluated
    cost model's `env` (`_costs_from`, `formula_inputs`)."""
    return WindowEdges(
        start_age_seconds=env["edge_start_age_seconds"],
        end_age_seconds=env["last_seen_age_seconds"],
        start_seconds=env[terms.EDGE_START.name] or 0.0,
        end_seconds=env[terms.EDGE_END.name] or 0.0,
    )


CRI_NAMES = {
    "list_podsandbox": "ListPodSandbox",
    "list_containers": "ListContainers",
    "podsandbox_status": "PodSandboxStatus",
    "container_status": "ContainerStatus",
}
"""The CRI method behind each relist `operation_type`."""


def explain_relists(
    window: Window, constants: PlegConstants, costs: RelistCosts | None, env: Env
) -> tuple[str, ...]:
    """Say in words what the per-call model cannot explain about the window's relists.

    Relists in progress at the window's edges (counted on one side, their calls on the other),
    relists that failed at the CRI timeout (a hung `GetPods` call: the health clock did not
    move), relists that waited on a hung status call, and timed-out calls of other callers.
    `env` is the evaluated model (`evaluate`).
    """
    if costs is None:
        return ()
    tau = constants.runtime_request_timeout_seconds
    lines: list[str] = []
    if not window.is_lifetime:
        edges = window_edges(env)
        # A stalled edge moves nothing (its relist sits in one call, counted where it returns):
        # the failed or hung relists below say what happened there.
        if edges.start_age_seconds is not None and edges.start_seconds >= 1.0:
            lines.append(
                f"a relist was in progress at the window's start (age "
                f"{edges.start_age_seconds:.0f} s): its duration is counted in the window, "
                f"≈ {edges.start_seconds:.0f} s of its status calls came before it"
            )
        if edges.end_age_seconds is not None and edges.end_seconds >= 1.0:
            lines.append(
                f"a relist was in progress at the window's end (age "
                f"{edges.end_age_seconds:.0f} s): its ≈ {edges.end_seconds:.0f} s of status "
                "calls are counted, its duration is not yet"
            )
    if not env["relist_timeouts"]:
        return tuple(lines)
    runtime = window.runtime_ops
    hung = _hung_calls({op: op_timeouts(runtime.get(op)) or 0.0 for op in RELIST_OPS}, env)
    if hung.total <= 0:
        return tuple(lines)
    relist = window.relist_duration
    mean = relist.over_top_mean_seconds() if relist is not None else None
    lists = {op: n for op, n in hung.by_operation.items() if op in LIST_OPS and n > 0}
    status = {op: n for op, n in hung.by_operation.items() if op in STATUS_OPS and n > 0}
    held = round(hung.in_relists)
    took = f"after ≈ {mean:.0f} s" if mean is not None else "at the deadline"
    if mean is not None and mean < 0.5 * tau:
        held = 0  # DefBuckets' "over 10 s" calls in relists of ≈ 10 s: not the CRI timeout
    if held and lists:
        names = " and ".join(CRI_NAMES[op] for op in lists)
        lines.append(
            f"{held} relist(s) failed {took} in {names} (the {tau:.0f} s CRI timeout): "
            "GetPods failed, so the health clock did not move"
        )
    elif held and status:
        names = " and ".join(CRI_NAMES[op] for op in status)
        lines.append(
            f"{held} relist(s) took {took.removeprefix('after ')}, waiting on a hung {names} "
            f"call each (the {tau:.0f} s CRI timeout): the pod is inspected again every relist"
        )
    others = hung.total - hung.in_relists
    if others >= 1:
        ops = " and ".join(CRI_NAMES[op] for op, n in hung.by_operation.items() if n > 0)
        over = relist.count_above(DEF_BUCKETS_TOP_SECONDS) if relist is not None else None
        which = (
            f"the {hung.total:.0f} timed-out {ops} call(s)"
            if others >= hung.total
            else f"{others:.0f} of the {hung.total:.0f} timed-out {ops} calls"
        )
        lines.append(
            f"{which} were not a relist's ({over or 0:.0f} relist(s) over 10 s "
            f"{_where(window)}): other callers (the /metrics container-log collector, "
            "housekeeping, garbage collection) list sandboxes and containers too"
        )
    return tuple(lines)


def _where(window: Window) -> str:
    return "since the kubelet started" if window.is_lifetime else "in the window"


def full_relist_seconds(costs: RelistCosts, snapshot: Snapshot) -> float | None:
    """Duration of a relist that inspects every pod (the first after a restart, docs/model.md#relist-duration).

    Containers per pod `C̄` from the container gauges (all states: exited ones are inspected
    too) over the running pods.
    """
    pods = snapshot.running_pods
    if pods is None or pods <= 0:
        return None
    if costs.list_podsandbox_seconds <= 0 and costs.list_containers_seconds <= 0:
        return None  # no list call answered in the window: nothing to scale from
    containers = snapshot.total_containers
    per_pod_containers = containers / pods if containers else 1.0
    getpods = costs.list_podsandbox_seconds + costs.list_containers_seconds
    per_pod = (
        getpods
        + SANDBOXES_PER_POD * costs.podsandbox_status_seconds
        + per_pod_containers * costs.container_status_seconds
    )
    return getpods + pods * per_pod


def _last_seen_age(window: Window, constants: PlegConstants) -> tuple[float | None, float | None]:
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


def _scrape_age_peak(window: Window, constants: PlegConstants) -> tuple[float | None, float | None]:
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
