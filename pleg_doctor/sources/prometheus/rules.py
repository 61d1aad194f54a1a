"""The vocabulary of `pleg-doctor rules`: what the rules are generated for, what a rule is.

The rules are the model, as PromQL, per node: `recording.py` records per kubelet what
`pleg-doctor fleet` measures and then the model's formulas over it, `alerting.py` alerts on the
recorded signals, `render/rules.py` writes them as a rule file or a PrometheusRule. They all share
the options, the two kinds of rule (a Prometheus recording rule, an alerting rule) and the series
`fleet` finds them by, held here so that none of them has to import another for it.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from pleg_doctor.core.fleet import human_duration
from pleg_doctor.errors import UsageError
from pleg_doctor.sources.prometheus.promql import (
    DEFAULT_RANGE_SECONDS,
    DEFAULT_SELECTOR,
    normalize_selector,
)

RULES_SCHEMA_VERSION = "1"
"""The `version` label of `pleg_doctor_rules_info`: bumped when a recorded series changes
meaning, so `fleet` reads only series it understands."""

RULES_INFO = "pleg_doctor_rules_info"
"""A constant series the rules record (value 1), labelled with the options they were generated
with: how `fleet` and dashboards find them."""

GROUP_NAME = "pleg-doctor"

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
