"""Shared HTTP fetching for the live sources (kubelet directly, through the API server).

Every live source does the same thing: a `GET` over HTTP(S) with some credentials (a kubelet's
`/metrics`, the API server's proxy to it, a Prometheus query API), and all must fail the same way:
one or two lines that say what failed, on which URL, and what to try, never a traceback and never a
secret (CONTRACT.md "Errors", "Sources": `--timeout` per request, a retry on connection errors,
`--debug` with secrets redacted). This module owns that:

* `HttpSettings` says how to authenticate and verify TLS; `EndpointWording` says how to phrase
  errors for one kind of endpoint (which RBAC permission a 403 needs: ANCHORS.md §5).
* `http_client()` resolves the credentials and writes the TLS files once; its `HttpClient.get()` is
  the one request primitive: one retry on connection errors, timeouts, no redirects, the body read
  whole within bounds, and every `requests`, `urllib3`, `ssl` and OS exception translated into the
  errors of `pleg_doctor.errors`. It returns a `RawResponse`; what the body means is the caller's.
* `fetch_metrics_url()` is the scrape of a Prometheus exposition on top of it.

Secrets never leave this module except in the `Authorization` header on the wire: messages are built
from URLs, file paths and status codes (never from a third-party exception's text, which can quote a
header), and the debug log redacts credential headers. `http.client`'s own debug printing (which
prints every request header, including `Authorization`) is pinned off for our connections.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import email.utils
import http.client
import json
import logging
import os
import socket
import ssl
import tempfile
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeAlias

import requests
import requests.adapters
import requests.utils
import urllib3
import urllib3.connection
import urllib3.exceptions

from pleg_doctor.errors import (
    SourceAuthError,
    SourceConnectionError,
    SourceError,
    SourceTLSError,
    UsageError,
)
from pleg_doctor.sources.base import FetchedDump, SourceKind

log = logging.getLogger(__name__)

ACCEPT = "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5,*/*;q=0.1"
"""What we ask for: classic text exposition first (what every kubelet serves), OpenMetrics next.

The same preference order Prometheus itself sends, minus protobuf, which we cannot parse.
"""

ACCEPT_ENCODING = "gzip"
"""The kubelet compresses `/metrics` with gzip when asked; a few MB shrink about tenfold."""

REDACTED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
"""Header names whose values are never logged (CONTRACT.md "Errors": not even with `--debug`)."""

ATTEMPTS = 2
"""One try plus exactly one retry, on connection errors only (CONTRACT.md "Sources")."""

MAX_BODY_BYTES = 512 * 1024 * 1024
"""Refuse bodies beyond this: a kubelet's `/metrics` is a few MB; more means a wrong URL."""

_ERROR_BODY_BYTES = 64 * 1024
"""How much of an error response we read to quote the server's reason."""

_DETAIL_CHARS = 200
"""The longest server-supplied detail quoted in a message (it must stay one line)."""

PemSource: TypeAlias = "Path | bytes"
"""A PEM file, or its contents (kubeconfig `*-data` fields, exec plugin output)."""


def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"pleg-doctor/{version('pleg-doctor')}"
    except PackageNotFoundError:  # running from a source checkout
        return "pleg-doctor"


USER_AGENT = _user_agent()


@dataclasses.dataclass(frozen=True, kw_only=True)
class HttpSettings:
    """How to authenticate to an endpoint and verify its TLS certificate.

    Secret-bearing fields are excluded from `repr()` so that a settings object showing up in a log
    line or a `--debug` traceback cannot leak them. At most one of `token` / `token_file` /
    `basic_auth` is used for the `Authorization` header (a token file wins over a token, as in
    client-go); a client certificate can be combined with any of them.
    """

    token: str | None = dataclasses.field(default=None, repr=False)
    """A bearer token, sent as `Authorization: Bearer ...`."""

    token_file: Path | None = None
    """A file holding a bearer token, read (and stripped) at every fetch: tokens rotate."""

    basic_auth: tuple[str, str] | None = dataclasses.field(default=None, repr=False)
    """Username and password for HTTP basic auth (old kubeconfigs, auth proxies)."""

    client_cert: PemSource | None = dataclasses.field(default=None, repr=False)
    """Client certificate (file or PEM bytes); may also hold the key when `client_key` is None."""

    client_key: PemSource | None = dataclasses.field(default=None, repr=False)
    """Client private key (file or PEM bytes). Bytes are written to a 0600 temp file for the
    duration of one request only, because `ssl` loads keys from files."""

    ca: PemSource | None = dataclasses.field(default=None, repr=False)
    """The CA bundle to verify the server with (file or PEM bytes); None = the default bundle."""

    ca_label: str | None = None
    """How to name the CA in messages, e.g. "certificate-authority-data of cluster 'prod'"."""

    credential_label: str | None = None
    """How to name the credentials in a 401 message, e.g. "the token from exec plugin 'aws'"."""

    insecure_skip_tls_verify: bool = False
    """Do not verify the server certificate (the CLI warns; see `must_warn_insecure`)."""

    proxy_url: str | None = None
    """An explicit proxy (kubeconfig `proxy-url`); else `HTTPS_PROXY`/`NO_PROXY` from the env."""

    tls_server_name: str | None = None
    """Name to send as SNI and verify the certificate against (kubeconfig `tls-server-name`)."""

    headers: tuple[tuple[str, str], ...] = dataclasses.field(default=(), repr=False)
    """Extra request headers, `(name, value)` (e.g. Mimir's `X-Scope-OrgID`). Every value is
    treated as a secret: redacted in debug logs and scrubbed from quoted server text. An
    `Authorization`-like header among them counts as credentials sent; when the settings hold no
    other credentials, `credential_label` names them in messages."""

    @property
    def must_warn_insecure(self) -> bool:
        """True when TLS verification is off, which the CLI must tell the user about."""
        return self.insecure_skip_tls_verify


