"""The diagnosis of one node: verdict, headroom, relist figures, ranked causes, notes.

`diagnose()` is the pure core's entry point (Window in, Report out); `Report.to_dict()` builds the
public JSON schema `pleg-doctor/v1` (docs/output.md#v1) field by field, so no internal name leaks into
what scripts depend on, and no NaN or Infinity ever reaches it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from pleg_doctor.core.causes import Context, Finding, for_node, rank
from pleg_doctor.core.constants import (
    DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS,
    RELIST_OPS,
    PlegConstants,
    constants_for,
)
from pleg_doctor.core.distribution import OpStats
from pleg_doctor.core.durations import human_seconds, rfc3339
from pleg_doctor.core.inputs import op_timeouts
from pleg_doctor.core.model import ModelResult, evaluate
from pleg_doctor.core.notes import reading_notes
from pleg_doctor.core.records import record
from pleg_doctor.core.snapshot import build_snapshot
from pleg_doctor.core.verdict import VERDICT_ORDER, Verdict, judge
from pleg_doctor.core.window import Window, lifetime_window

if TYPE_CHECKING:
    from pleg_doctor.core.endpoints import ScrapeFacts

SCHEMA = "pleg-doctor/v1"


@record(kw_only=True)
class SourceInfo:
    """Where the data came from (JSON `source`)."""

    kind: str
    location: str
    """Every source, space-separated (what the JSON holds)."""
    locations: tuple[str, ...] = ()
    """The sources one by one when there are several (dumps of a window), so a renderer can
    shorten a list of 33 paths to its folder and its ends."""


@record(kw_only=True)
class Report:
    """Everything the renderers show, already decided and ranked."""

    source: SourceInfo
    window: Window
    model: ModelResult
    verdict: Verdict
    reasons: tuple[str, ...]
    """Why the verdict is what it is, one short sentence each."""
    causes: tuple[Finding, ...]
    notes: tuple[str, ...]
    scrape: ScrapeFacts | None = None
    """How the live endpoints answered (None for dumps): a slow or blocked `/metrics` is
    evidence about the runtime."""

    @property
    def constants(self) -> PlegConstants:
        """The PLEG constants in force."""
        return self.model.constants

    @property
    def node(self) -> str | None:
        """Node name, if known."""
        return self.window.last.node

    @property
    def exit_code(self) -> int:
        """Nagios code of the verdict."""
        return VERDICT_ORDER[self.verdict]

    def runtime_ops_rows(self) -> list[tuple[str, OpStats]]:
        """Operations in display order: the relist's own calls first, then the rest by calls."""
        ops = self.window.runtime_ops
        first = [(op, ops[op]) for op in (*RELIST_OPS, "status") if op in ops]
        rest = sorted(
            ((op, s) for op, s in ops.items() if op not in RELIST_OPS and op != "status"),
            key=lambda item: (-item[1].calls, item[0]),
        )
        return first + [r for r in rest if r[0] != "get_container_events"]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of schema `pleg-doctor/v1`, built field by field."""
        window = self.window
        last = window.last
        model = self.model
        relist = window.relist_duration
        interval = window.relist_interval
        containers = last.containers_by_state
        return {
            "schema": SCHEMA,
            "node": last.node,
            "source": {"kind": self.source.kind, "location": self.source.location},
            "captured_at": rfc3339(last.captured_at),
            "kubelet_version": last.kubelet_version,
            "kubelet_version_inferred": str(last.version_range)
            if last.version_range is not None
            else None,
            "pleg_mode": self.constants.mode,
            "window_seconds": None if window.is_lifetime else _num(window.seconds),
            "verdict": self.verdict,
            "threshold_seconds": _num(self.constants.relist_threshold_seconds),
            "relist_period_seconds": _num(self.constants.relist_period_seconds),
            "headroom_seconds": _num(model.headroom_seconds),
            "relist": {
                "count": _int(relist.count if relist is not None else None),
                "mean_seconds": _num(relist.mean_seconds if relist is not None else None),
                "p50_seconds": _num(relist.quantile(0.5) if relist is not None else None),
                "p99_seconds": _num(relist.quantile(0.99) if relist is not None else None),
                "over_top_bucket": _int(model.relists_over_top_bucket),
                "interval_mean_seconds": _num(
                    interval.mean_seconds if interval is not None else None
                ),
                "last_seen_age_seconds": _num(model.last_seen_age_seconds),
                "worst_last_seen_age_seconds": _num(model.peak_age_seconds),
                "stalled": model.stalled,
            },
            "runtime_ops": [
                {
                    "operation": op,
                    "calls": _int(stats.calls),
                    "errors": _int(stats.errors),
                    "mean_seconds": _num(
                        stats.latency.mean_seconds if stats.latency is not None else None
                    ),
                    "p99_seconds": _num(
                        stats.latency.quantile(0.99) if stats.latency is not None else None
                    ),
                    "timeouts": _int(op_timeouts(stats)),
                }
                for op, stats in self.runtime_ops_rows()
            ],
            "pods": {
                "running_pods": _int(last.running_pods),
                "containers": {state: _int(n) for state, n in sorted(containers.items())}
                if containers is not None
                else None,
                "pods_inspected_per_relist": _num(
                    model.costs.pods_inspected_per_relist if model.costs is not None else None
                ),
            },
            "model": {
                "predicted_relist_seconds": _num(
                    model.prediction.relist_seconds if model.prediction is not None else None
                ),
                "observed_relist_seconds": _num(model.observed_relist_seconds),
                "residual_seconds": _num(model.residual_seconds),
                "pods_at_threshold": model.pods_at_threshold,
                "hung_calls_tolerated": model.hung_calls_tolerated,
                "terms": {
                    name: _num(value)
                    for name, value in (
                        model.prediction.terms.items() if model.prediction is not None else ()
                    )
                }
                | (
                    {"pod_relists": _num(model.pod_relist_seconds_per_relist)}
                    if model.pod_relist_seconds_per_relist
                    else {}
                ),
            },
            "causes": [
                {
                    "id": finding.id,
                    "score": round(finding.score, 3),
                    "title": finding.title,
                    "evidence": [
                        {"metric": e.metric, "value": _value(e.value), "note": e.note}
                        for e in finding.evidence
                    ],
                    "next_steps": list(finding.next_steps),
                }
                for finding in self.causes
            ],
            "notes": list(self.notes),
            "scrape": self.scrape.to_dict() if self.scrape is not None else None,
        }


def _num(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, 6)


def _int(value: float | None) -> int | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value)


def _value(value: float | int | str) -> float | int | str:
    if isinstance(value, float):
        number = _num(value)
        return number if number is not None else str(value)
    return value


def diagnose(
    window: Window,
    *,
    source: SourceInfo,
    runtime_request_timeout_seconds: float = DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS,
    select: Collection[str] | None = None,
    ignore: Collection[str] = (),
    scrape: ScrapeFacts | None = None,
    node_name: str | None = None,
) -> Report:
    """Diagnose one node's window: model, causes, verdict and notes.

    `scrape` is how the live endpoints answered the last scrape: a `/metrics` that blocked or
    answered late is evidence (`causes.scrape`), ranked with the rules' findings. The causes'
    next steps name the node (`causes.for_node`): the window's, or `node_name` when the
    window's is not a Kubernetes node name (fleet's `cluster/name`, a Prometheus instance);
    `""` when there is none, and `$NODE` stays.
    """
    last = window.last
    constants = constants_for(
        last.version,
        evented_gate=last.evented_gate,
        evented_errors=last.evented_errors,
        runtime_request_timeout_seconds=runtime_request_timeout_seconds,
    )
    model = evaluate(window, constants)
    bounded = ""
    if window.degenerate and not window.is_lifetime:
        model, bounded = _no_better_than_the_last_dump(window, model, constants)
    node = last.node if node_name is None else node_name
    seen = _scrape_findings(scrape, node=node, constants=constants)
    causes = rank(Context(window=window, model=model), select=select, ignore=ignore, seen=seen)
    causes = for_node(causes, node)
    verdict, reasons = judge(window, model, constants)
    notes = [*window.notes, *reading_notes(window, model, constants)]
    if bounded:
        notes.append(bounded)
    if scrape is not None and scrape.slow and scrape.metrics_seconds is not None:
        notes.append(
            f"{scrape.scrape_text()}: the capture time is the kubelet's clock when the request "
            f"started (its Date header minus the {scrape.metrics_seconds:.0f} s), when it read "
            "the values"
        )
    return Report(
        source=source,
        window=window,
        model=model,
        verdict=verdict,
        reasons=tuple(reasons),
        causes=causes,
        notes=tuple(notes),
        scrape=scrape,
    )


def _scrape_findings(
    scrape: ScrapeFacts | None, *, node: str | None, constants: PlegConstants
) -> tuple[Finding, ...]:
    """The finding of how the live endpoints answered (`causes.scrape`), if it gives one."""
    if scrape is None:
        return ()
    # Imported here: a dump's diagnosis (cron's `check FILE`) never loads it.
    from pleg_doctor.core.causes.scrape import scrape_finding

    finding = scrape_finding(
        scrape,
        node=node,
        runtime_request_timeout_seconds=constants.runtime_request_timeout_seconds,
    )
    return (finding,) if finding is not None else ()


def _no_better_than_the_last_dump(
    window: Window, model: ModelResult, constants: PlegConstants
) -> tuple[ModelResult, str]:
    """A window the dumps did not really make (a restart, dumps left out) claims no more
    headroom than its last dump alone: the worse of the two worst ages is kept."""
    single = evaluate(lifetime_window(window.last), constants)
    if single.headroom_seconds is None or (
        model.headroom_seconds is not None and model.headroom_seconds <= single.headroom_seconds
    ):
        return model, ""
    worst = [v for v in (model.worst_age_seconds, single.worst_age_seconds) if v is not None]
    predicted = [
        v
        for v in (model.predicted_worst_age_seconds, single.predicted_worst_age_seconds)
        if v is not None
    ]
    bounded = dataclasses.replace(
        model,
        headroom_seconds=single.headroom_seconds,
        worst_age_seconds=max(worst) if worst else None,
        predicted_worst_age_seconds=max(predicted) if predicted else None,
    )
    return bounded, (
        f"headroom {human_seconds(single.headroom_seconds)}, as the last dump alone gives: the "
        "window (a restart, dumps left out) does not earn more"
    )


def blocked_report(
    *,
    source: SourceInfo,
    node: str | None,
    scrape: ScrapeFacts,
    captured_at: float | None = None,
    runtime_request_timeout_seconds: float = DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS,
    select: Collection[str] | None = None,
    ignore: Collection[str] = (),
) -> Report:
    """The report when `/metrics` did not answer: no metric, but the endpoints said something.

    The verdict is what the other evidence supports: critical when the Node's Ready condition
    says "PLEG is not healthy", else unknown, with the likely cause named (runtime_hung when the
    kubelet answers `/healthz` but not `/metrics`). Every metric figure is null.
    """
    snapshot = build_snapshot(
        (), name=source.location, node=node, captured_at=captured_at, captured_at_origin="unknown"
    )
    window = lifetime_window(snapshot)
    constants = constants_for(
        None, evented_gate=None, runtime_request_timeout_seconds=runtime_request_timeout_seconds
    )
    model = evaluate(window, constants)
    seen = _scrape_findings(scrape, node=node, constants=constants)
    causes = rank(Context(window=window, model=model), select=select, ignore=ignore, seen=seen)
    causes = for_node(causes, node)
    likely = f": runtime likely hung ({causes[0].id})" if causes else ""
    first = f"{scrape.scrape_text()} while {scrape.health_text()}{likely}"
    reasons = [first]
    verdict: Verdict = "unknown"
    if scrape.pleg_unhealthy:
        verdict = "critical"
        reasons.append(f"the Node's Ready condition is False: {scrape.node_message}")
    notes = [
        f"no metrics: {scrape.scrape_text()}; the figures of the report are unknown",
        "the kubelet's /metrics lists sandboxes and containers from the runtime at scrape time "
        "(container-log metrics): with the runtime hung it waits up to the CRI timeout, while "
        "/healthz does not ask the runtime",
    ]
    if scrape.node_ready is None:
        notes.append(
            "the Node's Ready condition was not read (it needs --node): the verdict stays unknown"
        )
    return Report(
        source=source,
        window=window,
        model=model,
        verdict=verdict,
        reasons=tuple(reasons),
        causes=causes,
        notes=tuple(notes),
        scrape=scrape,
    )
