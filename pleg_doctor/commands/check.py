"""`check`: one Nagios line and an exit code per run, for cron and monitoring agents.

`run_check` is one run: scrape, rebuild the previous run from `--state` (`check_state`), diagnose,
save the state. A state file that cannot serve (unreadable, not JSON, another schema, another
node or source) is reported in one line on stderr and replaced by this run's; it never fails the
check, because a monitoring check that dies on its own cache is worse than one that diagnoses one
scrape. A previous run older than `--state-max-age` (default 1 h) is not used either: a window of
hours averages away what is happening now. The report's notes say which of these happened.

The click command adds the delivery: a Nagios line with perfdata (or the diagnose document as
JSON or YAML, or node-problem-detector's plugin message with `-o npd`), and the metrics for
node_exporter's textfile collector or a Pushgateway (`render.prom`).
"""

from __future__ import annotations

import dataclasses
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import click

from pleg_doctor.commands import console, pipeline
from pleg_doctor.commands.options import (
    CONTEXT_SETTINGS,
    Duration,
    cause_options,
    common_options,
    metrics_timeout_option,
    output_format_option,
    source_options,
    source_options_from,
)
from pleg_doctor.core.records import record
from pleg_doctor.errors import PlegDoctorError, UsageError
from pleg_doctor.exitcodes import ExitCode

if TYPE_CHECKING:
    from pathlib import Path

    from pleg_doctor.commands.check_state import SavedScrape
    from pleg_doctor.core.endpoints import ScrapeFacts
    from pleg_doctor.core.report import Report
    from pleg_doctor.core.snapshot import Snapshot
    from pleg_doctor.render.prom import PushTarget
    from pleg_doctor.sources.base import MetricsSource
    from pleg_doctor.sources.live import MetricsBlocked
    from pleg_doctor.sources.scrape import Scrape

DEFAULT_STATE_MAX_AGE_SECONDS = 3600.0
"""`--state-max-age`: one hour. A cron check runs every few minutes; a previous run older than
this means the check was down, and a window that long would hide the present."""

EVIDENCE_TIMEOUT_SECONDS = 2.0
"""The deadline of each request `check` makes after a live `/metrics` did not answer: the
`/healthz` probe, and with `--node` the Node's Ready condition (never more than `--timeout`).
A kubelet answers `/healthz`, and the API server a Node, in milliseconds; one that takes seconds
is itself the evidence (the kubelet is down or overloaded). So a cron run against a kubelet
whose `/metrics` blocks ends within `--metrics-timeout` (default `--timeout`) and 2 s, not twice
`--timeout` (docs/limits.md#deadlines)."""

LIVE_KINDS = frozenset({"kubelet", "apiserver"})
"""Sources whose location names one endpoint; a file source reads a new dump every run."""


@record(kw_only=True)
class CheckRun:
    """The outcome of one check run, for the CLI to render and deliver."""

    report: Report | None
    """None when the source failed (`error` says why)."""
    error: PlegDoctorError | None
    node: str
    """The `node` label of the metrics: never empty (`unknown` at worst)."""
    ran_at: float
    """Unix seconds, local clock, when the run started."""
    warnings: tuple[str, ...] = ()
    """One line each for stderr (an unusable or unwritable state file)."""


