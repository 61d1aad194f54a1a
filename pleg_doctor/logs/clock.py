"""The log's clock: provisional times while streaming, resolved to datetimes at the end.

klog and journald print no year and no UTC offset; only JSON records (epoch ms), a
`journalctl -o short-iso` prefix and the `LastTransitionTime` of a `Node became not ready` line
(`2017-05-05 13:59:56.87 +0000 UTC`) say more. Because a hint may come at the end of a 1 GB log,
times are kept in a provisional frame while streaming (`Clock`): seconds in 366-day years counted
from the first record's year, with a year added whenever the month jumps back by more than six
(December → January), and resolved once at the end: `--year`, else a year the log states, else
an assumed year, which the notes then say was assumed. The assumed year is the latest that does
not put the log's last line after `not_after` (the moment the log was read, or the capture time
of the metrics it joins; the caller's, since this module reads no clock): "Dec 28" read on
November 29 is last December, and a log spanning New Year read in January starts the year
before. Without `not_after` it is `default_year`. Output times are the node's local time as
logged, with the UTC offset when it is known (JSON: UTC; `--journal`: the node's own offset; a
stated offset), else without one (`rfc3339`).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Literal

from pleg_doctor.logs.parse import LocalTime, Record
from pleg_doctor.logs.scanner import Probe

_YEAR_SECONDS = 366 * 86400
FUTURE_SLACK = dt.timedelta(days=1)
"""How far after `not_after` the last line may be before its assumed year is taken back by one.

A log's local times carry no UTC offset: a node 14 hours ahead of the reader logs "tomorrow"
morning. A day covers every offset; a wrong year is 11 months off or more.
"""
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
        not_after: dt.datetime | None = None,
    ) -> None:
        self._default_year = default_year
        self._not_after = not_after
        self._latest_local: float | None = None
        self._assumed: tuple[float, int] | None = None
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
        t = _provisional(self._year_index(local.month), local.month, local.day, local.seconds)
        if self._latest_local is None or t > self._latest_local:
            self._latest_local = t
        return t

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
        return self._assumed_year0()

    def _assumed_year0(self) -> int:
        """The latest year 0 that keeps the last local line within a day of `not_after`."""
        latest = self._latest_local
        if self._not_after is None or latest is None:
            return self._default_year
        if self._assumed is not None and self._assumed[0] == latest:
            return self._assumed[1]
        reference = self._not_after
        offset = self.offset_minutes
        if reference.tzinfo is not None:
            if offset is not None:
                reference = reference.astimezone(dt.timezone(dt.timedelta(minutes=offset)))
            reference = reference.replace(tzinfo=None)
        year0 = reference.year - math.floor(latest / _YEAR_SECONDS)
        last, _ = _calendar(latest, year0)
        if last > reference + FUTURE_SLACK:
            year0 -= 1
        self._assumed = (latest, year0)
        return year0

    @property
    def year_origin(self) -> Literal["given", "log", "assumed"]:
        """Where `year0` came from."""
        if self._given_year is not None:
            return "given"
        return "log" if self._hint_year0 is not None else "assumed"

    @property
    def has_reference(self) -> bool:
        """An assumed year is bounded by `not_after` (else it is `default_year`)."""
        return self._not_after is not None

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
        moment, clamped = _calendar(t, self.year0)
        if clamped:
            self.feb29_clamped = True
        offset = self.offset_minutes
        if offset is None:
            return moment
        return moment.replace(tzinfo=dt.timezone(dt.timedelta(minutes=offset)))


def _calendar(t: float, year0: int) -> tuple[dt.datetime, bool]:
    """Provisional seconds → naive local datetime with year 0 = `year0`; and whether a February
    29 fell in a non-leap year (clamped to the 28th)."""
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
    year = max(1, min(9999, year0 + k))
    clamped = month == 2 and day == 29 and not _is_leap(year)
    if clamped:
        day = 28
    return dt.datetime(year, month, day) + dt.timedelta(seconds=seconds), clamped


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def rfc3339(moment: dt.datetime | None) -> str | None:
    """`2020-10-08T16:23:14.140` (local, offset unknown), `…+08:00`, or `…Z` (UTC)."""
    if moment is None:
        return None
    spec = "milliseconds" if moment.microsecond >= 1000 else "seconds"
    text = moment.isoformat(timespec=spec)
    return text[:-6] + "Z" if text.endswith("+00:00") else text
