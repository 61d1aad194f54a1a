"""Fleet mode's source: a few PromQL instant queries for every kubelet, one `Window` per node.

`pleg-doctor fleet --prometheus URL` asks a Prometheus-compatible HTTP API (Prometheus, Thanos
Query, Mimir under its `/prometheus` prefix, VictoriaMetrics; the URL's path prefix is kept and
`/api/v1/query` appended) for what `diagnose` reads from one scrape pair, for the whole fleet at
once (ARCHITECTURE.md "Fleet mode": no per-node round trips). Eight API calls whatever the fleet
size: the server's clock (`time()`, skipped with `--at`), then seven instant vector queries, four
at a time:

* `relist_buckets`: `increase()` of the relist duration histogram buckets, by node and `le`;
* `relist`: relist duration and interval `_sum`/`_count` increases;
* `runtime_buckets_lists`, `runtime_buckets_status`: runtime operation latency buckets for the
  relist's own calls and `status` (the largest answer, in two halves evaluated side by side);
* `runtime`: their `_sum`/`_count`, calls (`kubelet_runtime_operations_total`) and errors;
* `counters`: discards, EventedPLEG connection errors, kubelet CPU, started containers, restarts
  (`changes(process_start_time_seconds)`) and scrapes in the range;
* `gauges`: the last scrape's gauges (`kubelet_pleg_last_seen_seconds` and `timestamp()` of that
  scrape, running pods and containers, process start, EventedPLEG totals and feature gate), the
  labels (`kubelet_node_name`, `kubernetes_build_info`) and `up`.

Queries with several parts join them with `or`, each part tagged by `label_replace(...,
"pleg_doctor_q", NAME, "", "")`: `increase()` drops metric names, so the tag is what keeps the
parts apart (and `or` keeps both sides since the tags differ). Every part aggregates `by (cluster,
instance)`: `instance` identifies a kubelet target (ANCHORS.md §3.1 joins on it, as the
kubernetes-mixin rules do), and `cluster` keeps two clusters behind one Thanos apart (an absent
label is just empty).

A node's `Window` is built from those answers (`node_window`) so that the core needs no fleet
special case: its counters ARE the server-side increases over `--range` (`seconds` = the range,
never lifetime: `Window.is_lifetime` is False), its gauges are the last scrape's, and its capture
time is that scrape's timestamp. Kubelets older than 1.14 expose only microsecond summaries, which
fleet mode does not read (kube-prometheus drops them at scrape time anyway, ANCHORS.md §5); such
nodes get verdict `unknown` with that reason.

HTTP goes through the request primitive of the live kubelet sources (`sources/http/`'s
`http_client`): credentials resolved and TLS files written once per fetch, one retry on connection
errors, timeouts, no redirects, errors translated; secrets (the token, every `--header` value)
never reach a message or a debug log. This module adds the query parameters, the JSON decoding
and the Prometheus API's own errors.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import json
import logging
import math
import re
import threading
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

from pleg_doctor.core.fleet import FleetNode, human_duration
from pleg_doctor.core.snapshot import SampleLike, Snapshot, build_snapshot
from pleg_doctor.core.window import Window
from pleg_doctor.errors import SourceError, UsageError
from pleg_doctor.sources.base import SourceKind
from pleg_doctor.sources.http.client import HttpClient, http_client
from pleg_doctor.sources.http.redaction import safe_url
from pleg_doctor.sources.http.settings import EndpointWording, HttpSettings

log = logging.getLogger(__name__)

DEFAULT_SELECTOR = 'job="kubelet",metrics_path="/metrics"'
"""kube-prometheus' kubelet selector (ANCHORS.md §3.2): one `kubelet` job scrapes `/metrics`,
`/metrics/cadvisor`, `/metrics/probes` and `/metrics/slis`; PLEG lives in `/metrics`."""

DEFAULT_RANGE_SECONDS = 300.0
"""`--range`: the window of `increase()`, as the kubernetes-mixin's `[5m]` rates."""

DEFAULT_TIMEOUT_SECONDS = 30.0
"""`--timeout` per API call: a fleet-wide histogram query does more work than one scrape."""

PARALLEL_QUERIES = 4
"""Queries in flight at once: well under Prometheus' default `--query.max-concurrency` (20)."""

