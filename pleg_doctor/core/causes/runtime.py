"""Causes on the container runtime's side of the CRI (docs/model.md#causes)."""

from __future__ import annotations

import math
from typing import ClassVar

from pleg_doctor.core.causes.base import (
    SINGLE_SCRAPE_STEPS,
    Context,
    Evidence,
    Finding,
    clamp,
    epoch_text,
    fmt_seconds,
)
from pleg_doctor.core.constants import LIST_OPS, STATUS_OPS
from pleg_doctor.core.distribution import DEF_BUCKETS_TOP_SECONDS
from pleg_doctor.core.durations import human_seconds

SLOW_EXPLAINS_FACTOR = 8.0
"""Answered relist calls this many times slower than normal (`runtime_slow` sure of itself) can
make a long relist on their own."""
STALE_STARTS_MANY = 3
"""Relists started on a stale health clock that show a loop running but failing, not stuck."""
STALL_MARGIN_SECONDS = 10.0
"""How far past the CRI timeout a frozen clock must be before one hung status call (which
resets at the timeout, plus a relist's own lists) can no longer explain it."""

_RUNTIME_LOGS = "journalctl -u containerd -u crio -u docker --since -30min | tail -n 100"

RUNTIME_HUNG_NEXT_STEPS = (
    "crictl --timeout 10s info >/dev/null && echo runtime answers",
    "crictl --timeout 10s pods | head   # a hung runtime does not answer within 10 s",
    "systemctl status containerd crio docker 2>/dev/null | grep -E 'Active|Main PID'",
    _RUNTIME_LOGS,
)
"""What to run on the node when the runtime does not answer (also `causes.scrape`'s, for a
`/metrics` that blocks)."""


