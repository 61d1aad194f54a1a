"""The project's own errors.

Every failure a user can cause or meet (a bad file, an unreachable kubelet, a refused token) is one of
these. The CLI turns any of them into one or two lines on stderr and exit code 3 (UNKNOWN), so no
third-party exception and no traceback ever reaches a user (docs/output.md#errors). Messages must
never contain a secret: adapters build them from locations and status codes, not from requests.
"""

from __future__ import annotations


class PlegDoctorError(Exception):
    """Base of every error pleg-doctor reports to a user.

    `str(error)` is the complete user-facing message: one line, optionally a second line with what
    to try (`hint`).
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n  hint: {self.hint}"


class UsageError(PlegDoctorError):
    """The command line is wrong (conflicting options, no source given, bad duration)."""


class SourceError(PlegDoctorError):
    """A source of metrics could not deliver them (file missing, HTTP failure, TLS, auth)."""


class SourceConnectionError(SourceError):
    """The endpoint could not be reached: refused, DNS failure, timeout, cut-off response."""


class SourceTimeoutError(SourceConnectionError):
    """The endpoint accepted the request but did not answer (or finish answering) in time.

    Kept apart from other connection failures because a timeout is evidence: a kubelet whose
    `/metrics` blocks while it answers `/healthz` usually has a hung container runtime.
    """

    def __init__(
        self, message: str, *, hint: str | None = None, timeout_seconds: float | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.timeout_seconds = timeout_seconds
        """The patience that ran out, seconds (None when not known)."""


class SourceAuthError(SourceError):
    """The endpoint answered 401 or 403; the message names the RBAC permission needed."""


class SourceTLSError(SourceError):
    """TLS verification failed; the message names the CA that was used and how to pass another."""


class ExpositionError(PlegDoctorError):
    """The bytes are not Prometheus text exposition / OpenMetrics (HTML, JSON, binary, bad line)."""


class InsufficientDataError(PlegDoctorError):
    """The data parsed, but cannot support a verdict (e.g. no PLEG metric at all)."""


class LimitError(PlegDoctorError):
    """Something read from outside went past one of the bounds of `docs/limits.md`.

    The message names the bound and the hint the environment variable that raises it, so a
    legitimate giant is one variable away, and a hostile input ends in bounded time and memory.
    """

    def __init__(self, message: str, *, variable: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or f"if this input is genuine, raise {variable}")
        self.variable = variable
        """The environment variable that sets the bound, e.g. `PLEG_DOCTOR_MAX_SAMPLES`."""
