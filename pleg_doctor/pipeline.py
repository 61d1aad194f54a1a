"""Glue from fetched bytes to the core's Window: parse, build snapshots, order, check one node.

This sits between the edges (sources, exposition) and the pure core (snapshot, model, causes,
report) so neither side needs to know the other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pleg_doctor.errors import UsageError
from pleg_doctor.exposition import parse_exposition
from pleg_doctor.snapshot import Snapshot, Window, build_snapshot, lifetime_window, window_between
from pleg_doctor.sources.base import FetchedDump


def snapshot_from_dump(dump: FetchedDump, *, at: dt.datetime | None = None) -> Snapshot:
    """Parse one dump into a Snapshot.

    Capture time, in order (CONTRACT.md "Capture header"): the dump's header line, the live
    source's HTTP `Date`, `--at`, else bounded from the dump's own clocks.
    """
    try:
        parsed = parse_exposition(dump.chunks, name=dump.location)
    finally:
        # A file source streams from an open file: close it also when parsing fails mid-way.
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
    return build_snapshot(
        parsed.samples,
        name=dump.location,
        node=node,
        captured_at=captured.timestamp() if captured is not None else None,
        captured_at_origin=origin,
    )


def window_from_snapshots(snapshots: Sequence[Snapshot]) -> Window:
    """One snapshot → lifetime window; several of one node → the window between them."""
    if len(snapshots) == 1:
        return lifetime_window(snapshots[0])
    nodes = {s.node for s in snapshots if s.node is not None}
    if len(nodes) > 1:
        raise UsageError(
            f"the dumps come from different nodes ({', '.join(sorted(nodes))}): "
            "a window needs dumps of one node",
            hint="diagnose each node's dumps separately",
        )
    if any(s.captured_at is None for s in snapshots):
        raise UsageError(
            "cannot order the dumps in time: a dump has no capture time",
            hint="capture with `pleg-doctor capture`, which records it",
        )
    ordered = sorted(snapshots, key=lambda s: s.captured_at or 0.0)
    return window_between(ordered)
