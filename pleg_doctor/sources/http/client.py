"""The one request primitive: `http_client()` resolves credentials and TLS files once, and
`HttpClient.get()` sends a GET with one retry on connection errors and reads the answer whole.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterator, Mapping

import requests
import requests.utils
import urllib3
import urllib3.exceptions

from pleg_doctor.errors import SourceConnectionError, SourceError, SourceTimeoutError, UsageError
from pleg_doctor.sources.http.credentials import Credentials, resolve_credentials
from pleg_doctor.sources.http.failures import ErrorContext, RetryableConnectionError
from pleg_doctor.sources.http.redaction import redact_headers, safe_url, scrub
from pleg_doctor.sources.http.settings import (
    ACCEPT,
    ACCEPT_ENCODING,
    MAX_BODY_BYTES,
    USER_AGENT,
    EndpointWording,
    HttpSettings,
)
from pleg_doctor.sources.http.tls import ca_label, check_files, tls_files
from pleg_doctor.sources.http.transport import Adapter, proxies_for

log = logging.getLogger(__package__)


ATTEMPTS = 2
"""One try plus exactly one retry, on connection errors only (CONTRACT.md "Sources")."""


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
    headers_seconds: float = 0.0
    """From sending the request to receiving the response's headers: how long the server took
    to start answering (a kubelet writes its `Date` then, not when the request arrived)."""

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
        credentials: Credentials,
        verify: bool | str,
        cert: str | tuple[str, str] | None,
    ) -> None:
        self._settings = settings
        self._wording = wording
        self._timeout = timeout
        self._credentials = credentials
        self._verify = verify
        self._cert = cert
        self._verify_label = ca_label(settings)
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
        return scrub(text, self._credentials.secrets)

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
        `ErrorContext.translate` and `status_error`), and `UsageError` for a URL that cannot be
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
        location = usable_location(url)
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
            except RetryableConnectionError as error:  # noqa: PERF203 - at most twice; it is the retry
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
        proxies = proxies_for(url, settings)
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
        ctx = ErrorContext(
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
                adapter = Adapter(tls_server_name=settings.tls_server_name)
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
                headers_seconds = time.monotonic() - start
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
            headers_seconds=headers_seconds,
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
    credentials = resolve_credentials(settings)
    check_files(settings)
    with tls_files(settings) as (verify, cert), contextlib.ExitStack() as stack:
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


def usable_location(url: str) -> str:
    """`url` as messages show it; a `UsageError` if it carries credentials (refused outright)."""
    location = safe_url(url)
    if "@" in urllib.parse.urlsplit(url).netloc:
        raise UsageError(
            f"credentials in the URL are not supported: {location}",
            hint="pass a token with --kubelet-token-file instead",
        )
    return location


def _read_body(
    response: requests.Response,
    *,
    ctx: ErrorContext,
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
            raise SourceTimeoutError(
                f"{ctx.what} did not finish sending within {ctx.timeout:g} s",
                hint="raise --timeout",
                timeout_seconds=ctx.timeout,
            )
    if not chunks and check_start is not None:
        check_start(b"", content_type)
    # urllib3 enforces Content-Length too; this is the belt to its braces. `tell()` counts bytes
    # on the wire, before gzip decoding, which is what Content-Length counts as well.
    length = response.headers.get("Content-Length", "")
    wire = response.raw.tell()
    if length.isdigit() and wire < int(length):
        raise RetryableConnectionError(
            f"{ctx.what} cut the response off after {wire} of {length} bytes"
        )
    return chunks
