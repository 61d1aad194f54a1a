"""The recording and alerting rules of `pleg-doctor rules`: the model, as PromQL, per node.

The rules measure per kubelet what `pleg-doctor fleet` measures (the same server-side increases
over the window, the same histograms), then evaluate the model's formulas on it: `core/terms.py`
holds each formula once, and `Expr.promql` renders it here, so the CLI and the rules cannot
compute different things. Each formula's result is recorded as a series and later formulas read
it by name, in one rule group: Prometheus evaluates a group's rules in order, and each sees the
ones before it at the same evaluation time.

Every recorded series carries `cluster` (when the kubelets have it), `instance` and `node`
(`kubelet_node_name`, else a `node` label on `up`, else the instance) and, per runtime operation,
`operation_type`. Both metric generations are read: the seconds histograms (≥ 1.14) and the µs
summaries (≤ 1.16); on 1.14-1.16, which expose both, the histograms win, as in the CLI.

`expressions(..., inline=...)` gives each series' PromQL with the recorded inputs of some layers
expanded, for evaluating the rules at a past time with `/api/v1/query`: recording rules are not
evaluated over backfilled history (tests/test_rules_integration.py).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Literal

from pleg_doctor.core import terms
from pleg_doctor.core.fleet import human_duration
from pleg_doctor.core.formulas import Formula, Like, Names, Var, Where, number_text
from pleg_doctor.core.model import LIST_OPS, RELIST_OPS, STATUS_OPS
from pleg_doctor.core.terms import CONDITIONS
from pleg_doctor.errors import UsageError
from pleg_doctor.sources.prometheus.promql import (
    DEFAULT_RANGE_SECONDS,
    DEFAULT_SELECTOR,
    FLEET_OPERATIONS,
    GROUP_LABELS,
    normalize_selector,
    promql_duration,
)

RULES_SCHEMA_VERSION = "1"
"""The `version` label of `pleg_doctor_rules_info`: bumped when a recorded series changes
meaning, so `fleet` reads only series it understands."""

RULES_INFO = "pleg_doctor_rules_info"
"""A constant series the rules record (value 1), labelled with the options they were generated
with: how `fleet` and dashboards find them."""

GROUP_NAME = "pleg-doctor"

DEF_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""client_golang's `prometheus.DefBuckets`: the relist histogram's buckets in every kubelet
(`pkg/kubelet/metrics/metrics.go` `PLEGRelistDuration`) and the runtime operations' up to 1.19."""
TIMEOUT_BUCKET_BOUNDS = (119.20928955078125, 298.0232238769531)
"""The runtime histogram's (119.2, 298] bucket (`ExponentialBuckets(.005, 2.5, 14)`, ≥ 1.20): the
calls that ran into the default 2-minute CRI timeout."""

AGE_PEAK_STEP_SECONDS = 15.0
"""The subquery step of the largest last-seen age in the window: each scrape's age is seen when
scrapes are at least this far apart (kube-prometheus scrapes kubelets every 30 s)."""

SEVERITIES = {
    "past_threshold": "critical",
    "stalled_past_threshold": "critical",
    "steady_state_crosses_threshold": "critical",
    "headroom_low": "warning",
    "relist_hanging": "warning",
    "relist_p99_over_10s": "warning",
    "list_calls_time_out": "warning",
    "status_calls_time_out": "warning",
    "events_discarded": "warning",
    "evented_pleg_fallback": "warning",
    "runtime_slow": "info",
}
"""Each condition's severity: the CLI's verdict for the first ten (critical, then warning), and
`info` for a runtime the `runtime_slow` cause would name while the PLEG still has headroom."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class RuleOptions:
    """What the rules are generated for."""

    selector: str = DEFAULT_SELECTOR
    """Label matchers of the kubelets' `/metrics` series (as `fleet --selector`)."""
    window_seconds: float = DEFAULT_RANGE_SECONDS
    """The window of every `increase()` (as `fleet --range`)."""
    runtime_request_timeout_seconds: float = 120.0
    """The kubelet's `--runtime-request-timeout` (τ)."""

    @property
    def window(self) -> str:
        """The window as it appears in series names: `5m`, `90s`."""
        return human_duration(self.window_seconds)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RecordingRule:
    """One recorded series."""

    record: str
    expr: str
    meaning: str
    """What the series is, for the rule file's comment."""
    labels: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class AlertingRule:
    """One alert."""

    alert: str
    expr: str
    for_seconds: float
    severity: str
    summary: str
    description: str
    meaning: str


Layer = Literal["identity", "measure", "model"]
"""What a series is: the node's name and constants, what the kubelet measured in the window, or
the model's formulas over those."""
LAYERS: tuple[Layer, ...] = ("identity", "measure", "model")


@dataclasses.dataclass(frozen=True)
class _Series:
    """A recorded series: the input name formulas read it by, and how to build its PromQL."""

    input: str
    record: str
    meaning: str
    build: Callable[[Names], str]
    labels: tuple[tuple[str, str], ...] = ()
    layer: Layer = "model"


