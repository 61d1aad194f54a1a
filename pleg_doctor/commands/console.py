"""The one place that decides about terminals, colour and logging (STYLE.md rule 8).

Data goes to stdout; errors, warnings, progress and logs go to stderr. Colour only on a
terminal, never with `NO_COLOR` set (https://no-color.org) or `TERM=dumb`.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO


def wants_color(stream: TextIO) -> bool:
    """Colour for `stream`: a terminal, and neither `NO_COLOR` nor `TERM=dumb`."""
    if "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def terminal_width(stream: TextIO) -> int | None:
    """The terminal's width, or None (renderers then use 100 columns)."""
    if not wants_color(stream) and not (hasattr(stream, "isatty") and stream.isatty()):
        return None
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return None


def error(message: str) -> None:
    """One or two lines on stderr, prefixed so they stand out in cron mail."""
    sys.stderr.write(f"pleg-doctor: error: {message}\n")


def warn(message: str) -> None:
    """A warning on stderr (e.g. TLS verification turned off)."""
    sys.stderr.write(f"pleg-doctor: warning: {message}\n")


def progress(message: str) -> None:
    """What a long wait is doing, on stderr (stdout stays the report's)."""
    sys.stderr.write(f"pleg-doctor: {message}\n")
    sys.stderr.flush()


def setup_logging(debug: bool) -> None:
    """`--debug` turns on DEBUG logs to stderr for pleg_doctor only.

    Third-party loggers stay at WARNING: urllib3 logs request lines only, but nothing outside
    this package is trusted to keep secrets out of its debug output.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("pleg-doctor: debug: %(name)s: %(message)s"))
    root = logging.getLogger("pleg_doctor")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    root.propagate = False
    for name in ("urllib3", "requests", "charset_normalizer"):
        logging.getLogger(name).setLevel(logging.WARNING)
