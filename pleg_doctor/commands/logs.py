"""`logs`: the PLEG timeline and the culprits of a kubelet log (files, stdin or the journal)."""

from __future__ import annotations

import datetime as dt
import sys

import click

from pleg_doctor.commands import console
from pleg_doctor.commands.options import (
    CONTEXT_SETTINGS,
    check_journal_options,
    common_options,
    journal_options,
    output_format_option,
)
from pleg_doctor.errors import UsageError
from pleg_doctor.exitcodes import ExitCode


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("files", nargs=-1, metavar="[FILE]...")
@journal_options
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
@output_format_option("A readable report, or the document of schema pleg-doctor/logs-v1.")
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
    check_journal_options(journal=journal, since=since, unit=unit)
    if not journal and not files:
        raise UsageError(
            "no log given",
            hint="pleg-doctor logs FILE... (- for stdin), or --journal on the node",
        )
    if files.count("-") > 1:
        raise UsageError("standard input (-) can be given once")
    now = dt.datetime.now().astimezone()
    offset: int | None = None
    reader: JournalReader | LogReader
    if journal:
        reader = JournalReader(
            unit=unit or "kubelet", since=since or "-2h", timeout=journal_timeout
        )
        delta = now.utcoffset()
        offset = None if delta is None else int(delta.total_seconds() // 60)
    else:
        reader = LogReader(files, jobs=jobs)
        reader.check()
    result = analyze_logs(
        reader, default_year=now.year, year=year, utc_offset_minutes=offset, not_after=now
    )
    if output != "table":
        console.write_document(result.to_dict(), output)
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