def le_matcher(bound: float) -> str:
    """A regex matching bucket bound `bound` however it was written: Go's shortest repr
    (`119.20928955078125`), six digits (`119.209`), `10` or `10.0` (Prometheus 3 normalizes `le`)."""
    if float(bound).is_integer():
        return f'le=~"{int(bound)}|{int(bound)}\\\\.0"'
    text = re.escape(f"{bound:.6g}").replace("\\", "\\\\")
    return f'le=~"{text}[0-9]*"'


def validate_options(options: RuleOptions) -> RuleOptions:
    """The options with a normalized selector; `UsageError` for values the rules cannot use."""
    if options.window_seconds < 60 or not float(options.window_seconds).is_integer():
        raise UsageError(
            "--window must be whole seconds and at least 1m (two scrapes at least: increase() "
            "needs them)"
        )
    if options.runtime_request_timeout_seconds <= 0:
        raise UsageError("--runtime-request-timeout must be more than 0 seconds")
    return dataclasses.replace(options, selector=normalize_selector(options.selector))


class _Builder:
    """Assembles the series in dependency order for one set of options."""

    def __init__(
        self,
        options: RuleOptions,
        operations: Sequence[str] = FLEET_OPERATIONS,
        inline: Collection[Layer] = (),
        *,
        join_node: bool = True,
    ) -> None:
        self.options = options
        self.operations = tuple(operations)
        self.inline = frozenset(inline)
        """The layers whose series are expanded where read, not read by name."""
        self.join_node = join_node
        """Join the `node` label onto every series (fleet mode names nodes on its own)."""
        self.w = options.window
        self.range = promql_duration(options.window_seconds)
        self.by = ", ".join(GROUP_LABELS)
        self.on = f"on ({self.by})"
        self.node_info = _ref("node_info")
        self.series: list[_Series] = []
        self.layer: Layer = "identity"
        self.constants = {
            terms.TAU.name: number_text(options.runtime_request_timeout_seconds),
            terms.WINDOW.name: number_text(options.window_seconds),
            terms.HUNG_TOLERANCE.name: number_text(terms.INCREASE_TOLERANCE),
        }

    # -- PromQL pieces over the kubelet's own series

    def selector(self, metric: str, *extra: str) -> str:
        matchers = ",".join(part for part in (*extra, self.options.selector) if part)
        return f"{metric}{{{matchers}}}"

    def increase(self, metric: str, *extra: str, by: str = "") -> str:
        group = f"{self.by}, {by}" if by else self.by
        return f"sum by ({group}) (increase({self.selector(metric, *extra)}[{self.range}]))"

    def per_node(self, expr: str) -> str:
        """`expr` (aggregated by cluster and instance) with the `node` label joined on."""
        if not self.join_node:
            return expr
        return f"({expr}) * {self.on} group_left (node) {self.node_info}"

    def add(
        self,
        input_name: str,
        record: str,
        meaning: str,
        build: Callable[[Names], str],
        labels: tuple[tuple[str, str], ...] = (),
    ) -> None:
        def resolved(names: Names) -> str:
            return _substitute(build(names), names)

        self.series.append(_Series(input_name, record, meaning, resolved, labels, self.layer))

    def formula(self, formula: Formula, record: str, meaning: str = "") -> None:
        expr = formula.expr
        layer, self.layer = self.layer, "model"
        self.add(formula.name, record, meaning or formula.text, expr.expand)
        self.layer = layer

    # -- the rules

    def build(self) -> list[_Series]:
        self._identity()
        self._operations()
        self._relist()
        self.layer = "model"
        self._model()
        return self.series

    def _identity(self) -> None:
        sel = self.selector
        by = self.by
        node = (
            f"group by ({by}, node) ({sel('kubelet_node_name')})"
            f" or {self.on} group by ({by}, node) ({sel('up', _NODE_LABEL_SET)})"
            f' or {self.on} label_replace(group by ({by}) ({sel("up")}), "node", "$1", '
            '"instance", "(.*)")'
        )
        self.add(
            "node_info",
            "instance:pleg_node:info",
            "1 per kubelet, labelled with its node: kubelet_node_name, else up's node label, "
            "else the instance",
            _fixed(node),
        )
        self.layer = "measure"
        feature = sel("kubernetes_feature_enabled", 'name="EventedPLEG"')
        successes = sel("kubelet_evented_pleg_connection_success_count")
        # The feature gate's own series when the kubelet exposes it; else a stream that
        # connected means the gate is on.
        gate = (
            f"group by ({by}) ({feature} >= 1)"
            f" or {self.on} (group by ({by}) ({successes} > 0) unless {self.on} {feature})"
        )
        self.gate = gate
        errors = f"max by ({by}) ({sel('kubelet_evented_pleg_connection_error_count')})"
        in_use = f"({gate}) unless {self.on} ({errors} >= 5)"
        threshold = self.per_node(f"({in_use}) * 0 + 600") + (
            f" or {self.on} ({self.node_info} * 0 + 180)"
        )
        period = self.per_node(f"({in_use}) * 0 + 300") + f" or {self.on} {self.node_info}"
        self.add(
            terms.THRESHOLD.name,
            f"instance:pleg_relist_threshold_seconds:model{self.w}",
            "T: 180 s, 600 s while EventedPLEG is in use (the gate on, fewer than 5 stream errors)",
            _fixed(threshold),
        )
        self.add(
            terms.PERIOD.name,
            f"instance:pleg_relist_period_seconds:model{self.w}",
            "P: 1 s, 300 s while EventedPLEG is in use",
            _fixed(period),
        )
        fallback = (
            self.per_node(
                f"(({gate}) and {self.on} ({errors} >= 5 or "
                f"{self.increase('kubelet_evented_pleg_connection_error_count')} > 0)) * 0 + 1"
            )
            + f" or {self.on} ({self.node_info} * 0)"
        )
        self.add(
            "evented_fallback",
            f"instance:pleg_evented_fallback:model{self.w}",
            "1 when EventedPLEG's stream fails (5 errors since start, or any in the window) and "
            "generic relisting takes over, else 0",
            _fixed(fallback),
        )

    def _operations(self) -> None:
        ops = "|".join(self.operations)
        op = f'operation_type=~"{ops}"'
        by = "operation_type"
        hist = "kubelet_runtime_operations_duration_seconds"
        summary = "kubelet_runtime_operations_latency_microseconds"
        prefix = "instance_operation_type"
        calls = (
            f"{self.increase('kubelet_runtime_operations_total', op, by=by)}"
            f" or {self.increase('kubelet_runtime_operations', op, by=by)}"
        )
        self.add(
            "op_calls",
            f"{prefix}:kubelet_runtime_operations:increase{self.w}",
            "runtime calls per operation in the window (kubelet_runtime_operations_total, "
            "kubelet_runtime_operations before 1.14)",
            _fixed(self.per_node(calls)),
        )
        errors = (
            f"{self.increase('kubelet_runtime_operations_errors_total', op, by=by)}"
            f" or {self.increase('kubelet_runtime_operations_errors', op, by=by)}"
        )
        self.add(
            "op_errors",
            f"{prefix}:kubelet_runtime_operations_errors:increase{self.w}",
            "failed runtime calls per operation in the window",
            _fixed(self.per_node(errors)),
        )
        count = (
            f"{self.increase(hist + '_count', op, by=by)}"
            f" or {self.increase(summary + '_count', op, by=by)}"
        )
        self.add(
            "op_count",
            f"{prefix}:kubelet_runtime_operations_duration_seconds_count:increase{self.w}",
            "latency observations per operation in the window (histogram, else µs summary)",
            _fixed(self.per_node(count)),
        )
        total = (
            f"{self.increase(hist + '_sum', op, by=by)}"
            f" or {self.increase(summary + '_sum', op, by=by)} / 1e6"
        )
        self.add(
            "op_sum_seconds",
            f"{prefix}:kubelet_runtime_operations_duration_seconds_sum:increase{self.w}",
            "the observations' sum, seconds",
            _fixed(self.per_node(total)),
        )
        low, high = (
            self.increase(f"{hist}_bucket", op, le_matcher(b), by=by) for b in TIMEOUT_BUCKET_BOUNDS
        )
        top = self.increase(f"{hist}_bucket", op, le_matcher(DEF_BUCKETS[-1]), by=by)
        hist_count = self.increase(hist + "_count", op, by=by)
        timeouts = f"({high} - {low}) or ({hist_count} - {top})"
        self.add(
            "op_timeouts",
            f"{prefix}:kubelet_runtime_operations_timeouts:increase{self.w}",
            "calls that ran into the CRI timeout: the (119.2, 298] bucket (≥ 1.20), over 10 s on "
            "DefBuckets (≤ 1.19); none for µs summaries",
            _fixed(self.per_node(timeouts)),
        )
        below = self._below_top_upper(f"{hist}_bucket", op, by=by)
        over_top = terms.OVER_TOP_MEAN.expr
        over_names = {
            "hist_sum_seconds": self.per_node(self.increase(hist + "_sum", op, by=by)),
            "hist_below_top_upper_seconds": self.per_node(below),
            "hist_above_top": self.per_node(f"{hist_count} - {top}"),
            terms.TOP_BUCKET.name: number_text(DEF_BUCKETS[-1]),
        }
        self.add(
            "op_over_top_mean_seconds",
            f"{prefix}:kubelet_runtime_operations_duration_seconds:over_10s_mean{self.w}",
            "DefBuckets (≤ 1.19): what the calls over 10 s took, on average (from _sum)",
            lambda names: over_top.expand(Names(inputs=over_names)),
        )
        self.formula(
            terms.HUNG_CALL,
            f"{prefix}:pleg_hung_call_seconds:model{self.w}",
        )
        self.formula(
            terms.ANSWERED_MEAN,
            f"{prefix}:pleg_answered_call_seconds:model{self.w}",
        )
        p99 = (
            f"histogram_quantile(0.99, sum by ({self.by}, operation_type, le) "
            f"(increase({self.selector(hist + '_bucket', op)}[{self.range}]))) >= 0"
        )
        summary_p99 = (
            f"max by ({self.by}, operation_type) ({self.selector(summary, op, _Q99)}) / 1e6 >= 0"
        )
        self.add(
            "op_p99_seconds",
            f"{prefix}:kubelet_runtime_operations_duration_seconds:p99_{self.w}",
            "the p99 latency per operation in the window (µs summaries: their recent p99)",
            _fixed(self.per_node(f"({p99}) or ({summary_p99})")),
        )

    def _below_top_upper(self, bucket: str, *extra: str, by: str = "") -> str:
        """`Σ le·n` over the DefBuckets: each bucket's observations counted at its upper bound,
        as `Σ_i c_i·(le_i − le_{i+1}) + c_top·le_top` over the cumulative counts `c_i`."""
        parts = []
        for index, bound in enumerate(DEF_BUCKETS):
            weight = bound - DEF_BUCKETS[index + 1] if index + 1 < len(DEF_BUCKETS) else bound
            series = self.increase(bucket, *extra, le_matcher(bound), by=by)
            parts.append(f"{series} * {number_text(round(weight, 6))}")
        return " + ".join(parts)

    def _relist(self) -> None:
        hist = "kubelet_pleg_relist_duration_seconds"
        summary = "kubelet_pleg_relist_latency_microseconds"
        prefix = "instance"
        hist_count = self.increase(hist + "_count")
        relists = f"{hist_count} or {self.increase(summary + '_count')}"
        self.add(
            terms.RELISTS.name,
            f"{prefix}:kubelet_pleg_relists:increase{self.w}",
            "R: relists completed in the window",
            _fixed(self.per_node(relists)),
        )
        total = f"{self.increase(hist + '_sum')} or {self.increase(summary + '_sum')} / 1e6"
        self.add(
            "relist_sum_seconds",
            f"{prefix}:kubelet_pleg_relist_duration_seconds_sum:increase{self.w}",
            "the relists' total duration in the window, seconds",
            _fixed(self.per_node(total)),
        )
        top = self.increase(f"{hist}_bucket", le_matcher(DEF_BUCKETS[-1]))
        self.add(
            terms.RELISTS_OVER_TOP.name,
            f"{prefix}:kubelet_pleg_relists_over_10s:increase{self.w}",
            "relists above the 10 s bucket in the window (histograms only)",
            _fixed(self.per_node(f"{hist_count} - {top}")),
        )
        over_names = {
            "hist_sum_seconds": self.per_node(self.increase(hist + "_sum")),
            "hist_below_top_upper_seconds": self.per_node(self._below_top_upper(f"{hist}_bucket")),
            "hist_above_top": self.per_node(f"{hist_count} - {top}"),
            terms.TOP_BUCKET.name: number_text(DEF_BUCKETS[-1]),
        }
        over_top = terms.OVER_TOP_MEAN.expr
        self.add(
            "relist_over_top_mean_seconds",
            f"{prefix}:kubelet_pleg_relist_duration_seconds:over_10s_mean{self.w}",
            "what the relists over 10 s took, on average (a lower estimate from _sum)",
            lambda names: over_top.expand(Names(inputs=over_names)),
        )
        for quantile, label in ((0.5, "p50"), (0.99, "p99")):
            from_hist = (
                f"histogram_quantile({quantile}, sum by ({self.by}, le) "
                f"(increase({self.selector(hist + '_bucket')}[{self.range}]))) >= 0"
            )
            matcher = f'quantile="{number_text(quantile)}"'
            from_summary = (
                f"(max by ({self.by}) ({self.selector(summary, matcher)})"
                f" / 1e6 >= 0) unless {self.on} {hist_count}"
            )
            self.add(
                f"relist_{label}_seconds",
                f"{prefix}:kubelet_pleg_relist_duration_seconds:{label}_{self.w}",
                f"the relists' {label} in the window (≤ 1.13: the µs summary's recent {label})",
                _fixed(self.per_node(f"({from_hist}) or ({from_summary})")),
            )
        recent = f"max by ({self.by}) ({self.selector(summary, _Q99)}) / 1e6 >= 0"
        self.add(
            "relist_recent_p99_seconds",
            f"{prefix}:kubelet_pleg_relist_duration_seconds:summary_p99",
            "≤ 1.16: the µs summary's own p99 of its last 10 minutes (it can hide a tail the "
            "histogram keeps)",
            _fixed(self.per_node(recent)),
        )
        interval = "kubelet_pleg_relist_interval_seconds"
        self.add(
            "relist_interval_sum_seconds",
            f"{prefix}:{interval}_sum:increase{self.w}",
            "the time between relist starts, summed over the window",
            _fixed(self.per_node(self.increase(interval + "_sum"))),
        )
        self.add(
            "relist_interval_count",
            f"{prefix}:{interval}_count:increase{self.w}",
            "relist starts timed in the window (their mean interval: sum / count)",
            _fixed(self.per_node(self.increase(interval + "_count"))),
        )
        pod = (
            f"{self.increase('kubelet_pleg_pod_relist_duration_seconds_sum')} and {self.on} "
            f"({self.increase('kubelet_pleg_pod_relist_duration_seconds_count')} > 0)"
        )
        self.add(
            "pod_relist_sum_seconds",
            f"{prefix}:kubelet_pleg_pod_relist_duration_seconds_sum:increase{self.w}",
            "1.36: the per-pod relists' total duration in the window",
            _fixed(self.per_node(pod)),
        )
        seen = self.selector("kubelet_pleg_last_seen_seconds")
        age = f"max by ({self.by}) (timestamp({seen})) - max by ({self.by}) ({seen} > 0)"
        self.add(
            terms.LAST_SEEN_AGE.name,
            f"{prefix}:kubelet_pleg_last_seen_seconds:age",
            "seconds since the last relist started, at the last scrape (≥ 1.18; none under "
            "EventedPLEG, which overwrites the gauge with now)",
            _fixed(self.per_node(age) + f" unless {self.on} ({self.gate})"),
        )
        before = f"{seen} offset {self.range}"
        start = f"max by ({self.by}) (timestamp({before})) - max by ({self.by}) ({before} > 0)"
        self.add(
            terms.EDGE_START_AGE.name,
            f"{prefix}:kubelet_pleg_last_seen_seconds:age_offset{self.w}",
            "the same age at the window's start (its last scrape before it): how long the relist "
            "in progress there had run",
            _fixed(self.per_node(start) + f" unless {self.on} ({self.gate})"),
        )
        floor = number_text(terms.STALL_AGE_FLOOR_SECONDS)
        step = promql_duration(AGE_PEAK_STEP_SECONDS)
        peak = (
            f"max by ({self.by}) (max_over_time(((timestamp({seen}) - ({seen} > 0)) > {floor})"
            f"[{self.range}:{step}]))"
        )
        self.add(
            terms.EARLIER_AGE_PEAK.name,
            f"{prefix}:kubelet_pleg_last_seen_seconds:max_age{self.w}",
            f"the largest of those ages over {floor} s at a scrape of the window (a subquery at "
            f"{step} steps: every scrape at least {step} apart is seen)",
            _fixed(self.per_node(peak) + f" unless {self.on} ({self.gate})"),
        )
        discards = self.increase("", '__name__=~"kubelet_pleg_discard_events(_total)?"')
        self.add(
            "discard_events",
            f"{prefix}:kubelet_pleg_discard_events:increase{self.w}",
            "PLEG events discarded in the window (a full event channel, ≥ 1.14)",
            _fixed(self.per_node(discards)),
        )

    def select(self, names: Names, name: str, operations: Sequence[str]) -> str:
        """Per-operation input `name` for `operations` only: its recorded series with an
        `operation_type` matcher, or (expanded) its expression built for those operations."""
        regex = "|".join(operations)
        series = names.inputs[name]
        if re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", series):
            return f'{series}{{operation_type=~"{regex}"}}'
        narrow = _Builder(self.options, operations, self.inline)
        narrow._identity()
        narrow._operations()
        resolved = dict(self.constants)
        for part in narrow.series:
            if part.record and part.layer not in self.inline:
                per_op = part.record.startswith("instance_operation_type:")
                matcher = f'{{operation_type=~"{regex}"}}' if per_op else ""
                resolved[part.input] = part.record + matcher
                continue
            expr = part.build(Names(inputs=resolved))
            resolved[part.input] = expr if _is_selector(expr) else f"({expr})"
        return resolved[name]

    def _op_value(self, name: str, operation: str) -> Callable[[Names], str]:
        """One operation's per-operation series, without its `operation_type` label."""

        def build(names: Names) -> str:
            return f"max without (operation_type) ({self.select(names, name, (operation,))})"

        return build

    def _model(self) -> None:
        w = self.w
        for operation in RELIST_OPS:
            self.add(
                f"{operation}_answered_seconds",
                "",
                f"L of {operation}",
                self._op_value("op_answered_seconds", operation),
            )
            self.add(
                f"{operation}_calls",
                "",
                f"{operation} calls",
                self._op_value("op_calls", operation),
            )

        def count_ops(names: Names) -> str:
            calls = self.select(names, "op_calls", RELIST_OPS)
            count = self.select(names, "op_count", RELIST_OPS)
            return f"count without (operation_type) ({calls} or {count})"

        self.add("relist_ops", "", "relist operations exposed", count_ops)

        def timeouts(operations: Sequence[str], weighted: bool = False) -> Callable[[Names], str]:
            def build(names: Names) -> str:
                series = self.select(names, "op_timeouts", operations)
                if weighted:
                    cost = self.select(names, terms.HUNG_CALL.name, operations)
                    series = f"{series} * {cost}"
                return f"sum without (operation_type) ({series})"

            return build

        def without_sum(names: Names) -> str:
            count = self.select(names, "op_count", RELIST_OPS)
            total = self.select(names, "op_sum_seconds", RELIST_OPS)
            return f"count without (operation_type) ({count} unless {total})"

        self.add(
            "relist_ops_without_sum", "", "relist operations timed without a _sum", without_sum
        )

        def errors(names: Names) -> str:
            series = self.select(names, "op_errors", LIST_OPS)
            return f"sum without (operation_type) ({series})"

        self.add("list_errors", "", "failed list calls (GetPods failing)", errors)
        over = terms.RELISTS_OVER_TOP.name
        self.add(
            "hung_bound_top_seconds",
            "",
            "the relist histogram's top finite bucket, where it has buckets",
            lambda names: Like(Var(over), DEF_BUCKETS[-1]).expand(names),
        )
        self.add("hung_bound_relists", "", "relists over 10 s", lambda names: names.inputs[over])
        self.add(
            "hung_bound_mean_seconds",
            "",
            "their mean",
            lambda names: names.inputs["relist_over_top_mean_seconds"],
        )
        self.add("relist_timeouts", "", "timed-out relist calls", timeouts(RELIST_OPS))
        self.add("relist_timeout_seconds", "", "their cost", timeouts(RELIST_OPS, weighted=True))
        self.add("list_timeouts", "", "timed-out lists", timeouts(LIST_OPS))
        self.add("status_timeouts", "", "timed-out status calls", timeouts(STATUS_OPS))
        for formula in (*terms.COSTS, *terms.PREDICTION):
            self.formula(formula, f"instance:pleg_{_series_name(formula.name)}:model{w}")
        self.add(
            "predicted_relist_for_age_seconds",
            "",
            "in a window: the relist that carries the window's hung calls",
            lambda names: names.inputs[terms.PREDICTED_RELIST_WORST.name],
        )
        self.formula(terms.QUIET_WHOLE_WINDOW, f"instance:pleg_quiet_seconds:model{w}")
        for formula in (*terms.AGES, *terms.VERDICT_FIGURES, terms.SLOWNESS):
            self.formula(formula, f"instance:pleg_{_series_name(formula.name)}:model{w}")
        signal = f"instance:pleg_signal:model{w}"
        for name, condition in CONDITIONS:
            value = Where(condition.left, condition)
            self.add(
                f"signal_{name}",
                signal,
                _SIGNAL_MEANINGS[name],
                value.expand,
                labels=(("severity", SEVERITIES[name]), ("signal", name)),
            )
        chain = f" or {self.on} ".join(_ref(f"signal_{name}") for name, _ in CONDITIONS)
        self.add(
            "top_signal",
            f"instance:pleg_top_signal:model{w}",
            "the most severe signal of each node (the order of the signals above)",
            _fixed(chain),
        )

        def any_of(severity: str) -> str:
            refs = " or ".join(
                _ref(f"signal_{name}") for name, _ in CONDITIONS if SEVERITIES[name] == severity
            )
            return f"group by ({self.by}, node) ({refs})"

        verdict = (
            f"({any_of('critical')} * 2) or {self.on} {any_of('warning')}"
            f" or {self.on} ({_ref(terms.HEADROOM.name)} * 0)"
        )
        self.add(
            "verdict",
            f"instance:pleg_verdict:model{w}",
            "the CLI's verdict as its exit code: 2 critical, 1 warning, 0 ok (no series: unknown)",
            _fixed(verdict),
        )
        options = self.options
        info_labels = (
            (
                "runtime_request_timeout_seconds",
                number_text(options.runtime_request_timeout_seconds),
            ),
            ("selector", options.selector),
            ("version", RULES_SCHEMA_VERSION),
            ("window", w),
        )
        self.add(
            "rules_info",
            RULES_INFO,
            "1: the options these rules were generated with (what fleet looks for)",
            _fixed("vector(1)"),
            labels=info_labels,
        )


