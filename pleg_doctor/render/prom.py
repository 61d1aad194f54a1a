"""`check --textfile` / `--pushgateway`: the pleg_doctor_* metrics of a run, written or pushed.

The metrics (the README's "Cron and monitoring: check" lists them for users):

* `pleg_doctor_headroom_seconds{node}`
* `pleg_doctor_verdict{node,verdict}`: 1 for the current verdict, 0 for the three others
* `pleg_doctor_cause_score{node,cause}`: every cause id, 0 when not scored
* `pleg_doctor_relist_seconds{node,stat}`: `mean`, `p50`, `p99`, `tail` (the long relists),
  `predicted` (the model), `interval` (mean time between relist starts)
* `pleg_doctor_last_run_timestamp_seconds{node}`: when this check ran (local clock)
* `pleg_doctor_up{node}`: 0 when the source failed, or its `/metrics` blocked
* `pleg_doctor_scrape_blocked_seconds{node}` (live sources): how long `/metrics` did not answer
  while `/healthz` did, 0 when it answered: why `up` is 0 although the kubelet is alive

When the source failed there is no report: only `up` 0, `last_run` and `verdict{unknown}` 1 are
written, so alerting sees the failure instead of the last good values going stale. A figure the
data cannot give is left out (no sample) rather than written as NaN, which alert expressions
compare as false without telling anyone.

The text format is written here (`exposition`), for the textfile and the push alike; the push
is a PUT through the project's own request primitive (`sources/http/`: one deadline, no
redirect, secrets redacted from what the gateway answers). pleg-doctor does not depend on
prometheus_client: the tests hold `exposition` to prometheus_client's `generate_latest`, byte
for byte, for the same gauges (`tests/test_textfile.py`). `http.client` and `urllib` are
imported only to push: cron runs `check --textfile` on every node every minute
(`benchmarks/bench_startup.py`).
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, TypeGuard

from pleg_doctor.core.causes import CAUSE_IDS
from pleg_doctor.core.records import record
from pleg_doctor.core.report import Report
from pleg_doctor.core.verdict import VERDICT_ORDER
from pleg_doctor.errors import PlegDoctorError, UsageError

log = logging.getLogger(__name__)

TEXTFILE_NAME = "pleg_doctor.prom"
"""node_exporter's textfile collector reads `*.prom` files only."""

DEFAULT_JOB = "pleg-doctor"

RELIST_STATS = ("mean", "p50", "p99", "tail", "predicted", "interval")
"""The `stat` label values of `pleg_doctor_relist_seconds`."""


class MetricsDeliveryError(PlegDoctorError):
    """The metrics could not be written to the textfile directory or pushed to the gateway."""


@record(kw_only=True)
class CheckMetrics:
    """What one check run reports to Prometheus."""

    node: str
    """The `node` label (the report's node, else what the source or the state knew)."""
    report: Report | None
    """None when the source failed (then `up` is 0)."""
    ran_at: float
    """Unix seconds of the run, local clock: what staleness alerts compare with `time()`."""


@record(kw_only=True)
class Family:
    """One metric family of a run: a gauge, its help, its label names and its samples."""

    name: str
    documentation: str
    labelnames: tuple[str, ...]
    samples: tuple[tuple[tuple[str, ...], float], ...]
    """(label values, value) in the order the samples are written."""


