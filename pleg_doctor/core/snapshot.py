"""Snapshot (one scrape) and Window (what happened between scrapes): the data the model reads.

A `Snapshot` is one kubelet scrape with era differences already normalized (by `exposition`); a
`Window` is what the model diagnoses: counter deltas between two or more snapshots of one node, or,
from a single scrape, the lifetime counters since the kubelet started (PLEG-MODEL.md §6.4 "Single
scrape" vs "Two scrapes"). Counter resets (a kubelet restart between scrapes) are handled the way
Prometheus' `increase()` handles them: the value after the reset is the increase, never negative.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from pleg_doctor.errors import UsageError

# PLEG-MODEL.md §3 "Bucket sets": the largest finite DefBuckets bound. Relist durations above it
# land in +Inf only.
DEF_BUCKETS_TOP_SECONDS = 10.0
# PLEG-MODEL.md §3.3: the (119.209, 298.023] runtime bucket (ExponentialBuckets(.005, 2.5, 14),
# ≥1.20) holds the calls that hit the default 2 min CRI timeout.
TIMEOUT_BUCKET_LOW = 119.20928955078125
TIMEOUT_BUCKET_HIGH = 298.0232238769531


class SampleLike(Protocol):
    """The shape of `exposition.Sample` (kept structural so the core never imports an edge)."""

    @property
    def family(self) -> str:
        """Canonical family key."""
        ...

    @property
    def part(self) -> str:
        """value, bucket, sum, count or quantile."""
        ...

    @property
    def labels(self) -> Mapping[str, str]:
        """Labels without le/quantile."""
        ...

    @property
    def value(self) -> float:
        """Value in base units."""
        ...

    @property
    def bound(self) -> float | None:
        """le or quantile, as a float."""
        ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class Distribution:
    """A histogram or summary in seconds: cumulative buckets and/or recent quantiles."""

    count: float
    """Number of observations (`_count`)."""
    sum_seconds: float
    """Sum of observations (`_sum`), seconds."""
    buckets: tuple[tuple[float, float], ...] = ()
    """Cumulative `(le, count)` pairs in rising `le` order, `+Inf` last when exposed."""
    quantiles: tuple[tuple[float, float], ...] = ()
    """Summary `(quantile, seconds)` pairs: a sliding 10-minute window in client_golang, so
    "recent", not lifetime (PLEG-MODEL.md §3.1); NaN when nothing was observed in it."""

    @property
    def mean_seconds(self) -> float | None:
        """`sum / count`, or None without observations."""
        return self.sum_seconds / self.count if self.count > 0 else None

    def count_above(self, bound: float) -> float | None:
        """Observations greater than the bucket bound `bound` (None if no such bucket)."""
        for le, cumulative in self.buckets:
            if le == bound:
                return max(0.0, self.count - cumulative)
        return None

    def count_between(self, low: float, high: float) -> float | None:
        """Observations in the `(low, high]` bucket range (None if those buckets are missing)."""
        lows = [c for le, c in self.buckets if math.isclose(le, low, rel_tol=1e-4)]
        highs = [c for le, c in self.buckets if math.isclose(le, high, rel_tol=1e-4)]
        if not lows or not highs:
            return None
        return max(0.0, highs[0] - lows[0])

    @property
    def top_finite_bucket(self) -> float | None:
        """The largest finite `le`, e.g. 10 s for DefBuckets."""
        finite = [le for le, _ in self.buckets if math.isfinite(le)]
        return finite[-1] if finite else None

    def quantile(self, q: float) -> float | None:
        """The `q` quantile, Prometheus `histogram_quantile` semantics, or the summary's own value.

        Linear interpolation inside the bucket; a quantile falling in `+Inf` returns the largest
        finite bound (as Prometheus does), so callers must also look at `count_above`.
        """
        if self.buckets:
            return _histogram_quantile(q, self.buckets, self.count)
        for quantile, value in self.quantiles:
            if math.isclose(quantile, q) and not math.isnan(value):
                return value
        return None

    def summary_quantile(self, q: float) -> float | None:
        """The summary's own `q` quantile, NaN kept (it means "no observation recently")."""
        for quantile, value in self.quantiles:
            if math.isclose(quantile, q):
                return value
        return None

    def over_top_mean_seconds(self) -> float | None:
        """Mean of the observations above the top finite bucket, estimated from `_sum`.

        The DefBuckets top is 10 s, useless near the 180 s threshold (PLEG-MODEL.md §3.3). The
        sum still carries the long observations: subtracting an upper estimate of the finite
        buckets' share (each bucket's count × its upper bound) leaves a lower estimate of what the
        long ones took. None when no observation is above the top bucket.
        """
        top = self.top_finite_bucket
        if top is None:
            return None
        above = self.count_above(top)
        if not above:
            return None
        below_sum = 0.0
        previous = 0.0
        for le, cumulative in self.buckets:
            if not math.isfinite(le):
                break
            below_sum += (cumulative - previous) * le
            previous = cumulative
        return max(top, (self.sum_seconds - below_sum) / above)

    def minus(self, earlier: Distribution) -> Distribution:
        """The observations since `earlier`; a reset (fewer observations now) returns `self`."""
        if self.count < earlier.count or self.sum_seconds < earlier.sum_seconds - 1e-9:
            return self
        earlier_buckets = dict(earlier.buckets)
        buckets = tuple(
            (le, max(0.0, count - earlier_buckets.get(le, 0.0))) for le, count in self.buckets
        )
        return Distribution(
            count=self.count - earlier.count,
            sum_seconds=max(0.0, self.sum_seconds - earlier.sum_seconds),
            buckets=buckets,
            quantiles=self.quantiles,
        )

    def plus(self, other: Distribution) -> Distribution:
        """Two deltas added (used to chain a window across several scrapes)."""
        other_buckets = dict(other.buckets)
        return Distribution(
            count=self.count + other.count,
            sum_seconds=self.sum_seconds + other.sum_seconds,
            buckets=tuple((le, c + other_buckets.get(le, 0.0)) for le, c in self.buckets),
            quantiles=other.quantiles or self.quantiles,
        )


