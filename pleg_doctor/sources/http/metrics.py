"""The scrape of a Prometheus exposition over HTTP(S): a `FetchedDump` with the server's `Date`
as its capture time, refusing HTML and JSON answers.
"""

from __future__ import annotations

import datetime as dt
import email.utils

from pleg_doctor.errors import PlegDoctorError, SourceError
from pleg_doctor.sources.base import FetchedDump, SourceKind
from pleg_doctor.sources.http.client import HttpClient, http_client, usable_location
from pleg_doctor.sources.http.settings import EndpointWording, HttpSettings
from pleg_doctor.sources.live import HealthProbe


def parse_http_date(value: str | None) -> dt.datetime | None:
    """Parse an HTTP `Date` header into a timezone-aware UTC datetime, or None if absent or bad.

    The kubelet's `Date` header is its own clock at the scrape: docs/sources.md#every-live-source prefers
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


def fetch_metrics_url(
    url: str,
    *,
    settings: HttpSettings,
    wording: EndpointWording,
    timeout: float,
    kind: SourceKind,
    node: str | None = None,
    max_bytes: int | None = None,
) -> FetchedDump:
    """GET `url` and return its body as a `FetchedDump`, or raise a `SourceError`.

    The errors, deadline, retry and redirect rules are `HttpClient.get`'s; on top of them, an
    HTML or JSON answer is refused as "not Prometheus metrics" (a login page, a wrong endpoint).
    `kind` and `node` are copied into the dump; its `location` is `url` without credentials and
    its `captured_at` the server's `Date` header. The dump's chunks are the body as it arrives
    (`HttpClient.open`): consume them at once and close them (`scrape.scrape_from_dump` does);
    the body is bounded by `max_bytes`, else by `PLEG_DOCTOR_MAX_BODY_BYTES`.
    """
    with http_client(settings, wording=wording, timeout=timeout) as client:
        return scrape_metrics(
            client, url, endpoint=wording.endpoint, kind=kind, node=node, max_bytes=max_bytes
        )


def scrape_metrics(
    client: HttpClient,
    url: str,
    *,
    endpoint: str,
    kind: SourceKind,
    node: str | None = None,
    max_bytes: int | None = None,
) -> FetchedDump:
    """`fetch_metrics_url` with a client already open: many scrapes share its credentials and
    TLS files (`scan`: every node through one API server). `endpoint` names it in messages."""
    location = usable_location(url)
    what = f"{endpoint} {location}"

    def check_metrics(first: bytes, content_type: str) -> None:
        _refuse_html_or_json(what, first, content_type)

    # Only the headers are read here: the body streams to whoever consumes the dump, right
    # away (memory follows the kept lines, the request's deadline runs until the stream ends).
    stream = client.open(
        url,
        max_bytes=max_bytes,
        too_large_hint="not a metrics endpoint? check the URL",
        check_body_start=check_metrics,
    )
    return FetchedDump(
        kind=kind,
        location=location,
        chunks=stream,
        captured_at=capture_time(
            parse_http_date(stream.headers.get("Date")), stream.headers_seconds
        ),
        node=node,
        latency_seconds=stream.headers_seconds,
    )


DATE_RESOLUTION_SECONDS = 1.0
"""HTTP `Date` headers hold whole seconds."""


def capture_time(date: dt.datetime | None, headers_seconds: float) -> dt.datetime | None:
    """The kubelet's clock when it read the metric values: at the request's start.

    The kubelet gathers its collectors when the request arrives, but writes `Date` when the
    response starts, after the slowest collector returned: with the runtime hung, its
    container-log collector holds the answer up to the 2-minute CRI timeout. So the values are
    `Date − elapsed` old (`elapsed` measured here, from sending the request to the headers), or
    every last-seen age of a blocked scrape comes out two minutes too old. Below the header's 1 s
    resolution the correction is noise, and `Date` is kept as it is.
    """
    if date is None or headers_seconds < DATE_RESOLUTION_SECONDS:
        return date
    return date - dt.timedelta(seconds=headers_seconds)


def probe_health_url(
    url: str,
    *,
    settings: HttpSettings,
    wording: EndpointWording,
    timeout: float,
    path: str,
) -> HealthProbe:
    """`probe_health` with a client of its own (one `/healthz` after a blocked scrape)."""
    try:
        with http_client(settings, wording=wording, timeout=timeout) as client:
            return probe_health(client, url, path=path)
    except SourceError as exc:  # the client could not even be set up
        return HealthProbe(path=path, status=None, seconds=None, error=exc.message)


HEALTH_MAX_BYTES = 64 * 1024
"""A kubelet's `/healthz` answers `ok`, or a few lines of checks when one fails."""

_STATUS_KIND = b'"kind":"Status"'
"""An API server error body: a `/healthz` answered by the API server, not by the kubelet."""


def probe_health(client: HttpClient, url: str, *, path: str | None = None) -> HealthProbe:
    """GET the kubelet's `/healthz` at `url` once, with a client already open (`scan` probes
    many nodes with one; `diagnose` and `check` through `probe_health_url`).

    The one probe of every command: the kubelet answers `/healthz` without asking the runtime,
    so any answer of the kubelet proves it alive, a failing check (500 `[-]syncloop failed`) or
    a 403 included. An API server error (a `Status` object: the node proxy could not reach the
    kubelet) and no answer at all are no answer. Never raises for the endpoint's own failures:
    `HealthProbe.error` says why nothing answered. `path` is how reports name what was asked
    (default: the URL's path).
    """
    import time
    import urllib.parse

    shown = path if path is not None else urllib.parse.urlsplit(url).path
    start = time.monotonic()
    try:
        response = client.get(
            url, accept="text/plain", max_bytes=HEALTH_MAX_BYTES, error_statuses=_never
        )
    except PlegDoctorError as exc:
        return HealthProbe(path=shown, status=None, seconds=None, error=exc.message)
    body = response.body
    if _STATUS_KIND in body.replace(b" ", b""):
        return HealthProbe(
            path=shown,
            status=None,
            seconds=None,
            error=f"the API server answered {response.status} itself: it could not reach the "
            "kubelet",
        )
    lines = body.decode("utf-8", "replace").strip().splitlines()
    said = next((line for line in lines if line.startswith("[-]")), lines[0] if lines else "")
    return HealthProbe(
        path=shown,
        status=response.status,
        seconds=response.headers_seconds or (time.monotonic() - start),
        said=said.strip()[:60] or None,
        captured_at=parse_http_date(response.headers.get("Date")),
    )


def _never(status: int) -> bool:
    return False


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
