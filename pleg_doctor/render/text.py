"""Rich renderables → the text every human-facing renderer prints (docs/output.md#text-output).

Two promises hold for every table, whatever the width: a command the reader may copy (`Command`)
is printed on a line of its own, whole, never wrapped or cut with "…" (a narrow terminal lets it
overflow, which a terminal copies back as one line), and no line ends in spaces (rich pads rows
to the width; a copied line or a `diff` should not carry that).
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Iterator, Sequence

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

from pleg_doctor.core.printable import escape_controls

DEFAULT_WIDTH = 100
"""Columns when the width is unknown (not a terminal, no `COLUMNS`)."""

_TRAILING = re.compile(r"[ \t]+((?:\x1b\[[0-9;]*m)*)$", re.M)
"""Spaces at the end of a line, also when ANSI style resets follow them."""


@dataclasses.dataclass(frozen=True)
class Command:
    """A shell command to copy: printed as `<indent>$ <command>` on one line, never wrapped."""

    command: str
    indent: int = 3
    comment: str = ""
    """Printed after the command as `  # comment` (also never wrapped)."""

    def text(self) -> Text:
        """The line, the command in cyan."""
        line = Text(" " * self.indent + "$ ")
        line.append(self.command, style="cyan")
        if self.comment:
            line.append(f"   # {self.comment}", style="dim")
        return line


class SafeConsole(Console):
    """A rich `Console` that never writes a control character it did not make itself.

    Names and messages from outside (log lines, crictl's names, label values) reach the tables
    as they came; here, as rich turns renderables into segments, their control characters are
    escaped (`printable.escape_controls`), so no escape sequence of theirs reaches a terminal.
    Rich's own styling is added after this step and is unaffected.
    """

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterator[Segment]:
        """Rich's segments, text escaped; rich's control segments (cursor moves) as they are."""
        for segment in super().render(renderable, options):
            if segment.control is None and segment.text:
                text = escape_controls(segment.text)
                if text is not segment.text:
                    yield Segment(text, segment.style)
                    continue
            yield segment


def render_to_text(
    parts: Sequence[RenderableType | Command], *, color: bool = False, width: int | None = None
) -> str:
    """Print rich renderables into a string: 100 columns unless told, ANSI only when `color`.

    Every text renderer goes through here, so tests pin the output the same way everywhere.
    `Command`s are printed unwrapped; trailing spaces are removed from every line.
    """
    console = SafeConsole(
        file=io.StringIO(),
        width=width or DEFAULT_WIDTH,
        color_system="standard" if color else None,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        emoji=False,
    )
    for part in parts:
        if isinstance(part, Command):
            console.print(part.text(), soft_wrap=True)
        else:
            console.print(part)
    return strip_trailing_spaces(str(console.file.getvalue()))  # type: ignore[attr-defined]


def strip_trailing_spaces(text: str) -> str:
    """`text` without spaces at the end of its lines (ANSI resets after them are kept)."""
    return _TRAILING.sub(r"\1", text)
