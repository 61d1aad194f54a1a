"""Snapshot: one kubelet scrape, normalized across eras, built from the samples of a dump.

A `Snapshot` is one kubelet scrape with era differences already normalized (by `exposition`):
its relist and runtime histograms (`distribution`), its gauges, its version (read from
`kubernetes_build_info` or inferred, `versions`) and its capture time, given or bounded from the
dump's own clocks. What the model diagnoses is a `window.Window` of one or more snapshots.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from pleg_doctor.core.distribution import Distribution, OpStats
from pleg_doctor.core.families import FAMILY_METRICS
from pleg_doctor.core.records import record
from pleg_doctor.core.values import JudgedSample, RejectedValue, rejection, show_value
from pleg_doctor.core.versions import VersionRange, infer_version_range, parse_version


class SampleLike(JudgedSample, Protocol):
    """The shape of `exposition.Sample` (kept structural so the core never imports an edge)."""

    @property
    def labels(self) -> Mapping[str, str]:
        """Labels without le/quantile."""
        ...


@record(kw_only=True)
class Snapshot:
    """One scrape of one kubelet, normalized across eras."""

    name: str
    """The dump's name for messages (path, `-`, URL)."""
    node: str | None
    captured_at: float | None
    """Unix seconds of the scrape on the kubelet's clock, or the lower bound when estimated."""
    captured_at_upper: float | None
    """Upper bound when `captured_at` is an estimate; equal to it when exact."""
    captured_at_origin: str
    """`header`, `http-date`, `at`, `estimated` or `unknown`: where the capture time came from."""
    kubelet_version: str | None
    """`gitVersion` from `kubernetes_build_info`, e.g. `v1.21.2`, or None."""
    version: tuple[int, int] | None
    """(major, minor), from build info or inferred from metric names (docs/model.md#version-inference)."""
    version_inferred: bool
    """True when `version` was inferred from metric names, not read from build info."""
    version_range: VersionRange | None = None
    """The versions the metric names allow, when inferred (`version` is its lower bound)."""
    relist_duration: Distribution | None
    """Seconds histogram (≥1.14) when present, else the µs summary scaled to seconds."""
    relist_duration_summary: Distribution | None
    """The ≤1.16 summary, kept beside the histogram: its quantiles are the recent 10 minutes."""
    relist_interval: Distribution | None
    pod_relist_duration: Distribution | None
    """1.36 per-pod relist requests (docs/model.md#relist-duration)."""
    last_seen_seconds: float | None
    """`kubelet_pleg_last_seen_seconds` (≥1.18): Unix seconds of the last relist start."""
    discard_events: float | None
    runtime_ops: Mapping[str, OpStats]
    docker_ops: Mapping[str, OpStats]
    network_plugin_ops: Mapping[str, Distribution]
    running_pods: float | None
    containers_by_state: Mapping[str, float] | None
    containers_per_pod: Distribution | None
    started_containers: float | None
    evented_errors: float | None
    evented_successes: float | None
    evented_gate: bool | None
    """`kubernetes_feature_enabled{name="EventedPLEG"}`, else inferred from stream successes."""
    process_start_seconds: float | None
    process_cpu_seconds: float | None
    last_gc_seconds: float | None
    runtime_buckets: str | None
    """`exponential` (≥1.20), `default` (DefBuckets, ≤1.19) or None without a runtime histogram."""
    rejected: tuple[RejectedValue, ...] = ()
    """Sample values set aside as no kubelet could expose them (NaN, ±Inf, out of range; see
    `core.values`): the fields they would have filled are absent, and the notes say so."""

    def rejected_family(self, family: str) -> RejectedValue | None:
        """The first value of `family` (e.g. `last_seen`) that was set aside, if any."""
        return next((r for r in self.rejected if r.family == family), None)

    @property
    def has_pleg_metrics(self) -> bool:
        """Whether any PLEG relist metric is present at all."""
        return self.relist_duration is not None or self.last_seen_seconds is not None

    @property
    def has_dockershim(self) -> bool:
        """Dockershim in use: `kubelet_docker_operations_*` are present (docs/model.md#metric-names-by-era)."""
        return bool(self.docker_ops)

    @property
    def total_containers(self) -> float | None:
        """All containers the relist lists, every state (exited ones inflate the lists)."""
        if self.containers_by_state is None:
            return None
        return sum(self.containers_by_state.values())

    @property
    def uptime_seconds(self) -> float | None:
        """Seconds since the kubelet process started, at the capture time."""
        if self.captured_at is None or self.process_start_seconds is None:
            return None
        return max(0.0, self.captured_at - self.process_start_seconds)


