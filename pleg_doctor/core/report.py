"""The diagnosis of one node: verdict, headroom, relist figures, ranked causes, notes.

`diagnose()` is the pure core's entry point (Window in, Report out); `Report.to_dict()` builds the
public JSON schema `pleg-doctor/v1` (CONTRACT.md) field by field, so no internal name leaks into
what scripts depend on, and no NaN or Infinity ever reaches it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Literal

from pleg_doctor.core.causes import Context, Finding, rank
from pleg_doctor.core.distribution import DEF_BUCKETS_TOP_SECONDS, OpStats
from pleg_doctor.core.durations import human_seconds
from pleg_doctor.core.model import (
    DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS,
    RELIST_OPS,
    ModelResult,
    PlegConstants,
    constants_for,
    evaluate,
    op_timeouts,
)
from pleg_doctor.core.snapshot import build_snapshot
from pleg_doctor.core.window import Window, lifetime_window

if TYPE_CHECKING:
    from pleg_doctor.core.endpoints import ScrapeFacts

SCHEMA = "pleg-doctor/v1"

Verdict = Literal["ok", "warning", "critical", "unknown"]
VERDICT_ORDER: dict[str, int] = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}
"""Also the exit code of each verdict (Nagios)."""

MAX_REJECTED_SHOWN = 5
"""Set-aside values named in the note (the rest are counted)."""

# kubernetes-mixin KubeletPlegDurationHigh: p99 relist ≥ 10 s (ANCHORS.md §3.1) → warning.
P99_WARNING_SECONDS = 10.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class SourceInfo:
    """Where the data came from (JSON `source`)."""

    kind: str
    location: str


@dataclasses.dataclass(frozen=True, kw_only=True)
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


def rfc3339(epoch: float | None) -> str | None:
    """Unix seconds → `2026-11-27T10:00:00Z` (milliseconds when not whole)."""
    if epoch is None or not math.isfinite(epoch):
        return None
    try:
        moment = dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None  # beyond what a datetime holds: no time to show
    text = moment.isoformat(timespec="milliseconds" if epoch % 1 else "seconds")
    return text.replace("+00:00", "Z")


def diagnose(
    window: Window,
    *,
    source: SourceInfo,
    runtime_request_timeout_seconds: float = DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS,
    select: Collection[str] | None = None,
    ignore: Collection[str] = (),
    scrape: ScrapeFacts | None = None,
) -> Report:
    """Diagnose one node's window: model, causes, verdict and notes.

    `scrape` is how the live endpoints answered the last scrape: a `/metrics` that blocked or
    answered late is evidence (`causes.scrape`), ranked with the rules' findings.
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
    seen = _scrape_findings(scrape, node=last.node, constants=constants)
    causes = rank(Context(window=window, model=model), select=select, ignore=ignore, seen=seen)
    verdict, reasons = _verdict(window, model, constants)
    notes = [*window.notes, *_notes(window, model, constants)]
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


