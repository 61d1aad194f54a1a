"""Bounds on what is read from outside: past each, exit 3 with a line naming the bound and the
variable that raises it; the variable raises it; blank lines stay cheap and line numbers exact."""

from __future__ import annotations

import gzip

import pytest

from pleg_doctor.core.exposition import parse_exposition
from pleg_doctor.core.limits import Limits
from pleg_doctor.errors import ExpositionError, LimitError, UsageError
from pleg_doctor.sources import limits as source_limits

from .conftest import FIXTURES
from .helpers import run_cli

DUMP = (FIXTURES / "spitdb-v1.35.0.prom").read_bytes()


def _kept_lines(count: int) -> bytes:
    return b"".join(
        b'kubelet_runtime_operations_total{operation_type="op%d"} 1\n' % i for i in range(count)
    )


def test_too_many_kept_lines_name_the_bound_and_the_variable(tmp_path, capsys, bounds):
    path = tmp_path / "many.prom"
    path.write_bytes(DUMP + _kept_lines(Limits().samples))
    code, out, err = run_cli(["check", str(path)], capsys)
    assert code == 3
    assert out.startswith("PLEG UNKNOWN - ")
    assert "more than 20,000 PLEG-relevant lines" in out
    assert "PLEG_DOCTOR_MAX_SAMPLES" in out + err
    bounds(PLEG_DOCTOR_MAX_SAMPLES="30000")
    code, out, _ = run_cli(["check", str(path)], capsys)
    assert code != 3 or "PLEG-relevant" not in out


def test_kept_bytes_are_bounded_too():
    line = b'kubelet_running_pods{x="' + b"a" * 100_000 + b'"} 1\n'
    with pytest.raises(LimitError) as info:
        parse_exposition([line * 50], name="long", limits=Limits())
    assert info.value.variable == "PLEG_DOCTOR_MAX_KEPT_BYTES"


def test_gzip_bomb_in_a_dump_and_in_a_log(tmp_path, capsys):
    bomb = gzip.compress(b"kubelet_running_pods 3\n" + b"\n" * 300_000_000, 9)
    path = tmp_path / "bomb.prom.gz"
    path.write_bytes(bomb)
    code, out, err = run_cli(["diagnose", str(path)], capsys)
    assert not out
    assert code == 3
    assert "a gzip bomb?" in err and "PLEG_DOCTOR_MAX_GZIP_RATIO" in err
    log = tmp_path / "bomb.log.gz"
    log.write_bytes(bomb)
    code, _, err = run_cli(["logs", str(log)], capsys)
    assert code == 3
    assert "a gzip bomb?" in err and "PLEG_DOCTOR_MAX_GZIP_RATIO" in err


def test_real_gzip_dumps_are_far_from_the_ratio_bound():
    for path in FIXTURES.glob("*.prom"):
        data = path.read_bytes()
        assert len(data) / len(gzip.compress(data, 9)) < Limits().gzip_ratio / 5


def test_blank_lines_keep_exact_line_numbers():
    text = (
        b"# HELP x\n\n\n" + b"kubelet_running_pods 1\n" + b"\n" * 5000 + b"kubelet_running_pods x\n"
    )
    chunks = [text[i : i + 777] for i in range(0, len(text), 777)]
    with pytest.raises(ExpositionError, match="line 5005: value 'x' is not a number"):
        parse_exposition(chunks, name="t")
    parsed = parse_exposition([text.replace(b" x\n", b" 2\n")], name="t")
    assert parsed.lines_total == 5005
    assert [s.value for s in parsed.samples] == [1.0, 2.0]


def test_a_line_error_names_the_line_even_when_an_earlier_line_contains_it():
    text = b"kubelet_running_pods 1\nx_kubelet_running_pods 1e\nkubelet_running_pods 1e\n"
    with pytest.raises(ExpositionError, match="line 3: "):
        parse_exposition([text], name="t")


@pytest.mark.parametrize("value", ["0", "-1", "lots", "nan"])
def test_a_bad_bound_variable_is_a_usage_error(value):
    with pytest.raises(UsageError, match="PLEG_DOCTOR_MAX_SAMPLES"):
        source_limits.from_environment({"PLEG_DOCTOR_MAX_SAMPLES": value})


def test_variables_set_every_bound():
    from pleg_doctor.core.limits import VARIABLES

    environ = dict.fromkeys(VARIABLES.values(), "7")
    limits = source_limits.from_environment(environ)
    assert all(getattr(limits, field) == 7 for field in VARIABLES)
