"""deploy/grafana/pleg-doctor.json: a well-formed dashboard over series that exist.

Every panel's query is run against a real Prometheus in tests/test_rules_integration.py; here,
without one: the JSON's shape, the layout, and that each series it reads is recorded by the
generated rules or written by `pleg-doctor check`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pleg_doctor.render.prom import CheckMetrics, families
from pleg_doctor.sources.prometheus.recording import recording_rules
from pleg_doctor.sources.prometheus.rules import RuleOptions

from .conftest import ROOT

DASHBOARD = ROOT / "deploy" / "grafana" / "pleg-doctor.json"
_NAME_RE = re.compile(r"(?<![\w:$])([a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:$]+|pleg_doctor_[a-z_]+)")


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panel_targets(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(panel title, target) for every query of every panel."""
    return [
        (panel["title"], target)
        for panel in doc["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def test_shape_and_layout():
    doc = dashboard()
    assert doc["uid"] == "pleg-doctor" and doc["schemaVersion"] >= 36
    ids = [panel["id"] for panel in doc["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in doc["panels"]:
        box = panel["gridPos"]
        assert box["x"] >= 0 and box["x"] + box["w"] <= 24, panel["title"]
        for x in range(box["x"], box["x"] + box["w"]):
            for y in range(box["y"], box["y"] + box["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["description"], panel["title"]
            assert panel["targets"], panel["title"]
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert set(variables) == {"datasource", "window", "cluster", "node"}
    assert variables["window"]["current"]["value"] == RuleOptions().window


def test_every_series_read_is_recorded_by_the_rules_or_written_by_check():
    recorded = {rule.record.replace("5m", "$window") for rule in recording_rules(RuleOptions())}
    written = {family.name for family in families(CheckMetrics(node="n", report=None, ran_at=0.0))}
    written |= {
        "pleg_doctor_headroom_seconds",
        "pleg_doctor_relist_seconds",
        "pleg_doctor_cause_score",
    }
    queries = [target["expr"] for _, target in panel_targets(dashboard())]
    queries += [v["definition"] for v in dashboard()["templating"]["list"] if "definition" in v]
    read = {name for query in queries for name in _NAME_RE.findall(query)}
    assert read, "no series found in the panels"
    assert read <= recorded | written, read - recorded - written
    # The panels the brief asks for.
    titles = {title for title, _ in panel_targets(dashboard())}
    for wanted in (
        "Fleet headroom ranking",
        "Headroom",
        "Relist duration",
        "Last seen",
        "latency by type",
    ):
        assert any(wanted in title for title in titles), wanted