MAX_BODY_BYTES = 512 * 1024 * 1024
"""Refuse answers beyond this (about 60 MB per 1,000 nodes is expected at most)."""

NAME_LOOKBACK_SECONDS = 3600.0
"""How far back node names and versions are looked up (longer than `--range`, so a kubelet that
Prometheus cannot scrape any more is still named)."""

QUERY_TAG = "pleg_doctor_q"
"""The label each part of an `or`-joined query is tagged with."""

GROUP_LABELS = ("cluster", "instance")
"""What identifies one kubelet across all queries."""

FLEET_OPERATIONS = (
    "list_podsandbox",
    "list_containers",
    "podsandbox_status",
    "container_status",
    "status",
)
"""The runtime operations of the relist (PLEG-MODEL.md §1.4) and the runtime `Status()` check
(§5): what the model and the causes read; other operations are not queried."""

LIST_OPERATIONS = FLEET_OPERATIONS[:2]
STATUS_OPERATIONS = FLEET_OPERATIONS[2:]


def _operations_matcher(operations: Sequence[str]) -> str:
    return 'operation_type=~"' + "|".join(operations) + '"'


_OPS_MATCHER = _operations_matcher(FLEET_OPERATIONS)

WORDING = EndpointWording(
    endpoint="Prometheus",
    auth_hint=(
        "pass --prometheus-token, --prometheus-token-file or --header 'Authorization: ...' "
        "(Mimir also needs --header 'X-Scope-OrgID: TENANT')"
    ),
    forbidden_hint=(
        "the identity may not query this server (e.g. OpenShift's thanos-querier needs the "
        "cluster-monitoring-view role; Mimir checks the X-Scope-OrgID tenant)"
    ),
    tls_hint=(
        "pass the CA that signed the server's certificate with --cacert FILE, or use "
        "--insecure-skip-tls-verify"
    ),
    connect_hint=(
        "check the URL: Prometheus and Thanos Query listen on 9090, VictoriaMetrics on 8428; "
        "Mimir serves the API under /prometheus"
    ),
)

_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


# --- PromQL ------------------------------------------------------------------------------------


def normalize_selector(selector: str) -> str:
    """The label matchers of `--selector` without surrounding braces or a trailing comma.

    `{job="kubelet"}` and `job="kubelet",` both become `job="kubelet"`; an empty selector is
    allowed (every series of the metric, e.g. with a single kubelet job). Validation is left to
    the server: its `bad_data` answer names the problem, and the error shows the query.
    """
    text = selector.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    text = text.rstrip(",").strip()
    if "\n" in text or "\r" in text:
        raise UsageError('--selector must be one line of label matchers, e.g. job="kubelet"')
    return text


def promql_duration(seconds: float) -> str:
    """`300.0` → `300s`; fractions as milliseconds (`1.5` → `1500ms`)."""
    if seconds <= 0:
        raise UsageError("--range must be more than 0 seconds")
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def _series(metric: str, selector: str, *extra: str) -> str:
    """`metric{selector,extra...}`; `metric` may be empty for a `{__name__=~...}` selector."""
    matchers = ",".join(part for part in (*extra, selector) if part)
    return f"{metric}{{{matchers}}}"


@dataclasses.dataclass(frozen=True)
class Term:
    """One part of a query: a name that routes its results, and its PromQL."""

    name: str
    promql: str


@dataclasses.dataclass(frozen=True)
class FleetQuery:
    """One API call: one or more terms, `or`-joined and tagged when there are several."""

    key: str
    terms: tuple[Term, ...]

    @property
    def promql(self) -> str:
        """The expression sent; one line (it is quoted in error messages)."""
        if len(self.terms) == 1:
            return self.terms[0].promql
        return " or ".join(
            f'label_replace({term.promql}, "{QUERY_TAG}", "{term.name}", "", "")'
            for term in self.terms
        )


