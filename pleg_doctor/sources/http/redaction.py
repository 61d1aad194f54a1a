"""Keeping secrets out of what is shown: credentials in URLs, secret headers, quoted text."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping

REDACTED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
"""Header names whose values are never logged (CONTRACT.md "Errors": not even with `--debug`)."""


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


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Remove any known secret from server-supplied text before quoting it."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text