@dataclasses.dataclass(frozen=True, kw_only=True)
class EndpointWording:
    """How to phrase errors for one kind of endpoint, so each source explains its own failures.

    The status codes are common to every endpoint, but what a user must do about them is not: a
    kubelet 403 needs RBAC `get nodes/metrics`, an API-server 403 needs `get nodes/proxy`
    (ANCHORS.md §5), and a 404 from the API server means the node does not exist.
    """

    endpoint: str
    """What we talk to, as it starts a message: "kubelet", "API server"."""

    permission: str | None = None
    """The RBAC permission needed, e.g. "get nodes/metrics"; named by 403 messages."""

    auth_hint: str | None = None
    """What to try after a 401 (the place to name the permission the identity will need)."""

    forbidden_hint: str | None = None
    """What to try after a 403."""

    tls_hint: str = "pass the CA that signed the server certificate, or skip verification"
    """What to try after a TLS verification failure (how to pass another CA)."""

    not_found: str | None = None
    """The message for a 404 (e.g. "node 'worker-3' not found"); None = generic."""

    not_found_hint: str | None = None
    """What to try after a 404."""

    connect_hint: str | None = None
    """What to try when the endpoint cannot be reached (e.g. the default port)."""


@dataclasses.dataclass(frozen=True)
class _Credentials:
    """What `_resolve_credentials` hands to one request: the header, the TLS files, the secrets."""

    authorization: str | None
    secrets: tuple[str, ...]
    description: str
    present: bool = True


class _RetryableConnectionError(SourceConnectionError):
    """A connection failure worth exactly one retry (refused, reset, DNS, connect timeout)."""


def parse_http_date(value: str | None) -> dt.datetime | None:
    """Parse an HTTP `Date` header into a timezone-aware UTC datetime, or None if absent or bad.

    The kubelet's `Date` header is its own clock at the scrape: CONTRACT.md "Capture header" prefers
    it over the local clock, because last-seen ages are computed against the kubelet's clock.
    """
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:  # older Pythons returned None for some garbage
        return None  # type: ignore[unreachable]
    if parsed.tzinfo is None:  # "-0000": RFC 9110 says HTTP dates are UTC anyway
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


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


@dataclasses.dataclass(frozen=True)
class RawResponse:
    """An answer read whole: its status line, headers and (decompressed) body."""

    status: int
    reason: str
    """The status line's reason phrase; may be empty."""
    headers: Mapping[str, str] = dataclasses.field(repr=False)
    """Response headers; case-insensitive."""
    chunks: tuple[bytes, ...] = dataclasses.field(repr=False)
    """The body in the chunks it was read in (no empty chunk)."""

    @property
    def body(self) -> bytes:
        """The body as one `bytes` (joined at each access)."""
        return b"".join(self.chunks)


def _is_not_2xx(code: int) -> bool:
    return not 200 <= code < 300


