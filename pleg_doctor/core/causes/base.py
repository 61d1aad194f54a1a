"""What a cause rule sees and returns.

A rule turns one metric signature of docs/model.md#causes into a `Finding`: a score in 0..1, the
evidence behind it (metric, value, what it means) and the next commands to run. Rules read a
`Context` (the window, the model's result and the constants in force) and never anything else.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import ClassVar, Protocol

from pleg_doctor.core.constants import LIST_OPS, STATUS_OPS, PlegConstants
from pleg_doctor.core.distribution import OpStats
from pleg_doctor.core.durations import human_seconds
from pleg_doctor.core.inputs import mean_without_timeouts, op_timeouts
from pleg_doctor.core.model import ModelResult
from pleg_doctor.core.records import record
from pleg_doctor.core.window import Window

# docs/model.md#estimating-the-terms and the real dumps: a healthy runtime answers a list in a few ms to tens of
# ms and a status call in a few ms. These are the "normal" marks slowness is counted from.
NORMAL_LIST_SECONDS = 0.1
NORMAL_STATUS_SECONDS = 0.05


@record
class Evidence:
    """One fact behind a finding."""

    metric: str
    """The metric (or derived figure) it comes from, in the kubelet's own names."""
    value: float | int | str
    note: str
    """What the value means for this cause."""


@record(kw_only=True)
class Finding:
    """A scored cause: the rules' output, ranked by the report."""

    id: str
    """Stable cause id (docs/output.md#cause-ids)."""
    score: float
    title: str
    evidence: tuple[Evidence, ...]
    next_steps: tuple[str, ...]


@record(kw_only=True)
class Context:
    """Everything a rule may look at."""

    window: Window
    model: ModelResult

    @property
    def constants(self) -> PlegConstants:
        """The PLEG constants in force."""
        return self.model.constants

    @property
    def minor(self) -> int | None:
        """Kubelet minor version (1.x), or None."""
        version = self.window.last.version
        return version[1] if version is not None and version[0] == 1 else None

    @property
    def lifetime_factor(self) -> float:
        """Lifetime counters tell what happened since start, not now: rules discount them."""
        return 0.5 if self.window.is_lifetime else 1.0

    def op(self, name: str) -> OpStats | None:
        """Windowed stats of one runtime operation."""
        return self.window.runtime_ops.get(name)

    def timeouts(self, names: tuple[str, ...]) -> float:
        """Timeout-sized calls of the given operations in the window."""
        return sum(op_timeouts(self.op(n)) or 0.0 for n in names)

    def errors(self, names: tuple[str, ...]) -> float:
        """Errors of the given operations in the window."""
        return sum(op.errors for n in names if (op := self.op(n)) is not None)

    def calls(self, names: tuple[str, ...]) -> float | None:
        """Calls of the given operations in the window (None when none is exposed)."""
        present = [op.calls for n in names if (op := self.op(n)) is not None]
        return sum(present) if present else None

    def mean_latency(self, name: str) -> float | None:
        """Mean latency of answered calls (timeouts excluded), from the model's costs, else (no
        relist completed in the window) from the operation's own figures."""
        costs = self.model.costs
        if costs is None:
            return mean_without_timeouts(
                self.op(name), self.constants.runtime_request_timeout_seconds
            )
        return {
            "list_podsandbox": costs.list_podsandbox_seconds,
            "list_containers": costs.list_containers_seconds,
            "podsandbox_status": costs.podsandbox_status_seconds,
            "container_status": costs.container_status_seconds,
        }.get(name)

    def slowness(self) -> list[tuple[float, str, float]]:
        """`(factor, operation, mean latency)` for each relist operation with answered calls.

        The factor is the mean latency over what a healthy runtime takes (`NORMAL_*_SECONDS`):
        above 1 the runtime is slower than normal for that call.
        """
        factors: list[tuple[float, str, float]] = []
        for name in (*LIST_OPS, *STATUS_OPS):
            latency = self.mean_latency(name)
            op = self.op(name)
            if latency is None or op is None or op.calls <= 0:
                continue
            normal = NORMAL_LIST_SECONDS if name in LIST_OPS else NORMAL_STATUS_SECONDS
            factors.append((latency / normal, name, latency))
        return factors

    def worst_slowness(self) -> float:
        """The largest slowness factor (0 without data)."""
        return max((f for f, _, _ in self.slowness()), default=0.0)

    @property
    def list_timeouts(self) -> float:
        """Timeouts of the `GetPods` calls."""
        return self.timeouts(LIST_OPS)

    @property
    def status_timeouts(self) -> float:
        """Timeouts of the per-pod inspection calls."""
        return self.timeouts(STATUS_OPS)

    @property
    def frozen_for(self) -> float | None:
        """The health clock's age when it is frozen now (no relist reset it for longer than a
        relist takes), else None."""
        age = self.model.last_seen_age_seconds
        return age if self.model.stalled and age is not None else None

    def history_factor(self, *, frozen_counts: bool = True) -> float:
        """How much lifetime counters weigh: whole in a window, or when the clock is frozen now
        (`frozen_counts`: the trouble they record is going on); half otherwise (they may be old)."""
        if not self.window.is_lifetime or (frozen_counts and self.frozen_for is not None):
            return 1.0
        return self.lifetime_factor

    @property
    def where(self) -> str:
        """How to say "in the window" in evidence notes."""
        if self.window.is_lifetime:
            return "since the kubelet started"
        seconds = self.window.seconds
        return f"in the last {human_seconds(seconds)}" if seconds is not None else "in the window"


INFORMATIONAL_CAUSES = frozenset({"kubelet_restart"})
"""Causes that explain figures rather than a problem (a kubelet that just started inspected every
pod once and its lifetime means carry that): they rank after every other cause, whatever their
score, so they never hide a real one."""


def ranking_key(finding: Finding) -> tuple[bool, float, str]:
    """How findings are ranked: real causes first, then by score (highest first), then id."""
    return finding.id in INFORMATIONAL_CAUSES, -finding.score, finding.id


class Rule(Protocol):
    """One cause: the class docstring's first line is its title."""

    id: ClassVar[str]
    title: ClassVar[str]

    def evaluate(self, ctx: Context) -> Finding | None:
        """Score the cause, or return None when its prior rules it out."""
        ...


SINGLE_SCRAPE_STEPS = (
    "pleg-doctor diagnose --node $NODE --window 30s   # rates now, not lifetime totals",
    "sudo pleg-doctor probe-runtime   # on the node: which container or sandbox does not answer",
    "journalctl -u kubelet --since -30min | grep -E "
    "'PLEG is not healthy|DeadlineExceeded|Unavailable|GenericPLEG' | tail -n 20",
)
"""What to run next when one scrape is all there is: a window, the runtime probe, the log."""


def epoch_text(epoch: float) -> str:
    """A gauge holding Unix seconds as the dump has it and as a time: `1795965530
    (2026-11-29T15:18:50Z)`, so a reader finds the value and knows what it means."""
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)
    return f"{epoch:.0f} ({moment.strftime('%Y-%m-%dT%H:%M:%SZ')})"


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    """`value` limited to [low, high]; NaN becomes `low`."""
    if math.isnan(value):
        return low
    return max(low, min(high, value))


def fmt_seconds(value: float) -> str:
    """Seconds for a note: `0.012 s`, `3.4 s`, `121 s`, `3d4h`."""
    if value < 1:
        return f"{value:.3f} s"
    if value < 10:
        return f"{value:.1f} s"
    return human_seconds(value)