def build_snapshot(
    samples: Iterable[SampleLike],
    *,
    name: str,
    node: str | None = None,
    captured_at: float | None = None,
    captured_at_origin: str = "unknown",
) -> Snapshot:
    """Assemble a Snapshot from normalized samples.

    `node` and `captured_at` override what the samples say (capture header, `--at`, HTTP `Date`);
    without `captured_at` the capture time is bounded from the dump's own clocks (docs/output.md#capture-header;
    "Capture header"). Never the file's mtime: dumps get copied.
    """
    by_family: dict[str, list[SampleLike]] = {}
    rejected: list[RejectedValue] = []
    for sample in samples:
        why = rejection(sample)
        if why is not None:
            rejected.append(RejectedValue(sample.family, metric_name(sample), sample.value, why))
            continue
        by_family.setdefault(sample.family, []).append(sample)

    def gauge(family: str) -> float | None:
        for sample in by_family.get(family, ()):
            if sample.part == "value":
                return sample.value
        return None

    relist_hist = _distribution(by_family.get("relist_duration_hist", ()))
    relist_summary = _distribution(by_family.get("relist_duration_summary", ()))
    interval = _distribution(by_family.get("relist_interval_hist", ())) or _distribution(
        by_family.get("relist_interval_summary", ())
    )

    runtime_ops = _ops(
        by_family,
        totals=("runtime_ops_total", "runtime_ops_total_old"),
        errors=("runtime_ops_errors", "runtime_ops_errors_old"),
        latencies=("runtime_ops_hist", "runtime_ops_summary"),
    )
    docker_ops = _ops(
        by_family,
        totals=("docker_ops_total", "docker_ops_total_old"),
        errors=("docker_ops_errors", "docker_ops_errors_old"),
        latencies=("docker_ops_hist", "docker_ops_summary"),
    )
    network_ops = _labelled_distributions(
        by_family.get("network_plugin_hist", ()) or by_family.get("network_plugin_summary", ())
    )

    node_name = node
    if node_name is None:
        for sample in by_family.get("node_name", ()):
            node_name = sample.labels.get("node") or None
            break

    kubelet_version: str | None = None
    for sample in by_family.get("build_info", ()):
        kubelet_version = sample.labels.get("gitVersion") or sample.labels.get("git_version")
        if kubelet_version:
            break
    version = parse_version(kubelet_version) if kubelet_version else None
    version_range: VersionRange | None = None
    runtime_buckets = _bucket_kind(by_family.get("runtime_ops_hist", ()))
    if version is None:
        version_range = infer_version_range(by_family, runtime_buckets=runtime_buckets)
        version = version_range.low if version_range is not None else None
    version_inferred = version_range is not None

    evented_gate: bool | None = None
    for sample in by_family.get("feature_enabled", ()):
        if sample.labels.get("name") == "EventedPLEG":
            evented_gate = sample.value >= 1
    evented_successes = gauge("evented_successes")
    if evented_gate is None and evented_successes is not None:
        # docs/model.md#eventedpleg: nonzero success_count means the gate is on and the stream connected.
        evented_gate = evented_successes > 0

    last_seen = gauge("last_seen")
    if last_seen is not None and last_seen <= 0:
        last_seen = None  # 0 before the first successful relist (generic.go `Healthy`)
    process_start = gauge("process_start")
    last_gc = gauge("last_gc")
    if last_gc is not None and last_gc <= 0:
        last_gc = None
    running_pods = gauge("running_pods")
    upper: float | None
    if captured_at is not None:
        upper = captured_at
    else:
        captured_at, upper = _bound_capture_time(last_gc, last_seen, process_start)
        if captured_at is not None:
            captured_at_origin = "estimated"

    return Snapshot(
        name=name,
        node=node_name,
        captured_at=captured_at,
        captured_at_upper=upper,
        captured_at_origin=captured_at_origin,
        kubelet_version=kubelet_version,
        version=version,
        version_inferred=version_inferred,
        version_range=version_range,
        relist_duration=relist_hist or relist_summary,
        relist_duration_summary=relist_summary,
        relist_interval=interval,
        pod_relist_duration=_distribution(by_family.get("pod_relist_duration_hist", ())),
        last_seen_seconds=last_seen,
        discard_events=gauge("discard_events"),
        runtime_ops=runtime_ops,
        docker_ops=docker_ops,
        network_plugin_ops=network_ops,
        running_pods=running_pods if running_pods is not None else gauge("running_pods_old"),
        containers_by_state=_containers(by_family),
        containers_per_pod=_distribution(by_family.get("containers_per_pod_hist", ())),
        started_containers=_sum_values(by_family.get("started_containers", ())),
        evented_errors=gauge("evented_errors"),
        evented_successes=evented_successes,
        evented_gate=evented_gate,
        process_start_seconds=process_start,
        process_cpu_seconds=gauge("process_cpu"),
        last_gc_seconds=last_gc,
        runtime_buckets=runtime_buckets,
        rejected=tuple(rejected),
    )


