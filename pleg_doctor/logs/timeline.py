"""The PLEG timeline of a kubelet log: unhealthy periods, NotReady, failed relists, discards.

What the kubelet logs while PLEG is unhealthy (docs/model.md#the-relist-loop): the sync loop checks
`runtimeErrors()` before every iteration and, while any is present, logs `skipping pod
synchronization - <errors>` and sleeps (100 ms doubling to 5 s; a fixed 5 s in older kubelets).
The PLEG error says `pleg was last seen active <age> ago; threshold is <T>`, so every such line
fixes the start of the last successful relist: `anchor = line time - age`. That is what this
module builds the periods from:

* lines with the same anchor belong to one outage, however far apart they are (the kubelet says
  no relist succeeded in between), and the outage began at `anchor + T`;
* a later anchor proves a relist succeeded in between: a new period, and two or more periods are
  *flapping* (one wedged container costs one CRI timeout per relist, so the age oscillates
  around the threshold: docs/model.md#hung-calls-tolerated);
* a period ended when the kubelet goes on logging for more than `END_GAP_SECONDS` without the
  message (it repeats at most every 5 s while unhealthy); it is still open (`end` None) when the
  log ends sooner.

Start-up noise is not an incident (SOURCES.md "Start-up noise"): `pleg has yet to be
successful` and MaxInt64 ages right after `Starting kubelet main sync loop` (or alongside
`container runtime status check may not have completed yet`, which only happens before the first
runtime check) are kept apart as start-up periods, unless PLEG still has not relisted one
threshold after the start. A MaxInt64 age with no start in sight is an incident: PLEG never
succeeded since the kubelet started (kubernetes#84978).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import re
from collections.abc import Callable

from pleg_doctor.logs.classify import classify_error
from pleg_doctor.logs.parse import NEVER_SECONDS, Record, cut, parse_go_duration

DEFAULT_THRESHOLD_SECONDS = 180.0
"""The generic PLEG threshold (3 min; docs/model.md#constants), when a line does not state it."""

ANCHOR_TOLERANCE_SECONDS = 1.0
"""Two anchors closer than this are the same relist (the two clocks are read µs apart)."""

END_GAP_SECONDS = 10.0
CLOCK_JUMP_SECONDS = 60.0
"""A PLEG line this much earlier than the previous one of its period: the clock went back
(NTP stepping, a VM resumed, a reset RTC). The period is closed at the jump: a period whose
times run backwards would have a start after its end."""
"""Unhealthy lines repeat at most every 5 s; a longer silence while the log goes on means
PLEG recovered (or the message was cut from the paste)."""

STARTUP_WINDOW_SECONDS = 180.0
"""How long after a kubelet start `pleg has yet to be successful` is expected."""

NOT_READY_DEDUP_SECONDS = 2.0
"""`Recording NodeNotReady event` and `Node became not ready` of one transition come together."""

FLAP_WINDOW_SECONDS = 1800.0
"""Periods that recover and relapse within this are flapping, not separate incidents."""

_AGE = re.compile(
    r"pleg was last seen active (?P<age>.+?) ago; threshold is (?P<thr>[0-9.hmsµun]+)"
)
_START_OFFSET = re.compile(r"\bm=\+(?P<s>\d+(?:\.\d+)?)")
_CONDITION_MESSAGE = re.compile(r"Message:(?P<m>.*?)\}?\s*$")
_TRANSITION_YEAR = re.compile(
    r"LastTransitionTime:(?P<y>\d{4})-(?P<mo>\d\d)-\d\d \d\d:\d\d:\d\d(?:\.\d+)? (?P<tz>[+-]\d{4})"
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class UnhealthyPeriod:
    """An outage of the PLEG health check, as the kubelet's own lines tell it."""

    start: dt.datetime
    """When the age crossed the threshold (last successful relist + threshold), or the first
    line (PLEG never succeeded and the kubelet start is not in the log)."""

    end: dt.datetime | None
    """The last unhealthy line, when the log goes on without it; None if unhealthy at the end."""

    max_age_seconds: float
    """The worst `last seen active` age logged; `NEVER_SECONDS` when PLEG never succeeded."""

    messages: int
    """Lines that reported PLEG unhealthy in the period."""

    threshold_seconds: float
    """The threshold the lines state (180 s; 600 s for generic PLEG under Evented PLEG)."""

    last_relist: dt.datetime | None
    """The start of the last successful relist before the period, or None (never succeeded)."""

    never_succeeded: bool
    """True when the lines said PLEG had not relisted successfully since the kubelet started."""

    startup: bool
    """True for start-up noise (no relist yet, right after a kubelet start): not an incident."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Occurrences:
    """How often something was logged, when first and last, and one line for example."""

    count: int = 0
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    example: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Transition:
    """A Ready-condition change the kubelet logged."""

    time: dt.datetime
    ready: bool
    """False for NotReady (`Node became not ready`, `Recording NodeNotReady event`)."""
    message: str | None
    """The condition message (`PLEG is not healthy: …`) when the line has it."""
    startup: bool
    """True when it came right after a kubelet start (expected)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class TimelineSummary:
    """The timeline of one log, with times resolved."""

    periods: tuple[UnhealthyPeriod, ...]
    """Every unhealthy period in log order, start-up ones included (see `startup`)."""
    transitions: tuple[Transition, ...]
    relist_failures: Occurrences
    relist_failures_by_error: dict[str, int]
    discarded_events: Occurrences
    runtime_down: Occurrences
    """`container runtime is down` lines outside start-up."""
    runtime_down_at_startup: int
    evented_errors: Occurrences
    """Evented PLEG stream failures (`Failed to get container events`, `GetContainerEvents
    failed`) and explicit fallbacks to generic relisting."""
    kubelet_starts: tuple[dt.datetime, ...]
    flapping: bool
    clock_jumps: Occurrences = dataclasses.field(default_factory=Occurrences)
    """Times the log's clock went back by more than `CLOCK_JUMP_SECONDS` inside a period (each
    closed the period there)."""

    @property
    def incidents(self) -> tuple[UnhealthyPeriod, ...]:
        """The periods that are not start-up noise."""
        return tuple(p for p in self.periods if not p.startup)

    @property
    def not_ready_transitions(self) -> int:
        """NotReady transitions (start-up ones included: they are transitions too)."""
        return sum(1 for t in self.transitions if not t.ready)


@dataclasses.dataclass
class _Period:
    anchor: float | None
    threshold: float
    start: float
    first_line: float
    last_line: float
    max_age: float
    messages: int
    startup_hint: bool
    start_known: float | None
    cut_by_clock_jump: bool = False


@dataclasses.dataclass
class _Count:
    count: int = 0
    first: float | None = None
    last: float | None = None
    example: str | None = None

    def add(self, t: float, example: str) -> None:
        self.count += 1
        if self.first is None or t < self.first:
            self.first = t
        if self.last is None or t > self.last:
            self.last = t
        if self.example is None:
            self.example = cut(example)

    def freeze(self, to_time: Callable[[float], dt.datetime]) -> Occurrences:
        return Occurrences(
            count=self.count,
            first=None if self.first is None else to_time(self.first),
            last=None if self.last is None else to_time(self.last),
            example=self.example,
        )


YearHint = Callable[[int, int, int | None], None]
"""`(year, month, utc_offset_minutes)` from a line that states its year."""


class Timeline:
    """Streaming builder: `feed()` each record in log order, then `finish()`.

    Memory is bounded by the number of periods and transitions (each a few numbers), never by
    the number of lines.
    """

    def __init__(self, *, year_hint: YearHint | None = None) -> None:
        self._year_hint = year_hint
        self._periods: list[_Period] = []
        self._open: _Period | None = None
        self._transitions: list[tuple[float, bool, str | None, bool]] = []
        self._relist = _Count()
        self._relist_by_error: dict[str, int] = {}
        self._discards = _Count()
        self._down = _Count()
        self._down_startup = 0
        self._evented = _Count()
        self._clock_jumps = _Count()
        self._starts: list[float] = []
        self._first: float | None = None
        self._last: float | None = None

    # -- input

    def observe_time(self, t: float) -> None:
        """A kubelet line was logged at `t` (keeps the log's first and last time)."""
        if self._first is None or t < self._first:
            self._first = t
        if self._last is None or t > self._last:
            self._last = t

    @property
    def first_time(self) -> float | None:
        """The earliest kubelet line time seen."""
        return self._first

    @property
    def last_time(self) -> float | None:
        """The latest kubelet line time seen."""
        return self._last

    def feed(self, record: Record, t: float) -> None:
        """Take one record logged at `t` (provisional seconds; see `clock.Clock`)."""
        self.observe_time(t)
        message = record.message
        if "main sync loop" in message and "tarting" in message:
            self._kubelet_started(t)
            return
        if "kipping pod synchronization" in message:
            errors = record.fields.get("err", "") if record.fields is not None else message
            self._health_line(t, errors, record.line)
            return
        if "became not ready" in message or (
            "NodeNotReady" in record.text and "ecording" in message
        ):
            self._not_ready(t, record)
            return
        if ("NodeReady" in record.text and "ecording" in message) or "became ready" in message:
            self._transitions.append((t, True, None, False))
            return
        if "GenericPLEG: Unable to retrieve pods" in message:
            self._relist.add(t, record.line)
            kind = classify_error(record.error)
            self._relist_by_error[kind] = self._relist_by_error.get(kind, 0) + 1
            return
        if "vent channel is full" in message or "event channel capacity is full" in record.text:
            self._discards.add(t, record.line)
            return
        if (
            "Evented PLEG: Failed to get container events" in message
            or "GetContainerEvents failed" in message
            or "Fall back to Generic PLEG" in message
        ):
            self._evented.add(t, record.line)

    def _kubelet_started(self, t: float) -> None:
        if not self._starts or abs(t - self._starts[-1]) > 1.0:
            self._starts.append(t)
            self._starts.sort()
        # A restart ends whatever was open: the new process has its own health clock.
        if self._open is not None and t >= self._open.last_line:
            self._close()

    def _recent_start(self, t: float) -> float | None:
        for start in reversed(self._starts):
            if start <= t + 1.0:
                return start if t - start <= STARTUP_WINDOW_SECONDS else None
        return None

    def _health_line(self, t: float, errors: str, line: str) -> None:
        startup_hint = "status check may not have completed yet" in errors
        if "container runtime is down" in errors:
            start = self._recent_start(t)
            if start is not None and t - start <= 60.0:
                self._down_startup += 1
            else:
                self._down.add(t, line)
        if "EventedPLEG is not healthy" in errors:
            self._discards.add(t, line)
        if "PLEG is not healthy: pleg" not in errors:
            return
        match = _AGE.search(errors)
        age: float | None = None
        threshold = DEFAULT_THRESHOLD_SECONDS
        if match is not None:
            age = parse_go_duration(match.group("age"))
            threshold = parse_go_duration(match.group("thr")) or DEFAULT_THRESHOLD_SECONDS
        elif "pleg has yet to be successful" not in errors:
            return
        self._observe_age(t, age, threshold, startup_hint)

    def _observe_age(self, t: float, age: float | None, threshold: float, hint: bool) -> None:
        never = age is None or age >= NEVER_SECONDS * 0.999
        anchor = None if never or age is None else t - age
        current = self._open
        if current is not None and t < current.last_line - CLOCK_JUMP_SECONDS:
            # The clock went back: what follows cannot extend what came before.
            current.cut_by_clock_jump = True
            self._clock_jumps.add(t, f"went back {current.last_line - t:.0f} s")
            self._close()
            current = None
        same = current is not None and (
            (never and current.anchor is None)
            or (
                anchor is not None
                and current.anchor is not None
                and abs(anchor - current.anchor) <= ANCHOR_TOLERANCE_SECONDS
            )
        )
        if current is not None and same:
            current.last_line = max(current.last_line, t)
            current.first_line = min(current.first_line, t)
            current.messages += 1
            current.max_age = max(current.max_age, NEVER_SECONDS if never else (age or 0.0))
            current.startup_hint = current.startup_hint or hint
            return
        self._close()
        start_known = self._recent_start(t)
        if never:
            start = start_known if start_known is not None else t
        else:
            assert anchor is not None
            # Unhealthy from the moment the age passed the threshold, and at the latest from
            # this line (which says so, whatever age it states).
            start = min(anchor + threshold, t)
        self._open = _Period(
            anchor=anchor,
            threshold=threshold,
            start=start,
            first_line=t,
            last_line=t,
            max_age=NEVER_SECONDS if never else (age or 0.0),
            messages=1,
            startup_hint=hint,
            start_known=start_known,
        )

    def _close(self) -> None:
        if self._open is not None:
            self._periods.append(self._open)
            self._open = None

    def _not_ready(self, t: float, record: Record) -> None:
        text = record.text
        message: str | None = None
        condition = record.fields.get("condition") if record.fields is not None else None
        match = _CONDITION_MESSAGE.search(condition or record.message)
        if match is not None:
            message = match.group("m").strip() or None
        started = _START_OFFSET.search(text)
        if started is not None and float(started.group("s")) <= STARTUP_WINDOW_SECONDS:
            # `m=+0.40` is Go's monotonic clock since the kubelet process started.
            self._kubelet_started(t - float(started.group("s")))
        year = _TRANSITION_YEAR.search(text)
        if year is not None and self._year_hint is not None:
            zone = year.group("tz")
            offset = (-1 if zone[0] == "-" else 1) * (int(zone[1:3]) * 60 + int(zone[3:5]))
            self._year_hint(int(year.group("y")), int(year.group("mo")), offset)
        start = self._recent_start(t)
        startup = (
            start is not None
            and t - start <= STARTUP_WINDOW_SECONDS
            and (message is None or "yet to be successful" in message or "may not have" in message)
        )
        if message is not None and "PLEG is not healthy: pleg" in message:
            self._health_line(t, message, record.line)
        previous = self._transitions[-1] if self._transitions else None
        if previous is not None and not previous[1] and t - previous[0] <= NOT_READY_DEDUP_SECONDS:
            # The second line of the same transition: keep the message if the first lacked it.
            self._transitions[-1] = (previous[0], False, previous[2] or message, previous[3])
            return
        self._transitions.append((t, False, message, startup))

    # -- output

    def finish(self, to_time: Callable[[float], dt.datetime]) -> TimelineSummary:
        """Close the open period and resolve times with `to_time` (provisional → datetime)."""
        self._close()
        last = self._last
        periods: list[UnhealthyPeriod] = []
        for p in self._periods:
            ended = p.cut_by_clock_jump or (
                last is not None and last - p.last_line > END_GAP_SECONDS
            )
            never = p.anchor is None
            startup = False
            if never:
                began = p.start_known
                if began is None and p.startup_hint:
                    began = p.first_line
                if began is not None:
                    startup = p.last_line - began < max(p.threshold, STARTUP_WINDOW_SECONDS)
            periods.append(
                UnhealthyPeriod(
                    start=to_time(min(p.start, p.first_line)),
                    end=to_time(p.last_line) if ended else None,
                    max_age_seconds=p.max_age,
                    messages=p.messages,
                    threshold_seconds=p.threshold,
                    last_relist=None if p.anchor is None else to_time(p.anchor),
                    never_succeeded=never,
                    startup=startup,
                )
            )
        incidents = [
            raw for raw, frozen in zip(self._periods, periods, strict=True) if not frozen.startup
        ]
        flapping = any(
            b.first_line - a.last_line <= FLAP_WINDOW_SECONDS and b.anchor is not None
            for a, b in itertools.pairwise(incidents)
        )
        not_ready = [t for t, ready, _, startup in self._transitions if not ready and not startup]
        flapping = flapping or len(not_ready) >= 3
        return TimelineSummary(
            periods=tuple(periods),
            transitions=tuple(
                Transition(time=to_time(t), ready=ready, message=message, startup=startup)
                for t, ready, message, startup in self._transitions
            ),
            relist_failures=self._relist.freeze(to_time),
            relist_failures_by_error=dict(self._relist_by_error),
            discarded_events=self._discards.freeze(to_time),
            runtime_down=self._down.freeze(to_time),
            runtime_down_at_startup=self._down_startup,
            evented_errors=self._evented.freeze(to_time),
            kubelet_starts=tuple(to_time(t) for t in self._starts),
            flapping=flapping,
            clock_jumps=self._clock_jumps.freeze(to_time),
        )
