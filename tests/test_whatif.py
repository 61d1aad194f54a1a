"""`pleg-doctor model` (what-if) and `diagnose --explain`."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pleg_doctor.core.whatif import Scenario, evaluate_scenario, with_changes
from tests.helpers import run_cli

from .conftest import FIXTURES


def run(args, capsys):
    return run_cli(args, capsys, secrets=())


def test_model_defaults_table(capsys):
    code, out, err = run(["model"], capsys)
    assert code == 0, err
    assert "Headroom as pods grow" in out and "◀ now" in out and "hung calls tolerated  1" in out


def test_model_json_hung_call_and_evented(capsys):
    _, out, _ = run(["model", "--hung-calls", "1", "-o", "json"], capsys)
    doc = json.loads(out)
    assert doc["schema"] == "pleg-doctor/model-v1"
    assert doc["worst_age_seconds"] == pytest.approx(121, abs=0.5)  # τ + P + a little
    assert doc["headroom_seconds"] == pytest.approx(59, abs=0.5)
    _, out, _ = run(["model", "--evented", "-o", "json"], capsys)
    doc = json.loads(out)
    assert (
        doc["constants"]["threshold_seconds"] == 600
        and doc["constants"]["relist_period_seconds"] == 300
    )


def test_model_from_a_dump_and_set_pods(capsys):
    dump = str(FIXTURES / "datadog-v1.21.2.prom")
    _, base, _ = run(["model", "--from", dump, "-o", "json"], capsys)
    _, more, _ = run(["model", "--from", dump, "--set", "pods=290", "-o", "json"], capsys)
    base_doc, more_doc = json.loads(base), json.loads(more)
    assert base_doc["inputs"]["pods"] == 29 and more_doc["inputs"]["pods"] == 290
    # ten times the pods: lists ten times longer, churn ten times higher
    assert more_doc["inputs"]["list_podsandbox"] == pytest.approx(
        10 * base_doc["inputs"]["list_podsandbox"]
    )
    assert more_doc["worst_age_seconds"] > base_doc["worst_age_seconds"]
    assert more_doc["inputs"]["kubelet_version"] == "v1.21.2"


@pytest.mark.parametrize(
    "args",
    [
        ["--set", "nonsense=3"],
        ["--set", "pods"],
        ["--set", "pods=-1"],
        ["--from", "/no/such.prom"],
        ["--pods", "-3"],
    ],
)
def test_model_bad_input_exits_3(args, capsys):
    code, _, err = run(["model", *args], capsys)
    assert code == 3 and "Traceback" not in err


def test_pods_at_threshold_is_where_the_curve_crosses():
    answer = evaluate_scenario(Scenario(pods=100, churn=4, container_status_seconds=0.05))
    limit = answer.pods_at_threshold
    assert limit is not None
    at_limit = [p for p in answer.curve if p.pods == limit]
    assert at_limit and at_limit[0].worst_age_seconds == pytest.approx(180, abs=0.5)
    beyond = [p for p in answer.curve if p.pods > limit]
    assert all(p.headroom_seconds < 0 for p in beyond)


@settings(max_examples=100, deadline=None)
@given(st.floats(1, 500), st.floats(0, 20), st.floats(0.0005, 0.5))
def test_curve_is_monotonic_in_pods(pods, churn, latency):
    answer = evaluate_scenario(
        Scenario(
            pods=pods, churn=churn, list_podsandbox_seconds=latency, list_containers_seconds=latency
        )
    )
    ages = [p.worst_age_seconds for p in answer.curve]
    assert ages == sorted(ages)
    assert answer.headroom_seconds == pytest.approx(180 - answer.worst_age_seconds)


def test_with_changes_rejects_unknown_knobs():
    with pytest.raises(ValueError, match="unknown knob"):
        with_changes(Scenario(), {"podz": 3})


def test_explain_shows_terms_formulas_and_sources(capsys):
    code, out, _ = run(["diagnose", str(FIXTURES / "datadog-v1.21.2.prom"), "--explain"], capsys)
    assert code == 0
    for needle in (
        "Model arithmetic",
        "L_lps + L_lc",
        "Δpodsandbox_status / R",
        "D̄ − D̂",
        "⌊(T − P − G − N·cost)/τ⌋",
        "kubelet_pleg_relist_duration_sec",
    ):
        assert needle in out, needle
