"""What-if with the reference PLEG model: `pleg-doctor model` (docs/model.md#what-if).

A scenario is the model's inputs in the kubelet's own terms (pods, containers per pod, pods
changing per relist, per-call CRI latencies, hung calls, CRI timeout, EventedPLEG, version). It
starts from the defaults (`Scenario()`, a 30-pod node) or from a node's dumps
(`scenario_from_window`), and knobs are changed from there (`apply_changes`): every knob the user
gives is taken as given, and what the user does not give follows the pods. `evaluate_scenario`
answers with the predicted relist duration, the worst last-seen age, the headroom, the hung calls
a relist absorbs, the pods at which the threshold is crossed (and whether that is beyond the
node's max pods), and a curve of how the worst age moves as pods grow.

Scaling rule (the same as `model.pods_at_threshold`, docs/model.md#pods-at-threshold): when the
pods on the node change, list latencies scale with the number of sandboxes and containers listed,
and the pods changing per relist scale with the pods; per-call status latencies do not change.

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from pleg_doctor.core.constants import (
    DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS,
    PlegConstants,
    constants_for,
)
from pleg_doctor.core.costs import (
    Prediction,
    RelistCosts,
    hung_calls_tolerated,
    pods_at_threshold,
    predict_relist,
    worst_age_seconds,
)
from pleg_doctor.core.model import relist_costs
from pleg_doctor.core.versions import parse_version
from pleg_doctor.core.window import Window

DEFAULT_MAX_PODS = 110.0
"""The kubelet's default `maxPods` (`pkg/kubelet/apis/config/v1beta1/defaults.go`,
`SetDefaults_KubeletConfiguration`)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Scenario:
    """The inputs of one what-if (the terms of docs/model.md#terms)."""

    pods: float = 30.0
    """Pods on the node (with a sandbox)."""
    containers_per_pod: float = 2.0
    """Running containers per pod (`C̄` running part)."""
    exited_per_pod: float = 0.5
    """Exited (not yet garbage-collected) containers per pod: listed and inspected too."""
    sandboxes_per_pod: float = 1.0
    """`S̄`: more than 1 after sandbox recreation."""
    churn: float = 0.1
    """`N`: pods inspected per relist (changed, in reinspection or watched)."""
    list_podsandbox_seconds: float = 0.005
    list_containers_seconds: float = 0.005
    podsandbox_status_seconds: float = 0.003
    container_status_seconds: float = 0.003
    hung_calls: float = 0.0
    """Calls per relist that run into the CRI timeout."""
    runtime_request_timeout_seconds: float = DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS
    evented: bool = False
    """EventedPLEG gate on (generic relist at 300 s / 600 s)."""
    kubelet_version: str = "v1.33"
    max_pods: float = DEFAULT_MAX_PODS
    """The kubelet's `--max-pods` (`maxPods`): pods at threshold beyond it cannot be reached by
    adding pods alone. Kubelet metrics do not carry it; 110 is the kubelet's default."""

    def costs(self) -> RelistCosts:
        """The cost-model inputs of this scenario."""
        containers = self.containers_per_pod + self.exited_per_pod
        return RelistCosts(
            list_podsandbox_seconds=self.list_podsandbox_seconds,
            list_containers_seconds=self.list_containers_seconds,
            podsandbox_status_seconds=self.podsandbox_status_seconds,
            container_status_seconds=self.container_status_seconds,
            pods_inspected_per_relist=self.churn,
            podsandbox_status_calls_per_relist=self.churn * self.sandboxes_per_pod,
            container_status_calls_per_relist=self.churn * containers,
            hung_calls_per_relist=self.hung_calls,
        )

    def constants(self) -> PlegConstants:
        """The constants in force for this scenario's version and gate."""
        return constants_for(
            parse_version(self.kubelet_version),
            evented_gate=self.evented,
            runtime_request_timeout_seconds=self.runtime_request_timeout_seconds,
        )


# Knobs `--set` accepts, with the field each one sets.
KNOBS: Mapping[str, str] = {
    "pods": "pods",
    "containers_per_pod": "containers_per_pod",
    "exited_per_pod": "exited_per_pod",
    "sandboxes_per_pod": "sandboxes_per_pod",
    "churn": "churn",
    "list_podsandbox": "list_podsandbox_seconds",
    "list_containers": "list_containers_seconds",
    "podsandbox_status": "podsandbox_status_seconds",
    "container_status": "container_status_seconds",
    "hung_calls": "hung_calls",
    "runtime_request_timeout": "runtime_request_timeout_seconds",
    "max_pods": "max_pods",
}

