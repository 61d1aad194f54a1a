"""The one request primitive: `http_client()` resolves credentials and TLS files once;
`HttpClient.get()` sends a GET with one retry on connection errors and reads the answer whole,
`HttpClient.open()` streams it, `HttpClient.put()` sends a body; all under one deadline.
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

from pleg_doctor.errors import PlegDoctorError, SourceConnectionError, SourceError, UsageError
from pleg_doctor.sources.http.credentials import Credentials, resolve_credentials
from pleg_doctor.sources.http.deadline import Deadline
from pleg_doctor.sources.http.failures import ErrorContext, RetryableConnectionError
from pleg_doctor.sources.http.redaction import quote_outside, redact_headers, safe_url
from pleg_doctor.sources.http.settings import (
    ACCEPT,
    ACCEPT_ENCODING,
    USER_AGENT,
    EndpointWording,
    HttpSettings,
)
from pleg_doctor.sources.http.tls import ca_label, check_files, tls_files
from pleg_doctor.sources.http.transport import Adapter, proxies_for
from pleg_doctor.sources.limits import current as current_limits

log = logging.getLogger(__package__)


ATTEMPTS = 2
"""One try plus exactly one retry, on connection errors only (docs/sources.md#every-live-source)."""


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


def _never(code: int) -> bool:
    return False


class HttpClient:
    """GETs with one resolved set of credentials and TLS files; make it with `http_client()`.

    Thread-safe: `get()` may run in several threads at once (each request has its own
    connection), so a fleet's queries share one token read and one set of TLS files.
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

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret this client sends (for `redaction.quote_outside`); never show them."""
        return self._credentials.secrets

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        accept: str = ACCEPT,
        max_bytes: int | None = None,
        bound: str = "body_bytes",
        too_large_hint: str | None = None,
        error_statuses: Callable[[int], bool] = _is_not_2xx,
        check_body_start: Callable[[bytes, str], None] | None = None,
    ) -> RawResponse:
        """GET `url` (with query `params`) and read the whole answer, or raise a `SourceError`.

        Raises `SourceConnectionError` (`SourceTimeoutError` at the deadline), `SourceTLSError`,
        `SourceAuthError` or `SourceError` (see `ErrorContext.translate` and `status_error`),
        `LimitError` past the bound, and `UsageError` for a URL that cannot be used. Messages
        name the endpoint (`EndpointWording`) and the URL without its query, never a secret;
        the debug log shows the query `params` (keep secrets out of them) and the headers with
        credentials and `HttpSettings.headers` values redacted.

        The client's `timeout` (seconds) is one deadline for the whole request: connecting, the
        TLS handshake, the headers, every byte of the body, and the retry (`deadline.Deadline`
        cuts the sockets when it passes, so a server trickling bytes cannot stretch it). A
        connection failure (refused, reset, DNS, connect timeout, a response cut off) is retried
        exactly once within what is left; an HTTP status, a TLS failure or a timeout is not,
        because repeating it would give the same answer. Redirects are not followed: they would
        carry the credentials elsewhere, and our endpoints never redirect.

        A status for which `error_statuses` is true (default: all but 2xx) raises the endpoint's
        error (401/403 with `wording`'s hints, a redirect, "answered 500 (server said: ...)");
        other statuses return their body for the caller to judge. The body is bounded by
        `max_bytes` when given (a `SourceError` with `too_large_hint`), else by the `bound` of
        `sources.limits` (a `LimitError` naming its variable). `check_body_start`, if given, is
        called with the body's first chunk (`b""` for an empty body) and the `Content-Type`
        before the rest is read, and may raise a `SourceError` to refuse it (e.g. a login page).
        """
        request = _Request(
            url=url,
            params=params,
            accept=accept,
            max_bytes=max_bytes,
            bound=bound,
            too_large_hint=too_large_hint,
            error_statuses=error_statuses,
            check_body_start=check_body_start,
        )
        return self._whole(request)

    def put(
        self,
        url: str,
        data: bytes,
        *,
        content_type: str,
        max_bytes: int = 64 * 1024,
        accept_errors: bool = False,
    ) -> RawResponse:
        """PUT `data` to `url`: the same deadline, retry, errors and redaction as `get()`.

        Every status but 2xx raises (quoting the server's reason, secrets redacted), unless
        `accept_errors`, when the answer is returned for the caller to phrase. The answer's body
        is bounded by `max_bytes` (a Pushgateway answers a PUT with nothing or one line).
        """
        request = _Request(
            method="PUT",
            url=url,
            data=data,
            content_type=content_type,
            accept="*/*",
            max_bytes=max_bytes,
            error_statuses=_never if accept_errors else _is_not_2xx,
        )
        return self._whole(request)

    def open(
        self,
        url: str,
        *,
        accept: str = ACCEPT,
        max_bytes: int | None = None,
        too_large_hint: str | None = None,
        check_body_start: Callable[[bytes, str], None] | None = None,
    ) -> BodyStream:
        """GET `url` and return its body as a stream, read as the caller consumes it.

        What `get()` does, except that only the headers and the first chunk are read here (and
        retried on a connection failure); the rest arrives as the caller iterates, so memory
        follows what the caller keeps, not the body (a parser keeps a few hundred lines of a
        5 MB `/metrics`). The deadline runs until the stream is exhausted or closed: always
        `close()` it (or use it as a context manager). A connection lost later in the body is a
        `SourceConnectionError`, not retried: the caller has consumed what came before.
        """
        request = _Request(
            url=url,
            accept=accept,
            max_bytes=max_bytes,
            too_large_hint=too_large_hint,
            check_body_start=check_body_start,
        )
        deadline = Deadline(self._timeout).start()
        try:
            return self._open_with_retry(request, deadline)
        except BaseException:
            deadline.close()
            raise

    def _whole(self, request: _Request) -> RawResponse:
        """The answer read whole, with the retry covering the body too (a cut-off is retried)."""
        with Deadline(self._timeout) as deadline:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    with self._open_once(request, deadline, attempt) as stream:
                        chunks = tuple(stream.read_all())
                    return RawResponse(
                        status=stream.status,
                        reason=stream.reason,
                        headers=stream.headers,
                        chunks=chunks,
                        headers_seconds=stream.headers_seconds,
                    )
                except RetryableConnectionError as error:  # noqa: PERF203 - it is the retry
                    self._before_retry(error, attempt, deadline)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _open_with_retry(self, request: _Request, deadline: Deadline) -> BodyStream:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                stream = self._open_once(request, deadline, attempt)
                try:
                    stream.read_first()
                except BaseException:
                    stream.close()
                    raise
                stream.owns_deadline = True
                return stream
            except RetryableConnectionError as error:  # noqa: PERF203 - it is the retry
                self._before_retry(error, attempt, deadline)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _before_retry(
        self, error: RetryableConnectionError, attempt: int, deadline: Deadline
    ) -> None:
        """Retry once if time is left; else raise the public error (or the timeout)."""
        if attempt == ATTEMPTS:
            # Re-raised as the public class; the cause chain keeps the original failure.
            raise SourceConnectionError(error.message, hint=error.hint) from error.__cause__
        if deadline.expired and error.context is not None:
            raise error.context.deadline_error(answered=False) from error
        log.debug("%s; retrying once", error.message)

    def _open_once(self, request: _Request, deadline: Deadline, attempt: int) -> BodyStream:
        """Send the request and read the status line and headers; the body is the stream's."""
        url = request.url
        settings, credentials = self._settings, self._credentials
        location = usable_location(url)
        headers = {
            "Accept": request.accept,
            "Accept-Encoding": ACCEPT_ENCODING,
            "User-Agent": USER_AGENT,
        }
        if request.content_type is not None:
            headers["Content-Type"] = request.content_type
        headers.update(settings.headers)
        if credentials.authorization is not None:
            headers["Authorization"] = credentials.authorization
        proxies = proxies_for(url, settings)
        left = deadline.remaining()
        log.debug(
            "%s %s (attempt %d/%d, %.3g s left of %g s, auth: %s, TLS: %s%s)%s",
            request.method,
            location,
            attempt,
            ATTEMPTS,
            left,
            self._timeout,
            credentials.description,
            "verification disabled" if self._verify is False else self._verify_label,
            f", proxy {safe_url(proxy)}"
            if (proxy := requests.utils.select_proxy(url, proxies))
            else "",
            f" params {dict(request.params)}" if request.params else "",
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
            timeout=self._timeout,
            secrets=credentials.secrets,
            credentials=credentials.description,
            has_credentials=credentials.present,
        )
        if left <= 0:
            raise ctx.deadline_error(answered=False)
        session = requests.Session()
        session.trust_env = False
        adapter = Adapter(tls_server_name=settings.tls_server_name)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        try:
            with deadline.armed():
                response = session.request(
                    request.method,
                    url,
                    params=request.params,
                    data=request.data,
                    headers=headers,
                    verify=self._verify,
                    cert=self._cert,
                    proxies=proxies,
                    timeout=(left, left),
                    stream=True,
                    allow_redirects=False,
                )
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
            OSError,
            ValueError,
        ) as exc:
            session.close()
            if deadline.expired:
                raise ctx.deadline_error(answered=False) from exc
            raise ctx.translate(exc) from exc
        except BaseException:
            session.close()
            raise
        if deadline.expired:
            # The cut ended the headers early: http.client took what had come as all of them.
            response.close()
            session.close()
            raise ctx.deadline_error(answered=False)
        stream = BodyStream(
            request=request,
            session=session,
            response=response,
            ctx=ctx,
            deadline=deadline,
            started=start,
        )
        try:
            with self._lock:
                self._answered += 1
            if log.isEnabledFor(logging.DEBUG):
                # The server's words, quoted like any outside text: a proxy may echo a header.
                secrets = credentials.secrets
                log.debug(
                    "%s answered %d %s in %.3f s; response headers: %s",
                    location,
                    response.status_code,
                    quote_outside(response.reason or "", secrets, limit=100),
                    time.monotonic() - start,
                    {
                        quote_outside(name, secrets, limit=100): quote_outside(
                            value, secrets, limit=300
                        )
                        for name, value in redact_headers(response.headers).items()
                    },
                )
            if request.error_statuses(response.status_code):
                raise stream.failed(ctx.status_error(response))
        except BaseException:
            stream.close()
            raise
        return stream


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Request:
    """What one call asks for; the same for the first try and the retry."""

    method: str = "GET"
    url: str
    params: Mapping[str, str] | None = None
    data: bytes | None = None
    content_type: str | None = None
    accept: str = ACCEPT
    max_bytes: int | None = None
    bound: str = "body_bytes"
    too_large_hint: str | None = None
    error_statuses: Callable[[int], bool] = _is_not_2xx
    check_body_start: Callable[[bytes, str], None] | None = None


