"""From the answers of the fleet queries to one `FleetNode` (a `Window` and notes) per kubelet.

The gauges and counters of each answer are routed into a kubelet's normalized samples (the
canonical families of `exposition`), so a node's Window is built by the core's own
`build_snapshot`: its counters are the server-side increases over the range, its gauges the last
scrape's. The histograms come as the server's measurements of them (`recording.measurements`), kept
per node and per runtime operation, and become the Window's distributions
(`distribution.measured_histogram`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import NamedTuple

from pleg_doctor.core.distribution import (
    DEF_BUCKETS_TOP_SECONDS,
    TIMEOUT_BUCKET_HIGH,
    TIMEOUT_BUCKET_LOW,
    Distribution,
    OpStats,
    measured_histogram,
)
from pleg_doctor.core.fleet import FleetNode, human_duration
from pleg_doctor.core.snapshot import SampleLike, Snapshot, build_snapshot
from pleg_doctor.core.terms import QUIET_WHOLE_WINDOW
from pleg_doctor.core.window import Window
from pleg_doctor.sources.prometheus.recording import (
    FLEET_AGE_MEASURES,
    FLEET_OPERATION_COUNTS,
    FLEET_OPERATION_QUANTILES,
    FLEET_OPERATION_SHAPES,
    FLEET_QUANTILE_MEASURES,
    FLEET_RELIST_MEASURES,
)

log = logging.getLogger(__package__)

EXPONENTIAL_TOP_SECONDS = 745.0580596923828
"""The largest finite bound of the runtime histogram's `ExponentialBuckets(.005, 2.5, 14)`."""
_NO_LABELS: Mapping[str, str] = {}
_OPERATION_LABELS: dict[str, Mapping[str, str]] = {}
"""The label set of each runtime operation's samples, one dict shared by every node."""


class PromSample(NamedTuple):
    """One element of an instant vector: its labels (tag removed), value and timestamp.

    A tuple: a fleet's answers make tens of thousands of them per second of decoding."""

    labels: dict[str, str]
    value: float
    timestamp: float


class FleetSample(NamedTuple):
    """A normalized sample (`snapshot.SampleLike`, like `exposition.Sample`) as a compact tuple:
    a fleet holds a few dozen per node."""

    family: str
    part: str
    labels: Mapping[str, str]
    value: float
    bound: float | None = None


@dataclasses.dataclass(frozen=True)
class _Route:
    """Where a term's results go in a node's normalized samples (`exposition._FAMILIES` keys)."""

    family: str
    part: str
    label: str | None = None
    """The result label kept on the sample (e.g. `operation_type`)."""
    fixed: tuple[tuple[str, str], ...] = ()
    """Labels set on every sample (e.g. `name="EventedPLEG"` for the feature gate)."""
    label_optional: bool = False
    """Keep results without `label` (≤ 1.15 `kubelet_running_container_count` has no state)."""


_SAMPLE_ROUTES: dict[str, _Route] = {
    "last_seen": _Route("last_seen", "value"),
    "running_pods": _Route("running_pods", "value"),
    "running_containers": _Route(
        "running_containers", "value", "container_state", label_optional=True
    ),
    "process_start": _Route("process_start", "value"),
    # Lifetime totals, not increases: EventedPLEG falls back to relisting after 5 errors since the
    # kubelet started (docs/model.md#eventedpleg); the increase goes to the Window (`evented_errors`).
    "evented_errors_total": _Route("evented_errors", "value"),
    "evented_successes_total": _Route("evented_successes", "value"),
    "evented_gate": _Route("feature_enabled", "value", fixed=(("name", "EventedPLEG"),)),
}
"""Terms that become samples of the node's snapshot."""

_NODE_MEASURES = frozenset((*FLEET_RELIST_MEASURES, *FLEET_QUANTILE_MEASURES, *FLEET_AGE_MEASURES))
_OPERATION_MEASURES = frozenset(
    (*FLEET_OPERATION_COUNTS, *FLEET_OPERATION_SHAPES, *FLEET_OPERATION_QUANTILES)
)
"""Terms that are the histograms' measurements (`recording.measurements`), per node and per runtime
operation: the node's Window is built from them (`node_window`)."""

