"""The click application: thin commands (build the source → call the core → render → exit).

Exit codes are Nagios' for every command (ARCHITECTURE.md decision 1): click's usage errors are
mapped to 3 (UNKNOWN), never 2, which every monitoring system reads as CRITICAL.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import click

from pleg_doctor import __version__, console
from pleg_doctor.errors import PlegDoctorError, UsageError
from pleg_doctor.exitcodes import ExitCode

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


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="pleg-doctor")
def cli() -> None:
    """How close is this node to "PLEG is not healthy", why, and what to do next.

    pleg-doctor reads the kubelet's Prometheus metrics (a saved dump, the kubelet on :10250, the
    API server proxy, or Prometheus for a whole fleet), runs a reference model of the kubelet's
    PLEG relist loop, and ranks the likely causes with evidence and the next command to run.

    \b
    Example:
      pleg-doctor diagnose --demo
      pleg-doctor diagnose node-a.prom node-a-30s-later.prom -o json
    """


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


def _source_options(files: Sequence[str], demo: bool, params: dict[str, Any]) -> Any:
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


def _build_sources(options: Any, *, live_only: bool = False) -> list[Any]:
    from pleg_doctor.sources.options import build_sources

    sources = build_sources(options, live_only=live_only)
    for source in sources:
        if getattr(source, "must_warn_insecure", False):
            console.warn(
                f"TLS verification is off for {source.location}: anyone on the path can impersonate it"
            )
    return sources


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("files", nargs=-1, metavar="[FILE]...")
@click.option("--demo", is_flag=True, help="Diagnose a bundled real kubelet dump (v1.21.2, EKS).")
@source_options
@click.option(
    "--window",
    type=Duration(),
    help="With a live source: two scrapes this far apart (e.g. 30s), diagnosed as a window.",
)
@click.option(
    "--at",
    type=Timestamp(),
    help="Capture time of a dump that has no capture header (RFC 3339 or Unix seconds).",
)
@output_options
@click.option(
    "--explain",
    is_flag=True,
    help="Also show the model's arithmetic: each term, its formula and the metrics it came from.",
)
@click.option(
    "--logs",
    "log_files",
    multiple=True,
    metavar="FILE",
    help="Kubelet log (journalctl output, klog, .gz; repeatable): its culprits join the causes.",
)
@click.option(
    "--journal",
    is_flag=True,
    help="On the node: read `journalctl -u kubelet` (see --since) and add its culprits.",
)
@click.option(
    "--since",
    default="-2h",
    show_default=True,
    metavar="TIME",
    help="With --journal: how far back to read (journalctl --since).",
)
@click.option(
    "--exit-zero", is_flag=True, help="Exit 0 whatever the verdict (scripts that want JSON)."
)
@common_options
def diagnose(
    files: tuple[str, ...],
    demo: bool,
    window: float | None,
    at: dt.datetime | None,
    output: str,
    explain: bool,
    log_files: tuple[str, ...],
    journal: bool,
    since: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    runtime_request_timeout: float,
    exit_zero: bool,
    debug: bool,
    **source: Any,
) -> None:
    """Full report for one node: verdict, headroom, relist figures, ranked causes.

    FILE is a saved kubelet /metrics dump (text or OpenMetrics, .gz ok, - for stdin). Two or
    more dumps of one node are diagnosed as a window between the earliest and the latest. A live
    source (--kubelet, --node) is scraped once (lifetime counters) or, with --window, twice.

    \b
    Example:
      pleg-doctor diagnose --demo
      pleg-doctor diagnose a.prom b.prom            # two dumps = a window
      pleg-doctor diagnose --node worker-3 --window 30s
      pleg-doctor diagnose --kubelet 10.0.0.7 --token-file /var/run/secrets/token -o json
    """
    console.setup_logging(debug)
    options = _source_options(files, demo, source)
    sources = _build_sources(options)
    if at is not None and (len(sources) > 1 or options.is_live):
        raise UsageError("--at applies to a single saved dump without a capture header")
    if window is not None and not options.is_live:
        raise UsageError(
            "--window needs a live source (--kubelet or --node); for dumps give two files"
        )
    snapshots = _scrape(sources, window=window, at=at)
    report = _diagnose_snapshots(
        snapshots,
        sources,
        runtime_request_timeout=runtime_request_timeout,
        select=select,
        ignore=ignore,
    )
    if log_files or journal:
        report = _with_kubelet_log(report, log_files, journal=journal, since=since)
    if options.node is not None:
        report = _with_node_view(report, options)
    _emit(report, output)
    if explain and output == "table":
        from pleg_doctor.render.model import render_explain

        sys.stdout.write(
            render_explain(
                report,
                color=console.wants_color(sys.stdout),
                width=console.terminal_width(sys.stdout),
            )
        )
    if report.verdict == "unknown":
        for reason in report.reasons:
            console.error(reason)
    code = ExitCode.UNKNOWN if report.verdict == "unknown" else report.exit_code
    sys.exit(0 if exit_zero and code != ExitCode.UNKNOWN else int(code))


def _with_kubelet_log(report: Any, files: Sequence[str], *, journal: bool, since: str) -> Any:
    """The report with the kubelet log's culprits merged into its causes (issue 7).

    The log names what metrics cannot: which container or sandbox hangs its status calls. Its
    findings join the metric findings of the same cause id (`logs.merge_findings`); the verdict
    stays the metrics' own, and the notes say what the log showed.
    """
    import dataclasses

    from pleg_doctor.logs import JournalReader, LogReader, analyze_logs, culprit_findings
    from pleg_doctor.logs.evidence import merge_findings

    if journal and files:
        raise UsageError("give --logs FILE or --journal, not both")
    reader: Any
    if journal:
        reader = JournalReader(since=since)
    else:
        reader = LogReader(list(files))
        reader.check()
    captured = report.window.last.captured_at
    year = (
        dt.datetime.fromtimestamp(captured, tz=dt.timezone.utc).year
        if captured is not None
        else dt.datetime.now().year
    )
    result = analyze_logs(reader, default_year=year)
    periods = result.unhealthy_periods
    summary = (
        f"kubelet log ({result.lines_read:,} lines, {result.kubelet_lines:,} from the kubelet): "
        f"{len(periods)} PLEG-unhealthy period(s), {result.not_ready_transitions} NotReady "
        f"transition(s), {len(result.culprits)} culprit(s)"
    )
    if result.culprits:
        top = result.culprits[0]
        summary += f"; most errors: {top.kind} {top.pod or (top.id or '')[:13]} ({top.operation})"
    return dataclasses.replace(
        report,
        causes=merge_findings(report.causes, culprit_findings(result)),
        notes=(*report.notes, summary, *(f"kubelet log: {n}" for n in result.notes[:5])),
    )


def _with_node_view(report: Any, options: Any) -> Any:
    """The report with what the control plane saw: the Node's Ready condition and events.

    Reading them needs `get nodes` and `list events`; when that fails the report says so in a
    note instead of failing the whole diagnosis (the metrics already answered).
    """
    import dataclasses

    from pleg_doctor.errors import SourceError
    from pleg_doctor.sources.nodestatus import fetch_node_view, node_evidence

    try:
        view = fetch_node_view(
            options.node,
            kubeconfig=options.kubeconfig,
            context=options.context,
            timeout=options.timeout,
        )
    except (SourceError, UsageError) as exc:
        return dataclasses.replace(
            report, notes=(*report.notes, f"Node condition not read: {exc.message}")
        )
    lines = tuple(f"control plane: {e.metric} = {e.value}: {e.note}" for e in node_evidence(view))
    return dataclasses.replace(report, notes=(*report.notes, *lines, *view.notes))


def _scrape(sources: Sequence[Any], *, window: float | None, at: dt.datetime | None) -> list[Any]:
    """Fetch and parse: every file once, or a live source once or twice `window` apart."""
    from pleg_doctor.sources.scrape import snapshot_from_dump

    snapshots = [snapshot_from_dump(source.fetch(), at=at) for source in sources]
    if window is not None:
        _wait(window, f"second scrape of {sources[0].location}")
        snapshots.append(snapshot_from_dump(sources[0].fetch()))
    return snapshots


def _wait(seconds: float, what: str) -> None:
    """Sleep `seconds`, with a countdown on stderr when it is a terminal (one line otherwise)."""
    import time

    if not sys.stderr.isatty():
        sys.stderr.write(f"pleg-doctor: waiting {seconds:g} s for the {what}\n")
        time.sleep(seconds)
        return
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        sys.stderr.write(f"\rpleg-doctor: {left:4.0f} s until the {what} ")
        sys.stderr.flush()
        time.sleep(min(1.0, left))
    sys.stderr.write("\r" + " " * 70 + "\r")


def _diagnose_snapshots(
    snapshots: Sequence[Any],
    sources: Sequence[Any],
    *,
    runtime_request_timeout: float,
    select: Sequence[str],
    ignore: Sequence[str],
) -> Any:
    from pleg_doctor.core.report import SourceInfo, diagnose
    from pleg_doctor.core.snapshot import window_from_snapshots

    window = window_from_snapshots(snapshots)
    kind = getattr(sources[0], "kind", None) or (
        "demo" if len(sources) == 1 and "bundled" in sources[0].location else "file"
    )
    return diagnose(
        window,
        source=SourceInfo(kind=kind, location=" ".join(s.location for s in sources)),
        runtime_request_timeout_seconds=runtime_request_timeout,
        select=select or None,
        ignore=ignore,
    )


def _emit(report: Any, output: str) -> None:
    from pleg_doctor.render import OutputFormat

    fmt = OutputFormat(output)
    color = fmt is OutputFormat.TABLE and console.wants_color(sys.stdout)
    width = console.terminal_width(sys.stdout) if fmt is OutputFormat.TABLE else None
    renderer = fmt.to_renderer(color=color, width=width)
    sys.stdout.write(renderer(report))
    sys.stdout.flush()


@cli.command(context_settings=CONTEXT_SETTINGS)
@source_options
@click.option(
    "-o",
    "--output",
    "output_path",
    required=True,
    metavar="FILE",
    help="Where to write the dump; a name ending in .gz is gzip-compressed.",
)
@click.option(
    "--count", type=click.IntRange(min=1), default=1, show_default=True, help="Dumps to take."
)
@click.option(
    "--every", type=Duration(), default="30s", show_default=True, help="Time between dumps."
)
@common_options
def capture(output_path: str, count: int, every: float, debug: bool, **source: Any) -> None:
    """Save the kubelet's /metrics with a capture header, for a later diagnose.

    The first line records when (the kubelet's own clock, from its HTTP Date header) and from
    where the dump was taken. With --count N, the files are numbered (a-001.prom, a-002.prom...)
    and `pleg-doctor diagnose a-*.prom` diagnoses the window they span.

    \b
    Example:
      pleg-doctor capture --node worker-3 -o worker-3.prom.gz
      pleg-doctor capture --kubelet 10.0.0.7 --token-file t -o w3.prom --count 3 --every 30s
    """
    console.setup_logging(debug)
    from pleg_doctor.capture import capture_path, write_capture

    options = _source_options((), False, source)
    (live,) = _build_sources(options, live_only=True)
    for index in range(count):
        if index:
            _wait(every, f"dump {index + 1} of {count}")
        path = capture_path(output_path, index, count)
        written = write_capture(live.fetch(), path)
        sys.stderr.write(f"pleg-doctor: wrote {written}\n")
    sys.exit(0)


@cli.command(context_settings=CONTEXT_SETTINGS)
@source_options
@click.option(
    "--interval", type=Duration(), default="5s", show_default=True, help="Time between scrapes."
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    help="Stop after this many refreshes (default: until Ctrl-C).",
)
@runtime_timeout_option
@common_options
def watch(
    interval: float, count: int | None, runtime_request_timeout: float, debug: bool, **source: Any
) -> None:
    """Live view: re-scrape every --interval, show headroom, relist trend, latency, top cause.

    Each refresh diagnoses the window since the previous scrape. On a terminal the screen
    updates in place; otherwise one line per refresh is printed (for logs and pipes).

    \b
    Example:
      pleg-doctor watch --node worker-3
      pleg-doctor watch --kubelet 127.0.0.1 --client-cert c.crt --client-key c.key --interval 2s
    """
    console.setup_logging(debug)
    options = _source_options((), False, source)
    (live,) = _build_sources(options, live_only=True)
    from pleg_doctor.watching import run_watch

    run_watch(
        live,
        interval=interval,
        count=count,
        runtime_request_timeout=runtime_request_timeout,
        diagnose_pair=lambda snaps: _diagnose_snapshots(
            snaps, [live], runtime_request_timeout=runtime_request_timeout, select=(), ignore=()
        ),
    )
    sys.exit(0)


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


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--from",
    "from_files",
    multiple=True,
    metavar="DUMP",
    help="Start from a node's measured figures (repeatable: two dumps = a window).",
)
@click.option(
    "--set",
    "changes",
    multiple=True,
    type=KnobChange(),
    help="Change one knob of the starting point, e.g. pods=300 (repeatable).",
)
@click.option(
    "--pods", type=click.FloatRange(min=0), default=30, show_default=True, help="Pods on the node."
)
@click.option(
    "--containers-per-pod",
    type=click.FloatRange(min=0),
    default=2,
    show_default=True,
    help="Running containers per pod.",
)
@click.option(
    "--exited-per-pod",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="Exited containers per pod (listed and inspected too).",
)
@click.option(
    "--sandboxes-per-pod",
    type=click.FloatRange(min=1),
    default=1,
    show_default=True,
    help="Sandboxes per pod (>1 after recreation).",
)
@click.option(
    "--churn",
    type=click.FloatRange(min=0),
    default=0.1,
    show_default=True,
    help="Pods changing (inspected) per relist.",
)
@click.option(
    "--list-podsandbox",
    type=Duration(),
    default="5ms",
    show_default=True,
    help="Latency of one ListPodSandbox.",
)
@click.option(
    "--list-containers",
    type=Duration(),
    default="5ms",
    show_default=True,
    help="Latency of one ListContainers.",
)
@click.option(
    "--podsandbox-status",
    type=Duration(),
    default="3ms",
    show_default=True,
    help="Latency of one PodSandboxStatus.",
)
@click.option(
    "--container-status",
    type=Duration(),
    default="3ms",
    show_default=True,
    help="Latency of one ContainerStatus.",
)
@click.option(
    "--hung-calls",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="CRI calls per relist that hang until the timeout.",
)
@runtime_timeout_option
@click.option(
    "--evented/--no-evented",
    default=False,
    show_default=True,
    help="EventedPLEG gate on (generic relist every 300 s, threshold 10 min).",
)
@click.option(
    "--kubelet-version",
    default="v1.33",
    show_default=True,
    help="Kubelet version (constants by era).",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@common_options
def model(
    from_files: tuple[str, ...],
    changes: tuple[tuple[str, float], ...],
    output: str,
    debug: bool,
    **knobs: Any,
) -> None:
    """What-if with the reference PLEG model, no cluster needed.

    Predicts the relist duration, the worst "PLEG last seen active" age, the headroom against
    the threshold, the hung CRI calls one relist absorbs and the pods at which the node would
    cross the threshold, plus how headroom moves as pods grow. Start from numbers given here, or
    from a node's dumps (--from) and change one knob (--set pods=300).

    \b
    Example:
      pleg-doctor model --pods 250 --churn 5 --container-status 40ms
      pleg-doctor model --hung-calls 1 --runtime-request-timeout 2m
      pleg-doctor model --from node.prom --set pods=300 -o json
    """
    console.setup_logging(debug)
    from pleg_doctor.core import whatif

    if from_files:
        from pleg_doctor.core.snapshot import window_from_snapshots
        from pleg_doctor.sources.files import FileSource
        from pleg_doctor.sources.scrape import snapshot_from_dump

        snapshots = [snapshot_from_dump(FileSource(path).fetch()) for path in from_files]
        try:
            scenario = whatif.scenario_from_window(window_from_snapshots(snapshots))
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    else:
        scenario = whatif.Scenario(
            pods=knobs["pods"],
            containers_per_pod=knobs["containers_per_pod"],
            exited_per_pod=knobs["exited_per_pod"],
            sandboxes_per_pod=knobs["sandboxes_per_pod"],
            churn=knobs["churn"],
            list_podsandbox_seconds=knobs["list_podsandbox"],
            list_containers_seconds=knobs["list_containers"],
            podsandbox_status_seconds=knobs["podsandbox_status"],
            container_status_seconds=knobs["container_status"],
            hung_calls=knobs["hung_calls"],
            runtime_request_timeout_seconds=knobs["runtime_request_timeout"],
            evented=knobs["evented"],
            kubelet_version=knobs["kubelet_version"],
        )
    if changes:
        scenario = whatif.with_changes(scenario, dict(changes))
    answer = whatif.evaluate_scenario(scenario)
    from pleg_doctor.render.model import render_whatif, render_whatif_json

    if output == "json":
        sys.stdout.write(render_whatif_json(answer))
    else:
        sys.stdout.write(
            render_whatif(
                answer,
                color=console.wants_color(sys.stdout),
                width=console.terminal_width(sys.stdout),
            )
        )
    sys.exit(0)


class _NagiosCommand(click.Command):
    """`check`: click's own errors (bad usage) also print the Nagios UNKNOWN line on stdout.

    Nagios reads only stdout and the exit code; `main()` still prints the error on stderr and
    exits 3, as for every command (usage errors are UNKNOWN, never click's 2 = CRITICAL).
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            from pleg_doctor.render.check import unknown_line

            sys.stdout.write(unknown_line(exc.format_message()) + "\n")
            sys.stdout.flush()
            raise


@cli.command(cls=_NagiosCommand, context_settings=CONTEXT_SETTINGS)
@click.argument("files", nargs=-1, metavar="[FILE]...")
@click.option("--demo", is_flag=True, help="Check the bundled real kubelet dump (v1.21.2, EKS).")
@source_options
@click.option(
    "--state",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Keep this run's scrape here; the next run diagnoses the window since it.",
)
@click.option(
    "--state-max-age",
    type=Duration(),
    default="1h",
    show_default=True,
    help="A previous run older than this is not used (single scrape, said in the notes).",
)
@click.option(
    "--textfile",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Write DIR/pleg_doctor.prom for node_exporter's textfile collector (atomic rename).",
)
@click.option(
    "--pushgateway", metavar="URL", help="Push the metrics to this Prometheus Pushgateway."
)
@click.option("--job", metavar="NAME", help="Pushgateway job label (default: pleg-doctor).")
@click.option(
    "--grouping-key",
    multiple=True,
    metavar="KEY=VALUE",
    help="Pushgateway grouping label (repeatable); node=<the node> is there by default.",
)
@click.option("--pushgateway-user", metavar="USER", help="Basic-auth user for --pushgateway.")
@click.option(
    "--pushgateway-password-file", metavar="FILE", help="File holding the basic-auth password."
)
@click.option(
    "--pushgateway-token-file",
    metavar="FILE",
    help="File holding a bearer token for --pushgateway.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["nagios", "json"]),
    default="nagios",
    show_default=True,
    help="One Nagios status line with perfdata, or the diagnose JSON (schema pleg-doctor/v1).",
)
@cause_options
@common_options
def check(
    files: tuple[str, ...],
    demo: bool,
    state: str | None,
    state_max_age: float,
    textfile: str | None,
    pushgateway: str | None,
    job: str | None,
    grouping_key: tuple[str, ...],
    pushgateway_user: str | None,
    pushgateway_password_file: str | None,
    pushgateway_token_file: str | None,
    output: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    runtime_request_timeout: float,
    debug: bool,
    **source: Any,
) -> None:
    """Cron / monitoring check: one Nagios line on stdout, exit code = verdict (0/1/2/3).

    Every error (bad usage, source down, bad dump, failed push) is a `PLEG UNKNOWN - reason` line
    and exit 3. With --state, each run diagnoses the window since the previous run. --textfile
    and --pushgateway publish pleg_doctor_* metrics; a failed source still writes
    pleg_doctor_up 0, and a failed delivery exits 3 so the job shows as failed.

    \b
    Example:
      pleg-doctor check --kubelet 127.0.0.1 --state /var/lib/pleg-doctor/state.json \\
          --textfile /var/lib/node_exporter/textfile_collector
      pleg-doctor check --kubelet $NODE_IP --pushgateway http://pushgateway:9091
      pleg-doctor check before.prom after.prom
    """
    console.setup_logging(debug)
    import dataclasses
    from pathlib import Path

    from pleg_doctor.render.check import check_line, unknown_line

    def say_unknown(reason: str) -> None:
        # -o json keeps stdout for JSON only: errors then go to stderr alone, as with diagnose.
        if output != "json":
            sys.stdout.write(unknown_line(reason) + "\n")
            sys.stdout.flush()

    try:
        from pleg_doctor.checking import parse_grouping_key, run_check
        from pleg_doctor.render import prom

        grouping = parse_grouping_key(grouping_key)
        target: prom.PushTarget | None = None
        if pushgateway is not None:
            target = prom.PushTarget(
                url=prom.pushgateway_url(pushgateway),
                job=job or prom.DEFAULT_JOB,
                grouping=grouping,
                auth=prom.push_auth(
                    user=pushgateway_user,
                    password_file=pushgateway_password_file,
                    token_file=pushgateway_token_file,
                ),
            )
        elif any(
            (job, grouping, pushgateway_user, pushgateway_password_file, pushgateway_token_file)
        ):
            raise UsageError(
                "--job, --grouping-key and --pushgateway-* only apply with --pushgateway URL"
            )
        options = _source_options(files, demo, source)
        sources = _build_sources(options)
        run = run_check(
            sources,
            diagnose=lambda snapshots: _diagnose_snapshots(
                snapshots,
                sources,
                runtime_request_timeout=runtime_request_timeout,
                select=select,
                ignore=ignore,
            ),
            state_path=Path(state) if state is not None else None,
            state_max_age=state_max_age,
            node_label=grouping.get("node"),
        )
        for warning in run.warnings:
            console.warn(warning)
        metrics = prom.CheckMetrics(node=run.node, report=run.report, ran_at=run.ran_at)
        problems: list[PlegDoctorError] = []
        if textfile is not None:
            try:
                prom.write_textfile(Path(textfile), metrics)
            except prom.MetricsDeliveryError as exc:
                problems.append(exc)
        if target is not None:
            try:
                target = dataclasses.replace(target, grouping={"node": run.node, **grouping})
                prom.push(target, metrics, timeout=options.timeout)
            except prom.MetricsDeliveryError as exc:
                problems.append(exc)
    except PlegDoctorError as exc:
        say_unknown(exc.message)
        raise
    except Exception as exc:
        say_unknown(f"internal error: {type(exc).__name__}: {exc}")
        raise

    report = run.report
    if report is None:
        assert run.error is not None
        say_unknown(run.error.message)
        console.error(str(run.error))
        if debug:
            traceback.print_exception(type(run.error), run.error, run.error.__traceback__)
    elif output == "json":
        _emit(report, "json")
    else:
        problem = problems[0].message if problems else None
        sys.stdout.write(check_line(report, problem=problem) + "\n")
        sys.stdout.flush()
    # A failed delivery exits 3: the diagnosis never reached the place monitoring reads, and
    # exiting with the verdict (0 on a healthy node) would make the broken pipeline look green.
    for problem_error in problems:
        console.error(str(problem_error))
    if report is not None and report.verdict == "unknown":
        for reason in report.reasons:
            console.error(reason)
    if report is None or problems or report.verdict == "unknown":
        sys.exit(int(ExitCode.UNKNOWN))
    sys.exit(report.exit_code)


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--prometheus",
    "prometheus_url",
    required=True,
    metavar="URL",
    help="Base URL of a Prometheus-compatible API: Prometheus or Thanos Query "
    "(http://host:9090), Mimir (.../prometheus), VictoriaMetrics (http://host:8428).",
)
@click.option(
    "--selector",
    # NOTE: the literal of sources.prometheus.DEFAULT_SELECTOR (importing it here would load
    # requests for every command); a test checks they agree.
    default='job="kubelet",metrics_path="/metrics"',
    show_default=True,
    help="Label matchers of the kubelets' /metrics series (kube-prometheus' default; other "
    'setups name the job differently, e.g. job="kubernetes-nodes").',
)
@click.option(
    "--range",
    "range_seconds",
    type=Duration(),
    default="5m",
    show_default=True,
    help="The window of the rates: increase() over it.",
)
@click.option(
    "--at",
    type=Timestamp(),
    help="Evaluate as of this moment (RFC 3339 or Unix seconds), e.g. after an incident.",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    metavar="N",
    help="List only the N worst nodes (the summary still counts every node).",
)
@click.option(
    "--prometheus-token", metavar="TOKEN", help="Bearer token (prefer --prometheus-token-file)."
)
@click.option(
    "--prometheus-token-file", metavar="FILE", help="File holding the bearer token (read per call)."
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="Extra request header, repeatable (e.g. 'X-Scope-OrgID: tenant-1' for Mimir). "
    "Values are never printed.",
)
@click.option("--cacert", metavar="FILE", help="CA bundle that signed the server's certificate.")
@click.option(
    "--insecure-skip-tls-verify",
    is_flag=True,
    help="Do not verify the server's certificate (a warning is printed).",
)
@click.option(
    "--timeout",
    type=Duration(),
    default="30s",
    show_default=True,
    help="Per API call (also the query's server-side timeout).",
)
@output_options
@click.option(
    "--exit-zero", is_flag=True, help="Exit 0 whatever the verdicts (scripts that want JSON)."
)
@common_options
def fleet(
    prometheus_url: str,
    selector: str,
    range_seconds: float,
    at: dt.datetime | None,
    top: int | None,
    prometheus_token: str | None,
    prometheus_token_file: str | None,
    headers: tuple[str, ...],
    cacert: str | None,
    insecure_skip_tls_verify: bool,
    timeout: float,
    output: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    runtime_request_timeout: float,
    exit_zero: bool,
    debug: bool,
) -> None:
    """Every node a Prometheus scrapes, ranked by PLEG headroom, with its top cause.

    A handful of PromQL instant queries for the whole fleet (never one per node), then the same
    model and causes as diagnose, per node. Exit code: the worst node's verdict (ranking:
    critical, warning, unknown, ok; then headroom).

    \b
    Example:
      pleg-doctor fleet --prometheus http://prometheus-k8s.monitoring:9090 --top 20
      pleg-doctor fleet --prometheus https://mimir.example/prometheus \\
          --header 'X-Scope-OrgID: prod' --prometheus-token-file token -o json
      pleg-doctor fleet --prometheus http://vm:8428 --selector 'job="kubernetes-nodes"' \\
          --at 2026-11-27T10:00:00Z --range 10m
    """
    console.setup_logging(debug)
    from pleg_doctor.core.fleet import diagnose_fleet
    from pleg_doctor.render.fleet import render_fleet_json, render_fleet_table
    from pleg_doctor.sources.prometheus import PrometheusSource, parse_header

    source = PrometheusSource(
        prometheus_url,
        selector=selector,
        token=prometheus_token,
        token_file=prometheus_token_file,
        headers=[parse_header(header) for header in headers],
        cacert=cacert,
        insecure_skip_tls_verify=insecure_skip_tls_verify,
        timeout=timeout,
    )
    if source.must_warn_insecure:
        console.warn(
            f"TLS verification is off for {source.location}: anyone on the path can impersonate it"
        )
    data = source.fetch_fleet(range_seconds=range_seconds, at=at)
    for warning in data.warnings:
        console.warn(f"Prometheus: {warning}")
    report = diagnose_fleet(
        data.nodes,
        prometheus=data.location,
        selector=data.selector,
        evaluated_at=data.evaluated_at,
        range_seconds=data.range_seconds,
        runtime_request_timeout_seconds=runtime_request_timeout,
        select=select or None,
        ignore=ignore,
    )
    if output == "json":
        sys.stdout.write(render_fleet_json(report, top=top))
    else:
        sys.stdout.write(
            render_fleet_table(
                report,
                top=top,
                color=console.wants_color(sys.stdout),
                width=console.terminal_width(sys.stdout),
            )
        )
    sys.stdout.flush()
    code = report.exit_code
    sys.exit(0 if exit_zero and code != ExitCode.UNKNOWN else code)


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("files", nargs=-1, metavar="[FILE]...")
@click.option(
    "--journal",
    is_flag=True,
    help="Read `journalctl -u kubelet` on this node (root or the systemd-journal group).",
)
@click.option(
    "--since",
    metavar="TIME",
    help="With --journal: journalctl --since (default -2h; e.g. -30min, '2026-11-27 10:00').",
)
@click.option(
    "--unit",
    metavar="UNIT",
    help="With --journal: the systemd unit (default kubelet; k3s, k3s-agent, ...).",
)
@click.option(
    "--journal-timeout",
    type=Duration(),
    default="60s",
    show_default=True,
    help="With --journal: give up on journalctl after this long.",
)
@click.option(
    "--year",
    type=click.IntRange(1970, 9999),
    help="Year of the log's first line (klog and journald print none). Default: a year the "
    "log states, else this year (the notes say so).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    help="Processes that read a large plain file (64 MiB and more) in parallel. "
    "Default: the CPUs, at most 4.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A readable report, or JSON (schema pleg-doctor/logs-v1).",
)
@click.option(
    "--exit-zero", is_flag=True, help="Exit 0 whatever the verdict (scripts that want JSON)."
)
@common_options
def logs(
    files: tuple[str, ...],
    journal: bool,
    since: str | None,
    unit: str | None,
    journal_timeout: float,
    year: int | None,
    jobs: int | None,
    output: str,
    exit_zero: bool,
    debug: bool,
) -> None:
    """Kubelet logs: the PLEG timeline and the culprits.

    Reads kubelet logs as journalctl prints them (default or -o short-precise; syslog files
    such as /var/log/messages), klog files (glog and structured), --logging-format=json, .gz
    files (by content), or - for stdin, streaming (a 1 GB log in bounded memory). Shows the
    periods PLEG was unhealthy (start, end, worst age, flapping), NotReady transitions, failed
    relists, discarded events, and the culprits: the containers, sandboxes and pods whose CRI
    calls failed or hit the timeout, resolved to namespace/pod where the log links them.

    Exit code: 2 when PLEG is still unhealthy at the end of the log, 1 for any other trouble
    (an unhealthy period, NotReady, a failed relist, a CRI timeout), 0 when the log is clean,
    3 when nothing in it is a kubelet line.

    \b
    Example:
      pleg-doctor logs --journal --since -6h
      pleg-doctor logs kubelet.log kubelet.log.1.gz -o json
      ssh worker-3 journalctl -u kubelet --since -1d | pleg-doctor logs -
    """
    console.setup_logging(debug)
    from pleg_doctor.logs import JournalReader, LogReader, analyze_logs

    if journal and files:
        raise UsageError("give log FILEs or --journal, not both")
    if not journal and (since is not None or unit is not None):
        raise UsageError("--since and --unit apply to --journal")
    if not journal and not files:
        raise UsageError(
            "no log given",
            hint="pleg-doctor logs FILE... (- for stdin), or --journal on the node",
        )
    if files.count("-") > 1:
        raise UsageError("standard input (-) can be given once")
    now = dt.datetime.now().astimezone()
    offset: int | None = None
    reader: Any
    if journal:
        reader = JournalReader(
            unit=unit or "kubelet", since=since or "-2h", timeout=journal_timeout
        )
        delta = now.utcoffset()
        offset = None if delta is None else int(delta.total_seconds() // 60)
    else:
        reader = LogReader(files, jobs=jobs)
        reader.check()
    result = analyze_logs(reader, default_year=now.year, year=year, utc_offset_minutes=offset)
    if output == "json":
        from pleg_doctor.render.logs import render_logs_json

        sys.stdout.write(render_logs_json(result))
    else:
        from pleg_doctor.render.logs import render_logs_table

        color = console.wants_color(sys.stdout)
        width = console.terminal_width(sys.stdout)
        sys.stdout.write(render_logs_table(result, color=color, width=width))
    sys.stdout.flush()
    verdict = result.verdict
    if verdict == "unknown":
        console.error(f"no kubelet log line found in {result.lines_read:,} line(s)")
        sys.exit(int(ExitCode.UNKNOWN))
    code = {"ok": ExitCode.OK, "warning": ExitCode.WARNING, "critical": ExitCode.CRITICAL}
    sys.exit(0 if exit_zero else int(code[verdict]))


@cli.command("probe-runtime", context_settings=CONTEXT_SETTINGS)
@click.option(
    "--crictl", default="crictl", show_default=True, metavar="PATH", help="The crictl to run."
)
@click.option(
    "--runtime-endpoint",
    metavar="URL",
    help="Passed to crictl (default: crictl's own config, /etc/crictl.yaml).",
)
@click.option(
    "--call-timeout",
    type=Duration(),
    default="10s",
    show_default=True,
    help="A call that takes longer is reported as hung (and its crictl process ended).",
)
@click.option(
    "--parallel",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Calls at a time.",
)
@click.option(
    "--slow",
    type=Duration(),
    default="1s",
    show_default=True,
    help="A call that takes this long or more is reported as slow.",
)
@click.option(
    "--top",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Answered calls to list, slowest first (hung and failed ones are always listed).",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A readable report, or JSON (schema pleg-doctor/probe-v1, every call).",
)
@common_options
def probe_runtime(
    crictl: str,
    runtime_endpoint: str | None,
    call_timeout: float,
    parallel: int,
    slow: float,
    top: int,
    output: str,
    debug: bool,
) -> None:
    """Time crictl inspect/inspectp on every container and sandbox of this node.

    Finds the container whose status call hangs: lists ids with `crictl ps -a -q` and `crictl
    pods -q`, then inspects each with a timeout, --parallel at a time, and reports the hung,
    failed and slowest calls with their pods. Read-only: it never stops or removes anything
    (it ends only its own crictl processes that outlive --call-timeout). Needs root (the
    runtime's socket).

    Exit code: 2 when a call hung, 1 when one was slow or failed, 0 otherwise, 3 when crictl
    cannot reach the runtime.

    \b
    Example:
      sudo pleg-doctor probe-runtime
      sudo pleg-doctor probe-runtime --call-timeout 5s --parallel 8 -o json
    """
    console.setup_logging(debug)
    from pleg_doctor.sources.crictl import probe_runtime as run_probe

    report = run_probe(
        crictl=crictl,
        runtime_endpoint=runtime_endpoint,
        call_timeout=call_timeout,
        parallel=parallel,
        slow_seconds=slow,
    )
    if output == "json":
        from pleg_doctor.render.probe import render_probe_json

        sys.stdout.write(render_probe_json(report))
    else:
        from pleg_doctor.render.probe import render_probe_table

        color = console.wants_color(sys.stdout)
        width = console.terminal_width(sys.stdout)
        sys.stdout.write(render_probe_table(report, top=top, color=color, width=width))
    sys.stdout.flush()
    sys.exit(int(report.exit_code))


def _fail(message: str, debug: bool) -> NoReturn:
    console.error(message)
    if debug:
        traceback.print_exc()
    sys.exit(int(ExitCode.UNKNOWN))


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI with Nagios exit codes; project errors become one line and exit 3."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="pleg-doctor", standalone_mode=False)
        sys.exit(0)  # --help and --version return here
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.stderr.write("pleg-doctor: interrupted\n")
        sys.exit(int(ExitCode.UNKNOWN))
    except click.ClickException as exc:
        # Usage errors included: exit 3, not click's 2 (2 means CRITICAL to monitoring).
        exc.show()
        sys.exit(int(ExitCode.UNKNOWN))
    except PlegDoctorError as exc:
        _fail(str(exc), debug)
    except KeyboardInterrupt:
        sys.stderr.write("pleg-doctor: interrupted\n")
        sys.exit(int(ExitCode.UNKNOWN))
    except BrokenPipeError:
        # `pleg-doctor ... | head`: the reader left; nothing more to say.
        sys.stderr.close()
        sys.exit(int(ExitCode.UNKNOWN))
    except Exception as exc:
        _fail(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)", debug)