def build_queries(selector: str, range_seconds: float) -> tuple[FleetQuery, ...]:
    """The fleet's instant queries for `selector` (already normalized) over `range_seconds`."""
    r = promql_duration(range_seconds)
    names = promql_duration(max(range_seconds, NAME_LOOKBACK_SECONDS))
    by = ", ".join(GROUP_LABELS)

    def increase(metric: str, *extra: str, labels: str = "") -> str:
        group = f"{by}, {labels}" if labels else by
        return f"sum by ({group}) (increase({_series(metric, selector, *extra)}[{r}]))"

    def gauge(expr: str, labels: str = "") -> str:
        group = f"{by}, {labels}" if labels else by
        return f"max by ({group}) ({expr})"

    relist = "kubelet_pleg_relist_duration_seconds"
    interval = "kubelet_pleg_relist_interval_seconds"
    ops = "kubelet_runtime_operations"
    return (
        FleetQuery(
            "relist_buckets",
            (Term("relist_bucket", increase(f"{relist}_bucket", labels="le")),),
        ),
        FleetQuery(
            "relist",
            (
                Term("relist_sum", increase(f"{relist}_sum")),
                Term("relist_count", increase(f"{relist}_count")),
                Term("interval_sum", increase(f"{interval}_sum")),
                Term("interval_count", increase(f"{interval}_count")),
            ),
        ),
        # The largest answer (15 buckets × 5 operations per node) in two halves: Prometheus
        # evaluates each query on one core, so the halves run side by side.
        *(
            FleetQuery(
                f"runtime_buckets_{half}",
                (
                    Term(
                        "ops_bucket",
                        increase(
                            f"{ops}_duration_seconds_bucket",
                            _operations_matcher(operations),
                            labels="operation_type, le",
                        ),
                    ),
                ),
            )
            for half, operations in (("lists", LIST_OPERATIONS), ("status", STATUS_OPERATIONS))
        ),
        FleetQuery(
            "runtime",
            (
                Term(
                    "ops_sum",
                    increase(f"{ops}_duration_seconds_sum", _OPS_MATCHER, labels="operation_type"),
                ),
                Term(
                    "ops_count",
                    increase(
                        f"{ops}_duration_seconds_count", _OPS_MATCHER, labels="operation_type"
                    ),
                ),
                Term("ops_total", increase(f"{ops}_total", _OPS_MATCHER, labels="operation_type")),
                Term(
                    "ops_errors",
                    increase(f"{ops}_errors_total", _OPS_MATCHER, labels="operation_type"),
                ),
            ),
        ),
        FleetQuery(
            "counters",
            (
                Term("discards", increase("kubelet_pleg_discard_events")),
                Term("evented_errors", increase("kubelet_evented_pleg_connection_error_count")),
                Term("process_cpu", increase("process_cpu_seconds_total")),
                Term("started_containers", increase("kubelet_started_containers_total")),
                Term(
                    "restarts",
                    gauge(f"changes({_series('process_start_time_seconds', selector)}[{r}])"),
                ),
                Term(
                    "scrapes",
                    gauge(f"count_over_time({_series(f'{relist}_count', selector)}[{r}])"),
                ),
            ),
        ),
        FleetQuery(
            "gauges",
            (
                Term("last_seen", gauge(_series("kubelet_pleg_last_seen_seconds", selector))),
                Term("scraped_at", gauge(f"timestamp({_series(f'{relist}_count', selector)})")),
                Term(
                    "running_pods",
                    gauge(
                        _series(
                            "",
                            selector,
                            '__name__=~"kubelet_running_pods|kubelet_running_pod_count"',
                        )
                    ),
                ),
                Term(
                    "running_containers",
                    gauge(
                        _series(
                            "",
                            selector,
                            '__name__=~"kubelet_running_containers|kubelet_running_container_count"',
                        ),
                        "container_state",
                    ),
                ),
                Term("process_start", gauge(_series("process_start_time_seconds", selector))),
                Term(
                    "evented_errors_total",
                    gauge(_series("kubelet_evented_pleg_connection_error_count", selector)),
                ),
                Term(
                    "evented_successes_total",
                    gauge(_series("kubelet_evented_pleg_connection_success_count", selector)),
                ),
                Term(
                    "evented_gate",
                    gauge(_series("kubernetes_feature_enabled", selector, 'name="EventedPLEG"')),
                ),
                # Over the last hour, not the instant: a kubelet whose scrapes fail keeps its
                # name and version (its instant series go stale at once). One series per node.
                Term(
                    "node_name",
                    gauge(
                        f"last_over_time({_series('kubelet_node_name', selector)}[{names}])",
                        "node",
                    ),
                ),
                Term(
                    "build_info",
                    gauge(
                        f"last_over_time({_series('kubernetes_build_info', selector)}[{names}])",
                        "git_version, gitVersion",
                    ),
                ),
                Term("up", gauge(_series("up", selector), "node")),
            ),
        ),
    )


