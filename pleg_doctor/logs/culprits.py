"""Which containers, sandboxes and pods the runtime failed on: the culprits of a kubelet log.

Metrics say the relist is stuck; only the log says on what. `CulpritTracker` takes the failed
calls and links of each record (`classify`), merges a CRI client's line with its caller's into
one failed call, and counts per (culprit, operation) how many calls failed and how many of those
hit the CRI timeout.

IDs are resolved to `namespace/name` from what the log links: the caller line that names the
pod, `SyncLoop (PLEG)` events (container id → pod), `Generic (PLEG): container finished` (id →
pod UID), `Error syncing pod <uid> ("<pod>")` and `Event(v1.ObjectReference{…})` (UID → pod).
One inference is made, and said so in the notes: a sandbox whose `StopPodSandbox` timed out
within 2 s of exactly one pod's `KillPodSandbox` failure is that pod's sandbox.

The kubelet's CRI client logs an identical repeated failure for the same id only once until
the call succeeds again (`logReduction` in `remote_runtime.go`), so counts are lower bounds:
the metrics count every call.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from collections.abc import Callable

from pleg_doctor.logs.classify import Failure, Kind, Link, classify
from pleg_doctor.logs.parse import Record

LINK_WINDOW_SECONDS = 1.0
"""A caller's line follows its CRI client's line within this (same goroutine, µs apart)."""

KILL_LINK_WINDOW_SECONDS = 2.0
"""The window of the one inference: a StopPodSandbox timeout next to a pod's KillPodSandbox."""

MAX_CULPRITS = 10_000
"""Distinct (culprit, operation) pairs kept; more are counted in a note (memory stays bounded)."""

