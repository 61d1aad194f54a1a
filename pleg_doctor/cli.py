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
        from pleg_doctor.exposition import parse_rfc3339

        parsed = parse_rfc3339(text)
        if parsed is None:
            self.fail(
                f"{value!r} is not a time (RFC 3339 like 2026-11-27T10:00:00Z, or Unix seconds)",
                param,
                ctx,
            )
        return parsed


def output_options(func: F) -> F:
    """`-o`, `--exit-zero`, `--select`, `--ignore`, `--runtime-request-timeout`."""
    from pleg_doctor.causes import CAUSE_IDS

    decorators = [
        click.option(
            "-o",
            "--output",
            "output",
            type=click.Choice(["table", "json"]),
            default="table",
            show_default=True,
            help="Report format: a readable table, or JSON (schema pleg-doctor/v1).",
        ),
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
        click.option(
            "--runtime-request-timeout",
            type=Duration(),
            default="2m",
            show_default=True,
            help="The kubelet's --runtime-request-timeout: the cost of one hung CRI call.",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


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


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("files", nargs=-1, metavar="[FILE]...")
@click.option("--demo", is_flag=True, help="Diagnose a bundled real kubelet dump (v1.21.2, EKS).")
@click.option(
    "--at",
    type=Timestamp(),
    help="Capture time of a dump that has no capture header (RFC 3339 or Unix seconds).",
)
@output_options
@click.option(
    "--exit-zero", is_flag=True, help="Exit 0 whatever the verdict (scripts that want JSON)."
)
@common_options
def diagnose(
    files: tuple[str, ...],
    demo: bool,
    at: dt.datetime | None,
    output: str,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    runtime_request_timeout: float,
    exit_zero: bool,
    debug: bool,
) -> None:
    """Full report for one node: verdict, headroom, relist figures, ranked causes.

    FILE is a saved kubelet /metrics dump (text or OpenMetrics, .gz ok, - for stdin). Two or
    more dumps of one node are diagnosed as a window between the earliest and the latest.

    \b
    Example:
      pleg-doctor diagnose --demo
      kubectl get --raw /api/v1/nodes/$NODE/proxy/metrics > a.prom; sleep 30
      kubectl get --raw /api/v1/nodes/$NODE/proxy/metrics > b.prom
      pleg-doctor diagnose a.prom b.prom
    """
    console.setup_logging(debug)
    dumps = _file_sources(files, demo)
    if at is not None and len(dumps) > 1:
        raise UsageError("--at applies to a single dump; several dumps need capture headers")
    report = _diagnose_sources(
        dumps,
        at=at,
        runtime_request_timeout=runtime_request_timeout,
        select=select,
        ignore=ignore,
    )
    _emit(report, output)
    if report.verdict == "unknown":
        for reason in report.reasons:
            console.error(reason)
    code = ExitCode.UNKNOWN if report.verdict == "unknown" else report.exit_code
    sys.exit(0 if exit_zero and code != ExitCode.UNKNOWN else int(code))


def _file_sources(files: Sequence[str], demo: bool) -> list[Any]:
    from pleg_doctor.sources.files import DemoSource, FileSource

    if demo and files:
        raise UsageError("--demo takes no FILE: it diagnoses the bundled dump")
    if demo:
        return [DemoSource()]
    if not files:
        raise UsageError(
            "no source given: pass a dump FILE (- for stdin), --demo, "
            "--kubelet HOST (the kubelet on :10250) or --node NAME (through the API server)",
        )
    if files.count("-") > 1:
        raise UsageError("standard input (-) can be given only once")
    return [FileSource(path) for path in files]


def _diagnose_sources(
    sources: Sequence[Any],
    *,
    at: dt.datetime | None,
    runtime_request_timeout: float,
    select: Sequence[str],
    ignore: Sequence[str],
) -> Any:
    from pleg_doctor.pipeline import snapshot_from_dump, window_from_snapshots
    from pleg_doctor.report import SourceInfo, diagnose

    snapshots = []
    kinds = []
    for source in sources:
        dump = source.fetch()
        kinds.append(dump.kind)
        snapshots.append(snapshot_from_dump(dump, at=at))
    window = window_from_snapshots(snapshots)
    location = " ".join(s.location for s in sources)
    return diagnose(
        window,
        source=SourceInfo(kind=kinds[-1], location=location),
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
