"""OpenMetrics history of a simulated fleet of kubelets, for a real Prometheus (promtool backfill).

Each node is a `KubeletSim` (tests/kubelet_sim.py): its relist loop runs on a simulated clock, and
at every step of the history its `/metrics` text (the names of its kubelet version) is sampled
and written as OpenMetrics samples with that step's timestamp and the target labels Prometheus
would attach (`job`, `metrics_path`, `instance`), plus an `up` series. `promtool tsdb
create-blocks-from openmetrics FILE DIR` turns the file into TSDB blocks a real Prometheus serves.

OpenMetrics details, checked against promtool 2.42 (Debian bookworm):

* each metric family appears once, with one `# TYPE` line: samples are spooled per family and the
  families concatenated at the end (promtool also accepts a family repeated per node, but the
  OpenMetrics text format does not);
* OpenMetrics counters must expose `<family>_total` samples. The kubelet has counters without
  that suffix (`kubelet_pleg_discard_events`, `kubelet_evented_pleg_connection_error_count`, the
  pre-1.14 `kubelet_runtime_operations`), and 1.14-1.16 expose `kubelet_runtime_operations` beside
  `kubelet_runtime_operations_total`, whose OpenMetrics family names would collide. So every
  counter is declared `unknown` under its exposed sample name: the TSDB stores the same series a
  scrape of the text format stores (type metadata is not part of a series);
* histograms and summaries keep their types (`_bucket`/`_sum`/`_count`, `quantile`);
* values are Go-style (`NaN`, `+Inf`), timestamps are Unix seconds, and the file ends in `# EOF`.

A step's sample is the simulation's state once its clock has reached the step's time. A call that
hangs for the 120 s CRI timeout advances the clock in one jump, so its effects (the observation,
the error) can appear up to 120 s before the call would really return; ages stay right, because
`kubelet_pleg_last_seen_seconds` is a relist's start, which is always before the step's time.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TextIO

from .kubelet_sim import KubeletSim, Runtime

JOB = "kubelet"
METRICS_PATH = "/metrics"

_TYPE_RE = re.compile(r"^# TYPE (\S+) (\S+)$")
_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")


@dataclasses.dataclass
class SimNode:
    """One simulated kubelet target and what the test expects pleg-doctor to say about it."""

    sim: KubeletSim
    instance: str
    scenario: str = "healthy"
    expected_verdict: str | None = "ok"
    expected_top_cause: str | None = None
    on_step: Callable[[KubeletSim, float], None] | None = None
    """Called before each step with the seconds left until the end of the history."""
    down_for: float = 0.0
    """The last `down_for` seconds, Prometheus cannot scrape it: `up` 0 and no other series."""
    cluster: str | None = None
    """A `cluster` label on every series (multi-cluster setups behind one Thanos)."""


@dataclasses.dataclass(frozen=True)
class HistoryStats:
    """What `write_history` wrote."""

    path: Path
    samples: int
    series: int
    start: float
    end: float


def go_float(value: float) -> str:
    """A number as Prometheus writes it: `NaN`, `+Inf`, `-Inf`, else the shortest repr."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _families(text: str) -> Iterable[tuple[str, str, str, str, str]]:
    """(family, OpenMetrics type, sample name, labels text, value) for every sample of a dump."""
    types: dict[str, str] = {}
    family = ""
    kind = "unknown"
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            match = _TYPE_RE.match(line)
            if match:
                family, kind = match.group(1), match.group(2)
                types[family] = kind
            continue
        match = _SAMPLE_RE.match(line)
        if match is None:
            raise ValueError(f"not a sample line: {line!r}")
        name, labels, value = match.group(1), match.group(2) or "", match.group(3)
        if name.startswith("container_"):
            continue  # the simulator's cAdvisor noise: not scraped from /metrics
        om_family, om_type = name, "unknown"
        if kind in ("histogram", "summary") and name.startswith(family):
            om_family, om_type = family, kind
        elif kind == "gauge" and name == family:
            om_type = "gauge"
        yield om_family, om_type, name, labels, value


