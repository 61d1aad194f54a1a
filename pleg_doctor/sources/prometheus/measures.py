"""The measure layer of the recording rules: PromQL over the kubelet's own series, per node.

What each kubelet measured in the window, as `pleg-doctor fleet` measures it: the same
server-side increases over the window, the same histograms (seconds histograms ≥ 1.14, µs
summaries ≤ 1.16; on 1.14-1.16, which expose both, the histograms win, as in the CLI), plus the
node's identity (its name and the EventedPLEG constants). Every series carries `cluster` (when
the kubelets have it), `instance` and `node` (`kubelet_node_name`, else a `node` label on `up`,
else the instance) and, per runtime operation, `operation_type`.

It is separate from `recording.py` because it speaks only the kubelet's metric names and
Prometheus' functions: the model's formulas, which read these series by name, are built on top
of it there.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Sequence

from pleg_doctor.core import terms
from pleg_doctor.core.formulas import Formula, Names, number_text
from pleg_doctor.sources.prometheus.promql import (
    FLEET_OPERATIONS,
    GROUP_LABELS,
    promql_duration,
)
from pleg_doctor.sources.prometheus.rules import Layer, RuleOptions

DEF_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""client_golang's `prometheus.DefBuckets`: the relist histogram's buckets in every kubelet
(`pkg/kubelet/metrics/metrics.go` `PLEGRelistDuration`) and the runtime operations' up to 1.19."""
TIMEOUT_BUCKET_BOUNDS = (119.20928955078125, 298.0232238769531)
"""The runtime histogram's (119.2, 298] bucket (`ExponentialBuckets(.005, 2.5, 14)`, ≥ 1.20): the
calls that ran into the default 2-minute CRI timeout."""

AGE_PEAK_STEP_SECONDS = 15.0
"""The subquery step of the largest last-seen age in the window: each scrape's age is seen when
scrapes are at least this far apart (kube-prometheus scrapes kubelets every 30 s)."""


@dataclasses.dataclass(frozen=True)
class Series:
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


_Q99 = 'quantile="0.99"'
_NODE_LABEL_SET = 'node!=""'


def ref(name: str) -> str:
    """A reference to an earlier series by its input name, resolved by `_substitute`."""
    return f"⟨{name}⟩"


_REF_RE = re.compile(r"⟨(\w+)⟩")


def _substitute(expr: str, names: Names) -> str:
    """`expr` with each `ref` replaced by that series' PromQL (its name, or its expression)."""

    def one(match: re.Match[str]) -> str:
        text = names.inputs[match.group(1)]
        return text if is_selector(text) else f"({text})"

    return _REF_RE.sub(one, expr)


def fixed(expr: str) -> Callable[[Names], str]:
    """A builder for PromQL that reads no earlier series."""
    return lambda names: expr


def is_selector(expr: str) -> bool:
    """Whether `expr` is a bare series selector, which needs no parentheses where it is read."""
    return re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^{}]*\})?$", expr) is not None


