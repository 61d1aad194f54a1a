from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pleg_doctor.core.constants import DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS, constants_for
from pleg_doctor.core.costs import (
    RelistCosts,
    hung_calls_tolerated,
    pods_at_threshold,
    predict_relist,
    worst_age_seconds,
)

from .helpers import diagnose_texts
from .kubelet_sim import KubeletSim, Runtime


@pytest.mark.parametrize(
    ("version", "gate", "errors", "period", "threshold", "mode", "blocking", "last_seen"),
    [
        ((1, 10), None, None, 1, 180, "generic", True, False),
        ((1, 13), None, None, 1, 180, "generic", True, False),
        ((1, 14), None, None, 1, 180, "generic", False, False),
        ((1, 18), None, None, 1, 180, "generic", False, True),
        ((1, 35), False, 0, 1, 180, "generic", False, True),
        ((1, 35), True, 0, 300, 600, "evented", False, True),
        ((1, 35), True, 5, 1, 180, "evented", False, True),  # fell back after 5 errors
        ((1, 25), True, 0, 1, 180, "generic", False, True),  # no EventedPLEG before 1.26
    ],
)
def test_constants_by_version(version, gate, errors, period, threshold, mode, blocking, last_seen):
    c = constants_for(version, evented_gate=gate, evented_errors=errors)
    assert (c.relist_period_seconds, c.relist_threshold_seconds, c.mode) == (
        period,
        threshold,
        mode,
    )
    assert c.non_blocking_events is not blocking
    assert c.has_last_seen is last_seen
    assert c.runtime_request_timeout_seconds == DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS


def _costs(lat: float = 0.005, n: float = 1.0, c: float = 2.0, hung: float = 0.0) -> RelistCosts:
    return RelistCosts(
        list_podsandbox_seconds=lat,
        list_containers_seconds=lat,
        podsandbox_status_seconds=lat,
        container_status_seconds=lat,
        pods_inspected_per_relist=n,
        podsandbox_status_calls_per_relist=n,
        container_status_calls_per_relist=n * c,
        hung_calls_per_relist=hung,
    )


def test_defaults_tolerate_exactly_one_hung_call():
    """1·120 + 1 + small < 180; 2·120 > 180 (docs/model.md#hung-calls-tolerated)."""
    c = constants_for((1, 29), evented_gate=False)
    p = predict_relist(_costs(), c)
    assert hung_calls_tolerated(c, p.getpods_seconds, p.inspection_seconds) == 1
    assert (
        hung_calls_tolerated(
            constants_for((1, 29), evented_gate=False, runtime_request_timeout_seconds=30),
            p.getpods_seconds,
            p.inspection_seconds,
        )
        == 5
    )


@settings(max_examples=300, deadline=None)
@given(
    st.floats(0, 5),
    st.floats(0, 50),
    st.floats(0, 10),
    st.floats(1, 600),
)
def test_hung_calls_tolerated_is_the_floor_formula(lat, n, c, tau):
    const = constants_for((1, 29), evented_gate=False, runtime_request_timeout_seconds=tau)
    p = predict_relist(_costs(lat, n, c), const)
    expected = math.floor((180 - 1 - p.getpods_seconds - p.inspection_seconds) / tau)
    assert hung_calls_tolerated(const, p.getpods_seconds, p.inspection_seconds) == max(0, expected)


@settings(max_examples=300, deadline=None)
@given(
    st.floats(0, 2),
    st.floats(0, 2),
    st.floats(0, 30),
    st.floats(0, 30),
    st.floats(0, 3),
)
def test_worst_age_rises_with_every_cost(lat_a, lat_b, n_a, n_b, hung):
    """Headroom falls (worst age rises) as latencies, pods inspected and hung calls rise."""
    const = constants_for((1, 29), evented_gate=False)
    lo_lat, hi_lat = sorted((lat_a, lat_b))
    lo_n, hi_n = sorted((n_a, n_b))

    def age(lat, n, h):
        p = predict_relist(_costs(lat, n, 2, h), const)
        return worst_age_seconds(p.relist_seconds, p.getpods_seconds, const.relist_period_seconds)

    assert age(lo_lat, lo_n, 0) <= age(hi_lat, lo_n, 0) + 1e-9
    assert age(lo_lat, lo_n, 0) <= age(lo_lat, hi_n, 0) + 1e-9
    assert age(lo_lat, lo_n, 0) <= age(lo_lat, lo_n, hung) + 1e-9


