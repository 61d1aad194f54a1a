"""The options and parameter types the commands share: one vocabulary (docs/output.md#options).

`-o/--output` is always the output format; `--window` is always the time between two scrapes;
an endpoint's credentials are `--<endpoint>-token-file` (or `--<endpoint>-token`); durations take
a unit where the kubelet's own setting does (`--runtime-request-timeout 2m`). Old spellings stay
as hidden aliases that say the new one on stderr (`deprecated_alias`). A new command takes its
options from here.

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


_GO_DURATION = r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$"
_GO_PART = r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)"
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class KubeletDuration(click.ParamType):  # type: ignore[type-arg]
    """A Go duration as the kubelet's own flags take it (`2m`, `1m30s`, `500ms`) → float seconds.

    A bare number is refused, as the kubelet refuses it: `--runtime-request-timeout 2` means 2 s
    to nobody who copied it from a kubelet config.
    """

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip()
        if not re.match(_GO_DURATION, text):
            hint = f" (did you mean {text}s or {text}m?)" if _DURATION_RE.match(text) else ""
            self.fail(
                f"{value!r} is not a duration with a unit, as the kubelet takes it (e.g. 2m, "
                f"90s){hint}",
                param,
                ctx,
            )
        seconds = sum(float(n) * _GO_UNITS[unit] for n, unit in re.findall(_GO_PART, text))
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


class KubeletVersion(click.ParamType):  # type: ignore[type-arg]
    """A Kubernetes version (`v1.28`, `1.28.3`, `v1.21.2-eks-0389ca3`); anything else is refused."""

    name = "version"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from pleg_doctor.core.versions import parse_version

        text = str(value).strip()
        parsed = parse_version(text)
        if parsed is None or parsed[0] != 1:
            self.fail(f"{value!r} is not a kubelet version (e.g. v1.28 or 1.28.3)", param, ctx)
        return text if text.startswith("v") else f"v{text}"


def output_format_option(
    help_text: str, *, choices: Sequence[str] = ("table", "json", "yaml"), default: str = "table"
) -> Callable[[F], F]:
    """`-o/--output FORMAT`: what is printed on stdout (never a file name; docs/output.md)."""

    def decorate(func: F) -> F:
        return click.option(
            "-o",
            "--output",
            "output",
            type=click.Choice(list(choices)),
            default=default,
            show_default=True,
            help=help_text,
        )(func)

    return decorate


def stacked(func: F, decorators: Sequence[Callable[[F], F]]) -> F:
    """`func` decorated by each of `decorators`, the first outermost (as if written in order)."""
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def runtime_timeout_option(func: F) -> F:
    """`--runtime-request-timeout`: the kubelet's CRI timeout, the cost of one hung call."""
    return click.option(
        "--runtime-request-timeout",
        type=KubeletDuration(),
        default="2m",
        show_default=True,
        help="The kubelet's --runtime-request-timeout (with a unit, as the kubelet takes it): "
        "the cost of one hung CRI call.",
    )(func)


def was_given(ctx: click.Context, name: str) -> bool:
    """Whether parameter `name` came from the command line or the environment (not a default)."""
    from click.core import ParameterSource

    return ctx.get_parameter_source(name) in (
        ParameterSource.COMMANDLINE,
        ParameterSource.ENVIRONMENT,
    )