MAX_LINKS = 200_000
"""ID → pod links kept; a log with more distinct containers only loses resolution."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Culprit:
    """A container, sandbox or pod whose calls of one operation failed."""

    kind: Kind
    """`container`, `sandbox` or `pod` (`runtime` for whole-runtime failures, which are kept
    apart in `LogsResult.runtime_failures`)."""
    id: str | None
    """Container or sandbox id (64 hex), or the pod UID for pods, when the log names it."""
    pod: str | None
    """`namespace/name`, when the log links the id to a pod."""
    operation: str
    errors: int
    """Failed calls (a failure logged by the CRI client and by its caller counts once)."""
    deadline_exceeded: int
    """Of `errors`, those that hit the CRI timeout (`--runtime-request-timeout`, 2 min)."""
    first: dt.datetime | None
    last: dt.datetime | None
    example: str
    """One line as logged (a timeout preferred), cut at 400 characters."""
    linked_by_timing: bool = False
    """True when `pod` was inferred from timing (see the module docstring), not stated."""


@dataclasses.dataclass
class _Agg:
    kind: Kind
    id: str | None
    pod: str | None
    uid: str | None
    op: str
    errors: int = 0
    deadline: int = 0
    first: float | None = None
    last: float | None = None
    example: str = ""
    example_is_deadline: bool = False
    times: collections.deque[float] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=64)
    )
    kill_sandbox: bool = False
    linked_by_timing: bool = False

    def add(self, t: float, failure: Failure) -> None:
        self.errors += 1
        deadline = failure.error == "deadline"
        if deadline:
            self.deadline += 1
        if self.first is None or t < self.first:
            self.first = t
        if self.last is None or t > self.last:
            self.last = t
        if not self.example or (deadline and not self.example_is_deadline):
            self.example = failure.example
            self.example_is_deadline = deadline
        self.times.append(t)
        if failure.kills_sandbox:
            self.kill_sandbox = True
        self.pod = self.pod or failure.pod
        self.uid = self.uid or failure.uid


@dataclasses.dataclass
class _Recent:
    t: float
    failure: Failure
    agg: _Agg | None
    pending: bool = False
    """True while an anonymous failure waits for a caller to name it (then it is counted)."""


class CulpritTracker:
    """Streaming aggregation of failures and links; `finish()` resolves ids to pods."""

    def __init__(self) -> None:
        self._aggs: dict[tuple[str, str, str], _Agg] = {}
        self._recent: collections.deque[_Recent] = collections.deque(maxlen=32)
        self._id_pod: dict[str, str] = {}
        self._id_uid: dict[str, str] = {}
        self._uid_pod: dict[str, str] = {}
        self.dropped = 0
        self.ignored: dict[str, int] = {}
        self.unavailable = 0
        self.unavailable_first: float | None = None
        self.unavailable_last: float | None = None
        self.unavailable_example: str | None = None

    def feed(self, record: Record, t: float) -> None:
        """Classify one record logged at `t` and account its failures and links."""
        failures, links = classify(record)
        for link in links:
            self.link(link)
        for failure in failures:
            self.add(failure, t)

    def link(self, link: Link) -> None:
        """Remember that an id, a pod UID and a pod name belong together."""
        if len(self._id_pod) + len(self._uid_pod) + len(self._id_uid) >= MAX_LINKS:
            return
        if link.id and link.pod:
            self._id_pod.setdefault(link.id, link.pod)
        if link.id and link.uid:
            self._id_uid.setdefault(link.id, link.uid)
        if link.uid and link.pod:
            self._uid_pod.setdefault(link.uid, link.pod)

    def add(self, failure: Failure, t: float) -> None:
        """Account one failed call at `t` (deduplicated against its CRI client's line)."""
        self._flush(t)
        if failure.error in ("notfound", "unimplemented"):
            self.ignored[failure.error] = self.ignored.get(failure.error, 0) + 1
            return
        if failure.caller:
            for recent in reversed(self._recent):
                if abs(t - recent.t) <= LINK_WINDOW_SECONDS and _same_call(recent.failure, failure):
                    self._merge(recent, failure, t)
                    return
        if failure.error == "unavailable":
            # The runtime is unreachable: not the container's fault (module docstring).
            self.unavailable += 1
            if self.unavailable_first is None:
                self.unavailable_first = t
                self.unavailable_example = failure.example
            self.unavailable_last = t
            self._remember(_Recent(t, failure, None))
            return
        anonymous = failure.id is None and failure.pod is None and failure.uid is None
        if anonymous and failure.kind != "runtime":
            self._remember(_Recent(t, failure, None, pending=True))
            return
        self._remember(_Recent(t, failure, self._count(failure, t)))

    def _remember(self, recent: _Recent) -> None:
        """Keep `recent` for merging; a pending failure pushed out of the window is counted."""
        if len(self._recent) == self._recent.maxlen:
            oldest = self._recent[0]
            if oldest.pending:
                oldest.agg = self._count(oldest.failure, oldest.t)
                oldest.pending = False
        self._recent.append(recent)

    def _merge(self, recent: _Recent, failure: Failure, t: float) -> None:
        if recent.pending:
            # The CRI client's line named nothing; the caller's names the pod: count it there.
            recent.agg = self._count(failure, t)
            recent.failure = failure
            recent.pending = False
            return
        agg = recent.agg
        if agg is None:
            return  # the same unreachable-runtime failure, already counted
        if failure.pod and agg.id:
            self.link(Link(agg.id, failure.uid, failure.pod))
        if failure.pod and not agg.pod:
            agg.pod = failure.pod
        if failure.uid and not agg.uid:
            agg.uid = failure.uid
        if failure.error == "deadline" and recent.failure.error != "deadline":
            # The caller's line says timeout where the client's line did not say why.
            agg.deadline = min(agg.errors, agg.deadline + 1)
            recent.failure = failure

    def _count(self, failure: Failure, t: float) -> _Agg | None:
        key = _key(failure.kind, failure.id, failure.pod, failure.uid, failure.op)
        agg = self._aggs.get(key)
        if agg is None:
            if len(self._aggs) >= MAX_CULPRITS:
                self.dropped += 1
                return None
            agg = _Agg(
                kind=failure.kind, id=failure.id, pod=failure.pod, uid=failure.uid, op=failure.op
            )
            self._aggs[key] = agg
        agg.add(t, failure)
        return agg

    def _flush(self, now: float | None) -> None:
        """Count anonymous failures no caller claimed within the link window."""
        for recent in self._recent:
            if recent.pending and (now is None or abs(now - recent.t) > LINK_WINDOW_SECONDS):
                recent.agg = self._count(recent.failure, recent.t)
                recent.pending = False

    # -- output

    def finish(
        self, to_time: Callable[[float], dt.datetime]
    ) -> tuple[tuple[Culprit, ...], tuple[Culprit, ...], list[str]]:
        """(culprits, runtime-level failures, notes), times resolved with `to_time`."""
        self._flush(None)
        notes: list[str] = []
        merged: dict[tuple[str, str, str], _Agg] = {}
        for agg in self._aggs.values():
            self._resolve(agg)
            key = _key(agg.kind, agg.id, agg.pod, agg.uid, agg.op)
            if key in merged and merged[key] is not agg:
                _absorb(merged[key], agg)
            else:
                merged[key] = agg
        self._link_by_timing(list(merged.values()), notes, to_time)
        ordered = sorted(
            merged.values(),
            key=lambda a: (-a.errors, -a.deadline, a.first or 0.0, a.id or a.pod or ""),
        )
        culprits = tuple(_freeze(a, to_time) for a in ordered if a.kind != "runtime")
        runtime = tuple(_freeze(a, to_time) for a in ordered if a.kind == "runtime")
        if self.dropped:
            notes.append(
                f"{self.dropped} failure(s) of more than {MAX_CULPRITS:,} distinct culprits "
                "were not itemised"
            )
        return culprits, runtime, notes

    def _resolve(self, agg: _Agg) -> None:
        if agg.id is not None and agg.kind != "pod":
            agg.uid = agg.uid or self._id_uid.get(agg.id)
            agg.pod = agg.pod or self._id_pod.get(agg.id)
        if agg.uid is not None:
            agg.pod = agg.pod or self._uid_pod.get(agg.uid)
        if agg.kind == "pod" and agg.id is None:
            agg.id = agg.uid

    def _link_by_timing(
        self, aggs: list[_Agg], notes: list[str], to_time: Callable[[float], dt.datetime]
    ) -> None:
        kills = [a for a in aggs if a.kind == "pod" and a.kill_sandbox and a.pod]
        for agg in aggs:
            if agg.kind != "sandbox" or agg.pod or agg.op != "stop_podsandbox" or not agg.deadline:
                continue
            pods = {
                k.pod
                for k in kills
                if any(abs(a - b) <= KILL_LINK_WINDOW_SECONDS for a in agg.times for b in k.times)
            }
            if len(pods) == 1:
                agg.pod = pods.pop()
                agg.linked_by_timing = True
                when = to_time(agg.first or 0.0).isoformat(timespec="seconds")
                notes.append(
                    f"sandbox {(agg.id or '')[:12]} attributed to pod {agg.pod} by timing: its "
                    f"StopPodSandbox timed out within {KILL_LINK_WINDOW_SECONDS:g} s of that "
                    f"pod's KillPodSandbox failure ({when}); the log does not state the link"
                )

    @property
    def unavailable_span(self) -> tuple[float | None, float | None]:
        """First and last time the runtime was unreachable."""
        return self.unavailable_first, self.unavailable_last


def _key(
    kind: str, id: str | None, pod: str | None, uid: str | None, op: str
) -> tuple[str, str, str]:
    """Aggregation key: a pod by its name (else UID), anything else by its id."""
    who = (pod or uid or id) if kind == "pod" else (id or pod or uid)
    return kind, who or "", op


def _same_call(earlier: Failure, later: Failure) -> bool:
    """True when `later` (a caller's line) reports the call `earlier` already reported."""
    if earlier.op != later.op:
        return False
    if earlier.id and later.id and earlier.id != later.id:
        return False
    if earlier.pod and later.pod and earlier.pod != later.pod:
        return False
    return not (earlier.uid and later.uid and earlier.uid != later.uid)


def _absorb(into: _Agg, other: _Agg) -> None:
    into.errors += other.errors
    into.deadline += other.deadline
    for t in other.times:
        into.times.append(t)
    if other.first is not None and (into.first is None or other.first < into.first):
        into.first = other.first
    if other.last is not None and (into.last is None or other.last > into.last):
        into.last = other.last
    if other.example_is_deadline and not into.example_is_deadline:
        into.example, into.example_is_deadline = other.example, True
    into.pod = into.pod or other.pod
    into.uid = into.uid or other.uid
    into.kill_sandbox = into.kill_sandbox or other.kill_sandbox


def _freeze(agg: _Agg, to_time: Callable[[float], dt.datetime]) -> Culprit:
    return Culprit(
        kind=agg.kind,
        id=agg.id,
        pod=agg.pod,
        operation=agg.op,
        errors=agg.errors,
        deadline_exceeded=agg.deadline,
        first=None if agg.first is None else to_time(agg.first),
        last=None if agg.last is None else to_time(agg.last),
        example=agg.example,
        linked_by_timing=agg.linked_by_timing,
    )
