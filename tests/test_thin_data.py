"""Honest numbers when the data is thin: no `_sum`, quantiles against `+Inf`, odd windows."""

from __future__ import annotations

import math
import re

from pleg_doctor.core.distribution import Distribution
from pleg_doctor.render.table import render_table

from .helpers import check_schema, diagnose_texts, strict_json
from .kubelet_lab import dump_paths, read_text

S2 = "S2-listcontainers-slow-2.5s"


def _lab(scenario: str, number: int) -> str:
    return read_text(dump_paths(scenario)[number - 1])


def test_a_dump_without_sum_has_no_mean_and_no_prediction():
    # A real lab dump (S2 dump 05, relists of 2.5 s) with every `_sum` line removed.
    text = _lab(S2, 5)
    trimmed = "\n".join(line for line in text.splitlines() if "_sum" not in line) + "\n"
    assert "relist_duration_seconds_sum" not in trimmed
    report = diagnose_texts([trimmed])
    doc = strict_json(report)
    check_schema(doc)
    assert doc["relist"]["count"] == 20
    assert doc["relist"]["mean_seconds"] is None
    assert doc["model"]["predicted_relist_seconds"] is None
    assert doc["model"]["observed_relist_seconds"] is None
    ops = {op["operation"]: op for op in doc["runtime_ops"]}
    assert ops["list_containers"]["calls"] > 0
    assert ops["list_containers"]["mean_seconds"] is None
    table = render_table(report, width=100)
    assert not re.search(r"predicted relist\s+0\.000 s", table)
    # The untrimmed dump does predict, so the test above is about the missing `_sum`.
    assert strict_json(diagnose_texts([text]))["model"]["predicted_relist_seconds"] > 1


def test_a_window_without_sum_has_no_mean_either():
    trim = [
        "\n".join(line for line in _lab(S2, n).splitlines() if "_sum" not in line) + "\n"
        for n in (5, 7)
    ]
    doc = strict_json(diagnose_texts(trim))
    assert doc["relist"]["count"] == 9
    assert doc["relist"]["mean_seconds"] is None
    assert doc["model"]["predicted_relist_seconds"] is None


def test_histogram_quantiles_rank_against_the_inf_bucket_not_count():
    # `increase()` extrapolates `_count` and each bucket separately: they can disagree.
    hist = Distribution(count=100, sum_seconds=50.0, buckets=((1.0, 25.0), (10.0, 50.0),
                                                              (math.inf, 50.0)))  # fmt: skip
    assert hist.quantile(0.5) == 1.0  # rank 25 of the 50 in +Inf, not 50 of _count's 100
    assert hist.count_above(10.0) == 0
    assert hist.quantile(0.99) == 10.0 * 0.98 + 1.0 * 0.02  # inside (1, 10], never past 10


def test_histogram_without_an_inf_bucket_has_no_quantile():
    # Prometheus' histogram_quantile answers NaN without +Inf: the tool answers null.
    assert Distribution(count=4, sum_seconds=1.0, buckets=((1.0, 4.0),)).quantile(0.5) is None


S1, S4 = "S1-healthy-baseline", "S4-listpodsandbox-hang"


def _single_headroom(text: str) -> float:
    headroom = diagnose_texts([text]).model.headroom_seconds
    assert headroom is not None
    return headroom


def test_two_identical_dumps_are_one_scrape_with_a_note():
    text = _lab(S4, 14)
    report = diagnose_texts([text, text])
    assert report.window.is_lifetime
    assert any("same moment as another" in n for n in report.notes)
    assert any("diagnosed as a single scrape" in n for n in report.notes)
    assert report.model.headroom_seconds == _single_headroom(text)
    assert report.verdict == diagnose_texts([text]).verdict


def test_a_zero_length_window_keeps_the_later_dump_alone():
    # Two different dumps that claim the same capture time (S2 dump 05, and a copy with 5 relists
    # more): no time between them, no rate can be taken.
    first = _lab(S2, 5)
    later = first.replace("kubelet_pleg_relist_duration_seconds_count 20",
                          "kubelet_pleg_relist_duration_seconds_count 25")  # fmt: skip
    assert later != first
    report = diagnose_texts([first, later])
    assert report.window.is_lifetime and report.window.relists == 25
    assert any("no time between the dumps" in n for n in report.notes)


def test_dumps_of_different_nodes_leave_the_other_node_out():
    other = _lab(S1, 8).replace("node=kubelab-node", "node=kubelab-other")
    other = other.replace('kubelet_node_name{node="kubelab-node"}',
                          'kubelet_node_name{node="kubelab-other"}')  # fmt: skip
    latest = _lab(S4, 25)
    report = diagnose_texts([other, latest])
    assert report.node == "kubelab-node"
    assert report.window.is_lifetime
    assert "different nodes (kubelab-other besides kubelab-node)" in report.notes[0]
    assert report.model.headroom_seconds == _single_headroom(latest)


def test_a_restart_between_dumps_never_gives_more_headroom_than_the_last_dump():
    # S1 dump 08 (kubelet started 15:10:19), then S2 dump 05: the kubelet was restarted at 15:12:25.
    before, after = _lab(S1, 8), _lab(S2, 5)
    report = diagnose_texts([before, after])
    assert report.window.restarted
    assert any("restarted inside the window" in n for n in report.notes)
    headroom = report.model.headroom_seconds
    assert headroom is not None and headroom <= _single_headroom(after)
