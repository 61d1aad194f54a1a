"""Synthetic windows for every cause id, built by the simulated kubelet, ranked on top."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from pleg_doctor.core.causes import CAUSE_IDS, RULES

from .helpers import diagnose_texts
from .kubelet_sim import KubeletSim, Runtime


def _window(
    sim: KubeletSim,
    change: Callable[[KubeletSim], None] | None = None,
    before: float = 600,
    during: float = 300,
) -> list[str]:
    sim.run(before)
    first = sim.dump()
    if change is not None:
        change(sim)
    sim.run(during)
    return [first, sim.dump()]


def _hang(sim: KubeletSim) -> None:
    sim.runtime.list_podsandbox = math.inf
    sim.runtime.list_containers = math.inf
    sim.runtime.status = math.inf


def _wedge(sim: KubeletSim) -> None:
    sim.runtime.wedged_pods = 1


def _slow(sim: KubeletSim) -> None:
    sim.runtime.list_podsandbox = sim.runtime.list_containers = 1.5
    sim.runtime.podsandbox_status = sim.runtime.container_status = 0.6


def _discard(sim: KubeletSim) -> None:
    sim.discards += 500


def _evented_errors(sim: KubeletSim) -> None:
    sim.evented_errors += 6


def _deadlock() -> list[str]:
    """≤1.13: the relist blocks for good; the runtime keeps answering Status()."""
    sim = KubeletSim(version="v1.13.4")
    sim.run(900)
    first = sim.dump()
    sim.now += 300
    sim._status_loop()
    return [first, sim.dump()]


def _clock_skew() -> list[str]:
    sim = KubeletSim()
    sim.run(1200)
    return [sim.dump(captured_at=sim.now - 60)]  # the capturing machine's clock is behind


SCENARIOS: dict[str, Callable[[], list[str]]] = {
    "runtime_hung": lambda: _window(KubeletSim(), _hang),
    "container_wedged": lambda: _window(KubeletSim(), _wedge, during=600),
    "runtime_slow": lambda: _window(KubeletSim(churn_pods_per_relist=1), _slow),
    "pod_density": lambda: _window(
        KubeletSim(
            pods=400,
            containers_per_pod=5,
            exited_containers=1500,
            churn_pods_per_relist=1.0,
            runtime=Runtime(
                list_podsandbox=0.09,
                list_containers=0.09,
                podsandbox_status=0.04,
                container_status=0.04,
            ),
        )
    ),
    "pod_churn": lambda: _window(
        KubeletSim(
            pods=60,
            churn_pods_per_relist=15,
            runtime=Runtime(
                list_podsandbox=0.02,
                list_containers=0.02,
                podsandbox_status=0.02,
                container_status=0.03,
            ),
        )
    ),
    "cni": lambda: _window(
        KubeletSim(
            version="v1.21.2", dockershim=True, churn_pods_per_relist=1, network_status_seconds=3.0
        )
    ),
    "relist_deadlock": _deadlock,
    "event_channel_full": lambda: _window(KubeletSim(), _discard),
    "evented_pleg_fallback": lambda: _window(
        KubeletSim(version="v1.35.0", evented_gate=True), _evented_errors, before=1200, during=600
    ),
    "kubelet_starved": lambda: _window(
        KubeletSim(kubelet_stall_seconds=2.0, extra_relist_seconds=2.5)
    ),
    "kubelet_restart": lambda: _window(KubeletSim(), KubeletSim.restart),
    "clock_skew": _clock_skew,
}

EXPECTED_VERDICT = {
    "runtime_hung": "critical",
    "container_wedged": "warning",
    "relist_deadlock": "critical",
    "event_channel_full": "warning",
    "evented_pleg_fallback": "warning",
}


def test_every_cause_id_has_a_rule_and_a_scenario():
    assert set(CAUSE_IDS) == set(SCENARIOS)
    assert len(CAUSE_IDS) == len(RULES) == 12
    for rule in RULES:
        assert rule.evaluate.__doc__
        assert rule.title


@pytest.mark.parametrize("cause", sorted(SCENARIOS))
def test_synthetic_window_ranks_its_cause_first(cause):
    report = diagnose_texts(SCENARIOS[cause]())
    assert report.causes, f"no cause scored for {cause}"
    top = report.causes[0]
    assert top.id == cause, [(c.id, round(c.score, 2)) for c in report.causes]
    assert top.evidence
    assert top.next_steps
    if cause in EXPECTED_VERDICT:
        assert report.verdict == EXPECTED_VERDICT[cause]
    if cause != "kubelet_restart":  # informational by design
        assert top.score >= 0.5


def test_healthy_window_is_ok_with_no_cause_at_half():
    report = diagnose_texts(_window(KubeletSim()))
    assert report.verdict == "ok"
    assert all(c.score < 0.5 for c in report.causes)


def test_healthy_real_dumps_have_no_cause_at_half(real_dump: Path):
    report = diagnose_texts([real_dump.read_bytes()])
    assert report.verdict == "ok"
    assert all(c.score < 0.5 for c in report.causes), [(c.id, c.score) for c in report.causes]


def test_priors_rule_out_causes_by_version_runtime_and_gate():
    # CNI inside PodSandboxStatus only with dockershim: same slow network status, containerd.
    report = diagnose_texts(
        _window(KubeletSim(churn_pods_per_relist=1, runtime=Runtime(podsandbox_status=3.0)))
    )
    assert "cni" not in {c.id for c in report.causes}
    # No relist deadlock on ≥1.14: a frozen relist on 1.21 is something else.
    sim = KubeletSim(version="v1.21.2")
    sim.run(900)
    first = sim.dump()
    sim.now += 300
    sim._status_loop()
    ids = {c.id for c in diagnose_texts([first, sim.dump()]).causes}
    assert "relist_deadlock" not in ids
    # No EventedPLEG causes without the gate, whatever the counters say.
    ids = {
        c.id for c in diagnose_texts(_window(KubeletSim(version="v1.35.0"), _evented_errors)).causes
    }
    assert "evented_pleg_fallback" not in ids


def test_select_and_ignore_limit_the_rules():
    texts = SCENARIOS["container_wedged"]()
    only = diagnose_texts(texts, select=["runtime_slow"])
    assert {c.id for c in only.causes} <= {"runtime_slow"}
    without = diagnose_texts(texts, ignore=["container_wedged"])
    assert "container_wedged" not in {c.id for c in without.causes}


def test_wedged_container_evidence_names_the_timeout_multiple():
    report = diagnose_texts(SCENARIOS["container_wedged"]())
    notes = " ".join(e.note for e in report.causes[0].evidence)
    assert "1.0 × the CRI timeout" in notes
