"""Keeping secrets out of what is shown: credentials in URLs, secret headers, quoted text.

`quote_outside` is the one door for text that comes from outside (a server's error body, an exec
plugin's or crictl's stderr): secrets redacted, control characters escaped, one bounded line.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Iterable, Mapping

from pleg_doctor.core.printable import escape_controls

REDACTED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
"""Header names whose values are never logged (docs/output.md#errors: not even with `--debug`)."""


def redact_headers(headers: Mapping[str, str], *, also: Iterable[str] = ()) -> dict[str, str]:
    """Return `headers` with the values of credential-bearing headers replaced by `<redacted>`.

    `also` names more headers (any case) whose values are secrets, e.g. `HttpSettings.headers`.
    """
    secret = REDACTED_HEADERS | {name.lower() for name in also}
    return {
        name: ("<redacted>" if name.lower() in secret else value) for name, value in headers.items()
    }


def safe_url(url: str) -> str:
    """Return `url` without any `user:password@` part, for messages and `location`."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


def strip_query(url: str) -> str:
    """`url` without its query and fragment (a redirect target may carry a token in either)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    return urllib.parse.urlunsplit(parts._replace(query="", fragment=""))


REDACTED = "<redacted>"

_MIN_SECRET_CHARS = 4
"""Shorter known secrets are not searched for: they would redact ordinary words."""

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM blocks (keys, certificates): the whole block, header to footer.
    (
        re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|$)", re.S),
        "<redacted PEM block>",
    ),
    # A credential header quoted back: keep the name, drop the value (scheme and credentials).
    (
        re.compile(
            r"(?i)\b((?:proxy-)?authorization|cookie|set-cookie|x-auth-token)(\s*[:=]\s*)"
            r"[^\r\n,;]*"
        ),
        r"\1\2" + REDACTED,
    ),
    # `Bearer <token>`, `Basic <base64 of user:password>` wherever they appear.
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{4,}"), r"\1\2" + REDACTED),
    # JWTs (service-account and OIDC tokens), alone.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    # `token=...`, `password: ...` and the like in a quoted command line or config.
    (
        re.compile(
            r"(?i)\b((?:access[_-]?|refresh[_-]?|id[_-]?|bearer[_-]?)?token|password|passwd|"
            r"secret|api[_-]?key|client[_-]?key[_-]?data)(\"?\s*[:=]\s*\"?)[^\s\",;&]+"
        ),
        r"\1\2" + REDACTED,
    ),
)

_BASE64_WORD = re.compile(r"\b[A-Za-z0-9+/]{8,}={0,2}(?![A-Za-z0-9+/=])")
"""A word that may be base64 of `user:password` (checked by decoding it)."""


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` from outside with every secret removed: the exact `secrets` this process holds,
    and anything shaped like a credential (see `quote_outside`)."""
    for secret in sorted(
        (s for s in secrets if len(s) >= _MIN_SECRET_CHARS), key=len, reverse=True
    ):
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _BASE64_WORD.sub(_redact_user_password, text)


def quote_outside(
    text: str | bytes, secrets: Iterable[str] = (), *, limit: int = 200, one_line: bool = True
) -> str:
    r"""Text from outside (a server's error body, a plugin's or crictl's stderr), safe to show.

    The one function every place that quotes outside text goes through:

    * secrets removed (`scrub`): the exact secrets this process holds (tokens, passwords, the
      base64 of `user:password`, extra header values), and whatever looks like one: PEM blocks,
      credential headers (`Authorization: ...`), `Bearer`/`Basic` values, JWTs,
      `token=`/`password:` pairs, base64 words that decode to `user:password`;
    * control characters escaped (`\x1b` for ESC...), so no terminal escape sequence reaches a
      terminal raw and no carriage return rewrites a line;
    * with `one_line` (default), the first non-blank line only, whitespace folded; at most
      `limit` characters (`…` when cut). Bytes are decoded as UTF-8, invalid bytes replaced.
    """
    if isinstance(text, bytes):
        text = text[: limit * 8 + 4096].decode("utf-8", "replace")
    else:
        text = text[: limit * 8 + 4096]
    if one_line:
        text = next((line for line in text.splitlines() if line.strip()), "")
    text = escape_controls(scrub(text, secrets))
    text = " ".join(text.split()) if one_line else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _redact_user_password(match: re.Match[str]) -> str:
    word = match.group()
    try:
        decoded = base64.b64decode(word + "=" * (-len(word) % 4), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return word
    user, colon, password = decoded.partition(":")
    if colon and user and password and decoded.isprintable():
        return REDACTED
    return word