SCALED_WITH_PODS = ("list_podsandbox", "list_containers", "churn")
"""Knobs that follow the pods when the pods change and they are not given themselves."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Change:
    """One knob moved from the starting point."""

    knob: str
    before: float
    after: float
    scaled: bool
    """True: not given, scaled with the pods (× `after / before`); False: given as is."""


def with_changes(scenario: Scenario, changes: Mapping[str, float]) -> Scenario:
    """`scenario` with knobs changed; changing `pods` rescales lists and churn (module doc)."""
    unknown = sorted(set(changes) - set(KNOBS))
    if unknown:
        raise ValueError(f"unknown knob(s): {', '.join(unknown)}; known: {', '.join(KNOBS)}")
    updated = scenario
    if "pods" in changes and scenario.pods > 0:
        factor = changes["pods"] / scenario.pods
        updated = dataclasses.replace(
            updated,
            list_podsandbox_seconds=updated.list_podsandbox_seconds * factor,
            list_containers_seconds=updated.list_containers_seconds * factor,
            churn=updated.churn * factor,
        )
    fields: dict[str, Any] = {KNOBS[name]: value for name, value in changes.items()}
    return dataclasses.replace(updated, **fields)


def apply_changes(
    scenario: Scenario, changes: Mapping[str, float]
) -> tuple[Scenario, tuple[Change, ...]]:
    """`with_changes`, and what moved: each given knob, and each one scaled with the pods."""
    updated = with_changes(scenario, changes)
    moved = []
    for knob, field in KNOBS.items():
        before, after = getattr(scenario, field), getattr(updated, field)
        if knob in changes or before != after:
            moved.append(Change(knob=knob, before=before, after=after, scaled=knob not in changes))
    return updated, tuple(moved)


def scenario_from_window(window: Window) -> Scenario:
    """The scenario a node's metrics describe (its measured latencies, pods, churn)."""
    snapshot = window.last
    constants = constants_for(snapshot.version, evented_gate=snapshot.evented_gate)
    costs = relist_costs(window, constants)
    if costs is None:
        raise ValueError("the dumps have no relist or runtime-operation metrics to measure from")
    pods = snapshot.running_pods or 0.0
    by_state = dict(snapshot.containers_by_state or {})
    running = by_state.get("running", 0.0)
    exited = sum(v for state, v in by_state.items() if state != "running")
    per_pod = running / pods if pods else 0.0
    churn = costs.pods_inspected_per_relist
    containers_per_inspection = (
        costs.container_status_calls_per_relist / churn if churn > 0 else per_pod
    )
    exited_per_pod = (
        max(0.0, containers_per_inspection - per_pod)
        if churn > 0
        else (exited / pods if pods else 0.0)
    )
    version = snapshot.kubelet_version or (
        f"v{snapshot.version[0]}.{snapshot.version[1]}" if snapshot.version else "v1.33"
    )
    return Scenario(
        pods=pods,
        containers_per_pod=per_pod,
        exited_per_pod=exited_per_pod,
        sandboxes_per_pod=1.0,
        churn=churn,
        list_podsandbox_seconds=costs.list_podsandbox_seconds,
        list_containers_seconds=costs.list_containers_seconds,
        podsandbox_status_seconds=costs.podsandbox_status_seconds,
        container_status_seconds=costs.container_status_seconds,
        hung_calls=0.0 if window.is_lifetime else costs.hung_calls_per_relist,
        evented=bool(snapshot.evented_gate),
        kubelet_version=version,
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class CurvePoint:
    """The steady state at one pod count."""

    pods: int
    worst_age_seconds: float
    headroom_seconds: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class WhatIf:
    """The model's answer for one scenario."""

    scenario: Scenario
    constants: PlegConstants
    prediction: Prediction
    worst_age_seconds: float
    headroom_seconds: float
    hung_calls_tolerated: int
    pods_at_threshold: int | None
    curve: tuple[CurvePoint, ...]
    start: tuple[str, ...] = ()
    """The dumps the scenario was measured from; empty when it started from the defaults."""
    changes: tuple[Change, ...] = ()
    """What moved from the starting point (`apply_changes`)."""

    @property
    def beyond_max_pods(self) -> bool:
        """The threshold is crossed only past the node's max pods: pods alone cannot get there."""
        return (
            self.pods_at_threshold is not None and self.pods_at_threshold > self.scenario.max_pods
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON object, schema `pleg-doctor/model-v1` (all numbers finite)."""
        return {
            "schema": "pleg-doctor/model-v1",
            "start": {"dumps": list(self.start)} if self.start else {"dumps": None},
            "changes": [
                {
                    "knob": c.knob,
                    "from": round(c.before, 9),
                    "to": round(c.after, 9),
                    "scaled_with_pods": c.scaled,
                }
                for c in self.changes
            ],
            "inputs": {name: getattr(self.scenario, field) for name, field in KNOBS.items()}
            | {"evented": self.scenario.evented, "kubelet_version": self.scenario.kubelet_version},
            "constants": {
                "relist_period_seconds": self.constants.relist_period_seconds,
                "threshold_seconds": self.constants.relist_threshold_seconds,
                "runtime_request_timeout_seconds": self.constants.runtime_request_timeout_seconds,
                "pleg_mode": self.constants.mode,
            },
            "predicted_relist_seconds": round(self.prediction.relist_seconds, 6),
            "getpods_seconds": round(self.prediction.getpods_seconds, 6),
            "worst_age_seconds": round(self.worst_age_seconds, 6),
            "headroom_seconds": round(self.headroom_seconds, 6),
            "hung_calls_tolerated": self.hung_calls_tolerated,
            "pods_at_threshold": self.pods_at_threshold,
            "pods_at_threshold_beyond_max_pods": self.beyond_max_pods,
            "terms": {k: round(v, 6) for k, v in self.prediction.terms.items()},
            "curve": [
                {
                    "pods": p.pods,
                    "worst_age_seconds": round(p.worst_age_seconds, 6),
                    "headroom_seconds": round(p.headroom_seconds, 6),
                }
                for p in self.curve
            ],
        }


def evaluate_scenario(
    scenario: Scenario, *, start: tuple[str, ...] = (), changes: tuple[Change, ...] = ()
) -> WhatIf:
    """Run the model on a scenario (docs/model.md#relist-duration); `start` and `changes` say
    where it came from, for the answer to state."""
    constants = scenario.constants()
    prediction = predict_relist(scenario.costs(), constants)
    hung_worst = math.ceil(scenario.hung_calls - 1e-9) if scenario.hung_calls > 0 else 0
    relist = prediction.per_pod_total_seconds + hung_worst * (
        constants.runtime_request_timeout_seconds
    )
    worst = worst_age_seconds(relist, prediction.getpods_seconds, constants.relist_period_seconds)
    limit = pods_at_threshold(constants, prediction, scenario.pods, hung_worst)
    return WhatIf(
        scenario=scenario,
        constants=constants,
        prediction=prediction,
        worst_age_seconds=worst,
        headroom_seconds=constants.relist_threshold_seconds - worst,
        hung_calls_tolerated=hung_calls_tolerated(
            constants, prediction.getpods_seconds, prediction.inspection_seconds
        ),
        pods_at_threshold=limit,
        curve=_curve(scenario, limit),
        start=start,
        changes=changes,
    )


def _curve(scenario: Scenario, limit: int | None) -> tuple[CurvePoint, ...]:
    """Worst age at pod counts from a quarter of today's up to past the threshold."""
    if scenario.pods <= 0:
        return ()
    counts = {max(1, round(scenario.pods * f)) for f in (0.25, 0.5, 1, 2, 4, 8)}
    if limit is not None and 0 < limit < scenario.pods * 1000:
        counts |= {max(1, round(limit * f)) for f in (0.5, 1.0, 1.25)}
    points = []
    for pods in sorted(counts):
        changed = with_changes(scenario, {"pods": float(pods)})
        constants = changed.constants()
        prediction = predict_relist(changed.costs(), constants)
        hung = math.ceil(changed.hung_calls - 1e-9) if changed.hung_calls > 0 else 0
        relist = prediction.per_pod_total_seconds + hung * constants.runtime_request_timeout_seconds
        worst = worst_age_seconds(
            relist, prediction.getpods_seconds, constants.relist_period_seconds
        )
        points.append(
            CurvePoint(
                pods=pods,
                worst_age_seconds=worst,
                headroom_seconds=constants.relist_threshold_seconds - worst,
            )
        )
    return tuple(points)
