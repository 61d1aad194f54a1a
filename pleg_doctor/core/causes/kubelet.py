"""Causes in the kubelet process itself (docs/model.md#causes: `kubelet_starved`, `kubelet_restart`, `clock_skew`)."""

from __future__ import annotations

from typing import ClassVar

from pleg_doctor.core.causes.base import (
    Context,
    Evidence,
    Finding,
    clamp,
    epoch_text,
    fmt_seconds,
)
from pleg_doctor.core.constants import LIST_OPS
from pleg_doctor.core.durations import human_seconds

# Uptime under which the first relist (every pod inspected: docs/model.md#relist-duration) still
# dominates lifetime figures; the restart is then worth mentioning.
RECENT_RESTART_SECONDS = 900.0
# Interval − duration − period above this is time the loop was not relisting (docs/model.md#causes).
STARVED_GAP_SECONDS = 0.5
# Ages more negative than this cannot come from truncation (1 s) or scrape jitter.
CLOCK_SKEW_TOLERANCE_SECONDS = 5.0


class KubeletStarved:
    """The kubelet itself is slow (CPU, GC, throttling)."""

    id: ClassVar[str] = "kubelet_starved"
    title: ClassVar[str] = "Kubelet starved (CPU, throttling, GC)"

    def evaluate(self, ctx: Context) -> Finding | None:
        """docs/model.md#causes: `Ī − D̄ ≫ P`, or observed relist ≫ model prediction."""
        window = ctx.window
        evidence: list[Evidence] = []
        score = 0.0
        period = ctx.constants.relist_period_seconds
        duration = window.relist_duration
        interval = window.relist_interval
        # `kubelet_pleg_relist_interval_seconds` is observed at each relist start as the time
        # since `relistTime`, which only moves when GetPods succeeds (pkg/kubelet/pleg/generic.go
        # `Relist`): while list calls fail or time out it measures the frozen clock, not a
        # kubelet that does not get to run.
        getpods_failing = ctx.list_timeouts > 0 or ctx.errors(LIST_OPS) > 0
        if (
            ctx.constants.mode != "evented"
            and not getpods_failing
            and duration is not None
            and interval is not None
            and (d_mean := duration.mean_seconds) is not None
            and (i_mean := interval.mean_seconds) is not None
        ):
            # Intervals are observed when a relist starts, durations when it ends: over a window
            # the two sums telescope to one relist's duration apart, and their counts differ
            # when a relist straddles an edge. Only what is left beyond that is time the loop
            # neither relisted nor slept.
            aligned = window.is_lifetime or interval.count == duration.count
            edge = (ctx.model.tail_relist_seconds or 0.0) / max(duration.count, 1.0)
            gap = i_mean - d_mean - period - (0.0 if window.is_lifetime else edge)
            if aligned and gap > STARVED_GAP_SECONDS:
                score = clamp(0.3 * gap / STARVED_GAP_SECONDS * 0.5 + 0.2)
                evidence.append(
                    Evidence(
                        "kubelet_pleg_relist_interval_seconds − duration − period",
                        round(gap, 3),
                        f"{fmt_seconds(gap)} per cycle {ctx.where} where the loop neither "
                        "relisted nor slept",
                    )
                )
        residual = ctx.model.residual_seconds
        predicted = ctx.model.prediction
        if (
            residual is not None
            and predicted is not None
            and residual > 1.0
            and residual > 2 * predicted.relist_seconds
        ):
            score = max(score, clamp(0.3 + 0.1 * residual))
            evidence.append(
                Evidence(
                    "model residual (observed − predicted relist)",
                    round(residual, 3),
                    f"relists take {fmt_seconds(residual)} more than their CRI calls explain: "
                    "kubelet CPU, lock waits or host file reads",
                )
            )
        cpu = window.process_cpu_seconds
        if cpu is not None and window.seconds and not window.is_lifetime:
            cores = cpu / window.seconds
            if cores > 1.0:
                score = clamp(score + 0.1)
                evidence.append(
                    Evidence(
                        "process_cpu_seconds_total (rate)",
                        round(cores, 2),
                        f"the kubelet used {cores:.2f} cores {ctx.where}",
                    )
                )
        if score == 0:
            return None
        return Finding(
            id=self.id,
            score=clamp(score * (0.7 if window.is_lifetime else 1.0)),
            title=self.title,
            evidence=tuple(evidence),
            next_steps=(
                "top -b -n1 -p $(pgrep -d, kubelet)",
                "cat /sys/fs/cgroup/system.slice/kubelet.service/cpu.stat 2>/dev/null   "
                "# nr_throttled, throttled_usec",
                "cat /proc/pressure/cpu",
            ),
        )


