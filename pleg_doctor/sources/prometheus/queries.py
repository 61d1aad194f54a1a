"""The PromQL of fleet mode: a handful of instant queries for every kubelet matching a selector.

Queries with several parts join them with `or`, each part tagged by `label_replace(...,
"pleg_doctor_q", NAME, "", "")` (`QUERY_TAG`), and every part aggregates `by (cluster, instance)`
(`GROUP_LABELS`); see the package docstring for what each query asks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pleg_doctor.sources.prometheus.promql import (
    DEFAULT_RANGE_SECONDS,
    DEFAULT_SELECTOR,
    FLEET_OPERATIONS,
    GROUP_LABELS,
    normalize_selector,
    promql_duration,
)
from pleg_doctor.sources.prometheus.recording import (
    FLEET_AGE_MEASURES,
    FLEET_OPERATION_COUNTS,
    FLEET_OPERATION_QUANTILES,
    FLEET_OPERATION_SHAPES,
    FLEET_QUANTILE_MEASURES,
    FLEET_RELIST_MEASURES,
    measurements,
)
from pleg_doctor.sources.prometheus.rules import RuleOptions

__all__ = [
    "DEFAULT_RANGE_SECONDS",
    "DEFAULT_SELECTOR",
    "FLEET_OPERATIONS",
    "GROUP_LABELS",
    "QUERY_TAG",
    "FleetQuery",
    "Term",
    "build_queries",
    "normalize_selector",
    "promql_duration",
]

NAME_LOOKBACK_SECONDS = 3600.0
"""How far back node names and versions are looked up (longer than `--range`, so a kubelet that
Prometheus cannot scrape any more is still named)."""

QUERY_TAG = "pleg_doctor_q"
"""The label each part of an `or`-joined query is tagged with."""


def _operations_matcher(operations: Sequence[str]) -> str:
    return 'operation_type=~"' + "|".join(operations) + '"'


_OPS_MATCHER = _operations_matcher(FLEET_OPERATIONS)


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
    """One API call: one or more terms, `or`-joined and tagged when there are several; or, with
    `by_name`, terms that are series names, selected at once and told apart by their name."""

    key: str
    terms: tuple[Term, ...]
    by_name: bool = False

    @property
    def promql(self) -> str:
        """The expression sent; one line (it is quoted in error messages)."""
        if self.by_name:
            return '{__name__=~"' + "|".join(term.promql for term in self.terms) + '"}'
        if len(self.terms) == 1:
            return self.terms[0].promql
        return " or ".join(
            f'label_replace({term.promql}, "{QUERY_TAG}", "{term.name}", "", "")'
            for term in self.terms
        )


def build_queries(
    selector: str, range_seconds: float, *, recorded: bool = False
) -> tuple[FleetQuery, ...]:
    """The fleet's instant queries for `selector` (already normalized) over `range_seconds`;
    `recorded`: read the histograms' measurements from the recording rules' series."""
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
    # The last scrape's time and the scrapes in the range: the relist counter of either
    # generation (seconds histogram, or the µs summary before 1.14).
    relist_counts = _series(
        "",
        selector,
        f'__name__=~"{relist}_count|kubelet_pleg_relist_latency_microseconds_count"',
    )
    measured = measurements(
        RuleOptions(selector=selector, window_seconds=range_seconds), recorded=recorded
    )

    def measures(key: str, *groups: Sequence[str]) -> FleetQuery:
        names = [name for group in groups for name in group]
        terms = tuple(Term(name, measured[name]) for name in names)
        return FleetQuery(key, terms, by_name=recorded)

    # What the histograms say: a few numbers per node and operation, not the buckets. Measured
    # by the server as the recording rules measure them; or, the rules loaded, their series,
    # read by name (a plain selection: no work on the server).
    histograms = (
        (
            measures(
                "recorded_relist",
                FLEET_RELIST_MEASURES,
                FLEET_QUANTILE_MEASURES,
                FLEET_AGE_MEASURES,
            ),
            measures(
                "recorded_runtime",
                FLEET_OPERATION_COUNTS,
                FLEET_OPERATION_SHAPES,
                FLEET_OPERATION_QUANTILES,
            ),
        )
        if recorded
        else (
            measures("relist", FLEET_RELIST_MEASURES, FLEET_AGE_MEASURES),
            measures("relist_quantiles", FLEET_QUANTILE_MEASURES),
            measures("runtime", FLEET_OPERATION_COUNTS),
            # The bucket-heavy parts apart: Prometheus evaluates each query on one core.
            measures("runtime_shapes", FLEET_OPERATION_SHAPES),
            measures("runtime_quantiles", FLEET_OPERATION_QUANTILES),
        )
    )
    return (
        *histograms,
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
                Term("scrapes", gauge(f"count_over_time({relist_counts}[{r}])")),
            ),
        ),
        FleetQuery(
            "gauges",
            (
                Term("last_seen", gauge(_series("kubelet_pleg_last_seen_seconds", selector))),
                Term("scraped_at", gauge(f"timestamp({relist_counts})")),
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
