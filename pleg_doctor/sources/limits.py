"""The bounds in force: `core.limits.Limits` with any `PLEG_DOCTOR_MAX_*` variable applied.

Read once per process, here at the edge (the core reads no environment). A variable that is not
a positive number is a usage error naming it, not a silent default: a typo in a DaemonSet's env
must not quietly lift or keep a bound.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from typing import Any

from pleg_doctor.core.limits import VARIABLES, Limits
from pleg_doctor.errors import UsageError


@functools.cache
def current() -> Limits:
    """The bounds of this process (defaults, overridden by the environment)."""
    return from_environment(os.environ)


def from_environment(environ: Mapping[str, str]) -> Limits:
    """`Limits` with every `PLEG_DOCTOR_MAX_*` variable of `environ` applied."""
    defaults = Limits()
    changes: dict[str, Any] = {}
    for field, variable in VARIABLES.items():
        text = environ.get(variable, "").strip()
        if not text:
            continue
        kind = type(getattr(defaults, field))
        try:
            value = kind(text.replace("_", ""))
        except ValueError:
            value = 0
        if not value > 0:
            raise UsageError(
                f"{variable}={text!r}: want a positive "
                + ("number" if kind is float else "whole number")
            )
        changes[field] = value
    return dataclasses.replace(defaults, **changes)
