"""Ranked likely causes: one small rule per cause id, an explicit registry, ranking as data.

Each rule reads a `Context` and returns a scored `Finding` or None (its version or runtime prior
rules it out: the priors of docs/model.md#causes). `rank()` runs the registry and sorts the
findings (`ranking_key`: informational causes last, then by score and id) before any renderer
sees them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

from pleg_doctor.core.causes.base import Context, Evidence, Finding, Rule, ranking_key
from pleg_doctor.core.causes.kubelet import ClockSkew, KubeletRestart, KubeletStarved
from pleg_doctor.core.causes.load import PodChurn, PodDensity
from pleg_doctor.core.causes.pleg import EventChannelFull, EventedPlegFallback, RelistDeadlock
from pleg_doctor.core.causes.runtime import Cni, ContainerWedged, RuntimeHung, RuntimeSlow
from pleg_doctor.core.printable import name_node

RULES: tuple[Rule, ...] = (
    RuntimeHung(),
    ContainerWedged(),
    RuntimeSlow(),
    PodDensity(),
    PodChurn(),
    Cni(),
    RelistDeadlock(),
    EventChannelFull(),
    EventedPlegFallback(),
    KubeletStarved(),
    KubeletRestart(),
    ClockSkew(),
)
"""Every rule, one per cause id (docs/output.md#cause-ids)."""

CAUSE_IDS: tuple[str, ...] = tuple(rule.id for rule in RULES)

# Findings below this are noise on a healthy node; they are not reported.
REPORT_FLOOR = 0.1


def rank(
    ctx: Context,
    *,
    select: Collection[str] | None = None,
    ignore: Collection[str] = (),
    seen: Sequence[Finding] = (),
) -> tuple[Finding, ...]:
    """Run the rules (limited by `select` / `ignore` cause ids) and rank their findings, with
    `seen`: findings of what the source saw rather than read in the metrics (a `/metrics` that
    blocked, `causes.scrape`), under the same selection and floor (`merge`)."""
    findings = []
    for rule in RULES:
        if (select and rule.id not in select) or rule.id in ignore:
            continue
        finding = rule.evaluate(ctx)
        if finding is not None and finding.score >= REPORT_FLOOR:
            findings.append(finding)
    kept = [
        f
        for f in seen
        if not ((select and f.id not in select) or f.id in ignore) and f.score >= REPORT_FLOOR
    ]
    return merge(findings, kept)


def merge(scored: Sequence[Finding], seen: Sequence[Finding]) -> tuple[Finding, ...]:
    """`scored` (by the rules) and `seen` (by the source) ranked together, one finding per id.

    When both name a cause, the higher score wins (the rules' on a tie), with the evidence of
    both, the winner's first, and the next steps of both, the winner's first and none twice.
    """
    merged: dict[str, Finding] = {}
    for finding in (*scored, *seen):
        known = merged.get(finding.id)
        if known is None:
            merged[finding.id] = finding
            continue
        best, other = (finding, known) if finding.score > known.score else (known, finding)
        merged[finding.id] = dataclasses.replace(
            best,
            evidence=(*best.evidence, *other.evidence),
            next_steps=tuple(dict.fromkeys((*best.next_steps, *other.next_steps))),
        )
    return tuple(sorted(merged.values(), key=ranking_key))


def for_node(findings: Sequence[Finding], node: str | None) -> tuple[Finding, ...]:
    """`findings` with the node's name in their next steps: the rules write `$NODE` where it
    goes (they see metrics, not where they came from), and the report, which knows the node,
    names it once here for every cause (`printable.name_node`: one quoted shell word). Unknown
    node: the findings as they are."""
    if not node:
        return tuple(findings)
    return tuple(
        Finding(
            id=finding.id,
            score=finding.score,
            title=finding.title,
            evidence=finding.evidence,
            next_steps=tuple(name_node(step, node) for step in finding.next_steps),
        )
        for finding in findings
    )


__all__ = [
    "CAUSE_IDS",
    "RULES",
    "Context",
    "Evidence",
    "Finding",
    "Rule",
    "for_node",
    "merge",
    "rank",
    "ranking_key",
]