class HttpClient:
    """GETs with one resolved set of credentials and TLS files; make it with `http_client()`.

    Thread-safe: `get()` may run in several threads at once (each request has its own
    connection), so a fleet's queries share one token read and one set of TLS temp files.
    """

    def __init__(
        self,
        *,
        settings: HttpSettings,
        wording: EndpointWording,
        timeout: float,
        credentials: _Credentials,
        verify: bool | str,
        cert: str | tuple[str, str] | None,
    ) -> None:
        self._settings = settings
        self._wording = wording
        self._timeout = timeout
        self._credentials = credentials
        self._verify = verify
        self._cert = cert
        self._verify_label = _ca_label(settings)
        self._lock = threading.Lock()
        self._answered = 0

    def __repr__(self) -> str:
        return f"HttpClient({self._wording.endpoint!r}, auth={self._credentials.description!r})"

    @property
    def answered(self) -> int:
        """Responses received so far, whatever their status (a retried request counts twice)."""
        return self._answered

    def scrub(self, text: str) -> str:
        """`text` (e.g. quoted from a server) with every known secret replaced by `<redacted>`."""
        return _scrub(text, self._credentials.secrets)

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        accept: str = ACCEPT,
        max_bytes: int = MAX_BODY_BYTES,
        too_large_hint: str | None = None,
        error_statuses: Callable[[int], bool] = _is_not_2xx,
        check_body_start: Callable[[bytes, str], None] | None = None,
    ) -> RawResponse:
        """GET `url` (with query `params`) and read the whole answer, or raise a `SourceError`.

        Raises `SourceConnectionError`, `SourceTLSError`, `SourceAuthError` or `SourceError` (see
        `_ErrorContext.translate` and `status_error`), and `UsageError` for a URL that cannot be
        used. Messages name the endpoint (`EndpointWording`) and the URL without its query, never
        a secret; the debug log shows the query `params` (keep secrets out of them) and the
        headers with credentials and `HttpSettings.headers` values redacted.

        The client's `timeout` (seconds) bounds connecting, each read, and the whole body (checked
        between chunks). A connection failure (refused, reset, DNS, connect timeout, a response cut
        off) is retried exactly once; an HTTP status, a TLS failure or a read timeout is not,
        because repeating it would give the same answer (and double the wait). Redirects are not
        followed: they would carry the credentials elsewhere, and our endpoints never redirect.

        A status for which `error_statuses` is true (default: all but 2xx) raises the endpoint's
        error (401/403 with `wording`'s hints, a redirect, "answered 500 (server said: ...)");
        other statuses return their body for the caller to judge. A body beyond `max_bytes`
        raises a `SourceError` with `too_large_hint`. `check_body_start`, if given, is called
        with the body's first chunk (`b""` for an empty body) and the `Content-Type` before the
        rest is read, and may raise a `SourceError` to refuse it (e.g. an HTML login page).
        """
        location = _usable_location(url)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self._get_once(
                    url,
                    location=location,
                    params=params,
                    accept=accept,
                    max_bytes=max_bytes,
                    too_large_hint=too_large_hint,
                    error_statuses=error_statuses,
                    check_body_start=check_body_start,
                    attempt=attempt,
                )
            except _RetryableConnectionError as error:  # noqa: PERF203 - at most twice; it is the retry
                if attempt == ATTEMPTS:
                    # Re-raised as the public class; the cause chain keeps the original failure.
                    raise SourceConnectionError(error.message, hint=error.hint) from error.__cause__
                log.debug("%s; retrying once", error.message)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _get_once(
        self,
        url: str,
        *,
        location: str,
        params: Mapping[str, str] | None,
        accept: str,
        max_bytes: int,
        too_large_hint: str | None,
        error_statuses: Callable[[int], bool],
        check_body_start: Callable[[bytes, str], None] | None,
        attempt: int,
    ) -> RawResponse:
        settings, credentials, timeout = self._settings, self._credentials, self._timeout
        headers = {"Accept": accept, "Accept-Encoding": ACCEPT_ENCODING, "User-Agent": USER_AGENT}
        headers.update(settings.headers)
        if credentials.authorization is not None:
            headers["Authorization"] = credentials.authorization
        proxies = _proxies(url, settings)
        log.debug(
            "GET %s (attempt %d/%d, timeout %g s, auth: %s, TLS: %s%s)%s",
            location,
            attempt,
            ATTEMPTS,
            timeout,
            credentials.description,
            "verification disabled" if self._verify is False else self._verify_label,
            f", proxy {safe_url(proxy)}"
            if (proxy := requests.utils.select_proxy(url, proxies))
            else "",
            f" params {dict(params)}" if params else "",
        )
        log.debug(
            "request headers: %s",
            redact_headers(headers, also=(name for name, _ in settings.headers)),
        )
        start = time.monotonic()
        ctx = _ErrorContext(
            location=location,
            wording=self._wording,
            settings=settings,
            verify_label=self._verify_label,
            timeout=timeout,
            secrets=credentials.secrets,
            credentials=credentials.description,
            has_credentials=credentials.present,
        )
        try:
            with requests.Session() as session:
                session.trust_env = False
                adapter = _Adapter(tls_server_name=settings.tls_server_name)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                response = session.get(
                    url,
                    params=params,
                    headers=headers,
                    verify=self._verify,
                    cert=self._cert,
                    proxies=proxies,
                    timeout=(timeout, timeout),
                    stream=True,
                    allow_redirects=False,
                )
                with response:
                    with self._lock:
                        self._answered += 1
                    log.debug(
                        "%s answered %d %s in %.3f s; response headers: %s",
                        location,
                        response.status_code,
                        response.reason,
                        time.monotonic() - start,
                        redact_headers(response.headers),
                    )
                    if error_statuses(response.status_code):
                        raise ctx.status_error(response)
                    chunks = _read_body(
                        response,
                        ctx=ctx,
                        deadline=start + timeout,
                        limit=max_bytes,
                        too_large_hint=too_large_hint,
                        check_start=check_body_start,
                    )
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
            OSError,
            ValueError,
        ) as exc:
            raise ctx.translate(exc) from exc
        size = sum(len(c) for c in chunks)
        log.debug("read %d bytes from %s in %.3f s", size, location, time.monotonic() - start)
        return RawResponse(
            status=response.status_code,
            reason=response.reason or "",
            headers=response.headers,
            chunks=tuple(chunks),
        )


