"""One pass over a kubelet log: scanner → records → timeline and culprits → `LogsResult`.

Times. klog and journald print no year and no UTC offset; only JSON records (epoch ms), a
`journalctl -o short-iso` prefix and the `LastTransitionTime` of a `Node became not ready` line
(`2017-05-05 13:59:56.87 +0000 UTC`) say more. Because a hint may come at the end of a 1 GB log,
times are kept in a provisional frame while streaming (`Clock`): seconds in 366-day years counted
from the first record's year, with a year added whenever the month jumps back by more than six
(December → January), and resolved once at the end: `--year`, else a year the log states, else
the current year (the caller's, `default_year`; the core reads no clock), which the notes then
say was assumed. Output times are the node's local time as logged, with the UTC offset when it is
known (JSON: UTC; `--journal`: the node's own offset; a stated offset), else without one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from pleg_doctor.logs.culprits import Culprit, CulpritTracker
from pleg_doctor.logs.parse import (
    NEVER_SECONDS,
    LocalTime,
    Probe,
    Record,
    ScanStats,
    parse_record,
    scan,
)
from pleg_doctor.logs.timeline import Occurrences, Timeline, TimelineSummary, UnhealthyPeriod

SCHEMA = "pleg-doctor/logs-v1"

Verdict = Literal["ok", "warning", "critical", "unknown"]

_YEAR_SECONDS = 366 * 86400
_DAYS_BEFORE = (0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335)
"""Days before each month in a leap year (the provisional frame's years all have 366 days)."""


def _provisional(k: int, month: int, day: int, seconds: float) -> float:
    return k * _YEAR_SECONDS + (_DAYS_BEFORE[month - 1] + day - 1) * 86400 + seconds


class Clock:
    """Provisional times while streaming, resolved to datetimes at the end (module docstring).

    NOTE: a provisional year always has 366 days, so a duration that spans February 28 → March 1
    of a non-leap year comes out one day longer. Displayed times are exact (the mapping is
    inverted the same way).
    """

    def __init__(
        self,
        *,
        default_year: int,
        year: int | None = None,
        utc_offset_minutes: int | None = None,
    ) -> None:
        self._default_year = default_year
        self._given_year = year
        self._given_offset = utc_offset_minutes
        self._k = 0
        self._last_month: int | None = None
        self._hint_year0: int | None = None
        self._hint_source: str | None = None
        self._offset_hint: int | None = None
        self._saw_local = False
        self._saw_epoch = False
        self.feb29_clamped = False

    def _year_index(self, month: int, *, commit: bool = True) -> int:
        last = self._last_month
        if last is None:
            if commit:
                self._last_month = month
            return self._k
        if month < last - 6:  # December → January: a new year
            if commit:
                self._k += 1
                self._last_month = month
                return self._k
            return self._k + 1
        if month > last + 6:  # a line from before the turn of the year, out of order
            return self._k - 1
        if commit:
            self._last_month = month
        return self._k

    def local(self, local: LocalTime) -> float:
        """Provisional seconds of a klog time."""
        self._saw_local = True
        return _provisional(self._year_index(local.month), local.month, local.day, local.seconds)

    def epoch(self, seconds: float) -> float | None:
        """Provisional seconds of a Unix time (JSON `ts`), shifted to the node's offset if known."""
        try:
            moment = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
        if self._given_offset is not None:
            moment += dt.timedelta(minutes=self._given_offset)
        self._saw_epoch = True
        k = self._year_index(moment.month)
        self._hint(moment.year - k, "the JSON records' ts")
        day_seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
        return _provisional(k, moment.month, moment.day, day_seconds + moment.microsecond / 1e6)

    def time_of(self, item: Record | Probe) -> float | None:
        """Provisional seconds of a record or probe (None: no usable time)."""
        if item.local is not None:
            if isinstance(item, Record) and item.year_hint is not None:
                year, month = item.year_hint
                self._hint(year - self._year_index(month, commit=False), "a short-iso prefix")
                if item.offset_hint is not None and self._offset_hint is None:
                    self._offset_hint = item.offset_hint
            return self.local(item.local)
        if item.epoch is not None:
            return self.epoch(item.epoch)
        return None

    def year_hint(self, year: int, month: int, offset_minutes: int | None) -> None:
        """A line stated its year (and maybe its UTC offset); for the record just timed."""
        self._hint(year - self._year_index(month, commit=False), "a NotReady line's timestamp")
        if offset_minutes is not None and self._offset_hint is None:
            self._offset_hint = offset_minutes

    def _hint(self, year0: int, source: str) -> None:
        if self._hint_year0 is None:
            self._hint_year0 = year0
            self._hint_source = source

    @property
    def year0(self) -> int:
        """The real year of provisional year 0."""
        if self._given_year is not None:
            return self._given_year
        if self._hint_year0 is not None:
            return self._hint_year0
        return self._default_year

    @property
    def year_origin(self) -> Literal["given", "log", "assumed"]:
        """Where `year0` came from."""
        if self._given_year is not None:
            return "given"
        return "log" if self._hint_year0 is not None else "assumed"

    @property
    def year_source(self) -> str | None:
        """Which line stated the year, when the log did."""
        return self._hint_source

    @property
    def offset_minutes(self) -> int | None:
        """The UTC offset of output times, when known."""
        if self._given_offset is not None:
            return self._given_offset
        if self._offset_hint is not None:
            return self._offset_hint
        if self._saw_epoch and not self._saw_local:
            return 0
        return None

    @property
    def saw_local(self) -> bool:
        """True when klog times (no year, no offset) were read."""
        return self._saw_local

    def to_time(self, t: float) -> dt.datetime:
        """Resolve provisional seconds into a datetime (aware when the offset is known)."""
        k = math.floor(t / _YEAR_SECONDS)
        rest = t - k * _YEAR_SECONDS
        day_index = min(365, int(rest // 86400))
        seconds = rest - day_index * 86400
        month = 12
        for index, before in enumerate(_DAYS_BEFORE):
            if before > day_index:
                month = index
                break
        day = day_index - _DAYS_BEFORE[month - 1] + 1
        year = max(1, min(9999, self.year0 + k))
        if month == 2 and day == 29 and not _is_leap(year):
            day = 28
            self.feb29_clamped = True
        moment = dt.datetime(year, month, day) + dt.timedelta(seconds=seconds)
        offset = self.offset_minutes
        if offset is None:
            return moment
        return moment.replace(tzinfo=dt.timezone(dt.timedelta(minutes=offset)))


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def rfc3339(moment: dt.datetime | None) -> str | None:
    """`2020-10-08T16:23:14.140` (local, offset unknown), `…+08:00`, or `…Z` (UTC)."""
    if moment is None:
        return None
    spec = "milliseconds" if moment.microsecond >= 1000 else "seconds"
    text = moment.isoformat(timespec=spec)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


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
        """The `pleg-doctor/logs-v1` object (CONTRACT.md), built field by field."""
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


@runtime_checkable
class LogSource(Protocol):
    """A reader that scans by itself (`LogReader`, `JournalReader`), maybe in parallel."""

    notes: list[str]
    """What the reader found odd (a cut `.gz`, an incomplete journal), filled while scanning."""

    def scan(self, stats: ScanStats) -> Iterator[bytes | Probe]:
        """Candidate records and time probes, in log order (see `parse.scan`)."""
        ...


def analyze_logs(
    source: Iterable[bytes] | LogSource,
    *,
    default_year: int,
    year: int | None = None,
    utc_offset_minutes: int | None = None,
    extra_notes: Sequence[str] = (),
) -> LogsResult:
    """Read a kubelet log in one pass: bytes in chunks of any size (already decompressed), or a
    `LogReader` / `JournalReader` (files, stdin, `.gz`, journalctl; big files in parallel).

    `default_year` is used when neither `year` (`--year`) nor the log states one (the CLI passes
    the current year; the notes then say it was assumed). `utc_offset_minutes` is the node's
    offset when known (`--journal` on the node itself). The reader's notes and `extra_notes` are
    appended to the notes.
    """
    stats = ScanStats()
    clock = Clock(default_year=default_year, year=year, utc_offset_minutes=utc_offset_minutes)
    timeline = Timeline(year_hint=clock.year_hint)
    culprits = CulpritTracker()
    items = source.scan(stats) if isinstance(source, LogSource) else scan(source, stats)
    for item in items:
        if isinstance(item, Probe):
            t = clock.time_of(item)
            if t is not None:
                timeline.observe_time(t)
            continue
        record = parse_record(item)
        if record is None:
            continue
        t = clock.time_of(record)
        if t is None:
            continue
        timeline.feed(record, t)
        culprits.feed(record, t)
    summary = timeline.finish(clock.to_time)
    found, runtime, culprit_notes = culprits.finish(clock.to_time)
    first, last = timeline.first_time, timeline.last_time
    unavailable_first, unavailable_last = culprits.unavailable_span
    result = LogsResult(
        lines_read=stats.lines_read,
        lines_skipped=stats.lines_skipped,
        kubelet_lines=stats.kubelet_lines,
        lines_continued=stats.continued,
        first_time=None if first is None else clock.to_time(first),
        last_time=None if last is None else clock.to_time(last),
        timeline=summary,
        culprits=found,
        runtime_failures=runtime,
        runtime_unavailable=Occurrences(
            count=culprits.unavailable,
            first=None if unavailable_first is None else clock.to_time(unavailable_first),
            last=None if unavailable_last is None else clock.to_time(unavailable_last),
            example=culprits.unavailable_example,
        ),
        ignored=dict(culprits.ignored),
        year=clock.year0,
        year_origin=clock.year_origin,
        utc_offset_minutes=clock.offset_minutes,
        notes=(),
    )
    from pleg_doctor.logs.notes import build_notes

    notes = build_notes(result, stats=stats, clock=clock, culprit_notes=culprit_notes)
    reader_notes = source.notes if isinstance(source, LogSource) else []
    return dataclasses.replace(result, notes=(*notes, *reader_notes, *extra_notes))


__all__ = ["NEVER_SECONDS", "SCHEMA", "Clock", "LogSource", "LogsResult", "analyze_logs", "rfc3339"]