@settings(max_examples=200, deadline=None)
@given(st.floats(0.001, 1), st.floats(0.001, 1), st.integers(1, 500))
def test_pods_at_threshold_falls_as_latency_rises(lat_a, lat_b, pods):
    const = constants_for((1, 29), evented_gate=False)
    lo, hi = sorted((lat_a, lat_b))
    fast = pods_at_threshold(const, predict_relist(_costs(lo, 1), const), pods)
    slow = pods_at_threshold(const, predict_relist(_costs(hi, 1), const), pods)
    assert fast is not None
    assert slow is not None
    assert slow <= fast


@settings(max_examples=25, deadline=None)
@given(st.integers(5, 200), st.sampled_from([0.002, 0.01, 0.05, 0.2]))
def test_headroom_falls_as_pods_and_latencies_rise_end_to_end(pods, latency):
    """Through the whole pipeline: more pods or slower calls never give more headroom."""

    def headroom(p, lat):
        sim = KubeletSim(
            pods=p,
            churn_pods_per_relist=p / 50,
            runtime=Runtime(
                list_podsandbox=lat,
                list_containers=lat,
                podsandbox_status=lat,
                container_status=lat,
                list_scale_per_container=0.0001,
            ),
        )
        sim.run(60)
        a = sim.dump()
        sim.run(60)
        return diagnose_texts([a, sim.dump()]).model

    base = headroom(pods, latency)
    more = headroom(pods * 2, latency)
    slower = headroom(pods, latency * 2)
    assert base.headroom_seconds is not None
    assert more.predicted_worst_age_seconds >= base.predicted_worst_age_seconds - 0.05
    assert slower.predicted_worst_age_seconds >= base.predicted_worst_age_seconds - 0.05


def test_headroom_is_threshold_minus_worst_age():
    sim = KubeletSim()
    sim.run(120)
    a = sim.dump()
    sim.runtime.wedged_pods = 1
    sim.run(400)
    model = diagnose_texts([a, sim.dump()]).model
    assert model.headroom_seconds == pytest.approx(180 - model.worst_age_seconds)
    # one hung PodSandboxStatus per relist: relists take ≈ τ, the age peaks ≈ τ + P + G
    assert model.tail_relist_seconds == pytest.approx(120, abs=3)
    assert model.headroom_seconds == pytest.approx(59, abs=3)
    assert model.hung_calls_worst_relist == 1


def test_model_prediction_tracks_the_measured_relist_on_real_dumps(real_dump):
    from pathlib import Path

    report = diagnose_texts([Path(real_dump).read_bytes()])
    model = report.model
    assert model.prediction is not None
    assert model.observed_relist_seconds is not None
    # the lifetime means of healthy real kubelets: the model is within a few ms of what the
    # kubelet measured (its residual is kubelet CPU and non-PLEG callers of the same calls)
    assert abs(model.residual_seconds) < 0.02
    assert model.hung_calls_tolerated == 1


def test_stalled_relist_in_a_window_is_critical_after_the_threshold():
    sim = KubeletSim()
    sim.run(300)
    a = sim.dump()
    sim.hang_runtime_for(400)
    report = diagnose_texts([a, sim.dump()])
    assert report.verdict == "critical"
    assert report.model.last_seen_age_seconds > 180


