"""Causes in the load the relist loop carries (docs/model.md#causes: `pod_density`, `pod_churn`)."""

from __future__ import annotations

from typing import ClassVar

from pleg_doctor.core.causes.base import Context, Evidence, Finding, clamp, fmt_seconds

# A relist that inspects more than a couple of pods every time, for minutes, is churning: a
# quiet node inspects almost none (docs/model.md#estimating-the-terms).
CHURN_PODS_PER_RELIST = 2.0
# The inspection loop matters once it is a visible share of the threshold budget.
CHURN_SIGNIFICANT_SECONDS = 1.0
EXITED_CONTAINERS_MANY = 100
# Under CHURN_PODS_PER_RELIST changed pods per relist, churn still matters when their inspection
# takes a second or more per relist: scored low, beside the slow runtime that makes it cost.
FEW_COSTLY_CHANGES_SCORE = 0.3


class PodDensity:
    """Too many pods or containers (exited ones too) for the relist loop."""

    id: ClassVar[str] = "pod_density"
    title: ClassVar[str] = "Pod density: too much for one serial relist"

    def evaluate(self, ctx: Context) -> Finding | None:
        """docs/model.md#causes: normal per-call latencies, but list and per-pod cost × pods large.

        Two measures, the larger wins: the load-proportional share of today's worst age, and the
        relist that inspects every pod (the first after a kubelet restart, or a mass event),
        which must also fit under the threshold or every restart makes the node NotReady.
        """
        model = ctx.model
        prediction = model.prediction
        threshold = ctx.constants.relist_threshold_seconds
        evidence: list[Evidence] = []
        score = 0.0
        pods = ctx.window.last.running_pods
        if prediction is not None:
            load = 2 * prediction.getpods_seconds + prediction.inspection_seconds
            share = load / threshold
            score = clamp(1.5 * share)
            if share >= 0.01:
                evidence.append(
                    Evidence(
                        "model: 2·G + inspection",
                        round(load, 3),
                        f"load-proportional part of the worst age: {share:.1%} of the "
                        f"{threshold:.0f} s threshold",
                    )
                )
            limit = model.pods_at_threshold
            if limit is not None and pods and limit < 2 * pods:
                score = max(score, 0.6 if limit >= pods else 0.85)
                evidence.append(
                    Evidence(
                        "model: pods at threshold",
                        limit,
                        f"at about {limit} pods (now {pods:.0f}) the steady state crosses the "
                        "threshold",
                    )
                )
        full = model.full_relist_seconds
        if full is not None and full >= 0.1 * threshold:
            score = max(score, clamp(full / threshold))
            evidence.append(
                Evidence(
                    "model: relist inspecting every pod",
                    round(full, 1),
                    f"the first relist after a kubelet restart inspects all {pods or 0:.0f} pods: "
                    f"≈ {fmt_seconds(full)} of the {threshold:.0f} s budget",
                )
            )
        if ctx.worst_slowness() > 2:
            score *= 0.5  # slow calls are the runtime's problem first (runtime_slow)
        containers = ctx.window.last.containers_by_state or {}
        exited = containers.get("exited", 0.0)
        running = containers.get("running", 0.0)
        if exited > max(EXITED_CONTAINERS_MANY, 2 * running):
            score = clamp(score + 0.3)
            evidence.append(
                Evidence(
                    'kubelet_running_containers{container_state="exited"}',
                    int(exited),
                    f"{exited:.0f} exited vs {running:.0f} running containers: every relist "
                    "lists them all",
                )
            )
        if score < 0.05:
            return None
        return Finding(
            id=self.id,
            score=score,
            title=self.title,
            evidence=tuple(evidence),
            next_steps=(
                "crictl ps -a --state exited -q | wc -l   # exited containers every list carries",
                "crictl pods -q | wc -l; crictl ps -q | wc -l",
                "kubectl get --raw /api/v1/nodes/$NODE/proxy/configz | grep -oE "
                "'\"maxPods\":[0-9]+'",
            ),
        )


class PodChurn:
    """Many pods change every relist, each inspected serially."""

    id: ClassVar[str] = "pod_churn"
    title: ClassVar[str] = "Pod churn: many pods inspected per relist"

    def evaluate(self, ctx: Context) -> Finding | None:
        """docs/model.md#causes and #estimating-the-terms: status calls per relist `N̂` high."""
        costs = ctx.model.costs
        prediction = ctx.model.prediction
        if costs is None or prediction is None:
            return None
        per_relist = costs.pods_inspected_per_relist
        if per_relist < CHURN_PODS_PER_RELIST:
            # Few pods change, but each change costs seconds of slow status calls (status calls
            # are made only for pods with events): the churn is what makes them count.
            if per_relist <= 0 or prediction.inspection_seconds < CHURN_SIGNIFICANT_SECONDS:
                return None
            score = FEW_COSTLY_CHANGES_SCORE
        else:
            score = clamp(per_relist / 10.0, high=0.95)
            if prediction.inspection_seconds < CHURN_SIGNIFICANT_SECONDS:
                score = min(score, 0.45)
        evidence = [
            Evidence(
                "kubelet_runtime_operations_total{podsandbox_status} / relists",
                round(per_relist, 2),
                f"≈ {per_relist:.1f} pods inspected per relist {ctx.where}, one after another",
            ),
            Evidence(
                "model: inspection",
                round(prediction.inspection_seconds, 3),
                f"{fmt_seconds(prediction.inspection_seconds)} of every relist goes to "
                "inspecting changed pods",
            ),
        ]
        started = ctx.window.started_containers
        if started and ctx.window.seconds:
            evidence.append(
                Evidence(
                    "kubelet_started_containers_total",
                    int(started),
                    f"{started / ctx.window.seconds * 60:.1f} containers started per minute "
                    f"{ctx.where}",
                )
            )
        return Finding(
            id=self.id,
            score=clamp(score * (0.7 if ctx.window.is_lifetime else 1.0)),
            title=self.title,
            evidence=tuple(evidence),
            next_steps=(
                "kubectl get pods -A -o wide --field-selector spec.nodeName=$NODE | "
                "grep -vE 'Running|Completed'",
                "crictl ps -a --state exited | head -n 20   # crash loops restart every few seconds",
                "kubectl get events -A --sort-by=.lastTimestamp | tail -n 30",
            ),
        )