_Q99 = 'quantile="0.99"'
_NODE_LABEL_SET = 'node!=""'


def _ref(name: str) -> str:
    """A reference to an earlier series by its input name, resolved by `_substitute`."""
    return f"⟨{name}⟩"


_REF_RE = re.compile(r"⟨(\w+)⟩")


def _substitute(expr: str, names: Names) -> str:
    """`expr` with each `_ref` replaced by that series' PromQL (its name, or its expression)."""

    def one(match: re.Match[str]) -> str:
        text = names.inputs[match.group(1)]
        return text if _is_selector(text) else f"({text})"

    return _REF_RE.sub(one, expr)


def _fixed(expr: str) -> Callable[[Names], str]:
    """A builder for PromQL that reads no earlier series."""
    return lambda names: expr


def _series_name(name: str) -> str:
    return name


_SIGNAL_MEANINGS = {
    "past_threshold": "critical: at a scrape of the window, the last relist had started the "
    "threshold or longer before",
    "stalled_past_threshold": "critical: no relist has completed for the threshold or longer",
    "steady_state_crosses_threshold": "critical: the predicted worst age reaches the threshold",
    "headroom_low": "warning: headroom under half the threshold (under EventedPLEG, half of what "
    "the loop can use past its period)",
    "relist_hanging": "warning: no relist has completed for longer than three relist cycles, "
    "and no last-seen age bounds it",
    "relist_p99_over_10s": "warning: 1 % or more of the window's relists took over 10 s",
    "list_calls_time_out": "warning: GetPods' list calls ran into the CRI timeout (runtime hung?)",
    "status_calls_time_out": "warning: status calls ran into the CRI timeout (a wedged container?)",
    "events_discarded": "warning: PLEG events were discarded (the event channel was full)",
    "evented_pleg_fallback": "warning: EventedPLEG's stream fails, generic relisting takes over",
    "runtime_slow": "info: the runtime answers the relist's calls 8× slower than a healthy one",
}