class BodyStream:
    """An answer whose body is read as it is consumed: iterate it, then `close()` it.

    Iterating yields the body's chunks (decompressed, never empty), bounded in size and by the
    request's deadline; failures come out as the project's errors (a `SourceTimeoutError` once
    the deadline has passed, whatever the cut looked like).
    """

    def __init__(
        self,
        *,
        request: _Request,
        session: requests.Session,
        response: requests.Response,
        ctx: ErrorContext,
        deadline: Deadline,
        started: float,
    ) -> None:
        self.status = response.status_code
        self.reason = response.reason or ""
        self.headers: Mapping[str, str] = response.headers
        self.headers_seconds = time.monotonic() - started
        """From sending the request to receiving the headers (see `RawResponse`)."""
        self.owns_deadline = False
        """True when closing the stream also ends the deadline (`HttpClient.open`)."""
        self._request = request
        self._session = session
        self._response = response
        self._ctx = ctx
        self._deadline = deadline
        self._started = started
        self._raw = response.iter_content(chunk_size=64 * 1024)
        self._first: bytes | None = None
        self._read = 0
        limit = request.max_bytes
        self._limit = limit if limit is not None else getattr(current_limits(), request.bound)
        self._closed = False

    def __enter__(self) -> BodyStream:
        return self

    def __del__(self) -> None:
        # A stream dropped unread (a caller that only wanted the headers) still lets go of its
        # socket and its deadline's timer at once.
        with contextlib.suppress(Exception):
            self.close()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.read_all()
        finally:
            self.close()

    def close(self) -> None:
        """Release the connection (and the deadline, when the stream owns it). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._response.close()
        self._session.close()
        if self.owns_deadline:
            self._deadline.close()

    def failed(self, error: SourceError | UsageError) -> PlegDoctorError:
        """`error`, or the deadline's own error when the deadline cut the read short."""
        if self._deadline.expired:
            return self._ctx.deadline_error(answered=True)
        return error

    def read_first(self) -> None:
        """Read and check the first chunk now (inside the retry; `open()`)."""
        self._first = self._next()
        content_type = self.headers.get("Content-Type", "")
        if self._request.check_body_start is not None:
            self._request.check_body_start(self._first or b"", content_type)

    def read_all(self) -> Iterator[bytes]:
        """The body's chunks, the first included (read now unless `read_first` did)."""
        if self._first is None:
            self.read_first()
        first, self._first = self._first, b""
        if first:
            yield first
        while chunk := self._next():
            yield chunk
        self._check_complete()

    def _next(self) -> bytes:
        """The next non-empty chunk, or `b""` at the end of the body."""
        ctx, request = self._ctx, self._request
        try:
            chunk = b""
            while not chunk:
                chunk = next(self._raw, b"")
                if not chunk:
                    break
            self._read += len(chunk)
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
            OSError,
            ValueError,
        ) as exc:
            raise self.failed(ctx.translate(exc)) from exc
        if self._read > self._limit:
            if request.max_bytes is None:
                raise current_limits().error(
                    request.bound, f"{ctx.what} sent more than {_size(self._limit)}"
                )
            raise SourceError(
                f"{ctx.what} sent more than {_size(self._limit)}", hint=request.too_large_hint
            )
        if self._deadline.expired:
            raise ctx.deadline_error(answered=True)
        return chunk

    def _check_complete(self) -> None:
        """The body ended: by the deadline's cut (a timeout), cut short, or whole."""
        ctx = self._ctx
        if self._deadline.expired:
            raise ctx.deadline_error(answered=True)
        # urllib3 enforces Content-Length too; this is the belt to its braces. `tell()` counts
        # bytes on the wire, before gzip decoding, which is what Content-Length counts as well.
        length = self.headers.get("Content-Length", "")
        wire = self._response.raw.tell()
        if length.isdigit() and wire < int(length):
            raise RetryableConnectionError(
                f"{ctx.what} cut the response off after {wire} of {length} bytes",
                context=ctx,
            )
        log.debug(
            "read %d bytes from %s in %.3f s",
            self._read,
            ctx.location,
            time.monotonic() - self._started,
        )


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"


@contextlib.contextmanager
def http_client(
    settings: HttpSettings, *, wording: EndpointWording, timeout: float
) -> Iterator[HttpClient]:
    """An `HttpClient` for the requests of one fetch, valid inside the `with` block.

    Resolves the credentials now (reading a token file: tokens rotate, so once per fetch), checks
    the CA, certificate and key files, and gives PEM bytes a path in memory for the block's
    duration (`tls.tls_files`: never a file on disk on Linux). Raises `SourceAuthError`,
    `SourceTLSError` or `SourceError` for unusable credentials or files. `wording` phrases every error; `timeout` (seconds) bounds each
    request (see `HttpClient.get`).
    """
    credentials = resolve_credentials(settings)
    check_files(settings)
    with tls_files(settings) as (verify, cert), contextlib.ExitStack() as stack:
        if verify is False:
            # The CLI prints its own warning once (docs/sources.md#the-kubelet); urllib3's would be a Python
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
