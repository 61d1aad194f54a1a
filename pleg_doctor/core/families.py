"""Which kubelet metric names are read, and what each becomes: the families the model knows.

Every exposed name the model reads, across the kubelet's eras (docs/model.md#metric-names-by-era:
the 1.14 renames, the µs summaries that became seconds histograms, the OpenMetrics `_total`
aliases), mapped to one canonical family, its sample part and the scale to base units; and the
line prefixes worth looking at. Separate from `exposition.py` (the text format, streamed)
because a new kubelet era or a new metric is a change here alone: a row, not parsing code.
"""

from __future__ import annotations

# NOTE: prefixes, not names: the exact-name lookup below does the real filtering; these only decide
# which lines are worth splitting at all. cAdvisor series (`container_*`) never match.
KEPT_PREFIXES: tuple[bytes, ...] = (
    b"kubelet_pleg_",
    b"kubelet_evented_pleg_",
    b"kubelet_runtime_operations",
    b"kubelet_running_",
    b"kubelet_docker_operations",
    b"kubelet_network_plugin_operations",
    b"kubelet_node_name",
    b"kubelet_containers_per_pod_count",
    b"kubelet_started_containers_total",
    b"kubelet_started_pods_total",
    b"kubernetes_build_info",
    b"kubernetes_feature_enabled",
    b"process_start_time_seconds",
    b"process_cpu_seconds_total",
    b"go_memstats_last_gc_time_seconds",
)

KEPT_FIRST_BYTES = frozenset(prefix[0] for prefix in KEPT_PREFIXES)
"""The first byte of every kept prefix (`k`, `p`, `g`): one set lookup turns most lines away
(cAdvisor's `container_*`, `storage_*`, `rest_client_*`) before the fifteen-prefix `startswith`,
which costs about as much as the rest of the loop over a line."""


# (exposed base name, canonical family, kind, scale). kind: "hist" | "summary" | "counter" | "gauge".
# Sources: docs/model.md#metric-names-by-era (names, types, the 1.14 renames, the µs → s move).
_FAMILIES: tuple[tuple[str, str, str, float], ...] = (
    ("kubelet_pleg_relist_duration_seconds", "relist_duration_hist", "hist", 1.0),
    ("kubelet_pleg_relist_latency_microseconds", "relist_duration_summary", "summary", 1e-6),
    ("kubelet_pleg_relist_interval_seconds", "relist_interval_hist", "hist", 1.0),
    ("kubelet_pleg_relist_interval_microseconds", "relist_interval_summary", "summary", 1e-6),
    ("kubelet_pleg_pod_relist_duration_seconds", "pod_relist_duration_hist", "hist", 1.0),
    ("kubelet_pleg_last_seen_seconds", "last_seen", "gauge", 1.0),
    ("kubelet_pleg_discard_events", "discard_events", "counter", 1.0),
    ("kubelet_evented_pleg_connection_error_count", "evented_errors", "counter", 1.0),
    ("kubelet_evented_pleg_connection_success_count", "evented_successes", "counter", 1.0),
    ("kubelet_evented_pleg_connection_latency_seconds", "evented_latency_hist", "hist", 1.0),
    ("kubelet_runtime_operations_total", "runtime_ops_total", "counter", 1.0),
    ("kubelet_runtime_operations", "runtime_ops_total_old", "counter", 1.0),
    ("kubelet_runtime_operations_errors_total", "runtime_ops_errors", "counter", 1.0),
    ("kubelet_runtime_operations_errors", "runtime_ops_errors_old", "counter", 1.0),
    ("kubelet_runtime_operations_duration_seconds", "runtime_ops_hist", "hist", 1.0),
    ("kubelet_runtime_operations_latency_microseconds", "runtime_ops_summary", "summary", 1e-6),
    ("kubelet_docker_operations_total", "docker_ops_total", "counter", 1.0),
    ("kubelet_docker_operations", "docker_ops_total_old", "counter", 1.0),
    ("kubelet_docker_operations_errors_total", "docker_ops_errors", "counter", 1.0),
    ("kubelet_docker_operations_errors", "docker_ops_errors_old", "counter", 1.0),
    ("kubelet_docker_operations_timeout_total", "docker_ops_timeouts", "counter", 1.0),
    ("kubelet_docker_operations_timeout", "docker_ops_timeouts_old", "counter", 1.0),
    ("kubelet_docker_operations_duration_seconds", "docker_ops_hist", "hist", 1.0),
    ("kubelet_docker_operations_latency_microseconds", "docker_ops_summary", "summary", 1e-6),
    ("kubelet_network_plugin_operations_duration_seconds", "network_plugin_hist", "hist", 1.0),
    (
        "kubelet_network_plugin_operations_latency_microseconds",
        "network_plugin_summary",
        "summary",
        1e-6,
    ),
    ("kubelet_running_pods", "running_pods", "gauge", 1.0),
    ("kubelet_running_pod_count", "running_pods_old", "gauge", 1.0),
    ("kubelet_running_containers", "running_containers", "gauge", 1.0),
    ("kubelet_running_container_count", "running_containers_old", "gauge", 1.0),
    ("kubelet_containers_per_pod_count", "containers_per_pod_hist", "hist", 1.0),
    ("kubelet_started_containers_total", "started_containers", "counter", 1.0),
    ("kubelet_started_pods_total", "started_pods", "counter", 1.0),
    ("kubelet_node_name", "node_name", "gauge", 1.0),
    ("kubernetes_build_info", "build_info", "gauge", 1.0),
    ("kubernetes_feature_enabled", "feature_enabled", "gauge", 1.0),
    ("process_start_time_seconds", "process_start", "gauge", 1.0),
    ("process_cpu_seconds_total", "process_cpu", "counter", 1.0),
    ("go_memstats_last_gc_time_seconds", "last_gc", "gauge", 1.0),
)


FAMILY_METRICS: dict[str, str] = {family: base for base, family, _, _ in reversed(_FAMILIES)}
"""Canonical family key → the exposed base name (the first listed for the family)."""


def _build_name_table() -> dict[bytes, tuple[str, str, float]]:
    """Exposed sample name → (family, part, scale), including the OpenMetrics `_total` aliases."""
    table: dict[bytes, tuple[str, str, float]] = {}
    for base, family, kind, scale in _FAMILIES:
        if kind == "hist":
            table[f"{base}_bucket".encode()] = (family, "bucket", 1.0)
            table[f"{base}_sum".encode()] = (family, "sum", scale)
            table[f"{base}_count".encode()] = (family, "count", 1.0)
        elif kind == "summary":
            table[base.encode()] = (family, "quantile", scale)
            table[f"{base}_sum".encode()] = (family, "sum", scale)
            table[f"{base}_count".encode()] = (family, "count", 1.0)
        else:
            table[base.encode()] = (family, "value", scale)
            if kind == "counter" and not base.endswith("_total"):
                # OpenMetrics (and prometheus_client) expose every counter sample with `_total`.
                table.setdefault(f"{base}_total".encode(), (family, "value", scale))
    return table


NAME_TABLE = _build_name_table()
