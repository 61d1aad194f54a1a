"""Shared test helpers: diagnose text dumps through the real pipeline; check the JSON schema."""

from __future__ import annotations

import functools
import io
import json
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pleg_doctor.core.report import Report, SourceInfo, diagnose
from pleg_doctor.core.window import window_from_snapshots
from pleg_doctor.sources.base import FetchedDump
from pleg_doctor.sources.scrape import snapshot_from_dump

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from pleg_doctor.render.prom import CheckMetrics


def diagnose_texts(texts: Sequence[str | bytes], **kwargs: Any) -> Report:
    snapshots = [
        snapshot_from_dump(
            FetchedDump(
                kind="file",
                location=f"dump-{i}.prom",
                chunks=[t.encode() if isinstance(t, str) else t],
            )
        )
        for i, t in enumerate(texts)
    ]
    window = window_from_snapshots(snapshots)
    return diagnose(window, source=SourceInfo(kind="file", location="test"), **kwargs)


def strict_json(report: Report) -> dict[str, Any]:
    """Round-trip through strict JSON: NaN/Infinity would fail here."""

    def reject(value: str) -> Any:
        raise AssertionError(f"non-strict JSON constant {value}")

    from pleg_doctor.render.json import render_json

    return json.loads(render_json(report), parse_constant=reject)


NUM = (int, float)


def _opt(value: Any, types: Any) -> bool:
    return value is None or (isinstance(value, types) and not isinstance(value, bool))


def check_schema(doc: dict[str, Any]) -> None:
    """docs/output.md#v1: every field present, of its type, `null` when unknown."""
    expected = {
        "schema",
        "node",
        "source",
        "captured_at",
        "kubelet_version",
        "kubelet_version_inferred",
        "pleg_mode",
        "window_seconds",
        "verdict",
        "threshold_seconds",
        "relist_period_seconds",
        "headroom_seconds",
        "relist",
        "runtime_ops",
        "pods",
        "model",
        "causes",
        "notes",
        "scrape",
    }
    assert set(doc) == expected, set(doc) ^ expected
    assert doc["schema"] == "pleg-doctor/v1"
    scrape = doc["scrape"]
    if scrape is not None:
        assert set(scrape) == {
            "metrics_seconds",
            "blocked",
            "waited_seconds",
            "health_path",
            "health_seconds",
            "health_status",
            "node_ready",
        }
        assert isinstance(scrape["blocked"], bool)
        for key in ("metrics_seconds", "waited_seconds", "health_seconds"):
            assert _opt(scrape[key], NUM), key
    assert _opt(doc["node"], str)
    assert set(doc["source"]) == {"kind", "location"}
    assert doc["source"]["kind"] in {"file", "kubelet", "apiserver", "prometheus", "demo"}
    assert isinstance(doc["source"]["location"], str)
    assert _opt(doc["captured_at"], str)
    assert _opt(doc["kubelet_version"], str)
    assert _opt(doc["kubelet_version_inferred"], str)
    # An inferred version is a range, never presented as an exact one.
    assert doc["kubelet_version"] is None or doc["kubelet_version_inferred"] is None
    assert doc["pleg_mode"] in {"generic", "evented", "unknown"}
    assert _opt(doc["window_seconds"], NUM)
    assert doc["verdict"] in {"ok", "warning", "critical", "unknown"}
    assert isinstance(doc["threshold_seconds"], NUM)
    assert isinstance(doc["relist_period_seconds"], NUM)
    assert _opt(doc["headroom_seconds"], NUM)
    relist = doc["relist"]
    assert set(relist) == {
        "count",
        "mean_seconds",
        "p50_seconds",
        "p99_seconds",
        "over_top_bucket",
        "interval_mean_seconds",
        "last_seen_age_seconds",
        "worst_last_seen_age_seconds",
        "stalled",
    }
    assert _opt(relist["count"], int)
    assert _opt(relist["over_top_bucket"], int)
    for key in (
        "mean_seconds",
        "p50_seconds",
        "p99_seconds",
        "interval_mean_seconds",
        "last_seen_age_seconds",
        "worst_last_seen_age_seconds",
    ):
        assert _opt(relist[key], NUM), key
    assert relist["stalled"] in (True, False, None)
    for op in doc["runtime_ops"]:
        assert set(op) == {
            "operation",
            "calls",
            "errors",
            "mean_seconds",
            "p99_seconds",
            "timeouts",
        }
        assert isinstance(op["operation"], str)
        assert isinstance(op["calls"], int)
        assert isinstance(op["errors"], int)
        assert _opt(op["mean_seconds"], NUM)
        assert _opt(op["p99_seconds"], NUM)
        assert _opt(op["timeouts"], int)
    pods = doc["pods"]
    assert set(pods) == {"running_pods", "containers", "pods_inspected_per_relist"}
    assert _opt(pods["running_pods"], int)
    assert pods["containers"] is None or all(
        isinstance(v, int) for v in pods["containers"].values()
    )
    assert _opt(pods["pods_inspected_per_relist"], NUM)
    model = doc["model"]
    assert set(model) == {
        "predicted_relist_seconds",
        "observed_relist_seconds",
        "residual_seconds",
        "pods_at_threshold",
        "hung_calls_tolerated",
        "terms",
    }
    for key in ("predicted_relist_seconds", "observed_relist_seconds", "residual_seconds"):
        assert _opt(model[key], NUM)
    assert _opt(model["pods_at_threshold"], int)
    assert _opt(model["hung_calls_tolerated"], int)
    assert all(isinstance(v, NUM) for v in model["terms"].values())
    # Ranked by score, the informational causes (kubelet_restart) after every other one.
    from pleg_doctor.core.causes.base import INFORMATIONAL_CAUSES

    informational = [c["id"] in INFORMATIONAL_CAUSES for c in doc["causes"]]
    assert informational == sorted(informational)
    scores = [c["score"] for c in doc["causes"] if c["id"] not in INFORMATIONAL_CAUSES]
    assert scores == sorted(scores, reverse=True)
    for cause in doc["causes"]:
        assert set(cause) == {"id", "score", "title", "evidence", "next_steps"}
        assert 0 <= cause["score"] <= 1
        assert cause["evidence"]
        assert cause["next_steps"]
        for item in cause["evidence"]:
            assert set(item) == {"metric", "value", "note"}
            assert isinstance(item["value"], (int, float, str))
            assert not (isinstance(item["value"], float) and not math.isfinite(item["value"]))
    assert all(isinstance(n, str) for n in doc["notes"])
    errors = [f"{list(e.path)}: {e.message}" for e in _v1_validator().iter_errors(doc)]
    assert not errors, "not valid against the published v1 schema:\n" + "\n".join(errors[:5])