def _target_labels(node: SimNode) -> str:
    labels = [f'instance="{node.instance}"', f'job="{JOB}"', f'metrics_path="{METRICS_PATH}"']
    if node.cluster:
        labels.insert(0, f'cluster="{node.cluster}"')
    return ",".join(labels)


def write_history(
    nodes: Sequence[SimNode],
    path: Path,
    *,
    end: float,
    duration: float,
    step: float,
    on_sample: Callable[[SimNode, float], None] | None = None,
) -> HistoryStats:
    """Run every node's simulation over `[end - duration, end]` and write its OpenMetrics history.

    The simulations must start before `end - duration` (their `start`): the clock is advanced
    to each step's time. `on_sample(node, t)` is called after each step a node was scraped,
    its simulation at time `t` (to take other dumps of the same moment). Returns counts, for
    logging.
    """
    start = end - duration
    steps = [start + i * step for i in range(round(duration / step) + 1)]
    spool_dir = Path(tempfile.mkdtemp(prefix="promsim-", dir=path.parent))
    spools: dict[str, tuple[str, TextIO]] = {}
    samples = 0
    series_total = 0
    try:
        for node in nodes:
            target = _target_labels(node)
            history: dict[tuple[str, str, str, str], list[str]] = {}
            ups: list[str] = []
            for t in steps:
                if node.on_step is not None:
                    node.on_step(node.sim, end - t)
                if node.sim.now < t:
                    node.sim.run(t - node.sim.now)
                stamp = f"{t:.3f}"
                if end - t < node.down_for:
                    ups.append(f"0 {stamp}")
                    continue
                ups.append(f"1 {stamp}")
                for family, om_type, name, labels, value in _families(
                    node.sim.dump(header=False, captured_at=t)
                ):
                    key = (family, om_type, name, labels)
                    history.setdefault(key, []).append(f"{go_float(float(value))} {stamp}")
                if on_sample is not None:
                    on_sample(node, t)
            history[("up", "gauge", "up", "")] = ups
            for (family, om_type, name, labels), points in history.items():
                handle = _spool(spools, spool_dir, family, om_type)
                all_labels = f"{target},{labels}" if labels else target
                prefix = f"{name}{{{all_labels}}} "
                handle.write("".join(prefix + point + "\n" for point in points))
                samples += len(points)
                series_total += 1
        with path.open("w", encoding="utf-8") as out:
            for family, (om_type, handle) in spools.items():
                handle.close()
                out.write(f"# TYPE {family} {om_type}\n")
                with (spool_dir / _spool_name(family)).open(encoding="utf-8") as spooled:
                    while chunk := spooled.read(1 << 20):
                        out.write(chunk)
            out.write("# EOF\n")
    finally:
        for _, handle in spools.values():
            if not handle.closed:
                handle.close()
        for child in spool_dir.iterdir():
            child.unlink()
        os.rmdir(spool_dir)
    return HistoryStats(path=path, samples=samples, series=series_total, start=start, end=end)


def _spool_name(family: str) -> str:
    return f"{family}.om"


def _spool(
    spools: dict[str, tuple[str, TextIO]], spool_dir: Path, family: str, om_type: str
) -> TextIO:
    entry = spools.get(family)
    if entry is None:
        handle = (spool_dir / _spool_name(family)).open("w", encoding="utf-8")
        spools[family] = (om_type, handle)
        return handle
    known_type, handle = entry
    if known_type != om_type:
        raise ValueError(f"family {family} written as {known_type} and {om_type}")
    return handle


# --- the fleet ------------------------------------------------------------------------------------


def _hang_runtime_at(seconds_before_end: float) -> Callable[[KubeletSim, float], None]:
    """From `seconds_before_end` on, every runtime call hangs into the CRI timeout (`runtime_hung`, docs/model.md#causes)."""

    def step(sim: KubeletSim, left: float) -> None:
        if left <= seconds_before_end:
            sim.runtime.list_podsandbox = math.inf
            sim.runtime.list_containers = math.inf
            sim.runtime.status = math.inf

    return step


