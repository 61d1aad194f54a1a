"""The `notes` of a logs result: what the counts mean, and what the log could not say.

The `pleg-doctor/logs-v1` schema has fields for the central figures only (periods, NotReady
transitions, failed relists, culprits); everything else the timeline found (flapping, discarded
events, runtime down, Evented PLEG failures, whole-runtime failures, start-up noise) and every
assumption made (the year, the time zone, inferred links) is said here, one sentence each.
"""

from __future__ import annotations

from collections.abc import Sequence

from pleg_doctor.logs.clock import Clock, rfc3339
from pleg_doctor.logs.parse import NEVER_SECONDS
from pleg_doctor.logs.result import LogsResult
from pleg_doctor.logs.scanner import ScanStats
from pleg_doctor.logs.timeline import FLAP_WINDOW_SECONDS, Occurrences


def _span(occurrences: Occurrences) -> str:
    first, last = rfc3339(occurrences.first), rfc3339(occurrences.last)
    if first is None:
        return ""
    return f" at {first}" if first == last else f" from {first} to {last}"


def format_age(seconds: float) -> str:
    """A Go-like duration for people: `3m8s`, `16h14m`, `3d4h`, `never` (Go's maximum duration)."""
    if seconds >= NEVER_SECONDS * 0.999:
        return "never"
    whole = round(seconds)
    days, whole = divmod(whole, 86400)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{seconds:.1f}s"


YEAR_ASSUMED = "the log does not state the year"
YEAR_TAKEN = "year"
LOCAL_TIMES = "times are the node's local time as logged"


def time_notes(notes: Sequence[str]) -> tuple[str, ...]:
    """The notes that say how the log's times were read (the year, the UTC offset): what a
    reader needs when those times do not meet the metrics'."""
    starts = (YEAR_ASSUMED, f"{YEAR_TAKEN} ", LOCAL_TIMES)
    return tuple(note for note in notes if note.startswith(starts))