def metric_name(sample: SampleLike) -> str:
    """The exposed name of `sample`, for people: `kubelet_running_pods`, `..._bucket{le="10"}`."""
    base = FAMILY_METRICS.get(sample.family, sample.family)
    if sample.part == "value":
        return base
    if sample.part == "quantile":
        return f'{base}{{quantile="{show_value(sample.bound or 0.0)}"}}'
    if sample.part == "bucket":
        return f'{base}_bucket{{le="{show_value(sample.bound or 0.0)}"}}'
    return f"{base}_{sample.part}"


# Go forces a GC at least every 2 minutes (runtime.forcegcperiod), so a scrape lies within about
# 2 minutes after `go_memstats_last_gc_time_seconds` (docs/output.md#capture-header).
GO_FORCED_GC_PERIOD_SECONDS = 120.0


def _bound_capture_time(
    last_gc: float | None, last_seen: float | None, process_start: float | None
) -> tuple[float | None, float | None]:
    """(lower, upper) bounds of the capture time from the dump's own clocks."""
    lows = [v for v in (last_gc, last_seen, process_start) if v is not None and v > 0]
    if not lows:
        return None, None
    lower = max(lows)
    upper = last_gc + GO_FORCED_GC_PERIOD_SECONDS if last_gc is not None else None
    if upper is not None and upper < lower:
        upper = lower
    return lower, upper


def _distribution(samples: Iterable[SampleLike]) -> Distribution | None:
    count: float | None = None
    total: float | None = None
    buckets: list[tuple[float, float]] = []
    quantiles: list[tuple[float, float]] = []
    for sample in samples:
        if sample.part == "count":
            count = sample.value
        elif sample.part == "sum":
            total = sample.value
        elif sample.part == "bucket" and sample.bound is not None:
            buckets.append((sample.bound, sample.value))
        elif sample.part == "quantile" and sample.bound is not None:
            quantiles.append((sample.bound, sample.value))
    if count is None:
        if not buckets:
            return None
        count = max(c for _, c in buckets)
    buckets.sort()
    quantiles.sort()
    return Distribution(
        count=count,
        sum_seconds=total or 0.0,
        buckets=tuple(buckets),
        quantiles=tuple(quantiles),
        has_sum=total is not None,
    )


def _labelled_distributions(
    samples: Iterable[SampleLike], label: str = "operation_type"
) -> dict[str, Distribution]:
    grouped: dict[str, list[SampleLike]] = {}
    for sample in samples:
        grouped.setdefault(sample.labels.get(label, ""), []).append(sample)
    result: dict[str, Distribution] = {}
    for key, group in grouped.items():
        distribution = _distribution(group)
        if distribution is not None:
            result[key] = distribution
    return result


def _labelled_values(samples: Iterable[SampleLike], label: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for sample in samples:
        key = sample.labels.get(label, "")
        values[key] = values.get(key, 0.0) + sample.value
    return values


def _ops(
    by_family: Mapping[str, Sequence[SampleLike]],
    *,
    totals: tuple[str, str],
    errors: tuple[str, str],
    latencies: tuple[str, str],
) -> dict[str, OpStats]:
    """Per-operation stats; the ≥1.14 name wins over the old one when both are exposed."""
    total_samples = by_family.get(totals[0]) or by_family.get(totals[1], ())
    error_samples = by_family.get(errors[0]) or by_family.get(errors[1], ())
    latency_samples = by_family.get(latencies[0]) or by_family.get(latencies[1], ())
    if not total_samples and not latency_samples:
        return {}  # no operation (dockershim's are absent since 1.24): nothing to group
    calls = _labelled_values(total_samples, "operation_type")
    errs = _labelled_values(error_samples, "operation_type")
    dists = _labelled_distributions(latency_samples)
    ops: dict[str, OpStats] = {}
    for op in sorted(set(calls) | set(dists)):
        latency = dists.get(op)
        count = calls.get(op)
        if count is None:
            count = latency.count if latency is not None else 0.0
        ops[op] = OpStats(calls=count, errors=errs.get(op, 0.0), latency=latency)
    return ops


def _containers(by_family: Mapping[str, Sequence[SampleLike]]) -> dict[str, float] | None:
    samples = by_family.get("running_containers") or by_family.get("running_containers_old")
    if not samples:
        return None
    # ≤1.15 `kubelet_running_container_count` has no label: it counts running containers.
    return (
        _labelled_values([s for s in samples if s.part == "value"], "container_state")
        if any("container_state" in s.labels for s in samples)
        else {"running": sum(s.value for s in samples if s.part == "value")}
    )


def _sum_values(samples: Iterable[SampleLike]) -> float | None:
    values = [s.value for s in samples if s.part == "value"]
    return sum(values) if values else None


def _bucket_kind(samples: Iterable[SampleLike]) -> str | None:
    bounds = {s.bound for s in samples if s.part == "bucket"}
    if not bounds:
        return None
    # ExponentialBuckets(.005, 2.5, 14) reach 745 s; DefBuckets stop at 10 s (+Inf aside).
    finite = [b for b in bounds if b is not None and math.isfinite(b)]
    return "exponential" if finite and max(finite) > 100 else "default"