@contextlib.contextmanager
def http_client(
    settings: HttpSettings, *, wording: EndpointWording, timeout: float
) -> Iterator[HttpClient]:
    """An `HttpClient` for the requests of one fetch, valid inside the `with` block.

    Resolves the credentials now (reading a token file: tokens rotate, so once per fetch), checks
    the CA, certificate and key files, and writes PEM bytes to private temp files that are
    removed when the block ends. Raises `SourceAuthError`, `SourceTLSError` or `SourceError` for
    unusable credentials or files. `wording` phrases every error; `timeout` (seconds) bounds each
    request (see `HttpClient.get`).
    """
    credentials = _resolve_credentials(settings)
    _check_files(settings)
    with _tls_files(settings) as (verify, cert), contextlib.ExitStack() as stack:
        if verify is False:
            # The CLI prints its own warning once (CONTRACT.md); urllib3's would be a Python
            # warning on stderr for every request. Set once here, not per request, because
            # `catch_warnings` is not thread-safe and requests may run in several threads.
            stack.enter_context(warnings.catch_warnings())
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        yield HttpClient(
            settings=settings,
            wording=wording,
            timeout=timeout,
            credentials=credentials,
            verify=verify,
            cert=cert,
        )


def fetch_metrics_url(
    url: str,
    *,
    settings: HttpSettings,
    wording: EndpointWording,
    timeout: float,
    kind: SourceKind,
    node: str | None = None,
    max_bytes: int = MAX_BODY_BYTES,
) -> FetchedDump:
    """GET `url` and return its body as a `FetchedDump`, or raise a `SourceError`.

    The errors, timeout, retry and redirect rules are `HttpClient.get`'s; on top of them, an HTML
    or JSON answer is refused as "not Prometheus metrics" (a login page, a wrong endpoint).
    `kind` and `node` are copied into the dump; its `location` is `url` without credentials and
    its `captured_at` the server's `Date` header.
    """
    location = _usable_location(url)
    what = f"{wording.endpoint} {location}"

    def check_metrics(first: bytes, content_type: str) -> None:
        _refuse_html_or_json(what, first, content_type)

    with http_client(settings, wording=wording, timeout=timeout) as client:
        response = client.get(
            url,
            max_bytes=max_bytes,
            too_large_hint="not a metrics endpoint? check the URL",
            check_body_start=check_metrics,
        )
    return FetchedDump(
        kind=kind,
        location=location,
        chunks=response.chunks,
        captured_at=parse_http_date(response.headers.get("Date")),
        node=node,
    )


def _usable_location(url: str) -> str:
    """`url` as messages show it; a `UsageError` if it carries credentials (refused outright)."""
    location = safe_url(url)
    if "@" in urllib.parse.urlsplit(url).netloc:
        raise UsageError(
            f"credentials in the URL are not supported: {location}",
            hint="pass a token with --token or --token-file instead",
        )
    return location


