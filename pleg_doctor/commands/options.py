"""The options and parameter types the commands share: durations, times, sources, causes, output.

Only click and the standard library are imported here (each command module imports this one when
the click group is built); what a conversion needs beyond that (`core.exposition.parse_rfc3339`,
`core.causes.CAUSE_IDS`, `core.whatif.KNOBS`) is imported when it runs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from pleg_doctor.sources.options import SourceOptions

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
F = TypeVar("F", bound=Callable[..., Any])

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class Duration(click.ParamType):  # type: ignore[type-arg]
    """`30s`, `2m`, `1h`, `500ms` or plain seconds → float seconds."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        match = _DURATION_RE.match(str(value))
        if match is None:
            self.fail(f"{value!r} is not a duration (e.g. 30s, 2m, 1h)", param, ctx)
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        if seconds <= 0:
            self.fail(f"{value!r} must be positive", param, ctx)
        return seconds


class Timestamp(click.ParamType):  # type: ignore[type-arg]
    """RFC 3339 (`2026-11-27T10:00:00Z`) or Unix seconds → aware UTC datetime."""

    name = "time"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        text = str(value).strip()
        try:
            return dt.datetime.fromtimestamp(float(text), tz=dt.timezone.utc)
        except (ValueError, OverflowError, OSError):
            pass
        from pleg_doctor.core.exposition import parse_rfc3339

        parsed = parse_rfc3339(text)
        if parsed is None:
            self.fail(
                f"{value!r} is not a time (RFC 3339 like 2026-11-27T10:00:00Z, or Unix seconds)",
                param,
                ctx,
            )
        return parsed


def runtime_timeout_option(func: F) -> F:
    """`--runtime-request-timeout`: the kubelet's CRI timeout, the cost of one hung call."""
    return click.option(
        "--runtime-request-timeout",
        type=Duration(),
        default="2m",
        show_default=True,
        help="The kubelet's --runtime-request-timeout: the cost of one hung CRI call.",
    )(func)


def cause_options(func: F) -> F:
    """`--select`, `--ignore` (cause ids) and `--runtime-request-timeout`."""
    from pleg_doctor.core.causes import CAUSE_IDS

    decorators = [
        click.option(
            "--select",
            multiple=True,
            type=click.Choice(CAUSE_IDS),
            metavar="CAUSE_ID",
            help="Only score these cause ids (repeatable; see the README for the list).",
        ),
        click.option(
            "--ignore",
            multiple=True,
            type=click.Choice(CAUSE_IDS),
            metavar="CAUSE_ID",
            help="Do not score these cause ids (repeatable).",
        ),
        runtime_timeout_option,
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def output_options(func: F) -> F:
    """`-o table|json` and the `cause_options`."""
    func = cause_options(func)
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="Report format: a readable table, or JSON (schema pleg-doctor/v1).",
    )(func)


def common_options(func: F) -> F:
    """`--debug`."""
    return click.option(
        "--debug",
        is_flag=True,
        help="Show tracebacks and request-level detail on stderr (secrets are never shown).",
    )(func)


def metrics_timeout_option(default: str | None, help_default: str) -> Callable[[F], F]:
    """`--metrics-timeout`: how long to wait for a live `/metrics` (the kubelet holds it while
    the runtime hangs, up to the 2-minute CRI timeout); `--timeout` still bounds every other
    request. `default` None means `--timeout`."""
    return click.option(
        "--metrics-timeout",
        type=Duration(),
        default=default,
        show_default=help_default,
        help="How long to wait for a live /metrics: a kubelet whose runtime hangs answers it "
        "only at the 2-minute CRI timeout, while /healthz answers at once.",
    )


def source_options(func: F) -> F:
    """The live-source options shared by diagnose, check, watch and capture (CONTRACT.md)."""
    decorators = [
        click.option(
            "--kubelet",
            metavar="HOST[:PORT]|URL",
            help="Scrape the kubelet directly (https, port 10250, /metrics). RBAC: get nodes/metrics.",
        ),
        click.option(
            "--token", metavar="TOKEN", help="Bearer token for --kubelet (prefer --token-file)."
        ),
        click.option(
            "--token-file", metavar="FILE", help="File holding the bearer token for --kubelet."
        ),
        click.option(
            "--cacert",
            metavar="FILE",
            help="CA bundle that signed the kubelet's serving certificate.",
        ),
        click.option("--client-cert", metavar="FILE", help="Client certificate for --kubelet."),
        click.option("--client-key", metavar="FILE", help="Key of --client-cert."),
        click.option(
            "--insecure-skip-tls-verify",
            is_flag=True,
            help="Do not verify the kubelet's certificate (a warning is printed).",
        ),
        click.option(
            "--node",
            metavar="NAME",
            help="Scrape through the API server proxy with the kubeconfig. RBAC: get nodes/proxy.",
        ),
        click.option(
            "--kubeconfig",
            metavar="FILE",
            help="Kubeconfig for --node (else KUBECONFIG, ~/.kube/config).",
        ),
        click.option("--context", metavar="NAME", help="Kubeconfig context for --node."),
        click.option(
            "--timeout",
            type=Duration(),
            default="10s",
            show_default=True,
            help="Per-request timeout of live sources.",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def source_options_from(files: Sequence[str], demo: bool, params: dict[str, Any]) -> SourceOptions:
    """The `SourceOptions` of FILEs, `--demo` and the `source_options` (popped from `params`)."""
    from pleg_doctor.sources.options import SourceOptions

    return SourceOptions(
        files=tuple(files),
        demo=demo,
        kubelet=params.pop("kubelet"),
        token=params.pop("token"),
        token_file=params.pop("token_file"),
        cacert=params.pop("cacert"),
        client_cert=params.pop("client_cert"),
        client_key=params.pop("client_key"),
        insecure_skip_tls_verify=params.pop("insecure_skip_tls_verify"),
        node=params.pop("node"),
        kubeconfig=params.pop("kubeconfig"),
        context=params.pop("context"),
        timeout=params.pop("timeout"),
    )


class KnobChange(click.ParamType):  # type: ignore[type-arg]
    """`--set KNOB=VALUE` for `model`: a number, with a unit for latencies (`5ms`, `2s`)."""

    name = "knob=value"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, float]:
        from pleg_doctor.core.whatif import KNOBS

        knob, sep, raw = str(value).partition("=")
        knob = knob.strip().replace("-", "_")
        if not sep or knob not in KNOBS:
            self.fail(f"{value!r}: want KNOB=VALUE with KNOB one of {', '.join(KNOBS)}", param, ctx)
        number = Duration().convert(raw, param, ctx) if raw.strip()[-1:].isalpha() else None
        if number is None:
            try:
                number = float(raw)
            except ValueError:
                self.fail(f"{value!r}: {raw!r} is not a number", param, ctx)
        if number < 0:
            self.fail(f"{value!r}: must not be negative", param, ctx)
        return knob, number
