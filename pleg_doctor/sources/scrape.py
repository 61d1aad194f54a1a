"""From a fetched dump to the core's Snapshot: parse the bytes, place the capture time.

Every command that reads metrics ends here after `MetricsSource.fetch()`: the dump's bytes go
through `core.exposition`, and `core.snapshot.build_snapshot` gets the node and the capture time
in the order of the capture header, the HTTP `Date`, `--at`, else the dump's own clocks. This
is the one place where the sources' `FetchedDump` meets the core, so the core never imports a
source.
"""

from __future__ import annotations

import datetime as dt

from pleg_doctor.core.exposition import Sample, parse_exposition
from pleg_doctor.core.records import record
from pleg_doctor.core.snapshot import Snapshot, build_snapshot
from pleg_doctor.sources.base import FetchedDump, SourceKind
from pleg_doctor.sources.limits import current as current_limits


def snapshot_from_dump(dump: FetchedDump, *, at: dt.datetime | None = None) -> Snapshot:
    """Parse one dump into a Snapshot (see `scrape_from_dump` for the capture-time order)."""
    return scrape_from_dump(dump, at=at).snapshot


@record(kw_only=True)
class Scrape:
    """One parsed dump: its Snapshot plus exactly what built it.

    `check --state` saves the kept samples and the `build_snapshot` arguments of the last run, so
    the next run rebuilds the previous Snapshot bit for bit and diagnoses the window between the
    two as if given two dumps (docs/architecture.md#decisions).
    """

    snapshot: Snapshot
    samples: tuple[Sample, ...]
    """The kept, normalized samples of the dump (a few hundred, never the cAdvisor series)."""
    kind: SourceKind
    """`FetchedDump.kind` of the source (file, kubelet, apiserver, demo)."""
    location: str
    """`FetchedDump.location` (a path or a URL without credentials)."""
    node: str | None
    """The node override given to `build_snapshot` (the source's, else the capture header's)."""
    captured_at: float | None
    """The capture time given to `build_snapshot` (None: bounded from the dump's own clocks)."""
    captured_at_origin: str
    """Where `captured_at` came from: header, http-date, at, or unknown."""


def scrape_from_dump(dump: FetchedDump, *, at: dt.datetime | None = None) -> Scrape:
    """Parse one dump like `snapshot_from_dump`, keeping the samples beside the Snapshot.

    The capture time follows the same order (docs/output.md#capture-header): the dump's header
    line, the live source's HTTP `Date`, `at`, else bounded from the dump's own clocks.
    """
    try:
        parsed = parse_exposition(dump.chunks, name=dump.location, limits=current_limits())
    finally:
        close = getattr(dump.chunks, "close", None)
        if close is not None:
            close()
    header = parsed.header
    captured: dt.datetime | None = None
    origin = "unknown"
    if header is not None and header.captured_at is not None:
        captured, origin = header.captured_at, "header"
    elif dump.captured_at is not None:
        captured, origin = dump.captured_at, "http-date"
    elif at is not None:
        captured, origin = at, "at"
    node = dump.node or (header.node if header is not None else None)
    captured_at = captured.timestamp() if captured is not None else None
    return Scrape(
        snapshot=build_snapshot(
            parsed.samples,
            name=dump.location,
            node=node,
            captured_at=captured_at,
            captured_at_origin=origin,
        ),
        samples=parsed.samples,
        kind=dump.kind,
        location=dump.location,
        node=node,
        captured_at=captured_at,
        captured_at_origin=origin,
    )
