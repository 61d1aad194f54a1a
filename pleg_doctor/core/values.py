"""Which sample values are honest: NaN, ±Inf and out-of-range numbers, judged per family.

The exposition format lets any sample be `NaN`, `+Inf` or `1e308`, and a broken exporter, a proxy
or a hand-edited dump can put one anywhere. The model's arithmetic must never see them: one NaN
in `kubelet_pleg_last_seen_seconds` once made a NaN headroom, which no comparison flags, and so a
verdict of OK. So every sample is judged here before a `Snapshot` holds it, and a value a kubelet
cannot honestly expose is set aside with the reason (`RejectedValue`), shown as a note.

What a kubelet can expose, per part (see `docs/limits.md` "Values"):

* counters, histogram buckets and counts: finite, 0 or `1e-9 ≤ v ≤ 2^53` (beyond 2^53 a float64
  no longer counts by one; no kubelet makes 9e15 calls; below a billionth is float debris);
* histogram and summary sums (seconds): finite, 0 or `1e-9 ≤ v ≤ 2^53`;
* summary quantiles: `NaN` is legal and meaningful (nothing observed in the 10-minute window,
  client_golang `summary.go`), ±Inf and negatives are not;
* timestamps (`kubelet_pleg_last_seen_seconds`, `process_start_time_seconds`,
  `go_memstats_last_gc_time_seconds`): finite, `0 ≤ v < LATEST_TIMESTAMP_SECONDS` (0 means
  "not yet", as before);
* other gauges (pods, containers, build info, feature gates): finite, `0 ≤ v ≤ 2^53`.

What happens to a set-aside value is each field's own decision (`snapshot.build_snapshot`, and
`verdict.judge` for `kubelet_pleg_last_seen_seconds`, which makes the verdict UNKNOWN: the age
of the last relist is what PLEG health is judged on, and a verdict without it would be a guess).

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

import math
from typing import Protocol

from pleg_doctor.core.records import record

MAX_COUNT = float(2**53)
"""The largest count or number of seconds accepted: float64 counts exactly up to 2^53."""

SMALLEST = 1e-9
"""The smallest non-zero count or number of seconds accepted: a nanosecond, a billionth of a
call. Below it is float debris (a `5e-324` count turns a mean into infinity)."""

LATEST_TIMESTAMP_SECONDS = 7_258_118_400.0
"""2200-01-01T00:00:00Z: a later Unix time is no clock reading (and overflows `datetime`)."""

TIMESTAMP_FAMILIES = frozenset({"last_seen", "process_start", "last_gc"})
"""The families whose value is a Unix time in seconds."""


class JudgedSample(Protocol):
    """What is judged of a sample (the shape of `exposition.Sample`)."""

    @property
    def family(self) -> str:
        """Canonical family key."""
        ...

    @property
    def part(self) -> str:
        """value, bucket, sum, count or quantile."""
        ...

    @property
    def value(self) -> float:
        """Value in base units."""
        ...

    @property
    def bound(self) -> float | None:
        """le or quantile."""
        ...


@record
class RejectedValue:
    """A sample value set aside, and why."""

    family: str
    """Canonical family key, e.g. `last_seen`."""
    metric: str
    """The exposed name, for people: `kubelet_pleg_last_seen_seconds`."""
    value: float
    why: str
    """`not a number`, `infinite`, `negative`, `out of range`."""

    @property
    def text(self) -> str:
        """`kubelet_running_pods = NaN (not a number)`: how notes and reasons name it."""
        return f"{self.metric} = {show_value(self.value)} ({self.why})"


def show_value(value: float) -> str:
    """A value as the exposition format writes it: `NaN`, `+Inf`, `-Inf`, else `repr`-like."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:g}"


def rejection(sample: JudgedSample) -> str | None:
    """Why `sample`'s value cannot be used (see the module docstring), or None when it can."""
    value = sample.value
    if sample.bound is not None and math.isnan(sample.bound):
        return "a NaN bound"
    if math.isnan(value):
        return None if sample.part == "quantile" else "not a number"
    if math.isinf(value):
        return "infinite"
    if value < 0:
        return "negative"
    if sample.part == "value" and sample.family in TIMESTAMP_FAMILIES:
        return "out of range" if value >= LATEST_TIMESTAMP_SECONDS else None
    if value > MAX_COUNT or 0 < value < SMALLEST:
        return "out of range"
    return None