_WINDOW_COUNTERS = ("discards", "evented_errors", "process_cpu", "started_containers")
"""Terms that are increases of plain counters: they go to the Window itself."""


@dataclasses.dataclass
class _NodeData:
    """Everything the queries said about one (cluster, instance)."""

    cluster: str
    instance: str
    samples: list[FleetSample] = dataclasses.field(default_factory=list)
    counters: dict[str, float] = dataclasses.field(default_factory=dict)
    node_name: str | None = None
    node_label: str | None = None
    git_version: tuple[str, str] | None = None
    scraped_at: float | None = None
    scrapes: float | None = None
    restarts: float = 0.0
    up: float | None = None
    measures: dict[str, float] = dataclasses.field(default_factory=dict)
    """The histograms' measurements of the node (`recording.FLEET_RELIST_MEASURES`...)."""
    operations: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    """Per runtime operation, its measurements (`recording.FLEET_OPERATION_COUNTS`...)."""

    @property
    def has_pleg_series(self) -> bool:
        return "relists" in self.measures or any(s.family == "last_seen" for s in self.samples)


class FleetAssembler:
    """Collects query results into one `_NodeData` per kubelet, as they are decoded.

    The source folds each answer in a few thousand series at a time while it decodes it
    (`add_series`), so no answer is held decoded whole. What stays per node is compact: about 50
    numbers, and gauge samples whose label dicts are shared (`_labels`: a few dozen distinct
    label sets in a whole fleet, an operation or a container state).
    """

    def __init__(self) -> None:
        self._nodes: dict[tuple[str, str], _NodeData] = {}
        self._label_sets: dict[tuple[str, str | None], Mapping[str, str]] = {}

    def _labels(self, term: str, route: _Route, value: str | None) -> Mapping[str, str]:
        """The (shared) label dict of a sample of `term` whose routed label is `value`."""
        key = (term, value)
        shared = self._label_sets.get(key)
        if shared is None:
            shared = dict(route.fixed)
            if route.label is not None and value is not None:
                shared[route.label] = value
            self._label_sets[key] = shared
        return shared

    def add_series(self, series: Iterable[tuple[str, dict[str, str], float, float]]) -> None:
        """Fold results of any terms in, each as `(term, labels, value, timestamp)` (the
        source's decoded series): the measurements, by far the most, on a short path."""
        node_measures, operation_measures = _NODE_MEASURES, _OPERATION_MEASURES
        nodes, isfinite = self._nodes, math.isfinite
        for term, labels, value, _ in series:
            if not isfinite(value):
                continue  # NaN or ±Inf from the server carries nothing usable
            operation = None
            if term in operation_measures:
                operation = labels.get("operation_type")
                if not operation:
                    continue
            key = (labels.get("cluster", ""), labels.get("instance", ""))
            data = nodes.get(key)
            if data is None:
                data = nodes[key] = _NodeData(cluster=key[0], instance=key[1])
            if term in node_measures:
                data.measures[term] = value
            elif operation is not None:
                measured = data.operations.get(operation)
                if measured is None:
                    measured = data.operations[operation] = {}
                measured[term] = value
            else:
                self._add_other(term, data, labels, value)

    def add(self, term: str, samples: Iterable[PromSample]) -> None:
        """Fold one term's results in (in any order; a term may come in several parts)."""
        self.add_series((term, s.labels, s.value, s.timestamp) for s in samples)

    def _add_other(
        self, term: str, data: _NodeData, labels: Mapping[str, str], value: float
    ) -> None:
        """One result of a term that is not a measurement: a gauge, a counter, a label."""
        route = _SAMPLE_ROUTES.get(term)
        if route is not None:
            self._add_sample(term, data, route, labels, value)
        elif term in _WINDOW_COUNTERS:
            data.counters[term] = data.counters.get(term, 0.0) + value
        elif term == "node_name":
            name = labels.get("node")
            if name and (data.node_name is None or name < data.node_name):
                data.node_name = name
        elif term == "up":
            data.up = max(data.up or 0.0, value)
            data.node_label = data.node_label or labels.get("node") or None
        elif term == "build_info":
            for label in ("git_version", "gitVersion"):
                if labels.get(label):
                    data.git_version = (label, labels[label])
        elif term == "scraped_at":
            data.scraped_at = value
        elif term == "scrapes":
            data.scrapes = value
        elif term == "restarts":
            data.restarts = max(data.restarts, value)
        else:
            log.debug("ignoring results of unknown term %s", term)

    def _add_sample(
        self, term: str, data: _NodeData, route: _Route, labels: Mapping[str, str], value: float
    ) -> None:
        label_value: str | None = None
        if route.label is not None:
            label_value = labels.get(route.label)
            if label_value is None and not route.label_optional:
                return
        bound: float | None = None
        if route.part == "bucket":
            try:
                bound = float(labels.get("le", ""))
            except ValueError:
                return
        shared = self._labels(term, route, label_value)
        data.samples.append(FleetSample(route.family, route.part, shared, value, bound))

    def nodes(self, *, evaluated_at: float, range_seconds: float) -> tuple[FleetNode, ...]:
        """One `FleetNode` per kubelet seen, in (cluster, instance) order."""
        prefix = len({cluster for cluster, _ in self._nodes}) > 1
        return tuple(
            _fleet_node(
                data,
                evaluated_at=evaluated_at,
                range_seconds=range_seconds,
                cluster_prefix=prefix,
            )
            for _, data in sorted(self._nodes.items())
        )


