"""`rules`: the PLEG model as Prometheus recording and alerting rules, per kubelet."""

from __future__ import annotations

import shlex
import sys

import click

from pleg_doctor.commands import console
from pleg_doctor.commands.options import (
    CONTEXT_SETTINGS,
    Duration,
    KubeletDuration,
    common_options,
    output_format_option,
    runtime_timeout_option,
)
from pleg_doctor.errors import UsageError


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--label {text!r} must be KEY=VALUE, e.g. release=kube-prometheus-stack")
    return key.strip(), value.strip()


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--selector",
    # NOTE: the literal of sources.prometheus.queries.DEFAULT_SELECTOR (as `fleet`'s option).
    default='job="kubelet",metrics_path="/metrics"',
    show_default=True,
    help="Label matchers of the kubelets' /metrics series (as fleet --selector).",
)
@click.option(
    "--window",
    "window_seconds",
    type=Duration(),
    default="5m",
    show_default=True,
    help="The window of every increase() (as fleet --range); at least 1m, whole seconds.",
)
@runtime_timeout_option
@output_format_option(
    "A Prometheus rule file, or a prometheus-operator PrometheusRule object.",
    choices=("rules", "prometheusrule"),
    default="rules",
)
@click.option(
    "--name", default="pleg-doctor", show_default=True, help="PrometheusRule: metadata.name."
)
@click.option(
    "--namespace", default="monitoring", show_default=True, help="PrometheusRule: namespace."
)
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="KEY=VALUE",
    help="PrometheusRule: a label for the operator's ruleSelector, repeatable "
    "(kube-prometheus-stack: release=<its release name>).",
)
@common_options
def rules(
    selector: str,
    window_seconds: float,
    runtime_request_timeout: float,
    output: str,
    name: str,
    namespace: str,
    labels: tuple[str, ...],
    debug: bool,
) -> None:
    """Print Prometheus rules that run the PLEG model on every kubelet, all the time.

    Recording rules compute, per node, from the kubelet's own metrics: the last-seen age and
    stall, the window's relists (mean, over 10 s), the runtime calls that hit the CRI timeout,
    the model's predicted relist, worst age, headroom and hung calls tolerated, with the same
    formulas as diagnose and fleet. Alerts: KubeletPlegCritical (past the threshold, stalled,
    or the steady state crosses it), KubeletPlegHeadroomLow and KubeletPlegDegraded (warning),
    KubeletPlegRuntimeSlow (info); each names the node's top signal and the diagnose command.
    docs/rules.md explains every series.

    \b
    Example:
      pleg-doctor rules > /etc/prometheus/rules/pleg-doctor.yml
      pleg-doctor rules -o prometheusrule --label release=kube-prometheus-stack | kubectl apply -f -
      pleg-doctor rules --selector 'job="kubernetes-nodes"' --window 10m
    """
    console.setup_logging(debug)
    from pleg_doctor.render.rules import render_prometheus_rule, render_rule_file
    from pleg_doctor.sources.prometheus.alerting import rule_groups
    from pleg_doctor.sources.prometheus.rules import RuleOptions, validate_options

    options = validate_options(
        RuleOptions(
            selector=selector,
            window_seconds=window_seconds,
            runtime_request_timeout_seconds=runtime_request_timeout,
        )
    )
    pairs = [_label(text) for text in labels]
    command = " ".join(["pleg-doctor rules", *(shlex.quote(a) for a in _given_options())])
    groups = rule_groups(options)
    if output == "prometheusrule":
        text = render_prometheus_rule(
            groups, options, command=command, name=name, namespace=namespace, labels=pairs
        )
    else:
        text = render_rule_file(groups, options, command=command)
    sys.stdout.write(text)
    sys.stdout.flush()


def _given_options() -> list[str]:
    """The options given on the command line (not defaulted), as the generated header shows
    them: the same options give the same file, whatever their spelling."""
    context = click.get_current_context()
    words: list[str] = []
    for param in context.command.params:
        if not isinstance(param, click.Option) or param.name in (None, "debug"):
            continue
        source = context.get_parameter_source(param.name)
        if source is None or source.name == "DEFAULT":
            continue
        value = context.params[param.name]
        flag = max(param.opts, key=len)
        for item in value if isinstance(value, tuple) else (value,):
            words += [flag, _option_text(param, item)]
    return words


def _option_text(param: click.Option, value: object) -> str:
    if isinstance(param.type, (Duration, KubeletDuration)) and isinstance(value, float):
        from pleg_doctor.core.fleet import human_duration

        return human_duration(value)
    return str(value)
