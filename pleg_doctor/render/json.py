"""`-o json`: the schema `pleg-doctor/v1` object, strict JSON (no NaN, no Infinity)."""

from __future__ import annotations

from pleg_doctor.core.report import Report
from pleg_doctor.render.document import render_document


def render_json(report: Report) -> str:
    """One JSON object per report; `allow_nan=False` makes a NaN slip a bug, not bad output."""
    return render_document(report.to_dict(), "json")