def _resolve(
    options: RuleOptions, inline: Collection[Layer], *, join_node: bool = True
) -> list[tuple[_Series, str]]:
    """Every series with its PromQL; earlier series of the `inline` layers are expanded where
    they are read, the others read by their recorded name."""
    builder = _Builder(options, inline=inline, join_node=join_node)
    names: dict[str, str] = dict(builder.constants)
    built: list[tuple[_Series, str]] = []
    for series in builder.build():
        expr = series.build(Names(inputs=names))
        built.append((series, expr))
        if series.record and series.layer not in inline:
            matchers = ",".join(f'{key}="{value}"' for key, value in series.labels)
            names[series.input] = f"{series.record}{{{matchers}}}" if matchers else series.record
        else:
            text = expr
            for key, value in series.labels:
                text = f'label_replace({text}, "{key}", "{value}", "", "")'
            names[series.input] = text if _is_selector(text) else f"({text})"
    return built


def _is_selector(expr: str) -> bool:
    return re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^{}]*\})?$", expr) is not None


def recording_rules(
    options: RuleOptions,
    *,
    layers: Collection[Layer] = LAYERS,
    inline: Collection[Layer] = (),
) -> tuple[RecordingRule, ...]:
    """The recorded series of `layers`, in evaluation order; series of the `inline` layers are
    expanded where read (e.g. the measurements alone, node names inlined, for backfilling a
    history with `promtool tsdb create-blocks-from rules`, which cannot chain rules)."""
    options = validate_options(options)
    return tuple(
        RecordingRule(record=s.record, expr=expr, meaning=s.meaning, labels=s.labels)
        for s, expr in _resolve(options, inline)
        if s.record and s.layer in layers
    )


