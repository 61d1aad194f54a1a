"""`PrometheusSource`: the fleet's API calls, their JSON answers and the API's own errors.

HTTP goes through the request primitive of the live kubelet sources (`sources/http/`'s
`http_client`): credentials resolved and TLS files written once per fetch, one retry on connection
errors, timeouts, no redirects, errors translated; secrets (the token, every `--header` value)
never reach a message or a debug log. This module adds the query parameters, the JSON decoding
and the Prometheus API's own errors.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import json
import logging
import math
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any, NoReturn

from pleg_doctor.core.fleet import FleetNode, human_duration
from pleg_doctor.errors import SourceError, UsageError
from pleg_doctor.sources.base import SourceKind
from pleg_doctor.sources.decode import json_document
from pleg_doctor.sources.http.client import HttpClient, http_client
from pleg_doctor.sources.http.redaction import quote_outside, safe_url
from pleg_doctor.sources.http.settings import EndpointWording, HttpSettings
from pleg_doctor.sources.limits import current as current_limits
from pleg_doctor.sources.prometheus.answers import streamed_runs, vector_series
from pleg_doctor.sources.prometheus.assembly import FleetAssembler, PromSample
from pleg_doctor.sources.prometheus.queries import (
    DEFAULT_SELECTOR,
    QUERY_TAG,
    FleetQuery,
    Term,
    build_queries,
    normalize_selector,
)
from pleg_doctor.sources.prometheus.rules import RULES_INFO, RULES_SCHEMA_VERSION

log = logging.getLogger(__package__)

DEFAULT_TIMEOUT_SECONDS = 30.0
"""`--timeout` per API call: a fleet-wide histogram query does more work than one scrape."""

PARALLEL_QUERIES = 4
"""Queries in flight at once: well under Prometheus' default `--query.max-concurrency` (20)."""

WORDING = EndpointWording(
    endpoint="Prometheus",
    auth_hint=(
        "pass --prometheus-token, --prometheus-token-file or --header 'Authorization: ...' "
        "(Mimir also needs --header 'X-Scope-OrgID: TENANT')"
    ),
    forbidden_hint=(
        "the identity may not query this server (e.g. OpenShift's thanos-querier needs the "
        "cluster-monitoring-view role; Mimir checks the X-Scope-OrgID tenant)"
    ),
    tls_hint=(
        "pass the CA that signed the server's certificate with --cacert FILE, or use "
        "--insecure-skip-tls-verify"
    ),
    connect_hint=(
        "check the URL: Prometheus and Thanos Query listen on 9090, VictoriaMetrics on 8428; "
        "Mimir serves the API under /prometheus"
    ),
)

_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def parse_header(text: str) -> tuple[str, str]:
    """`'Name: value'` → `(Name, value)`; the error never quotes the value (it may be a secret)."""
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not _HEADER_NAME_RE.match(name):
        raise UsageError(
            "--header must look like 'Name: value' (e.g. 'X-Scope-OrgID: tenant-1')",
        )
    value = value.strip()
    if any(c in value for c in "\r\n\0") or not value.isprintable():
        raise UsageError(f"--header {name}: the value contains control characters")
    return name, value


DEFAULT_PORT = 9090
"""Prometheus' default port, for a `--prometheus HOST` without one."""


def with_default_scheme(text: str) -> str:
    """`prometheus:9090` → `http://prometheus:9090`, `prometheus` → `http://prometheus:9090`;
    a URL with a scheme is left as it is."""
    if not text or "://" in text:
        return text
    host, slash, path = text.partition("/")
    if not host.endswith("]") and ":" in host:
        return f"http://{text}"  # HOST:PORT or [IPv6]:PORT
    return f"http://{host}:{DEFAULT_PORT}{slash}{path}"


