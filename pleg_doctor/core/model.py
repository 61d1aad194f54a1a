"""The reference model of the kubelet's PLEG relist loop (PLEG-MODEL.md §1, §2, §6).

What it answers, from a `Window` of kubelet metrics:

* how long a relist should take given the runtime's per-call latencies and how many pods each
  relist inspects (`D ≈ G + N·per-pod cost + H·τ`, §6.2), and how that compares with the relist
  duration the kubelet measured (the residual: cost no CRI call explains);
* the worst age `now - relistTime` the node reaches (`D_k + P + G_{k+1}`, §0 and §6.2) and so the
  headroom against the threshold (180 s; 600 s for generic PLEG under EventedPLEG);
* how many hung CRI calls (each costing the 2-minute `--runtime-request-timeout`) one relist absorbs;
* at how many pods the steady state would cross the threshold.

Pure and deterministic: every input is an argument, every constant cites its section.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal, NamedTuple

from pleg_doctor.core.distribution import DEF_BUCKETS_TOP_SECONDS, OpStats
from pleg_doctor.core.snapshot import Snapshot
from pleg_doctor.core.window import Window

# --- Constants (PLEG-MODEL.md §0, §1.1, §2) ---------------------------------------------------
GENERIC_RELIST_PERIOD_SECONDS = 1.0
"""`plegRelistPeriod` / `genericPlegRelistPeriod` = 1 s, unchanged since PLEG exists (§1.1)."""
GENERIC_RELIST_THRESHOLD_SECONDS = 180.0
"""`relistThreshold` / `genericPlegRelistThreshold` = 3 min, never configurable (§0, §1.1)."""
EVENTED_RELIST_PERIOD_SECONDS = 300.0
"""`eventedPlegRelistPeriod`: generic relist period while EventedPLEG is in use (§2)."""
EVENTED_RELIST_THRESHOLD_SECONDS = 600.0
"""`eventedPlegRelistThreshold`: generic threshold while EventedPLEG is in use (§2)."""
EVENTED_MAX_STREAM_RETRIES = 5
"""`eventedPlegMaxStreamRetries`: stream errors before falling back to generic relisting (§2)."""
PLEG_CHANNEL_CAPACITY = 1000
"""`plegChannelCapacity` (§1.1): events beyond it are discarded (≥1.14) or block (≤1.13)."""
DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS = 120.0
"""`--runtime-request-timeout` default, 2 min: the cost of one hung CRI call (§0, §1.4)."""
SANDBOXES_PER_POD = 1.0
"""`S̄`: not observable from metrics; 1 unless sandboxes were recreated (§6.1)."""

LIST_OPS = ("list_podsandbox", "list_containers")
"""The two calls of `GetPods(all=true)` at the start of every relist (§1.4)."""
STATUS_OPS = ("podsandbox_status", "container_status")
"""The per-pod inspection calls of `GetPodStatus` (§1.4)."""
RELIST_OPS = (*LIST_OPS, *STATUS_OPS)

PlegMode = Literal["generic", "evented", "unknown"]


@dataclasses.dataclass(frozen=True, kw_only=True)
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
    """EventedPLEG gave up after 5 stream errors: generic runs at 1 s / 3 min again (§2)."""
    non_blocking_events: bool = True
    """≥1.14: a full event channel discards (`kubelet_pleg_discard_events`); ≤1.13 it blocks
    and can deadlock the relist (#72482, §1.6)."""
    has_last_seen: bool = True
    """≥1.18: `kubelet_pleg_last_seen_seconds` exists (§1.2)."""
    relist_time_after_getpods: bool = True
    """≥1.7: the health clock is reset after `GetPods` succeeds, not before (#45496, §1.1)."""
    may_inspect_twice: bool = True
    """≤1.31: a failing pod with events can be inspected twice per relist (2τ, #94829, §1.3)."""


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


@dataclasses.dataclass(frozen=True, kw_only=True)
class RelistCosts:
    """The inputs of the cost model (PLEG-MODEL.md §6.1 symbols), all per relist or per call."""

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
    only says "over 10 s", so the cost is estimated from `_sum` instead (§3.3)."""
    edge_seconds_per_relist: float = 0.0
    """Status-call time of the relists in progress at the window's edges, per relist: added for
    the one running at the start (its duration is in the window, its earlier calls are not),
    subtracted for the one running at the end (its calls are in, its duration is not yet). See
    `window_edges` and docs/model.md "Window edges and failed relists"."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Prediction:
    """The model's relist duration and its terms."""

    getpods_seconds: float
    """`G = L_lps + L_lc`: the part before the health clock resets."""
    inspection_seconds: float
    """`N·(L_lps + L_lc) + N·S̄·L_pss + N·C̄·L_cs`: the serial `updateCache` loop (§1.5)."""
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


def predict_relist(costs: RelistCosts, constants: PlegConstants) -> Prediction:
    """Expected relist duration from per-call latencies and pods inspected (PLEG-MODEL.md §6.2).

    Mean field: `D ≈ L_lps + L_lc + N·(L_lps + L_lc) + N·S̄·L_pss + N·C̄·L_cs + H·τ`; the per-pod
    `ListPodSandbox`/`ListContainers` are the label-filtered calls of `GetPodStatus` (§1.4).
    """
    getpods = costs.list_podsandbox_seconds + costs.list_containers_seconds
    per_pod_lists = costs.pods_inspected_per_relist * getpods
    sandbox = costs.podsandbox_status_calls_per_relist * costs.podsandbox_status_seconds
    container = costs.container_status_calls_per_relist * costs.container_status_seconds
    per_hung = (
        costs.hung_call_seconds
        if costs.hung_call_seconds is not None
        else constants.runtime_request_timeout_seconds
    )
    hung = costs.hung_calls_per_relist * per_hung
    inspection = per_pod_lists + sandbox + container
    # The edge correction moves status-call time across the window's edges; it never makes the
    # inspection negative (a window cannot have spent less than nothing).
    edges = max(costs.edge_seconds_per_relist, -inspection)
    terms = {
        "getpods": getpods,
        "per_pod_lists": per_pod_lists,
        "podsandbox_status": sandbox,
        "container_status": container,
        "hung_calls": hung,
    }
    if edges:
        terms["window_edges"] = edges
    return Prediction(
        getpods_seconds=getpods,
        inspection_seconds=inspection,
        hung_seconds=hung,
        edge_seconds=edges,
        relist_seconds=getpods + inspection + edges + hung,
        terms=terms,
    )


def worst_age_seconds(
    relist_seconds: float, getpods_seconds: float, period_seconds: float
) -> float:
    """`D_k + P + G_{k+1}`: the age peaks just before the next relist's `GetPods` ends (§6.2)."""
    return relist_seconds + period_seconds + getpods_seconds


def hung_calls_tolerated(
    constants: PlegConstants, getpods_seconds: float, inspection_seconds: float
) -> int:
    """`floor((T − P − G − N·cost)/τ)`, at least 0: hung calls one relist absorbs (§6.2).

    With the defaults it is 1: one timeout (120 s) leaves about 60 s; two break the threshold.
    """
    slack = (
        constants.relist_threshold_seconds
        - constants.relist_period_seconds
        - getpods_seconds
        - inspection_seconds
    )
    tolerated = slack / constants.runtime_request_timeout_seconds if slack > 0 else 0.0
    if not (math.isfinite(tolerated) and constants.runtime_request_timeout_seconds > 0):
        return 0  # no slack, or figures no kubelet gives (the verdict says so)
    return max(0, math.floor(tolerated))


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
    of them; PLEG-MODEL.md §7 row 5). So the worst age `D + P + G` is
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


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelResult:
    """The model applied to one Window: predictions beside what the kubelet measured."""

    constants: PlegConstants
    costs: RelistCosts | None
    """None when the runtime operation metrics are missing."""
    prediction: Prediction | None
    observed_relist_seconds: float | None
    """Mean relist duration measured by the kubelet in the window (`Δsum/Δcount`)."""
    residual_seconds: float | None
    """Observed minus predicted mean relist: cost no CRI call explains (§6.3)."""
    tail_relist_seconds: float | None
    """The long relists of the window: mean of those above 10 s when there are any, else p99."""
    relists_over_top_bucket: float | None
    """Relists above the 10 s DefBuckets top in the window."""
    last_seen_age_seconds: float | None
    """`captured_at − kubelet_pleg_last_seen_seconds` (lower bound when the time is estimated)."""
    last_seen_age_upper_seconds: float | None
    stalled: bool | None
    """No relist completed for much longer than the relists take: a relist hangs (§6.4)."""
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
    """When that scrape was taken (Unix seconds)."""
    explanations: tuple[str, ...] = ()
    """What the modelled calls cannot show by themselves, in words: relists in progress at the
    window's edges, relists that failed at the CRI timeout, timeouts of other callers."""
    """A relist that inspects every pod, as the first one after a kubelet restart does
    (§6.2 "Special case"): `G + pods·(L_lps + L_lc + S̄·L_pss + C̄·L_cs)`."""


