"""The model's terms as formulas (`formulas.Expr`): one definition for the CLI and the rules.

`model.py` evaluates these for a `Window`; `pleg-doctor rules` renders the same formulas as
PromQL over the kubelet's series (`sources/prometheus/recording.py` gives each input its PromQL and
records each formula as a series, which later formulas read by name). Symbols are those of the
README's "The model in one screen" and `docs/rules.md`: `R` relists in the window, `L_*` the mean
latency of one answered `ListPodSandbox`, `ListContainers`, `PodSandboxStatus`,
`ContainerStatus` call, `N` pods inspected per relist, `H` timeout-sized calls per relist, `τ`
the CRI timeout, `P` the relist period, `T` the threshold.

Three layers, each reading only inputs and the layers before it (by name):

1. per runtime operation (inputs `op_*`; in PromQL they carry an `operation_type` label): the
   answered calls' mean latency and what one timed-out call cost;
2. the cost model's inputs per node, named as `model.RelistCosts` names them, from the window's
   counts; then the cost model itself: `G`, the per-pod inspection, the predicted relist, hung
   calls tolerated;
3. the ages: the relist tail, the predicted worst age, the stall, the headroom; and the
   conditions the verdict and the alerts read.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

from pleg_doctor.core.conditions import Cmp, Either, Flag, Like, Unless, Where, eq, ge, gt, le, lt
from pleg_doctor.core.formulas import Ceil, Expr, Floor, Formula, Max, Min, Param, Round, Var

# --- named constants of an evaluation --------------------------------------------------------
TAU = Param("runtime_request_timeout_seconds")
"""`τ`: the kubelet's `--runtime-request-timeout` (the cost of one hung CRI call)."""
WINDOW = Param("window_seconds")
"""The window's length; absent for a single scrape (lifetime counters)."""
TOP_BUCKET = Param("top_bucket_seconds")
"""The histogram's largest finite bucket bound (10 s for DefBuckets)."""

GENERIC_RELIST_PERIOD_SECONDS = 1.0
"""`P` of the generic PLEG outside EventedPLEG (`genericPlegRelistPeriod`, docs/model.md
"Constants"): the warning limit on the headroom counts from it."""
GAUGE_TRUNCATION_SECONDS = 1.0
"""`kubelet_pleg_last_seen_seconds` holds whole seconds (`relistTime.Unix()`)."""
HUNG_CALLS_CAP = 1e6
"""Hung calls per relist beyond any kubelet's: the whole-number figures stay finite."""
STALL_AGE_FLOOR_SECONDS = 10.0
"""A healthy loop refreshes the health clock every `D + P` (≈ 1 s): ages beyond this floor (or
three relist cycles) mean no relist has completed (`pkg/kubelet/pleg/generic.go` `Healthy`)."""
P99_SHARE = 0.01
"""The share of relists above the 10 s bucket that puts the p99 there (`KubeletPlegDurationHigh`)."""
SANDBOXES_PER_POD = 1.0
"""`S̄`: not observable from metrics; 1 unless sandboxes were recreated."""
NORMAL_LIST_SECONDS = 0.1
NORMAL_STATUS_SECONDS = 0.05
"""What a healthy runtime takes for a list and a status call: slowness is counted from these."""
RUNTIME_SLOW_FACTOR = 8.0
"""Slowness at which the runtime is clearly slow (the `runtime_slow` cause scores 0.6 there)."""
HUNG_TOLERANCE = Param("hung_calls_tolerance")
"""`⌈H − ε⌉`: how far above a whole number of hung calls per relist is still that number."""
EXACT_COUNTS_TOLERANCE = 1e-9
"""Deltas between dumps are exact counts: 1.0000000001 hung calls per relist is float noise."""
INCREASE_TOLERANCE = 0.15
"""Prometheus' `increase()` extrapolates each counter to the window's edges on its own, and a
counter near zero less far: over a 5-minute window at 30 s scrapes, the timed-out calls of a
wedged container and the relists that carried them differ by up to about 11 %. One hung call
per relist measured as 1.04 is one, not two (which would predict 240 s relists)."""

# --- 1. per runtime operation ------------------------------------------------------------------
OP_COUNT = Var("op_count")
"""Latency observations of the operation in the window (`_count`)."""
OP_SUM = Var("op_sum_seconds")
OP_TIMEOUTS = Var("op_timeouts")
"""Calls that ran into the CRI timeout: the (119.2, 298] bucket (≥ 1.20), over 10 s on
DefBuckets (≤ 1.19); absent for µs summaries (≤ 1.13), which cannot tell."""