def families(metrics: CheckMetrics) -> tuple[Family, ...]:
    """Exactly the metrics of the module docstring for one run, in the order they are written.

    A family without samples is still written (HELP and TYPE): alerting can tell "no cause
    scored" from "this metric does not exist".
    """
    node = metrics.node
    report = metrics.report

    def family(
        name: str, doc: str, labels: Sequence[str], samples: Sequence[tuple[Sequence[str], float]]
    ) -> Family:
        return Family(
            name=name,
            documentation=doc,
            labelnames=("node", *labels),
            samples=tuple(((node, *values), value) for values, value in samples),
        )

    verdict_now = "unknown" if report is None else report.verdict
    headroom = report.model.headroom_seconds if report is not None else None
    scores = {finding.id: finding.score for finding in report.causes} if report else {}
    stats = relist_stats(report) if report is not None else {}
    scrape = report.scrape if report is not None else None
    blocked = scrape is not None and scrape.blocked
    scrape_blocked: tuple[Family, ...] = ()
    if scrape is not None:
        # Why up is 0 while the kubelet answers: its /metrics blocked (the runtime is likely
        # hung). Written for live sources only, 0 when /metrics answered.
        waited = (scrape.waited_seconds or 0.0) if blocked else 0.0
        scrape_blocked = (
            family(
                "pleg_doctor_scrape_blocked_seconds",
                "Seconds the kubelet's /metrics did not answer while its /healthz did (0: "
                "answered).",
                (),
                [((), waited)],
            ),
        )
    return (
        family(
            "pleg_doctor_up",
            "1 when pleg-doctor could read and diagnose the source.",
            (),
            [((), 0 if report is None or blocked else 1)],
        ),
        *scrape_blocked,
        family(
            "pleg_doctor_last_run_timestamp_seconds",
            "Unix time of the last pleg-doctor check run (local clock).",
            (),
            [((), metrics.ran_at)],
        ),
        family(
            "pleg_doctor_verdict",
            "1 for the current PLEG verdict (ok, warning, critical, unknown), 0 for the others.",
            ("verdict",),
            [((name,), 1 if name == verdict_now else 0) for name in VERDICT_ORDER],
        ),
        family(
            "pleg_doctor_headroom_seconds",
            "PLEG threshold minus the worst last-seen age the data supports (now and predicted).",
            (),
            [((), headroom)] if _finite(headroom) else [],
        ),
        family(
            "pleg_doctor_cause_score",
            "Score 0..1 of each likely cause of PLEG trouble (0 when not scored).",
            ("cause",),
            [((cause,), scores.get(cause, 0.0)) for cause in CAUSE_IDS] if report else [],
        ),
        family(
            "pleg_doctor_relist_seconds",
            "PLEG relist figures: mean, p50, p99, tail (long relists), predicted (model), interval.",
            ("stat",),
            [((stat,), value) for stat, value in stats.items() if _finite(value)],
        ),
    )


def _finite(value: float | None) -> TypeGuard[float]:
    """A figure worth a sample: a NaN would compare false in every alert rule, silently."""
    return value is not None and math.isfinite(value)


def exposition(metrics: CheckMetrics) -> bytes:
    """`families(metrics)` in the Prometheus text format, byte for byte what prometheus_client's
    `generate_latest` writes for the same gauges (`tests/test_textfile.py` holds the two
    together): what the textfile holds and what the push sends.

    Written here rather than by prometheus_client, which pleg-doctor does not depend on:
    importing it (with its HTTP server and client modules) cost more than the whole rest of a
    cron `check --textfile` run.
    """
    lines: list[str] = []
    for family in families(metrics):
        help_text = family.documentation.replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(f"# HELP {family.name} {help_text}\n")
        lines.append(f"# TYPE {family.name} gauge\n")
        for values, value in family.samples:
            labels = ",".join(
                f'{name}="{_escape_label_value(text)}"'
                for name, text in sorted(zip(family.labelnames, values, strict=True))
            )
            lines.append(f"{family.name}{{{labels}}} {go_float(value)}\n")
    return "".join(lines).encode("utf-8")


def _escape_label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def go_float(value: float) -> str:
    """A sample value as Go (and prometheus_client's `floatToGoString`) writes it."""
    number = float(value)
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if math.isnan(number):
        return "NaN"
    text = repr(number)
    dot = text.find(".")
    if number > 0 and dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def relist_stats(report: Report) -> dict[str, float | None]:
    """The `stat` values of `pleg_doctor_relist_seconds` (None when the data cannot give one)."""
    window = report.window
    model = report.model
    duration = window.relist_duration
    interval = window.relist_interval
    return {
        "mean": duration.mean_seconds if duration is not None else None,
        "p50": duration.quantile(0.5) if duration is not None else None,
        "p99": duration.quantile(0.99) if duration is not None else None,
        "tail": model.tail_relist_seconds,
        "predicted": model.prediction.relist_seconds if model.prediction is not None else None,
        "interval": interval.mean_seconds if interval is not None else None,
    }