KUBELET_RESTART_NEXT_STEPS = (
    "systemctl status kubelet | grep -E 'Active|Main PID'",
    "journalctl -u kubelet --since -1h | grep -iE 'Started|Stopping|exited' | tail",
)
"""When and why the kubelet started (also what a kubelet log's start lines suggest)."""


class KubeletRestart:
    """Recent kubelet restart: the first relist inspects every pod."""

    id: ClassVar[str] = "kubelet_restart"
    title: ClassVar[str] = "Recent kubelet restart (informational)"

    def evaluate(self, ctx: Context) -> Finding | None:
        """docs/model.md#causes: one large relist after `process_start_time_seconds`; lifetime means skewed."""
        uptime = ctx.window.last.uptime_seconds
        restarted = ctx.window.restarted
        if not restarted and (uptime is None or uptime > RECENT_RESTART_SECONDS):
            return None
        evidence: list[Evidence] = []
        start = ctx.window.last.process_start_seconds
        if uptime is not None and start is not None:
            evidence.append(
                Evidence(
                    "process_start_time_seconds",
                    epoch_text(start),
                    f"the kubelet started {uptime / 60:.1f} min before the scrape: its first "
                    "relist inspected every pod, and lifetime averages include it",
                )
            )
        if restarted:
            evidence.append(
                Evidence(
                    "counter reset",
                    "yes",
                    "the kubelet restarted between the scrapes; the window counts from the restart",
                )
            )
        # Informational by design: a restart explains figures, it is not itself the problem.
        return Finding(
            id=self.id,
            score=0.45 if restarted else 0.35,
            title=self.title,
            evidence=tuple(evidence),
            next_steps=KUBELET_RESTART_NEXT_STEPS,
        )


class ClockSkew:
    """Last-seen age inconsistent with relists that keep completing."""

    id: ClassVar[str] = "clock_skew"
    title: ClassVar[str] = "Clock skew between the scrape time and the kubelet"

    def evaluate(self, ctx: Context) -> Finding | None:
        """The gauge is the kubelet's clock; the capture time may be another machine's."""
        age = ctx.model.last_seen_age_seconds
        last = ctx.window.last
        if age is None or last.captured_at_origin == "estimated":
            return None
        evidence: list[Evidence] = []
        score = 0.0
        if age < -CLOCK_SKEW_TOLERANCE_SECONDS:
            score = 0.7
            evidence.append(
                Evidence(
                    "kubelet_pleg_last_seen_seconds − capture time",
                    round(-age, 1),
                    f"the last relist is {human_seconds(-age)} in the future of the capture time "
                    f"({last.captured_at_origin}): the clocks disagree",
                )
            )
        relists = ctx.window.relists
        if (
            not ctx.window.is_lifetime
            and relists
            and ctx.window.seconds is not None
            and age > ctx.window.seconds + CLOCK_SKEW_TOLERANCE_SECONDS
        ):
            score = max(score, 0.7)
            evidence.append(
                Evidence(
                    "kubelet_pleg_last_seen_seconds age vs relists",
                    f"{human_seconds(age)} old, {relists:.0f} relists",
                    "relists completed in the window, yet the last one is older than the window",
                )
            )
        if score == 0:
            return None
        return Finding(
            id=self.id,
            score=score,
            title=self.title,
            evidence=tuple(evidence),
            next_steps=(
                "timedatectl status; chronyc tracking 2>/dev/null",
                "date -u on the node vs the machine that captured the dump",
            ),
        )
