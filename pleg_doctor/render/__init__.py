"""Renderers: one per output format, chosen through an exhaustive enum (docs/architecture.md#conventions).

Renderers take a `Report` and return a string; the CLI decides where it goes. The rich table
renderer is imported only when chosen, so `-o json` never pays for importing rich. `-o json` and
`-o yaml` print the same document (`render/document.py`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pleg_doctor.core.report import Report


class OutputFormat(str, enum.Enum):
    """`-o` values."""

    TABLE = "table"
    JSON = "json"
    YAML = "yaml"

    def to_renderer(
        self, *, color: bool = False, width: int | None = None, ascii_only: bool = False
    ) -> Callable[[Report], str]:
        """The renderer for this format; `ascii_only` escapes Unicode in documents."""
        if self is OutputFormat.TABLE:
            from pleg_doctor.render.table import render_table

            return lambda report: render_table(report, color=color, width=width)
        if self is OutputFormat.JSON or self is OutputFormat.YAML:
            from pleg_doctor.render.document import render_document

            fmt = self.value
            return lambda report: render_document(report.to_dict(), fmt, ascii_only=ascii_only)
        raise AssertionError(f"unhandled output format {self!r}")  # pragma: no cover