def render_textfile(metrics: CheckMetrics) -> str:
    """The text a textfile would hold (for tests and `--debug`)."""
    return exposition(metrics).decode()


def write_textfile(directory: Path, metrics: CheckMetrics) -> Path:
    """Write `DIRECTORY/pleg_doctor.prom`: a temporary file next to it, then a rename.

    The rename is atomic, so node_exporter never scrapes half a file (the same steps as
    prometheus_client's `write_to_textfile`: `pleg_doctor.prom.<pid>.<thread>`, then
    `rename(2)`). Raises `MetricsDeliveryError` (with the path and the OS reason) when the
    directory is missing or not writable.
    """
    import os
    import threading

    path = directory / TEXTFILE_NAME
    if not directory.is_dir():
        raise MetricsDeliveryError(
            f"--textfile {directory}: no such directory",
            hint="create it, or point --textfile at node_exporter's --collector.textfile.directory",
        )
    temporary = f"{path}.{os.getpid()}.{threading.current_thread().ident}"
    try:
        try:
            with open(temporary, "wb") as handle:
                handle.write(exposition(metrics))
            os.rename(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise
    except OSError as exc:
        raise MetricsDeliveryError(
            f"--textfile {directory}: cannot write {TEXTFILE_NAME} "
            f"({exc.strerror or type(exc).__name__})"
        ) from exc
    log.debug("wrote %s", path)
    return path


@record(kw_only=True)
class PushAuth:
    """How to authenticate to the Pushgateway; the secret is never shown (`repr=False`)."""

    kind: Literal["none", "basic", "bearer"]
    username: str | None = None
    secret: str | None = dataclasses.field(default=None, repr=False)
    """The password (basic) or the token (bearer), read from a file."""


@record(kw_only=True)
class PushTarget:
    """Where and under which grouping key to push."""

    url: str
    """Base URL of the gateway (http or https, maybe with a path prefix), no credentials."""
    job: str
    grouping: Mapping[str, str]
    """Extra grouping labels given with `--grouping-key`; `node` is added by default."""
    auth: PushAuth = dataclasses.field(default_factory=lambda: PushAuth(kind="none"))


def pushgateway_url(text: str) -> str:
    """Validate `--pushgateway URL`: http(s), a host, no credentials (they would end up in logs)."""
    import urllib.parse

    value = text.strip()
    if "://" not in value:
        value = f"http://{value}"  # what prometheus_client assumes too
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise UsageError(f"cannot read --pushgateway URL {text!r}: bad host or port") from exc
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"--pushgateway URL must be http:// or https://, not {parts.scheme}://")
    if "@" in parts.netloc:
        raise UsageError(
            "credentials in the --pushgateway URL are not supported",
            hint="use --pushgateway-user with --pushgateway-password-file, or --pushgateway-token-file",
        )
    if not parts.hostname:
        raise UsageError(f"--pushgateway URL {text!r} has no host")
    if parts.query or parts.fragment:
        raise UsageError("--pushgateway URL takes no query or fragment")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def push_auth(*, user: str | None, password_file: str | None, token_file: str | None) -> PushAuth:
    """Read the Pushgateway credentials from files (secrets never travel on the command line)."""
    if token_file is not None and (user is not None or password_file is not None):
        raise UsageError(
            "give --pushgateway-token-file or --pushgateway-user with --pushgateway-password-file, "
            "not both"
        )
    if (user is None) != (password_file is None):
        raise UsageError("--pushgateway-user and --pushgateway-password-file go together")
    if token_file is not None:
        return PushAuth(kind="bearer", secret=_read_secret(token_file, "--pushgateway-token-file"))
    if user is not None and password_file is not None:
        secret = _read_secret(password_file, "--pushgateway-password-file")
        return PushAuth(kind="basic", username=user, secret=secret)
    return PushAuth(kind="none")


