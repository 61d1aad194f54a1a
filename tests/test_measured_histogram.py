"""`distribution.measured_histogram`: a histogram known from the server's aggregates reads the
same as the full histogram, for every figure the model and the report take from it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pleg_doctor.core.distribution import (
    TIMEOUT_BUCKET_HIGH,
    TIMEOUT_BUCKET_LOW,
    Distribution,
    measured_histogram,
)

DEF_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
EXP_BUCKETS = tuple(0.005 * 2.5**i for i in range(14))

durations = st.one_of(
    st.floats(0.0, 0.05), st.floats(0.05, 12.0), st.sampled_from([120.0, 240.0, 0.004])
)


def _histogram(observations: list[float], bounds: tuple[float, ...]) -> Distribution:
    cumulative = tuple((le, float(sum(o <= le for o in observations))) for le in bounds)
    count = float(len(observations))
    return Distribution(
        count=count, sum_seconds=sum(observations), buckets=(*cumulative, (math.inf, count))
    )


@settings(max_examples=400, deadline=None)
@given(st.lists(durations, min_size=1, max_size=300))
def test_a_relist_histogram_from_its_measurements(observations):
    full = _histogram(observations, DEF_BUCKETS)
    measured = measured_histogram(
        count=full.count,
        sum_seconds=full.sum_seconds,
        buckets=[(10.0, full.count - (full.count_above(10.0) or 0.0))],
        quantiles=[(0.5, full.quantile(0.5)), (0.99, full.quantile(0.99))],
        over_top_mean_seconds=full.over_top_mean_seconds(),
    )
    for q in (0.5, 0.99):  # the same, to the last bit or two of the interpolation
        assert measured.quantile(q) == pytest.approx(full.quantile(q), rel=1e-12, abs=1e-15)
    assert measured.count_above(10.0) == full.count_above(10.0)
    assert measured.over_top_mean_seconds() == full.over_top_mean_seconds()
    assert measured.mean_seconds == full.mean_seconds
    assert measured.top_finite_bucket == 10.0


@settings(max_examples=300, deadline=None)
@given(st.lists(durations, min_size=1, max_size=300))
def test_a_runtime_histogram_from_its_measurements(observations):
    full = _histogram(observations, EXP_BUCKETS)
    timeouts = full.count_between(TIMEOUT_BUCKET_LOW, TIMEOUT_BUCKET_HIGH) or 0.0
    count = full.count
    measured = measured_histogram(
        count=count,
        sum_seconds=full.sum_seconds,
        buckets=[
            (TIMEOUT_BUCKET_LOW, count - timeouts),
            (TIMEOUT_BUCKET_HIGH, count),
            (EXP_BUCKETS[-1], count),
        ],
        quantiles=[(0.99, full.quantile(0.99))],
    )
    # Calls over 298 s do not happen with the default 2-minute CRI timeout (no such draw here).
    assert measured.count_between(TIMEOUT_BUCKET_LOW, TIMEOUT_BUCKET_HIGH) == timeouts
    assert measured.quantile(0.99) == pytest.approx(full.quantile(0.99), rel=1e-12, abs=1e-15)
    assert measured.top_finite_bucket == full.top_finite_bucket


def test_a_quantile_that_does_not_fit_the_given_buckets_is_left_to_them():
    # p99 reported as the top bound (Prometheus does so when the rank falls in +Inf)
    measured = measured_histogram(
        count=100.0, sum_seconds=500.0, buckets=[(10.0, 90.0)], quantiles=[(0.99, 10.0)]
    )
    assert measured.quantile(0.99) == 10.0 and measured.count_above(10.0) == 10.0
    empty = measured_histogram(count=0.0, sum_seconds=0.0, buckets=[(10.0, 0.0)])
    assert empty.quantile(0.99) is None and empty.mean_seconds is None