def op_timeouts(op: OpStats | None) -> float | None:
    """Calls of `op` that ran into a timeout-sized latency.

    ≥1.20 exponential buckets: the (119.2, 298] bucket (§3.3). DefBuckets (≤1.19): every call over
    10 s (a healthy CRI call takes milliseconds). Summaries (≤1.13): unknown.
    """
    if op is None or op.latency is None:
        return None
    exact = op.timeouts
    if exact is not None:
        return exact
    return op.latency.count_above(DEF_BUCKETS_TOP_SECONDS)


def hung_call_seconds(op: OpStats | None, timeout_seconds: float) -> float:
    """How long one of `op`'s timeout-sized calls took.

    Exponential buckets put them in (119.2, 298]: they took `τ`. DefBuckets only say "over 10 s":
    estimate their mean from `_sum` (`Distribution.over_top_mean_seconds`), capped at `τ`.
    """
    if op is None or op.latency is None or op.timeouts is not None:
        return timeout_seconds
    estimate = op.latency.over_top_mean_seconds()
    return min(timeout_seconds, estimate) if estimate is not None else timeout_seconds


def mean_without_timeouts(op: OpStats | None, timeout_seconds: float) -> float | None:
    """Mean latency of `op`'s answered calls: the timed-out ones taken out (None without data)."""
    if op is None or op.latency is None or op.latency.count <= 0 or not op.latency.has_sum:
        return None
    timeouts = op_timeouts(op) or 0.0
    calls = op.latency.count - timeouts
    if calls <= 0:
        return 0.0
    # Take the timed-out calls out so the mean is that of answered calls.
    spent = timeouts * hung_call_seconds(op, timeout_seconds)
    return max(0.0, (op.latency.sum_seconds - spent) / calls)