def _scrub(text: str, secrets: Iterable[str]) -> str:
    """Remove any known secret from server-supplied text before quoting it."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


# --- credentials and TLS files --------------------------------------------------------------


def _resolve_credentials(settings: HttpSettings) -> _Credentials:
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
    return _Credentials(
        authorization=None,
        secrets=values,
        description=settings.credential_label or "the extra headers given",
        present=any(name.lower() in REDACTED_HEADERS for name, _ in settings.headers),
    )


def _settings_credentials(settings: HttpSettings) -> _Credentials:
    """The credentials of the token, token file, basic auth or client certificate fields."""
    secrets: list[str] = []
    if settings.token_file is not None:
        token = _read_token_file(settings.token_file)
        secrets.append(token)
        return _Credentials(
            authorization=f"Bearer {token}",
            secrets=tuple(secrets),
            description=settings.credential_label or f"the token from {settings.token_file}",
        )
    if settings.token is not None:
        token = settings.token.strip()
        if not token:
            raise SourceAuthError("the bearer token is empty")
        _check_token_chars(token, "the bearer token")
        return _Credentials(
            authorization=f"Bearer {token}",
            secrets=(token, settings.token),
            description=settings.credential_label or "the bearer token",
        )
    if settings.basic_auth is not None:
        user, password = settings.basic_auth
        # NOTE: encoded here (UTF-8, like Go's SetBasicAuth) instead of with requests' `auth=`,
        # whose latin-1 encoding error would quote a character of the password.
        value = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return _Credentials(
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
        return _Credentials(None, (), settings.credential_label or what)
    return _Credentials(None, (), "no credentials", present=False)


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


def _check_files(settings: HttpSettings) -> None:
    """Fail early, naming the file, when a CA / cert / key file is missing or unusable.

    Without this, `requests` raises a bare `OSError`, and OpenSSL would prompt on the terminal for
    the passphrase of an encrypted key, hanging a cron job.
    """
    for label, value in (
        ("CA file", settings.ca),
        ("client certificate", settings.client_cert),
        ("client key", settings.client_key),
    ):
        if isinstance(value, Path) and not value.is_file():
            raise SourceError(f"{label} {value} not found")
    key = settings.client_key if settings.client_key is not None else settings.client_cert
    if key is None:
        return
    name = f" {key}" if isinstance(key, Path) else ""
    try:
        data = key.read_bytes() if isinstance(key, Path) else key
    except OSError as exc:
        raise SourceError(
            f"cannot read client key{name}: {exc.strerror or type(exc).__name__}"
        ) from exc
    if b"ENCRYPTED" in data:
        raise SourceTLSError(
            f"client key{name} is protected by a passphrase, which pleg-doctor cannot ask for",
            hint="write an unencrypted copy: openssl pkey -in KEY -out KEY.plain (keep it 0600)",
        )


def _default_ca_bundle() -> tuple[str, str]:
    """The CA bundle used when none is given, and how to name it.

    `trust_env` is off (it would also pull credentials from `~/.netrc`), so the variables requests
    honours for the bundle are read here explicitly.
    """
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = os.environ.get(name)
        if value:
            return value, f"the system CA bundle ({value}, from {name})"
    path = requests.utils.DEFAULT_CA_BUNDLE_PATH
    return path, f"the system CA bundle ({path})"


def _ca_label(settings: HttpSettings) -> str:
    if settings.ca_label is not None:
        return settings.ca_label
    if isinstance(settings.ca, Path):
        return f"CA file {settings.ca}"
    if settings.ca is not None:
        return "the given CA data"
    return _default_ca_bundle()[1]


@contextlib.contextmanager
def _tls_files(
    settings: HttpSettings,
) -> Iterator[tuple[bool | str, str | tuple[str, str] | None]]:
    """Yield `requests`' `verify` and `cert` arguments, writing PEM bytes to private temp files.

    The temp directory is 0700 (mkdtemp) and the files 0600; both are removed when the request is
    done, so key material from a kubeconfig's `client-key-data` sits on disk only while needed.
    """
    with contextlib.ExitStack() as stack:
        tmpdir: str | None = None

        def as_path(value: PemSource, name: str) -> str:
            nonlocal tmpdir
            if isinstance(value, Path):
                return str(value)
            if tmpdir is None:
                tmpdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="pleg-doctor-"))
            path = os.path.join(tmpdir, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(value)
            return path

        verify: bool | str
        if settings.insecure_skip_tls_verify:
            verify = False
        elif settings.ca is not None:
            verify = as_path(settings.ca, "ca.crt")
        else:
            verify = _default_ca_bundle()[0]
        cert: str | tuple[str, str] | None = None
        if settings.client_cert is not None:
            cert_path = as_path(settings.client_cert, "client.crt")
            if settings.client_key is not None:
                cert = (cert_path, as_path(settings.client_key, "client.key"))
            else:
                cert = cert_path
        yield verify, cert


# --- the request ------------------------------------------------------------------------------


class _HTTPConnection(urllib3.connection.HTTPConnection):
    # NOTE: `http.client.HTTPConnection.debuglevel = 1` is the usual recipe for debugging requests,
    # and makes http.client print every request header, Authorization included, to stdout. Pinning
    # the attribute on our own connection classes keeps that switch from reaching our requests.
    debuglevel = 0


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    debuglevel = 0


class _HTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOL_CLASSES: dict[str, type[urllib3.HTTPConnectionPool]] = {
    "http": _HTTPConnectionPool,
    "https": _HTTPSConnectionPool,
}


class _Adapter(requests.adapters.HTTPAdapter):
    """No urllib3 retries (we count our own), quiet connections, optional SNI override."""

    def __init__(self, *, tls_server_name: str | None) -> None:
        self._tls_kwargs: dict[str, Any] = (
            {"server_hostname": tls_server_name, "assert_hostname": tls_server_name}
            if tls_server_name
            else {}
        )
        super().__init__(max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs.update(self._tls_kwargs)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOL_CLASSES)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        if proxy not in self.proxy_manager:
            proxy_kwargs.update(self._tls_kwargs)
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            # SOCKS managers bring their own pool classes; replacing them would skip the proxy.
            manager.pool_classes_by_scheme = dict(_POOL_CLASSES)
        return manager


def _proxies(url: str, settings: HttpSettings) -> dict[str, str]:
    if settings.proxy_url:
        return {"http": settings.proxy_url, "https": settings.proxy_url}
    # Honour HTTPS_PROXY / NO_PROXY like kubectl does, without `trust_env` (see _default_ca_bundle).
    return dict(requests.utils.get_environ_proxies(url))


def _read_body(
    response: requests.Response,
    *,
    ctx: _ErrorContext,
    deadline: float,
    limit: int,
    too_large_hint: str | None,
    check_start: Callable[[bytes, str], None] | None,
) -> list[bytes]:
    """Read the whole body, bounded in time and size; `check_start` sees the first chunk."""
    content_type = response.headers.get("Content-Type", "")
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        if not chunk:
            continue
        if not chunks and check_start is not None:
            check_start(chunk, content_type)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            size = f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"
            raise SourceError(f"{ctx.what} sent more than {size}", hint=too_large_hint)
        if time.monotonic() > deadline:
            raise SourceConnectionError(
                f"{ctx.what} did not finish sending within {ctx.timeout:g} s",
                hint="raise --timeout",
            )
    if not chunks and check_start is not None:
        check_start(b"", content_type)
    # urllib3 enforces Content-Length too; this is the belt to its braces. `tell()` counts bytes
    # on the wire, before gzip decoding, which is what Content-Length counts as well.
    length = response.headers.get("Content-Length", "")
    wire = response.raw.tell()
    if length.isdigit() and wire < int(length):
        raise _RetryableConnectionError(
            f"{ctx.what} cut the response off after {wire} of {length} bytes"
        )
    return chunks


def _refuse_html_or_json(what: str, first: bytes, content_type: str) -> None:
    """Reject HTML and JSON answers: a login page, a proxy's error, a wrong endpoint."""
    mime = content_type.split(";", 1)[0].strip().lower()
    head = first.lstrip()[:1]
    found: str | None = None
    if mime in ("text/html", "application/xhtml+xml") or head == b"<":
        found = "an HTML page"
    elif mime == "application/json" or mime.endswith("+json") or head in (b"{", b"["):
        found = "JSON"
    if found is not None:
        raise SourceError(
            f"{what} answered with {found}, not Prometheus metrics",
            hint="check the URL: it should be the kubelet's /metrics "
            "(a login page or a proxy may be in the way)",
        )


