"""Exit codes: Nagios plugin semantics for every command (docs/output.md#exit-codes)."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """What the process returns; monitoring systems read 2 as CRITICAL, so usage errors are 3."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3
