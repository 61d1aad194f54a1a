"""Window: what happened between scrapes (or since the kubelet started), the data the model reads.

A `Window` is what the model diagnoses: counter deltas between two or more snapshots of one node,
or, from a single scrape, the lifetime counters since the kubelet started. Counter resets (a
kubelet restart between scrapes) are handled the way Prometheus' `increase()` handles them: the
value after the reset is the increase, never negative.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence

from pleg_doctor.core.distribution import Distribution, OpStats, counter_delta, dist_delta
from pleg_doctor.core.records import record
from pleg_doctor.core.snapshot import Snapshot
from pleg_doctor.errors import UsageError


@record(kw_only=True)
class Window:
    """What the model diagnoses: counter deltas over a time window, gauges from its last scrape.

    From one scrape the window is the kubelet's lifetime (`is_lifetime`): counters since
    `process_start_time_seconds`. From several scrapes it is the time between the first and the
    last, with pairwise deltas summed so a restart in the middle loses nothing and never yields a
    negative rate.
    """

    last: Snapshot
    first: Snapshot | None
    """None for a lifetime window (single scrape)."""
    scrapes: int
    seconds: float | None
    """Length of the window (uptime for a lifetime window), or None when unknown."""
    restarted: bool
    """A counter reset (kubelet restart) was seen between scrapes."""
    relist_duration: Distribution | None
    relist_interval: Distribution | None
    pod_relist_duration: Distribution | None
    runtime_ops: Mapping[str, OpStats]
    docker_ops: Mapping[str, OpStats]
    network_plugin_ops: Mapping[str, Distribution]
    discard_events: float | None
    evented_errors: float | None
    started_containers: float | None
    process_cpu_seconds: float | None
    extrapolated: bool = False
    """The counters are Prometheus `increase()`s, each extrapolated to the window's edges on its
    own: two counters of the same events (relists, timed-out calls) can disagree by a few
    percent. Deltas between dumps are exact."""
    last_seen_by_scrape: tuple[tuple[float, float], ...] = ()
    """`(captured_at, kubelet_pleg_last_seen_seconds)` of every scrape of the window that has
    both, in time order: the health clock's age at each scrape, so the worst age inside the
    window is seen, not only the age at its end."""
    quiet_seconds: float | None = None
    """The longest run of consecutive scrapes between which no relist completed (the relist
    count did not move), seconds; None when every pair of scrapes saw a relist or it is unknown."""
    notes: tuple[str, ...] = ()
    """What building the window left out: dumps of other nodes, dumps of the same moment."""
    scrape_age_peak_seconds: float | None = None
    """Fleet mode: the largest last-seen age over the stall floor (10 s) at the window's
    scrapes, as the server measured it (`max_over_time`, as the recording rules do); dump
    windows list their scrapes in `last_seen_by_scrape` instead."""

    @property
    def degenerate(self) -> bool:
        """The dumps did not make the window asked for (left out, same moment, a restart): the
        diagnosis must not claim more headroom than the last dump alone gives."""
        return bool(self.notes) or self.restarted

    @property
    def is_lifetime(self) -> bool:
        """True for a single scrape: counters since the kubelet started, not a recent window."""
        return self.first is None

    @property
    def relists(self) -> float | None:
        """Relists observed in the window (`relist_duration` count)."""
        return self.relist_duration.count if self.relist_duration is not None else None


def lifetime_window(snapshot: Snapshot) -> Window:
    """The single-scrape window: lifetime counters (docs/model.md#estimating-the-terms)."""
    return Window(
        last=snapshot,
        first=None,
        scrapes=1,
        seconds=snapshot.uptime_seconds,
        restarted=False,
        relist_duration=snapshot.relist_duration,
        relist_interval=snapshot.relist_interval,
        pod_relist_duration=snapshot.pod_relist_duration,
        runtime_ops=snapshot.runtime_ops,
        docker_ops=snapshot.docker_ops,
        network_plugin_ops=snapshot.network_plugin_ops,
        discard_events=snapshot.discard_events,
        evented_errors=snapshot.evented_errors,
        started_containers=snapshot.started_containers,
        process_cpu_seconds=snapshot.process_cpu_seconds,
        last_seen_by_scrape=_last_seen_points([snapshot]),
    )


def window_between(snapshots: Sequence[Snapshot]) -> Window:
    """The window from the earliest to the latest of `snapshots` (already in time order).

    A restart between two scrapes is recognized by a changed `process_start_time_seconds` or by
    the relist count going down; the deltas then restart from zero (Prometheus `increase()`).
    """
    if len(snapshots) < 2:
        return lifetime_window(snapshots[0])
    first, last = snapshots[0], snapshots[-1]
    restarted = False
    delta: _Delta | None = None
    for earlier, later in itertools.pairwise(snapshots):
        reset = _is_restart(earlier, later)
        restarted = restarted or reset
        step = _Delta.of(later) if reset else _Delta.between(earlier, later)
        delta = step if delta is None else delta.plus(step)
    assert delta is not None
    seconds: float | None = None
    if first.captured_at is not None and last.captured_at is not None:
        seconds = max(0.0, last.captured_at - first.captured_at)
    return Window(
        last=last,
        first=first,
        scrapes=len(snapshots),
        seconds=seconds,
        restarted=restarted,
        relist_duration=delta.relist_duration,
        relist_interval=delta.relist_interval,
        pod_relist_duration=delta.pod_relist_duration,
        runtime_ops=delta.runtime_ops,
        docker_ops=delta.docker_ops,
        network_plugin_ops=delta.network_plugin_ops,
        discard_events=delta.discard_events,
        evented_errors=delta.evented_errors,
        started_containers=delta.started_containers,
        process_cpu_seconds=delta.process_cpu_seconds,
        last_seen_by_scrape=_last_seen_points(snapshots),
        quiet_seconds=_quiet_seconds(snapshots),
    )


def _last_seen_points(snapshots: Sequence[Snapshot]) -> tuple[tuple[float, float], ...]:
    return tuple(
        (s.captured_at, s.last_seen_seconds)
        for s in snapshots
        if s.captured_at is not None and s.last_seen_seconds is not None
    )


def _quiet_seconds(snapshots: Sequence[Snapshot]) -> float | None:
    """The longest run of consecutive scrapes with no relist completed between them.

    A restart between two scrapes ends a run (the new process relists from scratch).
    """
    longest: float | None = None
    run = 0.0
    for earlier, later in itertools.pairwise(snapshots):
        before, after = earlier.relist_duration, later.relist_duration
        start, end = earlier.captured_at, later.captured_at
        if (
            before is None
            or after is None
            or after.count != before.count
            or _is_restart(earlier, later)
            or start is None
            or end is None
        ):
            run = 0.0
            continue
        run += end - start
        longest = run if longest is None else max(longest, run)
    return longest


def window_from_snapshots(snapshots: Sequence[Snapshot]) -> Window:
    """One snapshot → lifetime window; several → the window between them, in time order.

    Dumps of another node than the latest dump's are left out, and so are dumps captured at the
    same moment as another (two copies of one scrape make no window); the window's `notes` say
    so. What is left of one dump is diagnosed as a single scrape.
    """
    if len(snapshots) == 1:
        return lifetime_window(snapshots[0])
    if any(s.captured_at is None for s in snapshots):
        raise UsageError(
            "cannot order the dumps in time: a dump has no capture time",
            hint="capture with `pleg-doctor capture`, which records it",
        )
    ordered = sorted(snapshots, key=lambda s: s.captured_at or 0.0)
    notes: list[str] = []
    node = ordered[-1].node
    others = sorted({s.node for s in ordered if s.node is not None and s.node != node})
    if node is not None and others:
        ordered = [s for s in ordered if s.node in (node, None)]
        notes.append(
            f"the dumps come from different nodes ({', '.join(others)} besides {node}): a window "
            f"needs dumps of one node, so only the {len(ordered)} of {node}, the latest, are "
            "diagnosed; diagnose each node's dumps separately"
        )
    kept: list[Snapshot] = []
    for snapshot in ordered:
        if kept and kept[-1].captured_at == snapshot.captured_at:
            kept[-1] = snapshot
        else:
            kept.append(snapshot)
    if len(kept) < len(ordered):
        notes.append(
            f"{len(ordered) - len(kept)} dump(s) captured at the same moment as another (the "
            "same scrape twice): left out, a window needs time between its dumps"
        )
    if len(kept) == 1:
        notes.append("no time between the dumps: diagnosed as a single scrape")
        return dataclasses.replace(lifetime_window(kept[0]), notes=tuple(notes))
    return dataclasses.replace(window_between(kept), notes=tuple(notes))


def _is_restart(earlier: Snapshot, later: Snapshot) -> bool:
    if (
        earlier.process_start_seconds is not None
        and later.process_start_seconds is not None
        and abs(later.process_start_seconds - earlier.process_start_seconds) > 1.0
    ):
        return True
    if earlier.relist_duration is not None and later.relist_duration is not None:
        return later.relist_duration.count < earlier.relist_duration.count
    return False


@record(kw_only=True)
class _Delta:
    """The counters of a Window under construction."""

    relist_duration: Distribution | None
    relist_interval: Distribution | None
    pod_relist_duration: Distribution | None
    runtime_ops: dict[str, OpStats]
    docker_ops: dict[str, OpStats]
    network_plugin_ops: dict[str, Distribution]
    discard_events: float | None
    evented_errors: float | None
    started_containers: float | None
    process_cpu_seconds: float | None

    @classmethod
    def of(cls, snapshot: Snapshot) -> _Delta:
        """Everything since the process started: the delta across a restart."""
        return cls(
            relist_duration=snapshot.relist_duration,
            relist_interval=snapshot.relist_interval,
            pod_relist_duration=snapshot.pod_relist_duration,
            runtime_ops=dict(snapshot.runtime_ops),
            docker_ops=dict(snapshot.docker_ops),
            network_plugin_ops=dict(snapshot.network_plugin_ops),
            discard_events=snapshot.discard_events,
            evented_errors=snapshot.evented_errors,
            started_containers=snapshot.started_containers,
            process_cpu_seconds=snapshot.process_cpu_seconds,
        )

    @classmethod
    def between(cls, earlier: Snapshot, later: Snapshot) -> _Delta:
        """Counter deltas from `earlier` to `later` (same process)."""
        return cls(
            relist_duration=dist_delta(later.relist_duration, earlier.relist_duration),
            relist_interval=dist_delta(later.relist_interval, earlier.relist_interval),
            pod_relist_duration=dist_delta(later.pod_relist_duration, earlier.pod_relist_duration),
            runtime_ops=_ops_delta(later.runtime_ops, earlier.runtime_ops),
            docker_ops=_ops_delta(later.docker_ops, earlier.docker_ops),
            network_plugin_ops={
                op: d.minus(earlier.network_plugin_ops[op])
                if op in earlier.network_plugin_ops
                else d
                for op, d in later.network_plugin_ops.items()
            },
            discard_events=_opt_delta(later.discard_events, earlier.discard_events),
            evented_errors=_opt_delta(later.evented_errors, earlier.evented_errors),
            started_containers=_opt_delta(later.started_containers, earlier.started_containers),
            process_cpu_seconds=_opt_delta(later.process_cpu_seconds, earlier.process_cpu_seconds),
        )

    def plus(self, other: _Delta) -> _Delta:
        """Chain two consecutive deltas."""
        return _Delta(
            relist_duration=_dist_plus(self.relist_duration, other.relist_duration),
            relist_interval=_dist_plus(self.relist_interval, other.relist_interval),
            pod_relist_duration=_dist_plus(self.pod_relist_duration, other.pod_relist_duration),
            runtime_ops=_ops_plus(self.runtime_ops, other.runtime_ops),
            docker_ops=_ops_plus(self.docker_ops, other.docker_ops),
            network_plugin_ops={
                op: self.network_plugin_ops[op].plus(d) if op in self.network_plugin_ops else d
                for op, d in other.network_plugin_ops.items()
            },
            discard_events=_opt_plus(self.discard_events, other.discard_events),
            evented_errors=_opt_plus(self.evented_errors, other.evented_errors),
            started_containers=_opt_plus(self.started_containers, other.started_containers),
            process_cpu_seconds=_opt_plus(self.process_cpu_seconds, other.process_cpu_seconds),
        )


def _ops_delta(now: Mapping[str, OpStats], earlier: Mapping[str, OpStats]) -> dict[str, OpStats]:
    return {op: s.minus(earlier[op]) if op in earlier else s for op, s in now.items()}


def _ops_plus(a: Mapping[str, OpStats], b: Mapping[str, OpStats]) -> dict[str, OpStats]:
    merged = dict(a)
    for op, stats in b.items():
        merged[op] = merged[op].plus(stats) if op in merged else stats
    return merged


def _dist_plus(a: Distribution | None, b: Distribution | None) -> Distribution | None:
    if a is None:
        return b
    if b is None:
        return a
    return a.plus(b)


def _opt_delta(now: float | None, earlier: float | None) -> float | None:
    if now is None:
        return None
    if earlier is None:
        return now
    return counter_delta(now, earlier)


def _opt_plus(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b
