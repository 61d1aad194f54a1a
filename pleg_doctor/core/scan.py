"""`scan`'s core: every node scraped through the API server, diagnosed like `fleet` and ranked.

Each node is what its scrapes gave (`scanned_node`): one scrape (lifetime counters), two (the
window between the passes of `--window`), or none, with the reason. A node is never dropped: a
scrape refused, failed or blocked makes the node `unknown` with the reason first in its notes.
How its endpoints answered (`ScrapeFacts`, as `diagnose` describes a live scrape) goes into the
report: its JSON `scrape`, and for a `/metrics` that blocked while the kubelet's `/healthz`
answered the `runtime_hung` finding of `causes.scrape`, the same as `diagnose` and `check` give.
Then the same `report.diagnose()` as `diagnose` and `fleet` on each (`fleet.diagnose_node`), the
same ranking (`fleet.rank_reports`) and the same JSON for each node.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pleg_doctor.core.causes import Finding
from pleg_doctor.core.constants import DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS
from pleg_doctor.core.durations import rfc3339
from pleg_doctor.core.fleet import (
    FleetNode,
    RankedReports,
    diagnose_node,
    rank_reports,
    seconds_value,
)
from pleg_doctor.core.report import SCHEMA, SourceInfo
from pleg_doctor.core.snapshot import Snapshot, build_snapshot
from pleg_doctor.core.window import lifetime_window, window_between

if TYPE_CHECKING:
    from pleg_doctor.core.endpoints import ScrapeFacts

ScrapeOutcome = Literal["ok", "blocked", "refused", "unreachable", "error"]
"""How a node's scrape went: metrics read; `/metrics` blocked past the deadline while `/healthz`
answered; the API server refused (401/403); neither `/metrics` nor `/healthz` answered, or the
connection failed; any other failure (a status the proxy returned, a body that is not metrics)."""

OUTCOMES: tuple[ScrapeOutcome, ...] = ("ok", "blocked", "refused", "unreachable", "error")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScanNode(FleetNode):
    """One node of the scan: a `FleetNode` plus its name, its proxy URL and how the scrape went."""

    node: str
    location: str
    """The node-proxy URL of its `/metrics` (no credentials)."""
    outcome: ScrapeOutcome


def scanned_node(
    *,
    node: str,
    location: str,
    snapshots: Sequence[Snapshot],
    outcome: ScrapeOutcome,
    scanned_at: float,
    problem: str | None = None,
    findings: Sequence[Finding] = (),
    scrape: ScrapeFacts | None = None,
) -> ScanNode:
    """A node from what its scrapes gave, in pass order (the last scrape may have failed).

    `problem` (when the last scrape failed: the reason) makes the node `unknown`; the figures,
    if an earlier pass read any, are from then and a note says so. Without any snapshot the
    window is an empty scrape at `scanned_at` (Unix seconds, when the scan ended). `scrape` is
    how the endpoints answered the last scrape (`NodeScrape.facts`).
    """
    notes: list[str] = []
    usable = [s for s in snapshots if s.captured_at is not None]
    if len(usable) >= 2:
        window = window_between(sorted(usable, key=lambda s: s.captured_at or 0.0))
    elif snapshots:
        window = lifetime_window(snapshots[-1])
        if len(snapshots) >= 2:
            notes.append(
                "the kubelet's answers carried no Date header: the last scrape is diagnosed alone"
            )
    else:
        empty = build_snapshot(
            (), name=location, node=node, captured_at=scanned_at, captured_at_origin="at"
        )
        window = lifetime_window(empty)
    if problem is not None and snapshots:
        when = rfc3339(snapshots[-1].captured_at)
        notes.append(f"the figures are from an earlier pass, which read its metrics at {when}")
    return ScanNode(
        window=window,
        unknown_reason=problem,
        notes=tuple(notes),
        findings=tuple(findings),
        scrape=scrape,
        node_name=node,
        node=node,
        location=location,
        outcome=outcome,
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScanReport(RankedReports):
    """Every scanned node's report, ranked worst first, and how the scan ran."""

    apiserver: str
    """The API server's URL (the kubeconfig's, no credentials)."""
    selector: str | None
    """The label selector of the node list (`--selector`), None for every node."""
    scanned_at: float
    """Unix seconds (local clock) when the last scrape ended."""
    window_seconds: float | None
    """The time between the two passes of `--window`; None for one pass (lifetime counters)."""
    outcomes: tuple[ScrapeOutcome, ...]
    """How each node's (last) scrape went, one per report (in no particular order)."""

    def by_scrape(self) -> dict[str, int]:
        """Nodes per scrape outcome, every outcome present."""
        counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        for outcome in self.outcomes:
            counts[outcome] += 1
        return counts

    def to_dict(self, *, top: int | None = None) -> dict[str, Any]:
        """The scan JSON: `fleet`'s shape (schema `pleg-doctor/v1`), the API server for its
        Prometheus, `range_seconds` the window between passes (null: one pass), and the summary
        also counts the scrape outcomes (`by_scrape`). The summary counts every node."""
        return {
            "schema": SCHEMA,
            "apiserver": self.apiserver,
            "selector": self.selector,
            "evaluated_at": rfc3339(self.scanned_at),
            "range_seconds": None
            if self.window_seconds is None
            else seconds_value(self.window_seconds),
            "summary": {**self.summary(), "by_scrape": self.by_scrape()},
            "nodes": self.nodes(top=top),
        }


def diagnose_scan(
    nodes: Sequence[ScanNode],
    *,
    apiserver: str,
    selector: str | None,
    scanned_at: float,
    window_seconds: float | None,
    runtime_request_timeout_seconds: float = DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS,
    select: Collection[str] | None = None,
    ignore: Collection[str] = (),
) -> ScanReport:
    """Diagnose every node like `diagnose` does (source kind `apiserver`, location its proxy
    URL) and rank them worst first."""
    reports = [
        diagnose_node(
            node,
            source=SourceInfo(kind="apiserver", location=node.location),
            runtime_request_timeout_seconds=runtime_request_timeout_seconds,
            select=select,
            ignore=ignore,
        )
        for node in nodes
    ]
    return ScanReport(
        reports=rank_reports(reports),
        apiserver=apiserver,
        selector=selector,
        scanned_at=scanned_at,
        window_seconds=window_seconds,
        outcomes=tuple(node.outcome for node in nodes),
    )
