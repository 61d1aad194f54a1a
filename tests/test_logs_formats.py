"""Golden tests per log format: one incident written in every format reads the same everywhere."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest

from pleg_doctor.logs import LogReader, analyze_logs
from pleg_doctor.render.logs import render_logs_json, render_logs_table

from .conftest import FIXTURES
from .logsamples import CID, FORMATS, SID, render

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("PLEG_DOCTOR_UPDATE_GOLDEN") == "1"
TOP_LEVEL = {
    "schema",
    "lines_read",
    "lines_skipped",
    "first_time",
    "last_time",
    "unhealthy_periods",
    "not_ready_transitions",
    "relist_failures",
    "culprits",
    "notes",
}
CULPRIT_KEYS = {
    "kind",
    "id",
    "pod",
    "operation",
    "errors",
    "deadline_exceeded",
    "first",
    "last",
    "example",
}


def check_logs_schema(doc: dict[str, Any]) -> None:
    """docs/output.md#logs-v1: exactly these fields, of these types."""
    assert set(doc) == TOP_LEVEL, set(doc) ^ TOP_LEVEL
    assert doc["schema"] == "pleg-doctor/logs-v1"
    for key in ("lines_read", "lines_skipped", "not_ready_transitions", "relist_failures"):
        assert isinstance(doc[key], int) and not isinstance(doc[key], bool) and doc[key] >= 0
    for key in ("first_time", "last_time"):
        assert doc[key] is None or isinstance(doc[key], str)
    for period in doc["unhealthy_periods"]:
        assert set(period) == {"start", "end", "max_age_seconds", "messages"}
        assert isinstance(period["start"], str)
        assert period["end"] is None or isinstance(period["end"], str)
        assert isinstance(period["max_age_seconds"], float)
        assert isinstance(period["messages"], int)
    errors = [c["errors"] for c in doc["culprits"]]
    assert errors == sorted(errors, reverse=True), "culprits: most errors first"
    for culprit in doc["culprits"]:
        assert set(culprit) == CULPRIT_KEYS
        assert culprit["kind"] in {"container", "sandbox", "pod"}
        assert culprit["id"] is None or isinstance(culprit["id"], str)
        assert culprit["pod"] is None or culprit["pod"].count("/") == 1
        assert isinstance(culprit["operation"], str)
        assert 0 <= culprit["deadline_exceeded"] <= culprit["errors"]
        assert isinstance(culprit["example"], str) and culprit["example"]
    assert all(isinstance(note, str) for note in doc["notes"])


def _strict(text: str) -> dict[str, Any]:
    def reject(value: str) -> Any:
        raise AssertionError(f"non-strict JSON constant {value}")

    doc: dict[str, Any] = json.loads(text, parse_constant=reject)
    return doc


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE or not path.exists():
        path.write_text(text)
    assert text == path.read_text(), f"golden {path.name} differs (PLEG_DOCTOR_UPDATE_GOLDEN=1)"


@pytest.mark.parametrize("fmt", FORMATS)
def test_golden_json_per_format(fmt):
    result = analyze_logs([render(fmt).encode()], default_year=2020)
    text = render_logs_json(result)
    doc = _strict(text)
    check_logs_schema(doc)
    _golden(f"logs-{fmt}.json", text)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_tells_the_same_story(fmt):
    result = analyze_logs([render(fmt).encode()], default_year=2020)
    assert result.year == 2026 and result.year_origin == "log"  # from LastTransitionTime
    assert result.verdict == "warning"
    periods = result.unhealthy_periods
    assert [p.messages for p in periods] == [12, 5]
    assert [round(p.max_age_seconds, 1) for p in periods] == [233.5, 203.0]
    assert [p.start.strftime("%H:%M:%S.%f") for p in periods] == [
        "10:03:06.500000",
        "10:07:07.000000",
    ]
    assert [p.end is not None for p in periods] == [True, True]
    assert result.timeline.flapping
    assert result.not_ready_transitions == 1 and result.relist_failures == 1
    assert result.timeline.discarded_events.count == 2
    assert [
        (c.kind, c.id, c.pod, c.operation, c.errors, c.deadline_exceeded) for c in result.culprits
    ] == [
        ("container", CID, "shop/cart-7d9c9c8d8b-q2lzj", "container_status", 1, 1),
        ("sandbox", SID, "shop/cart-7d9c9c8d8b-q2lzj", "podsandbox_status", 1, 1),
    ]
    assert result.lines_skipped == 2  # a garbage line and a foreign JSON line


def test_klog_time_is_used_not_the_journald_time():
    # The journald prefix in the samples lags the klog time by 2 s, like k3s#2370 (by minutes).
    result = analyze_logs([render("journald").encode()], default_year=2026)
    assert result.first_time is not None and result.first_time.strftime("%H:%M:%S") == "10:00:00"


def test_golden_table_of_a_real_incident():
    reader = LogReader([str(FIXTURES / "kubelet-logs" / "k3s-2370-containerd-hang-timeline.log")])
    result = analyze_logs(reader.chunks(), default_year=2020)
    _golden("logs-k3s-2370.txt", render_logs_table(result, width=100))