def _histogram_quantile(
    q: float, buckets: Sequence[tuple[float, float]], count: float
) -> float | None:
    if count <= 0 or not buckets:
        return None
    rank = q * count
    bounds = [le for le, _ in buckets]
    counts = [c for _, c in buckets]
    index = bisect.bisect_left(counts, rank)
    if index >= len(buckets):
        index = len(buckets) - 1
    le = bounds[index]
    if not math.isfinite(le):
        finite = [b for b in bounds if math.isfinite(b)]
        return finite[-1] if finite else None
    lower = bounds[index - 1] if index > 0 else 0.0
    below = counts[index - 1] if index > 0 else 0.0
    in_bucket = counts[index] - below
    if in_bucket <= 0:
        return le
    return lower + (le - lower) * (rank - below) / in_bucket


@dataclasses.dataclass(frozen=True, kw_only=True)
class OpStats:
    """One runtime `operation_type`: calls, errors and latency (PLEG-MODEL.md §3.2)."""

    calls: float
    errors: float
    latency: Distribution | None

    def minus(self, earlier: OpStats) -> OpStats:
        """The calls since `earlier`, reset-aware per counter."""
        return OpStats(
            calls=_counter_delta(self.calls, earlier.calls),
            errors=_counter_delta(self.errors, earlier.errors),
            latency=_dist_delta(self.latency, earlier.latency),
        )

    def plus(self, other: OpStats) -> OpStats:
        """Two deltas added."""
        latency = self.latency
        if latency is None:
            latency = other.latency
        elif other.latency is not None:
            latency = latency.plus(other.latency)
        return OpStats(
            calls=self.calls + other.calls, errors=self.errors + other.errors, latency=latency
        )

    @property
    def timeouts(self) -> float | None:
        """Calls that hit the default CRI timeout: the (119.2, 298] bucket (≥1.20 buckets only)."""
        if self.latency is None:
            return None
        return self.latency.count_between(TIMEOUT_BUCKET_LOW, TIMEOUT_BUCKET_HIGH)


def _counter_delta(now: float, earlier: float) -> float:
    # Prometheus increase(): a counter lower than before has been reset; its value is the increase.
    return now if now < earlier else now - earlier


def _dist_delta(now: Distribution | None, earlier: Distribution | None) -> Distribution | None:
    if now is None:
        return None
    if earlier is None:
        return now
    return now.minus(earlier)


