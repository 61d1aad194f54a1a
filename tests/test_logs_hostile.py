"""Logs that fight back: clocks that go backwards, ages under the threshold, binary input."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import FIXTURES
from .helpers import run_cli

LINE = (
    "Oct  8 {t} worker9 kubelet[1636]: I1008 {t}.000000    1636 kubelet.go:1780] "
    '"Skipping pod synchronization" err="PLEG is not healthy: pleg was last seen active {age} '
    'ago; threshold is {thr}"\n'
)
OTHER = 'Oct  8 {t} worker9 kubelet[1636]: I1008 {t}.000000    1636 kubelet.go:1] "other"\n'


def _periods(out: str) -> tuple[list[dict[str, str | None]], list[str]]:
    doc = json.loads(out)
    return doc["unhealthy_periods"], doc["notes"]


def test_a_clock_going_back_closes_the_period_and_no_period_runs_backwards(tmp_path, capsys):
    log = tmp_path / "kubelet.log"
    log.write_text(
        LINE.format(t="12:00:00", age="3m5s", thr="3m0s")
        + LINE.format(t="12:00:05", age="3m10s", thr="3m0s")
        + LINE.format(t="10:05:00", age="5m0s", thr="2h0m0s")  # two hours back
        + LINE.format(t="10:20:00", age="1m0s", thr="3m0s")  # an age under the threshold
        + OTHER.format(t="10:40:00")
    )
    code, out, _ = run_cli(["logs", str(log), "-o", "json"], capsys)
    periods, notes = _periods(out)
    assert [(p["start"], p["end"]) for p in periods] == [
        ("2026-10-08T11:59:55", "2026-10-08T12:00:05"),  # closed at the jump
        ("2026-10-08T10:05:00", "2026-10-08T10:05:00"),  # not 12:00 (= 10:05 - 5m + 2h)
        ("2026-10-08T10:20:00", "2026-10-08T10:20:00"),  # not 10:22
    ]
    assert any("clock went back 1 time(s)" in note and "6905 s" in note for note in notes)
    assert code == 1


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_shuffled_real_logs_never_give_a_period_that_ends_before_it_starts(rng):
    from pleg_doctor.logs.analyze import analyze_logs

    lines = []
    for path in sorted((FIXTURES / "kubelet-logs").glob("*.log"))[:6]:
        lines.extend(path.read_text(errors="replace").splitlines(keepends=True))
    rng.shuffle(lines)
    result = analyze_logs([("".join(lines)).encode()], default_year=2026)
    for period in result.timeline.periods:
        if period.end is not None:
            assert period.start <= period.end


def test_random_bytes_are_not_a_log(tmp_path, capsys):
    data = random.Random(7).randbytes(3 << 20)
    path = tmp_path / "noise.log"
    path.write_bytes(data)
    code, _, err = run_cli(["logs", str(path)], capsys)
    assert code == 3 and "binary data, not a log" in err


def test_dev_urandom_ends(capsys):
    code, _, err = run_cli(["logs", "/dev/urandom"], capsys)
    assert code == 3 and "/dev/urandom: binary data, not a log" in err


def test_a_journal_file_gets_a_hint(tmp_path, capsys):
    path = tmp_path / "system.journal"
    path.write_bytes(b"LPKSHHRH" + bytes(range(256)) * 64)
    code, _, err = run_cli(["logs", str(path)], capsys)
    assert code == 3 and "journalctl --file" in err


def test_a_large_binary_file_is_refused_before_the_parallel_readers(tmp_path):
    from pleg_doctor.logs.reader import PARALLEL_MIN_BYTES

    path = tmp_path / "big.bin"
    with path.open("wb") as handle:
        handle.write(random.Random(3).randbytes(1 << 20))
        handle.truncate(PARALLEL_MIN_BYTES + (1 << 20))
    proc = subprocess.run(
        [sys.executable, "-m", "pleg_doctor", "logs", str(path), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 3 and "binary data, not a log" in proc.stderr


@pytest.mark.parametrize("name", ["k3s-2370-containerd-hang-timeline.log"])
def test_real_logs_are_text(name, capsys):
    code, _, err = run_cli(["logs", str(Path(FIXTURES / "kubelet-logs" / name))], capsys)
    assert code in (0, 1, 2), err