def run_check(
    sources: Sequence[MetricsSource],
    *,
    diagnose: Callable[[Sequence[Snapshot], ScrapeFacts | None], Report],
    blocked: Callable[[MetricsBlocked], Report] | None = None,
    patience: float | None = None,
    state_path: Path | None = None,
    state_max_age: float = DEFAULT_STATE_MAX_AGE_SECONDS,
    node_label: str | None = None,
    clock: Callable[[], float] = time.time,
) -> CheckRun:
    """Scrape `sources`, diagnose the window since the saved run, save this run.

    `diagnose` turns snapshots (the previous run's first when there is one) and how the live
    endpoints answered into a Report; the CLI passes its own, with the user's cause selection.
    A live `/metrics` is waited on for `patience` seconds (default: the source's timeout); when
    it does not answer while `/healthz` does, `blocked` turns that into the run's Report (the
    state is then kept as it was). `node_label` forces the metrics' node label (an explicit
    `--grouping-key node=NAME`). Source and parse errors (`PlegDoctorError`) become a `CheckRun`
    with `error` set; nothing else is caught.
    """

    ran_at = clock()
    warnings: list[str] = []
    saved: SavedScrape | None = None
    state_unusable: str | None = None
    if state_path is not None:
        from pleg_doctor.commands.check_state import StateProblem, load_state

        try:
            saved = load_state(state_path)
        except StateProblem as problem:
            state_unusable = str(problem)
    configured = _configured_source(sources)
    if saved is not None and not _same_source(saved, configured):
        state_unusable = (
            f"it holds {saved.kind} {saved.location}, not {configured[0]} {configured[1]}"
        )
        saved = None

    facts: ScrapeFacts | None = None
    try:
        scrapes, facts = _fetch(sources, patience)
    except PlegDoctorError as exc:
        if state_unusable is not None:
            warnings.append(_unusable_warning(state_path, state_unusable, replaced=False))
        node = node_label or _node_without_report(sources, saved)
        from pleg_doctor.sources.live import MetricsBlocked

        if blocked is not None and isinstance(exc, MetricsBlocked):
            report = blocked(exc)
            node = node_label or report.node or node
            return CheckRun(
                report=report, error=None, node=node, ran_at=ran_at, warnings=tuple(warnings)
            )
        return CheckRun(report=None, error=exc, node=node, ran_at=ran_at, warnings=tuple(warnings))

    latest = _latest(scrapes)
    notes: list[str] = []
    previous: Snapshot | None = None
    if state_path is not None:
        if saved is not None:
            previous, note, foreign = _usable_previous(
                saved, scrapes, state_path=state_path, max_age=state_max_age
            )
            if note:
                notes.append(note)
            if foreign is not None:
                state_unusable = foreign
        if state_unusable is not None:
            warnings.append(_unusable_warning(state_path, state_unusable, replaced=True))
            notes.append(
                f"state file {state_path} was unusable ({state_unusable}) and is replaced: "
                "single scrape"
            )
        elif saved is None:
            notes.append(
                f"first run with state file {state_path}: single scrape; the next run "
                "diagnoses the window since this one"
            )

    snapshots = [s.snapshot for s in scrapes]
    try:
        report = diagnose([previous, *snapshots] if previous is not None else snapshots, facts)
    except PlegDoctorError as exc:
        return CheckRun(
            report=None,
            error=exc,
            node=node_label or latest.snapshot.node or _node_without_report(sources, saved),
            ran_at=ran_at,
            warnings=tuple(warnings),
        )

    if state_path is not None:
        from pleg_doctor.commands.check_state import save_state, saved_from_scrape

        try:
            save_state(state_path, saved_from_scrape(latest), written_at=ran_at)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            warnings.append(
                f"cannot write state file {state_path} ({reason}): every run will diagnose "
                "a single scrape"
            )
            notes.append(f"state file {state_path} could not be written ({reason})")
    if notes:
        report = dataclasses.replace(report, notes=(*report.notes, *notes))
    node = node_label or report.node or _node_without_report(sources, saved)
    return CheckRun(report=report, error=None, node=node, ran_at=ran_at, warnings=tuple(warnings))


def _fetch(
    sources: Sequence[MetricsSource], patience: float | None
) -> tuple[list[Scrape], ScrapeFacts | None]:
    """Fetch and parse every source; a live one through `fetch_live` (its `/healthz` is asked
    when `/metrics` does not answer, and `MetricsBlocked` raised)."""
    from pleg_doctor.sources.scrape import scrape_from_dump

    if len(sources) == 1 and sources[0].kind in LIVE_KINDS:
        from pleg_doctor.sources.live import LiveSource, fetch_live

        dump, facts = fetch_live(
            cast("LiveSource", sources[0]),
            patience=patience,
            health_timeout=EVIDENCE_TIMEOUT_SECONDS,
        )
        return [scrape_from_dump(dump)], facts
    return [scrape_from_dump(source.fetch()) for source in sources], None