def relist_costs(window: Window, constants: PlegConstants) -> RelistCosts | None:
    """The cost-model inputs estimated from a window.

    Two corrections the real kubelet needs (docs/model.md "Window edges and failed relists"):
    the relists in progress at the window's edges (`window_edges`), and the hung calls booked
    to relists bounded by the relists that were long enough to hold them (`hung_calls_in_relists`).
    """
    relists = window.relists
    ops = window.runtime_ops
    if not relists or relists <= 0 or not any(op in ops for op in RELIST_OPS):
        return None
    if any(
        (measured := ops[op].latency) is not None and not measured.has_sum
        for op in RELIST_OPS
        if op in ops
    ):
        return None  # a latency without `_sum` has no mean: no prediction is built on a guess
    tau = constants.runtime_request_timeout_seconds
    latency = {op: mean_without_timeouts(ops.get(op), tau) or 0.0 for op in RELIST_OPS}
    sandbox_calls = ops["podsandbox_status"].calls / relists if "podsandbox_status" in ops else 0.0
    container_calls = ops["container_status"].calls / relists if "container_status" in ops else 0.0
    hung = hung_accounting(window, tau)
    getpods = latency["list_podsandbox"] + latency["list_containers"]
    edges = window_edges(window, constants, getpods)
    return RelistCosts(
        list_podsandbox_seconds=latency["list_podsandbox"],
        list_containers_seconds=latency["list_containers"],
        podsandbox_status_seconds=latency["podsandbox_status"],
        container_status_seconds=latency["container_status"],
        pods_inspected_per_relist=sandbox_calls / SANDBOXES_PER_POD,
        podsandbox_status_calls_per_relist=sandbox_calls,
        container_status_calls_per_relist=container_calls,
        hung_calls_per_relist=hung.in_relists / relists,
        hung_call_seconds=hung.call_seconds,
        edge_seconds_per_relist=(edges.start_seconds - edges.end_seconds) / relists,
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
    """How many the relists can hold (`hung_calls_in_relists`)."""

    @property
    def total(self) -> float:
        """All timeout-sized calls of the relist operations, whoever made them."""
        return sum(self.by_operation.values())


def hung_accounting(window: Window, timeout_seconds: float) -> HungCalls:
    """Count the timed-out relist-operation calls of `window` and book them to relists."""
    ops = window.runtime_ops
    counts = {op: op_timeouts(ops.get(op)) or 0.0 for op in RELIST_OPS}
    total = sum(counts.values())
    cost = (
        sum(n * hung_call_seconds(ops.get(op), timeout_seconds) for op, n in counts.items()) / total
        if total
        else None
    )
    return HungCalls(
        by_operation=counts,
        call_seconds=cost,
        in_relists=hung_calls_in_relists(window, total, cost or timeout_seconds),
    )


def hung_calls_in_relists(window: Window, timeouts: float, per_hung_seconds: float) -> float:
    """The timed-out relist-operation calls that happened inside relists.

    Other callers time out on the same operations: the `/metrics` handler's container-log
    collector, housekeeping and garbage collection list sandboxes and containers too. A hung
    call inside a relist makes that relist last at least the call, and failed relists are still
    observed in `kubelet_pleg_relist_duration_seconds`; so the relists over the top bucket, each
    holding `round(their mean / cost of a hung call)` calls, bound how many there were. Without
    a top bucket below the cost of a hung call (a `--runtime-request-timeout` under 10 s), every
    timeout is booked.
    """
    relist = window.relist_duration
    if timeouts <= 0 or relist is None:
        return max(0.0, timeouts)
    top = relist.top_finite_bucket
    over = relist.count_above(top) if top is not None else None
    if top is None or over is None or per_hung_seconds <= top:
        return timeouts
    mean = relist.over_top_mean_seconds()
    if not over or mean is None:
        return 0.0
    return min(timeouts, over * round(mean / per_hung_seconds))


class WindowEdges(NamedTuple):
    """The relists in progress at a window's two edges, from the health clock's age there.

    Runtime-operation counters count a call when it returns; the relist histogram counts a
    relist when it ends. `kubelet_pleg_last_seen_seconds` is the start of the latest relist whose
    `GetPods` succeeded, so the age at an edge is how long the relist in progress has been
    running: past what a loop without status calls reaches (`G + P + G`, the previous relist's
    `GetPods`, the period and the next `GetPods`) and the gauge's 1 s truncation, that much of
    its status-call time lies on the other side of the edge from its duration.
    """

    start_age_seconds: float | None
    end_age_seconds: float | None
    start_seconds: float
    """Status-call time of the relist in progress at the start (its duration is inside)."""
    end_seconds: float
    """Status-call time of the relist in progress at the end (its duration is not yet)."""
    start_stalled: bool = False
    end_stalled: bool = False
    """The edge fell in a stall: the relist in progress sits in one call that is counted whole
    where it returns, so nothing is moved across that edge."""


CRI_NAMES = {
    "list_podsandbox": "ListPodSandbox",
    "list_containers": "ListContainers",
    "podsandbox_status": "PodSandboxStatus",
    "container_status": "ContainerStatus",
}
"""The CRI method behind each relist `operation_type`."""


def explain_relists(
    window: Window, constants: PlegConstants, costs: RelistCosts | None
) -> tuple[str, ...]:
    """Say in words what the per-call model cannot explain about the window's relists.

    Relists in progress at the window's edges (counted on one side, their calls on the other),
    relists that failed at the CRI timeout (a hung `GetPods` call: the health clock did not
    move), relists that waited on a hung status call, and timed-out calls of other callers.
    """
    if costs is None:
        return ()
    tau = constants.runtime_request_timeout_seconds
    lines: list[str] = []
    if not window.is_lifetime:
        getpods = costs.list_podsandbox_seconds + costs.list_containers_seconds
        edges = window_edges(window, constants, getpods)
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
    hung = hung_accounting(window, tau)
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


GAUGE_TRUNCATION_SECONDS = 1.0
"""`kubelet_pleg_last_seen_seconds` holds whole seconds (`relistTime.Unix()`)."""


def window_edges(window: Window, constants: PlegConstants, getpods_seconds: float) -> WindowEdges:
    """The status-call time of the relists in progress at the window's edges.

    An edge is stalled when its age is past the CRI timeout `τ` (no status call lasts longer),
    or past the stall floor while list calls failed in the window (`GetPods` failing leaves the
    gauge stale): the in-progress relist then sits in one call, counted whole where it returns,
    and nothing moves. A lifetime window starts at the kubelet's start: nothing in progress.
    """
    tau = constants.runtime_request_timeout_seconds
    lists_failed = any(
        (op := window.runtime_ops.get(name)) is not None and op.errors > 0 for name in LIST_OPS
    )
    # A loop with no status call to make reaches `D + P + G` with `D = G` (the finished relist,
    # the sleep, the next relist's own `GetPods`) plus the truncation: only age beyond that can
    # be a status call in progress.
    skip = (
        worst_age_seconds(getpods_seconds, getpods_seconds, constants.relist_period_seconds)
        + GAUGE_TRUNCATION_SECONDS
    )

    def at(snapshot: Snapshot | None) -> tuple[float | None, float, bool]:
        if (
            snapshot is None
            or constants.mode == "evented"
            or snapshot.captured_at is None
            or snapshot.last_seen_seconds is None
        ):
            return None, 0.0, False
        age = snapshot.captured_at - snapshot.last_seen_seconds
        stalled = age > tau or (lists_failed and age > STALL_AGE_FLOOR_SECONDS)
        return age, 0.0 if stalled else max(0.0, age - skip), stalled

    start_age, start, start_stalled = at(window.first)
    end_age, end, end_stalled = at(window.last)
    return WindowEdges(
        start_age_seconds=start_age,
        end_age_seconds=end_age,
        start_seconds=start,
        end_seconds=end,
        start_stalled=start_stalled,
        end_stalled=end_stalled,
    )


def evaluate(window: Window, constants: PlegConstants) -> ModelResult:
    """Apply the model to `window`: prediction, observation, residual, ages and headroom."""
    costs = relist_costs(window, constants)
    prediction = predict_relist(costs, constants) if costs is not None else None
    relist = window.relist_duration
    observed = relist.mean_seconds if relist is not None else None
    residual = (
        observed - prediction.relist_seconds
        if observed is not None and prediction is not None
        else None
    )
    period = constants.relist_period_seconds
    tau = constants.runtime_request_timeout_seconds
    getpods = prediction.getpods_seconds if prediction is not None else 0.0

    over_top = relist.count_above(DEF_BUCKETS_TOP_SECONDS) if relist is not None else None
    tail = _tail_relist(window)

    # Hung calls in the worst relist: in a window, any timeout means at least one relist carried
    # it whole (ceil); over a lifetime, old timeouts say nothing about now.
    hung_worst = 0
    if costs is not None and not window.is_lifetime and costs.hung_calls_per_relist > 0:
        hung_worst = max(1, math.ceil(min(costs.hung_calls_per_relist, 1e6) - 1e-9))

    predicted_relist: float | None = None
    if prediction is not None:
        per_hung = costs.hung_call_seconds if costs and costs.hung_call_seconds else tau
        predicted_relist = prediction.per_pod_total_seconds + (
            hung_worst * per_hung if not window.is_lifetime else prediction.hung_seconds
        )
    candidates = [v for v in (predicted_relist, tail) if v is not None]
    # 1.36: per-pod relist requests share `relistLock` with the global relist (ANCHORS.md §4.1),
    # so the time they hold it per global relist delays the next relist start and the health clock.
    lock_wait = _pod_relist_seconds_per_relist(window)
    predicted_worst = (
        worst_age_seconds(max(candidates) + lock_wait, getpods, period) if candidates else None
    )

    age, age_upper = _last_seen_age(window, constants)
    peak, peak_at = _peak_age(window, constants, age)
    stalled, stalled_for = _stall(window, age, tail, period)
    now_age = age
    if stalled_for is not None:
        now_age = max(now_age or 0.0, stalled_for)
    # The worst age the data supports: now, predicted for the steady state, at any scrape of the
    # window, and no less than the longest time between scrapes with no relist completed.
    worst_candidates = [
        v for v in (now_age, predicted_worst, peak, window.quiet_seconds) if v is not None
    ]
    worst = max(worst_candidates) if worst_candidates else None
    headroom = constants.relist_threshold_seconds - worst if worst is not None else None

    tolerated = (
        hung_calls_tolerated(constants, prediction.getpods_seconds, prediction.inspection_seconds)
        if prediction is not None
        else None
    )
    pods_limit = (
        pods_at_threshold(constants, prediction, window.last.running_pods, hung_worst)
        if prediction is not None
        else None
    )
    return ModelResult(
        constants=constants,
        costs=costs,
        prediction=prediction,
        observed_relist_seconds=observed,
        residual_seconds=residual,
        tail_relist_seconds=tail,
        relists_over_top_bucket=over_top,
        last_seen_age_seconds=age,
        last_seen_age_upper_seconds=age_upper,
        stalled=stalled,
        stalled_for_seconds=stalled_for,
        predicted_worst_age_seconds=predicted_worst,
        worst_age_seconds=worst,
        headroom_seconds=headroom,
        hung_calls_tolerated=tolerated,
        hung_calls_worst_relist=hung_worst,
        full_relist_seconds=full_relist_seconds(costs, window.last) if costs is not None else None,
        pod_relist_seconds_per_relist=lock_wait,
        pods_at_threshold=pods_limit,
        peak_age_seconds=peak,
        peak_age_captured_at=peak_at,
        explanations=explain_relists(window, constants, costs),
    )


def _pod_relist_seconds_per_relist(window: Window) -> float:
    """Mean time per global relist spent in 1.36 per-pod relists (0 before 1.36)."""
    pod = window.pod_relist_duration
    relists = window.relists
    if pod is None or not relists or pod.count <= 0 or not pod.has_sum:
        return 0.0
    return pod.sum_seconds / relists


def full_relist_seconds(costs: RelistCosts, snapshot: Snapshot) -> float | None:
    """Duration of a relist that inspects every pod (the first after a restart, §6.2).

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


def _tail_relist(window: Window) -> float | None:
    """The long end of the relist durations the data supports for "now".

    Window: the mean of relists above 10 s when there are any (the histogram cannot say more,
    §3.3), else the p99. Lifetime: the summary's recent p99 (≤1.16, a 10-minute window) or the
    lifetime p99; long relists of the past are reported, not projected.
    """
    relist = window.relist_duration
    if relist is None:
        return None
    candidates: list[float] = []
    if not window.is_lifetime:
        over_mean = relist.over_top_mean_seconds()
        if over_mean is not None:
            candidates.append(over_mean)
    p99 = relist.quantile(0.99)
    if p99 is not None:
        candidates.append(p99)
    summary = window.last.relist_duration_summary
    if summary is not None:
        recent = summary.summary_quantile(0.99)
        if recent is not None and not math.isnan(recent):
            candidates.append(recent)
    mean = relist.mean_seconds
    if mean is not None:
        candidates.append(mean)
    return max(candidates) if candidates else None


def _last_seen_age(window: Window, constants: PlegConstants) -> tuple[float | None, float | None]:
    """Age of the last successful relist start at the capture (§6.4 "Instantaneous headroom").

    Not under EventedPLEG: its Healthy() overwrites the gauge with "now" (§2, §3.4).
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


def _peak_age(
    window: Window, constants: PlegConstants, now_age: float | None
) -> tuple[float | None, float | None]:
    """`(age, captured_at)` of the scrape with the largest last-seen age: the last scrape's
    (`now_age`), or an earlier scrape's of the window (None under EventedPLEG, whose gauge
    carries no staleness).

    An earlier scrape counts only when its age shows a stall (over `STALL_AGE_FLOOR_SECONDS`):
    below that, ages are the healthy loop's jitter between 0 and `D + P` plus the gauge's 1 s
    truncation, which the predicted worst age already covers.
    """
    if constants.mode == "evented":
        return None, None
    last_captured = window.last.captured_at
    peak, peak_at = now_age, last_captured if now_age is not None else None
    for captured, seen in window.last_seen_by_scrape:
        age = captured - seen
        earlier = last_captured is None or captured < last_captured
        if earlier and age > STALL_AGE_FLOOR_SECONDS and (peak is None or age > peak):
            peak, peak_at = age, captured
    return peak, peak_at


# A healthy relist loop refreshes the gauge every D + P (≈1 s) and Healthy() runs at least every
# second; ages beyond this floor (or 3 relist cycles) mean no relist has completed (§3.4, §6.4).
STALL_AGE_FLOOR_SECONDS = 10.0
SUMMARY_WINDOW_SECONDS = 600.0
"""client_golang summaries keep a 10-minute sliding window (PLEG-MODEL.md §3.1)."""


def _stall(
    window: Window, age: float | None, tail: float | None, period: float
) -> tuple[bool | None, float | None]:
    """Whether a relist is hung now, and for at least how long."""
    cycle = (tail or 0.0) + period
    limit = max(STALL_AGE_FLOOR_SECONDS, 3 * cycle)
    if (
        not window.is_lifetime
        and window.relists == 0
        and window.seconds is not None
        and window.seconds > limit
    ):
        return True, max(window.seconds, age or 0.0)
    if age is not None:
        return (age > limit), (age if age > limit else None)
    summary = window.last.relist_duration_summary
    uptime = window.last.uptime_seconds
    if summary is not None and window.is_lifetime:
        recent = summary.summary_quantile(0.5)
        if recent is not None and math.isnan(recent) and uptime and uptime > SUMMARY_WINDOW_SECONDS:
            # NaN: no relist finished in the summary's 10-minute window: PLEG is hung (§6.4).
            return True, SUMMARY_WINDOW_SECONDS
        if recent is not None:
            return False, None
    if not window.is_lifetime and window.relists is not None:
        return False, None
    return None, None
