"""The PLEG's constants in force for one kubelet: its version, its mode, its CRI timeout.

The relist period and threshold, the EventedPLEG retries, the event channel, the CRI timeout and
the runtime operations of a relist, as the kubelet defines them (`pkg/kubelet/pleg/generic.go`,
`pkg/kubelet/pleg/evented.go`; docs/model.md#constants). Every other part of the model reads
them, so they sit below all of it: which constants hold is a question of the kubelet's version
and flags, not of what its metrics say.
"""

from __future__ import annotations

from typing import Literal

from pleg_doctor.core.records import record

# --- Constants (docs/model.md#constants) ----------------------------------------------------
GENERIC_RELIST_PERIOD_SECONDS = 1.0
"""`plegRelistPeriod` / `genericPlegRelistPeriod` = 1 s, unchanged since PLEG exists (docs/model.md#constants)."""
GENERIC_RELIST_THRESHOLD_SECONDS = 180.0
"""`relistThreshold` / `genericPlegRelistThreshold` = 3 min, never configurable (docs/model.md#constants)."""
EVENTED_RELIST_PERIOD_SECONDS = 300.0
"""`eventedPlegRelistPeriod`: generic relist period while EventedPLEG is in use (docs/model.md#eventedpleg)."""
EVENTED_RELIST_THRESHOLD_SECONDS = 600.0
"""`eventedPlegRelistThreshold`: generic threshold while EventedPLEG is in use (docs/model.md#eventedpleg)."""
EVENTED_MAX_STREAM_RETRIES = 5
"""`eventedPlegMaxStreamRetries`: stream errors before falling back to generic relisting (docs/model.md#eventedpleg)."""
PLEG_CHANNEL_CAPACITY = 1000
"""`plegChannelCapacity` (docs/model.md#constants): events beyond it are discarded (≥1.14) or block (≤1.13)."""
DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS = 120.0
"""`--runtime-request-timeout` default, 2 min: the cost of one hung CRI call (docs/model.md#constants)."""
SANDBOXES_PER_POD = 1.0
"""`S̄`: not observable from metrics; 1 unless sandboxes were recreated (docs/model.md#terms)."""

LIST_OPS = ("list_podsandbox", "list_containers")
"""The two calls of `GetPods(all=true)` at the start of every relist (docs/model.md#the-relist-loop)."""
STATUS_OPS = ("podsandbox_status", "container_status")
"""The per-pod inspection calls of `GetPodStatus` (docs/model.md#the-relist-loop)."""
RELIST_OPS = (*LIST_OPS, *STATUS_OPS)

PlegMode = Literal["generic", "evented", "unknown"]


@record(kw_only=True)
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
    """EventedPLEG gave up after 5 stream errors: generic runs at 1 s / 3 min again (docs/model.md#eventedpleg)."""
    non_blocking_events: bool = True
    """≥1.14: a full event channel discards (`kubelet_pleg_discard_events`); ≤1.13 it blocks
    and can deadlock the relist (kubernetes#72482, docs/model.md#constants)."""
    has_last_seen: bool = True
    """≥1.18: `kubelet_pleg_last_seen_seconds` exists (docs/model.md#metric-names-by-era)."""
    relist_time_after_getpods: bool = True
    """≥1.7: the health clock is reset after `GetPods` succeeds, not before (kubernetes#45496, docs/model.md#the-relist-loop)."""
    may_inspect_twice: bool = True
    """≤1.31: a failing pod with events can be inspected twice per relist (2τ, kubernetes#94829, docs/model.md#constants)."""


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
