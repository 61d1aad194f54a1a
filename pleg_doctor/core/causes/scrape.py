"""Causes seen in how the kubelet answered a scrape, not in the metrics it returned.

A kubelet's `/metrics` is not a static page: its log metrics collector
(`pkg/kubelet/metrics/collectors/log_metrics.go`, registered in `pkg/kubelet/kubelet.go`
`initializeModules`) calls `ListPodStats` at scrape time, which lists pod sandboxes and
containers through the CRI. While the container runtime hangs, that scrape blocks until the CRI
calls time out (the kubelet's `--runtime-request-timeout`, 2 minutes by default), while `/healthz`
(no CRI call) answers at once. So a scrape that outlasts a patient deadline while `/healthz`
answers is itself evidence of a hung runtime, and a node must be listed as such rather than
dropped as "unreachable". The metrics that would prove it (the timed-out list calls) arrive only
once the scrape returns.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

from pleg_doctor.core.causes.base import Evidence, Finding, fmt_seconds
from pleg_doctor.core.causes.runtime import RUNTIME_HUNG_NEXT_STEPS, RuntimeHung

METRICS_BLOCKED_SCORE = 0.7
"""Strong but indirect: a runtime slow enough to outlast the deadline on a list call scores the
same, and the timed-out calls themselves are not seen yet (`runtime_hung` from the metrics
reaches 0.75 with them)."""


def metrics_blocked(*, node: str, waited_seconds: float, healthz: str) -> Finding:
    """`runtime_hung`, from `/metrics` not answering within `waited_seconds` while the kubelet's
    `/healthz` answered (`healthz`: what it said, e.g. `200 ok`)."""
    return Finding(
        id=RuntimeHung.id,
        score=METRICS_BLOCKED_SCORE,
        title=RuntimeHung.title,
        evidence=(
            Evidence(
                "GET /metrics",
                f"no answer in {fmt_seconds(waited_seconds)}",
                "the kubelet lists pod sandboxes and containers through the CRI at scrape time "
                "(log metrics collector): the scrape blocks as long as those calls, up to the "
                "runtime request timeout",
            ),
            Evidence(
                "GET /healthz",
                healthz,
                "the kubelet itself answers: what does not is the runtime behind it",
            ),
        ),
        next_steps=(
            f"pleg-doctor diagnose --node {node} --timeout 150s   # outwait the CRI timeout: "
            "the scrape then returns with the timed-out calls counted",
            *RUNTIME_HUNG_NEXT_STEPS,
        ),
    )