def _read_secret(path: str, flag: str) -> str:
    """The first line of `path`, stripped; errors name the file, never its content."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"{flag} {path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"{flag} {path}: cannot read ({reason or type(exc).__name__})") from exc
    lines = text.strip().splitlines()
    if not lines or not lines[0].strip():
        raise UsageError(f"{flag} {path}: the file is empty")
    return lines[0].strip()


_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_.-]+")
"""Grouping values that travel as they are; any other goes base64 (Pushgateway's `@base64`)."""


def push_path(job: str, grouping: Mapping[str, str]) -> str:
    """`/metrics/job/<job>/<key>/<value>...`, every value a single safe path segment.

    A value that is empty, `.` or `..` (which a URL normalizes away: the gateway then redirects
    and every push fails), or holds anything but letters, digits, `_`, `.` and `-`, travels as
    `<key>@base64/<urlsafe base64>`, which the Pushgateway decodes (since 0.9). So a node name,
    whatever it is, can neither break the URL nor move the push to another group.
    """
    parts = ["metrics", *_segment("job", job)]
    for key in sorted(grouping):
        parts.extend(_segment(key, grouping[key]))
    return "/" + "/".join(parts)


def _segment(key: str, value: str) -> tuple[str, str]:
    if value not in ("", ".", "..") and _SAFE_SEGMENT.fullmatch(value):
        return key, value
    encoded = base64.urlsafe_b64encode(value.encode()).decode("ascii")
    return f"{key}@base64", encoded or "="


TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
"""The Content-Type of the text format `exposition` writes (what the Pushgateway parses)."""


def push(target: PushTarget, metrics: CheckMetrics, *, timeout: float) -> None:
    """PUT the metrics to the gateway, replacing this node's group of the last run.

    PUT replaces every metric of the group, so a cause that stopped scoring does not linger.
    The request goes through the project's request primitive (`sources/http/`): one deadline of
    `timeout` seconds for the whole push (connect, send, answer), one retry on a connection
    failure, TLS verified, no redirect followed. Raises `MetricsDeliveryError` with the URL and
    the HTTP status or the failure; the gateway's answer is quoted with every secret redacted
    (a gateway or a proxy may echo the `Authorization` header back) and control characters
    escaped.
    """

    from pleg_doctor.errors import SourceError
    from pleg_doctor.sources.http.client import http_client
    from pleg_doctor.sources.http.redaction import quote_outside
    from pleg_doctor.sources.http.settings import EndpointWording, HttpSettings

    auth = target.auth
    settings = HttpSettings(
        token=auth.secret if auth.kind == "bearer" else None,
        basic_auth=(auth.username or "", auth.secret or "") if auth.kind == "basic" else None,
        credential_label=f"the --pushgateway-{'token' if auth.kind == 'bearer' else 'password'}-file"
        if auth.kind != "none"
        else None,
    )
    url = target.url + push_path(target.job, target.grouping)
    log.debug(
        "pushing to %s (job %s, grouping %s, auth %s)",
        target.url,
        target.job,
        dict(target.grouping),
        auth.kind,
    )
    body = exposition(metrics)
    try:
        with http_client(
            settings, wording=EndpointWording(endpoint="Pushgateway"), timeout=timeout
        ) as client:
            answer = client.put(url, body, content_type=TEXT_FORMAT, accept_errors=True)
            secrets = client.secrets
    except SourceError as exc:
        raise MetricsDeliveryError(
            f"push to {target.url} failed: {exc.message}",
            hint=exc.hint or "is the Pushgateway running and reachable from here?",
        ) from exc
    if not 200 <= answer.status < 300:
        said = quote_outside(answer.body, secrets, limit=200)
        raise MetricsDeliveryError(
            f"push to {target.url} failed: HTTP {answer.status} "
            f"{quote_outside(answer.reason, secrets, limit=60)}".rstrip()
            + (f": {said}" if said else ""),
            hint=_http_hint(answer.status, auth),
        )
    log.debug("pushed to %s", target.url)


def _http_hint(code: int, auth: PushAuth) -> str | None:
    if code == 401:
        if auth.kind == "none":
            return (
                "the gateway wants credentials: --pushgateway-user with --pushgateway-password-file"
            )
        return "the gateway refused the credentials given"
    if code == 403:
        return "the credentials are valid but not allowed to push"
    if code == 404:
        return "--pushgateway is the gateway's base URL, without /metrics/job/..."
    return None