def _discard_events(
    per_step: int, seconds_before_end: float
) -> Callable[[KubeletSim, float], None]:
    """A full event channel: `per_step` events dropped at each step of the last minutes."""

    def step(sim: KubeletSim, left: float) -> None:
        if left <= seconds_before_end:
            sim.discards += per_step

    return step


def build_fleet(healthy: int, *, start: float, sick: bool = True, seed: int = 1) -> list[SimNode]:
    """`healthy` ordinary kubelets, plus (with `sick`) one node per trouble the test names.

    Every simulation starts at `start` (its process start time). Healthy nodes vary in pods and
    churn, deterministically from `seed`. The sick ones and their expected diagnosis:

    * `wedged`: one pod's PodSandboxStatus hangs into the 120 s timeout on every relist
      (runtime calls in the (119.2, 298] bucket, relists of ≈ 120 s in +Inf) → warning,
      `container_wedged`;
    * `hung`: the runtime stops answering 8 minutes before the end (lists time out, last seen
      frozen) → critical, `runtime_hung`;
    * `slow`: every runtime call 10-20 times slower than normal → `runtime_slow` on top;
    * `discards`: events dropped over the last 10 minutes → warning, `event_channel_full`;
    * `down`: Prometheus cannot scrape it for the last 8 minutes → unknown;
    * `old`: a v1.13 kubelet (µs summaries only, no last-seen gauge) → ok, judged from its
      summaries' counts, sums and recent quantiles.
    """
    nodes: list[SimNode] = []
    for index in range(healthy):
        mix = (index * 7919 + seed * 104729) % 1000
        sim = KubeletSim(
            version="v1.29.4" if index % 3 else "v1.27.9",
            node=f"ip-10-0-{index // 250}-{index % 250 + 1}.ec2.internal",
            pods=10 + mix % 100,
            containers_per_pod=1 + mix % 3,
            exited_containers=mix % 7,
            churn_pods_per_relist=0.01 + (mix % 20) / 200,
            start=start,
        )
        nodes.append(SimNode(sim=sim, instance=f"10.0.{index // 250}.{index % 250 + 1}:10250"))
    if not sick:
        return nodes

    def sick_node(
        name: str,
        sim: KubeletSim,
        *,
        verdict: str | None,
        cause: str | None,
        **extra: object,
    ) -> SimNode:
        number = len([n for n in nodes if n.scenario != "healthy"]) + 1
        return SimNode(
            sim=sim,
            instance=f"10.1.0.{number}:10250",
            scenario=name,
            expected_verdict=verdict,
            expected_top_cause=cause,
            **extra,  # type: ignore[arg-type]
        )

    nodes.append(
        sick_node(
            "wedged",
            KubeletSim(node="sick-wedged", start=start, runtime=Runtime(wedged_pods=1)),
            verdict="warning",
            cause="container_wedged",
        )
    )
    nodes.append(
        sick_node(
            "hung",
            KubeletSim(node="sick-hung", start=start),
            verdict="critical",
            cause="runtime_hung",
            on_step=_hang_runtime_at(480.0),
        )
    )
    nodes.append(
        sick_node(
            "slow",
            KubeletSim(
                node="sick-slow",
                start=start,
                churn_pods_per_relist=0.2,
                runtime=Runtime(
                    list_podsandbox=1.5,
                    list_containers=1.5,
                    podsandbox_status=0.6,
                    container_status=0.6,
                    status=0.4,
                ),
            ),
            verdict=None,
            cause="runtime_slow",
        )
    )
    nodes.append(
        sick_node(
            "discards",
            KubeletSim(node="sick-discards", start=start),
            verdict="warning",
            cause="event_channel_full",
            on_step=_discard_events(40, 600.0),
        )
    )
    nodes.append(
        sick_node(
            "down",
            KubeletSim(node="sick-down", start=start),
            verdict="unknown",
            cause=None,
            down_for=480.0,
        )
    )
    nodes.append(
        sick_node(
            "old",
            KubeletSim(version="v1.13.12", node="sick-old", start=start),
            verdict="ok",
            cause=None,
        )
    )
    return nodes