# --- translating failures ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class _ErrorContext:
    """Everything needed to turn a failure into a one-line message that names the URL."""

    location: str
    wording: EndpointWording
    settings: HttpSettings
    verify_label: str
    timeout: float
    secrets: tuple[str, ...] = dataclasses.field(repr=False)
    credentials: str
    has_credentials: bool

    @property
    def what(self) -> str:
        return f"{self.wording.endpoint} {self.location}"

    def scrub(self, text: str) -> str:
        """Remove any known secret from server-supplied text before quoting it."""
        return _scrub(text, self.secrets)

    # -- HTTP statuses

    def status_error(self, response: requests.Response) -> SourceError:
        code = response.status_code
        status = f"{code} {response.reason}".strip() if response.reason else str(code)
        detail = self._server_detail(response, reason=response.reason or "")
        suffix = f" ({detail})" if detail else ""
        wording = self.wording
        if code == 401:
            if self.has_credentials:
                message = f"{self.what} refused {self.credentials} ({status})"
            else:
                message = (
                    f"{self.what} requires authentication ({status}): no credentials were sent"
                )
            return SourceAuthError(message + suffix, hint=wording.auth_hint)
        if code == 403:
            message = f"{self.what} denied access ({status})"
            if wording.permission:
                message += f": the identity lacks RBAC `{wording.permission}`"
            return SourceAuthError(message + suffix, hint=wording.forbidden_hint)
        if code == 404 and wording.not_found:
            return SourceError(
                f"{wording.not_found} ({self.what} answered {status})", hint=wording.not_found_hint
            )
        if 300 <= code < 400:
            target = response.headers.get("Location")
            where = f" to {_strip_query(safe_url(target))}" if target else ""
            return SourceError(
                f"{self.what} redirected{where} ({status})",
                hint="give the final URL; redirects are not followed so credentials stay put",
            )
        return SourceError(f"{self.what} answered {status}{suffix}")

    def _server_detail(self, response: requests.Response, *, reason: str) -> str | None:
        """A short reason quoted from an error body: a Kubernetes `Status` message or a text line.

        The API server says which user lacked which permission, or why it could not reach the
        kubelet; the kubelet's 403 body names user, verb and subresource. HTML is never quoted.
        """
        try:
            raw = b""
            for chunk in response.iter_content(chunk_size=_ERROR_BODY_BYTES):
                raw += chunk
                if len(raw) >= _ERROR_BODY_BYTES:
                    break
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError):
            return None
        text = raw[:_ERROR_BODY_BYTES].decode("utf-8", "replace").strip()
        if not text or text.startswith("<"):
            return None
        detail: str | None = None
        if text.startswith("{"):
            try:
                parsed = json.loads(text)
            except ValueError:
                return None
            message = parsed.get("message") if isinstance(parsed, dict) else None
            detail = message if isinstance(message, str) else None
        else:
            detail = text.splitlines()[0]
        if not detail or detail.strip().lower() == reason.lower():
            return None
        detail = " ".join(self.scrub(detail).split())
        if len(detail) > _DETAIL_CHARS:
            detail = detail[: _DETAIL_CHARS - 1] + "…"
        return f"server said: {detail}"

    # -- exceptions

    def translate(self, exc: BaseException) -> SourceError | UsageError:
        """Map any requests / urllib3 / ssl / OS exception to a project error (never its text)."""
        chain = _exception_chain(exc)

        def find(*types: type[BaseException]) -> BaseException | None:
            return next((e for e in chain if isinstance(e, types)), None)

        if find(requests.exceptions.InvalidHeader) is not None:
            return SourceAuthError(f"cannot send the credentials to {self.what}: invalid header")
        if find(
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
            urllib3.exceptions.LocationParseError,
        ):
            return UsageError(f"invalid URL for {self.wording.endpoint}: {self.location}")
        if find(requests.exceptions.InvalidProxyURL, urllib3.exceptions.ProxySchemeUnknown):
            return UsageError(f"invalid proxy URL for {self.what}")
        # NOTE: urllib3's NewConnectionError (refused, DNS) subclasses ConnectTimeoutError for
        # backwards compatibility; a real connect timeout is raised as ConnectTimeoutError itself.
        connect_timeout = find(
            requests.exceptions.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError
        )
        if find(urllib3.exceptions.NewConnectionError) is not None:
            connect_timeout = None
        if connect_timeout is not None:
            return _RetryableConnectionError(
                f"cannot connect to {self.what}: timed out after {self.timeout:g} s",
                hint=self.wording.connect_hint,
            )
        if find(requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError):
            return SourceConnectionError(
                f"{self.what} did not answer within {self.timeout:g} s",
                hint="raise --timeout, or check the node's load",
            )
        tls = self._tls_error(chain)
        if tls is not None:
            return tls
        dns = find(urllib3.exceptions.NameResolutionError, socket.gaierror)
        if dns is not None:
            host = urllib.parse.urlsplit(self.location).hostname or self.location
            return _RetryableConnectionError(f"cannot resolve host '{host}' for {self.what}")
        if find(ConnectionRefusedError) is not None:
            return _RetryableConnectionError(
                f"cannot connect to {self.what}: connection refused", hint=self.wording.connect_hint
            )
        if find(requests.exceptions.ProxyError, urllib3.exceptions.ProxyError) is not None:
            proxy = requests.utils.select_proxy(
                self.location, _proxies(self.location, self.settings)
            )
            name = safe_url(proxy) if proxy else "the proxy"
            return _RetryableConnectionError(f"cannot reach {self.what} through proxy {name}")
        if find(
            requests.exceptions.ChunkedEncodingError,
            urllib3.exceptions.IncompleteRead,
            http.client.IncompleteRead,
            urllib3.exceptions.InvalidChunkLength,
        ):
            return _RetryableConnectionError(f"{self.what} cut the response off mid-way")
        if find(requests.exceptions.ContentDecodingError, urllib3.exceptions.DecodeError):
            return SourceError(f"{self.what} sent a body that does not decompress (bad gzip)")
        if find(
            urllib3.exceptions.ProtocolError,
            http.client.RemoteDisconnected,
            ConnectionResetError,
            ConnectionAbortedError,
            BrokenPipeError,
        ):
            return _RetryableConnectionError(f"{self.what} closed the connection before answering")
        os_error = find(OSError)
        if os_error is not None and isinstance(os_error, OSError) and os_error.strerror:
            return _RetryableConnectionError(
                f"cannot connect to {self.what}: {os_error.strerror}",
                hint=self.wording.connect_hint,
            )
        return SourceError(f"request to {self.what} failed ({type(exc).__name__})")

    def _tls_error(self, chain: list[BaseException]) -> SourceError | None:
        verify_failure = next(
            (e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None
        )
        if verify_failure is not None:
            assert isinstance(verify_failure, ssl.SSLCertVerificationError)
            reason = verify_failure.verify_message or verify_failure.reason or "verify failed"
            return SourceTLSError(
                f"TLS verification of {self.what} failed ({reason}) using {self.verify_label}",
                hint=self.wording.tls_hint,
            )
        ssl_error = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
        if ssl_error is None:
            return None
        assert isinstance(ssl_error, ssl.SSLError)
        if isinstance(ssl_error, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            # The peer closed the connection during the handshake: a network fault, not a
            # certificate problem, so it is retried like a reset.
            return _RetryableConnectionError(
                f"{self.what} closed the connection during the TLS handshake",
                hint=None
                if self.settings.client_cert is not None
                else "servers that require a client certificate do this",
            )
        reason = str(ssl_error.reason or "").upper()
        if "WRONG_VERSION_NUMBER" in reason or "RECORD_LAYER_FAILURE" in reason:
            return SourceTLSError(
                f"TLS handshake with {self.what} failed: the server does not speak TLS there",
                hint="use an http:// URL if the endpoint is plain HTTP (e.g. read-only port 10255)",
            )
        nice = (ssl_error.reason or "handshake failed").lower().replace("_", " ")
        cert = self.settings.client_cert
        cert_name = f"the client certificate {cert}" if isinstance(cert, Path) else ""
        cert_name = cert_name or "the client certificate"
        if "ALERT" in reason:
            # The server's alert, not our verification (that is SSLCertVerificationError above):
            # it refused our client certificate, or wanted one.
            if cert is not None and any(
                word in reason for word in ("CERTIFICATE", "UNKNOWN_CA", "ACCESS_DENIED")
            ):
                return SourceAuthError(
                    f"{self.what} refused {cert_name} ({nice})", hint=self.wording.auth_hint
                )
            if cert is None and any(
                word in reason for word in ("CERTIFICATE", "HANDSHAKE_FAILURE", "ACCESS_DENIED")
            ):
                return SourceAuthError(
                    f"{self.what} ended the TLS handshake ({nice}): it probably requires a "
                    "client certificate",
                    hint=self.wording.auth_hint,
                )
            return SourceTLSError(f"TLS handshake with {self.what} failed ({nice})")
        if cert is not None and any(
            word in reason for word in ("PEM", "KEY", "CA_MD", "EE_KEY", "NO_START_LINE")
        ):
            return SourceTLSError(
                f"cannot use {cert_name} and key for {self.what} ({nice})",
                hint="check that the certificate and key files are PEM and belong together",
            )
        return SourceTLSError(
            f"TLS with {self.what} failed ({nice}) using {self.verify_label}",
            hint=self.wording.tls_hint,
        )


def _strip_query(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    return urllib.parse.urlunsplit(parts._replace(query="", fragment=""))


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """`exc` and everything it wraps: `__cause__`, `__context__`, urllib3's `.reason`, and args.

    requests wraps urllib3 wraps socket/ssl errors, each in its own way; the root cause decides
    the message, so we search all of them (breadth first, each once).
    """
    seen: list[BaseException] = []
    queue: list[BaseException] = [exc]
    while queue:
        current = queue.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            queue.append(reason)
        queue.extend(a for a in current.args if isinstance(a, BaseException))
        queue.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return seen
