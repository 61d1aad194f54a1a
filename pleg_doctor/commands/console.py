"""The one place that decides about terminals, colour, encodings and logging.

Data goes to stdout; errors, warnings, progress and logs go to stderr. Colour only on a
terminal, never with `NO_COLOR` set (https://no-color.org) or `TERM=dumb`. The width is
`COLUMNS`, else the terminal's. A stream that cannot encode Unicode (`LANG=C` without a UTF-8
locale, `PYTHONIOENCODING=ascii`) gets ASCII stand-ins for the report's box drawing, bars and
signs instead of an encoding error (docs/output.md#text-output).
"""

from __future__ import annotations

import codecs
import os
import sys
from collections.abc import Mapping
from typing import Any, NoReturn, TextIO

ASCII_ERRORS = "pleg-doctor-ascii"
"""The codec error handler `prepare_streams` installs: Unicode → readable ASCII."""

_ASCII = {
    "█": "#",
    "▓": "#",
    "▒": "#",
    "░": ".",
    "▁": "_",
    "▂": ".",
    "▃": "-",
    "▄": "=",
    "▅": "+",
    "▆": "*",
    "▇": "#",
    "—": "-",
    "–": "-",
    "−": "-",
    "…": "...",
    "•": "*",
    "·": "-",
    "≥": ">=",
    "≤": "<=",
    "≈": "~",
    "≫": ">>",
    "≪": "<<",
    "×": "x",
    "→": "->",
    "←": "<-",
    "◀": "<",
    "▶": ">",
    "τ": "tau",
    "Δ": "d",
    "µ": "u",
    "±": "+/-",
    "⌊": "floor(",
    "⌋": ")",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
}


def ascii_for(char: str) -> str:
    """A readable ASCII stand-in for one character (`?` when there is none)."""
    if char in _ASCII:
        return _ASCII[char]
    import unicodedata  # only on a stream that cannot encode Unicode

    if "\u2500" <= char <= "\u257f":  # box drawing
        name = unicodedata.name(char, "")
        if "HORIZONTAL" in name and "VERTICAL" not in name:
            return "-"
        if "VERTICAL" in name and "HORIZONTAL" not in name:
            return "|"
        return "+"
    decomposed = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
    if decomposed or unicodedata.combining(char):
        return decomposed  # é → e; a combining mark (S̄) is dropped
    return "?"


def _ascii_errors(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start : error.end]
    return "".join(ascii_for(char) for char in text), error.end


codecs.register_error(ASCII_ERRORS, _ascii_errors)


def encodes_unicode(stream: TextIO) -> bool:
    """Whether `stream` can print the report's characters (box drawing, bars, `≥`)."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        "╭█≥—•".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def prepare_streams() -> None:
    """Give stdout and stderr ASCII stand-ins when they cannot encode Unicode."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and not encodes_unicode(stream):
            reconfigure(errors=ASCII_ERRORS)


def wants_color(stream: TextIO) -> bool:
    """Colour for `stream`: a terminal, and neither `NO_COLOR` nor `TERM=dumb`."""
    if "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def terminal_width(stream: TextIO) -> int | None:
    """`COLUMNS` when set (also when piped: `COLUMNS=60 pleg-doctor ... | less`), else the
    terminal's width, else None (renderers then use 100 columns)."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if not (hasattr(stream, "isatty") and stream.isatty()):
        return None
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return None


def write_document(document: Mapping[str, Any], fmt: str) -> None:
    """Print a JSON or YAML document on stdout (Unicode escaped when stdout cannot encode it)."""
    from pleg_doctor.render.document import render_document

    sys.stdout.write(render_document(document, fmt, ascii_only=not encodes_unicode(sys.stdout)))
    sys.stdout.flush()


def error(message: str) -> None:
    """One or two lines on stderr, prefixed so they stand out in cron mail.

    Control characters are escaped: a message may quote a name or a line from outside, and no
    escape sequence of theirs may reach a terminal.
    """
    from pleg_doctor.core.printable import escape_controls

    sys.stderr.write(f"pleg-doctor: error: {escape_controls(message)}\n")


def fail(message: str, *, debug: bool, code: int) -> NoReturn:
    """The error line on stderr, the traceback being handled with `--debug`, then exit `code`."""
    error(message)
    if debug:
        import traceback  # only with --debug: cron pays for nothing it does not print

        traceback.print_exc()
    sys.exit(code)


def deprecated(old: str, new: str) -> None:
    """One line on stderr naming the new spelling of an option (never on stdout: scripts and
    Nagios read it)."""
    sys.stderr.write(
        f"pleg-doctor: deprecated: {old} is now {new} (the old spelling still works)\n"
    )


def note(message: str) -> None:
    """An informational line on stderr (how an argument was read)."""
    sys.stderr.write(f"pleg-doctor: {message}\n")


def warn(message: str) -> None:
    """A warning on stderr (e.g. TLS verification turned off), control characters escaped."""
    from pleg_doctor.core.printable import escape_controls

    sys.stderr.write(f"pleg-doctor: warning: {escape_controls(message)}\n")


def progress(message: str) -> None:
    """What a long wait is doing, on stderr (stdout stays the report's)."""
    sys.stderr.write(f"pleg-doctor: {message}\n")
    sys.stderr.flush()


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

    from pleg_doctor.core.printable import escape_controls

    class EscapingFormatter(logging.Formatter):
        """Debug lines with control characters escaped: they may quote outside text."""

        def format(self, record: logging.LogRecord) -> str:
            return escape_controls(super().format(record))

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter("pleg-doctor: debug: %(name)s: %(message)s"))
    root = logging.getLogger("pleg_doctor")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    root.propagate = False
    for name in ("urllib3", "requests", "charset_normalizer"):
        logging.getLogger(name).setLevel(logging.WARNING)
