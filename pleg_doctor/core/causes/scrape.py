"""Causes seen in how the kubelet answered a scrape, not in the metrics it returned.

A kubelet's `/metrics` is not a static page: its log metrics collector
(`pkg/kubelet/metrics/collectors/log_metrics.go`, registered in `pkg/kubelet/kubelet.go`
`initializeModules`) calls `ListPodStats` at scrape time, which lists pod sandboxes and
containers through the CRI. While the container runtime hangs, that scrape blocks until the CRI
calls time out (the kubelet's `--runtime-request-timeout`, 2 minutes by default), while `/healthz`
(no CRI call) answers at once. So a scrape that outlasts a patient deadline while `/healthz`
answers is itself evidence of a hung runtime, and a node must be listed as such rather than
dropped as "unreachable"; a scrape that answers only after seconds is evidence too. The metrics
that would prove it (the timed-out list calls) arrive only once the scrape returns.

`scrape_finding` is the one `runtime_hung` finding of such a scrape, whoever scraped: `diagnose`
and `check` (a live `--kubelet` or `--node`) and `scan` (every node through the API server)
hand their `ScrapeFacts` to `report.diagnose`, which ranks it with the rules' findings.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pleg_doctor.core.causes import for_node
from pleg_doctor.core.causes.base import SINGLE_SCRAPE_STEPS, Evidence, Finding, clamp
from pleg_doctor.core.causes.runtime import RUNTIME_HUNG_NEXT_STEPS, RuntimeHung
from pleg_doctor.core.constants import DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS

if TYPE_CHECKING:
    from pleg_doctor.core.endpoints import ScrapeFacts

METRICS_BLOCKED_SCORE = 0.7
"""A `/metrics` that blocks (or answers late) while `/healthz` answers: strong but indirect. A
runtime slow enough to outlast the deadline on a list call scores the same, and the timed-out
calls themselves are not seen yet (`runtime_hung` from the metrics reaches 0.75 with them)."""

UNCONFIRMED_SCORE = 0.5
"""A late `/metrics` when `/healthz` was not asked (it answered within the first patience)."""

WHOLE_TIMEOUT_BONUS = 0.1
"""`/metrics` took (or was waited on for) the whole CRI timeout: a call hung, not merely slow."""

NODE_PLEG_UNHEALTHY_BONUS = 0.1
"""The Node's Ready condition already says "PLEG is not healthy"."""

OUTWAIT_MARGIN_SECONDS = 30.0
"""How far past the CRI timeout a patient rescrape waits: the kubelet answers just after it."""


def scrape_finding(
    scrape: ScrapeFacts,
    *,
    node: str | None,
    runtime_request_timeout_seconds: float = DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS,
) -> Finding | None:
    """`runtime_hung` from a `/metrics` that blocked or answered after seconds; None for a
    scrape that answered in time.

    The same evidence and next steps for every command: what `/metrics` did and what `/healthz`
    answered meanwhile, the Node's Ready condition when it says "PLEG is not healthy"; then,
    for a blocked scrape, a `diagnose` patient enough to outwait the CRI timeout (`node` named
    in it, `$NODE` when unknown: `causes.for_node`), `probe-runtime` and the runtime's own
    checks.
    """
    if not (scrape.blocked or scrape.slow):
        return None
    tau = runtime_request_timeout_seconds
    evidence = [
        Evidence(
            "/metrics",
            scrape.scrape_text(),
            f"while {scrape.health_text()}: the kubelet is up, but its /metrics waits for the "
            "container-log collector, which lists sandboxes and containers from the runtime at "
            f"scrape time; a hung runtime holds it up to the {tau:.0f} s CRI timeout"
            if scrape.kubelet_answers
            else "the kubelet's /metrics waits on the runtime at scrape time (its container-log "
            f"collector lists sandboxes and containers), up to {tau:.0f} s",
        )
    ]
    score = METRICS_BLOCKED_SCORE if scrape.kubelet_answers else UNCONFIRMED_SCORE
    if scrape.kubelet_answers:
        evidence.append(
            Evidence(
                "/healthz",
                scrape.health_answer,
                "the kubelet answers its health check without asking the runtime: what does not "
                "answer is the runtime behind it",
            )
        )
    waited = scrape.waited_seconds if scrape.blocked else scrape.metrics_seconds
    if (waited or 0.0) >= 0.9 * tau:
        score += WHOLE_TIMEOUT_BONUS
    if scrape.pleg_unhealthy:
        score += NODE_PLEG_UNHEALTHY_BONUS
        evidence.append(
            Evidence(
                "Node Ready condition",
                scrape.node_ready or "",
                f"the kubelet reports: {scrape.node_message}",
            )
        )
    outwait: tuple[str, ...] = ()
    if scrape.blocked:
        outwait = (
            " ".join(outwait_words("--node", "$NODE", runtime_request_timeout_seconds=tau))
            + "   # outwait the CRI timeout: the scrape then returns with the timed-out calls "
            "counted",
        )
    finding = Finding(
        id=RuntimeHung.id,
        score=clamp(score),
        title=RuntimeHung.title,
        evidence=tuple(evidence),
        next_steps=(
            *outwait,
            *RUNTIME_HUNG_NEXT_STEPS[:2],
            *SINGLE_SCRAPE_STEPS[1:],  # probe-runtime, the kubelet's log
            *RUNTIME_HUNG_NEXT_STEPS[2:],
        ),
    )
    # The node's name (from the API server's list, a capture header) as one quoted shell word.
    (named,) = for_node((finding,), node)
    return named


def outwait_words(
    *source: str, runtime_request_timeout_seconds: float = DEFAULT_RUNTIME_REQUEST_TIMEOUT_SECONDS
) -> tuple[str, ...]:
    """`pleg-doctor diagnose SOURCE... --metrics-timeout 150s` as words (to quote): a diagnose
    of a blocked `/metrics` patient enough to outwait the CRI timeout (150 s for the default
    2 minutes), when the kubelet answers with the timed-out calls counted."""
    timeout = runtime_request_timeout_seconds + OUTWAIT_MARGIN_SECONDS
    return ("pleg-doctor", "diagnose", *source, "--metrics-timeout", f"{timeout:.0f}s")


def metrics_blocked(*, node: str, waited_seconds: float, healthz: str) -> Finding:
    """`scrape_finding` of a `/metrics` that did not answer within `waited_seconds` while the
    kubelet's `/healthz` answered `healthz` (its status and words, e.g. `200 ok`)."""
    from pleg_doctor.core.endpoints import ScrapeFacts

    status, _, said = healthz.partition(" ")
    finding = scrape_finding(
        ScrapeFacts(
            metrics_seconds=None,
            waited_seconds=waited_seconds,
            health_status=int(status),
            health_said=said or None,
        ),
        node=node,
    )
    assert finding is not None  # a blocked scrape always gives one
    return finding