# --- from query results to one Window per node ------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class PromSample:
    """One element of an instant vector: its labels (tag removed), value and timestamp."""

    labels: dict[str, str]
    value: float
    timestamp: float


class FleetSample(NamedTuple):
    """A normalized sample (`snapshot.SampleLike`, like `exposition.Sample`) as a compact tuple:
    a fleet holds about 110 per node."""

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
    "relist_bucket": _Route("relist_duration_hist", "bucket"),
    "relist_sum": _Route("relist_duration_hist", "sum"),
    "relist_count": _Route("relist_duration_hist", "count"),
    "interval_sum": _Route("relist_interval_hist", "sum"),
    "interval_count": _Route("relist_interval_hist", "count"),
    "ops_bucket": _Route("runtime_ops_hist", "bucket", "operation_type"),
    "ops_sum": _Route("runtime_ops_hist", "sum", "operation_type"),
    "ops_count": _Route("runtime_ops_hist", "count", "operation_type"),
    "ops_total": _Route("runtime_ops_total", "value", "operation_type"),
    "ops_errors": _Route("runtime_ops_errors", "value", "operation_type"),
    "last_seen": _Route("last_seen", "value"),
    "running_pods": _Route("running_pods", "value"),
    "running_containers": _Route(
        "running_containers", "value", "container_state", label_optional=True
    ),
    "process_start": _Route("process_start", "value"),
    # Lifetime totals, not increases: EventedPLEG falls back to relisting after 5 errors since the
    # kubelet started (PLEG-MODEL.md §2); the increase goes to the Window (`evented_errors`).
    "evented_errors_total": _Route("evented_errors", "value"),
    "evented_successes_total": _Route("evented_successes", "value"),
    "evented_gate": _Route("feature_enabled", "value", fixed=(("name", "EventedPLEG"),)),
}
"""Terms that become samples of the node's snapshot."""

_WINDOW_COUNTERS = ("discards", "evented_errors", "process_cpu", "started_containers")
"""Terms that are increases of plain counters: they go to the Window itself."""

_PLEG_FAMILIES = ("relist_duration_hist", "last_seen")


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

    @property
    def has_pleg_series(self) -> bool:
        return any(s.family in _PLEG_FAMILIES for s in self.samples)


