"""The relist cost model: how long a relist should take, and what follows from that alone.

`D ≈ G + N·per-pod cost + H·τ` (docs/model.md#relist-duration) from the runtime's per-call
latencies and the pods each relist inspects, evaluated with `terms.PREDICTION` (the formulas the
recording rules render as PromQL); then the worst age it leads to, the hung calls one relist
absorbs, the pods at which the threshold is crossed and the relist that inspects every pod.
Separate from `model.py` because `pleg-doctor model` (`whatif.py`) asks these questions of
figures that no window measured.
"""

from __future__ import annotations

import dataclasses
import math

from pleg_doctor.core import terms
from pleg_doctor.core.constants import (
    SANDBOXES_PER_POD,
    PlegConstants,
)
from pleg_doctor.core.formulas import Env
from pleg_doctor.core.records import record
from pleg_doctor.core.snapshot import Snapshot


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


def cost_model(
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


def known(value: float | None) -> float:
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
    return prediction_from(cost_model(costs, constants))


def prediction_from(env: Env) -> Prediction:
    """The `Prediction` of an evaluated cost model (`cost_model`)."""
    getpods = known(env[terms.GETPODS.name])
    inspection = known(env[terms.INSPECTION.name])
    hung = known(env[terms.HUNG_TERM.name])
    edges = known(env[terms.WINDOW_EDGES.name])
    named = {
        "getpods": getpods,
        "per_pod_lists": known(env[terms.PER_POD_LISTS.name]),
        "podsandbox_status": known(env[terms.SANDBOX_STATUS.name]),
        "container_status": known(env[terms.CONTAINER_STATUS.name]),
        "hung_calls": hung,
    }
    if edges:
        named["window_edges"] = edges
    return Prediction(
        getpods_seconds=getpods,
        inspection_seconds=inspection,
        hung_seconds=hung,
        edge_seconds=edges,
        relist_seconds=known(env[terms.PREDICTED_RELIST.name]),
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
    return known(terms.PREDICTED_WORST_AGE.evaluate(env))


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
    return whole(terms.HUNG_CALLS_TOLERATED.evaluate(env))


def whole(value: float | None) -> int:
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
