"""`fleet`: every node a Prometheus-compatible server scrapes, ranked by PLEG headroom."""

from __future__ import annotations

import datetime as dt
import gc
from typing import TYPE_CHECKING, Any

import click

from pleg_doctor.commands import console, pipeline
from pleg_doctor.commands.options import (
    CONTEXT_SETTINGS,
    Duration,
    Timestamp,
    common_options,
    exit_zero_option,
    output_options,
    top_option,
)

if TYPE_CHECKING:
    from pleg_doctor.core.fleet import FleetReport


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--prometheus",
    "prometheus_url",
    required=True,
    metavar="HOST[:PORT]|URL",
    help="A Prometheus-compatible API: Prometheus or Thanos Query (host:9090, or "
    "http://host:9090), Mimir (https://.../prometheus), VictoriaMetrics (http://host:8428).",
)
@click.option(
    "--selector",
    # NOTE: the literal of sources.prometheus.queries.DEFAULT_SELECTOR, so that building the
    # click group imports no source module (every command pays for that); a test checks they agree.
    default='job="kubelet",metrics_path="/metrics"',
    show_default=True,
    help="Label matchers of the kubelets' /metrics series (kube-prometheus' default; other "
    'setups name the job differently, e.g. job="kubernetes-nodes").',
)
@click.option(
    "--range",
    "range_seconds",
    type=Duration(),
    default="5m",
    show_default=True,
    help="The window of the rates: increase() over it.",
)
@click.option(
    "--at",
    type=Timestamp(),
    help="Evaluate as of this moment (RFC 3339 or Unix seconds), e.g. after an incident.",
)
@top_option
@click.option(
    "--prometheus-token", metavar="TOKEN", help="Bearer token (prefer --prometheus-token-file)."
)
@click.option(
    "--prometheus-token-file", metavar="FILE", help="File holding the bearer token (read per call)."
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="Extra request header, repeatable (e.g. 'X-Scope-OrgID: tenant-1' for Mimir). "
    "Values are never printed.",
)
@click.option("--cacert", metavar="FILE", help="CA bundle that signed the server's certificate.")
@click.option(
    "--insecure-skip-tls-verify",
    is_flag=True,
    help="Do not verify the server's certificate (a warning is printed).",
)
@click.option(
    "--timeout",
    type=Duration(),
    default="30s",
    show_default=True,
    help="Deadline of each API call, all of it (also the query's server-side timeout).",
)
@click.option(
    "--recorded",
    type=click.Choice(["auto", "yes", "no"]),
    default="auto",
    show_default=True,
    help="Read the histograms' measurements from the recording rules of `pleg-doctor rules` "
    "(auto: when rules for this --selector and --range are loaded) instead of computing them.",
)
@output_options
@exit_zero_option
@common_options
def fleet(
    prometheus_url: str,
    selector: str,
    range_seconds: float,
    at: dt.datetime | None,
    top: int | None,
    prometheus_token: str | None,
    prometheus_token_file: str | None,
    headers: tuple[str, ...],
    cacert: str | None,
    insecure_skip_tls_verify: bool,
    timeout: float,
    recorded: str,
    output: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    runtime_request_timeout: float,
    exit_zero: bool,
    debug: bool,
) -> None:
    """Every node a Prometheus scrapes, ranked by PLEG headroom, with its top cause.

    A handful of PromQL instant queries for the whole fleet (never one per node), then the same
    model and causes as diagnose, per node. Exit code: the worst node's verdict (ranking:
    critical, warning, unknown, ok; then headroom).

    \b
    Example:
      pleg-doctor fleet --prometheus http://prometheus-k8s.monitoring:9090 --top 20
      pleg-doctor fleet --prometheus https://mimir.example/prometheus \\
          --header 'X-Scope-OrgID: prod' --prometheus-token-file token -o json
      pleg-doctor fleet --prometheus http://vm:8428 --selector 'job="kubernetes-nodes"' \\
          --at 2026-11-27T10:00:00Z --range 10m
    """
    console.setup_logging(debug)
    from pleg_doctor.core.fleet import diagnose_fleet
    from pleg_doctor.render.json import write_fleet_json
    from pleg_doctor.sources.prometheus.source import PrometheusSource, parse_header

    source = PrometheusSource(
        prometheus_url,
        selector=selector,
        token=prometheus_token,
        token_file=prometheus_token_file,
        headers=[parse_header(header) for header in headers],
        cacert=cacert,
        insecure_skip_tls_verify=insecure_skip_tls_verify,
        timeout=timeout,
        recorded={"auto": None, "yes": True, "no": False}[recorded],
    )
    if source.must_warn_insecure:
        console.warn(
            f"TLS verification is off for {source.location}: anyone on the path can impersonate it"
        )
    # The whole fleet is held at once, and the cyclic GC would walk it again and again as it
    # grows (a quarter of the client's CPU at 10,000 nodes); nothing here makes cycles.
    gc.disable()
    try:
        data = source.fetch_fleet(range_seconds=range_seconds, at=at)
        for warning in data.warnings:
            console.warn(f"Prometheus: {warning}")
        report = diagnose_fleet(
            data.nodes,
            prometheus=data.location,
            selector=data.selector,
            evaluated_at=data.evaluated_at,
            range_seconds=data.range_seconds,
            runtime_request_timeout_seconds=runtime_request_timeout,
            select=select or None,
            ignore=ignore,
            recorded=data.recorded,
        )
        # -o json is written a node at a time (`write_fleet_json`); -o yaml is the same
        # document through the document renderer.
        pipeline.emit_ranked(
            report,
            output=output,
            top=top,
            exit_zero=exit_zero,
            table=_table,
            write_json=write_fleet_json,
        )
    finally:
        gc.enable()


def _table(report: FleetReport, **options: Any) -> str:
    """The fleet's table (`render.fleet`): rich is imported only when the table is asked for,
    so `-o json` from cron does not pay for it."""
    from pleg_doctor.render.fleet import render_fleet_table

    return render_fleet_table(report, **options)