@dataclasses.dataclass(frozen=True, kw_only=True)
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
    """(major, minor), from build info or inferred from metric names (PLEG-MODEL.md §8)."""
    version_inferred: bool
    """True when `version` was inferred from metric names, not read from build info."""
    relist_duration: Distribution | None
    """Seconds histogram (≥1.14) when present, else the µs summary scaled to seconds."""
    relist_duration_summary: Distribution | None
    """The ≤1.16 summary, kept beside the histogram: its quantiles are the recent 10 minutes."""
    relist_interval: Distribution | None
    pod_relist_duration: Distribution | None
    """1.36 per-pod relist requests (ANCHORS.md §4.1)."""
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

    @property
    def has_pleg_metrics(self) -> bool:
        """Whether any PLEG relist metric is present at all."""
        return self.relist_duration is not None or self.last_seen_seconds is not None

    @property
    def has_dockershim(self) -> bool:
        """Dockershim in use: `kubelet_docker_operations_*` are present (PLEG-MODEL.md §8)."""
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
    without `captured_at` the capture time is bounded from the dump's own clocks (CONTRACT.md
    "Capture header"). Never the file's mtime: dumps get copied.
    """
    by_family: dict[str, list[SampleLike]] = {}
    for sample in samples:
        by_family.setdefault(sample.family, []).append(sample)

    def gauge(family: str) -> float | None:
        values = [s.value for s in by_family.get(family, ()) if s.part == "value"]
        return values[0] if values else None

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
    version_inferred = False
    if version is None:
        version = _infer_version(by_family)
        version_inferred = version is not None

    evented_gate: bool | None = None
    for sample in by_family.get("feature_enabled", ()):
        if sample.labels.get("name") == "EventedPLEG":
            evented_gate = sample.value >= 1
    evented_successes = gauge("evented_successes")
    if evented_gate is None and evented_successes is not None:
        # PLEG-MODEL.md §8: nonzero success_count means the gate is on and the stream connected.
        evented_gate = evented_successes > 0

    last_seen = gauge("last_seen")
    if last_seen is not None and last_seen <= 0:
        last_seen = None  # 0 before the first successful relist (ANCHORS.md §4.2)
    process_start = gauge("process_start")
    last_gc = gauge("last_gc")
    if last_gc is not None and last_gc <= 0:
        last_gc = None
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
        relist_duration=relist_hist or relist_summary,
        relist_duration_summary=relist_summary,
        relist_interval=interval,
        pod_relist_duration=_distribution(by_family.get("pod_relist_duration_hist", ())),
        last_seen_seconds=last_seen,
        discard_events=gauge("discard_events"),
        runtime_ops=runtime_ops,
        docker_ops=docker_ops,
        network_plugin_ops=network_ops,
        running_pods=gauge("running_pods")
        if gauge("running_pods") is not None
        else gauge("running_pods_old"),
        containers_by_state=_containers(by_family),
        containers_per_pod=_distribution(by_family.get("containers_per_pod_hist", ())),
        started_containers=_sum_values(by_family.get("started_containers", ())),
        evented_errors=gauge("evented_errors"),
        evented_successes=evented_successes,
        evented_gate=evented_gate,
        process_start_seconds=process_start,
        process_cpu_seconds=gauge("process_cpu"),
        last_gc_seconds=last_gc,
        runtime_buckets=_bucket_kind(by_family.get("runtime_ops_hist", ())),
    )


# Go forces a GC at least every 2 minutes (runtime.forcegcperiod), so a scrape lies within about
# 2 minutes after `go_memstats_last_gc_time_seconds` (CONTRACT.md "Capture header").
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


def _infer_version(by_family: Mapping[str, Sequence[SampleLike]]) -> tuple[int, int] | None:
    """The oldest version consistent with the metric names present (PLEG-MODEL.md §8)."""
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


def _distribution(samples: Iterable[SampleLike]) -> Distribution | None:
    count: float | None = None
    total = 0.0
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
        count=count, sum_seconds=total, buckets=tuple(buckets), quantiles=tuple(quantiles)
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
    calls = _labelled_values(
        by_family.get(totals[0]) or by_family.get(totals[1], ()), "operation_type"
    )
    errs = _labelled_values(
        by_family.get(errors[0]) or by_family.get(errors[1], ()), "operation_type"
    )
    dists = _labelled_distributions(by_family.get(latencies[0]) or by_family.get(latencies[1], ()))
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


@dataclasses.dataclass(frozen=True, kw_only=True)
class Window:
    """What the model diagnoses: counter deltas over a time window, gauges from its last scrape.

    From one scrape the window is the kubelet's lifetime (`is_lifetime`): counters since
    `process_start_time_seconds`. From several scrapes it is the time between the first and the
    last, with pairwise deltas summed so a restart in the middle loses nothing and never yields a
    negative rate.
    """

    last: Snapshot
    first: Snapshot | None
    """None for a lifetime window (single scrape)."""
    scrapes: int
    seconds: float | None
    """Length of the window (uptime for a lifetime window), or None when unknown."""
    restarted: bool
    """A counter reset (kubelet restart) was seen between scrapes."""
    relist_duration: Distribution | None
    relist_interval: Distribution | None
    pod_relist_duration: Distribution | None
    runtime_ops: Mapping[str, OpStats]
    docker_ops: Mapping[str, OpStats]
    network_plugin_ops: Mapping[str, Distribution]
    discard_events: float | None
    evented_errors: float | None
    started_containers: float | None
    process_cpu_seconds: float | None

    @property
    def is_lifetime(self) -> bool:
        """True for a single scrape: counters since the kubelet started, not a recent window."""
        return self.first is None

    @property
    def relists(self) -> float | None:
        """Relists observed in the window (`relist_duration` count)."""
        return self.relist_duration.count if self.relist_duration is not None else None


def lifetime_window(snapshot: Snapshot) -> Window:
    """The single-scrape window: lifetime counters (PLEG-MODEL.md §6.4 "Single scrape")."""
    return Window(
        last=snapshot,
        first=None,
        scrapes=1,
        seconds=snapshot.uptime_seconds,
        restarted=False,
        relist_duration=snapshot.relist_duration,
        relist_interval=snapshot.relist_interval,
        pod_relist_duration=snapshot.pod_relist_duration,
        runtime_ops=snapshot.runtime_ops,
        docker_ops=snapshot.docker_ops,
        network_plugin_ops=snapshot.network_plugin_ops,
        discard_events=snapshot.discard_events,
        evented_errors=snapshot.evented_errors,
        started_containers=snapshot.started_containers,
        process_cpu_seconds=snapshot.process_cpu_seconds,
    )


def window_between(snapshots: Sequence[Snapshot]) -> Window:
    """The window from the earliest to the latest of `snapshots` (already in time order).

    A restart between two scrapes is recognized by a changed `process_start_time_seconds` or by
    the relist count going down; the deltas then restart from zero (Prometheus `increase()`).
    """
    if len(snapshots) < 2:
        return lifetime_window(snapshots[0])
    first, last = snapshots[0], snapshots[-1]
    restarted = False
    delta: _Delta | None = None
    for earlier, later in itertools.pairwise(snapshots):
        reset = _is_restart(earlier, later)
        restarted = restarted or reset
        step = _Delta.of(later) if reset else _Delta.between(earlier, later)
        delta = step if delta is None else delta.plus(step)
    assert delta is not None
    seconds: float | None = None
    if first.captured_at is not None and last.captured_at is not None:
        seconds = max(0.0, last.captured_at - first.captured_at)
    return Window(
        last=last,
        first=first,
        scrapes=len(snapshots),
        seconds=seconds,
        restarted=restarted,
        relist_duration=delta.relist_duration,
        relist_interval=delta.relist_interval,
        pod_relist_duration=delta.pod_relist_duration,
        runtime_ops=delta.runtime_ops,
        docker_ops=delta.docker_ops,
        network_plugin_ops=delta.network_plugin_ops,
        discard_events=delta.discard_events,
        evented_errors=delta.evented_errors,
        started_containers=delta.started_containers,
        process_cpu_seconds=delta.process_cpu_seconds,
    )


def window_from_snapshots(snapshots: Sequence[Snapshot]) -> Window:
    """One snapshot → lifetime window; several of one node → the window between them."""
    if len(snapshots) == 1:
        return lifetime_window(snapshots[0])
    nodes = {s.node for s in snapshots if s.node is not None}
    if len(nodes) > 1:
        raise UsageError(
            f"the dumps come from different nodes ({', '.join(sorted(nodes))}): "
            "a window needs dumps of one node",
            hint="diagnose each node's dumps separately",
        )
    if any(s.captured_at is None for s in snapshots):
        raise UsageError(
            "cannot order the dumps in time: a dump has no capture time",
            hint="capture with `pleg-doctor capture`, which records it",
        )
    ordered = sorted(snapshots, key=lambda s: s.captured_at or 0.0)
    return window_between(ordered)


def _is_restart(earlier: Snapshot, later: Snapshot) -> bool:
    if (
        earlier.process_start_seconds is not None
        and later.process_start_seconds is not None
        and abs(later.process_start_seconds - earlier.process_start_seconds) > 1.0
    ):
        return True
    if earlier.relist_duration is not None and later.relist_duration is not None:
        return later.relist_duration.count < earlier.relist_duration.count
    return False


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Delta:
    """The counters of a Window under construction."""

    relist_duration: Distribution | None
    relist_interval: Distribution | None
    pod_relist_duration: Distribution | None
    runtime_ops: dict[str, OpStats]
    docker_ops: dict[str, OpStats]
    network_plugin_ops: dict[str, Distribution]
    discard_events: float | None
    evented_errors: float | None
    started_containers: float | None
    process_cpu_seconds: float | None

    @classmethod
    def of(cls, snapshot: Snapshot) -> _Delta:
        """Everything since the process started: the delta across a restart."""
        return cls(
            relist_duration=snapshot.relist_duration,
            relist_interval=snapshot.relist_interval,
            pod_relist_duration=snapshot.pod_relist_duration,
            runtime_ops=dict(snapshot.runtime_ops),
            docker_ops=dict(snapshot.docker_ops),
            network_plugin_ops=dict(snapshot.network_plugin_ops),
            discard_events=snapshot.discard_events,
            evented_errors=snapshot.evented_errors,
            started_containers=snapshot.started_containers,
            process_cpu_seconds=snapshot.process_cpu_seconds,
        )

    @classmethod
    def between(cls, earlier: Snapshot, later: Snapshot) -> _Delta:
        """Counter deltas from `earlier` to `later` (same process)."""
        return cls(
            relist_duration=_dist_delta(later.relist_duration, earlier.relist_duration),
            relist_interval=_dist_delta(later.relist_interval, earlier.relist_interval),
            pod_relist_duration=_dist_delta(later.pod_relist_duration, earlier.pod_relist_duration),
            runtime_ops=_ops_delta(later.runtime_ops, earlier.runtime_ops),
            docker_ops=_ops_delta(later.docker_ops, earlier.docker_ops),
            network_plugin_ops={
                op: d.minus(earlier.network_plugin_ops[op])
                if op in earlier.network_plugin_ops
                else d
                for op, d in later.network_plugin_ops.items()
            },
            discard_events=_opt_delta(later.discard_events, earlier.discard_events),
            evented_errors=_opt_delta(later.evented_errors, earlier.evented_errors),
            started_containers=_opt_delta(later.started_containers, earlier.started_containers),
            process_cpu_seconds=_opt_delta(later.process_cpu_seconds, earlier.process_cpu_seconds),
        )

    def plus(self, other: _Delta) -> _Delta:
        """Chain two consecutive deltas."""
        return _Delta(
            relist_duration=_dist_plus(self.relist_duration, other.relist_duration),
            relist_interval=_dist_plus(self.relist_interval, other.relist_interval),
            pod_relist_duration=_dist_plus(self.pod_relist_duration, other.pod_relist_duration),
            runtime_ops=_ops_plus(self.runtime_ops, other.runtime_ops),
            docker_ops=_ops_plus(self.docker_ops, other.docker_ops),
            network_plugin_ops={
                op: self.network_plugin_ops[op].plus(d) if op in self.network_plugin_ops else d
                for op, d in other.network_plugin_ops.items()
            },
            discard_events=_opt_plus(self.discard_events, other.discard_events),
            evented_errors=_opt_plus(self.evented_errors, other.evented_errors),
            started_containers=_opt_plus(self.started_containers, other.started_containers),
            process_cpu_seconds=_opt_plus(self.process_cpu_seconds, other.process_cpu_seconds),
        )


def _ops_delta(now: Mapping[str, OpStats], earlier: Mapping[str, OpStats]) -> dict[str, OpStats]:
    return {op: s.minus(earlier[op]) if op in earlier else s for op, s in now.items()}


def _ops_plus(a: Mapping[str, OpStats], b: Mapping[str, OpStats]) -> dict[str, OpStats]:
    merged = dict(a)
    for op, stats in b.items():
        merged[op] = merged[op].plus(stats) if op in merged else stats
    return merged


def _dist_plus(a: Distribution | None, b: Distribution | None) -> Distribution | None:
    if a is None:
        return b
    if b is None:
        return a
    return a.plus(b)


def _opt_delta(now: float | None, earlier: float | None) -> float | None:
    if now is None:
        return None
    if earlier is None:
        return now
    return _counter_delta(now, earlier)


def _opt_plus(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b
