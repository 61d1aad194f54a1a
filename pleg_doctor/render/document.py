"""`-o json` and `-o yaml`: one document, two spellings (docs/output.md#formats).

Every command that prints JSON prints the same document as YAML with `-o yaml`: the object its
`to_dict()` builds, field by field, validated by the same JSON Schema (`pleg-doctor schema NAME`).
JSON is strict (no NaN or Infinity: a slip is a bug, not output). YAML is the safe subset, keys
in the document's order. On a stream that cannot encode Unicode both escape it (`\\u2265`), so
the document stays the same data.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any


class DocumentFormat(str, enum.Enum):
    """The `-o` values that print a document rather than a table."""

    JSON = "json"
    YAML = "yaml"


def render_document(
    document: Mapping[str, Any], fmt: DocumentFormat | str, *, ascii_only: bool = False
) -> str:
    """`document` as JSON or YAML text, ending in a newline."""
    chosen = DocumentFormat(fmt)
    if chosen is DocumentFormat.JSON:
        return json.dumps(document, indent=2, allow_nan=False, ensure_ascii=ascii_only) + "\n"
    if chosen is DocumentFormat.YAML:
        return yaml_text(document, ascii_only=ascii_only)
    raise AssertionError(f"unhandled document format {chosen!r}")  # pragma: no cover


def json_line(document: Mapping[str, Any], *, ascii_only: bool = False) -> str:
    """One compact JSON object on one line (JSON Lines: `watch -o json`)."""
    return (
        json.dumps(document, allow_nan=False, ensure_ascii=ascii_only, separators=(",", ":")) + "\n"
    )


def yaml_text(document: Mapping[str, Any], *, ascii_only: bool = False) -> str:
    """The safe-YAML spelling of `document` (block style, the document's key order)."""
    import yaml

    _refuse_non_finite(document)
    text: str = yaml.safe_dump(
        dict(document),
        sort_keys=False,
        allow_unicode=not ascii_only,
        default_flow_style=False,
        width=2**31 - 1,  # long strings (log lines, commands) stay on one line
    )
    return text


def _refuse_non_finite(value: Any) -> None:
    """YAML can spell NaN (`.nan`); the schemas cannot: refuse it as strict JSON does."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise ValueError(f"out of range float value {value!r} in a document")
    if isinstance(value, Mapping):
        for item in value.values():
            _refuse_non_finite(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _refuse_non_finite(item)