def expressions(options: RuleOptions, *, inline: Collection[Layer] = LAYERS) -> dict[str, str]:
    """Input name → PromQL of every series, the series of the `inline` layers expanded where
    read: all of them to query a past time where no rule ran, or only the model's over a
    history whose measurements were backfilled."""
    options = validate_options(options)
    return {s.input: expr for s, expr in _resolve(options, inline)}


FLEET_RELIST_MEASURES = (
    "relists",
    "relist_sum_seconds",
    "relists_over_top",
    "relist_over_top_mean_seconds",
    "relist_interval_sum_seconds",
    "relist_interval_count",
)
FLEET_QUANTILE_MEASURES = ("relist_p50_seconds", "relist_p99_seconds", "relist_recent_p99_seconds")
FLEET_AGE_MEASURES = ("edge_start_age_seconds", "scrape_age_peak_seconds")
"""The health clock's age at the window's start and its largest at a scrape of the window."""
FLEET_OPERATION_COUNTS = ("op_calls", "op_errors", "op_count", "op_sum_seconds")
FLEET_OPERATION_SHAPES = ("op_timeouts", "op_over_top_mean_seconds")
FLEET_OPERATION_QUANTILES = ("op_p99_seconds",)
"""What fleet mode reads of each kubelet's histograms: the rules' own measurements, per node
and (`op_*`) per runtime operation, rather than every bucket."""


