"""Histogram and summary maths: `Distribution` (buckets, quantiles, deltas) and `OpStats`.

A `Distribution` is one histogram or summary in seconds; `OpStats` is one runtime operation's
calls, errors and latency. Both know how to subtract an earlier scrape (reset-aware, as
Prometheus' `increase()`) and add two deltas, which is all `window` needs to build a Window.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Sequence

from pleg_doctor.core.records import record
from pleg_doctor.core.terms import OVER_TOP_MEAN

# docs/model.md#estimating-the-terms: the largest finite DefBuckets bound. Relist durations above it
# land in +Inf only.
DEF_BUCKETS_TOP_SECONDS = 10.0
# docs/model.md#estimating-the-terms: the (119.209, 298.023] runtime bucket (ExponentialBuckets(.005, 2.5, 14),
# ≥1.20) holds the calls that hit the default 2 min CRI timeout.
TIMEOUT_BUCKET_LOW = 119.20928955078125
TIMEOUT_BUCKET_HIGH = 298.0232238769531


@record(kw_only=True)
class Distribution:
    """A histogram or summary in seconds: cumulative buckets and/or recent quantiles."""

    count: float
    """Number of observations (`_count`)."""
    sum_seconds: float
    """Sum of observations (`_sum`), seconds."""
    buckets: tuple[tuple[float, float], ...] = ()
    """Cumulative `(le, count)` pairs in rising `le` order, `+Inf` last when exposed."""
    quantiles: tuple[tuple[float, float], ...] = ()
    """Summary `(quantile, seconds)` pairs: a sliding 10-minute window in client_golang, so
    "recent", not lifetime (docs/model.md#metric-names-by-era); NaN when nothing was observed in it."""
    over_top_mean_measured: float | None = None
    """The over-top mean as Prometheus computed it from all the buckets, when this holds only
    some of them (`measured_histogram`); `over_top_mean_seconds` returns it."""
    has_sum: bool = True
    """False when the data had no `_sum` (a trimmed dump, a relabeled scrape): `sum_seconds` is
    then 0 by default, not a measurement, and nothing may be computed from it."""

    @property
    def mean_seconds(self) -> float | None:
        """`sum / count`, or None without observations, without a `_sum`, or when it is not a
        finite number."""
        if not self.has_sum or not self.count > 0:
            return None
        mean = self.sum_seconds / self.count
        return mean if math.isfinite(mean) else None

    @property
    def total(self) -> float:
        """The observations the buckets rank against: the `+Inf` bucket, else `_count`.

        Prometheus' `histogram_quantile` ranks against the `+Inf` bucket, not `_count`: the two
        are separate series, and `increase()` over a range extrapolates each on its own, so
        they can disagree.
        """
        if self.buckets and math.isinf(self.buckets[-1][0]):
            return self.buckets[-1][1]
        return self.count

    def count_above(self, bound: float) -> float | None:
        """Observations greater than the bucket bound `bound` (None if no such bucket)."""
        for le, cumulative in self.buckets:
            if le == bound:
                return max(0.0, self.total - cumulative)
        return None

    def count_between(self, low: float, high: float) -> float | None:
        """Observations in the `(low, high]` bucket range (None if those buckets are missing)."""
        low_count: float | None = None
        high_count: float | None = None
        isclose = math.isclose
        for le, cumulative in self.buckets:
            if low_count is None and isclose(le, low, rel_tol=1e-4):
                low_count = cumulative
            if high_count is None and isclose(le, high, rel_tol=1e-4):
                high_count = cumulative
        if low_count is None or high_count is None:
            return None
        return max(0.0, high_count - low_count)

    @property
    def top_finite_bucket(self) -> float | None:
        """The largest finite `le`, e.g. 10 s for DefBuckets."""
        finite = [le for le, _ in self.buckets if math.isfinite(le)]
        return finite[-1] if finite else None

    def quantile(self, q: float) -> float | None:
        """The `q` quantile, Prometheus `histogram_quantile` semantics, or the summary's own value.

        Linear interpolation inside the bucket, ranked against the `+Inf` bucket (`total`); a
        quantile falling in `+Inf` returns the largest finite bound (as Prometheus does), so
        callers must also look at `count_above`. Without a `+Inf` bucket Prometheus answers NaN:
        None here.
        """
        if self.buckets:
            if not math.isinf(self.buckets[-1][0]):
                return None
            return _histogram_quantile(q, self.buckets, self.total)
        for quantile, value in self.quantiles:
            if math.isclose(quantile, q) and not math.isnan(value):
                return value
        return None

    def summary_quantile(self, q: float) -> float | None:
        """The summary's own `q` quantile, NaN kept (it means "no observation recently")."""
        for quantile, value in self.quantiles:
            if math.isclose(quantile, q):
                return value
        return None

    def over_top_mean_seconds(self) -> float | None:
        """Mean of the observations above the top finite bucket, estimated from `_sum`.

        The DefBuckets top is 10 s, useless near the 180 s threshold (docs/model.md#estimating-the-terms). The
        sum still carries the long observations: subtracting an upper estimate of the finite
        buckets' share (each bucket's count × its upper bound) leaves a lower estimate of what the
        long ones took. None when no observation is above the top bucket.
        """
        if self.over_top_mean_measured is not None:
            return self.over_top_mean_measured
        top = self.top_finite_bucket
        if top is None or not self.has_sum:
            return None
        above = self.count_above(top)
        if not above:
            return None
        below_sum = 0.0
        previous = 0.0
        for le, cumulative in self.buckets:
            if not math.isfinite(le):
                break
            below_sum += (cumulative - previous) * le
            previous = cumulative
        return OVER_TOP_MEAN.evaluate(
            {
                "hist_sum_seconds": self.sum_seconds,
                "hist_below_top_upper_seconds": below_sum,
                "hist_above_top": above,
                "top_bucket_seconds": top,
            }
        )

    def minus(self, earlier: Distribution) -> Distribution:
        """The observations since `earlier`; a reset (fewer observations now) returns `self`."""
        if self.count < earlier.count or self.sum_seconds < earlier.sum_seconds - 1e-9:
            return self
        earlier_buckets = dict(earlier.buckets)
        buckets = tuple(
            (le, max(0.0, count - earlier_buckets.get(le, 0.0))) for le, count in self.buckets
        )
        return Distribution(
            count=self.count - earlier.count,
            sum_seconds=max(0.0, self.sum_seconds - earlier.sum_seconds),
            buckets=buckets,
            quantiles=self.quantiles,
            has_sum=self.has_sum and earlier.has_sum,
        )

    def plus(self, other: Distribution) -> Distribution:
        """Two deltas added (used to chain a window across several scrapes)."""
        other_buckets = dict(other.buckets)
        return Distribution(
            count=self.count + other.count,
            sum_seconds=self.sum_seconds + other.sum_seconds,
            buckets=tuple((le, c + other_buckets.get(le, 0.0)) for le, c in self.buckets),
            quantiles=other.quantiles or self.quantiles,
            has_sum=self.has_sum and other.has_sum,
        )


def measured_histogram(
    *,
    count: float,
    sum_seconds: float,
    buckets: Sequence[tuple[float, float]],
    quantiles: Sequence[tuple[float, float | None]] = (),
    over_top_mean_seconds: float | None = None,
) -> Distribution:
    """A histogram known from what Prometheus computed over all its buckets, not the buckets.

    Fleet mode asks the server for a histogram's count, sum, a few of its cumulative buckets
    (`buckets`: the ones the model reads, the top finite one among them), its quantiles
    (`histogram_quantile`) and its over-top mean, instead of every bucket of every node. This
    holds them so that every figure read from it is the server's: `count_above` and
    `count_between` on the given bounds, `quantile(q)` for the given `q` (each is inserted as a
    bucket point at its rank, where it keeps the buckets monotonic: `_histogram_quantile` then
    lands exactly on it), and `over_top_mean_seconds`.
    """
    points = sorted((le, min(cumulative, count)) for le, cumulative in buckets)
    if not points or math.isfinite(points[-1][0]):
        points.append((math.inf, count))
    for q, value in quantiles:
        if value is None or not math.isfinite(value) or count <= 0:
            continue
        rank = q * count
        # The points are sorted by bound: those below `value` lead, those above it follow.
        bounds = [le for le, _ in points]
        below = bisect.bisect_left(bounds, value)
        above = bisect.bisect_right(bounds, value)
        fits = (below == 0 or points[below - 1][1] < rank) and (
            above == len(points) or rank <= points[above][1]
        )
        if fits and below == above:  # no bucket at `value` already
            points.insert(below, (value, rank))
    return Distribution(
        count=count,
        sum_seconds=sum_seconds,
        buckets=tuple(points),
        over_top_mean_measured=over_top_mean_seconds,
    )


def _histogram_quantile(
    q: float, buckets: Sequence[tuple[float, float]], count: float
) -> float | None:
    if count <= 0 or not buckets:
        return None
    rank = q * count
    bounds = [le for le, _ in buckets]
    counts = [c for _, c in buckets]
    index = bisect.bisect_left(counts, rank)
    if index >= len(buckets):
        index = len(buckets) - 1
    le = bounds[index]
    if not math.isfinite(le):
        finite = [b for b in bounds if math.isfinite(b)]
        return finite[-1] if finite else None
    lower = bounds[index - 1] if index > 0 else 0.0
    below = counts[index - 1] if index > 0 else 0.0
    in_bucket = counts[index] - below
    if in_bucket <= 0:
        return le
    return lower + (le - lower) * (rank - below) / in_bucket


@record(kw_only=True)
class OpStats:
    """One runtime `operation_type`: calls, errors and latency (docs/model.md#terms)."""

    calls: float
    errors: float
    latency: Distribution | None

    def minus(self, earlier: OpStats) -> OpStats:
        """The calls since `earlier`, reset-aware per counter."""
        return OpStats(
            calls=counter_delta(self.calls, earlier.calls),
            errors=counter_delta(self.errors, earlier.errors),
            latency=dist_delta(self.latency, earlier.latency),
        )

    def plus(self, other: OpStats) -> OpStats:
        """Two deltas added."""
        latency = self.latency
        if latency is None:
            latency = other.latency
        elif other.latency is not None:
            latency = latency.plus(other.latency)
        return OpStats(
            calls=self.calls + other.calls, errors=self.errors + other.errors, latency=latency
        )

    @functools.cached_property
    def timeouts(self) -> float | None:
        """Calls that hit the default CRI timeout: the (119.2, 298] bucket (≥1.20 buckets only).

        Kept once computed: the model, the causes and the report each ask for it, per operation
        of every node of a fleet (an `OpStats` never changes)."""
        if self.latency is None:
            return None
        return self.latency.count_between(TIMEOUT_BUCKET_LOW, TIMEOUT_BUCKET_HIGH)


def counter_delta(now: float, earlier: float) -> float:
    """The increase of a counter from `earlier` to `now`; a lower value means it was reset."""
    # Prometheus increase(): a counter lower than before has been reset; its value is the increase.
    return now if now < earlier else now - earlier


def dist_delta(now: Distribution | None, earlier: Distribution | None) -> Distribution | None:
    """`now.minus(earlier)` when both exist; `now` when there was nothing before."""
    if now is None:
        return None
    if earlier is None:
        return now
    return now.minus(earlier)
