"""The mutation fuzzer of `tests/fuzzing.py`, seeded and bounded (a few seconds), plus hypothesis
properties of the parser, the verdict, the redaction and the quoting."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import shlex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pleg_doctor.core.exposition import capture_header_line, parse_exposition
from pleg_doctor.core.printable import escape_controls, shell_word
from pleg_doctor.core.report import SourceInfo, diagnose
from pleg_doctor.core.snapshot import build_snapshot
from pleg_doctor.core.window import lifetime_window
from pleg_doctor.errors import ExpositionError, LimitError
from pleg_doctor.render.prom import push_path
from pleg_doctor.sources.http.redaction import quote_outside

from . import fuzzing
from .conftest import FIXTURES

RUNS = 160
"""Cases in the suite (about 5 s); `scripts/fuzz.py --runs 15000` runs the long campaign."""


def test_mutants_of_real_dumps_hold_the_invariants(tmp_path):
    outcomes = list(fuzzing.run_many(range(RUNS), tmp_path))
    failures = [o for o in outcomes if o.problem is not None]
    assert not failures, [(o.case, o.problem) for o in failures[:5]]
    codes = {o.code for o in outcomes}
    assert {0, 3} <= codes  # healthy dumps and refused ones both occur: the fuzzer bites


def test_every_mutator_runs(tmp_path):
    import random

    data = (FIXTURES / "datadog-v1.21.2.prom").read_bytes()
    for mutator in (*fuzzing.MUTATORS, fuzzing.gzip_it):
        assert isinstance(mutator(data, random.Random(1)), bytes)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_the_parser_raises_only_its_own_errors(data):
    with contextlib.suppress(ExpositionError, LimitError):
        parse_exposition([data], name="t")


FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -1.0, 1e308, -1e308, 2.0**53 + 1, 1.7e9]),
)
DUMP = (FIXTURES / "datadog-v1.21.2.prom").read_bytes()
_PARSED = parse_exposition([DUMP], name="real").samples


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_PARSED) - 1), FLOATS), min_size=1, max_size=8))
def test_any_values_give_a_verdict_never_ok_with_a_non_finite_headroom(changes):
    import dataclasses

    samples = list(_PARSED)
    for index, value in changes:
        samples[index] = dataclasses.replace(samples[index], value=value)
    snapshot = build_snapshot(samples, name="t", captured_at=1.6481193e9)
    report = diagnose(lifetime_window(snapshot), source=SourceInfo(kind="file", location="t"))
    headroom = report.model.headroom_seconds
    if report.verdict == "ok":
        assert headroom is not None and math.isfinite(headroom)
    doc = report.to_dict()
    import json

    json.dumps(doc, allow_nan=False)


@given(st.text(max_size=200), st.lists(st.text(min_size=4, max_size=30), max_size=3))
def test_quoted_outside_text_holds_no_secret_and_no_control(text, secrets):
    quoted = quote_outside(text + " " + " ".join(secrets), secrets, limit=10_000)
    for secret in secrets:
        if secret.strip() and escape_controls(secret) == secret and " " not in secret:
            assert secret not in quoted
    assert escape_controls(quoted) == quoted
    assert "\n" not in quoted


@given(st.text(max_size=60))
def test_a_shell_word_is_one_argument(word):
    quoted = shell_word(word)
    if not quoted.startswith("$'"):
        assert shlex.split(quoted) == [word]
    assert escape_controls(quoted) == quoted


@given(st.text(max_size=40))
def test_a_capture_header_reads_back_what_was_written(source):
    line = capture_header_line(
        captured_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), node="n-1", source=source
    )
    assert line.count(b"\n") == 1
    parsed = parse_exposition([line + b"kubelet_running_pods 1\n"], name="t")
    assert parsed.header is not None
    assert parsed.header.source == source
    assert parsed.header.node == "n-1"


@given(st.text(max_size=30))
def test_a_grouping_value_is_one_path_segment(value):
    path = push_path("job", {"node": value})
    segments = path.split("/")
    assert segments[:4] == ["", "metrics", "job", "job"]
    assert len(segments) == 6
    assert segments[5] not in ("", ".", "..")


@pytest.mark.parametrize("dump", sorted(FIXTURES.glob("*.prom")), ids=lambda p: p.stem)
def test_real_dumps_have_no_rejected_values(dump):
    snapshot = build_snapshot(parse_exposition([dump.read_bytes()], name="x").samples, name="x")
    assert snapshot.rejected == ()