def _unusable_warning(path: Path | None, reason: str, *, replaced: bool) -> str:
    then = "replacing it" if replaced else "it will be replaced after the next good scrape"
    return f"state file {path} is unusable ({reason}): {then}"


def _configured_source(sources: Sequence[MetricsSource]) -> tuple[str, str]:
    """(kind, location) of what this run reads, known before fetching (the last source)."""
    source = sources[-1]
    return source.kind, source.location


def _same_source(saved: SavedScrape, configured: tuple[str, str]) -> bool:
    """A live source must be the same endpoint; dumps are new files each run (node decides)."""
    kind, location = configured
    if saved.kind != kind:
        return False
    return kind not in LIVE_KINDS or saved.location == location


def _latest(scrapes: Sequence[Scrape]) -> Scrape:
    """The newest scrape (what the state keeps); the last given when times are unknown."""
    if all(s.snapshot.captured_at is not None for s in scrapes):
        return max(scrapes, key=lambda s: s.snapshot.captured_at or 0.0)
    return scrapes[-1]


def _usable_previous(
    saved: SavedScrape, scrapes: Sequence[Scrape], *, state_path: Path, max_age: float
) -> tuple[Snapshot | None, str, str | None]:
    """(previous Snapshot or None, the note saying why, a reason when the state is foreign)."""
    from pleg_doctor.core.report import rfc3339

    previous = saved.snapshot()
    node = next((s.snapshot.node for s in scrapes if s.snapshot.node is not None), None)
    if previous.node is not None and node is not None and previous.node != node:
        return None, "", f"it holds node {previous.node}, not {node}"
    earliest = min(
        (s.snapshot.captured_at for s in scrapes if s.snapshot.captured_at is not None),
        default=None,
    )
    newest = max(
        (s.snapshot.captured_at for s in scrapes if s.snapshot.captured_at is not None),
        default=None,
    )
    if previous.captured_at is None or earliest is None or newest is None:
        return (
            None,
            f"capture time unknown: the previous run in {state_path} cannot be placed before "
            "this one; single scrape",
            None,
        )
    if previous.captured_at >= earliest:
        return (
            None,
            f"the previous run in {state_path} ({rfc3339(previous.captured_at)}) is not older "
            "than this scrape: single scrape",
            None,
        )
    age = newest - previous.captured_at
    if age > max_age:
        return (
            None,
            f"the previous run in {state_path} is {_duration(age)} old, more than "
            f"--state-max-age {_duration(max_age)}: single scrape",
            None,
        )
    return (
        previous,
        f"window since the previous check run at {rfc3339(previous.captured_at)} "
        f"(state {state_path})",
        None,
    )


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def _node_without_report(sources: Sequence[MetricsSource], saved: SavedScrape | None) -> str:
    """The node label when no report names the node (the source failed).

    It should match the label of the good runs, or a Pushgateway group and an alert would split
    in two: the source's node (`--node NAME`), else the node the state last saw for this very
    source, else the host of the source URL, else `unknown`.
    """
    node = getattr(sources[-1], "node", None)
    if isinstance(node, str) and node:
        return node
    if saved is not None and saved.snapshot_node:
        return saved.snapshot_node
    return host_of(sources[-1].location) or "unknown"


def host_of(location: str) -> str | None:
    """The host of a URL location (`https://10.0.0.7:10250/metrics` → `10.0.0.7`), else None."""
    import urllib.parse

    if "://" not in location:
        return None
    try:
        return urllib.parse.urlsplit(location).hostname or None
    except ValueError:
        return None


