from __future__ import annotations

import os
from pathlib import Path

import pytest

from pleg_doctor.render import OutputFormat
from pleg_doctor.render.table import render_table

from .conftest import FIXTURES
from .helpers import check_schema, diagnose_texts, strict_json
from .test_causes import SCENARIOS

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("PLEG_DOCTOR_UPDATE_GOLDEN") == "1"


def test_every_real_dump_gets_a_verdict_a_version_and_schema_valid_json(real_dump: Path):
    report = diagnose_texts([real_dump.read_bytes()])
    doc = strict_json(report)
    check_schema(doc)
    assert doc["verdict"] in {"ok", "warning", "critical"}
    assert doc["kubelet_version"] == "v" + real_dump.stem.split("-v")[1]
    assert doc["window_seconds"] is None  # single scrape
    assert any("single scrape" in n for n in doc["notes"])


@pytest.mark.parametrize("cause", sorted(SCENARIOS))
def test_synthetic_reports_are_schema_valid(cause):
    doc = strict_json(diagnose_texts(SCENARIOS[cause]()))
    check_schema(doc)
    assert doc["causes"][0]["id"] == cause


def test_1_14_report_surfaces_what_the_summary_hides():
    doc = strict_json(diagnose_texts([(FIXTURES / "datadog-v1.14.10.prom").read_bytes()]))
    assert doc["relist"]["over_top_bucket"] == 46
    assert any("summary hides the tail" in n for n in doc["notes"])


def test_unknown_without_pleg_metrics():
    doc = strict_json(
        diagnose_texts(["process_start_time_seconds 1.7e9\nkubelet_running_pods 3\n"])
    )
    check_schema(doc)
    assert doc["verdict"] == "unknown"
    assert doc["headroom_seconds"] is None


def test_every_output_format_has_a_renderer():
    report = diagnose_texts([(FIXTURES / "spitdb-v1.35.0.prom").read_bytes()])
    for fmt in OutputFormat:
        out = fmt.to_renderer()(report)
        assert isinstance(out, str)
        assert out


def _golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if UPDATE or not path.exists():
        path.write_text(text)
    assert text == path.read_text(), f"golden {path.name} differs (PLEG_DOCTOR_UPDATE_GOLDEN=1)"


@pytest.mark.parametrize(
    "name", ["datadog-v1.10.0", "datadog-v1.14.10", "datadog-v1.21.2", "spitdb-v1.35.0"]
)
def test_golden_table_per_era(name):
    report = diagnose_texts([(FIXTURES / f"{name}.prom").read_bytes()])
    _golden(name, render_table(report, width=100))


@pytest.mark.parametrize("cause", ["container_wedged", "runtime_hung", "relist_deadlock"])
def test_golden_table_for_sick_nodes(cause):
    _golden(f"sim-{cause}", render_table(diagnose_texts(SCENARIOS[cause]()), width=100))


def test_colour_only_when_asked():
    report = diagnose_texts([(FIXTURES / "spitdb-v1.35.0.prom").read_bytes()])
    assert "\x1b[" not in render_table(report)
    assert "\x1b[" in render_table(report, color=True)
