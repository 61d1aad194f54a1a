"""The one place that decides about terminals, colour and logging (STYLE.md rule 8).

Data goes to stdout; errors, warnings, progress and logs go to stderr. Colour only on a
terminal, never with `NO_COLOR` set (https://no-color.org) or `TERM=dumb`.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn, TextIO


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


def fail(message: str, *, debug: bool, code: int) -> NoReturn:
    """The error line on stderr, the traceback being handled with `--debug`, then exit `code`."""
    error(message)
    if debug:
        import traceback  # only with --debug: cron pays for nothing it does not print

        traceback.print_exc()
    sys.exit(code)


def warn(message: str) -> None:
    """A warning on stderr (e.g. TLS verification turned off)."""
    sys.stderr.write(f"pleg-doctor: warning: {message}\n")


def setup_logging(debug: bool) -> None:
    """`--debug` turns on DEBUG logs to stderr for pleg_doctor only.

    Third-party loggers stay at WARNING: urllib3 logs request lines only, but nothing outside
    this package is trusted to keep secrets out of its debug output.

    Without `--debug`, and with `logging` not imported yet, there is nothing to set: no logger
    exists, pleg-doctor writes DEBUG records only (dropped by logging's own defaults, as by the
    WARNING level set here), and third-party loggers default to WARNING. Importing `logging` for
    nothing would cost every cron `check FILE` a few milliseconds.
    """
    if not debug and "logging" not in sys.modules:
        return
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("pleg-doctor: debug: %(name)s: %(message)s"))
    root = logging.getLogger("pleg_doctor")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    root.propagate = False
    for name in ("urllib3", "requests", "charset_normalizer"):
        logging.getLogger(name).setLevel(logging.WARNING)
