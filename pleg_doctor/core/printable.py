"""Outside text made safe to print: control characters escaped, shell words quoted.

Names and messages that come from outside (a pod name in a kubelet log, a container name from
crictl, a label value in a dump) may hold anything: a terminal escape sequence that clears the
screen or retitles the window, a carriage return that rewrites a line, a `;` that turns a
suggested `crictl` command into another one. Two functions keep them inert:

* `escape_controls`: control characters shown as `\\xNN` (the renderers, the stderr lines and
  `redaction.quote_outside` all go through it);
* `shell_command`: a next-step command for copy-paste, every word quoted for the shell
  (`shlex.quote`, or bash's `$'...'` for a word with control characters), so a hostile name
  stays one argument;
* `name_node`: the `$NODE` of a next-step command replaced by the node's name as one such
  quoted word, when the name is known.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

import re

_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]"
"""Control characters but tab and newline: C0, DEL, C1, and the Unicode line separators. A
pattern `re` compiles (and caches) the first time it is needed: text that `str.isprintable`
passes holds none of them, and a `check` line is such text, so a cron run never compiles it."""


def escape_controls(text: str) -> str:
    r"""`text` with control characters (not tab or newline) shown as `\xNN` / `\uNNNN`."""
    if text.isprintable() or re.search(_CONTROL, text) is None:
        return text
    return re.sub(_CONTROL, _escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def shell_word(word: str) -> str:
    """`word` quoted for a POSIX shell: as is when safe, else `'...'`, else bash's `$'...'`."""
    if re.search(_CONTROL, word) is None and "\n" not in word and "\t" not in word:
        import shlex  # only next-step commands need it, not a cron `check FILE`

        return shlex.quote(word)
    body = "".join(
        f"\\x{ord(c):02x}"
        if c in "\n\t" or re.match(_CONTROL, c)
        else ("\\" + c if c in "\\'" else c)
        for c in word
    )
    return f"$'{body}'"


def shell_command(*words: str) -> str:
    """A command line for people to copy: `words` joined, each quoted by `shell_word`."""
    return " ".join(shell_word(word) for word in words)


NODE_PLACEHOLDER = "$NODE"
"""What a next-step command says where the node's name goes when it is not known: the reader
sets `NODE` (or edits the line) before running it."""

_NODE_PLACEHOLDER = re.compile(r"\$NODE(?![A-Za-z0-9_])")
"""`$NODE` as a whole variable name: not the start of `$NODE_IP` or `$NODES`."""


def name_node(command: str, node: str | None) -> str:
    """`command` with every `$NODE` replaced by `node` as one shell word (`shell_word`); as it is
    when the node is not known.

    The word may sit inside a longer one (`spec.nodeName=$NODE`): the shell joins a quoted part
    with its neighbours, so a hostile name stays inside that one argument.
    """
    if not node or NODE_PLACEHOLDER not in command:
        return command
    word = shell_word(node)
    return _NODE_PLACEHOLDER.sub(lambda _: word, command)
