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


def _model_json(capsys, *args: str) -> dict:
    code, out, err = run(["model", *args, "-o", "json"], capsys)
    assert code == 0, err
    return json.loads(out)


def test_pods_option_and_set_pods_mean_the_same(capsys):
    by_option = _model_json(capsys, "--pods", "300")
    by_set = _model_json(capsys, "--set", "pods=300")
    assert by_option == by_set
    assert by_option["pods_at_threshold"] == 12380
    # what was not given followed the pods: ten times the pods, ten times the lists and churn
    assert by_option["inputs"]["list_podsandbox"] == pytest.approx(0.05)
    assert by_option["inputs"]["churn"] == pytest.approx(1.0)
    scaled = {c["knob"]: c for c in by_option["changes"]}
    assert scaled["pods"] == {"knob": "pods", "from": 30, "to": 300, "scaled_with_pods": False}
    assert scaled["churn"]["scaled_with_pods"] is True


def test_a_given_knob_is_taken_as_given_even_when_the_pods_change(capsys):
    doc = _model_json(capsys, "--pods", "300", "--list-podsandbox", "5ms")
    assert doc["inputs"]["list_podsandbox"] == pytest.approx(0.005)  # given: not scaled
    assert doc["inputs"]["list_containers"] == pytest.approx(0.05)  # not given: scaled


def test_from_a_dump_every_knob_given_applies(capsys):
    dump = str(FIXTURES / "datadog-v1.21.2.prom")
    base = _model_json(capsys, "--from", dump)
    pods = _model_json(capsys, "--from", dump, "--pods", "300")
    assert pods == _model_json(capsys, "--from", dump, "--set", "pods=300")
    assert pods["inputs"]["pods"] == 300 and base["inputs"]["pods"] == 29
    hung = _model_json(capsys, "--from", dump, "--hung-calls", "1")
    assert base["inputs"]["hung_calls"] == 0 and hung["inputs"]["hung_calls"] == 1
    assert hung["headroom_seconds"] == pytest.approx(base["headroom_seconds"] - 120, abs=1)
    evented = _model_json(capsys, "--from", dump, "--evented", "--kubelet-version", "v1.30")
    assert evented["constants"]["threshold_seconds"] == 600
    assert base["start"] == {"dumps": [dump]} and base["changes"] == []
    assert _model_json(capsys)["start"] == {"dumps": None}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pods", "300", "--set", "pods=200"], "--pods 300 and --set pods=200 disagree"),
        (["--set", "pods=1", "--set", "pods=2"], "--set pods=1 and --set pods=2 disagree"),
        (["--hung-calls", "1", "--set", "hung-calls=2"], "give hung_calls once"),
        (["--kubelet-version", "banana"], "'banana' is not a kubelet version"),
        (["--kubelet-version", "2.1"], "is not a kubelet version"),
    ],
)
def test_conflicting_or_bad_knobs_are_usage_errors(capsys, args, message):
    code, out, err = run(["model", *args], capsys)
    assert code == 3 and out == ""
    assert message in err and "Traceback" not in err


def test_the_same_value_twice_is_no_conflict(capsys):
    assert _model_json(capsys, "--pods", "300", "--set", "pods=300")["inputs"]["pods"] == 300


def test_the_table_states_what_was_scaled_and_prints_numbers_for_people(capsys):
    dump = str(FIXTURES / "datadog-v1.21.2.prom")
    code, out, _ = run(["model", "--from", dump, "--pods", "300"], capsys)
    assert code == 0
    assert f"measured from {dump}" in out
    assert "pods 29 → 300 (given)" in out
    assert "ListPodSandbox 11 ms → 114 ms (scaled ×10.3 with the pods)" in out
    assert "running + 0.195 exited" in out and "1.14 running" in out
    assert "e-0" not in out and "1.13793" not in out  # no exponents, no six digits
    assert "(one every 1,016 relists)" in out


def test_pods_at_threshold_beyond_max_pods_says_so(capsys):
    doc = _model_json(capsys)
    assert doc["inputs"]["max_pods"] == 110 and doc["pods_at_threshold_beyond_max_pods"] is True
    _, out, _ = run(["model"], capsys)
    assert "beyond the node's max pods, 110: pods alone cannot get there" in out
    tight = _model_json(capsys, "--hung-calls", "1", "--container-status", "3s", "--churn", "3")
    assert tight["pods_at_threshold"] < 110 and not tight["pods_at_threshold_beyond_max_pods"]
    more = _model_json(capsys, "--max-pods", "250000")
    assert more["pods_at_threshold_beyond_max_pods"] is False


def test_the_options_defaults_are_the_scenario_defaults():
    from pleg_doctor.commands.model import NUMERIC_KNOBS, model
    from pleg_doctor.core.whatif import KNOBS

    assert set(NUMERIC_KNOBS) == set(KNOBS)
    defaults = Scenario()
    for param in model.params:
        if param.name in KNOBS:
            value = param.type_cast_value(None, param.default)  # type: ignore[arg-type]
            assert float(value) == pytest.approx(getattr(defaults, KNOBS[param.name])), param.name