OVER_TOP_MEAN = Formula(
    "over_top_mean_seconds",
    Max(
        (Var("hist_sum_seconds") - Var("hist_below_top_upper_seconds")) / Var("hist_above_top"),
        TOP_BUCKET,
    ),
    "max(top, (sum − Σ le·n) / count above top)",
)
"""Of one histogram (a runtime operation's, or the relist's): what the observations above the
top finite bucket took, a lower estimate from `_sum`: the
finite buckets' share counted at their upper bounds (`Σ le·n`) leaves the least the long ones
can have taken. DefBuckets stop at 10 s, so near the threshold only `_sum` still knows."""

HUNG_CALL = Formula(
    "op_hung_call_seconds",
    Either(Min(Var("op_over_top_mean_seconds"), TAU), Like(OP_COUNT, TAU)),
    "min(τ, mean over 10 s) on DefBuckets, else τ",
)
"""What one timeout-sized call took: `τ` in the (119.2, 298] bucket; on DefBuckets ("over 10 s")
the over-top mean, at most `τ`."""

_OP_TIMEOUTS = Either(OP_TIMEOUTS, Like(OP_COUNT, 0.0))
ANSWERED_MEAN = Formula(
    "op_answered_seconds",
    Either(
        Max((OP_SUM - _OP_TIMEOUTS * Var("op_hung_call_seconds")) / (OP_COUNT - _OP_TIMEOUTS), 0.0),
        Where(Like(OP_SUM, 0.0), gt(OP_COUNT, 0.0)),
    ),
    "L_op = (sum − timeouts·hung) / (count − timeouts), at least 0",
)
"""`L_op`: the mean latency of the calls that were answered (timed-out calls taken out); none
without a `_sum` (docs/model.md "Estimating the terms": no mean is made up)."""

# --- 2. per node: the cost model ---------------------------------------------------------------
RELISTS = Var("relists")
"""`R`: relists completed in the window (`kubelet_pleg_relist_duration_seconds_count`)."""
THRESHOLD = Var("relist_threshold_seconds")
"""`T`: 180 s, 600 s while EventedPLEG is in use. Present for every node: the anchor of the
constants below."""
PERIOD = Var("relist_period_seconds")
"""`P`: 1 s, 300 s while EventedPLEG is in use."""
_ZERO = Like(THRESHOLD, 0.0)
_COSTS_KNOWN = gt(Var("relist_ops"), 0.0)


def _modelled(value: Expr) -> Expr:
    """`value` only where the cost can be modelled: relists in the window, and the relist's
    runtime operations exposed (else `model.relist_costs` has no costs)."""
    return Where(Where(value, _COSTS_KNOWN), gt(RELISTS, 0.0))


_SUMS_KNOWN = le(Either(Var("relist_ops_without_sum"), _ZERO), 0.0)
"""Every relist operation's latency has its `_sum`: without one there is no mean, and no
prediction is built on a guess."""


def _latency(name: str) -> Formula:
    return Formula(
        f"{name}_seconds",
        _modelled(Where(Either(Var(f"{name}_answered_seconds"), _ZERO), _SUMS_KNOWN)),
        f"L of {name} (0 when not called)",
    )


COST_LIST_PODSANDBOX = _latency("list_podsandbox")
COST_LIST_CONTAINERS = _latency("list_containers")
COST_PODSANDBOX_STATUS = _latency("podsandbox_status")
COST_CONTAINER_STATUS = _latency("container_status")


def _per_relist(operation: str, symbol: str, call: str) -> Formula:
    return Formula(
        f"{operation}_calls_per_relist",
        _modelled(Either(Var(f"{operation}_calls"), _ZERO) / RELISTS),
        f"{symbol} = {call} calls / R",
    )