class RuntimeHung:
    """The container runtime does not answer at all."""

    id: ClassVar[str] = "runtime_hung"
    title: ClassVar[str] = "Container runtime hung"

    def evaluate(self, ctx: Context) -> Finding | None:
        """`GetPods` lists (and the runtime `status` call) time out, fail or stop.

        One scrape shows it too: a frozen health clock with list calls that timed out or failed
        since the start, or frozen for longer than the CRI timeout (one hung status call cannot
        hold a relist that long), or relists completing (failing) while the clock stays put.
        """
        evidence: list[Evidence] = []
        score = 0.0
        tau = ctx.constants.runtime_request_timeout_seconds
        list_timeouts = ctx.list_timeouts
        if list_timeouts > 0:
            score = 0.75
            evidence.append(
                Evidence(
                    "kubelet_runtime_operations_duration_seconds{list_podsandbox|list_containers}",
                    int(list_timeouts),
                    f"list calls ran into the CRI timeout {ctx.where}: GetPods failed and "
                    "the health clock was not reset",
                )
            )
        status_op = ctx.op("status")
        if status_op is not None and status_op.errors > 0 and list_timeouts > 0:
            score += 0.1
            evidence.append(
                Evidence(
                    "kubelet_runtime_operations_errors_total{status}",
                    int(status_op.errors),
                    "the runtime Status() check fails too: 'container runtime is down'",
                )
            )
        model = ctx.model
        frozen = ctx.frozen_for
        if frozen is not None:
            score = max(score, self._frozen_clock(ctx, frozen, tau, evidence))
        elif score > 0 and model.stalled and model.stalled_for_seconds is not None:
            evidence.append(
                Evidence(
                    "kubelet_pleg_last_seen_seconds (age)",
                    round(model.stalled_for_seconds),
                    "no relist has reset the health clock since: every GetPods attempt fails",
                )
            )
        if model.stalled and not ctx.window.is_lifetime:
            list_calls = ctx.calls(LIST_OPS)
            status_calls = status_op.calls if status_op is not None else None
            status_healthy = (
                status_op is not None and (status_calls or 0) > 0 and status_op.errors == 0
            )
            if list_calls == 0:
                # The runtime still answering Status() points away from a hung runtime.
                score = max(score, 0.6 if status_healthy else 0.85)
                evidence.append(
                    Evidence(
                        "kubelet_runtime_operations_total{list_podsandbox|list_containers}",
                        0,
                        f"no list call returned {ctx.where} while no relist completed",
                    )
                )
                if status_calls == 0:
                    score = max(score, 0.95)
                    evidence.append(
                        Evidence(
                            "kubelet_runtime_operations_total{status}",
                            0,
                            "even the 5-second runtime Status() call did not return: "
                            "the runtime is not answering",
                        )
                    )
        score *= ctx.history_factor()
        if score == 0:
            return None
        steps: tuple[str, ...] = RUNTIME_HUNG_NEXT_STEPS
        if ctx.window.is_lifetime:
            steps = (*steps[:2], *SINGLE_SCRAPE_STEPS, *steps[2:])
        return Finding(
            id=self.id,
            score=clamp(score),
            title=self.title,
            evidence=tuple(evidence),
            next_steps=steps,
        )

    @staticmethod
    def _frozen_clock(ctx: Context, age: float, tau: float, evidence: list[Evidence]) -> float:
        """The score a frozen health clock gives, with its evidence appended."""
        last = ctx.window.last
        evidence.append(
            Evidence(
                "kubelet_pleg_last_seen_seconds",
                epoch_text(last.last_seen_seconds or 0.0),
                f"the health clock last moved {human_seconds(age)} before the scrape: no GetPods "
                "has succeeded since",
            )
        )
        score = 0.0
        list_timeouts, status_timeouts = ctx.list_timeouts, ctx.status_timeouts
        list_errors = ctx.errors(LIST_OPS)
        relist = ctx.window.relist_duration
        over = relist.count_above(DEF_BUCKETS_TOP_SECONDS) if relist is not None else None
        long_mean = relist.over_top_mean_seconds() if relist is not None else None
        if over and long_mean is not None and long_mean >= 0.5 * tau:
            evidence.append(
                Evidence(
                    "kubelet_pleg_relist_duration_seconds (over 10 s)",
                    int(over),
                    f"{over:.0f} relist(s) took ≈ {long_mean:.0f} s {ctx.where}: each failed or "
                    f"waited at the {tau:.0f} s CRI timeout",
                )
            )
        interval = ctx.window.relist_interval
        stale_starts = interval.count_above(DEF_BUCKETS_TOP_SECONDS) if interval else None
        if stale_starts and stale_starts >= STALE_STARTS_MANY:
            # The interval is observed at each relist start as the time since relistTime, which
            # only GetPods success moves (pkg/kubelet/pleg/generic.go `Relist`).
            evidence.append(
                Evidence(
                    "kubelet_pleg_relist_interval_seconds (over 10 s)",
                    int(stale_starts),
                    f"{stale_starts:.0f} relists started {ctx.where} with the health clock over "
                    "10 s old: the loop keeps relisting, but no relist resets the clock",
                )
            )
        if list_errors > list_timeouts:
            fails = list_errors - list_timeouts
            latency = max(
                (ctx.mean_latency(op) or 0.0 for op in LIST_OPS if ctx.op(op) is not None),
                default=0.0,
            )
            score = max(score, 0.85)
            evidence.append(
                Evidence(
                    "kubelet_runtime_operations_errors_total{list_podsandbox|list_containers}",
                    int(list_errors),
                    f"{fails:.0f} list call(s) failed without waiting for the timeout (answered "
                    f"calls take {fmt_seconds(latency)}): the runtime refuses them, every GetPods "
                    "fails at once (runtime down or unreachable), so the clock cannot move",
                )
            )
        if list_timeouts > 0:
            score = max(score, 0.8)
        elif age > tau + STALL_MARGIN_SECONDS and status_timeouts == 0:
            score = max(score, 0.8)
            evidence.append(
                Evidence(
                    "kubelet_pleg_last_seen_seconds (age vs the CRI timeout)",
                    round(age),
                    f"frozen for longer than the {tau:.0f} s CRI timeout: one hung status call "
                    "cannot hold a relist that long; GetPods itself hangs or fails",
                )
            )
        elif status_timeouts == 0 and score == 0:
            # Answered calls that are this slow can add up to the age by themselves (many slow
            # status calls in one relist): then a hung call is only one explanation of several.
            slow = ctx.worst_slowness() >= SLOW_EXPLAINS_FACTOR
            score = 0.3 if slow else 0.5
            evidence.append(
                Evidence(
                    "kubelet_runtime_operations_duration_seconds (timeouts)",
                    0,
                    f"a CRI call may have hung for about {human_seconds(age)}, not yet at the "
                    f"{tau:.0f} s timeout: a list call (the whole runtime) or one pod's status call "
                    "(container_wedged); probe-runtime tells which"
                    + ("; slow answered calls may add up to it as well" if slow else ""),
                )
            )
        return score


