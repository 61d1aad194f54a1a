"""`check -o npd`: the message and exit code of a node-problem-detector custom plugin.

node-problem-detector runs a custom plugin every `invoke_interval` and reads two things
(`pkg/custompluginmonitor/plugin/plugin.go`, `Plugin.run`):

* the exit status: 0 is OK, 1 is NonOK, anything else Unknown. A permanent rule turns them into
  its condition's status False, True and Unknown (`custom_plugin_monitor.go`,
  `toConditionStatus`). That is not Nagios' contract (1 WARNING, 2 CRITICAL, 3 UNKNOWN): a
  critical node would read as Unknown. So warning and critical are both NonOK here (the message
  says which), and every unknown, every error included, exits 2.
* stdout, whitespace-trimmed and cut at `max_output_length` bytes (80 by default), as the
  condition's or the event's message. So the message is one ASCII line that fits 80 bytes as a
  whole: the verdict, the headroom and the top cause, in that order; a reason too long to fit is
  shortened with `...` rather than cut mid-word by NPD.
"""

from __future__ import annotations

import re

from pleg_doctor.core.report import Report

MAX_OUTPUT_LENGTH = 80
"""NPD's default `max_output_length` (`pkg/custompluginmonitor/types/config.go`), in bytes."""

EXIT_CODES = {"ok": 0, "warning": 1, "critical": 1, "unknown": 2}
"""Verdict → NPD plugin status: OK, NonOK, NonOK, Unknown."""

UNKNOWN_EXIT = EXIT_CODES["unknown"]
"""Errors (bad usage, source down, bad dump) exit this: NPD's Unknown."""

PREFIX = "PLEG"

_ASCII = {"≈": "~", "≥": ">=", "≤": "<=", "…": "...", "—": "-", "–": "-", "→": "->", "·": "-"}
"""The non-ASCII characters of the reasons, spelled in ASCII (NPD cuts bytes, not characters)."""

_URL = re.compile(r"\bhttps?://([^/\s?#]+)[^\s]*?(?=[:;,)]?(?:\s|$))")


def npd_exit_code(report: Report | None) -> int:
    """The plugin status of `report` (None: the check failed → Unknown)."""
    return UNKNOWN_EXIT if report is None else EXIT_CODES[report.verdict]


def npd_line(report: Report, *, limit: int = MAX_OUTPUT_LENGTH) -> str:
    """`PLEG warning: headroom 58s of 180s, top cause container_wedged`, at most `limit` bytes.

    Unknown verdicts say why instead of a headroom. Without a scored cause, a warning or a
    critical gives its first reason that is not the headroom itself.
    """
    if report.verdict == "unknown":
        return npd_unknown_line(report.reasons[0] if report.reasons else "no verdict", limit=limit)
    threshold = report.constants.relist_threshold_seconds
    headroom = report.model.headroom_seconds
    head = f"{PREFIX} {report.verdict}: "
    figure = (
        f"headroom {headroom:.0f}s of {threshold:.0f}s"
        if headroom is not None
        else f"headroom unknown (threshold {threshold:.0f}s)"
    )
    if report.causes:
        tail = f"top cause {report.causes[0].id}"
    else:
        others = [r for r in report.reasons if not r.startswith("headroom")]
        tail = others[0] if others and report.verdict != "ok" else ""
    text = head + figure + (f", {tail}" if tail else "")
    if len(ascii_text(text)) > limit and report.causes:
        # The cause id is the part worth keeping whole: shorten the headroom's wording first.
        short = f"{headroom:.0f}s/{threshold:.0f}s" if headroom is not None else "?"
        text = f"{head}headroom {short}, top {report.causes[0].id}"
    return fit(text, limit)


def npd_unknown_line(reason: str, *, limit: int = MAX_OUTPUT_LENGTH) -> str:
    """The message of a run that could not judge the node (bad usage, source down, bad dump)."""
    return fit(f"{PREFIX} unknown: {reason}", limit)


def ascii_text(text: str) -> str:
    """`text` on one line, in ASCII: known symbols spelled out, anything else `?`, and URLs as
    their `host:port` (`https://10.0.0.7:10250/metrics` → `10.0.0.7:10250`): in 80 bytes, the
    endpoint says which one, and what went wrong matters more than its path."""
    text = _URL.sub(r"\1", text)
    for symbol, spelled in _ASCII.items():
        text = text.replace(symbol, spelled)
    text = " ".join(text.split())
    return text.encode("ascii", "replace").decode("ascii")


def fit(text: str, limit: int = MAX_OUTPUT_LENGTH) -> str:
    """`text` in ASCII within `limit` bytes, shortened at a word boundary with `...` if needed."""
    text = ascii_text(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 3]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "..."