COST_SANDBOX_CALLS = _per_relist("podsandbox_status", "N·S̄", "PodSandboxStatus")
"""PodSandboxStatus calls per relist: one per inspected pod's sandbox."""
COST_CONTAINER_CALLS = _per_relist("container_status", "N·C̄", "ContainerStatus")
"""ContainerStatus calls per relist: one per inspected pod's container."""
COST_PODS = Formula(
    "pods_inspected_per_relist",
    Var("podsandbox_status_calls_per_relist") / SANDBOXES_PER_POD,
    "N = N·S̄ / S̄",
)
_RELIST_TIMEOUTS = Var("relist_timeouts")
_PER_HUNG = Either(Var("relist_timeout_seconds") / _RELIST_TIMEOUTS, Like(THRESHOLD, TAU))
"""What one timed-out relist call cost, on average (`τ` without any)."""
_OVER_TOP = Var("hung_bound_relists")
"""Relists above the relist histogram's top finite bucket (10 s): the only ones long enough to
hold a hung call; absent without buckets."""
_BOUNDED = gt(_PER_HUNG, Var("hung_bound_top_seconds"))
"""A hung call is longer than the top bucket: the relists over it bound the hung calls."""
RELIST_HUNG_CALLS = Formula(
    "relist_hung_calls",
    Either(
        Where(
            Where(
                Where(
                    Min(
                        _RELIST_TIMEOUTS,
                        _OVER_TOP * Round(Var("hung_bound_mean_seconds") / _PER_HUNG),
                    ),
                    gt(Var("hung_bound_mean_seconds"), 0.0),
                ),
                gt(_OVER_TOP, 0.0),
            ),
            _BOUNDED,
        ),
        Where(Where(_ZERO, ge(_OVER_TOP, 0.0)), _BOUNDED),
        _RELIST_TIMEOUTS,
    ),
    "H_relist = min(timeouts, relists over 10 s × round(their mean / τ))",
)
"""The timed-out relist-operation calls that happened inside relists (docs/model.md "Failed
relists and other callers' timeouts"): other callers (the `/metrics` container-log collector,
housekeeping, garbage collection) list sandboxes and containers too, and a hung call makes its
relist last at least the call; so the relists over the top bucket, each holding
`round(their mean / one hung call)` calls, bound them. No relist over the top bucket: none.
Without a top bucket below a hung call's cost (no buckets, or a CRI timeout under 10 s), every
timeout is booked."""
COST_HUNG_CALLS = Formula(
    "hung_calls_per_relist",
    _modelled(Either(Var("relist_hung_calls"), _ZERO) / RELISTS),
    "H = hung relist calls / R",
)
COST_HUNG_SECONDS = Formula(
    "hung_call_seconds",
    _modelled(Var("relist_timeout_seconds") / Var("relist_timeouts")),
    "what the window's timed-out relist calls took, each (none without timeouts: τ)",
)

_G_COST = Var(COST_LIST_PODSANDBOX.name) + Var(COST_LIST_CONTAINERS.name)
EDGE_SKIP = Formula(
    "edge_skip_seconds",
    _G_COST + PERIOD + _G_COST + GAUGE_TRUNCATION_SECONDS,
    "G + P + G + 1 s: the age a loop with no status call to make reaches",
)
"""The previous relist's `GetPods`, the period and the next relist's own `GetPods`, plus the
gauge's whole seconds: only age beyond this is a status call of the relist in progress."""


def _edge(age: Expr, name: str, where: str) -> Formula:
    """Status-call time of the relist in progress at one edge of the window (docs/model.md "The
    relists in progress at a window's edges"): the age there past `EDGE_SKIP`, none in a stall
    (an age past `τ`, or past 10 s while list calls failed: the relist sits in one call,
    counted whole where it returns), 0 without an age."""
    moved = Where(Max(age - Var(EDGE_SKIP.name), 0.0), le(age, TAU))
    return Formula(
        name,
        Either(
            Where(moved, le(Either(Var("list_errors"), _ZERO), 0.0)),
            Where(moved, le(age, STALL_AGE_FLOOR_SECONDS)),
            _ZERO,
        ),
        f"max(0, age at the window's {where} − (G + P + G + 1 s)); 0 in a stall",
    )


EDGE_START_AGE = Var("edge_start_age_seconds")
"""`now − kubelet_pleg_last_seen_seconds` at the window's first scrape (the rules: the same with
`offset <window>`); absent for a single scrape, before 1.18 and under EventedPLEG."""
EDGE_START = _edge(EDGE_START_AGE, "edge_start_seconds", "start")
"""Its duration is inside the window, its earlier status calls are not: added."""
EDGE_END = _edge(Var("last_seen_age_seconds"), "edge_end_seconds", "end")
"""Its status calls are inside the window, its duration is not yet: taken off."""
COST_EDGES = Formula(
    "edge_seconds_per_relist",
    _modelled((Var(EDGE_START.name) - Var(EDGE_END.name)) / RELISTS),
    "(edge at the start − edge at the end) / R",
)
COSTS = (
    COST_LIST_PODSANDBOX,
    COST_LIST_CONTAINERS,
    COST_PODSANDBOX_STATUS,
    COST_CONTAINER_STATUS,
    COST_SANDBOX_CALLS,
    COST_CONTAINER_CALLS,
    COST_PODS,
    RELIST_HUNG_CALLS,
    COST_HUNG_CALLS,
    COST_HUNG_SECONDS,
    EDGE_SKIP,
    EDGE_START,
    EDGE_END,
    COST_EDGES,
)
"""From the window's counts to the cost model's inputs, named as `model.RelistCosts` names its
fields (the model builds `RelistCosts` with these)."""