def test_1_36_per_pod_relists_hold_the_relist_lock():
    """`pkg/kubelet/pleg/generic.go` (1.36): per-pod relist requests share relistLock; their time delays relists."""

    def with_pod_relists(text: str, count: int, total: float) -> str:
        return text + (
            "# TYPE kubelet_pleg_pod_relist_duration_seconds histogram\n"
            f'kubelet_pleg_pod_relist_duration_seconds_bucket{{le="+Inf"}} {count}\n'
            f"kubelet_pleg_pod_relist_duration_seconds_sum {total}\n"
            f"kubelet_pleg_pod_relist_duration_seconds_count {count}\n"
        )

    sim = KubeletSim(version="v1.36.0")
    sim.run(300)
    a = sim.dump()
    sim.run(100)
    b = sim.dump()
    plain = diagnose_texts([a, b])
    locked = diagnose_texts([with_pod_relists(a, 10, 1.0), with_pod_relists(b, 110, 51.0)])
    relists = locked.window.relists
    assert locked.model.pod_relist_seconds_per_relist == pytest.approx(50.0 / relists)
    assert locked.model.predicted_worst_age_seconds == pytest.approx(
        plain.model.predicted_worst_age_seconds + 50.0 / relists
    )
    assert any("per-pod relists" in n for n in locked.notes)
    assert locked.to_dict()["model"]["terms"]["pod_relists"] > 0


def test_evented_gate_ignores_last_seen_and_uses_relaxed_constants():
    sim = KubeletSim(version="v1.35.0", evented_gate=True)
    sim.run(1200)
    report = diagnose_texts([sim.dump(captured_at=sim.now + 3600)])  # gauge says "now" anyway
    assert report.constants.mode == "evented"
    assert report.model.last_seen_age_seconds is None
    assert report.constants.relist_threshold_seconds == 600
    assert any("EventedPLEG gate on" in n for n in report.notes)


def _evented_window(sim: KubeletSim) -> list[str]:
    """Two dumps of an EventedPLEG kubelet, 20 minutes apart (four generic relists between)."""
    sim.run(1200)
    first = sim.dump(captured_at=sim.now)
    sim.run(1200)
    return [first, sim.dump(captured_at=sim.now)]


def test_a_healthy_evented_node_is_ok():
    """Generic relisting every 300 s under EventedPLEG leaves about 300 s of the 600 s threshold
    on every healthy node: the headroom warning counts from what the loop can use past its
    period, `(T − (P − 1 s)) / 2` = 150.5 s, not from `T/2` (which every such node is under)."""
    sim = KubeletSim(version="v1.35.0", evented_gate=True)
    for report in (
        diagnose_texts(_evented_window(sim)),
        diagnose_texts([sim.dump(captured_at=sim.now)]),
    ):
        assert report.constants.mode == "evented"
        assert report.model.headroom_seconds is not None
        assert 290 < report.model.headroom_seconds < 300  # under T/2: the old warning
        assert report.model.headroom_warning_seconds == 150.5
        assert not report.model.headroom_low
        assert report.verdict == "ok", report.reasons


def test_an_evented_node_short_of_headroom_warns():
    """Two wedged sandboxes: every generic relist waits 2 × 120 s, the age reaches ≈ 540 s of
    the 600 s threshold; under the 150.5 s limit, the headroom warning fires."""
    sim = KubeletSim(version="v1.35.0", evented_gate=True, runtime=Runtime(wedged_pods=2))
    report = diagnose_texts(_evented_window(sim))
    assert report.model.headroom_seconds is not None
    assert 0 < report.model.headroom_seconds < 150.5
    assert report.model.headroom_low
    assert report.verdict == "warning"
    assert any("half of what the relist loop can use" in r for r in report.reasons), report.reasons


def test_the_generic_warning_limit_is_half_the_threshold_exactly():
    """P = 1 s: `(T − (P − 1 s)) / 2` is `T/2` bit for bit, so every generic verdict stands."""
    sim = KubeletSim()
    sim.run(120)
    report = diagnose_texts([sim.dump(captured_at=sim.now)])
    assert report.model.headroom_warning_seconds == 90.0
    fallen = constants_for((1, 35), evented_gate=True, evented_errors=5)
    assert (fallen.relist_threshold_seconds - (fallen.relist_period_seconds - 1.0)) * 0.5 == 90.0
