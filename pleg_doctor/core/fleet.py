"""Fleet mode's core: every node's report, ranked worst first, with a summary across the fleet.

`sources/prometheus/` turns a handful of PromQL answers into one `FleetNode` (a `Window` plus
what only the fleet source knows, e.g. "Prometheus cannot scrape this kubelet") per kubelet.
`diagnose_fleet()` runs the same `report.diagnose()` as `pleg-doctor diagnose` on each of them
(docs/architecture.md#decisions: same model, same causes), then ranks the reports and counts
verdicts and top causes. `FleetReport.to_dict()` builds the public JSON (docs/output.md#fleet-v1:
`{"schema": ..., "nodes": [the per-node objects of schema v1, ranked worst first], ...}`).

Ranking (docs/architecture.md#decisions, "worst first"): by verdict severity, critical, warning,
unknown, ok, then by headroom ascending (no headroom last within its verdict), then by node name.
`unknown` sits below `warning` on purpose: a node we cannot judge must not hide a node we know is
in trouble, yet it ranks above every healthy one so it is not overlooked. The exit code is the
verdict of the first node in that order (docs/output.md#exit-codes: the worst node's verdict),
so a fleet exits 3 only when nothing is critical or warning and some node cannot be judged.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from pleg_doctor.core.causes import Finding, merge
from pleg_doctor.core.constants import DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS
from pleg_doctor.core.durations import rfc3339
from pleg_doctor.core.report import SCHEMA, Report, SourceInfo, diagnose
from pleg_doctor.core.verdict import VERDICT_ORDER
from pleg_doctor.core.window import Window

if TYPE_CHECKING:
    from pleg_doctor.core.endpoints import ScrapeFacts

SEVERITY_RANK: dict[str, int] = {"critical": 0, "warning": 1, "unknown": 2, "ok": 3}
"""Position of each verdict in the fleet ranking, worst first (see the module docstring)."""

VERDICTS_WORST_FIRST: tuple[str, ...] = tuple(sorted(SEVERITY_RANK, key=SEVERITY_RANK.__getitem__))


@dataclasses.dataclass(frozen=True, kw_only=True)
class FleetNode:
    """One kubelet as the fleet source assembled it."""

    window: Window
    """Counters over the query range (`Window.is_lifetime` is False), gauges at the last scrape."""
    unknown_reason: str | None = None
    """Set when the source knows there is nothing to judge and why (scrape failing, no PLEG
    series); the node's verdict is then `unknown` with this reason (also its first note),
    whatever the data says."""
    notes: tuple[str, ...] = ()
    """What the fleet source adds to the report's notes (e.g. too few scrapes in the range)."""
    findings: tuple[Finding, ...] = ()
    """Causes the source itself saw rather than read in metrics; ranked with the rules'
    findings."""
    scrape: ScrapeFacts | None = None
    """How the node's endpoints answered a live scrape (`scan`), as for `diagnose`: the report's
    `scrape`, and `runtime_hung` when its `/metrics` blocked while `/healthz` answered."""
    node_name: str | None = None
    """The Kubernetes node's name, for the next-step commands: the window's `node` is how the
    fleet shows it (`cluster/name`, or the Prometheus instance when no label names the node)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class RankedReports:
    """Many nodes' reports, ranked worst first, and what they add up to (`fleet`, `scan`)."""

    reports: tuple[Report, ...]
    """Ranked worst first (`rank_reports`)."""

    @property
    def worst(self) -> Report | None:
        """The first node of the ranking, None for an empty fleet."""
        return self.reports[0] if self.reports else None

    @property
    def exit_code(self) -> int:
        """The worst node's Nagios code; 3 (UNKNOWN) for an empty fleet."""
        worst = self.worst
        return worst.exit_code if worst is not None else VERDICT_ORDER["unknown"]

    def by_verdict(self) -> dict[str, int]:
        """Nodes per verdict, every verdict present, worst first."""
        counts = dict.fromkeys(VERDICTS_WORST_FIRST, 0)
        for report in self.reports:
            counts[report.verdict] += 1
        return counts

    def by_top_cause(self) -> dict[str, int]:
        """Nodes per top-ranked cause id, most frequent first (nodes without a cause omitted)."""
        counts: dict[str, int] = {}
        for report in self.reports:
            if report.causes:
                cause = report.causes[0].id
                counts[cause] = counts.get(cause, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def summary(self) -> dict[str, Any]:
        """The JSON `summary`: counts by verdict and by top cause, over every node."""
        return {"by_verdict": self.by_verdict(), "by_top_cause": self.by_top_cause()}

    def nodes(self, *, top: int | None = None) -> list[dict[str, Any]]:
        """The JSON `nodes`: each node's object of schema v1, worst first, the first `top`."""
        shown = self.reports if top is None else self.reports[:top]
        return [report.to_dict() for report in shown]


@dataclasses.dataclass(frozen=True, kw_only=True)
class FleetReport(RankedReports):
    """Every node's report, ranked worst first, and where the data came from."""

    prometheus: str
    """The Prometheus-compatible API the data came from (no credentials)."""
    selector: str
    """The label matchers every query used."""
    evaluated_at: float
    """Unix seconds the instant queries were evaluated at (Prometheus' clock, or `--at`)."""
    range_seconds: float
    """The window of `increase()` (`--range`): every node's counters cover it."""
    recorded: bool = False
    """The histograms' measurements came from the recording rules of `pleg-doctor rules`."""

    def to_dict(self, *, top: int | None = None) -> dict[str, Any]:
        """The fleet JSON (schema `pleg-doctor/v1`); `top` keeps only the first N nodes.

        The summary always counts the whole fleet, also when `top` shortens `nodes`.
        """
        return {
            "schema": SCHEMA,
            "prometheus": self.prometheus,
            "selector": self.selector,
            "evaluated_at": rfc3339(self.evaluated_at),
            "range_seconds": seconds_value(self.range_seconds),
            "recording_rules": self.recorded,
            "summary": self.summary(),
            "nodes": self.nodes(top=top),
        }


def human_duration(seconds: float) -> str:
    """`300` → `5m`, `90` → `90s`, `3600` → `1h`: how messages and the table name `--range`."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


def seconds_value(value: float) -> float | int:
    """Seconds as the JSON shows them: an int when whole, else 3 decimals."""
    return int(value) if float(value).is_integer() else round(value, 3)


def rank_key(report: Report) -> tuple[int, float, str]:
    """Sort key of the ranking: verdict severity, then headroom ascending, then node name."""
    headroom = report.model.headroom_seconds
    if headroom is None or math.isnan(headroom):
        headroom = math.inf
    return SEVERITY_RANK[report.verdict], headroom, report.node or ""


def rank_reports(reports: Sequence[Report]) -> tuple[Report, ...]:
    """The reports worst first (`rank_key`)."""
    return tuple(sorted(reports, key=rank_key))


def diagnose_node(
    node: FleetNode,
    *,
    source: SourceInfo,
    runtime_request_timeout_seconds: float = DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS,
    select: Collection[str] | None = None,
    ignore: Collection[str] = (),
) -> Report:
    """`report.diagnose()` on one node, then the fleet source's verdict override and notes."""
    report = diagnose(
        node.window,
        source=source,
        runtime_request_timeout_seconds=runtime_request_timeout_seconds,
        select=select,
        ignore=ignore,
        scrape=node.scrape,
        node_name=node.node_name or "",
    )
    if node.unknown_reason is not None:
        # The JSON has no `reasons`: the reason also leads the notes ("what could not be judged
        # and why", docs/output.md#v1), so scripts reading `-o json` see it.
        report = dataclasses.replace(
            report,
            verdict="unknown",
            reasons=(node.unknown_reason,),
            notes=(node.unknown_reason, *report.notes),
        )
    if node.notes:
        report = dataclasses.replace(report, notes=(*report.notes, *node.notes))
    if node.findings:
        report = dataclasses.replace(report, causes=merge_causes(node.findings, report.causes))
    return report


def merge_causes(seen: Sequence[Finding], scored: Sequence[Finding]) -> tuple[Finding, ...]:
    """`seen` (by the source) and `scored` (by the rules) ranked together, one finding per id
    (`causes.merge`: the higher score wins, with the evidence and next steps of both)."""
    return merge(scored, seen)


def diagnose_fleet(
    nodes: Sequence[FleetNode],
    *,
    prometheus: str,
    selector: str,
    evaluated_at: float,
    range_seconds: float,
    runtime_request_timeout_seconds: float = DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS,
    select: Collection[str] | None = None,
    ignore: Collection[str] = (),
    recorded: bool = False,
) -> FleetReport:
    """Diagnose every node like `pleg-doctor diagnose` does and rank them worst first.

    `prometheus` becomes each report's `source.location` (kind `prometheus`); `select` and
    `ignore` limit the cause ids as for `diagnose`; `recorded` says where the histograms'
    measurements came from (the JSON's `recording_rules`).
    """
    source = SourceInfo(kind="prometheus", location=prometheus)
    reports = [
        diagnose_node(
            node,
            source=source,
            runtime_request_timeout_seconds=runtime_request_timeout_seconds,
            select=select,
            ignore=ignore,
        )
        for node in nodes
    ]
    return FleetReport(
        prometheus=prometheus,
        selector=selector,
        evaluated_at=evaluated_at,
        range_seconds=range_seconds,
        reports=rank_reports(reports),
        recorded=recorded,
    )
