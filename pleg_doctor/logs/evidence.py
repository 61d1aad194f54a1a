"""What a kubelet log adds to the metric diagnosis: evidence per cause id, and next steps that
name the container to look at.

`diagnose` ranks causes from metrics, which can say "one pod's status calls time out" but never
which pod. This module maps a `LogsResult` onto the same cause ids (docs/output.md#cause-ids) and the same
`Evidence` / `Finding` types, so the report can show both side by side:

* `container_wedged`: containers, sandboxes or pods whose status / stop / kill calls hit the
  CRI timeout (the wedged one, by id and pod), stronger with unhealthy periods and flapping;
* `runtime_hung`: whole-runtime calls (lists, status) timing out, failed relists, `container
  runtime is down` outside start-up, the runtime unreachable;
* `cni`: sandbox calls failing with a network-plugin error in the text;
* `event_channel_full`, `evented_pleg_fallback`: discarded events, Evented PLEG stream failures;
* `kubelet_restart`: kubelet starts in the log (informational).

Scores are what the log alone supports; `merge_findings` combines them with the metric findings
(evidence concatenated, the higher score kept, a small boost when both agree).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from pleg_doctor.core.causes.base import Evidence, Finding, ranking_key
from pleg_doctor.core.causes.kubelet import KUBELET_RESTART_NEXT_STEPS
from pleg_doctor.core.causes.runtime import RUNTIME_HUNG_NEXT_STEPS
from pleg_doctor.core.printable import shell_command
from pleg_doctor.logs.clock import rfc3339
from pleg_doctor.logs.culprits import Culprit
from pleg_doctor.logs.parse import cut
from pleg_doctor.logs.result import LogsResult

MAX_CULPRIT_EVIDENCE = 5
"""Culprits itemised per cause; the rest are summed up in one line."""

AGREEMENT_BOOST = 0.1
"""Added to a cause's score when the metrics and the log both point at it."""

_WEDGE_OPS = frozenset(
    {
        "container_status",
        "podsandbox_status",
        "pod_status",
        "stop_container",
        "stop_podsandbox",
        "kill_pod",
        "remove_container",
        "remove_podsandbox",
        "exec_sync",
        "sync_pod",
    }
)
_NETWORK_WORDS = ("cni", "CNI", "network", "Network", "calico", "Calico")

