"""Kubelet versions: `v1.21.2-eks-…` → (1, 21), or the oldest version the metric names allow.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

from collections.abc import Collection


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


def infer_version(by_family: Collection[str]) -> tuple[int, int] | None:
    """The oldest version consistent with the metric families present.

    `by_family` holds the canonical family keys of `exposition` (e.g. `last_seen`).
    """
    if "pod_relist_duration_hist" in by_family:
        return (1, 36)
    if "evented_errors" in by_family or "evented_successes" in by_family:
        return (1, 27)
    if "running_pods" in by_family or "running_containers" in by_family:
        return (1, 19)
    if "last_seen" in by_family:
        return (1, 18)
    if "relist_duration_hist" in by_family or "discard_events" in by_family:
        return (1, 14)
    if "relist_duration_summary" in by_family:
        return (1, 13)
    return None
