"""One scrape of a sick node names a cause: a frozen health clock, calls that hit the CRI timeout
since the kubelet started, a runtime that refuses calls. Never "critical, no cause", and the
informational kubelet_restart never outranks a real cause."""

from __future__ import annotations

import pytest

from pleg_doctor.core.causes import ranking_key
from pleg_doctor.core.causes.base import Evidence, Finding

from .helpers import diagnose_texts, strict_json
from .kubelet_lab import SCENARIOS, dump_paths, oracle, read_text, with_timed_out_calls
from .kubelet_sim import KubeletSim
from .test_kubelet_lab import diagnose_lab

S1, S4 = "S1-healthy-baseline", "S4-listpodsandbox-hang"


@pytest.mark.parametrize("number", range(2, 26))
def test_a_stalled_lab_node_from_one_scrape_ranks_runtime_hung_first(number):
    """S4 dumps 02-25: the relist sits in a hung ListPodSandbox from 15:18:51 on."""
    path = dump_paths(S4)[number - 1]
    report = diagnose_lab([path])
    assert report.verdict == oracle([path]).verdict
    top = report.causes[0]
    assert top.id == "runtime_hung", [(c.id, c.score) for c in report.causes]
    evidence = {e.metric: e.value for e in top.evidence}
    # The gauge's value as the dump has it, with what it means.
    assert str(evidence["kubelet_pleg_last_seen_seconds"]).startswith("1795965530 (")
    assert any("probe-runtime" in step for step in top.next_steps)
    assert any("--window 30s" in step for step in top.next_steps)
    assert any(step.startswith("journalctl -u kubelet") for step in top.next_steps)
    if report.verdict == "critical":
        assert top.score >= 0.75
    if number >= 10:  # the first hung call hit its deadline at 15:20:51, dump 10 has it
        assert top.score >= 0.75
        assert "kubelet_runtime_operations_duration_seconds{list_podsandbox|list_containers}" in (
            evidence
        )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_kubelet_restart_is_informational_and_never_outranks_a_real_cause(scenario):
    # Every lab kubelet started a minute or two before its dumps: kubelet_restart scores on all.
    for path in dump_paths(scenario):
        causes = diagnose_lab([path]).causes
        ids = [c.id for c in causes]
        if "kubelet_restart" in ids:
            assert ids[-1] == "kubelet_restart", ids


def test_ranking_puts_informational_causes_last_whatever_their_score():
    restart = Finding(id="kubelet_restart", score=0.9, title="", evidence=(), next_steps=())
    slow = Finding(id="runtime_slow", score=0.2, title="", evidence=(), next_steps=())
    assert sorted([restart, slow], key=ranking_key) == [slow, restart]


def test_status_calls_that_hit_the_timeout_name_a_wedged_container_from_one_scrape():
    # Derived from a real lab dump (S1 dump 08, healthy): 2 PodSandboxStatus calls that failed at
    # the 120 s CRI timeout, held by 2 relists of 120 s. Counter values only; the last-seen age
    # stays 2 s, under any threshold.
    text = with_timed_out_calls(read_text(dump_paths(S1)[7]), "podsandbox_status", 2, relists=2)
    report = diagnose_texts([text])
    assert report.model.last_seen_age_seconds == 2
    assert report.verdict == "warning"
    assert any("runtime call(s) hit the CRI timeout since the kubelet started" in r
               for r in report.reasons)  # fmt: skip
    top = report.causes[0]
    assert top.id == "container_wedged", [(c.id, c.score) for c in report.causes]
    values = {e.metric: e.value for e in top.evidence}
    assert (
        values["kubelet_runtime_operations_duration_seconds{podsandbox_status|container_status}"]
        == 2
    )
    assert values["kubelet_runtime_operations_duration_seconds{list_*}"] == "no timeouts"
    assert "runtime_hung" not in [c.id for c in report.causes]
    assert any("probe-runtime" in step for step in top.next_steps)


def test_list_calls_that_hit_the_timeout_are_runtime_hung_from_one_scrape():
    # Derived from S1 dump 08: 3 ListPodSandbox calls failed at the timeout (3 relists of 120 s).
    text = with_timed_out_calls(read_text(dump_paths(S1)[7]), "list_podsandbox", 3, relists=3)
    report = diagnose_texts([text])
    assert report.verdict == "warning"
    assert report.causes[0].id == "runtime_hung"
    assert "container_wedged" not in [c.id for c in report.causes]


def test_a_runtime_that_refuses_calls_is_runtime_hung_not_a_starved_kubelet():
    # tests/kubelet_sim.py: 10 min healthy, then the runtime answers every list and Status()
    # call with an immediate error (UNAVAILABLE) for 100 s: relists fail in milliseconds, the
    # health clock freezes.
    sim = KubeletSim()
    sim.run(600)
    sim.runtime.refused = frozenset({"list_podsandbox", "list_containers", "status"})
    sim.run(100)
    report = diagnose_texts([sim.dump()])
    assert 99 <= (report.model.last_seen_age_seconds or 0) <= 102
    assert report.verdict == "warning"  # headroom under 90 s
    top = report.causes[0]
    assert top.id == "runtime_hung" and top.score >= 0.8, [(c.id, c.score) for c in report.causes]
    notes = " ".join(e.note for e in top.evidence)
    assert "refuses" in notes and "fails at once" in notes
    # The loop keeps relisting on a frozen clock (not stuck in one call): ~90 stale starts.
    stale = {e.metric: e.value for e in top.evidence}
    assert stale["kubelet_pleg_relist_interval_seconds (over 10 s)"] >= 80
    assert "kubelet_starved" not in [c.id for c in report.causes]
    # Left to go on, it crosses the threshold: critical, and still the runtime.
    sim.run(100)
    later = diagnose_texts([sim.dump()])
    assert later.verdict == "critical"
    assert later.causes[0].id == "runtime_hung"


def test_a_critical_single_scrape_always_has_a_cause():
    for path in dump_paths(S4):
        report = diagnose_lab([path])
        if report.verdict == "critical":
            assert report.causes and report.causes[0].id != "kubelet_restart"
            doc = strict_json(report)
            assert doc["causes"][0]["score"] >= 0.5


def test_evidence_values_are_what_the_dump_says():
    # S4 dump 25: 4 ListPodSandbox calls in the (119.2, 298] bucket, 4 errors, 6 relists.
    report = diagnose_lab([dump_paths(S4)[24]])
    top = report.causes[0]
    found = {e.metric: e.value for e in top.evidence}
    assert (
        found["kubelet_runtime_operations_duration_seconds{list_podsandbox|list_containers}"] == 4
    )
    assert found["kubelet_pleg_relist_duration_seconds (over 10 s)"] == 2
    assert isinstance(top.evidence[0], Evidence)
