"""`LogsResult`: everything one kubelet log says about PLEG, and its `logs-v1` JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Literal

from pleg_doctor.logs.clock import rfc3339
from pleg_doctor.logs.culprits import Culprit
from pleg_doctor.logs.timeline import Occurrences, TimelineSummary, UnhealthyPeriod

SCHEMA = "pleg-doctor/logs-v1"

Verdict = Literal["ok", "warning", "critical", "unknown"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class LogsResult:
    """Everything one kubelet log says about PLEG: counts, timeline, culprits, notes."""

    lines_read: int
    lines_skipped: int
    """Lines that are not kubelet records (other units, foreign JSON, garbage)."""
    kubelet_lines: int
    lines_continued: int
    """Hard-wrapped continuation lines glued to their record."""
    first_time: dt.datetime | None
    last_time: dt.datetime | None
    timeline: TimelineSummary
    culprits: tuple[Culprit, ...]
    """Containers, sandboxes and pods whose calls failed, most errors first."""
    runtime_failures: tuple[Culprit, ...]
    """Whole-runtime calls that failed (lists, status, images), kind `runtime`."""
    runtime_unavailable: Occurrences
    """Calls that failed because the runtime could not be reached (socket gone, refused)."""
    ignored: dict[str, int]
    """Failures not blamed on anything: `notfound`, `unimplemented`."""
    year: int
    year_origin: Literal["given", "log", "assumed"]
    utc_offset_minutes: int | None
    notes: tuple[str, ...]
    node_names: tuple[str, ...] = ()
    """The nodes the log names (a `node` field, a journald host), most often named first: whose
    log it is, to check against the metrics' node."""

    @property
    def unhealthy_periods(self) -> tuple[UnhealthyPeriod, ...]:
        """Incident periods (start-up noise left out; it is in `timeline.periods`)."""
        return self.timeline.incidents

    @property
    def not_ready_transitions(self) -> int:
        """NotReady transitions logged."""
        return self.timeline.not_ready_transitions

    @property
    def relist_failures(self) -> int:
        """`GenericPLEG: Unable to retrieve pods` lines."""
        return self.timeline.relist_failures.count

    @property
    def timeouts(self) -> int:
        """Calls that hit the CRI timeout, culprits and whole-runtime together."""
        return sum(c.deadline_exceeded for c in (*self.culprits, *self.runtime_failures))

    @property
    def verdict(self) -> Verdict:
        """critical: PLEG still unhealthy at the end of the log; warning: any incident, NotReady
        outside start-up, failed relist, discarded event, runtime down or CRI timeout; ok:
        none; unknown: no kubelet line at all."""
        if self.kubelet_lines == 0:
            return "unknown"
        incidents = self.unhealthy_periods
        if any(p.end is None for p in incidents):
            return "critical"
        timeline = self.timeline
        if (
            incidents
            or any(not t.ready and not t.startup for t in timeline.transitions)
            or timeline.relist_failures.count
            or timeline.discarded_events.count
            or timeline.runtime_down.count
            or timeline.evented_errors.count
            or self.runtime_unavailable.count
            or self.timeouts
        ):
            return "warning"
        return "ok"

    def to_dict(self) -> dict[str, Any]:
        """The `pleg-doctor/logs-v1` object (docs/output.md#logs-v1), built field by field."""
        return {
            "schema": SCHEMA,
            "lines_read": self.lines_read,
            "lines_skipped": self.lines_skipped,
            "first_time": rfc3339(self.first_time),
            "last_time": rfc3339(self.last_time),
            "unhealthy_periods": [
                {
                    "start": rfc3339(p.start),
                    "end": rfc3339(p.end),
                    "max_age_seconds": round(p.max_age_seconds, 6),
                    "messages": p.messages,
                }
                for p in self.unhealthy_periods
            ],
            "not_ready_transitions": self.not_ready_transitions,
            "relist_failures": self.relist_failures,
            "culprits": [
                {
                    "kind": c.kind,
                    "id": c.id,
                    "pod": c.pod,
                    "operation": c.operation,
                    "errors": c.errors,
                    "deadline_exceeded": c.deadline_exceeded,
                    "first": rfc3339(c.first),
                    "last": rfc3339(c.last),
                    "example": c.example,
                }
                for c in self.culprits
            ],
            "notes": list(self.notes),
        }