_TITLES = {
    "container_wedged": "A container or sandbox is wedged",
    "runtime_hung": "Container runtime hung",
    "cni": "Network plugin (CNI) slow or hung",
    "event_channel_full": "PLEG events discarded",
    "evented_pleg_fallback": "Evented PLEG falling back to relisting",
    "kubelet_restart": "Recent kubelet restart",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class CauseEvidence:
    """What the log says for one cause id."""

    cause_id: str
    score: float
    """0..1: how strongly the log alone points at the cause."""
    evidence: tuple[Evidence, ...]
    next_steps: tuple[str, ...]


def _short(value: str | None) -> str:
    return (value or "?")[:12]


def _culprit_evidence(culprit: Culprit) -> Evidence:
    who = {
        "container": f"container {_short(culprit.id)}",
        "sandbox": f"sandbox {_short(culprit.id)}",
        "pod": f"pod {culprit.pod or _short(culprit.id)}",
        "runtime": "the runtime",
    }[culprit.kind]
    pod = ""
    if culprit.kind != "pod":
        pod = f" of pod {culprit.pod}" if culprit.pod else " (pod not named in the log)"
        if culprit.linked_by_timing:
            pod += " (linked by timing)"
    span = rfc3339(culprit.first)
    if culprit.last is not None and culprit.last != culprit.first:
        span = f"{span} to {rfc3339(culprit.last)}"
    return Evidence(
        metric=f"kubelet log: {culprit.operation} of {who}",
        value=f"{culprit.deadline_exceeded} timeout(s) in {culprit.errors} failed call(s)",
        note=f"{who}{pod}, {span}: {cut(culprit.example, 240)}",
    )


def _steps_for(culprits: Sequence[Culprit]) -> list[str]:
    """Commands naming the culprits; every id and name from the log is a quoted shell word
    (`printable.shell_command`), so a hostile pod name stays one argument."""
    steps: list[str] = []
    for culprit in culprits[:3]:
        if culprit.kind == "container" and culprit.id:
            steps.append(shell_command("timeout", "10", "crictl", "inspect", culprit.id))
        elif culprit.kind == "sandbox" and culprit.id:
            steps.append(shell_command("timeout", "10", "crictl", "inspectp", culprit.id))
        elif culprit.kind == "pod" and culprit.pod:
            namespace, _, name = culprit.pod.partition("/")
            pods = shell_command("crictl", "pods", "--namespace", namespace, "--name", name, "-q")
            steps.append(f"{pods} | xargs -r -n1 timeout 10 crictl inspectp")
    return list(dict.fromkeys(steps))


def evidence_for_causes(result: LogsResult) -> dict[str, CauseEvidence]:
    """Map a logs result onto cause ids: evidence, a log-only score and next steps per cause.

    Only causes the log supports are present. The dict is ordered by score, highest first.
    """
    found: dict[str, CauseEvidence] = {}
    timeline = result.timeline
    incidents = result.unhealthy_periods

    wedged = [
        c
        for c in result.culprits
        if c.deadline_exceeded and c.operation in _WEDGE_OPS and c.kind != "runtime"
    ]
    if wedged:
        score = 0.6
        if incidents:
            score += 0.15
        if timeline.flapping:
            score += 0.1
        if any(c.deadline_exceeded >= 2 for c in wedged):
            score += 0.05
        evidence = [_culprit_evidence(c) for c in wedged[:MAX_CULPRIT_EVIDENCE]]
        if len(wedged) > MAX_CULPRIT_EVIDENCE:
            rest = wedged[MAX_CULPRIT_EVIDENCE:]
            evidence.append(
                Evidence(
                    "kubelet log: more culprits",
                    len(rest),
                    f"{sum(c.deadline_exceeded for c in rest)} more timeout(s) on "
                    f"{len(rest)} other container(s), sandbox(es) or pod(s)",
                )
            )
        if timeline.flapping:
            evidence.append(
                Evidence(
                    "kubelet log: unhealthy periods",
                    len(incidents),
                    "PLEG recovered and relapsed: one hung call per relist keeps the age "
                    "oscillating around the threshold",
                )
            )
        steps = _steps_for(wedged)
        steps.append("pleg-doctor probe-runtime   # time crictl inspect/inspectp on every id")
        steps.append("ps -eo pid,stat,wchan:32,cmd | awk '$2 ~ /D/'   # D-state (stuck I/O)")
        found["container_wedged"] = CauseEvidence(
            cause_id="container_wedged",
            score=round(min(score, 0.95), 2),
            evidence=tuple(evidence),
            next_steps=tuple(steps),
        )

    runtime_evidence: list[Evidence] = []
    runtime_score = 0.0
    list_timeouts = [f for f in result.runtime_failures if f.deadline_exceeded]
    runtime_evidence.extend(
        Evidence(
            f"kubelet log: {failure.operation} (whole runtime)",
            f"{failure.deadline_exceeded} timeout(s)",
            f"{rfc3339(failure.first)} to {rfc3339(failure.last)}: {cut(failure.example, 240)}",
        )
        for failure in list_timeouts
    )
    if list_timeouts:
        runtime_score = 0.55 + min(0.2, 0.05 * sum(f.deadline_exceeded for f in list_timeouts))
    relist = timeline.relist_failures
    if relist.count:
        runtime_score = max(runtime_score, 0.5)
        runtime_evidence.append(
            Evidence(
                "kubelet log: GenericPLEG: Unable to retrieve pods",
                relist.count,
                f"relists whose GetPods failed ({rfc3339(relist.first)} to "
                f"{rfc3339(relist.last)}): the health clock was not reset",
            )
        )
    if timeline.runtime_down.count:
        runtime_score = max(runtime_score, 0.6) + 0.1
        runtime_evidence.append(
            Evidence(
                "kubelet log: container runtime is down",
                timeline.runtime_down.count,
                f"the runtime's Status() failed for 30 s ({rfc3339(timeline.runtime_down.first)}"
                f" to {rfc3339(timeline.runtime_down.last)})",
            )
        )
    if result.runtime_unavailable.count:
        runtime_score = max(runtime_score, 0.6)
        runtime_evidence.append(
            Evidence(
                "kubelet log: runtime unreachable",
                result.runtime_unavailable.count,
                "calls failed with Unavailable / connection refused: "
                + cut(result.runtime_unavailable.example or "", 200),
            )
        )
    if runtime_evidence:
        found["runtime_hung"] = CauseEvidence(
            cause_id="runtime_hung",
            score=round(min(runtime_score, 0.9), 2),
            evidence=tuple(runtime_evidence),
            next_steps=RUNTIME_HUNG_NEXT_STEPS,
        )

    network = [
        c
        for c in result.culprits
        if c.kind in ("sandbox", "pod")
        and "podsandbox" in c.operation
        and any(word in c.example for word in _NETWORK_WORDS)
    ]
    if network:
        found["cni"] = CauseEvidence(
            cause_id="cni",
            score=0.6 if any(c.deadline_exceeded for c in network) else 0.4,
            evidence=tuple(_culprit_evidence(c) for c in network[:MAX_CULPRIT_EVIDENCE]),
            next_steps=(
                *_steps_for(network),
                "kubectl -n kube-system get pods -o wide | grep -iE 'calico|cilium|flannel|aws-node|weave'",
            ),
        )

    discards = timeline.discarded_events
    if discards.count:
        found["event_channel_full"] = CauseEvidence(
            cause_id="event_channel_full",
            score=0.6,
            evidence=(
                Evidence(
                    "kubelet log: event channel is full",
                    discards.count,
                    f"PLEG events discarded ({rfc3339(discards.first)} to "
                    f"{rfc3339(discards.last)}): the sync loop was not consuming them",
                ),
            ),
            next_steps=("journalctl -u kubelet | grep -c 'event channel is full'",),
        )
    evented = timeline.evented_errors
    if evented.count:
        found["evented_pleg_fallback"] = CauseEvidence(
            cause_id="evented_pleg_fallback",
            score=0.6,
            evidence=(
                Evidence(
                    "kubelet log: Evented PLEG stream failures",
                    evented.count,
                    f"GetContainerEvents failed ({rfc3339(evented.first)} to "
                    f"{rfc3339(evented.last)}): generic relisting takes over",
                ),
            ),
            next_steps=("journalctl -u containerd --since -30min | grep -i event",),
        )
    if timeline.kubelet_starts:
        starts = timeline.kubelet_starts
        found["kubelet_restart"] = CauseEvidence(
            cause_id="kubelet_restart",
            score=0.3,
            evidence=(
                Evidence(
                    "kubelet log: Starting kubelet main sync loop",
                    len(starts),
                    "kubelet start(s) at "
                    + ", ".join(str(rfc3339(s)) for s in starts[:3])
                    + ": the first relist after a start inspects every pod",
                ),
            ),
            next_steps=KUBELET_RESTART_NEXT_STEPS,
        )
    return dict(sorted(found.items(), key=lambda item: (-item[1].score, item[0])))


def culprit_findings(result: LogsResult) -> tuple[Finding, ...]:
    """`evidence_for_causes` as ranked `Finding`s (the type the metric rules return)."""
    findings = [
        Finding(
            id=cause.cause_id,
            score=round(cause.score, 2),
            title=_TITLES.get(cause.cause_id, cause.cause_id),
            evidence=cause.evidence,
            next_steps=cause.next_steps,
        )
        for cause in evidence_for_causes(result).values()
    ]
    return tuple(sorted(findings, key=lambda f: (-f.score, f.id)))


def merge_findings(
    metric_findings: Sequence[Finding], log_findings: Sequence[Finding]
) -> tuple[Finding, ...]:
    """Combine metric and log findings of the same cause id, ranked as `rank` does.

    Evidence is concatenated (metrics first), next steps are the log's first (they name the
    container) then the metrics' without duplicates, the score is the higher of the two plus
    `AGREEMENT_BOOST` when both point at the cause (capped at 1). Causes only one side has are
    kept as they are.
    """
    merged: dict[str, Finding] = {f.id: f for f in metric_findings}
    for log in log_findings:
        metric = merged.get(log.id)
        if metric is None:
            merged[log.id] = log
            continue
        merged[log.id] = dataclasses.replace(
            metric,
            score=round(min(1.0, max(metric.score, log.score) + AGREEMENT_BOOST), 2),
            evidence=(*metric.evidence, *log.evidence),
            next_steps=tuple(dict.fromkeys((*log.next_steps, *metric.next_steps))),
        )
    return tuple(sorted(merged.values(), key=ranking_key))


UNKNOWN_OFFSET_SLACK = dt.timedelta(hours=15)
"""A log without its UTC offset may be up to 14 hours off UTC (UTC-12 .. UTC+14), plus margin."""
KNOWN_OFFSET_SLACK = dt.timedelta(minutes=5)
"""With the offset known: clock skew between the node and the scraper, and log buffering."""


def log_mismatch(
    result: LogsResult, *, node: str | None, start: float | None, end: float | None
) -> str | None:
    """Why the log cannot be about this node at this time, or None when it can be.

    The log names the node it comes from (a `node` field, a journald host): another node's log
    would add that node's culprits to this one. A log whose time range does not come near the
    metrics' (`start`..`end`, Unix seconds) describes another incident. A log that names no
    node, or whose times are unknown, is given the benefit of the doubt.
    """
    names = result.node_names
    if node is not None and names and node not in names and _short_host(node) not in names:
        return f"the kubelet log is from {', '.join(names[:3])}, not {node}: another host's log"
    if start is None or end is None or result.first_time is None or result.last_time is None:
        return None
    slack = KNOWN_OFFSET_SLACK if result.utc_offset_minutes is not None else UNKNOWN_OFFSET_SLACK
    first, last = _epoch(result.first_time), _epoch(result.last_time)
    if last < start - slack.total_seconds() or first > end + slack.total_seconds():
        return (
            f"the kubelet log covers {rfc3339(result.first_time)} to {rfc3339(result.last_time)},"
            f" far from the metrics ({_utc(start)} to {_utc(end)}): another time's log"
        )
    return None


def _short_host(node: str) -> str:
    # journald prints the short host name; node names are often the FQDN (EC2, GCE).
    return node.split(".", 1)[0]


def _epoch(moment: dt.datetime) -> float:
    """Unix seconds; a naive time (offset unknown) is read as UTC, the slack covers the rest."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def _utc(epoch: float) -> str:
    return rfc3339(dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)) or ""
