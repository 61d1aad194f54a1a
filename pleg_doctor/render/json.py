"""`-o json`: the schema `pleg-doctor/v1` object, strict JSON (no NaN, no Infinity)."""

from __future__ import annotations

import json

from pleg_doctor.core.report import Report


def render_json(report: Report) -> str:
    """One JSON object per report; `allow_nan=False` makes a NaN slip a bug, not bad output."""
    return json.dumps(report.to_dict(), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