def measurements(options: RuleOptions, *, recorded: bool) -> dict[str, str]:
    """Each fleet measurement's PromQL: the recorded series' name when the rules are loaded,
    else the rule's expression (aggregated by cluster and instance, without the node join)."""
    wanted = {
        *FLEET_RELIST_MEASURES,
        *FLEET_QUANTILE_MEASURES,
        *FLEET_AGE_MEASURES,
        *FLEET_OPERATION_COUNTS,
        *FLEET_OPERATION_SHAPES,
        *FLEET_OPERATION_QUANTILES,
    }
    options = dataclasses.replace(options, selector=normalize_selector(options.selector))
    identity: tuple[Layer, ...] = ("identity",)
    built = _resolve(options, identity, join_node=False)
    if recorded:
        return {s.input: s.record for s, _ in built if s.input in wanted}
    return {s.input: expr for s, expr in built if s.input in wanted}


def record_names(options: RuleOptions) -> Mapping[str, str]:
    """Input or formula name → the recorded series' name."""
    builder = _Builder(validate_options(options))
    return {s.input: s.record for s in builder.build() if s.record}


_ALERT_SIGNALS = (
    (
        "KubeletPlegCritical",
        "critical",
        ("past_threshold", "stalled_past_threshold", "steady_state_crosses_threshold"),
        60.0,
        "PLEG on {{ $labels.node }} is past the threshold, or about to be",
    ),
    (
        "KubeletPlegHeadroomLow",
        "warning",
        ("headroom_low", "relist_hanging"),
        300.0,
        "PLEG headroom on {{ $labels.node }} is low",
    ),
    (
        "KubeletPlegDegraded",
        "warning",
        (
            "relist_p99_over_10s",
            "list_calls_time_out",
            "status_calls_time_out",
            "events_discarded",
            "evented_pleg_fallback",
        ),
        300.0,
        "PLEG on {{ $labels.node }}: {{ $labels.signal }}",
    ),
    (
        "KubeletPlegRuntimeSlow",
        "info",
        ("runtime_slow",),
        900.0,
        "The container runtime on {{ $labels.node }} answers the relist slowly",
    ),
)
"""Each alert: name, severity, the top signals it fires on, `for`, summary."""