def parse_grouping_key(items: Sequence[str]) -> dict[str, str]:
    """`--grouping-key KEY=VALUE` (repeatable) → a dict; raises `UsageError` for a bad item.

    Label names follow Prometheus' `[a-zA-Z_][a-zA-Z0-9_]*`; `job` is `--job`'s.
    """
    grouping: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", key):
            raise UsageError(
                f"--grouping-key {item!r}: want KEY=VALUE with a Prometheus label name as KEY"
            )
        if key == "job":
            raise UsageError("--grouping-key job=... : the job is set with --job")
        if key.startswith("__"):
            raise UsageError(f"--grouping-key {key}: names starting with __ are reserved")
        grouping[key] = value
    return grouping


def _path(value: str | None) -> Path | None:
    """`--state` / `--textfile` as a Path; pathlib is imported only when one is given."""
    if value is None:
        return None
    from pathlib import Path

    return Path(value)


def deliver(
    run: CheckRun, *, textfile: Path | None, target: PushTarget | None, timeout: float
) -> list[PlegDoctorError]:
    """Write the textfile and push to the gateway; the delivery errors, one per failed target.

    `render.prom` (and with a push, the HTTP client, `http.client` and `urllib`) is imported
    only here, when there is something to deliver: `check FILE` in cron pays for none of it.
    `target`'s grouping gets `node=<run.node>` unless `--grouping-key` set one.
    """
    problems: list[PlegDoctorError] = []
    if textfile is None and target is None:
        return problems
    from pleg_doctor.render import prom

    metrics = prom.CheckMetrics(node=run.node, report=run.report, ran_at=run.ran_at)
    if textfile is not None:
        try:
            prom.write_textfile(textfile, metrics)
        except prom.MetricsDeliveryError as exc:
            problems.append(exc)
    if target is not None:
        try:
            target = dataclasses.replace(target, grouping={"node": run.node, **target.grouping})
            prom.push(target, metrics, timeout=timeout)
        except prom.MetricsDeliveryError as exc:
            problems.append(exc)
    return problems


def wants_npd(args: Sequence[str]) -> bool:
    """Whether a command line that click could not parse asked for `-o npd`."""
    for index, arg in enumerate(args):
        if arg == "--":
            return False
        if arg in ("-o", "--output") and args[index + 1 : index + 2] == ["npd"]:
            return True
        if arg in ("-onpd", "--output=npd"):
            return True
    return False


