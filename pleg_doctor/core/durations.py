"""Seconds and moments for people: `58 s` stays `58 s`; an age of months reads `312d18h`, not `27024608 s`.

A dump saved long after its kubelet stopped relisting, or a clock that jumped, gives ages and
headrooms of millions of seconds; nobody reads those (docs/output.md#text-output). JSON keeps the
exact number.
"""

from __future__ import annotations

import datetime as dt
import math


def human_seconds(seconds: float, *, unit: str = " s") -> str:
    """`seconds` rounded to whole seconds below an hour (`58 s`, `-331 s`), else `5h12m` or
    `3d4h` (negative: `-3d4h`); `unit` is what follows a number of seconds (`s` in a Nagios
    line)."""
    if not math.isfinite(seconds):
        return "—"
    if abs(seconds) < 3600:
        return f"{seconds:.0f}{unit}"
    sign = "-" if seconds < 0 else ""
    whole = round(abs(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{sign}{days}d{hours}h"
    return f"{sign}{hours}h{rest // 60}m"


def rfc3339(epoch: float | None) -> str | None:
    """Unix seconds → `2026-11-27T10:00:00Z` (milliseconds when not whole)."""
    if epoch is None or not math.isfinite(epoch):
        return None
    try:
        moment = dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None  # beyond what a datetime holds: no time to show
    text = moment.isoformat(timespec="milliseconds" if epoch % 1 else "seconds")
    return text.replace("+00:00", "Z")