class ContainerWedged:
    """One or a few pods or containers hang their status calls."""

    id: ClassVar[str] = "container_wedged"
    title: ClassVar[str] = "A container or sandbox is wedged"

    def evaluate(self, ctx: Context) -> Finding | None:
        """Status calls time out while the lists stay healthy; relist ≈ k × τ."""
        status_timeouts = ctx.status_timeouts
        if status_timeouts <= 0:
            return None
        tau = ctx.constants.runtime_request_timeout_seconds
        evidence = [
            Evidence(
                "kubelet_runtime_operations_duration_seconds{podsandbox_status|container_status}",
                int(status_timeouts),
                f"status calls ran into the {fmt_seconds(tau)} CRI timeout {ctx.where}",
            )
        ]
        score = 0.65
        errors = ctx.errors(STATUS_OPS)
        if errors > 0:
            evidence.append(
                Evidence(
                    "kubelet_runtime_operations_errors_total{podsandbox_status|container_status}",
                    int(errors),
                    "failed inspections: the pod goes to reinspection and costs a timeout on "
                    "every relist until it recovers",
                )
            )
        if ctx.list_timeouts == 0:
            score += 0.15
            evidence.append(
                Evidence(
                    "kubelet_runtime_operations_duration_seconds{list_*}",
                    "no timeouts",
                    "the runtime answers lists: the hang is per pod, not the whole runtime",
                )
            )
        tail = ctx.model.tail_relist_seconds
        if tail is not None and tail >= 0.5 * tau:
            multiple = tail / tau
            score += 0.1
            evidence.append(
                Evidence(
                    "kubelet_pleg_relist_duration_seconds (mean above 10 s)",
                    round(tail, 1),
                    f"long relists take ≈ {multiple:.1f} × the CRI timeout: "
                    f"{max(1, round(multiple))} hung call(s) per relist",
                )
            )
        steps: tuple[str, ...] = ()
        if ctx.window.is_lifetime:
            steps = SINGLE_SCRAPE_STEPS[:2]
        return Finding(
            id=self.id,
            score=clamp(score * ctx.history_factor()),
            title=self.title,
            evidence=tuple(evidence),
            next_steps=(
                *steps,
                "for c in $(crictl ps -aq); do timeout 10 crictl inspect $c >/dev/null "
                '|| echo "hung: container $c"; done',
                "for p in $(crictl pods -q); do timeout 10 crictl inspectp $p >/dev/null "
                '|| echo "hung: sandbox $p"; done',
                "journalctl -u kubelet --since -30min | grep -E "
                "'DeadlineExceeded|ContainerStatus|PodSandboxStatus' | tail -n 20",
                "ps -eo pid,stat,wchan:32,cmd | awk '$2 ~ /D/'   # D-state (stuck I/O) processes",
            ),
        )


