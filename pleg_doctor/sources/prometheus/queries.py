"""The PromQL of fleet mode: a handful of instant queries for every kubelet matching a selector.

Queries with several parts join them with `or`, each part tagged by `label_replace(...,
"pleg_doctor_q", NAME, "", "")` (`QUERY_TAG`), and every part aggregates `by (cluster, instance)`
(`GROUP_LABELS`); see the package docstring for what each query asks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pleg_doctor.errors import UsageError

DEFAULT_SELECTOR = 'job="kubelet",metrics_path="/metrics"'
"""kube-prometheus' kubelet selector (ANCHORS.md §3.2): one `kubelet` job scrapes `/metrics`,
`/metrics/cadvisor`, `/metrics/probes` and `/metrics/slis`; PLEG lives in `/metrics`."""

DEFAULT_RANGE_SECONDS = 300.0
"""`--range`: the window of `increase()`, as the kubernetes-mixin's `[5m]` rates."""

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
