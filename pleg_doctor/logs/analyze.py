"""One pass over a kubelet log: scanner → records → timeline and culprits → `LogsResult`.

The times of the records are kept in the provisional frame of `clock.Clock` while streaming and
resolved once at the end; the notes (`notes.build_notes`) are written last, from the result.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, runtime_checkable

from pleg_doctor.logs.clock import Clock
from pleg_doctor.logs.culprits import CulpritTracker
from pleg_doctor.logs.notes import build_notes
from pleg_doctor.logs.parse import node_of, parse_record
from pleg_doctor.logs.result import LogsResult
from pleg_doctor.logs.scanner import Probe, ScanStats, scan
from pleg_doctor.logs.timeline import Occurrences, Timeline


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
    not_after: dt.datetime | None = None,
    extra_notes: Sequence[str] = (),
) -> LogsResult:
    """Read a kubelet log in one pass: bytes in chunks of any size (already decompressed), or a
    `LogReader` / `JournalReader` (files, stdin, `.gz`, journalctl; big files in parallel).

    When neither `year` (`--year`) nor the log states the year, it is assumed (and the notes say
    so): the latest year that does not put the log's last line after `not_after` (the CLI passes
    now, or the capture time of the metrics the log joins), else `default_year`.
    `utc_offset_minutes` is the node's offset when known (`--journal` on the node itself). The
    reader's notes and `extra_notes` are appended to the notes.
    """
    stats = ScanStats()
    clock = Clock(
        default_year=default_year,
        year=year,
        utc_offset_minutes=utc_offset_minutes,
        not_after=not_after,
    )
    timeline = Timeline(year_hint=clock.year_hint)
    culprits = CulpritTracker()
    nodes: Counter[str] = Counter()
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
        node = node_of(record)
        if node is not None:
            nodes[node] += 1
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
        node_names=tuple(name for name, _ in nodes.most_common()),
    )
    notes = build_notes(result, stats=stats, clock=clock, culprit_notes=culprit_notes)
    reader_notes = source.notes if isinstance(source, LogSource) else []
    return dataclasses.replace(result, notes=(*notes, *reader_notes, *extra_notes))
