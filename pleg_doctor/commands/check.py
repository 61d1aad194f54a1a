"""`check`: one Nagios line and an exit code per run, for cron and monitoring agents.

One run (scrape, the window since `--state`, diagnose, save) is `check_run.run_check`; this is
the click command around it, and what it adds: the delivery, a Nagios line with perfdata (or
the diagnose document as JSON or YAML, or node-problem-detector's plugin message with `-o npd`),
and the metrics for node_exporter's textfile collector or a Pushgateway (`render.prom`).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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
from pleg_doctor.errors import PlegDoctorError, UsageError
from pleg_doctor.exitcodes import ExitCode

if TYPE_CHECKING:
    from pathlib import Path

    from pleg_doctor.commands.check_run import CheckRun
    from pleg_doctor.render.prom import PushTarget


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
        from pleg_doctor.commands.check_run import EVIDENCE_TIMEOUT_SECONDS, run_check

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