def assemble_nodes(
    results: Mapping[str, Sequence[PromSample]],
    *,
    evaluated_at: float,
    range_seconds: float,
) -> tuple[FleetNode, ...]:
    """Turn each term's results (keyed by term name) into one `FleetNode` per kubelet.

    A kubelet is a `(cluster, instance)` pair seen in any result. Its node name comes from
    `kubelet_node_name{node}` joined on those labels, else from a `node` label on its `up`
    series, else it is the instance (docs/output.md#fleet-v1); when the results span more
    than one `cluster`, names are prefixed with `cluster/`. Missing series never fail: a kubelet
    without PLEG series gets an `unknown` verdict that says why.
    """
    assembler = FleetAssembler()
    for term, samples in results.items():
        assembler.add(term, samples)
    return assembler.nodes(evaluated_at=evaluated_at, range_seconds=range_seconds)


def _display_name(data: _NodeData, *, cluster_prefix: bool) -> str:
    name = data.node_name or data.node_label or data.instance or "(no instance label)"
    return f"{data.cluster}/{name}" if cluster_prefix and data.cluster else name


def node_window(
    samples: Sequence[SampleLike],
    *,
    name: str,
    node: str | None,
    captured_at: float,
    range_seconds: float,
    scrapes: int,
    restarted: bool,
    increases: Mapping[str, float],
    measures: Mapping[str, float] | None = None,
    operations: Mapping[str, Mapping[str, float]] | None = None,
) -> Window:
    """The Window of one kubelet from server-side increases and last-scrape gauges.

    `samples` are normalized (the canonical families of `exposition`): the last scrape's gauges.
    `measures` and `operations` are what the server measured of the relist and runtime
    histograms over `range_seconds` (`recording.measurements`): their counts, sums, quantiles and
    shapes become the Window's distributions (`distribution.measured_histogram`), with the
    runtime's bucket set of the kubelet's version (DefBuckets up to 1.19, exponential buckets
    from 1.20, as `pkg/kubelet/metrics/metrics.go` `RuntimeOperationsDuration`). So the
    snapshot's counters are already the window's deltas, and the Window is built directly
    instead of by `window.window_between` (there is no earlier scrape to subtract): `seconds` is
    the range, `first` an empty snapshot at the range's start (so `is_lifetime` is False), and
    `increases` carries the plain counters (`discards`, `evented_errors`, `process_cpu`,
    `started_containers`). `captured_at` is the last scrape's timestamp: ages are measured there.
    """
    measures = measures or {}
    operations = operations or {}
    histogram = "relists_over_top" in measures
    # Latency histograms have `op_timeouts` (a bucket difference); µs summaries do not.
    hist_ops = {op for op, measured in operations.items() if "op_timeouts" in measured}
    counted = list(samples)
    counted += _relist_samples(measures, histogram)
    counted += _operation_samples(operations, hist_ops)
    last = build_snapshot(
        counted, name=name, node=node, captured_at=captured_at, captured_at_origin="at"
    )
    buckets = "default" if last.version is not None and last.version < (1, 20) else "exponential"
    relist, summary = _relist_distributions(measures, histogram)
    runtime_ops = {
        op: OpStats(
            calls=stats.calls,
            errors=stats.errors,
            latency=_latency(
                operations.get(op, {}), buckets if op in hist_ops else None, stats.latency
            ),
        )
        for op, stats in last.runtime_ops.items()
    }
    last = dataclasses.replace(
        last,
        relist_duration=relist,
        relist_duration_summary=summary,
        runtime_ops=runtime_ops,
        runtime_buckets=buckets if hist_ops else None,
    )
    # The window's start: only the health clock's age there (the relist in progress at the
    # window's edge, docs/model.md "Window edges and failed relists"), as the gauge it came from.
    start = captured_at - range_seconds
    start_age = measures.get("edge_start_age_seconds")
    first: Snapshot = build_snapshot(
        [FleetSample("last_seen", "value", _NO_LABELS, start - start_age)]
        if start_age is not None
        else (),
        name=name,
        node=node,
        captured_at=start,
        captured_at_origin="at",
    )
    relists = measures.get("relists")
    return Window(
        last=last,
        first=first,
        scrapes=scrapes,
        seconds=range_seconds,
        restarted=restarted,
        relist_duration=last.relist_duration,
        relist_interval=last.relist_interval,
        pod_relist_duration=None,
        runtime_ops=last.runtime_ops,
        docker_ops={},
        network_plugin_ops={},
        discard_events=increases.get("discards"),
        evented_errors=increases.get("evented_errors"),
        started_containers=increases.get("started_containers"),
        process_cpu_seconds=increases.get("process_cpu"),
        extrapolated=True,
        # What the server sees of the scrapes in between: the largest health-clock age at them,
        # and a run without relists only when it is the whole window (docs/rules.md).
        scrape_age_peak_seconds=measures.get("scrape_age_peak_seconds"),
        quiet_seconds=QUIET_WHOLE_WINDOW.evaluate(
            {"relists": relists, "window_seconds": range_seconds}
        ),
    )