L_LPS = Var("list_podsandbox_seconds")
L_LC = Var("list_containers_seconds")
N_PODS = Var("pods_inspected_per_relist")
H_PER_RELIST = Var("hung_calls_per_relist")
HUNG_COST = Either(Var("hung_call_seconds"), Like(THRESHOLD, TAU))

GETPODS = Formula("getpods_seconds", L_LPS + L_LC, "G = L_lps + L_lc")
"""The two lists of `GetPods`: after them the health clock resets."""
PER_POD_LISTS = Formula(
    "per_pod_lists_seconds", N_PODS * Var("getpods_seconds"), "N·(L_lps + L_lc)"
)
"""Each inspected pod's label-filtered lists in `GetPodStatus`."""
SANDBOX_STATUS = Formula(
    "podsandbox_status_term_seconds",
    Var("podsandbox_status_calls_per_relist") * Var("podsandbox_status_seconds"),
    "N·S̄·L_pss",
)
CONTAINER_STATUS = Formula(
    "container_status_term_seconds",
    Var("container_status_calls_per_relist") * Var("container_status_seconds"),
    "N·C̄·L_cs",
)
INSPECTION = Formula(
    "inspection_seconds",
    Var("per_pod_lists_seconds")
    + Var("podsandbox_status_term_seconds")
    + Var("container_status_term_seconds"),
    "N·(L_lps + L_lc) + N·S̄·L_pss + N·C̄·L_cs",
)
"""The serial per-pod loop of the relist (`updateCache` for each pod with events)."""
HUNG_TERM = Formula("hung_calls_term_seconds", H_PER_RELIST * HUNG_COST, "H·τ")
WINDOW_EDGES = Formula(
    "window_edges_seconds",
    Max(Var("edge_seconds_per_relist"), -1.0 * Var("inspection_seconds")),
    "edges, never taking the inspection below 0",
)
"""The window-edge correction per relist (JSON term `window_edges`): status-call time moved
across the window's edges; a window cannot have spent less than nothing on inspections."""
PREDICTED_RELIST = Formula(
    "predicted_relist_seconds",
    Var("getpods_seconds")
    + Var("inspection_seconds")
    + Var("window_edges_seconds")
    + Var("hung_calls_term_seconds"),
    "D = G + N·(L_lps + L_lc) + N·S̄·L_pss + N·C̄·L_cs + edges + H·τ",
)
"""The mean relist the cost model predicts (the JSON's `model.predicted_relist_seconds`)."""
HUNG_WORST = Formula(
    "hung_calls_worst_relist",
    Max(Ceil(Min(H_PER_RELIST, HUNG_CALLS_CAP) - HUNG_TOLERANCE), 1.0)
    * Flag(gt(H_PER_RELIST, 0.0)),
    "⌈H⌉, at least 1 when any relist call timed out in the window",
)
"""In a window, any timeout means at least one relist carried it whole."""
PREDICTED_RELIST_WORST = Formula(
    "predicted_relist_worst_seconds",
    Var("getpods_seconds")
    + Var("inspection_seconds")
    + Var("window_edges_seconds")
    + Var("hung_calls_worst_relist") * HUNG_COST,
    "G + N·cost + edges + ⌈H⌉·τ",
)
"""A relist that carries the window's hung calls whole (what the ages of a window read)."""
HUNG_CALLS_TOLERATED = Formula(
    "hung_calls_tolerated",
    Max(
        Floor((THRESHOLD - PERIOD - Var("getpods_seconds") - Var("inspection_seconds")) / TAU), 0.0
    ),
    "⌊(T − P − G − N·cost) / τ⌋, at least 0",
)
"""How many hung CRI calls one relist absorbs before the age crosses `T` (1 with the defaults)."""

PREDICTION = (
    GETPODS,
    PER_POD_LISTS,
    SANDBOX_STATUS,
    CONTAINER_STATUS,
    INSPECTION,
    HUNG_TERM,
    WINDOW_EDGES,
    PREDICTED_RELIST,
    HUNG_WORST,
    PREDICTED_RELIST_WORST,
    HUNG_CALLS_TOLERATED,
)
"""The cost model, in the order each formula's inputs are ready."""

