"""A real kubelet v1.32 with a healthy, slow, churning and hung runtime (`fixtures/kubelet-lab/`).

Every single dump, every pair of consecutive dumps and the whole series of each scenario are
diagnosed through the real pipeline and compared with the oracle of `tests/kubelet_lab.py`,
which applies the recordings' verdict rules to the raw dump text by itself.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from pleg_doctor.core.report import Report, SourceInfo, diagnose
from pleg_doctor.core.snapshot import Snapshot
from pleg_doctor.core.window import window_from_snapshots
from pleg_doctor.render.table import render_table
from pleg_doctor.sources.files import FileSource
from pleg_doctor.sources.scrape import snapshot_from_dump

from .helpers import check_schema, run_cli, strict_json
from .kubelet_lab import (
    LAB,
    SCENARIOS,
    dump_paths,
    oracle,
    pairs,
    raw_dump,
    read_text,
    truth,
    worst_pair,
    worst_single,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("PLEG_DOCTOR_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_oracle_reads_the_ages_and_the_peak_verdict_of_the_truth(scenario):
    recorded = truth(scenario)
    paths = dump_paths(scenario)
    per_scrape = recorded["max_last_seen_age_seconds"]["per_scrape"]
    assert [p.name.removesuffix(".gz") for p in paths] == [s["file"] for s in per_scrape]
    for path, scrape in zip(paths, per_scrape, strict=True):
        dump = raw_dump(path)
        assert dump.last_seen == scrape["last_seen"]
        assert dump.captured_at - dump.last_seen == scrape["age_seconds"]
    whole = oracle(paths)
    assert whole.worst_age_seconds == recorded["max_last_seen_age_seconds"]["value"]
    assert whole.verdict == recorded["expected"]["verdict_peak"]


@cache
def _snapshot(path: Path) -> Snapshot:
    return snapshot_from_dump(FileSource(str(path)).fetch())


def diagnose_lab(paths: Sequence[Path], **kwargs: Any) -> Report:
    """The tool's report on these lab dumps, through the file source and the real pipeline."""
    window = window_from_snapshots([_snapshot(p) for p in paths])
    location = " ".join(p.name for p in paths)
    return diagnose(window, source=SourceInfo(kind="file", location=location), **kwargs)


def _cases() -> list[tuple[str, tuple[Path, ...]]]:
    cases: list[tuple[str, tuple[Path, ...]]] = []
    for scenario in SCENARIOS:
        paths = dump_paths(scenario)
        cases += [(scenario, (p,)) for p in paths]
        cases += [(scenario, pair) for pair in pairs(scenario)]
        cases.append((scenario, tuple(paths)))
    return cases


def _case_id(case: tuple[str, tuple[Path, ...]]) -> str:
    scenario, paths = case
    numbers = [p.name[:2] for p in paths]
    span = numbers[0] if len(numbers) == 1 else "-".join(numbers) if len(numbers) == 2 else "all"
    return f"{scenario[:2]}-{span}"


@pytest.mark.parametrize("case", _cases(), ids=_case_id)
def test_verdict_at_that_moment_is_the_oracles(case):
    """Each dump, each consecutive pair and each whole series: the verdict the truth rules give."""
    _, paths = case
    expected = oracle(paths)
    report = diagnose_lab(paths)
    assert report.verdict == expected.verdict, (expected.reasons, report.reasons)
    worst = expected.worst_age_seconds
    if worst is not None and worst > 10 and report.model.headroom_seconds is not None:
        # The headroom never claims more than the worst age the dumps show (ages up to 10 s at
        # an earlier scrape are the healthy loop's jitter, covered by the predicted worst age).
        assert report.model.headroom_seconds <= 180 - worst + 1e-6


EXPECTED_FIRST = {
    "S1-healthy-baseline": None,
    "S2-listcontainers-slow-2.5s": "runtime_slow",
    "S3-status-slow-under-churn": "runtime_slow",
    "S4-listpodsandbox-hang": "runtime_hung",
}


def _worst_points(scenario: str) -> dict[str, tuple[Path, ...]]:
    return {
        "single": (worst_single(scenario),),
        "window": worst_pair(scenario),
        "series": tuple(dump_paths(scenario)),
    }


