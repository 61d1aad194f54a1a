"""A live scrape that knows what a blocked `/metrics` means.

The kubelet's `/metrics` waits for its container-log collector, which lists sandboxes and
containers from the runtime at scrape time: with the runtime hung it answers only when the CRI
call times out (2 minutes), while `/healthz` answers at once. So when `/metrics` is late, this
module asks `/healthz`, and either keeps waiting with progress (an on-call `diagnose` may wait
past the CRI timeout and diagnose what finally comes) or gives up at the patience and raises
`MetricsBlocked` with what the endpoints said (a cron `check` must end in bounded time). The
command turns either into evidence (`core.endpoints.ScrapeFacts`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Protocol

from pleg_doctor.core.endpoints import ScrapeFacts
from pleg_doctor.errors import SourceTimeoutError
from pleg_doctor.sources.base import FetchedDump, SourceKind


@dataclasses.dataclass(frozen=True, kw_only=True)
class HealthProbe:
    """What the kubelet's `/healthz` said: any HTTP answer proves its server is up."""

    path: str
    """What was asked, as reports show it (`/healthz`, `/api/v1/nodes/NAME/proxy/healthz`)."""
    status: int | None
    """The HTTP status, None when nothing answered."""
    seconds: float | None
    """How long it took to answer, None when nothing answered."""
    said: str | None = None
    """What it said, one line: `ok`, or its first failing check (`[-]syncloop failed`)."""
    captured_at: dt.datetime | None = None
    """The kubelet's clock (`Date`) when it answered."""
    error: str | None = None
    """Why nothing answered (a one-line message)."""

    @property
    def answer(self) -> str | None:
        """`200 ok`, `500 [-]syncloop failed`; None when nothing answered."""
        if self.status is None:
            return None
        return f"{self.status} {self.said or ''}".strip()


DEFAULT_HEALTH_TIMEOUT_SECONDS = 3.0
"""How long `/healthz` may take: the kubelet answers it in milliseconds when it is up."""

PROGRESS_EVERY_SECONDS = 10.0
"""How often a patient wait says it is still waiting."""


class LiveSource(Protocol):
    """A kubelet endpoint with `/metrics` and `/healthz` (`KubeletSource`, `ApiServerSource`)."""

    @property
    def kind(self) -> SourceKind:
        """`kubelet` or `apiserver`."""
        ...

    @property
    def location(self) -> str:
        """The metrics URL, without credentials."""
        ...

    @property
    def timeout(self) -> float:
        """The per-request timeout (`--timeout`)."""
        ...

    def fetch(self, *, timeout: float | None = None) -> FetchedDump:
        """Scrape `/metrics` once, waiting up to `timeout` (default: the source's)."""
        ...

    def probe_health(self, *, timeout: float) -> HealthProbe:
        """Ask `/healthz` once; never raises for the endpoint."""
        ...


class MetricsBlocked(SourceTimeoutError):
    """`/metrics` did not answer within the patience; `facts` says what `/healthz` did."""

    def __init__(self, message: str, *, facts: ScrapeFacts, probe: HealthProbe) -> None:
        super().__init__(
            message,
            hint="pleg-doctor probe-runtime on the node, or diagnose with a longer --metrics-timeout",
            timeout_seconds=facts.waited_seconds,
        )
        self.facts = facts
        self.probe = probe


def is_live(source: object) -> bool:
    """Whether `source` has both `/metrics` and `/healthz` to ask."""
    return callable(getattr(source, "probe_health", None))