# --- 3. per node: ages, headroom, and what the verdict reads ---------------------------------
LAST_SEEN_AGE = Var("last_seen_age_seconds")
"""`now − kubelet_pleg_last_seen_seconds` at the scrape; absent before 1.18 and under
EventedPLEG (which overwrites the gauge with "now")."""
RELISTS_OVER_TOP = Var("relists_over_top")
"""Relists above the 10 s DefBuckets top; absent without buckets (µs summaries)."""

RELIST_MEAN = Formula("relist_mean_seconds", Var("relist_sum_seconds") / RELISTS, "Σ relist / R")
TAIL = Formula(
    "relist_tail_seconds",
    Max(
        Var("relist_over_top_mean_seconds"),
        Var("relist_p99_seconds"),
        Var("relist_recent_p99_seconds"),
        Var("relist_mean_seconds"),
    ),
    "max(mean of the relists over 10 s, p99, the µs summary's recent p99, mean)",
)
"""The long end of the relists the data supports for now (the over-10 s mean only in a window:
over a kubelet's lifetime, long relists of the past are reported, not projected)."""
LOCK_WAIT = Formula(
    "pod_relist_seconds_per_relist",
    Either(Var("pod_relist_sum_seconds") / RELISTS, _ZERO),
    "1.36 per-pod relists: their time under the relist lock, per relist",
)
PREDICTED_WORST_AGE = Formula(
    "predicted_worst_age_seconds",
    Max(Var("predicted_relist_for_age_seconds"), Var("relist_tail_seconds"))
    + Var("pod_relist_seconds_per_relist")
    + PERIOD
    + Either(Var("getpods_seconds"), _ZERO),
    "max(D, tail) + P + G",
)
"""`D_k + P + G_{k+1}`: the age peaks just before the next relist's `GetPods` ends. `D` is the
relist that carries the window's hung calls (`predicted_relist_worst`); over a kubelet's lifetime
the mean-field `predicted_relist` (old timeouts say nothing about now)."""
STALL_LIMIT = Formula(
    "stall_limit_seconds",
    Max(3 * (Either(Var("relist_tail_seconds"), _ZERO) + PERIOD), STALL_AGE_FLOOR_SECONDS),
    "max(10 s, 3·(tail + P))",
)
STALLED_FOR = Formula(
    "stalled_for_seconds",
    Either(
        Where(
            Where(Max(Either(LAST_SEEN_AGE, _ZERO), WINDOW), eq(RELISTS, 0.0)),
            lt(Var("stall_limit_seconds"), WINDOW),
        ),
        Where(LAST_SEEN_AGE, gt(LAST_SEEN_AGE, Var("stall_limit_seconds"))),
    ),
    "no relist in a window longer than the limit: max(window, age); else an age past the limit",
)
"""For how long (at least) no relist has completed; absent while relists complete."""
STALLED = Formula(
    "stalled",
    Flag(gt(Either(Var("stalled_for_seconds"), _ZERO), 0.0)),
    "1 when a relist hangs, else 0",
)
QUIET = Var("quiet_seconds")
"""The longest run of scrapes with no relist completed between them: from the scrapes of a dump
window; in fleet mode and the rules, the whole window when no relist completed in it."""
QUIET_WHOLE_WINDOW = Formula(
    "quiet_seconds",
    Where(Like(RELISTS, WINDOW), eq(RELISTS, 0.0)),
    "the window, when no relist completed in it",
)
"""How fleet mode and the rules see a run without relists: only whole windows (PromQL cannot
measure the longest run of unchanged samples; docs/rules.md "What the rules approximate")."""
EARLIER_AGE_PEAK = Var("scrape_age_peak_seconds")
"""The largest last-seen age above the stall floor (10 s) at the window's scrapes: from each
dump of a window; in fleet mode and the rules, `max_over_time` of the age over the window."""
PEAK_AGE = Formula(
    "worst_last_seen_age_seconds",
    Max(LAST_SEEN_AGE, EARLIER_AGE_PEAK),
    "max(age now, the largest age over 10 s at a scrape of the window)",
)
"""What the verdict judges (the JSON's `relist.worst_last_seen_age_seconds`): ages below the
stall floor at earlier scrapes are the healthy loop's jitter, which the prediction covers."""
WORST_AGE = Formula(
    "worst_age_seconds",
    Max(
        LAST_SEEN_AGE,
        Var("stalled_for_seconds"),
        Var("predicted_worst_age_seconds"),
        Var(PEAK_AGE.name),
        QUIET,
    ),
    "max(age now, stalled for, predicted worst age, worst age at a scrape, longest quiet run)",
)
HEADROOM = Formula("headroom_seconds", THRESHOLD - Var("worst_age_seconds"), "T − worst age")
HEADROOM_WARNING = Formula(
    "headroom_warning_seconds",
    (THRESHOLD - (PERIOD - GENERIC_RELIST_PERIOD_SECONDS)) * 0.5,
    "(T − (P − 1 s)) / 2: 90 s for the generic PLEG, 150.5 s under EventedPLEG",
)
"""Below this headroom the node is warned about (docs/model.md "Verdict"): half the threshold,
less half of what the relist period adds to the worst age beyond the generic loop's 1 s. The
generic PLEG's limit stays `T/2` exactly; under EventedPLEG (`P` 300 s, `T` 600 s) every
healthy relist loop reaches an age of `P`, so half of `T` would warn on every healthy node:
the limit is half of what the loop can use past its period, 150.5 s."""