@pytest.mark.parametrize("point", ["single", "window", "series"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_expected_cause_ranks_first_at_the_worst_moment(scenario, point):
    paths = _worst_points(scenario)[point]
    report = diagnose_lab(paths)
    assert report.verdict == oracle(paths).verdict
    expected = EXPECTED_FIRST[scenario]
    ids = [c.id for c in report.causes]
    if expected is None:
        # S1, healthy: nothing is a likely cause (kubelet_restart, informational, may be there).
        assert all(c.score < 0.5 for c in report.causes), ids
        return
    assert ids[0] == expected, [(c.id, round(c.score, 2)) for c in report.causes]
    assert report.causes[0].score >= 0.5 or point == "single"
    if scenario == "S3-status-slow-under-churn" and point != "series":
        # The truth's secondary cause: few pods change, but each inspection costs seconds.
        assert "pod_churn" in ids
    # The evidence names metrics a reader finds in the dump, and their values.
    text = read_text(paths[-1])
    for evidence in report.causes[0].evidence:
        name = re.split(r"[{ (]", evidence.metric, maxsplit=1)[0]
        if name.startswith(("kubelet_", "process_")):
            assert name in text, evidence.metric


def _golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}"
    if UPDATE_GOLDEN or not path.exists():
        path.write_text(text)
    assert text == path.read_text(), f"golden {path.name} differs (PLEG_DOCTOR_UPDATE_GOLDEN=1)"


@pytest.mark.parametrize("point", ["single", "window"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_golden_reports_at_the_worst_moment(scenario, point):
    """The table and the JSON of each scenario's worst dump and worst pair of dumps."""
    paths = _worst_points(scenario)[point]
    report = diagnose_lab(paths)
    doc = strict_json(report)
    check_schema(doc)
    name = f"lab-{scenario[:2]}-{point}"
    _golden(f"{name}.txt", render_table(report, width=100))
    _golden(f"{name}.json", json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def _diagnose_cli(args: list[str], capsys: Any) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_cli(["diagnose", *args, "-o", "json"], capsys)
    doc = json.loads(out)
    check_schema(doc)
    return code, doc, err


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_lab_kubelet_log_joins_without_inventing_a_culprit(scenario, capsys):
    """None of the four truths names a culprit; S4's 42 ListPodSandbox timeouts in the log
    support runtime_hung, the whole runtime, not a container."""
    dumps = [str(p) for p in _worst_points(scenario)["window"]]
    log = str(LAB / scenario / "kubelet.log")
    assert truth(scenario)["expected"]["culprit"] is None
    code, alone, _ = _diagnose_cli(dumps, capsys)
    code_log, doc, err = _diagnose_cli([*dumps, "--logs", log], capsys)
    assert code_log == code and doc["verdict"] == alone["verdict"]
    assert "not joined" not in err
    assert any(n.startswith("kubelet log (") and "0 culprit(s)" in n for n in doc["notes"])
    for cause in doc["causes"]:
        assert not any("crictl inspect " in step for step in cause["next_steps"]), cause["id"]
    expected = EXPECTED_FIRST[scenario]
    if expected is not None:
        assert doc["causes"][0]["id"] == expected
    if scenario == "S4-listpodsandbox-hang":
        top = doc["causes"][0]
        logged = {e["metric"]: e["value"] for e in top["evidence"]}
        assert logged["kubelet log: list_podsandbox (whole runtime)"] == "42 timeout(s)"
        assert top["score"] > alone["causes"][0]["score"]  # the log agrees with the metrics


def test_a_kubelet_log_of_another_host_is_not_joined(tmp_path, capsys):
    scenario = "S4-listpodsandbox-hang"
    dumps = [str(p) for p in _worst_points(scenario)["window"]]
    other = tmp_path / "other.log"
    other.write_text((LAB / scenario / "kubelet.log").read_text().replace("kubelab-node", "w-7"))
    _, alone, _ = _diagnose_cli(dumps, capsys)
    _, doc, err = _diagnose_cli([*dumps, "--logs", str(other)], capsys)
    assert "kubelet log not joined: the kubelet log is from w-7, not kubelab-node" in err
    assert any(n.startswith("warning: kubelet log not joined") for n in doc["notes"])
    assert doc["causes"] == alone["causes"]  # its culprits and evidence are not this node's


def test_a_kubelet_log_of_another_time_is_not_joined(tmp_path, capsys):
    scenario = "S4-listpodsandbox-hang"
    dumps = [str(p) for p in _worst_points(scenario)["window"]]
    # The same log four weeks earlier (klog headers `I1129 ...` → `I1101 ...`).
    earlier = re.sub(r"^([IWEF])1129 ", r"\g<1>1101 ", (LAB / scenario / "kubelet.log").read_text(),
                     flags=re.MULTILINE)  # fmt: skip
    path = tmp_path / "earlier.log"
    path.write_text(earlier)
    _, alone, _ = _diagnose_cli(dumps, capsys)
    _, doc, err = _diagnose_cli([*dumps, "--logs", str(path)], capsys)
    assert "far from the metrics" in err
    assert doc["causes"] == alone["causes"]


def test_a_window_of_every_dump_names_its_folder_and_ends_not_every_path(capsys, monkeypatch):
    """33 dumps of one scenario: the panel says how many, where and the first and last name;
    the JSON's `source.location` still lists every one."""
    scenario = "S4-listpodsandbox-hang"
    dumps = sorted(str(p) for p in (LAB / scenario).glob("*.prom*"))
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run_cli(["diagnose", *dumps], capsys)
    assert code == 2
    first, last = Path(dumps[0]).name, Path(dumps[-1]).name
    folder = str(Path(dumps[0]).parent)
    assert f"source file: {len(dumps)} dumps in {folder}/: {first} … {last}" in out
    assert Path(dumps[1]).name not in out
    _, doc, _ = _diagnose_cli(dumps, capsys)
    assert doc["source"]["location"] == " ".join(dumps)


def test_the_log_and_the_metrics_agree_on_one_set_of_runtime_steps(capsys):
    """runtime_hung from the metrics and from the log suggests the same checks once, not two
    variants of each (crictl, systemctl, journalctl)."""
    scenario = "S4-listpodsandbox-hang"
    dumps = [str(p) for p in _worst_points(scenario)["window"]]
    log = str(LAB / scenario / "kubelet.log")
    _, doc, _ = _diagnose_cli([*dumps, "--logs", log], capsys)
    steps = next(c for c in doc["causes"] if c["id"] == "runtime_hung")["next_steps"]
    for tool in (
        "crictl --timeout 10s info",
        "systemctl status containerd",
        "journalctl -u containerd",
    ):
        assert sum(step.startswith(tool) for step in steps) == 1, (tool, steps)
    assert len(steps) == len(set(steps))
