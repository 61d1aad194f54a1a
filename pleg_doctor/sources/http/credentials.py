"""The credentials of one request: the `Authorization` header (reading a token file now), how
messages name them, and every value that must never be shown.
"""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

from pleg_doctor.errors import SourceAuthError
from pleg_doctor.sources.http.redaction import REDACTED_HEADERS
from pleg_doctor.sources.http.settings import HttpSettings


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What `resolve_credentials` hands to one request: the header, the TLS files, the secrets."""

    authorization: str | None
    secrets: tuple[str, ...]
    description: str
    present: bool = True


def resolve_credentials(settings: HttpSettings) -> Credentials:
    """Build the `Authorization` header (reading the token file now) and the list of secrets.

    The values of `settings.headers` are secrets too; they count as credentials sent when one of
    them is a credential header (`Authorization`, `Cookie`...).
    """
    credentials = _settings_credentials(settings)
    if not settings.headers:
        return credentials
    values = tuple(value for _, value in settings.headers if value)
    if credentials.present:
        return dataclasses.replace(credentials, secrets=(*credentials.secrets, *values))
    return Credentials(
        authorization=None,
        secrets=values,
        description=settings.credential_label or "the extra headers given",
        present=any(name.lower() in REDACTED_HEADERS for name, _ in settings.headers),
    )


def _settings_credentials(settings: HttpSettings) -> Credentials:
    """The credentials of the token, token file, basic auth or client certificate fields."""
    secrets: list[str] = []
    if settings.token_file is not None:
        token = _read_token_file(settings.token_file)
        secrets.append(token)
        return Credentials(
            authorization=f"Bearer {token}",
            secrets=tuple(secrets),
            description=settings.credential_label or f"the token from {settings.token_file}",
        )
    if settings.token is not None:
        token = settings.token.strip()
        if not token:
            raise SourceAuthError("the bearer token is empty")
        _check_token_chars(token, "the bearer token")
        return Credentials(
            authorization=f"Bearer {token}",
            secrets=(token, settings.token),
            description=settings.credential_label or "the bearer token",
        )
    if settings.basic_auth is not None:
        user, password = settings.basic_auth
        # NOTE: encoded here (UTF-8, like Go's SetBasicAuth) instead of with requests' `auth=`,
        # whose latin-1 encoding error would quote a character of the password.
        value = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return Credentials(
            authorization=f"Basic {value}",
            secrets=tuple(s for s in (password, value) if s),
            description=settings.credential_label or f"the password of user '{user}'",
        )
    if settings.client_cert is not None:
        what = (
            f"the client certificate {settings.client_cert}"
            if isinstance(settings.client_cert, Path)
            else "the client certificate"
        )
        return Credentials(None, (), settings.credential_label or what)
    return Credentials(None, (), "no credentials", present=False)


def _read_token_file(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceAuthError(
            f"cannot read token file {path}: {exc.strerror or type(exc).__name__}"
        ) from exc
    try:
        token = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise SourceAuthError(f"token file {path} is not text") from exc
    if not token:
        raise SourceAuthError(f"token file {path} is empty")
    _check_token_chars(token, f"the token in {path}")
    return token


def _check_token_chars(token: str, what: str) -> None:
    """Reject tokens that cannot go in a header, before `requests` quotes them in an error."""
    if not (token.isascii() and token.isprintable()) or any(c.isspace() for c in token):
        raise SourceAuthError(f"{what} contains spaces or control characters")
