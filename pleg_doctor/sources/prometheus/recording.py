"""The recording rules of `pleg-doctor rules`: the model, as PromQL, per node.

The rules measure per kubelet what `pleg-doctor fleet` measures (`measures.py`), then evaluate
the model's formulas on it: `core/terms.py` holds each formula once, and `Expr.promql` renders
it here, so the CLI and the rules cannot compute different things. Each formula's result is
recorded as a series and later formulas read it by name, in one rule group: Prometheus evaluates
a group's rules in order, and each sees the ones before it at the same evaluation time.

`expressions(..., inline=...)` gives each series' PromQL with the recorded inputs of some layers
expanded, for evaluating the rules at a past time with `/api/v1/query`: recording rules are not
evaluated over backfilled history (tests/test_rules_integration.py). `measurements()` is what
fleet mode reads of them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Mapping, Sequence

from pleg_doctor.core import terms
from pleg_doctor.core.conditions import Like, Where
from pleg_doctor.core.constants import LIST_OPS, RELIST_OPS, STATUS_OPS
from pleg_doctor.core.formulas import Names, Var, number_text
from pleg_doctor.core.terms import CONDITIONS
from pleg_doctor.sources.prometheus.measures import (
    DEF_BUCKETS,
    MeasureBuilder,
    Series,
    fixed,
    is_selector,
    ref,
)
from pleg_doctor.sources.prometheus.promql import normalize_selector
from pleg_doctor.sources.prometheus.rules import (
    LAYERS,
    RULES_INFO,
    RULES_SCHEMA_VERSION,
    SEVERITIES,
    Layer,
    RecordingRule,
    RuleOptions,
    validate_options,
)


class _Builder(MeasureBuilder):
    """Assembles the series in dependency order for one set of options: the measurements, then
    the model's formulas over them."""

    def build(self) -> list[Series]:
        self._identity()
        self._operations()
        self._relist()
        self.layer = "model"
        self._model()
        return self.series

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
            resolved[part.input] = expr if is_selector(expr) else f"({expr})"
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
        chain = f" or {self.on} ".join(ref(f"signal_{name}") for name, _ in CONDITIONS)
        self.add(
            "top_signal",
            f"instance:pleg_top_signal:model{w}",
            "the most severe signal of each node (the order of the signals above)",
            fixed(chain),
        )

        def any_of(severity: str) -> str:
            refs = " or ".join(
                ref(f"signal_{name}") for name, _ in CONDITIONS if SEVERITIES[name] == severity
            )
            return f"group by ({self.by}, node) ({refs})"

        verdict = (
            f"({any_of('critical')} * 2) or {self.on} {any_of('warning')}"
            f" or {self.on} ({ref(terms.HEADROOM.name)} * 0)"
        )
        self.add(
            "verdict",
            f"instance:pleg_verdict:model{w}",
            "the CLI's verdict as its exit code: 2 critical, 1 warning, 0 ok (no series: unknown)",
            fixed(verdict),
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
            fixed("vector(1)"),
            labels=info_labels,
        )


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
) -> list[tuple[Series, str]]:
    """Every series with its PromQL; earlier series of the `inline` layers are expanded where
    they are read, the others read by their recorded name."""
    builder = _Builder(options, inline=inline, join_node=join_node)
    names: dict[str, str] = dict(builder.constants)
    built: list[tuple[Series, str]] = []
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
            names[series.input] = text if is_selector(text) else f"({text})"
    return built


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
