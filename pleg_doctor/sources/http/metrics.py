"""The scrape of a Prometheus exposition over HTTP(S): a `FetchedDump` with the server's `Date`
as its capture time, refusing HTML and JSON answers.
"""

from __future__ import annotations

import datetime as dt
import email.utils

from pleg_doctor.errors import SourceError
from pleg_doctor.sources.base import FetchedDump, SourceKind
from pleg_doctor.sources.http.client import HttpClient, http_client, usable_location
from pleg_doctor.sources.http.settings import EndpointWording, HttpSettings


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
        captured_at=parse_http_date(stream.headers.get("Date")),
        node=node,
    )


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
