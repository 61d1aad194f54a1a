from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pleg_doctor.core.distribution import Distribution, OpStats
from pleg_doctor.core.exposition import parse_exposition
from pleg_doctor.core.snapshot import build_snapshot
from pleg_doctor.core.window import window_between

from .conftest import FIXTURES
from .helpers import check_schema, diagnose_texts, strict_json
from .kubelet_sim import KubeletSim


def _snap(name: str):
    path = FIXTURES / name
    return build_snapshot(parse_exposition([path.read_bytes()], name=name).samples, name=name)


@pytest.mark.parametrize(
    ("name", "version", "pods", "dockershim", "buckets", "containers"),
    [
        ("datadog-v1.10.0.prom", (1, 10), 12, True, None, {"running": 15}),
        ("datadog-v1.14.10.prom", (1, 14), 12, True, "default", {"running": 12}),
        (
            "datadog-v1.21.2.prom",
            (1, 21),
            29,
            True,
            "exponential",
            {"created": 1, "exited": 9, "running": 33},
        ),
        (
            "spitdb-v1.35.0.prom",
            (1, 35),
            11,
            False,
            "exponential",
            {"created": 1, "exited": 1, "running": 11},
        ),
    ],
)
def test_era_normalization_on_real_dumps(name, version, pods, dockershim, buckets, containers):
    snap = _snap(name)
    assert snap.version == version
    assert not snap.version_inferred
    assert snap.running_pods == pods
    assert snap.has_dockershim is dockershim
    assert snap.runtime_buckets == buckets
    assert dict(snap.containers_by_state or {}) == containers
    assert snap.relist_duration is not None
    assert snap.relist_duration.count > 0
    assert {"list_podsandbox", "list_containers", "podsandbox_status", "container_status"} <= set(
        snap.runtime_ops
    )


def test_build_info_label_spellings():
    # camelCase gitVersion in ≤1.20 dumps, snake_case git_version from 1.21 on.
    assert _snap("datadog-v1.14.10.prom").kubelet_version == "v1.14.10"
    assert _snap("datadog-v1.21.2.prom").kubelet_version == "v1.21.2"


def test_1_14_exposes_both_generations_and_the_histogram_wins():
    snap = _snap("datadog-v1.14.10.prom")
    assert snap.relist_duration is not None
    assert snap.relist_duration.buckets
    assert snap.relist_duration_summary is not None  # the µs summary, kept beside it
    assert snap.relist_duration.count == 42893
    assert snap.relist_duration.count_above(10.0) == 46
    # the recent p99 of the summary hides the 46 relists over 10 s
    assert snap.relist_duration_summary.summary_quantile(0.99) == pytest.approx(0.028543)
    # runtime ops: the `_total` counter wins over the deprecated one (same values here)
    assert snap.runtime_ops["list_podsandbox"].calls > 0


def test_evented_gate_from_feature_enabled():
    assert _snap("spitdb-v1.35.0.prom").evented_gate is False


def _without_build_info(name: str):
    text = (FIXTURES / name).read_text()
    stripped = "\n".join(x for x in text.splitlines() if "kubernetes_build_info" not in x) + "\n"
    return build_snapshot(parse_exposition([stripped.encode()], name="x").samples, name="x")


@pytest.mark.parametrize(
    ("name", "inferred", "low"),
    [
        # µs summaries only (no seconds histogram beside them), dockershim: before 1.14
        ("datadog-v1.10.0.prom", ">=1.9 <1.14", (1, 9)),
        # both the summary and the histogram, DefBuckets runtime latencies: 1.14-1.16
        ("datadog-v1.14.10.prom", ">=1.14 <1.17", (1, 14)),
        # exponential runtime buckets (1.20) and dockershim (gone in 1.24)
        ("datadog-v1.21.2.prom", ">=1.20 <1.24", (1, 20)),
        # EventedPLEG families (1.27)
        ("spitdb-v1.35.0.prom", ">=1.27", (1, 27)),
    ],
)
def test_version_without_build_info_is_a_range_that_holds_the_real_one(name, inferred, low):
    snap = _without_build_info(name)
    assert snap.kubelet_version is None
    assert snap.version_inferred
    assert str(snap.version_range) == inferred
    assert snap.version == low  # the model assumes the oldest version the names allow
    real = _snap(name).version
    assert snap.version_range is not None and snap.version_range.low <= real
    assert snap.version_range.high is None or real < snap.version_range.high


