"""A step-by-step simulation of the generic PLEG relist loop (docs/model.md#the-relist-loop).

The model (`model.py`) is closed-form; this is the loop itself, call by call, on a simulated
clock: `wait.Until` with a sliding period, `GetPods` (`ListPodSandbox` + `ListContainers`), the
health clock reset after `GetPods` succeeds, the serial `updateCache` of every pod with events or
in reinspection, wedged pods whose `PodSandboxStatus` runs into the CRI timeout and go back to
reinspection, the ≤1.31 double inspection of a failing pod that also has events, and `Healthy()`
sampled by the sync loop. It exists to check the model's worst age and hung-calls-tolerated
predictions against the mechanism they summarize (`docs/model-validation.md`).

Pure and deterministic (jitter comes from a seeded generator).
"""

from __future__ import annotations

import dataclasses
import random


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoopConfig:
    """One simulated node."""

    list_podsandbox_seconds: float = 0.005
    list_containers_seconds: float = 0.005
    podsandbox_status_seconds: float = 0.003
    container_status_seconds: float = 0.003
    containers_per_pod: int = 2
    churn_per_relist: float = 0.2
    """Pods that change per relist on average (their inspection succeeds)."""
    wedged_pods: int = 0
    """Pods whose `PodSandboxStatus` hangs until the CRI timeout, every time."""
    wedged_have_events: bool = False
    """Wedged pods also have events each relist (≤1.31: inspected twice, kubernetes#94829)."""
    double_inspection: bool = False
    """The ≤1.31 loop shape: events loop, then a separate reinspection loop (docs/model.md#constants)."""
    runtime_request_timeout_seconds: float = 120.0
    relist_period_seconds: float = 1.0
    jitter: float = 0.0
    """Relative latency jitter (uniform ±), seeded."""
    health_check_every_seconds: float = 0.1
    """How often `Healthy()` is sampled (the sync loop runs it at least every second)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoopResult:
    """What the simulated loop did."""

    relists: int
    max_age_seconds: float
    """The largest `now − relistTime` any health check saw."""
    max_relist_seconds: float
    mean_relist_seconds: float
    unhealthy_seconds: float
    """Time the age exceeded `threshold_seconds`."""


def simulate(
    config: LoopConfig, *, seconds: float, threshold_seconds: float = 180.0, seed: int = 1
) -> LoopResult:
    """Run the relist loop for `seconds` of simulated time."""
    rng = random.Random(seed)
    tau = config.runtime_request_timeout_seconds

    def latency(base: float) -> float:
        if config.jitter <= 0:
            return base
        return max(0.0, base * (1 + rng.uniform(-config.jitter, config.jitter)))

    now = 0.0
    relist_time = 0.0  # the first relist is assumed to have succeeded at t=0
    checks_at = 0.0
    max_age = 0.0
    unhealthy = 0.0
    durations: list[float] = []
    churn_carry = 0.0
    reinspect = config.wedged_pods  # wedged pods start failing at once

    def advance(to: float) -> None:
        nonlocal checks_at, max_age, unhealthy
        while checks_at <= to:
            age = checks_at - relist_time
            max_age = max(max_age, age)
            if age > threshold_seconds:
                unhealthy += config.health_check_every_seconds
            checks_at += config.health_check_every_seconds

    def inspect(wedged: bool) -> float:
        """`GetPodStatus`: filtered lists, sandbox status, container statuses (docs/model.md#the-relist-loop)."""
        spent = latency(config.list_podsandbox_seconds)
        if wedged:
            return spent + tau  # PodSandboxStatus times out: the whole GetPodStatus aborts
        spent += latency(config.podsandbox_status_seconds)
        spent += latency(config.list_containers_seconds)
        spent += sum(
            latency(config.container_status_seconds) for _ in range(config.containers_per_pod)
        )
        return spent

    while now < seconds:
        start = now
        getpods = latency(config.list_podsandbox_seconds) + latency(config.list_containers_seconds)
        now += getpods
        advance(now)
        relist_time = start  # updateRelistTime(timestamp) after GetPods succeeded
        churn_carry += config.churn_per_relist
        changed = int(churn_carry)
        churn_carry -= changed
        for _ in range(changed):
            now += inspect(wedged=False)
        wedged_inspections = reinspect
        if config.double_inspection and config.wedged_have_events:
            wedged_inspections *= 2  # events loop, then the separate reinspection loop
        for _ in range(wedged_inspections):
            now += inspect(wedged=True)
            advance(now)
        durations.append(now - start)
        advance(now)
        now += config.relist_period_seconds  # wait.Until: sliding period
        advance(now)
    return LoopResult(
        relists=len(durations),
        max_age_seconds=max_age,
        max_relist_seconds=max(durations),
        mean_relist_seconds=sum(durations) / len(durations),
        unhealthy_seconds=unhealthy,
    )


def max_tolerated_wedged(
    config: LoopConfig, *, threshold_seconds: float = 180.0, limit: int = 20
) -> int:
    """The most wedged pods the simulated loop survives without ever exceeding the threshold."""
    tolerated = 0
    for wedged in range(1, limit + 1):
        run = simulate(
            dataclasses.replace(config, wedged_pods=wedged),
            seconds=4 * threshold_seconds + wedged * config.runtime_request_timeout_seconds * 3,
            threshold_seconds=threshold_seconds,
        )
        if run.max_age_seconds > threshold_seconds:
            break
        tolerated = wedged
    return tolerated
