"""`model`: what-if with the reference PLEG model, from given figures or a node's dumps."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import click

from pleg_doctor.commands import console
from pleg_doctor.commands.options import (
    CONTEXT_SETTINGS,
    Duration,
    KnobChange,
    KubeletVersion,
    common_options,
    output_format_option,
    runtime_timeout_option,
)
from pleg_doctor.errors import UsageError


@click.command(context_settings=CONTEXT_SETTINGS)
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
    help="Change one knob of the starting point, e.g. pods=300 (repeatable; the same as --pods 300).",
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
    type=KubeletVersion(),
    default="v1.33",
    show_default=True,
    help="Kubelet version (constants by era), e.g. v1.28 or 1.28.3.",
)
@click.option(
    "--max-pods",
    type=click.FloatRange(min=1),
    default=110,
    show_default=True,
    help="The kubelet's --max-pods: pods at threshold beyond it say so (kubelet metrics do not "
    "carry it).",
)
@output_format_option("A readable table, or the document of schema pleg-doctor/model-v1.")
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
    cross the threshold, plus how headroom moves as pods grow. Start from the defaults (a 30-pod
    node) or from a node's dumps (--from), and change knobs: --pods 300 and --set pods=300 are
    the same change. Every knob you give is taken as given; list latencies and pods inspected
    per relist that you do not give follow the pods. The table says what changed and how.

    \b
    Example:
      pleg-doctor model --pods 250 --churn 5 --container-status 40ms
      pleg-doctor model --hung-calls 1 --runtime-request-timeout 2m
      pleg-doctor model --from node.prom --pods 300 -o json
    """
    console.setup_logging(debug)
    from pleg_doctor.core import whatif

    given = given_knobs(click.get_current_context(), knobs)
    wanted = merge_changes(given, changes)
    if from_files:
        from pleg_doctor.core.window import window_from_snapshots
        from pleg_doctor.sources.files import FileSource
        from pleg_doctor.sources.scrape import snapshot_from_dump

        snapshots = [snapshot_from_dump(FileSource(path).fetch()) for path in from_files]
        try:
            start = whatif.scenario_from_window(window_from_snapshots(snapshots))
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    else:
        start = whatif.Scenario()
    scenario, moved = whatif.apply_changes(start, wanted)
    for flag in ("evented", "kubelet_version"):
        if flag in given or not from_files:
            scenario = dataclasses.replace(scenario, **{flag: knobs[flag]})
    answer = whatif.evaluate_scenario(scenario, start=tuple(from_files), changes=moved)
    if output != "table":
        console.write_document(answer.to_dict(), output)
    else:
        from pleg_doctor.render.model import render_whatif

        sys.stdout.write(
            render_whatif(
                answer,
                color=console.wants_color(sys.stdout),
                width=console.terminal_width(sys.stdout),
            )
        )
    sys.exit(0)


NUMERIC_KNOBS = (
    "pods",
    "containers_per_pod",
    "exited_per_pod",
    "sandboxes_per_pod",
    "churn",
    "list_podsandbox",
    "list_containers",
    "podsandbox_status",
    "container_status",
    "hung_calls",
    "runtime_request_timeout",
    "max_pods",
)
"""The options that set a numeric knob of `core.whatif.KNOBS` (the same names)."""


def given_knobs(ctx: click.Context, knobs: dict[str, Any]) -> dict[str, Any]:
    """The knob options given on the command line (or the environment), not their defaults."""
    from click.core import ParameterSource

    return {
        name: value
        for name, value in knobs.items()
        if ctx.get_parameter_source(name)
        in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    }


def merge_changes(given: dict[str, Any], sets: tuple[tuple[str, float], ...]) -> dict[str, float]:
    """One meaning per knob: `--pods 300` and `--set pods=300` are the same change; two
    different values for one knob are a usage error (which one did you mean?)."""
    merged: dict[str, float] = {}
    said: dict[str, str] = {}
    for name in NUMERIC_KNOBS:
        if name in given:
            merged[name] = float(given[name])
            said[name] = f"--{name.replace('_', '-')} {given[name]:g}"
    for knob, value in sets:
        if knob in merged and merged[knob] != value:
            raise UsageError(f"{said[knob]} and --set {knob}={value:g} disagree: give {knob} once")
        merged[knob] = value
        said.setdefault(knob, f"--set {knob}={value:g}")
    return merged