class FleetAssembler:
    """Collects query results into one `_NodeData` per kubelet, a query at a time.

    Each answer is folded in as soon as it arrives and then dropped, so at most a few decoded
    answers are in memory at once, beside the compact samples kept per node. Label dicts are
    shared between samples (`_labels`): at 1,000 nodes there are about 110,000 samples but a few
    dozen distinct label sets (an operation, a container state).
    """

    def __init__(self) -> None:
        self._nodes: dict[tuple[str, str], _NodeData] = {}
        self._label_sets: dict[tuple[str, str | None], Mapping[str, str]] = {}

    def _node(self, labels: Mapping[str, str]) -> _NodeData:
        key = (labels.get("cluster", ""), labels.get("instance", ""))
        data = self._nodes.get(key)
        if data is None:
            data = self._nodes[key] = _NodeData(cluster=key[0], instance=key[1])
        return data

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

    def add(self, term: str, samples: Iterable[PromSample]) -> None:
        """Fold one term's results in (in any order; a term may come in several parts)."""
        route = _SAMPLE_ROUTES.get(term)
        for sample in samples:
            if not math.isfinite(sample.value):
                continue  # NaN or ±Inf from the server carries nothing usable
            data = self._node(sample.labels)
            if route is not None:
                self._add_sample(term, data, route, sample)
            elif term in _WINDOW_COUNTERS:
                data.counters[term] = data.counters.get(term, 0.0) + sample.value
            elif term == "node_name":
                name = sample.labels.get("node")
                if name and (data.node_name is None or name < data.node_name):
                    data.node_name = name
            elif term == "up":
                data.up = max(data.up or 0.0, sample.value)
                data.node_label = data.node_label or sample.labels.get("node") or None
            elif term == "build_info":
                for label in ("git_version", "gitVersion"):
                    if sample.labels.get(label):
                        data.git_version = (label, sample.labels[label])
            elif term == "scraped_at":
                data.scraped_at = sample.value
            elif term == "scrapes":
                data.scrapes = sample.value
            elif term == "restarts":
                data.restarts = max(data.restarts, sample.value)
            else:
                log.debug("ignoring results of unknown term %s", term)

    def _add_sample(self, term: str, data: _NodeData, route: _Route, sample: PromSample) -> None:
        label_value: str | None = None
        if route.label is not None:
            label_value = sample.labels.get(route.label)
            if label_value is None and not route.label_optional:
                return
        bound: float | None = None
        if route.part == "bucket":
            try:
                bound = float(sample.labels.get("le", ""))
            except ValueError:
                return
        labels = self._labels(term, route, label_value)
        data.samples.append(FleetSample(route.family, route.part, labels, sample.value, bound))

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
    series, else it is the instance (CONTRACT.md "Fleet options"); when the results span more
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
) -> Window:
    """The Window of one kubelet from server-side increases and last-scrape gauges.

    `samples` are normalized (the canonical families of `exposition`): histogram and runtime
    counter samples hold increases over `range_seconds`, gauge samples the last scrape's values.
    So the snapshot's counters are already the window's deltas, and the Window is built directly
    instead of by `window.window_between` (there is no earlier scrape to subtract): `seconds` is
    the range, `first` an empty snapshot at the range's start (so `is_lifetime` is False), and
    `increases` carries the plain counters (`discards`, `evented_errors`, `process_cpu`,
    `started_containers`). `captured_at` is the last scrape's timestamp: ages are measured there.
    """
    last = build_snapshot(
        samples, name=name, node=node, captured_at=captured_at, captured_at_origin="at"
    )
    first: Snapshot = build_snapshot(
        (), name=name, node=node, captured_at=captured_at - range_seconds, captured_at_origin="at"
    )
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
    )
    notes: list[str] = [f"Prometheus instance {data.instance or '(none)'}"]
    down = data.up is not None and data.up < 1
    if not data.has_pleg_series:
        if down:
            reason = (
                "Prometheus cannot scrape this kubelet (up == 0): nothing to judge; a kubelet "
                "that stops answering /metrics often goes NotReady with its node"
            )
        else:
            reason = (
                f"no kubelet_pleg_* series for this target over the last {span}: fleet mode reads "
                "the seconds histograms of kubelet ≥ 1.14 (older µs summaries are not read), or "
                "relabeling drops them"
            )
        return FleetNode(window=window, unknown_reason=reason, notes=tuple(notes))
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
    return FleetNode(window=window, notes=tuple(notes))


# --- HTTP ----------------------------------------------------------------------------------------


def parse_header(text: str) -> tuple[str, str]:
    """`'Name: value'` → `(Name, value)`; the error never quotes the value (it may be a secret)."""
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not _HEADER_NAME_RE.match(name):
        raise UsageError(
            "--header must look like 'Name: value' (e.g. 'X-Scope-OrgID: tenant-1')",
        )
    value = value.strip()
    if any(c in value for c in "\r\n\0") or not value.isprintable():
        raise UsageError(f"--header {name}: the value contains control characters")
    return name, value


