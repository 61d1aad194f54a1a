"""How the kubelet's endpoints answered a live scrape: evidence beside the metrics.

The kubelet gathers `/metrics` with a container-log collector that lists sandboxes and
containers from the runtime at scrape time, and writes nothing before every collector returned.
So when the runtime hangs, `/metrics` waits with it, up to the 2-minute CRI timeout, while
`/healthz` (served without asking the runtime) answers at once. A live scrape that is slow or
does not answer while `/healthz` does is therefore evidence about the runtime, not only a failed
request; the Node's Ready condition (`--node`) says whether the kubelet already reported "PLEG is
not healthy". `ScrapeFacts` carries those answers into the diagnosis (`causes/scrape.py` turns
them into the `runtime_hung` finding, for `diagnose`, `check` and `scan` alike).

Pure: no I/O, no clock, no environment (the sources measure; this module judges).
"""

from __future__ import annotations

import dataclasses

from pleg_doctor.core.durations import human_seconds

SLOW_SCRAPE_SECONDS = 10.0
"""A `/metrics` answer this slow is not the kubelet's own work (it answers in milliseconds to a
few seconds): something it waits on at scrape time, the runtime, is slow or hung."""

PLEG_NOT_HEALTHY = "PLEG is not healthy"
"""What the kubelet writes into the Ready condition's message (`pkg/kubelet/kubelet.go`
`runtimeState` health checks, the PLEG's `Healthy`)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScrapeFacts:
    """What the live endpoints did during one scrape."""

    metrics_seconds: float | None
    """How long `/metrics` took to start answering (to its headers), None when it never did."""
    waited_seconds: float | None = None
    """The patience that ran out when `/metrics` did not answer."""
    health_path: str = "/healthz"
    """Where the kubelet's health was asked (`/healthz`, or through the API server proxy)."""
    health_seconds: float | None = None
    """How long `/healthz` took to answer, None when it was not asked or did not answer."""
    health_status: int | None = None
    """Its HTTP status (any status proves the kubelet's server is up; 200 is `ok`)."""
    health_said: str | None = None
    """What it said, one line (`ok`, or the first failing check `[-]syncloop failed`)."""
    node_ready: str | None = None
    """The Node's Ready condition status (`True`, `False`, `Unknown`) when it was read."""
    node_message: str | None = None
    """Its message, e.g. "PLEG is not healthy: pleg was last seen active 3m12s ago"."""

    @property
    def blocked(self) -> bool:
        """`/metrics` never answered within the patience."""
        return self.metrics_seconds is None and self.waited_seconds is not None

    @property
    def slow(self) -> bool:
        """`/metrics` answered, but only after `SLOW_SCRAPE_SECONDS` or more."""
        return self.metrics_seconds is not None and self.metrics_seconds >= SLOW_SCRAPE_SECONDS

    @property
    def kubelet_answers(self) -> bool:
        """`/healthz` answered (whatever its status): the kubelet's HTTP server is alive."""
        return self.health_status is not None

    @property
    def health_answer(self) -> str:
        """`200 ok`, `500 [-]syncloop failed`: the status and what `/healthz` said."""
        return f"{self.health_status} {self.health_said or ''}".strip()

    @property
    def pleg_unhealthy(self) -> bool:
        """The Node's Ready condition is False with "PLEG is not healthy"."""
        return self.node_ready == "False" and PLEG_NOT_HEALTHY in (self.node_message or "")

    def health_text(self) -> str:
        """`/healthz answered in 3 ms` (with the status when it is not 200)."""
        if not self.kubelet_answers:
            return f"{self.health_path} did not answer either"
        status = "" if self.health_status == 200 else f" {self.health_status}"
        if self.health_seconds is None:
            return f"{self.health_path} answered{status}"
        return f"{self.health_path} answered{status} in {_duration(self.health_seconds)}"

    def scrape_text(self) -> str:
        """`/metrics did not answer in 15 s` or `/metrics took 120 s to answer`."""
        if self.blocked and self.waited_seconds is not None:
            return f"/metrics did not answer in {_duration(self.waited_seconds)}"
        if self.metrics_seconds is not None:
            return f"/metrics took {_duration(self.metrics_seconds)} to answer"
        return "/metrics was not read"

    def to_dict(self) -> dict[str, object]:
        """The JSON `scrape` object (schema `pleg-doctor/v1`, added field)."""
        return {
            "metrics_seconds": _round(self.metrics_seconds),
            "blocked": self.blocked,
            "waited_seconds": _round(self.waited_seconds),
            "health_path": self.health_path,
            "health_seconds": _round(self.health_seconds),
            "health_status": self.health_status,
            "node_ready": self.node_ready,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return human_seconds(seconds) if seconds >= 10 else f"{seconds:.1f} s"