def api_url(url: str) -> str:
    """`URL/api/v1/query`, keeping the URL's path prefix (Mimir's `/prometheus`, VM's `/select/0/prometheus`).

    A URL that already ends in `/api/v1/query`, `/api/v1` or `/graph` (copied from a browser) is
    accepted as the base it points into. Like `--kubelet`, a bare `HOST` or `HOST:PORT` (or
    `HOST:PORT/prefix`) is accepted: Prometheus' own defaults fill in, `http://` and port 9090.
    """
    text = with_default_scheme(url.strip())
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise UsageError(
            f"cannot read --prometheus URL {safe_url(text)!r}: bad host or port"
        ) from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UsageError(
            "--prometheus needs HOST[:PORT] or an http:// or https:// URL, e.g. "
            "prometheus-k8s.monitoring:9090"
        )
    if "@" in parts.netloc:
        raise UsageError(
            "credentials in the --prometheus URL are not supported",
            hint="pass --prometheus-token-file, or --header 'Authorization: Basic ...'",
        )
    path = parts.path.rstrip("/")
    for suffix in ("/api/v1/query", "/api/v1", "/graph"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urllib.parse.urlunsplit(
        (parts.scheme.lower(), parts.netloc, path + "/api/v1/query", "", "")
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class FleetData:
    """What one fleet fetch returns: every node, and the facts of the fetch."""

    location: str
    """The base URL given (no credentials)."""
    selector: str
    evaluated_at: float
    range_seconds: float
    nodes: tuple[FleetNode, ...]
    api_calls: int
    """HTTP requests answered by the server (what its `prometheus_http_requests_total` counts)."""
    recorded: bool = False
    """The histograms' measurements were read from the recording rules' series."""
    warnings: tuple[str, ...] = ()
    """The server's own warnings (e.g. Thanos partial responses), deduplicated."""


class PrometheusSource:
    """A Prometheus-compatible query API, read for a whole fleet (`pleg-doctor fleet`).

    `url` is the server's base URL (its path prefix kept: Mimir's `/prometheus`). Auth: `token` or
    `token_file` (read at each call), extra `headers` (`(name, value)` pairs, e.g. Mimir's
    `X-Scope-OrgID`; their values are treated as secrets), `cacert` or `insecure_skip_tls_verify`.
    `timeout` is per API call, in seconds, and also sent as the query's server-side `timeout`.
    """

    kind: SourceKind = "prometheus"

    def __init__(
        self,
        url: str,
        *,
        selector: str = DEFAULT_SELECTOR,
        token: str | None = None,
        token_file: str | Path | None = None,
        headers: Sequence[tuple[str, str]] = (),
        cacert: str | Path | None = None,
        insecure_skip_tls_verify: bool = False,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        parallel: int = PARALLEL_QUERIES,
        recorded: bool | None = None,
    ) -> None:
        if token is not None and token_file is not None:
            raise UsageError("give either --prometheus-token or --prometheus-token-file, not both")
        if cacert is not None and insecure_skip_tls_verify:
            raise UsageError("give either --cacert or --insecure-skip-tls-verify, not both")
        if not timeout > 0:
            raise UsageError("--timeout must be more than 0 seconds")
        names = [name.lower() for name, _ in headers]
        if (token is not None or token_file is not None) and "authorization" in names:
            raise UsageError(
                "give the credentials once: --prometheus-token(-file) or --header 'Authorization: ...'"
            )
        if len(set(names)) != len(names):
            raise UsageError("each --header name may be given once")
        self._url = api_url(url)
        self._base = self._url[: -len("/api/v1/query")] or self._url
        self.selector = normalize_selector(selector)
        self._timeout = float(timeout)
        self._parallel = max(1, parallel)
        self._recorded = recorded
        """Read the recording rules' measurements (True), compute them (False), or read them
        when the rules for this selector and range are loaded (None)."""
        self._settings = HttpSettings(
            token=token,
            token_file=Path(token_file) if token_file is not None else None,
            ca=Path(cacert) if cacert is not None else None,
            insecure_skip_tls_verify=insecure_skip_tls_verify,
            headers=tuple(headers),
            # How a 401 and the debug log name the credentials when only --header carries them.
            credential_label="the --header values given"
            if headers and token is None and token_file is None
            else None,
        )
        self._lock = threading.Lock()
        self._calls = 0
        self._warnings: list[str] = []

    @property
    def location(self) -> str:
        """The base URL, safe to print (credentials in URLs are refused)."""
        return self._base

    @property
    def must_warn_insecure(self) -> bool:
        """True when TLS verification is off: the CLI must print a warning (docs/sources.md#the-kubelet)."""
        return self._settings.must_warn_insecure

    @property
    def api_calls(self) -> int:
        """Requests the server answered so far."""
        return self._calls

    def fetch_fleet(self, *, range_seconds: float, at: dt.datetime | None = None) -> FleetData:
        """Query the whole fleet at `at` (default: the server's now) over `range_seconds`.

        Raises `SourceError`s for an unreachable server, refused credentials, a query error (the
        message shows the PromQL) and a selector that matches no kubelet PLEG series.
        """
        with http_client(self._settings, wording=WORDING, timeout=self._timeout) as client:
            call = _Call(self, client)
            try:
                evaluated_at = at.timestamp() if at is not None else call.server_time()
                recorded = self._recorded
                if recorded is None:
                    recorded = call.rules_loaded(evaluated_at, range_seconds)
                elif recorded and not call.rules_loaded(evaluated_at, range_seconds):
                    raise call.no_rules_error(evaluated_at, range_seconds)
                queries = build_queries(self.selector, range_seconds, recorded=recorded)
                assembler = call.run(queries, evaluated_at)
                nodes = assembler.nodes(evaluated_at=evaluated_at, range_seconds=range_seconds)
                del assembler
                if not any(n.window.last.has_pleg_metrics for n in nodes):
                    raise call.empty_result_error(evaluated_at, targets=len(nodes))
            finally:
                with self._lock:
                    self._calls += client.answered
        return FleetData(
            location=self.location,
            selector=self.selector,
            evaluated_at=evaluated_at,
            range_seconds=range_seconds,
            nodes=nodes,
            api_calls=self._calls,
            warnings=tuple(dict.fromkeys(self._warnings)),
            recorded=recorded,
        )

    def __repr__(self) -> str:
        return f"PrometheusSource({self._base!r}, selector={self.selector!r})"


class _Call:
    """One fleet fetch: queries sent through one client (credentials resolved, TLS files)."""

    def __init__(self, source: PrometheusSource, client: HttpClient) -> None:
        self.source = source
        self.client = client
        self._series = 0
        """Series in the answers so far: what the decoded answers cost is bounded in total."""
        self._series_lock = threading.Lock()

    # -- the queries

    def server_time(self) -> float:
        """The server's clock: every query is then evaluated at this one instant."""
        doc = self.request("time()", None)
        data = doc.get("data")
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("resultType") != "scalar":
            raise self._shape_error("time()")
        try:
            value = float(result[1])  # type: ignore[index]
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            raise self._shape_error("time()") from exc
        if not math.isfinite(value):
            raise self._shape_error("time()")
        return value

    def rules_loaded(self, at: float, range_seconds: float) -> bool:
        """Whether the recording rules of `pleg-doctor rules` for this selector and range are
        loaded: their `pleg_doctor_rules_info` series, with these options in its labels."""
        matchers = {
            "selector": self.source.selector,
            "window": human_duration(range_seconds),
            "version": RULES_SCHEMA_VERSION,
        }
        labels = ",".join(f"{key}={json.dumps(value)}" for key, value in matchers.items())
        info = FleetQuery("rules_info", (Term("rules_info", f"{RULES_INFO}{{{labels}}}"),))
        try:
            found = bool(self.vector(info, at).get("rules_info"))
        except SourceError as exc:
            # Not worth failing for: the fleet queries that follow meet the same server and
            # say what is wrong, with their own query in the message.
            log.debug("looking for the recording rules failed: %s", exc)
            return False
        log.debug("recording rules for this selector and range: %s", "loaded" if found else "none")
        return found

    def no_rules_error(self, at: float, range_seconds: float) -> SourceError:
        """`--recorded yes`, and no recording rules for this selector and range."""
        from pleg_doctor.core.durations import rfc3339

        return SourceError(
            f"no recording rules of pleg-doctor for --selector '{self.source.selector}' and "
            f"--range {human_duration(range_seconds)} at {rfc3339(at)} in Prometheus "
            f"{self.source.location} (no matching pleg_doctor_rules_info)",
            hint="load the output of `pleg-doctor rules` with these options "
            "(deploy/prometheus/pleg-doctor-rules.yml for the defaults), or pass --recorded auto",
        )

    def run(self, queries: Sequence[FleetQuery], at: float) -> FleetAssembler:
        """Send every query (a few at a time); each answer is folded into the assembler as it
        is decoded, a batch of series at a time, so no answer is ever held decoded whole."""
        assembler = FleetAssembler()
        lock = threading.Lock()
        workers = min(self.source._parallel, len(queries))
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="pleg-doctor-query"
        ) as pool:
            futures = [pool.submit(self.fold, query, at, assembler, lock) for query in queries]
            try:
                for query, future in zip(queries, futures, strict=True):
                    log.debug("query %s: %s", query.key, _count_text(future.result()))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return assembler

    def fold(
        self, query: FleetQuery, at: float, assembler: FleetAssembler, lock: threading.Lock
    ) -> Counter[str]:
        """One instant vector query folded into `assembler` (under `lock`); series per term.

        A run of elements at a time (`element_runs`: a few thousand series, as decoded): each
        run is checked and routed at once (`vector_series`), then folded in one hold of the
        lock, so no series becomes an object of its own on the way."""
        term_of = _term_of(query)
        counts: Counter[str] = Counter()
        for run in self.element_runs(query.promql, at):
            series = vector_series(run, term_of)
            if series is None:
                raise self._shape_error(query.promql)
            counts.update(map(itemgetter(0), series))
            with lock:
                assembler.add_series(series)
        return counts

    def vector(self, query: FleetQuery, at: float) -> dict[str, list[PromSample]]:
        """One small instant vector query, its elements routed by term (tag label removed)."""
        term_of = _term_of(query)
        routed: dict[str, list[PromSample]] = {}
        for run in self.element_runs(query.promql, at):
            series = vector_series(run, term_of)
            if series is None:
                raise self._shape_error(query.promql)
            for term, labels, value, timestamp in series:
                routed.setdefault(term, []).append(PromSample(labels, value, timestamp))
        return routed

    def empty_result_error(self, at: float, *, targets: int) -> SourceError:
        """The error for a selector that matched no PLEG series, with a selector that would."""
        from pleg_doctor.core.durations import rfc3339

        selector = self.source.selector
        when = rfc3339(at)
        message = (
            f"no kubelet PLEG series match --selector '{selector}' at {when} in "
            f"Prometheus {self.source.location}"
        )
        if targets:
            message += f" ({targets} target(s) match it, none exposes kubelet_pleg_*)"
        probe = FleetQuery(
            "probe",
            (
                Term(
                    "probe",
                    "count by (job, metrics_path) ("
                    '{__name__=~"kubelet_pleg_relist_duration_seconds_count|'
                    'kubelet_pleg_last_seen_seconds"})',
                ),
            ),
        )
        try:
            found = self.vector(probe, at).get("probe", [])
        except SourceError:
            found = []
        candidates = sorted(
            (s for s in found if s.labels.get("job")),
            key=lambda s: (-s.value, s.labels.get("job", "")),
        )
        if candidates:
            best = candidates[0].labels
            suggestion = f'job="{best["job"]}"'
            if best.get("metrics_path"):
                suggestion += f',metrics_path="{best["metrics_path"]}"'
            hint = f"kubelet PLEG series exist under {suggestion}: try --selector '{suggestion}'"
        else:
            hint = (
                "this server has no kubelet_pleg_* series at that time: does it scrape the "
                "kubelets' /metrics? (other setups name the job differently, e.g. --selector "
                "'job=\"kubernetes-nodes\"'); with --at, is the time within its retention?"
            )
        return SourceError(message, hint=hint)

    # -- HTTP

    def element_runs(self, promql: str, at: float) -> Iterator[list[Any]]:
        """The elements of the instant vector `promql` at `at` evaluates to, a run of them at a
        time as they are decoded: this is where an answer's body is read (`request_body`: at
        most `PLEG_DOCTOR_MAX_ANSWER_BYTES`, its series counted against
        `PLEG_DOCTOR_MAX_SERIES` for the whole fetch before any is decoded) and its series are
        decoded a few thousand at a time (`streamed_runs`)."""
        status, reason, body = self.request_body(promql, at)
        streamed = streamed_runs(body) if 200 <= status < 300 else None
        if streamed is None:
            doc = self._decode(status, reason, body, promql)
            data = doc.get("data")
            if not isinstance(data, dict) or data.get("resultType") != "vector":
                raise self._shape_error(promql)
            items = data.get("result")
            if not isinstance(items, list):
                raise self._shape_error(promql)
            yield items
            return
        runs, warnings = streamed
        del body
        try:
            yield from runs
        except (ValueError, RecursionError) as exc:  # RecursionError: nested past Python's depth
            raise self._shape_error(promql) from exc
        self._keep_warnings(warnings())

    def request_body(self, promql: str, at: float | None) -> tuple[int, str, bytes]:
        """GET `/api/v1/query` for `promql` at `at`: the status, reason and body."""
        params = {"query": promql, "timeout": f"{self.source._timeout:g}s"}
        if at is not None:
            params["time"] = f"{at:.3f}"
        response = self.client.get(
            self.source._url,
            params=params,
            accept="application/json",
            bound="answer_bytes",
            error_statuses=_status_without_api_answer,
        )
        body = response.body
        self._count_series(body)
        return response.status, response.reason, body

    def _count_series(self, body: bytes) -> None:
        """Bound the series of the whole fetch before any answer is decoded: decoded and
        assembled, each costs memory, so the bound (`PLEG_DOCTOR_MAX_SERIES`) has to hold
        before the decoder builds them. Every answer passes here (`element_runs`, `request`)."""
        series = body.count(b'"metric"')
        with self._series_lock:
            self._series += series
            total = self._series
        limits = current_limits()
        if total > limits.series:
            raise limits.error(
                "series",
                f"Prometheus {self.source._url} answered more than {limits.series:,} series in "
                f"all ({series:,} to one query; narrow --selector?)",
            )

    def request(self, promql: str, at: float | None) -> dict[str, Any]:
        """GET `/api/v1/query` for `promql` at `at`; the decoded `success` document."""
        return self._decode(*self.request_body(promql, at), promql)

    def _keep_warnings(self, warnings: Any) -> None:
        """The server's warnings, one line each, quoted through the redaction, for the CLI."""
        for warning in warnings or ():
            if isinstance(warning, str):
                text = quote_outside(warning, self.client.secrets, limit=300)
                with self.source._lock:
                    self.source._warnings.append(text)

    def _decode(self, status: int, reason: str, body: bytes, promql: str) -> dict[str, Any]:
        what = f"Prometheus {self.source._url}"
        try:
            doc = json_document(body)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("status"), str):
            if status == 404:
                _fail(
                    SourceError(
                        f"no Prometheus query API at {self.source._url} (404 Not Found)",
                        hint="give the server's base URL: http://prometheus:9090, Thanos Query "
                        "alike, Mimir .../prometheus, VictoriaMetrics cluster .../select/0/prometheus",
                    )
                )
            head = body.lstrip()[:1]
            found = "an HTML page" if head == b"<" else "something else"
            if 200 <= status < 300:
                _fail(
                    SourceError(
                        f"{what} did not answer with the Prometheus API's JSON (got {found})",
                        hint="give the base URL of Prometheus, Thanos Query, Mimir (.../prometheus) "
                        "or VictoriaMetrics (a login page or a proxy may be in the way)",
                    )
                )
            _fail(SourceError(f"{what} answered {status} {reason}".rstrip()))
        self._keep_warnings(doc.get("warnings"))
        if doc["status"] == "success" and 200 <= status < 300:
            return doc
        error_type = str(doc.get("errorType") or f"HTTP {status}")
        detail = quote_outside(str(doc.get("error") or ""), self.client.secrets, limit=300)
        hints = {
            "bad_data": 'check --selector (label matchers, e.g. job="kubelet")',
            "timeout": "the server gave up: raise --timeout, or narrow --selector or --range",
            "canceled": "the server gave up: raise --timeout, or narrow --selector or --range",
            "execution": "narrow --selector or --range if the server ran out of samples",
        }
        hint = hints.get(error_type)
        query_text = f"the query was: {promql}"
        _fail(
            SourceError(
                f"{what} rejected a query ({error_type}: {detail or 'no detail'})",
                hint=f"{hint}; {query_text}" if hint else query_text,
            )
        )

    def _shape_error(self, promql: str) -> SourceError:
        return SourceError(
            f"Prometheus {self.source._url} sent an answer of unexpected shape",
            hint=f"is it a Prometheus-compatible API? the query was: {promql}",
        )


def _fail(error: SourceError) -> NoReturn:
    raise error


def _status_without_api_answer(code: int) -> bool:
    """Statuses raised as HTTP errors: the API answers the others (400, 422, 503...) with a JSON
    error document, and a 404 means a wrong path prefix (`_decode` says so)."""
    return code in (401, 403) or 300 <= code < 400


def _term_of(query: FleetQuery) -> Callable[[dict[str, str]], str]:
    """How an element of `query`'s answer tells its term: the query's only term, its series
    name (`by_name`), or the tag label of its part (removed from the labels either way)."""
    if query.by_name:
        terms = {term.promql: term.name for term in query.terms}
        return lambda labels: terms.get(labels.pop("__name__", ""), "")
    if len(query.terms) == 1:
        single = query.terms[0].name
        return lambda labels: single
    return lambda labels: labels.pop(QUERY_TAG, "")


def _count_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{term} {count}" for term, count in sorted(counts.items())) or "no series"