def _relist_samples(measures: Mapping[str, float], histogram: bool) -> list[FleetSample]:
    """The relist's and the interval's count and sum as samples of their families (the
    snapshot infers the version from the families present)."""
    family = "relist_duration_hist" if histogram else "relist_duration_summary"
    parts = (
        (family, "count", "relists"),
        (family, "sum", "relist_sum_seconds"),
        ("relist_interval_hist", "count", "relist_interval_count"),
        ("relist_interval_hist", "sum", "relist_interval_sum_seconds"),
    )
    return [
        FleetSample(name, part, _NO_LABELS, measures[measure])
        for name, part, measure in parts
        if measure in measures
    ]


def _operation_samples(
    operations: Mapping[str, Mapping[str, float]], hist_ops: Collection[str]
) -> list[FleetSample]:
    """Each operation's calls, errors and latency count and sum as samples of their families."""
    samples = []
    for op, measured in operations.items():
        labels = _OPERATION_LABELS.get(op)
        if labels is None:
            labels = _OPERATION_LABELS[op] = {"operation_type": op}
        latency = "runtime_ops_hist" if op in hist_ops else "runtime_ops_summary"
        for family, part, measure in (
            ("runtime_ops_total", "value", "op_calls"),
            ("runtime_ops_errors", "value", "op_errors"),
            (latency, "count", "op_count"),
            (latency, "sum", "op_sum_seconds"),
        ):
            if measure in measured:
                samples.append(FleetSample(family, part, labels, measured[measure]))
    return samples


def _relist_distributions(
    measures: Mapping[str, float], histogram: bool
) -> tuple[Distribution | None, Distribution | None]:
    """The relist duration (and the µs summary's, before 1.17) from the server's measurements."""
    count, total = measures.get("relists"), measures.get("relist_sum_seconds")
    recent = measures.get("relist_recent_p99_seconds")
    if count is None or total is None:
        return None, None
    quantiles = [
        (0.5, measures.get("relist_p50_seconds")),
        (0.99, measures.get("relist_p99_seconds")),
    ]
    if not histogram:
        known = tuple((q, v) for q, v in quantiles if v is not None)
        only = Distribution(count=count, sum_seconds=total, quantiles=known)
        return only, only
    over = measures.get("relists_over_top", 0.0)
    relist = measured_histogram(
        count=count,
        sum_seconds=total,
        buckets=[(DEF_BUCKETS_TOP_SECONDS, count - over)],
        quantiles=quantiles,
        over_top_mean_seconds=measures.get("relist_over_top_mean_seconds"),
    )
    summary = (
        Distribution(count=count, sum_seconds=total, quantiles=((0.99, recent),))
        if recent is not None
        else None
    )
    return relist, summary