def fetch_live(
    source: LiveSource,
    *,
    patience: float | None = None,
    health_timeout: float = DEFAULT_HEALTH_TIMEOUT_SECONDS,
    progress: Callable[[str], None] | None = None,
    progress_every: float = PROGRESS_EVERY_SECONDS,
) -> tuple[FetchedDump, ScrapeFacts]:
    """Scrape `/metrics`, waiting up to `patience` seconds (default: the source's timeout).

    Past the source's own timeout without an answer, `/healthz` is asked (for `health_timeout`
    seconds at most, never more than the source's timeout): when it answers and
    there is patience left, the wait goes on, with `progress` lines every `progress_every`
    seconds; when it does not answer either, the kubelet is down or unreachable and the wait
    stops there. Raises `MetricsBlocked` when `/metrics` never answered while `/healthz` did, the
    source's own `SourceError` otherwise.
    """
    patience = source.timeout if patience is None else patience
    grace = min(source.timeout, patience)
    health_timeout = min(health_timeout, source.timeout)
    start = time.monotonic()
    if patience <= grace:
        try:
            dump = source.fetch(timeout=patience)
        except SourceTimeoutError as exc:
            asked = source.probe_health(timeout=health_timeout)
            blocked = _blocked(source, patience, asked)
            if blocked is None:
                # Neither answered: the timeout stands; its hint says how long /healthz had.
                unanswered = f"{scrape_facts(None, None, asked).health_text()} within "
                raise SourceTimeoutError(
                    exc.message,
                    hint=f"{unanswered}{health_timeout:g} s"
                    + (f"; {exc.hint}" if exc.hint else ""),
                    timeout_seconds=exc.timeout_seconds,
                ) from exc
            raise blocked from exc
        return dump, ScrapeFacts(metrics_seconds=dump.latency_seconds)

    outcome: dict[str, FetchedDump | BaseException] = {}

    def scrape() -> None:
        try:
            outcome["dump"] = source.fetch(timeout=patience)
        except BaseException as exc:  # handed to the waiting thread, which re-raises it
            outcome["error"] = exc

    worker = threading.Thread(target=scrape, name="pleg-doctor-scrape", daemon=True)
    worker.start()
    worker.join(grace)
    if worker.is_alive():
        probe = source.probe_health(timeout=health_timeout)
        waited = time.monotonic() - start
        facts = scrape_facts(None, None, probe)
        if not facts.kubelet_answers:
            raise SourceTimeoutError(
                f"{source.kind} {source.location}: /metrics did not answer in {waited:.0f} s, "
                f"and {facts.health_text()} within {health_timeout:g} s",
                hint="is the kubelet running and reachable from here?",
                timeout_seconds=waited,
            )
        if progress is not None:
            progress(
                f"/metrics has not answered for {waited:.0f} s; {facts.health_text()}: the "
                f"runtime is likely hung; waiting up to {patience:g} s, Ctrl-C to stop"
            )
        while worker.is_alive():
            worker.join(progress_every)
            if worker.is_alive() and progress is not None:
                progress(
                    f"/metrics still not answering after {time.monotonic() - start:.0f} s "
                    f"(waiting up to {patience:g} s)"
                )
    else:
        probe = None
    error = outcome.get("error")
    if isinstance(error, SourceTimeoutError) and probe is not None:
        blocked = _blocked(source, patience, probe)
        if blocked is not None:
            raise blocked from error
    if isinstance(error, BaseException):
        raise error
    answer = outcome["dump"]
    assert isinstance(answer, FetchedDump)
    return answer, scrape_facts(answer.latency_seconds, None, probe)


def scrape_facts(
    metrics_seconds: float | None, waited: float | None, probe: HealthProbe | None
) -> ScrapeFacts:
    """What the endpoints did: `/metrics`' time to its headers (None: no answer), the patience
    that ran out (`waited`, when it did not answer) and the `/healthz` probe, if one was made.
    `diagnose`, `check` and `scan` describe every live scrape this way."""
    if probe is None:
        return ScrapeFacts(metrics_seconds=metrics_seconds, waited_seconds=waited)
    return ScrapeFacts(
        metrics_seconds=metrics_seconds,
        waited_seconds=waited,
        health_path=probe.path,
        health_seconds=probe.seconds,
        health_status=probe.status,
        health_said=probe.said,
    )


def _blocked(source: LiveSource, patience: float, probe: HealthProbe) -> MetricsBlocked | None:
    """`MetricsBlocked` when `/healthz` answered; None (the timeout stands) when it did not."""
    facts = scrape_facts(None, patience, probe)
    if not facts.kubelet_answers:
        return None
    return MetricsBlocked(
        f"{source.kind} {source.location}: {facts.scrape_text()} while {facts.health_text()}: "
        "the container runtime is likely hung",
        facts=facts,
        probe=probe,
    )
