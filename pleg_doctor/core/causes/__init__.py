"""Ranked likely causes: one small rule per cause id, an explicit registry, ranking as data.

Each rule reads a `Context` and returns a scored `Finding` or None (its version or runtime prior
rules it out, PLEG-MODEL.md §7 "Guidance for ranking"). `rank()` runs the registry and sorts the
findings (`ranking_key`: informational causes last, then by score and id) before any renderer
sees them.
"""

from __future__ import annotations

from collections.abc import Collection

from pleg_doctor.core.causes.base import Context, Evidence, Finding, Rule, ranking_key
from pleg_doctor.core.causes.kubelet import ClockSkew, KubeletRestart, KubeletStarved
from pleg_doctor.core.causes.load import PodChurn, PodDensity
from pleg_doctor.core.causes.pleg import EventChannelFull, EventedPlegFallback, RelistDeadlock
from pleg_doctor.core.causes.runtime import Cni, ContainerWedged, RuntimeHung, RuntimeSlow

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
"""Every rule, one per CONTRACT.md cause id."""

CAUSE_IDS: tuple[str, ...] = tuple(rule.id for rule in RULES)

# Findings below this are noise on a healthy node; they are not reported.
REPORT_FLOOR = 0.1


def rank(
    ctx: Context,
    *,
    select: Collection[str] | None = None,
    ignore: Collection[str] = (),
) -> tuple[Finding, ...]:
    """Run the rules (limited by `select` / `ignore` cause ids) and rank their findings."""
    findings = []
    for rule in RULES:
        if (select and rule.id not in select) or rule.id in ignore:
            continue
        finding = rule.evaluate(ctx)
        if finding is not None and finding.score >= REPORT_FLOOR:
            findings.append(finding)
    return tuple(sorted(findings, key=ranking_key))


__all__ = ["CAUSE_IDS", "RULES", "Context", "Evidence", "Finding", "Rule", "rank", "ranking_key"]