AGES = (RELIST_MEAN, TAIL, LOCK_WAIT, PREDICTED_WORST_AGE, STALL_LIMIT, STALLED_FOR, STALLED)
"""The ages, in order (`predicted_relist_for_age_seconds` is the model's choice, see above)."""
VERDICT_FIGURES = (PEAK_AGE, WORST_AGE, HEADROOM, HEADROOM_WARNING)

# The verdict's conditions (`verdict.judge`), critical first: at or past the threshold.
PAST_THRESHOLD = ge(Var(PEAK_AGE.name), THRESHOLD)
STALLED_PAST_THRESHOLD = ge(Max(Var("stalled_for_seconds"), QUIET), THRESHOLD)
STEADY_STATE_CROSSES = ge(Var("predicted_worst_age_seconds"), THRESHOLD)
HEADROOM_LOW = lt(Var("headroom_seconds"), Var(HEADROOM_WARNING.name))
"""The one headroom warning of the CLI (`verdict.judge`) and the rules (`headroom_low`)."""
RELIST_HANGING = gt(Unless(Var("stalled"), LAST_SEEN_AGE), 0.0)
"""A stall is a warning only when no last-seen age bounds it (with one, the age is judged)."""
RELIST_P99_OVER_TOP = ge(RELISTS_OVER_TOP / RELISTS, P99_SHARE)
LIST_TIMEOUTS = gt(Var("list_timeouts"), 0.0)
STATUS_TIMEOUTS = gt(Var("status_timeouts"), 0.0)
EVENTS_DISCARDED = gt(Var("discard_events"), 0.0)
EVENTED_FALLBACK = gt(Var("evented_fallback"), 0.0)


def _slowness(name: str, normal: float) -> Expr:
    return Where(Var(f"{name}_answered_seconds") / normal, gt(Var(f"{name}_calls"), 0.0))


SLOWNESS = Formula(
    "runtime_slowness",
    Max(
        _slowness("list_podsandbox", NORMAL_LIST_SECONDS),
        _slowness("list_containers", NORMAL_LIST_SECONDS),
        _slowness("podsandbox_status", NORMAL_STATUS_SECONDS),
        _slowness("container_status", NORMAL_STATUS_SECONDS),
    ),
    "max over the relist's calls of L_op / a healthy runtime's (0.1 s lists, 0.05 s status)",
)
"""How many times slower than a healthy runtime the slowest relist call answers."""
RUNTIME_SLOW = ge(Var("runtime_slowness"), RUNTIME_SLOW_FACTOR)

CONDITIONS: tuple[tuple[str, Cmp], ...] = (
    ("past_threshold", PAST_THRESHOLD),
    ("stalled_past_threshold", STALLED_PAST_THRESHOLD),
    ("steady_state_crosses_threshold", STEADY_STATE_CROSSES),
    ("headroom_low", HEADROOM_LOW),
    ("relist_hanging", RELIST_HANGING),
    ("relist_p99_over_10s", RELIST_P99_OVER_TOP),
    ("list_calls_time_out", LIST_TIMEOUTS),
    ("status_calls_time_out", STATUS_TIMEOUTS),
    ("events_discarded", EVENTS_DISCARDED),
    ("evented_pleg_fallback", EVENTED_FALLBACK),
    ("runtime_slow", RUNTIME_SLOW),
)
"""Every condition, most severe first: the first that holds is a node's top signal."""
