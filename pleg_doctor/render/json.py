"""`-o json`: the schema `pleg-doctor/v1` object, strict JSON (no NaN, no Infinity).

The fleet's object is written as it is encoded, a node at a time, each node on one line: at
10,000 nodes the whole object would be tens of megabytes of dicts and text held at once, and
Python's pretty printer is several times slower than its C encoder.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TextIO

from pleg_doctor.core.report import Report
from pleg_doctor.render.document import render_document

if TYPE_CHECKING:
    from pleg_doctor.core.fleet import FleetReport


def render_json(report: Report) -> str:
    """One JSON object per report; `allow_nan=False` makes a NaN slip a bug, not bad output."""
    return render_document(report.to_dict(), "json")


def write_fleet_json(
    report: FleetReport, stream: TextIO, *, top: int | None = None, ascii_only: bool = False
) -> None:
    """The fleet object (schema `pleg-doctor/v1`, `FleetReport.to_dict`) onto `stream`: its
    fields one per line, then `nodes`, one compact object per line, encoded one at a time.

    The same document as `render_document(report.to_dict(top=top), "json")` (the same keys,
    values and escapes: `ascii_only` when the stream cannot encode Unicode), laid out so that
    no more than one node's text is held at a time."""
    head = report.to_dict(top=0)
    del head["nodes"]
    stream.write("{\n")
    for key, value in head.items():
        stream.write(f"  {json.dumps(key)}: {_encode(value, ascii_only)},\n")
    stream.write('  "nodes": [')
    shown = report.reports if top is None else report.reports[:top]
    for index, node in enumerate(shown):
        stream.write("\n    " if index == 0 else ",\n    ")
        stream.write(_encode(node.to_dict(), ascii_only))
    stream.write("\n  ]\n}\n" if shown else "]\n}\n")


def _encode(value: object, ascii_only: bool) -> str:
    """Strict JSON on one line: `allow_nan=False` makes a NaN slip a bug, not bad output."""
    return json.dumps(value, allow_nan=False, ensure_ascii=ascii_only)
