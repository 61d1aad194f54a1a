"""`probe-runtime`: time crictl inspect/inspectp on every container and sandbox of this node."""

from __future__ import annotations

import sys

import click

from pleg_doctor.commands import console
from pleg_doctor.commands.options import (
    CONTEXT_SETTINGS,
    Duration,
    common_options,
    output_format_option,
)


@click.command("probe-runtime", context_settings=CONTEXT_SETTINGS)
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
@output_format_option(
    "A readable report, or the document of schema pleg-doctor/probe-v1 (every call)."
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
    if output != "table":
        console.write_document(report.to_dict(), output)
    else:
        from pleg_doctor.render.probe import render_probe_table

        color = console.wants_color(sys.stdout)
        width = console.terminal_width(sys.stdout)
        sys.stdout.write(render_probe_table(report, top=top, color=color, width=width))
    sys.stdout.flush()
    sys.exit(int(report.exit_code))
