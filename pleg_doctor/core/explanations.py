"""What the per-call model cannot show by itself about a window's relists, in words.

Relists in progress at the window's edges (counted on one side, their calls on the other),
relists that failed at the CRI timeout (a hung `GetPods`: the health clock did not move),
relists that waited on a hung status call, and timed-out calls of other callers; with the hung
calls booked to relists (`hung_accounting`, which the validation reads too). Separate from
`model.py` because these are sentences and accounting beside the figures, not figures the
verdict reads.
"""

from __future__ import annotations

from typing import NamedTuple

from pleg_doctor.core import terms
from pleg_doctor.core.constants import (
    GENERIC_RELIST_PERIOD_SECONDS,
    GENERIC_RELIST_THRESHOLD_SECONDS,
    LIST_OPS,
    RELIST_OPS,
    STATUS_OPS,
    PlegConstants,
)
from pleg_doctor.core.costs import (
    RelistCosts,
    known,
)
from pleg_doctor.core.distribution import DEF_BUCKETS_TOP_SECONDS
from pleg_doctor.core.formulas import Env
from pleg_doctor.core.inputs import (
    formula_inputs,
    op_timeouts,
)
from pleg_doctor.core.window import Window


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
    cost = known(env["relist_timeout_seconds"]) / total if total else None
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
