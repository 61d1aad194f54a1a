"""The alerting rules of `pleg-doctor rules`, and the one rule group they close.

Each alert fires on the top signal the recording rules record per node
(`instance:pleg_top_signal:model<window>`), at most one per node at a time, with a description
that reads the node's headroom and last-seen age back from Prometheus. It is separate from
`recording.py` because it reads the recorded series only by their names, through Prometheus'
alert templates, and never builds PromQL over the kubelet's own series.
"""

from __future__ import annotations

from pleg_doctor.sources.prometheus.recording import recording_rules
from pleg_doctor.sources.prometheus.rules import (
    AlertingRule,
    RecordingRule,
    RuleOptions,
    validate_options,
)

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