def deprecated_alias(old: str, new: str, dest: str, **attrs: Any) -> Callable[[F], F]:
    """The old spelling `old` of option `new`, hidden from --help: it keeps working, and says the
    new spelling in one line on stderr. The command reads both with `aliased`."""

    def note(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if param.name is not None and was_given(ctx, param.name):
            from pleg_doctor.commands import console

            console.deprecated(old, new)
        return value

    def decorate(func: F) -> F:
        return click.option(old, dest, hidden=True, callback=note, **attrs)(func)

    return decorate


def aliased(ctx: click.Context, new: str, old: str, *, flags: tuple[str, str]) -> Any:
    """The value of parameter `new`, or of its deprecated alias `old` when only that was given;
    both given with different values is a usage error (`flags` name them)."""
    from pleg_doctor.errors import UsageError

    if not was_given(ctx, old):
        return ctx.params[new]
    if was_given(ctx, new) and ctx.params[new] != ctx.params[old]:
        raise UsageError(f"{flags[0]} and {flags[1]} disagree: give {flags[0]} only")
    return ctx.params[old]


def window_option(help_text: str, default: str | None = None) -> Callable[[F], F]:
    """`--window DURATION`: the time between two scrapes (diagnose, watch, capture)."""

    def decorate(func: F) -> F:
        return click.option(
            "--window",
            type=Duration(),
            default=default,
            show_default=default is not None,
            help=help_text,
        )(func)

    return decorate


def journal_options(func: F) -> F:
    """`--journal`, `--since`, `--unit`, `--journal-timeout`: the kubelet's journal on the node
    (`logs`, `diagnose`); `journal_reader` checks them."""
    decorators = [
        click.option(
            "--journal",
            is_flag=True,
            help="Read `journalctl -u kubelet` on this node (root or the systemd-journal group).",
        ),
        click.option(
            "--since",
            metavar="TIME",
            help="With --journal: journalctl --since (default -2h; e.g. -30min, '2026-11-27 10:00').",
        ),
        click.option(
            "--unit",
            metavar="UNIT",
            help="With --journal: the systemd unit (default kubelet; k3s, k3s-agent, ...).",
        ),
        click.option(
            "--journal-timeout",
            type=Duration(),
            default="60s",
            show_default=True,
            help="With --journal: give up on journalctl after this long.",
        ),
    ]
    return stacked(func, decorators)


def check_journal_options(*, journal: bool, since: str | None, unit: str | None) -> None:
    """`--since` and `--unit` without `--journal` are a usage error (they would be ignored)."""
    from pleg_doctor.errors import UsageError

    if not journal and (since is not None or unit is not None):
        raise UsageError("--since and --unit apply to --journal")


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
    return stacked(func, decorators)


def output_options(func: F) -> F:
    """`-o table|json|yaml` and the `cause_options`."""
    func = cause_options(func)
    return output_format_option(
        "Report format: a readable table, or the document of schema pleg-doctor/v1 as JSON or YAML."
    )(func)


def top_option(func: F) -> F:
    """`--top N` of the ranked reports (`fleet`, `scan`)."""
    return click.option(
        "--top",
        type=click.IntRange(min=1),
        metavar="N",
        help="List only the N worst nodes (the summary still counts every node).",
    )(func)


def exit_zero_option(func: F) -> F:
    """`--exit-zero` of the ranked reports: exit 0 whatever the verdicts."""
    return click.option(
        "--exit-zero", is_flag=True, help="Exit 0 whatever the verdicts (scripts that want JSON)."
    )(func)


def common_options(func: F) -> F:
    """`--debug`."""
    return click.option(
        "--debug",
        is_flag=True,
        help="Show tracebacks and request-level detail on stderr (secrets are never shown).",
    )(func)


def metrics_timeout_option(default: str | None = None) -> Callable[[F], F]:
    """`--metrics-timeout DURATION`: how long to wait for a live `/metrics` (the kubelet holds it
    while the runtime hangs, up to the 2-minute CRI timeout); `--timeout` still bounds every
    other request. `default` None means `--timeout` (`check`: a cron run ends in bounded time)."""
    help_text = (
        "How long to wait for a live /metrics: a kubelet whose runtime hangs answers it only at "
        "the 2-minute CRI timeout, while /healthz answers at once."
    )
    return click.option(
        "--metrics-timeout",
        type=Duration(),
        default=default,
        show_default=default is not None,
        help=help_text if default is not None else f"{help_text} (default: --timeout)",
    )


def source_options(func: F) -> F:
    """The live-source options shared by diagnose, check, watch and capture (docs/output.md#options)."""
    decorators = [
        click.option(
            "--kubelet",
            metavar="HOST[:PORT]|URL",
            help="Scrape the kubelet directly (https, port 10250, /metrics). RBAC: get nodes/metrics.",
        ),
        click.option(
            "--kubelet-token-file",
            metavar="FILE",
            help="File holding the bearer token for --kubelet.",
        ),
        click.option(
            "--kubelet-token",
            metavar="TOKEN",
            help="Bearer token for --kubelet (prefer --kubelet-token-file: ps shows arguments).",
        ),
        deprecated_alias("--token", "--kubelet-token", "old_token", metavar="TOKEN"),
        deprecated_alias("--token-file", "--kubelet-token-file", "old_token_file", metavar="FILE"),
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
            help="Deadline of each request to a live source, all of it: connect, headers, body.",
        ),
    ]
    return stacked(func, decorators)