def _latency(
    measured: Mapping[str, float], buckets: str | None, counted: Distribution | None
) -> Distribution | None:
    """One operation's latency distribution from the server's measurements of it."""
    if counted is None:
        return None
    count, total = counted.count, counted.sum_seconds
    p99 = measured.get("op_p99_seconds")
    if buckets is None:  # µs summaries (before 1.14): their own recent p99, no buckets
        known = ((0.99, p99),) if p99 is not None else ()
        return Distribution(count=count, sum_seconds=total, quantiles=known)
    timeouts = measured.get("op_timeouts", 0.0)
    if buckets == "exponential":
        # The (119.2, 298] timeout bucket, and the top finite bound (745 s).
        low, high = TIMEOUT_BUCKET_LOW, TIMEOUT_BUCKET_HIGH
        points = [(low, count - timeouts), (high, count), (EXPONENTIAL_TOP_SECONDS, count)]
    else:
        points = [(DEF_BUCKETS_TOP_SECONDS, count - timeouts)]
    return measured_histogram(
        count=count,
        sum_seconds=total,
        buckets=points,
        quantiles=[(0.99, p99)],
        over_top_mean_seconds=measured.get("op_over_top_mean_seconds"),
    )


def _fleet_node(
    data: _NodeData, *, evaluated_at: float, range_seconds: float, cluster_prefix: bool
) -> FleetNode:
    samples = data.samples
    if data.git_version is not None:
        label, version = data.git_version
        samples.append(FleetSample("build_info", "value", {label: version}, 1.0))
        data.git_version = None  # appended once
    span = human_duration(range_seconds)
    scrapes = round(data.scrapes) if data.scrapes is not None else 0
    window = node_window(
        samples,
        name=data.instance or "(no instance label)",
        node=_display_name(data, cluster_prefix=cluster_prefix),
        captured_at=data.scraped_at if data.scraped_at is not None else evaluated_at,
        range_seconds=range_seconds,
        scrapes=scrapes,
        restarted=data.restarts > 0,
        increases=data.counters,
        measures=data.measures,
        operations=data.operations,
    )
    notes: list[str] = [f"Prometheus instance {data.instance or '(none)'}"]
    node_name = data.node_name or data.node_label
    down = data.up is not None and data.up < 1
    if not data.has_pleg_series:
        if down:
            reason = (
                "Prometheus cannot scrape this kubelet (up == 0): nothing to judge; a kubelet "
                "that stops answering /metrics often goes NotReady with its node"
            )
        else:
            reason = (
                f"no kubelet_pleg_* series for this target over the last {span}: relabeling "
                "drops them (kube-prometheus drops the µs summaries of kubelets before 1.14), "
                "or the target is not a kubelet's /metrics"
            )
        return FleetNode(
            window=window, unknown_reason=reason, notes=tuple(notes), node_name=node_name
        )
    if down:
        notes.append(
            "Prometheus' latest scrape of this kubelet failed (up == 0): the figures are from "
            "before it"
        )
        return FleetNode(
            window=window,
            unknown_reason=(
                "Prometheus cannot scrape this kubelet now (up == 0): its state now is unknown"
            ),
            notes=tuple(notes),
            node_name=node_name,
        )
    if window.relist_duration is None:
        notes.append(
            f"no relist counters over the last {span} (increase() needs two scrapes): judged "
            "from kubelet_pleg_last_seen_seconds alone; widen --range"
        )
    elif scrapes < 2:
        notes.append(f"{scrapes} scrape(s) in the last {span}: widen --range for steadier rates")
    if data.scraped_at is None:
        notes.append(
            "the last scrape's time is unknown: ages are measured at the evaluation time "
            "(they include up to one scrape interval)"
        )
    return FleetNode(window=window, notes=tuple(notes), node_name=node_name)