class MeasureBuilder:
    """Assembles the identity and measure series in dependency order for one set of options;
    `recording.py` adds the model's."""

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
        self.node_info = ref("node_info")
        self.series: list[Series] = []
        self.layer: Layer = "identity"
        self.constants = {
            terms.TAU.name: number_text(options.runtime_request_timeout_seconds),
            terms.WINDOW.name: number_text(options.window_seconds),
            terms.HUNG_TOLERANCE.name: number_text(terms.INCREASE_TOLERANCE),
        }

    # -- PromQL pieces over the kubelet's own series

    def selector(self, metric: str, *extra: str) -> str:
        """`metric` with the `extra` matchers and the options' selector."""
        matchers = ",".join(part for part in (*extra, self.options.selector) if part)
        return f"{metric}{{{matchers}}}"

    def increase(self, metric: str, *extra: str, by: str = "") -> str:
        """`metric`'s increase over the window, summed per kubelet (and per `by`)."""
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
        """Append a series of the current layer; its `ref`s are resolved when it is built."""

        def resolved(names: Names) -> str:
            return _substitute(build(names), names)

        self.series.append(Series(input_name, record, meaning, resolved, labels, self.layer))

    def formula(self, formula: Formula, record: str, meaning: str = "") -> None:
        """Record `formula` of `core/terms.py` as a series of the model layer."""
        expr = formula.expr
        layer, self.layer = self.layer, "model"
        self.add(formula.name, record, meaning or formula.text, expr.expand)
        self.layer = layer

    # -- the rules

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
            fixed(node),
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
            fixed(threshold),
        )
        self.add(
            terms.PERIOD.name,
            f"instance:pleg_relist_period_seconds:model{self.w}",
            "P: 1 s, 300 s while EventedPLEG is in use",
            fixed(period),
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
            fixed(fallback),
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
            fixed(self.per_node(calls)),
        )
        errors = (
            f"{self.increase('kubelet_runtime_operations_errors_total', op, by=by)}"
            f" or {self.increase('kubelet_runtime_operations_errors', op, by=by)}"
        )
        self.add(
            "op_errors",
            f"{prefix}:kubelet_runtime_operations_errors:increase{self.w}",
            "failed runtime calls per operation in the window",
            fixed(self.per_node(errors)),
        )
        count = (
            f"{self.increase(hist + '_count', op, by=by)}"
            f" or {self.increase(summary + '_count', op, by=by)}"
        )
        self.add(
            "op_count",
            f"{prefix}:kubelet_runtime_operations_duration_seconds_count:increase{self.w}",
            "latency observations per operation in the window (histogram, else µs summary)",
            fixed(self.per_node(count)),
        )
        total = (
            f"{self.increase(hist + '_sum', op, by=by)}"
            f" or {self.increase(summary + '_sum', op, by=by)} / 1e6"
        )
        self.add(
            "op_sum_seconds",
            f"{prefix}:kubelet_runtime_operations_duration_seconds_sum:increase{self.w}",
            "the observations' sum, seconds",
            fixed(self.per_node(total)),
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
            fixed(self.per_node(timeouts)),
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
            fixed(self.per_node(f"({p99}) or ({summary_p99})")),
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
            fixed(self.per_node(relists)),
        )
        total = f"{self.increase(hist + '_sum')} or {self.increase(summary + '_sum')} / 1e6"
        self.add(
            "relist_sum_seconds",
            f"{prefix}:kubelet_pleg_relist_duration_seconds_sum:increase{self.w}",
            "the relists' total duration in the window, seconds",
            fixed(self.per_node(total)),
        )
        top = self.increase(f"{hist}_bucket", le_matcher(DEF_BUCKETS[-1]))
        self.add(
            terms.RELISTS_OVER_TOP.name,
            f"{prefix}:kubelet_pleg_relists_over_10s:increase{self.w}",
            "relists above the 10 s bucket in the window (histograms only)",
            fixed(self.per_node(f"{hist_count} - {top}")),
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
                fixed(self.per_node(f"({from_hist}) or ({from_summary})")),
            )
        recent = f"max by ({self.by}) ({self.selector(summary, _Q99)}) / 1e6 >= 0"
        self.add(
            "relist_recent_p99_seconds",
            f"{prefix}:kubelet_pleg_relist_duration_seconds:summary_p99",
            "≤ 1.16: the µs summary's own p99 of its last 10 minutes (it can hide a tail the "
            "histogram keeps)",
            fixed(self.per_node(recent)),
        )
        interval = "kubelet_pleg_relist_interval_seconds"
        self.add(
            "relist_interval_sum_seconds",
            f"{prefix}:{interval}_sum:increase{self.w}",
            "the time between relist starts, summed over the window",
            fixed(self.per_node(self.increase(interval + "_sum"))),
        )
        self.add(
            "relist_interval_count",
            f"{prefix}:{interval}_count:increase{self.w}",
            "relist starts timed in the window (their mean interval: sum / count)",
            fixed(self.per_node(self.increase(interval + "_count"))),
        )
        pod = (
            f"{self.increase('kubelet_pleg_pod_relist_duration_seconds_sum')} and {self.on} "
            f"({self.increase('kubelet_pleg_pod_relist_duration_seconds_count')} > 0)"
        )
        self.add(
            "pod_relist_sum_seconds",
            f"{prefix}:kubelet_pleg_pod_relist_duration_seconds_sum:increase{self.w}",
            "1.36: the per-pod relists' total duration in the window",
            fixed(self.per_node(pod)),
        )
        seen = self.selector("kubelet_pleg_last_seen_seconds")
        age = f"max by ({self.by}) (timestamp({seen})) - max by ({self.by}) ({seen} > 0)"
        self.add(
            terms.LAST_SEEN_AGE.name,
            f"{prefix}:kubelet_pleg_last_seen_seconds:age",
            "seconds since the last relist started, at the last scrape (≥ 1.18; none under "
            "EventedPLEG, which overwrites the gauge with now)",
            fixed(self.per_node(age) + f" unless {self.on} ({self.gate})"),
        )
        before = f"{seen} offset {self.range}"
        start = f"max by ({self.by}) (timestamp({before})) - max by ({self.by}) ({before} > 0)"
        self.add(
            terms.EDGE_START_AGE.name,
            f"{prefix}:kubelet_pleg_last_seen_seconds:age_offset{self.w}",
            "the same age at the window's start (its last scrape before it): how long the relist "
            "in progress there had run",
            fixed(self.per_node(start) + f" unless {self.on} ({self.gate})"),
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
            fixed(self.per_node(peak) + f" unless {self.on} ({self.gate})"),
        )
        discards = self.increase("", '__name__=~"kubelet_pleg_discard_events(_total)?"')
        self.add(
            "discard_events",
            f"{prefix}:kubelet_pleg_discard_events:increase{self.w}",
            "PLEG events discarded in the window (a full event channel, ≥ 1.14)",
            fixed(self.per_node(discards)),
        )