def _verdict(
    window: Window, model: ModelResult, constants: PlegConstants
) -> tuple[Verdict, list[str]]:
    """The verdict at the moment of the data: critical, then warning, else ok; unknown without
    data (the README's exit codes table).

    Critical: the health clock's age reached the threshold at a scrape (the last, or any scrape of
    a window), no relist completed for that long, or the steady state crosses it. Warning: less
    than half the threshold left; a relist runtime call hit the CRI timeout; ≥ 1 % of relists over
    10 s (p99 ≥ 10 s, kubernetes-mixin `KubeletPlegDurationHigh`); PLEG events discarded;
    EventedPLEG falling back; a stalled relist when no last-seen age can bound it. A window counts
    what happened in it; a single scrape counts since the kubelet started (lifetime counters: a
    timeout since then is a timeout at that moment, one scrape cannot tell when).
    """
    last = window.last
    threshold = constants.relist_threshold_seconds
    if not last.has_pleg_metrics:
        return "unknown", [
            "no PLEG metric in the data (kubelet_pleg_relist_* / kubelet_pleg_last_seen_seconds): "
            "is this a kubelet /metrics dump? (cAdvisor is /metrics/cadvisor)"
        ]
    critical: list[str] = []
    warning: list[str] = []
    unusable = _unusable_figures(window, model, constants)
    age = model.last_seen_age_seconds
    peak = model.peak_age_seconds
    if age is not None and age >= threshold:
        critical.append(
            f"PLEG last seen active {human_seconds(age)} ago: past the {threshold:.0f} s threshold"
        )
    elif peak is not None and peak >= threshold:
        at = model.peak_age_captured_at
        scrape = f"the scrape at {rfc3339(at)}" if at is not None else "a scrape of the window"
        critical.append(
            f"PLEG last seen active {human_seconds(peak)} before {scrape}: past the "
            f"{threshold:.0f} s threshold inside the window"
            + (f" ({human_seconds(age)} at its end)" if age is not None else "")
        )
    if model.stalled_for_seconds is not None and model.stalled_for_seconds >= threshold:
        critical.append(
            f"no relist completed for at least {human_seconds(model.stalled_for_seconds)}"
        )
    elif window.quiet_seconds is not None and window.quiet_seconds >= threshold:
        critical.append(
            f"no relist completed for {human_seconds(window.quiet_seconds)} between scrapes of "
            "the window"
        )
    if (
        model.predicted_worst_age_seconds is not None
        and model.predicted_worst_age_seconds >= threshold
    ):
        critical.append(
            f"steady state crosses the threshold: worst age ≈ "
            f"{human_seconds(model.predicted_worst_age_seconds)} ≥ {threshold:.0f} s"
        )
    if critical:
        return "critical", critical
    if unusable:
        # Nothing past the threshold was seen, but the figure that would show it is missing:
        # neither OK nor a warning can be told honestly.
        return "unknown", unusable
    headroom = model.headroom_seconds
    limit = model.headroom_warning_seconds
    if headroom is not None and model.headroom_low and limit is not None:
        # `terms.HEADROOM_LOW`, the rules' `headroom_low`: half the threshold for the generic
        # PLEG; under EventedPLEG half of what the loop can use past its 300 s period.
        warning.append(
            f"headroom {human_seconds(headroom)} is under half the {threshold:.0f} s threshold"
            if limit == threshold / 2
            else f"headroom {human_seconds(headroom)} is under {human_seconds(limit)}: half of "
            f"what the relist loop can use of the {threshold:.0f} s threshold past its "
            f"{constants.relist_period_seconds:.0f} s period"
        )
    if model.stalled and age is None:
        # With a last-seen age the age itself is judged; without one, a stall is all there is.
        warning.append(
            f"no relist completed for {human_seconds(model.stalled_for_seconds or 0)}: "
            "a relist is hanging"
        )
    where = "since the kubelet started" if window.is_lifetime else "in the window"
    relist = window.relist_duration
    if relist is not None and relist.buckets:
        over = relist.count_above(DEF_BUCKETS_TOP_SECONDS)
        total = relist.total
        if over and total > 0 and over / total >= 0.01:
            warning.append(
                f"p99 relist ≥ {P99_WARNING_SECONDS:.0f} s {where} "
                f"({over:.0f} of {total:.0f} relists over 10 s; KubeletPlegDurationHigh)"
            )
    timeouts = _relist_call_timeouts(window)
    if timeouts:
        warning.append(f"{timeouts:.0f} runtime call(s) hit the CRI timeout {where}")
    if window.discard_events:
        warning.append(f"{window.discard_events:.0f} PLEG event(s) discarded {where}")
    if window.is_lifetime and relist is not None and relist.quantiles and not relist.buckets:
        recent = relist.quantile(0.99)
        if recent is not None and recent >= P99_WARNING_SECONDS:
            warning.append(f"recent p99 relist {recent:.1f} s ≥ {P99_WARNING_SECONDS:.0f} s")
    if constants.mode == "evented" and (
        constants.evented_fallen_back or (not window.is_lifetime and window.evented_errors)
    ):
        warning.append("EventedPLEG stream errors: falling back to generic relisting")
    if warning:
        return "warning", warning
    if headroom is None:
        return "unknown", [
            "the data cannot bound the worst PLEG age (no relist duration and no last-seen age)"
        ]
    return "ok", [f"headroom {human_seconds(headroom)} of {threshold:.0f} s"]


def _unusable_figures(window: Window, model: ModelResult, constants: PlegConstants) -> list[str]:
    """Why the verdict cannot be OK: a set-aside last-seen time, or a model figure not finite.

    `kubelet_pleg_last_seen_seconds` is the clock the kubelet's own `Healthy()` reads
    (`pkg/kubelet/pleg/generic.go`); a NaN or out-of-range value there means the age of the last
    relist is unknown, so a verdict built without it would be a guess. Under EventedPLEG the
    gauge carries no staleness and is not read at all. The second check is the last line of
    defence: a NaN headroom compares false with every threshold and once read as OK.
    """
    reasons: list[str] = []
    rejected = window.last.rejected_family("last_seen")
    if rejected is not None and constants.mode != "evented":
        reasons.append(
            f"{rejected.text}: the age of the last relist cannot be judged, so neither can "
            "PLEG health"
        )
    figures = {
        "headroom": model.headroom_seconds,
        "worst age": model.worst_age_seconds,
        "last-seen age": model.last_seen_age_seconds,
    }
    broken = [
        name for name, value in figures.items() if value is not None and not math.isfinite(value)
    ]
    if broken:
        reasons.append(
            f"the model's {', '.join(broken)} is not a finite number: the data is inconsistent"
        )
    return reasons


def _relist_call_timeouts(window: Window) -> float:
    """Relist runtime calls that hit the CRI timeout: in a window, every timeout-sized call;
    over a lifetime, only those the (119.2, 298] bucket proves (≥ 1.20): DefBuckets' "over 10 s"
    since start is history of unknown size, reported in the notes."""
    ops = [window.runtime_ops.get(op) for op in RELIST_OPS]
    if window.is_lifetime:
        return sum((op.timeouts or 0.0) for op in ops if op is not None)
    return sum(op_timeouts(op) or 0.0 for op in ops)


