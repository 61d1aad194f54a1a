"""Causes inside the PLEG itself (docs/model.md#causes: `relist_deadlock`, `event_channel_full`, `evented_pleg_fallback`)."""

from __future__ import annotations

from typing import ClassVar

from pleg_doctor.core.causes.base import Context, Evidence, Finding, clamp
from pleg_doctor.core.constants import EVENTED_MAX_STREAM_RETRIES, LIST_OPS, PLEG_CHANNEL_CAPACITY


class RelistDeadlock:
    """Kubelet ≤ 1.13 relist blocked on a full event channel."""

    id: ClassVar[str] = "relist_deadlock"
    title: ClassVar[str] = "Relist deadlocked on the event channel (kubelet ≤ 1.13)"

    def evaluate(self, ctx: Context) -> Finding | None:
        """kubernetes#72482, fixed by kubernetes#72709 in 1.14: relist frozen while the runtime is fine."""
        if ctx.constants.non_blocking_events or not ctx.model.stalled:
            return None
        evidence = [
            Evidence(
                "kubelet_pleg_relist_latency_microseconds",
                "no relist completed",
                f"the relist is frozen {ctx.where}; before 1.14 a full 1000-event channel "
                "blocks it for good",
            )
        ]
        score = 0.6
        status = ctx.op("status")
        if status is not None and status.errors == 0 and ctx.list_timeouts == 0:
            score = 0.85
            evidence.append(
                Evidence(
                    "kubelet_runtime_operations{status}",
                    int(status.calls),
                    "the runtime answers its Status() checks: the block is in the kubelet",
                )
            )
        return Finding(
            id=self.id,
            score=score,
            title=self.title,
            evidence=tuple(evidence),
            next_steps=(
                "journalctl -u kubelet --since -30min | grep -E 'PLEG|skipping pod synchronization'",
                "systemctl restart kubelet   # the only way out of kubernetes#72482 before 1.14",
                "upgrade the kubelet to ≥ 1.14 (kubernetes#72709 makes the send non-blocking)",
            ),
        )


class EventChannelFull:
    """PLEG events discarded."""

    id: ClassVar[str] = "event_channel_full"
    title: ClassVar[str] = "PLEG events discarded: event channel full"

    def evaluate(self, ctx: Context) -> Finding | None:
        """`kubelet_pleg_discard_events` increasing; a consequence signal (docs/model.md#constants)."""
        discards = ctx.window.discard_events
        if not discards:
            return None
        score = 0.6 + 0.3 * clamp(discards / PLEG_CHANNEL_CAPACITY)
        return Finding(
            id=self.id,
            score=clamp(score * (0.6 if ctx.window.is_lifetime else 1.0)),
            title=self.title,
            evidence=(
                Evidence(
                    "kubelet_pleg_discard_events",
                    int(discards),
                    f"events dropped {ctx.where}; they are lost for good (the pod record "
                    "advances before the send)",
                ),
            ),
            next_steps=(
                "journalctl -u kubelet --since -30min | grep -c 'Event channel is full'",
                "look for the upstream cause: the syncLoop stops consuming while PLEG is "
                "unhealthy (runtime_hung, container_wedged) or after a mass restart",
                "kubectl get pods -A -o wide --field-selector spec.nodeName=$NODE   "
                "# statuses may be stale until the next change",
            ),
        )


class EventedPlegFallback:
    """EventedPLEG stream failing, generic relisting takes over."""

    id: ClassVar[str] = "evented_pleg_fallback"
    title: ClassVar[str] = "EventedPLEG stream failing (fallback to relisting)"

    def evaluate(self, ctx: Context) -> Finding | None:
        """docs/model.md#eventedpleg: connection errors; after 5 the kubelet relists every second again."""
        if ctx.constants.mode != "evented":
            return None
        errors = ctx.window.evented_errors or 0.0
        lifetime_errors = ctx.window.last.evented_errors or 0.0
        if errors <= 0 and not ctx.constants.evented_fallen_back:
            return None
        evidence = [
            Evidence(
                "kubelet_evented_pleg_connection_error_count",
                int(errors),
                f"GetContainerEvents stream errors {ctx.where}; each forces a relist",
            )
        ]
        score = 0.6
        if ctx.constants.evented_fallen_back:
            score = 0.85
            evidence.append(
                Evidence(
                    "kubelet_evented_pleg_connection_error_count (total)",
                    int(lifetime_errors),
                    f"≥ {EVENTED_MAX_STREAM_RETRIES} errors: EventedPLEG has fallen back to "
                    "generic relisting at 1 s / 3 min until the kubelet restarts",
                )
            )
        list_calls = ctx.calls(LIST_OPS)
        if list_calls is not None and ctx.window.seconds:
            evidence.append(
                Evidence(
                    "kubelet_runtime_operations_total{list_*}",
                    int(list_calls),
                    f"{list_calls / ctx.window.seconds:.2f} list calls/s {ctx.where}",
                )
            )
        return Finding(
            id=self.id,
            score=clamp(score * (0.8 if ctx.window.is_lifetime else 1.0)),
            title=self.title,
            evidence=tuple(evidence),
            next_steps=(
                "journalctl -u kubelet --since -1h | grep -iE 'evented|GetContainerEvents'",
                "systemctl status containerd crio 2>/dev/null | grep Active   # a runtime "
                "restart triggers the fallback (kubernetes#129827)",
                "EventedPLEG is alpha: consider turning the feature gate off",
            ),
        )
