"""`model`: what-if with the reference PLEG model, from given figures or a node's dumps."""

from __future__ import annotations

import sys
from typing import Any

import click

from pleg_doctor.commands import console
from pleg_doctor.commands.options import (
    CONTEXT_SETTINGS,
    Duration,
    KnobChange,
    common_options,
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
        from pleg_doctor.core.window import window_from_snapshots
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