def test_inferred_version_is_null_in_the_json_with_the_range_beside_it():
    text = (FIXTURES / "datadog-v1.10.0.prom").read_text()
    stripped = "\n".join(x for x in text.splitlines() if "kubernetes_build_info" not in x)
    doc = strict_json(diagnose_texts([stripped + "\n"]))
    check_schema(doc)
    assert doc["kubelet_version"] is None
    assert doc["kubelet_version_inferred"] == ">=1.9 <1.14"
    assert any(">=1.9 <1.14 inferred" in note for note in doc["notes"])
    assert not any("v1.13" in note for note in doc["notes"])


def test_capture_time_is_bounded_by_the_dumps_own_clocks():
    snap = _snap("datadog-v1.21.2.prom")
    assert snap.captured_at_origin == "estimated"
    # last_seen (1648119277) is later than the last GC (1648119276.52): it is the lower bound
    assert snap.captured_at == 1648119277
    assert snap.captured_at_upper == pytest.approx(1648119276.52 + 120, abs=0.01)


def test_window_deltas_between_two_dumps():
    sim = KubeletSim()
    sim.run(300)
    a = sim.dump()
    sim.run(120)
    b = sim.dump()
    report = diagnose_texts([a, b])
    window = report.window
    assert not window.is_lifetime
    assert window.scrapes == 2
    assert window.seconds == pytest.approx(120, abs=3)
    assert window.relists == pytest.approx(120, rel=0.05)


def test_restart_between_dumps_is_detected_and_never_negative():
    sim = KubeletSim()
    sim.run(600)
    a = sim.dump()
    sim.restart()
    sim.run(60)
    b = sim.dump()
    window = diagnose_texts([a, b]).window
    assert window.restarted
    assert window.relists == pytest.approx(60, rel=0.1)  # counted from the restart
    for stats in window.runtime_ops.values():
        assert stats.calls >= 0
        assert stats.errors >= 0


def test_dumps_are_ordered_by_capture_time_not_argument_order():
    sim = KubeletSim()
    sim.run(100)
    a = sim.dump()
    sim.run(100)
    b = sim.dump()
    assert diagnose_texts([b, a]).window.relists == diagnose_texts([a, b]).window.relists


def _dist(count: float, total: float) -> Distribution:
    return Distribution(
        count=count, sum_seconds=total, buckets=((1.0, count / 2), (math.inf, count))
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1e6), st.floats(0, 1e6), st.floats(0, 1e4), st.booleans()),
        min_size=2,
        max_size=6,
    )
)
def test_windows_never_produce_negative_rates(points):
    """Any sequence of counter values (with resets anywhere) gives non-negative deltas."""
    from dataclasses import replace

    base = _snap_cached()
    snaps = []
    for i, (count, total, calls, _restart) in enumerate(points):
        snaps.append(
            replace(
                base,
                captured_at=1000.0 + i * 30,
                relist_duration=_dist(count, total),
                relist_interval=_dist(count, total),
                runtime_ops={
                    "list_podsandbox": OpStats(
                        calls=calls, errors=calls / 3, latency=_dist(calls, total)
                    )
                },
                discard_events=calls,
                process_start_seconds=1.0 + (i if _restart else 0),
            )
        )
    window = window_between(snaps)
    assert window.relist_duration is not None
    assert window.relist_duration.count >= 0
    assert window.relist_duration.sum_seconds >= 0
    assert all(c >= 0 for _, c in window.relist_duration.buckets)
    op = window.runtime_ops["list_podsandbox"]
    assert op.calls >= 0
    assert op.errors >= 0
    assert (window.discard_events or 0) >= 0


_CACHE: dict[str, object] = {}


def _snap_cached():
    if "s" not in _CACHE:
        _CACHE["s"] = _snap("spitdb-v1.35.0.prom")
    return _CACHE["s"]


def test_fixture_sources_are_documented():
    text = (FIXTURES / "SOURCES.md").read_text()
    for path in FIXTURES.glob("*.prom"):
        assert path.name in text
    assert Path(FIXTURES).is_dir()