def _notes(window: Window, model: ModelResult, constants: PlegConstants) -> list[str]:
    """What the data could not tell, and how it was read."""
    notes: list[str] = []
    last = window.last
    rejected = [r.text for s in (window.first, last) if s is not None for r in s.rejected]
    if rejected:
        unique = list(dict.fromkeys(rejected))
        more = (
            f" and {len(unique) - MAX_REJECTED_SHOWN} more"
            if len(unique) > MAX_REJECTED_SHOWN
            else ""
        )
        notes.append(
            "values no kubelet exposes were ignored: "
            + "; ".join(unique[:MAX_REJECTED_SHOWN])
            + more
        )
    if window.is_lifetime:
        uptime = last.uptime_seconds
        since = f" ({uptime / 3600:.1f} h of kubelet uptime)" if uptime is not None else ""
        notes.append(
            "single scrape: counters are lifetime totals since the kubelet started"
            f"{since}; for rates now, take two scrapes (--window 30s, or two dumps)"
        )
    else:
        notes.append(
            f"window of {window.scrapes} scrapes over "
            + (f"{window.seconds:.0f} s" if window.seconds is not None else "an unknown time")
        )
        if window.restarted:
            notes.append(
                "the kubelet restarted inside the window (counters reset); deltas count from the "
                "restart, never negative"
            )
    notes.extend(model.explanations)
    origin = last.captured_at_origin
    if origin == "estimated":
        upper = last.captured_at_upper
        span = f" and {rfc3339(upper)}" if upper is not None else " or later"
        notes.append(
            f"capture time not recorded: bounded from the dump's own clocks between "
            f"{rfc3339(last.captured_at)}{span}; ages are lower bounds"
        )
    elif origin == "unknown":
        notes.append("capture time unknown: the current PLEG age cannot be judged")
    if last.version is None:
        notes.append("kubelet version unknown: current kubelet behaviour assumed")
    elif last.version_range is not None:
        notes.append(
            f"no kubernetes_build_info: kubelet {last.version_range} inferred from the metric "
            f"names; the model assumes v{last.version[0]}.{last.version[1]}, the oldest they allow"
        )
    if constants.mode == "evented":
        notes.append(
            "EventedPLEG gate on: kubelet_pleg_last_seen_seconds is overwritten with 'now' and "
            "carries no staleness; relist progress is used instead"
        )
    elif not constants.has_last_seen:
        notes.append(
            "no kubelet_pleg_last_seen_seconds before 1.18: the current age of the last relist "
            "is unknown from one scrape"
        )
    relist = window.relist_duration
    summary = last.relist_duration_summary
    if relist is not None and relist.buckets and summary is not None:
        over = relist.count_above(DEF_BUCKETS_TOP_SECONDS)
        recent = summary.summary_quantile(0.99)
        if (
            over
            and recent is not None
            and not math.isnan(recent)
            and recent < DEF_BUCKETS_TOP_SECONDS
        ):
            notes.append(
                f"the deprecated µs summary says p99 {recent:.3f} s (last 10 min), yet the "
                f"histogram holds {over:.0f} relists over 10 s: the summary hides the tail"
            )
    if window.is_lifetime and relist is not None:
        over = relist.count_above(DEF_BUCKETS_TOP_SECONDS)
        if over:
            tail = relist.over_top_mean_seconds()
            notes.append(
                f"{over:.0f} relists took over 10 s since the kubelet started"
                + (f" (≈ {tail:.0f} s each on average)" if tail is not None else "")
                + "; one scrape cannot tell when"
            )
        timeouts = sum(op_timeouts(window.runtime_ops.get(op)) or 0.0 for op in RELIST_OPS)
        if timeouts:
            notes.append(
                f"{timeouts:.0f} relist runtime call(s) took timeout-sized latencies since the "
                "kubelet started; one scrape cannot tell when"
            )
        if window.discard_events:
            notes.append(
                f"{window.discard_events:.0f} PLEG events discarded since the kubelet started"
            )
    if last.runtime_buckets == "default":
        notes.append(
            "runtime latency histograms use DefBuckets (≤ 1.19): calls over 10 s are counted as "
            "timeouts"
        )
    elif not last.runtime_buckets and window.runtime_ops:
        notes.append("runtime latencies are summaries (≤ 1.13): timeouts cannot be counted")
    if not window.runtime_ops:
        notes.append("no kubelet_runtime_operations metrics: the relist cost cannot be modelled")
    if last.pod_relist_duration is not None and last.pod_relist_duration.count:
        mean = last.pod_relist_duration.mean_seconds
        notes.append(
            f"1.36 per-pod relists: {last.pod_relist_duration.count:.0f}"
            + (f", mean {mean:.3f} s" if mean is not None else "")
            + "; they share the relist lock"
        )
    return notes
