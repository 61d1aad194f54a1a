"""Translating failures: every refused HTTP status and every requests, urllib3, ssl or OS
exception becomes a one-line error of `pleg_doctor.errors` that names the URL, never a secret.
"""

from __future__ import annotations

import dataclasses
import http.client
import socket
import ssl
import urllib.parse
from pathlib import Path

import requests
import requests.utils
import urllib3
import urllib3.exceptions

from pleg_doctor.errors import (
    SourceAuthError,
    SourceConnectionError,
    SourceError,
    SourceTimeoutError,
    SourceTLSError,
    UsageError,
)
from pleg_doctor.sources.decode import json_document
from pleg_doctor.sources.http.redaction import quote_outside, safe_url, strip_query
from pleg_doctor.sources.http.settings import EndpointWording, HttpSettings
from pleg_doctor.sources.http.transport import proxies_for

_ERROR_BODY_BYTES = 64 * 1024
"""How much of an error response we read to quote the server's reason."""

_DETAIL_CHARS = 200
"""The longest server-supplied detail quoted in a message (it must stay one line)."""


class RetryableConnectionError(SourceConnectionError):
    """A connection failure worth exactly one retry (refused, reset, DNS, connect timeout)."""

    def __init__(
        self, message: str, *, hint: str | None = None, context: ErrorContext | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.context = context
        """The request's `ErrorContext`, to phrase a timeout when no time is left to retry."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ErrorContext:
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
        """The endpoint and its URL, as messages start: "kubelet https://10.0.0.7:10250/metrics"."""
        return f"{self.wording.endpoint} {self.location}"

    # -- HTTP statuses

    def status_error(self, response: requests.Response) -> SourceError:
        """The error for a refused status: 401/403 with the endpoint's hints, 404, a redirect."""
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
            where = f" to {strip_query(safe_url(target))}" if target else ""
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
                parsed = json_document(text)
            except ValueError:
                return None
            message = parsed.get("message") if isinstance(parsed, dict) else None
            detail = message if isinstance(message, str) else None
        else:
            detail = text.splitlines()[0]
        if not detail or detail.strip().lower() == reason.lower():
            return None
        return f"server said: {quote_outside(detail, self.secrets, limit=_DETAIL_CHARS)}"

    # -- exceptions

    def deadline_error(self, *, answered: bool) -> SourceTimeoutError:
        """The request's deadline passed: before the headers came, or while the body came."""
        what = "did not finish its answer" if answered else "did not answer"
        return SourceTimeoutError(
            f"{self.what} {what} within the {self.timeout:g} s deadline",
            hint="raise --timeout: it bounds the whole request (connecting, the headers and "
            "the body)",
            timeout_seconds=self.timeout,
        )

    def translate(self, exc: BaseException) -> SourceError | UsageError:
        """Map any requests / urllib3 / ssl / OS exception to a project error (never its text)."""
        error = self._translate(exc)
        if isinstance(error, RetryableConnectionError):
            error.context = self
        return error

    def _translate(self, exc: BaseException) -> SourceError | UsageError:
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
            return RetryableConnectionError(
                f"cannot connect to {self.what}: timed out after {self.timeout:g} s",
                hint=self.wording.connect_hint,
            )
        if find(requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError):
            return SourceTimeoutError(
                f"{self.what} did not answer within {self.timeout:g} s",
                hint="raise --timeout, or check the node's load",
                timeout_seconds=self.timeout,
            )
        tls = self._tls_error(chain)
        if tls is not None:
            return tls
        dns = find(urllib3.exceptions.NameResolutionError, socket.gaierror)
        if dns is not None:
            host = urllib.parse.urlsplit(self.location).hostname or self.location
            return RetryableConnectionError(f"cannot resolve host '{host}' for {self.what}")
        if find(ConnectionRefusedError) is not None:
            return RetryableConnectionError(
                f"cannot connect to {self.what}: connection refused", hint=self.wording.connect_hint
            )
        if find(requests.exceptions.ProxyError, urllib3.exceptions.ProxyError) is not None:
            proxy = requests.utils.select_proxy(
                self.location, proxies_for(self.location, self.settings)
            )
            name = safe_url(proxy) if proxy else "the proxy"
            return RetryableConnectionError(f"cannot reach {self.what} through proxy {name}")
        if find(
            requests.exceptions.ChunkedEncodingError,
            urllib3.exceptions.IncompleteRead,
            http.client.IncompleteRead,
            urllib3.exceptions.InvalidChunkLength,
        ):
            return RetryableConnectionError(f"{self.what} cut the response off mid-way")
        if find(requests.exceptions.ContentDecodingError, urllib3.exceptions.DecodeError):
            return SourceError(f"{self.what} sent a body that does not decompress (bad gzip)")
        if find(
            urllib3.exceptions.ProtocolError,
            http.client.RemoteDisconnected,
            ConnectionResetError,
            ConnectionAbortedError,
            BrokenPipeError,
        ):
            return RetryableConnectionError(f"{self.what} closed the connection before answering")
        os_error = find(OSError)
        if os_error is not None and isinstance(os_error, OSError) and os_error.strerror:
            return RetryableConnectionError(
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
            return RetryableConnectionError(
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