class _NagiosCommand(click.Command):
    """`check`: click's own errors (bad usage) also print the Nagios UNKNOWN line on stdout.

    Nagios reads only stdout and the exit code; `main()` still prints the error on stderr and
    exits 3, as for every command (usage errors are UNKNOWN, never click's 2 = CRITICAL). With
    `-o npd` the line is node-problem-detector's and the exit 2, its Unknown.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        given = list(args)  # click's parser consumes `args` as it goes
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            if wants_npd(given):
                from pleg_doctor.render.npd import UNKNOWN_EXIT, npd_unknown_line

                sys.stdout.write(npd_unknown_line(exc.format_message()) + "\n")
                sys.stdout.flush()
                exc.show()
                # SystemExit, not click's Exit: click returns that one's code instead of exiting.
                sys.exit(UNKNOWN_EXIT)
            from pleg_doctor.render.check import unknown_line

            sys.stdout.write(unknown_line(exc.format_message()) + "\n")
            sys.stdout.flush()
            raise


@click.command(cls=_NagiosCommand, context_settings=CONTEXT_SETTINGS)
@click.argument("files", nargs=-1, metavar="[FILE|NODE]...")
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
@metrics_timeout_option()
@output_format_option(
    "One Nagios status line with perfdata, the diagnose document (schema pleg-doctor/v1) as "
    "JSON or YAML, or a node-problem-detector plugin's message (80 bytes) and exit code (0 OK, "
    "1 NonOK, 2 Unknown).",
    choices=("nagios", "json", "yaml", "npd"),
    default="nagios",
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
    metrics_timeout: float | None,
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

    A live /metrics is waited on for --metrics-timeout (default --timeout); when it does not
    answer, /healthz is asked for at most 2 s (a kubelet answers it in milliseconds), so a run
    against a hung runtime ends within --metrics-timeout + 2 s.

    -o npd is for a node-problem-detector custom plugin: one message line of at most 80 bytes
    (verdict, headroom, top cause) and NPD's exit codes: 0 ok, 1 warning or critical, 2 unknown
    and every error (a failed textfile or push is only reported on stderr there).

    \b
    Example:
      pleg-doctor check --kubelet 127.0.0.1 --state /var/lib/pleg-doctor/state.json \\
          --textfile /var/lib/node_exporter/textfile_collector
      pleg-doctor check --kubelet $NODE_IP --pushgateway http://pushgateway:9091
      pleg-doctor check before.prom after.prom
      pleg-doctor check --kubelet $NODE_IP -o npd --state /var/lib/pleg-doctor/npd-state.json
    """
    console.setup_logging(debug)
    from pleg_doctor.render.check import check_line, unknown_line

    npd = output == "npd"

    def say_unknown(reason: str) -> None:
        # -o json/yaml keeps stdout for the document only: errors then go to stderr alone, as
        # with diagnose.
        if npd:
            from pleg_doctor.render.npd import npd_unknown_line

            sys.stdout.write(npd_unknown_line(reason) + "\n")
        elif output == "nagios":
            sys.stdout.write(unknown_line(reason) + "\n")
        sys.stdout.flush()

    try:
        grouping = parse_grouping_key(grouping_key)
        target: PushTarget | None = None
        if pushgateway is not None:
            from pleg_doctor.render import prom

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
        options = source_options_from(files, demo, source)
        sources = pipeline.build_sources(options)
        run = run_check(
            sources,
            diagnose=lambda snapshots, facts: pipeline.diagnose_snapshots(
                snapshots,
                sources,
                runtime_request_timeout=runtime_request_timeout,
                select=select,
                ignore=ignore,
                scrape=facts,
            ),
            blocked=lambda blocked: pipeline.blocked_report(
                blocked,
                sources,
                runtime_request_timeout=runtime_request_timeout,
                select=select,
                ignore=ignore,
                node_view=pipeline.node_view_reader(
                    options, timeout=min(options.timeout, EVIDENCE_TIMEOUT_SECONDS)
                ),
            ),
            patience=metrics_timeout,
            state_path=_path(state),
            state_max_age=state_max_age,
            node_label=grouping.get("node"),
        )
        for warning in run.warnings:
            console.warn(warning)
        problems = deliver(
            run,
            textfile=_path(textfile),
            target=target,
            timeout=options.timeout,
        )
    except PlegDoctorError as exc:
        say_unknown(exc.message)
        if npd:
            console.fail(str(exc), debug=debug, code=_npd_unknown_exit())
        raise
    except Exception as exc:
        say_unknown(f"internal error: {type(exc).__name__}: {exc}")
        if npd:
            message = f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)"
            console.fail(message, debug=debug, code=_npd_unknown_exit())
        raise

    report = run.report
    if report is None:
        assert run.error is not None
        say_unknown(run.error.message)
        console.error(str(run.error))
        if debug:
            import traceback

            traceback.print_exception(type(run.error), run.error, run.error.__traceback__)
    elif npd:
        from pleg_doctor.render.npd import npd_line

        sys.stdout.write(npd_line(report) + "\n")
        sys.stdout.flush()
    elif output != "nagios":
        pipeline.emit(report, output)
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
    if npd:
        # The node condition is what NPD delivers: a failed textfile or push (stderr, above)
        # must not turn a PLEG verdict into Unknown.
        from pleg_doctor.render.npd import npd_exit_code

        sys.exit(npd_exit_code(report))
    if report is None or problems or report.verdict == "unknown":
        sys.exit(int(ExitCode.UNKNOWN))
    sys.exit(report.exit_code)


def _npd_unknown_exit() -> int:
    from pleg_doctor.render.npd import UNKNOWN_EXIT

    return UNKNOWN_EXIT