def build_notes(
    result: LogsResult, *, stats: ScanStats, clock: Clock, culprit_notes: list[str]
) -> list[str]:
    """Notes for `result`, most important first."""
    notes: list[str] = []
    timeline = result.timeline
    if result.kubelet_lines == 0:
        notes.append(
            f"no kubelet log line found in {result.lines_read:,} line(s): give `journalctl -u "
            "kubelet` output, a kubelet log file, or /var/log/messages"
        )
    incidents = timeline.incidents
    if timeline.flapping:
        notes.append(
            f"flapping: {len(incidents)} unhealthy period(s) and "
            f"{sum(1 for t in timeline.transitions if not t.ready and not t.startup)} NotReady "
            f"transition(s), recovering and relapsing within {FLAP_WINDOW_SECONDS / 60:.0f} min: "
            "the pattern of one wedged container costing one CRI timeout per relist"
        )
    notes.extend(
        f"PLEG never relisted successfully since the kubelet started (period from "
        f"{rfc3339(period.start)}): GetPods never got an answer from the runtime"
        for period in incidents
        if period.never_succeeded
    )
    jumps = timeline.clock_jumps
    if jumps.count:
        notes.append(
            f"the log's clock went back {jumps.count} time(s) inside an unhealthy period "
            f"(first at {rfc3339(jumps.first)}, {jumps.example}): each period is closed at the "
            "jump, as what follows cannot extend what came before"
        )
    open_periods = [p for p in incidents if p.end is None]
    if open_periods:
        period = open_periods[-1]
        notes.append(
            f"PLEG is still unhealthy at the end of the log (since {rfc3339(period.start)}, "
            f"worst age {format_age(period.max_age_seconds)})"
        )
    startup = [p for p in timeline.periods if p.startup]
    if startup:
        notes.append(
            f"{len(startup)} start-up period(s) left out of unhealthy_periods: PLEG had not "
            f"relisted yet right after a kubelet start (first at {rfc3339(startup[0].start)}); "
            "expected, not an incident"
        )
    startup_nr = [t for t in timeline.transitions if not t.ready and t.startup]
    if startup_nr:
        notes.append(
            f"{len(startup_nr)} NotReady transition(s) came with a kubelet start (expected): "
            + ", ".join(str(rfc3339(t.time)) for t in startup_nr[:3])
        )
    if timeline.relist_failures.count:
        kinds = ", ".join(
            f"{count} {_ERROR_WORDS.get(kind, kind)}"
            for kind, count in sorted(timeline.relist_failures_by_error.items())
        )
        notes.append(
            f"{timeline.relist_failures.count} failed relist(s) (GenericPLEG: Unable to "
            f"retrieve pods: {kinds}){_span(timeline.relist_failures)}: each leaves the health "
            "clock where it was"
        )
    if timeline.discarded_events.count:
        notes.append(
            f"{timeline.discarded_events.count} line(s) about discarded PLEG events (event "
            f"channel full, 1000 slots){_span(timeline.discarded_events)}: the sync loop was not "
            "consuming events (a kubelet restart on a big node, or the loop skipping)"
        )
    if timeline.runtime_down.count:
        notes.append(
            f"'container runtime is down' in {timeline.runtime_down.count} line(s)"
            f"{_span(timeline.runtime_down)}: the runtime's Status() call failed for 30 s"
        )
    if timeline.runtime_down_at_startup:
        notes.append(
            f"{timeline.runtime_down_at_startup} 'container runtime is down' line(s) right after "
            "a kubelet start (expected until the first runtime check)"
        )
    if timeline.evented_errors.count:
        notes.append(
            f"{timeline.evented_errors.count} Evented PLEG stream failure(s)"
            f"{_span(timeline.evented_errors)}: the kubelet relists with generic PLEG meanwhile "
            "and falls back to it after 5 failures"
        )
    notes.extend(
        f"whole-runtime call {failure.operation} failed {failure.errors} time(s) "
        f"({failure.deadline_exceeded} timeout(s)) from {rfc3339(failure.first)} to "
        f"{rfc3339(failure.last)}: the runtime as a whole, not one container"
        for failure in result.runtime_failures
    )
    if result.runtime_unavailable.count:
        notes.append(
            f"the runtime could not be reached in {result.runtime_unavailable.count} call(s)"
            f"{_span(result.runtime_unavailable)} (socket missing or connection refused): the "
            "runtime was down or restarting; not blamed on any container"
        )
    for kind, count in sorted(result.ignored.items()):
        notes.append(
            f"{count} {kind} failure(s) not blamed: "
            + (
                "the container was gone when looked at (garbage collection, a probe)"
                if kind == "notfound"
                else "the runtime does not implement the call"
            )
        )
    notes.extend(culprit_notes)
    if result.culprits:
        notes.append(
            "counts are lower bounds: the kubelet logs a repeated identical failure of one "
            "container or sandbox once until it succeeds again (the metrics count every call)"
        )
    if stats.continued:
        notes.append(f"{stats.continued} hard-wrapped continuation line(s) glued to their record")
    if stats.oversized:
        notes.append(f"{stats.oversized} line(s) longer than 16 MiB skipped")
    if clock.year_origin == "assumed" and clock.saw_local:
        notes.append(
            f"{YEAR_ASSUMED}: assumed {result.year}"
            + (
                " for its first line, the latest year that puts no line in the future"
                if clock.has_reference
                else ""
            )
            + " (pass --year if it is older)"
        )
    elif clock.year_origin == "log" and clock.saw_local:
        notes.append(f"{YEAR_TAKEN} {result.year} taken from {clock.year_source}")
    if clock.saw_local and result.utc_offset_minutes is None:
        notes.append(f"{LOCAL_TIMES}; the log does not state the UTC offset")
    if clock.feb29_clamped:
        notes.append("a February 29 fell in a non-leap year: pass the right --year")
    return notes


_ERROR_WORDS = {
    "deadline": "timeout(s)",
    "unavailable": "runtime unreachable",
    "other": "other error(s)",
    "notfound": "not found",
    "unimplemented": "unimplemented",
}