def alerting_rules(options: RuleOptions) -> tuple[AlertingRule, ...]:
    """The alerts: at most one per node at a time, the one of its top signal."""
    options = validate_options(options)
    w = options.window
    top = f"instance:pleg_top_signal:model{w}"
    headroom = f"instance:pleg_headroom_seconds:model{w}"
    age = "instance:kubelet_pleg_last_seen_seconds:age"
    figures = (
        f"Headroom {_query_value(headroom, 'humanize')}s of the threshold; last relist started "
        f"{_query_value(age, 'humanize')}s ago."
    )
    rules = []
    for alert, severity, signals, for_seconds, summary in _ALERT_SIGNALS:
        matcher = "|".join(signals)
        cases = "".join(
            f'{{{{ {"if" if i == 0 else "else if"} eq $labels.signal "{name}" }}}}'
            f"{_SIGNAL_SENTENCES[name]}"
            for i, name in enumerate(signals)
        )
        description = (
            f"{cases}{{{{ end }}}} {figures} Top signal: {{{{ $labels.signal }}}} "
            f"({{{{ $value | humanize }}}}). Causes and next steps: "
            "`pleg-doctor diagnose --node {{ $labels.node }} --window 30s`."
        )
        rules.append(
            AlertingRule(
                alert=alert,
                expr=f'{top}{{signal=~"{matcher}"}}',
                for_seconds=for_seconds,
                severity=severity,
                summary=summary,
                description=description,
                meaning=", ".join(signals),
            )
        )
    return tuple(rules)