def test_table_of_a_clean_log_says_so():
    text = "I0101 00:00:00.000000    1 kubelet.go:1] Starting kubelet main sync loop\n"
    text += "I0101 00:00:01.000000    1 reconciler.go:1] mounted\n"
    out = render_logs_table(analyze_logs([text.encode()], default_year=2026))
    assert "PLEG OK" in out and "nothing in the log points at a PLEG problem" in out


def test_year_rollover_and_explicit_year():
    text = (
        "E1231 23:59:58.000000    1 kubelet.go:1] skipping pod synchronization - PLEG is not "
        "healthy: pleg was last seen active 3m1s ago; threshold is 3m0s\n"
        "E0101 00:00:03.000000    1 kubelet.go:1] skipping pod synchronization - PLEG is not "
        "healthy: pleg was last seen active 3m6s ago; threshold is 3m0s\n"
    )
    result = analyze_logs([text.encode()], default_year=2026, year=2024)
    (period,) = result.unhealthy_periods
    assert period.messages == 2  # one outage across New Year
    assert result.first_time is not None and result.first_time.year == 2024
    assert result.last_time is not None and result.last_time.year == 2025
    assert not any("assumed" in n for n in result.notes)
    assumed = analyze_logs([text.encode()], default_year=2026)
    assert assumed.year == 2026 and any("assumed 2026" in n for n in assumed.notes)


NEW_YEAR_LOG = (
    "Dec 31 23:59:59 node-1 kubelet: E1231 23:59:58.000000    1 kubelet.go:1] skipping pod "
    "synchronization - PLEG is not healthy: pleg was last seen active 3m1s ago; threshold is 3m0s\n"
    "Jan  1 00:00:04 node-1 kubelet: E0101 00:00:03.000000    1 kubelet.go:1] skipping pod "
    "synchronization - PLEG is not healthy: pleg was last seen active 3m6s ago; threshold is 3m0s\n"
)


@pytest.mark.parametrize(
    ("read_at", "first_year"),
    [
        # Read a few days later, in January: the log spans the New Year just past.
        (dt.datetime(2027, 1, 5, 9, 0), 2026),
        # Read the next December: the last New Year it can span is still 2026 → 2027.
        (dt.datetime(2027, 12, 20, 9, 0), 2026),
        # Read on New Year's Day, minutes after its last line.
        (dt.datetime(2027, 1, 1, 0, 5), 2026),
    ],
)
def test_a_log_across_new_year_is_never_placed_in_the_future(read_at, first_year):
    result = analyze_logs([NEW_YEAR_LOG.encode()], default_year=read_at.year, not_after=read_at)
    assert result.first_time is not None and result.last_time is not None
    assert (result.first_time.year, result.first_time.month) == (first_year, 12)
    assert (result.last_time.year, result.last_time.month) == (first_year + 1, 1)
    assert result.last_time <= read_at
    (period,) = result.unhealthy_periods
    assert period.messages == 2  # one outage across New Year
    assert any(f"assumed {first_year} for its first line" in n for n in result.notes)


def test_dec_28_read_on_nov_29_is_last_december():
    line = (
        "Dec 28 10:00:01 node-1 kubelet: E1228 10:00:00.000000    1 kubelet.go:1] skipping pod "
        "synchronization - PLEG is not healthy: pleg was last seen active 3m1s ago; threshold "
        "is 3m0s\n"
    )
    read_at = dt.datetime(2026, 11, 29, 12, 0)
    result = analyze_logs([line.encode()], default_year=2026, not_after=read_at)
    assert result.last_time == dt.datetime(2025, 12, 28, 10, 0)
    assert result.year == 2025


def test_a_node_ahead_of_the_reader_keeps_this_year():
    # Local times carry no offset: a node 14 h ahead logs "tomorrow morning". Within a day of
    # the reader's now it stays this year (a wrong year would be 11 months off).
    line = (
        "E1130 08:00:00.000000    1 kubelet.go:1] skipping pod synchronization - PLEG is not "
        "healthy: pleg was last seen active 3m1s ago; threshold is 3m0s\n"
    )
    read_at = dt.datetime(2026, 11, 29, 23, 0)
    result = analyze_logs([line.encode()], default_year=2026, not_after=read_at)
    assert result.last_time == dt.datetime(2026, 11, 30, 8, 0)


def test_a_stated_or_given_year_wins_over_the_reference():
    text = NEW_YEAR_LOG
    read_at = dt.datetime(2027, 1, 5)
    given = analyze_logs([text.encode()], default_year=2027, year=2020, not_after=read_at)
    assert given.first_time is not None and given.first_time.year == 2020


def test_diagnose_places_the_log_before_the_capture(tmp_path, capsys):
    from .helpers import run_cli

    log = tmp_path / "kubelet.log"
    # The demo dump was captured 2022-03-24: a "Dec 28" line is December 2021.
    log.write_text(
        "E1228 10:00:00.000000    1 kubelet.go:1] skipping pod synchronization - PLEG is not "
        "healthy: pleg was last seen active 3m1s ago; threshold is 3m0s\n"
    )
    code, out, err = run_cli(
        ["diagnose", "--demo", "--logs", str(log), "-o", "json", "--exit-zero"], capsys
    )
    assert code == 0, err
    notes = json.loads(out)["notes"]
    assert any("assumed 2021 for its first line" in n for n in notes), notes