_NODE_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""A Kubernetes node name: a DNS subdomain (RFC 1123), as the API server accepts it."""
_DUMP_SUFFIXES = (".prom", ".txt", ".gz", ".log", ".metrics", ".json", ".om")
"""Names that are dump files even when missing: a typo of `node.prom` is no node."""


def looks_like_node_name(text: str) -> bool:
    """Whether `text` could name a Node: a DNS subdomain that is no dump file's name."""
    return (
        len(text) <= 253
        and re.match(_NODE_NAME, text) is not None
        and not text.endswith(_DUMP_SUFFIXES)
    )


def node_from_arguments(
    files: Sequence[str], node: str | None, *, kubectl_plugin: bool
) -> tuple[tuple[str, ...], str | None]:
    """(FILEs, `--node`) once a NODE argument is told from a FILE (`kubectl pleg-doctor
    diagnose worker-3`).

    An argument that is no file here and looks like a node name is the node. As a kubectl
    plugin, an existing file whose name also looks like a node name is ambiguous: a usage error
    that says how to say which (`./NAME` or `--node NAME`); as `pleg-doctor`, the file wins, as
    it always did.
    """
    import os

    from pleg_doctor.errors import UsageError

    # NOTE: existence first: `check FILE` on every node every minute need not match a regex.
    missing = [f for f in files if f != "-" and not os.path.exists(f) and looks_like_node_name(f)]
    if kubectl_plugin:
        both = [f for f in files if os.path.exists(f) and looks_like_node_name(f)]
        if both:
            raise UsageError(
                f"{both[0]} is a file here and could be a node: pass ./{both[0]} for the file, "
                f"or --node {both[0]} for the node"
            )
    if not missing:
        return tuple(files), node
    name = missing[0]
    if len(files) > 1:
        raise UsageError(
            f"{name} is not a file here; as a node it cannot be read with other arguments: "
            f"give --node {name} alone, or dump FILEs that exist"
        )
    if node is not None and node != name:
        raise UsageError(f"NODE {name} and --node {node} disagree: give one")
    if not kubectl_plugin:
        from pleg_doctor.commands import console

        console.note(f"{name} is not a file here: reading it as --node {name}")
    return (), name


def source_options_from(files: Sequence[str], demo: bool, params: dict[str, Any]) -> SourceOptions:
    """The `SourceOptions` of FILEs (or a NODE among them), `--demo` and the `source_options`
    (popped from `params`)."""
    from pleg_doctor.sources.options import SourceOptions

    ctx = click.get_current_context()
    obj = ctx.find_object(dict) or {}
    files, node = node_from_arguments(
        files, params.pop("node"), kubectl_plugin=bool(obj.get("kubectl_plugin"))
    )
    token = aliased(ctx, "kubelet_token", "old_token", flags=("--kubelet-token", "--token"))
    token_file = aliased(
        ctx, "kubelet_token_file", "old_token_file", flags=("--kubelet-token-file", "--token-file")
    )
    for name in ("kubelet_token", "old_token", "kubelet_token_file", "old_token_file"):
        params.pop(name)
    return SourceOptions(
        files=tuple(files),
        demo=demo,
        kubelet=params.pop("kubelet"),
        token=token,
        token_file=token_file,
        cacert=params.pop("cacert"),
        client_cert=params.pop("client_cert"),
        client_key=params.pop("client_key"),
        insecure_skip_tls_verify=params.pop("insecure_skip_tls_verify"),
        node=node,
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
        if knob == "runtime_request_timeout":
            # the kubelet's own setting: a unit, as the kubelet takes it (2m, not 2)
            return knob, KubeletDuration().convert(raw, param, ctx)
        number = Duration().convert(raw, param, ctx) if raw.strip()[-1:].isalpha() else None
        if number is None:
            try:
                number = float(raw)
            except ValueError:
                self.fail(f"{value!r}: {raw!r} is not a number", param, ctx)
        if number < 0:
            self.fail(f"{value!r}: must not be negative", param, ctx)
        return knob, number