def _query_value(series: str, fmt: str) -> str:
    """A template printing `series` of the alert's own kubelet, or `?` when it has none."""
    query = f'{series}{{instance="%s"}}'
    return (
        f'{{{{ with printf "{_template_escape(query)}" $labels.instance | query }}}}'
        f"{{{{ . | first | value | {fmt} }}}}{{{{ else }}}}?{{{{ end }}}}"
    )


def _template_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


_SIGNAL_SENTENCES = {
    "past_threshold": "PLEG last relisted longer ago than the threshold: the kubelet reports "
    "'PLEG is not healthy' and the node goes NotReady.",
    "stalled_past_threshold": "No relist has completed for longer than the threshold: a relist "
    "hangs (a hung runtime, or a wedged call).",
    "steady_state_crosses_threshold": "The relists the runtime's latencies and the hung calls "
    "predict take the age past the threshold on every cycle.",
    "headroom_low": "The worst age the relist reaches leaves less than half the threshold "
    "(under EventedPLEG, half of what the loop can use past its 300 s period): one more hung CRI "
    "call (2 minutes) can make the node NotReady.",
    "relist_hanging": "No relist has completed for longer than three relist cycles, and the "
    "kubelet has no last-seen gauge to say for how long.",
    "relist_p99_over_10s": "1 % or more of the relists took over 10 s (the kubernetes-mixin's "
    "KubeletPlegDurationHigh).",
    "list_calls_time_out": "The runtime's list calls run into the CRI timeout: the runtime is "
    "hung or overloaded.",
    "status_calls_time_out": "Status calls run into the CRI timeout: a container or sandbox is "
    "wedged, and every relist waits for it.",
    "events_discarded": "PLEG events were discarded: the event channel was full.",
    "evented_pleg_fallback": "EventedPLEG's stream fails: generic relisting takes over.",
    "runtime_slow": "The runtime answers the relist's calls at least 8× slower than a healthy "
    "runtime; the PLEG still has headroom.",
}


def rule_groups(options: RuleOptions) -> tuple[tuple[RecordingRule | AlertingRule, ...], ...]:
    """The one rule group: the recorded series in order, then the alerts (reading them fresh)."""
    return ((*recording_rules(options), *alerting_rules(options)),)