@functools.cache
def _v1_validator() -> Any:
    """The published `pleg-doctor schema v1` (strict), as tests/test_schemas.py uses it."""
    from jsonschema import Draft202012Validator

    from pleg_doctor.commands.schema import load_schema

    return Draft202012Validator(load_schema("v1"))


def run_cli(
    args: Sequence[str],
    capsys: Any,
    *,
    secrets: Sequence[str] = (),
    stdin: bytes | None = None,
    monkeypatch: Any = None,
) -> tuple[int, str, str]:
    """Run the real entry point; return (exit code, stdout, stderr).

    `secrets` must appear in neither stream; `stdin` (with `monkeypatch`) feeds standard input.
    """
    from pleg_doctor.cli import main

    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    for secret in secrets:
        assert secret not in out + err, f"a secret leaked: ...{secret[:4]}..."
    code = info.value.code
    return (code if isinstance(code, int) else 0), out, err


def build_registry(metrics: CheckMetrics) -> CollectorRegistry:
    """prometheus_client's registry of the gauges `render.prom.families(metrics)` describes: the
    oracle the tests hold pleg-doctor's own text format to (`prometheus_client` is a test
    dependency only; pleg-doctor writes the format itself)."""
    from prometheus_client import CollectorRegistry, Gauge

    from pleg_doctor.render.prom import families

    registry = CollectorRegistry()
    for family in families(metrics):
        gauge = Gauge(
            family.name, family.documentation, labelnames=family.labelnames, registry=registry
        )
        for values, value in family.samples:
            gauge.labels(*values).set(value)
    return registry