def api_url(url: str) -> str:
    """`URL/api/v1/query`, keeping the URL's path prefix (Mimir's `/prometheus`, VM's `/select/0/prometheus`).

    A URL that already ends in `/api/v1/query`, `/api/v1` or `/graph` (copied from a browser) is
    accepted as the base it points into.
    """
    text = url.strip()
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise UsageError(
            f"cannot read --prometheus URL {safe_url(text)!r}: bad host or port"
        ) from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UsageError(
            "--prometheus needs an http:// or https:// URL, e.g. http://prometheus:9090"
        )
    if "@" in parts.netloc:
        raise UsageError(
            "credentials in the --prometheus URL are not supported",
            hint="pass --prometheus-token-file, or --header 'Authorization: Basic ...'",
        )
    path = parts.path.rstrip("/")
    for suffix in ("/api/v1/query", "/api/v1", "/graph"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urllib.parse.urlunsplit(
        (parts.scheme.lower(), parts.netloc, path + "/api/v1/query", "", "")
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class FleetData:
    """What one fleet fetch returns: every node, and the facts of the fetch."""

    location: str
    """The base URL given (no credentials)."""
    selector: str
    evaluated_at: float
    range_seconds: float
    nodes: tuple[FleetNode, ...]
    api_calls: int
    """HTTP requests answered by the server (what its `prometheus_http_requests_total` counts)."""
    warnings: tuple[str, ...] = ()
    """The server's own warnings (e.g. Thanos partial responses), deduplicated."""


class PrometheusSource:
    """A Prometheus-compatible query API, read for a whole fleet (`pleg-doctor fleet`).

    `url` is the server's base URL (its path prefix kept: Mimir's `/prometheus`). Auth: `token` or
    `token_file` (read at each call), extra `headers` (`(name, value)` pairs, e.g. Mimir's
    `X-Scope-OrgID`; their values are treated as secrets), `cacert` or `insecure_skip_tls_verify`.
    `timeout` is per API call, in seconds, and also sent as the query's server-side `timeout`.
    """

    kind: SourceKind = "prometheus"

    def __init__(
        self,
        url: str,
        *,
        selector: str = DEFAULT_SELECTOR,
        token: str | None = None,
        token_file: str | Path | None = None,
        headers: Sequence[tuple[str, str]] = (),
        cacert: str | Path | None = None,
        insecure_skip_tls_verify: bool = False,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        parallel: int = PARALLEL_QUERIES,
    ) -> None:
        if token is not None and token_file is not None:
            raise UsageError("give either --prometheus-token or --prometheus-token-file, not both")
        if cacert is not None and insecure_skip_tls_verify:
            raise UsageError("give either --cacert or --insecure-skip-tls-verify, not both")
        if not timeout > 0:
            raise UsageError("--timeout must be more than 0 seconds")
        names = [name.lower() for name, _ in headers]
        if (token is not None or token_file is not None) and "authorization" in names:
            raise UsageError(
                "give the credentials once: --prometheus-token(-file) or --header 'Authorization: ...'"
            )
        if len(set(names)) != len(names):
            raise UsageError("each --header name may be given once")
        self._url = api_url(url)
        self._base = self._url[: -len("/api/v1/query")] or self._url
        self.selector = normalize_selector(selector)
        self._timeout = float(timeout)
        self._parallel = max(1, parallel)
        self._settings = HttpSettings(
            token=token,
            token_file=Path(token_file) if token_file is not None else None,
            ca=Path(cacert) if cacert is not None else None,
            insecure_skip_tls_verify=insecure_skip_tls_verify,
            headers=tuple(headers),
            # How a 401 and the debug log name the credentials when only --header carries them.
            credential_label="the --header values given"
            if headers and token is None and token_file is None
            else None,
        )
        self._lock = threading.Lock()
        self._calls = 0
        self._warnings: list[str] = []

    @property
    def location(self) -> str:
        """The base URL, safe to print (credentials in URLs are refused)."""
        return self._base

    @property
    def must_warn_insecure(self) -> bool:
        """True when TLS verification is off: the CLI must print a warning (CONTRACT.md)."""
        return self._settings.must_warn_insecure

    @property
    def api_calls(self) -> int:
        """Requests the server answered so far."""
        return self._calls

    def fetch_fleet(self, *, range_seconds: float, at: dt.datetime | None = None) -> FleetData:
        """Query the whole fleet at `at` (default: the server's now) over `range_seconds`.

        Raises `SourceError`s for an unreachable server, refused credentials, a query error (the
        message shows the PromQL) and a selector that matches no kubelet PLEG series.
        """
        queries = build_queries(self.selector, range_seconds)
        with http_client(self._settings, wording=WORDING, timeout=self._timeout) as client:
            call = _Call(self, client)
            try:
                evaluated_at = at.timestamp() if at is not None else call.server_time()
                assembler = call.run(queries, evaluated_at)
                nodes = assembler.nodes(evaluated_at=evaluated_at, range_seconds=range_seconds)
                del assembler
                if not any(n.window.last.has_pleg_metrics for n in nodes):
                    raise call.empty_result_error(evaluated_at, targets=len(nodes))
            finally:
                with self._lock:
                    self._calls += client.answered
        return FleetData(
            location=self.location,
            selector=self.selector,
            evaluated_at=evaluated_at,
            range_seconds=range_seconds,
            nodes=nodes,
            api_calls=self._calls,
            warnings=tuple(dict.fromkeys(self._warnings)),
        )

    def __repr__(self) -> str:
        return f"PrometheusSource({self._base!r}, selector={self.selector!r})"


class _Call:
    """One fleet fetch: queries sent through one client (credentials resolved, TLS files)."""

    def __init__(self, source: PrometheusSource, client: HttpClient) -> None:
        self.source = source
        self.client = client

    # -- the queries

    def server_time(self) -> float:
        """The server's clock: every query is then evaluated at this one instant."""
        doc = self.request("time()", None)
        data = doc.get("data")
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("resultType") != "scalar":
            raise self._shape_error("time()")
        try:
            value = float(result[1])  # type: ignore[index]
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            raise self._shape_error("time()") from exc
        if not math.isfinite(value):
            raise self._shape_error("time()")
        return value

    def run(self, queries: Sequence[FleetQuery], at: float) -> FleetAssembler:
        """Send every query (a few at a time) and fold each answer in as it is taken."""
        assembler = FleetAssembler()
        workers = min(self.source._parallel, len(queries))
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="pleg-doctor-query"
        ) as pool:
            futures = [pool.submit(self.vector, query, at) for query in queries]
            try:
                for query, future in zip(queries, futures, strict=True):
                    routed = future.result()
                    log.debug("query %s: %s", query.key, _count_text(routed))
                    for term, samples in routed.items():
                        assembler.add(term, samples)
                    del routed
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return assembler

    def vector(self, query: FleetQuery, at: float) -> dict[str, list[PromSample]]:
        """One instant vector query, its elements routed by term (tag label removed)."""
        doc = self.request(query.promql, at)
        data = doc.get("data")
        if not isinstance(data, dict) or data.get("resultType") != "vector":
            raise self._shape_error(query.promql)
        items = data.get("result")
        if not isinstance(items, list):
            raise self._shape_error(query.promql)
        single = query.terms[0].name if len(query.terms) == 1 else None
        routed: dict[str, list[PromSample]] = {}
        for item in items:
            sample = _vector_element(item)
            if sample is None:
                raise self._shape_error(query.promql)
            term = single or sample.labels.pop(QUERY_TAG, "")
            routed.setdefault(term, []).append(sample)
        return routed

    def empty_result_error(self, at: float, *, targets: int) -> SourceError:
        """The error for a selector that matched no PLEG series, with a selector that would."""
        from pleg_doctor.core.report import rfc3339

        selector = self.source.selector
        when = rfc3339(at)
        message = (
            f"no kubelet PLEG series match --selector '{selector}' at {when} in "
            f"Prometheus {self.source.location}"
        )
        if targets:
            message += f" ({targets} target(s) match it, none exposes kubelet_pleg_*)"
        probe = FleetQuery(
            "probe",
            (
                Term(
                    "probe",
                    "count by (job, metrics_path) ("
                    '{__name__=~"kubelet_pleg_relist_duration_seconds_count|'
                    'kubelet_pleg_last_seen_seconds"})',
                ),
            ),
        )
        try:
            found = self.vector(probe, at).get("probe", [])
        except SourceError:
            found = []
        candidates = sorted(
            (s for s in found if s.labels.get("job")),
            key=lambda s: (-s.value, s.labels.get("job", "")),
        )
        if candidates:
            best = candidates[0].labels
            suggestion = f'job="{best["job"]}"'
            if best.get("metrics_path"):
                suggestion += f',metrics_path="{best["metrics_path"]}"'
            hint = f"kubelet PLEG series exist under {suggestion}: try --selector '{suggestion}'"
        else:
            hint = (
                "this server has no kubelet_pleg_* series at that time: does it scrape the "
                "kubelets' /metrics? (other setups name the job differently, e.g. --selector "
                "'job=\"kubernetes-nodes\"'); with --at, is the time within its retention?"
            )
        return SourceError(message, hint=hint)

    # -- HTTP

    def request(self, promql: str, at: float | None) -> dict[str, Any]:
        """GET `/api/v1/query` for `promql` at `at`; the decoded `success` document."""
        params = {"query": promql, "timeout": f"{self.source._timeout:g}s"}
        if at is not None:
            params["time"] = f"{at:.3f}"
        response = self.client.get(
            self.source._url,
            params=params,
            accept="application/json",
            max_bytes=MAX_BODY_BYTES,
            too_large_hint="narrow --selector",
            error_statuses=_status_without_api_answer,
        )
        return self._decode(response.status, response.reason, response.body, promql)

    def _decode(self, status: int, reason: str, body: bytes, promql: str) -> dict[str, Any]:
        what = f"Prometheus {self.source._url}"
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("status"), str):
            if status == 404:
                _fail(
                    SourceError(
                        f"no Prometheus query API at {self.source._url} (404 Not Found)",
                        hint="give the server's base URL: http://prometheus:9090, Thanos Query "
                        "alike, Mimir .../prometheus, VictoriaMetrics cluster .../select/0/prometheus",
                    )
                )
            head = body.lstrip()[:1]
            found = "an HTML page" if head == b"<" else "something else"
            if 200 <= status < 300:
                _fail(
                    SourceError(
                        f"{what} did not answer with the Prometheus API's JSON (got {found})",
                        hint="give the base URL of Prometheus, Thanos Query, Mimir (.../prometheus) "
                        "or VictoriaMetrics (a login page or a proxy may be in the way)",
                    )
                )
            _fail(SourceError(f"{what} answered {status} {reason}".rstrip()))
        for warning in doc.get("warnings") or ():
            if isinstance(warning, str):
                text = self.client.scrub(" ".join(warning.split()))[:300]
                with self.source._lock:
                    self.source._warnings.append(text)
        if doc["status"] == "success" and 200 <= status < 300:
            return doc
        error_type = str(doc.get("errorType") or f"HTTP {status}")
        detail = self.client.scrub(" ".join(str(doc.get("error") or "").split()))
        if len(detail) > 300:
            detail = detail[:299] + "…"
        hints = {
            "bad_data": 'check --selector (label matchers, e.g. job="kubelet")',
            "timeout": "the server gave up: raise --timeout, or narrow --selector or --range",
            "canceled": "the server gave up: raise --timeout, or narrow --selector or --range",
            "execution": "narrow --selector or --range if the server ran out of samples",
        }
        hint = hints.get(error_type)
        query_text = f"the query was: {promql}"
        _fail(
            SourceError(
                f"{what} rejected a query ({error_type}: {detail or 'no detail'})",
                hint=f"{hint}; {query_text}" if hint else query_text,
            )
        )

    def _shape_error(self, promql: str) -> SourceError:
        return SourceError(
            f"Prometheus {self.source._url} sent an answer of unexpected shape",
            hint=f"is it a Prometheus-compatible API? the query was: {promql}",
        )


def _fail(error: SourceError) -> NoReturn:
    raise error


def _status_without_api_answer(code: int) -> bool:
    """Statuses raised as HTTP errors: the API answers the others (400, 422, 503...) with a JSON
    error document, and a 404 means a wrong path prefix (`_decode` says so)."""
    return code in (401, 403) or 300 <= code < 400


def _vector_element(item: Any) -> PromSample | None:
    """`{"metric": {...}, "value": [ts, "1.5"]}` → PromSample; None for anything else.

    The decoded `metric` object becomes the sample's labels as it is (JSON object keys are
    strings; the values are checked), so no copy is made per series.
    """
    if not isinstance(item, dict):
        return None
    metric = item.get("metric")
    value = item.get("value")
    if not isinstance(metric, dict) or not isinstance(value, list) or len(value) != 2:
        return None
    for label_value in metric.values():
        if type(label_value) is not str:
            return None
    try:
        return PromSample(labels=metric, value=float(value[1]), timestamp=float(value[0]))
    except (TypeError, ValueError):
        return None


def _count_text(routed: Mapping[str, Sequence[PromSample]]) -> str:
    return ", ".join(f"{term} {len(samples)}" for term, samples in sorted(routed.items())) or (
        "no series"
    )