class RuntimeSlow:
    """Every runtime call is slow (overload, disk I/O, memory pressure)."""

    id: ClassVar[str] = "runtime_slow"
    title: ClassVar[str] = "Container runtime slow"

    def evaluate(self, ctx: Context) -> Finding | None:
        """All per-call latencies high, relists complete, few or no timeouts."""
        factors = ctx.slowness()
        if not factors:
            return None
        slow = [f for f in factors if f[0] > 1]
        if not slow:
            return None
        worst = max(f[0] for f in slow)
        # Twice the normal mark is noise; 8x is clearly slow; 32x and up is as sure as it gets.
        score = clamp(0.2 * math.log2(worst)) * (len(slow) / len(factors)) ** 0.5
        if ctx.list_timeouts + ctx.status_timeouts > 0:
            score *= 0.6  # timeouts point at a hang, not general slowness
        evidence = [
            Evidence(
                f"kubelet_runtime_operations_duration_seconds{{{op}}}",
                round(latency, 4),
                f"mean {fmt_seconds(latency)} per call {ctx.where}, {factor:.0f}× a healthy runtime",
            )
            for factor, op, latency in sorted(slow, reverse=True)
        ]
        containers = ctx.window.last.containers_by_state or {}
        exited = containers.get("exited")
        if exited:
            evidence.append(
                Evidence(
                    'kubelet_running_containers{container_state="exited"}',
                    int(exited),
                    "exited containers are listed on every relist and make lists slower",
                )
            )
        return Finding(
            id=self.id,
            score=clamp(score * (0.8 if ctx.window.is_lifetime else 1.0)),
            title=self.title,
            evidence=tuple(evidence),
            next_steps=(
                "time crictl --timeout 30s ps -a >/dev/null; time crictl --timeout 30s pods >/dev/null",
                "iostat -x 5 3   # disk latency under /var/lib/containerd or /var/lib/docker",
                "free -m; cat /proc/pressure/io /proc/pressure/memory 2>/dev/null",
                _RUNTIME_LOGS,
            ),
        )


class Cni:
    """Network plugin slow inside sandbox status (dockershim-era runtimes)."""

    id: ClassVar[str] = "cni"
    title: ClassVar[str] = "CNI slow inside PodSandboxStatus (dockershim)"

    def evaluate(self, ctx: Context) -> Finding | None:
        """Only dockershim calls CNI from `PodSandboxStatus`; others never do."""
        if not ctx.window.last.has_dockershim:
            return None
        evidence: list[Evidence] = []
        score = 0.0
        network = ctx.window.network_plugin_ops.get("get_pod_network_status")
        if network is not None and (mean := network.mean_seconds) is not None:
            slow_calls = network.count_above(10.0) or 0.0
            if mean > 0.5 or slow_calls > 0:
                score = max(
                    score,
                    clamp(0.5 + 0.15 * math.log2(max(mean, 0.5) / 0.5) + 0.2 * (slow_calls > 0)),
                )
                evidence.append(
                    Evidence(
                        "kubelet_network_plugin_operations_duration_seconds{get_pod_network_status}",
                        round(mean, 4),
                        f"mean {fmt_seconds(mean)} per CNI status call {ctx.where}"
                        + (f", {int(slow_calls)} over 10 s" if slow_calls else ""),
                    )
                )
        sandbox = ctx.mean_latency("podsandbox_status")
        inspect = ctx.window.docker_ops.get("inspect_container")
        inspect_mean = inspect.latency.mean_seconds if inspect and inspect.latency else None
        if (
            sandbox is not None
            and inspect_mean is not None
            and sandbox > 0.5
            and sandbox > 5 * inspect_mean
        ):
            score = max(score, 0.6)
            evidence.append(
                Evidence(
                    "podsandbox_status vs docker inspect_container",
                    f"{fmt_seconds(sandbox)} vs {fmt_seconds(inspect_mean)}",
                    "sandbox status is slow while docker inspect is fast: the time goes to "
                    "the network plugin (or its per-pod lock behind a CNI ADD/DEL)",
                )
            )
        if score == 0:
            return None
        return Finding(
            id=self.id,
            score=clamp(score * ctx.lifetime_factor),
            title=self.title,
            evidence=tuple(evidence),
            next_steps=(
                "journalctl -u kubelet --since -30min | grep -iE 'cni|network plugin|NetworkPlugin'",
                "ps -eo pid,etime,cmd | grep -E '/opt/cni/bin/' | grep -v grep   # hung CNI binaries",
                "ls -l /etc/cni/net.d/ /opt/cni/bin/",
            ),
        )
