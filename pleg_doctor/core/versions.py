"""Kubelet versions: `v1.21.2-eks-…` → (1, 21), or the oldest version the metric names allow.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple


def parse_version(text: str) -> tuple[int, int] | None:
    """`v1.21.2-eks-0389ca3` → (1, 21); None when it is not a Kubernetes version."""
    value = text.lstrip("v")
    parts = value.split(".")
    if len(parts) < 2:
        return None
    minor = ""
    for char in parts[1]:
        if not char.isdigit():
            break
        minor += char
    if not parts[0].isdigit() or not minor:
        return None
    return int(parts[0]), int(minor)


class VersionRange(NamedTuple):
    """The kubelet versions a dump's metric names allow: `low` ≤ version < `high`.

    Inferred, never exact: a dump without `kubernetes_build_info` says which families exist,
    and each family was added (or removed) in a known release, so the versions it can come from
    form a range. The model may use `low` for its constants (the oldest behaviour the names
    allow); reports show the range itself (`str()`: `>=1.27`, `>=1.9 <1.14`). A NamedTuple,
    immutable like a frozen dataclass and about ten times cheaper to define: this module is on
    the start-up path of every `check`.
    """

    low: tuple[int, int]
    high: tuple[int, int] | None = None
    """Exclusive upper bound, or None when every later release fits."""

    def __str__(self) -> str:
        text = f">={self.low[0]}.{self.low[1]}"
        if self.high is not None:
            text += f" <{self.high[0]}.{self.high[1]}"
        return text


# (family present → oldest release exposing it), newest first. `kubelet_pleg_*` and the runtime
# families as named in `exposition`; the releases are the kubelet's own metric changes.
_ADDED_IN: tuple[tuple[tuple[str, ...], tuple[int, int]], ...] = (
    (("pod_relist_duration_hist",), (1, 36)),  # per-pod relist requests
    (("evented_errors", "evented_successes", "evented_latency_hist"), (1, 27)),  # EventedPLEG
    (("running_pods", "running_containers"), (1, 19)),  # renamed from *_count
    (("last_seen",), (1, 18)),  # kubelet_pleg_last_seen_seconds
    (("relist_duration_hist", "discard_events", "runtime_ops_hist"), (1, 14)),  # seconds
    (("relist_duration_summary", "runtime_ops_summary"), (1, 9)),  # the µs summaries
)
# Families removed in a release (the versions they allow end before it).
_REMOVED_IN: tuple[tuple[tuple[str, ...], tuple[int, int]], ...] = (
    (("relist_duration_summary", "relist_interval_summary", "runtime_ops_summary"), (1, 17)),
    (("docker_ops_total", "docker_ops_total_old", "docker_ops_hist", "docker_ops_summary"),
     (1, 24)),  # dockershim
)  # fmt: skip


def infer_version_range(
    by_family: Collection[str], *, runtime_buckets: str | None = None
) -> VersionRange | None:
    """The kubelet versions consistent with the metric families present (None: no clue).

    `by_family` holds the canonical family keys of `exposition` (e.g. `last_seen`);
    `runtime_buckets` is `exponential` (the runtime histogram's buckets since 1.20) or `default`
    (DefBuckets, 1.14-1.19). The µs summaries without the seconds histogram beside them mean a
    kubelet before 1.14, which exposed only those.
    """
    lows = [version for families, version in _ADDED_IN if any(f in by_family for f in families)]
    if runtime_buckets == "exponential":
        lows.append((1, 20))
    if not lows:
        return None
    low = max(lows)
    highs = [version for families, version in _REMOVED_IN if any(f in by_family for f in families)]
    if runtime_buckets == "default":
        highs.append((1, 20))
    if "relist_duration_summary" in by_family and "relist_duration_hist" not in by_family:
        highs.append((1, 14))
    high = min(highs) if highs else None
    if high is not None and high <= low:
        high = None  # the names contradict each other (a merged or edited dump): keep the floor
    return VersionRange(low, high)


def infer_version(by_family: Collection[str]) -> tuple[int, int] | None:
    """The oldest version consistent with the metric families present (`infer_version_range`)."""
    found = infer_version_range(by_family)
    return found.low if found is not None else None
