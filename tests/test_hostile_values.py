"""NaN, ±Inf and out-of-range values in a real dump: judged per field, never a false OK, never an
internal error, never a NaN in the textfile; label values holding `}` parse."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from pleg_doctor.core.durations import rfc3339
from pleg_doctor.core.exposition import parse_exposition
from pleg_doctor.core.snapshot import build_snapshot
from pleg_doctor.core.values import rejection

from .conftest import FIXTURES
from .helpers import run_cli

DUMP = (FIXTURES / "datadog-v1.21.2.prom").read_text()


def _with(name: str, value: str) -> str:
    text, count = re.subn(rf"^{name} \S+$", f"{name} {value}", DUMP, flags=re.M)
    assert count == 1
    return text


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "dump.prom"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("value", ["NaN", "+Inf", "-Inf", "1e308", "-5"])
def test_a_broken_last_seen_is_never_ok(tmp_path, capsys, value):
    path = _write(tmp_path, _with("kubelet_pleg_last_seen_seconds", value))
    code, out, err = run_cli(["check", path], capsys)
    assert code == 3, out
    assert out.startswith("PLEG UNKNOWN - kubelet_pleg_last_seen_seconds = ")
    assert "cannot be judged" in out
    assert "headroom nan" not in out.lower()
    assert "internal error" not in out + err
    code, out, _ = run_cli(["diagnose", path, "-o", "json"], capsys)
    doc = json.loads(out, parse_constant=_refuse)
    assert doc["verdict"] == "unknown"
    assert any("values no kubelet exposes were ignored" in note for note in doc["notes"])


@pytest.mark.parametrize(
    ("metric", "value"),
    [
        ("kubelet_running_pods", "NaN"),
        ("kubelet_running_pods", "+Inf"),
        ("go_memstats_last_gc_time_seconds", "1e308"),
        ("go_memstats_last_gc_time_seconds", "NaN"),
        ("process_start_time_seconds", "1e308"),
        ("process_start_time_seconds", "NaN"),
        ("kubelet_pleg_relist_duration_seconds_count", "1e308"),
        ("kubelet_pleg_relist_duration_seconds_sum", "NaN"),
    ],
)
def test_a_field_that_can_be_ignored_is_ignored_with_a_note(tmp_path, capsys, metric, value):
    path = _write(tmp_path, _with(metric, value))
    code, out, err = run_cli(["diagnose", path, "-o", "json"], capsys)
    assert "internal error" not in err
    doc = json.loads(out, parse_constant=_refuse)
    assert code in (0, 1, 2, 3)
    assert any(metric in note and "ignored" in note for note in doc["notes"]), doc["notes"]
    if doc["verdict"] == "ok":
        assert doc["headroom_seconds"] is not None and math.isfinite(doc["headroom_seconds"])
    code, out, err = run_cli(["check", path, "--textfile", str(tmp_path)], capsys)
    assert "internal error" not in out + err
    textfile = (tmp_path / "pleg_doctor.prom").read_text()
    assert "NaN" not in textfile and "Inf" not in textfile.replace('le="+Inf"', "")


def test_a_denormal_count_cannot_make_a_mean_infinite(tmp_path, capsys):
    name = 'kubelet_runtime_operations_duration_seconds_count{operation_type="list_containers"}'
    text, count = re.subn(rf"^{re.escape(name)} \S+$", f"{name} 5e-324", DUMP, flags=re.M)
    assert count == 1
    code, out, err = run_cli(["diagnose", _write(tmp_path, text), "-o", "json"], capsys)
    assert code in (0, 1, 2, 3)
    assert "internal error" not in err
    doc = json.loads(out, parse_constant=_refuse)
    assert any("e-324 (out of range)" in note for note in doc["notes"])


def test_label_value_with_a_closing_brace_parses(tmp_path, capsys):
    text = DUMP.replace(
        'kubelet_node_name{node="ip-172-29-240-188.ec2.internal"}', 'kubelet_node_name{node="a}b"}'
    )
    code, out, _ = run_cli(["diagnose", _write(tmp_path, text), "-o", "json"], capsys)
    assert code == 0
    assert json.loads(out)["node"] == "a}b"


@pytest.mark.parametrize(
    ("line", "labels"),
    [
        (b'kubelet_node_name{node="a}b"} 1', {"node": "a}b"}),
        (b'kubelet_node_name{node="}"} 1', {"node": "}"}),
        (b'kubelet_node_name{a="x}",node="y{}"} 1', {"a": "x}", "node": "y{}"}),
        (b'kubelet_node_name{node="a\\"}b"} 1', {"node": 'a"}b'}),
        (b'kubelet_node_name{node="a\\\\"} 1', {"node": "a\\"}),
    ],
)
def test_braces_and_quotes_inside_label_values(line, labels):
    (sample,) = parse_exposition([line + b"\n"], name="t").samples
    assert sample.labels == labels
    assert sample.value == 1


def test_rejection_rules():
    class S:
        def __init__(self, family, part, value, bound=None):
            self.family, self.part, self.value, self.bound = family, part, value, bound

    assert rejection(S("relist_duration_summary", "quantile", math.nan, 0.99)) is None
    assert rejection(S("relist_duration_summary", "quantile", math.inf, 0.99)) == "infinite"
    assert rejection(S("relist_duration_hist", "bucket", 3.0, math.inf)) is None
    assert rejection(S("relist_duration_hist", "bucket", 3.0, math.nan)) == "a NaN bound"
    assert rejection(S("relist_duration_hist", "count", -1.0)) == "negative"
    assert rejection(S("relist_duration_hist", "count", 2.0**60)) == "out of range"
    assert rejection(S("last_gc", "value", 1.6e9)) is None
    assert rejection(S("last_gc", "value", 1e12)) == "out of range"
    assert rejection(S("running_pods", "value", math.nan)) == "not a number"


def test_rejected_values_are_kept_out_of_the_snapshot():
    text = _with("kubelet_running_pods", "NaN").encode()
    snap = build_snapshot(parse_exposition([text], name="t").samples, name="t")
    assert snap.running_pods is None
    (rejected,) = snap.rejected
    assert rejected.text == "kubelet_running_pods = NaN (not a number)"


@pytest.mark.parametrize("epoch", [math.nan, math.inf, 1e308, -1e308])
def test_rfc3339_of_an_impossible_time_is_none(epoch):
    assert rfc3339(epoch) is None


def _refuse(constant: str) -> float:
    raise AssertionError(f"non-strict JSON constant {constant}")
