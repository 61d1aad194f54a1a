"""What a log adds to the diagnosis: evidence per cause id, findings, merging with metrics."""

from __future__ import annotations

from pleg_doctor.core.causes import CAUSE_IDS, Evidence, Finding
from pleg_doctor.logs import analyze_logs, culprit_findings, evidence_for_causes, merge_findings

from .logsamples import CID, SID, render


def _result():
    return analyze_logs([render("structured").encode()], default_year=2026)


def test_wedged_container_is_named_with_its_pod_and_commands():
    causes = evidence_for_causes(_result())
    wedged = causes["container_wedged"]
    assert wedged.score >= 0.8  # timeouts + unhealthy periods + flapping
    metrics = [e.metric for e in wedged.evidence]
    assert metrics[:2] == [
        f"kubelet log: container_status of container {CID[:12]}",
        f"kubelet log: podsandbox_status of sandbox {SID[:12]}",
    ]
    assert "of pod shop/cart-7d9c9c8d8b-q2lzj" in wedged.evidence[0].note
    assert wedged.next_steps[:2] == (
        f"timeout 10 crictl inspect {CID}",
        f"timeout 10 crictl inspectp {SID}",
    )
    assert "runtime_hung" in causes  # the failed relist
    assert "event_channel_full" in causes


def test_every_cause_id_is_a_contract_id_and_scores_are_ranked():
    findings = culprit_findings(_result())
    assert findings and all(f.id in CAUSE_IDS for f in findings)
    assert all(0 < f.score <= 1 for f in findings)
    assert [f.score for f in findings] == sorted((f.score for f in findings), reverse=True)


def test_merge_findings_combines_metrics_and_log():
    metric = Finding(
        id="container_wedged",
        score=0.9,
        title="A container or sandbox is wedged",
        evidence=(Evidence("kubelet_runtime_operations_errors_total{container_status}", 5, "x"),),
        next_steps=("for c in $(crictl ps -aq); do timeout 10 crictl inspect $c; done",),
    )
    other = Finding(id="pod_density", score=0.3, title="t", evidence=(), next_steps=())
    merged = merge_findings([metric, other], culprit_findings(_result()))
    top = merged[0]
    assert top.id == "container_wedged" and top.score == 1.0
    assert top.evidence[0] is metric.evidence[0] and len(top.evidence) > 1
    assert top.next_steps[0] == f"timeout 10 crictl inspect {CID}"  # the log names it
    assert metric.next_steps[0] in top.next_steps
    assert {f.id for f in merged} >= {"container_wedged", "pod_density", "runtime_hung"}


def test_a_clean_log_has_no_evidence():
    text = b"I0101 00:00:00.000000    1 reconciler.go:1] mounted\n"
    assert evidence_for_causes(analyze_logs([text], default_year=2026)) == {}


def test_a_log_names_its_node_and_a_mismatch_is_said():
    import datetime as dt

    from pleg_doctor.logs import analyze_logs, log_mismatch

    line = (
        b"Nov 29 15:20:51 ip-10-0-0-1 kubelet[6671]: E1129 15:20:51.820800    6671 log.go:32] "
        b'"ListPodSandbox with filter from runtime service failed" err="rpc error: code = '
        b'DeadlineExceeded desc = context deadline exceeded"\n'
    )
    result = analyze_logs([line], default_year=2026)
    assert result.node_names == ("ip-10-0-0-1",)  # the journald host
    at = dt.datetime(2026, 11, 29, 15, 21, tzinfo=dt.timezone.utc).timestamp()
    # journald prints the short host name of an FQDN node
    assert log_mismatch(result, node="ip-10-0-0-1.ec2.internal", start=at - 60, end=at) is None
    other = log_mismatch(result, node="ip-10-0-0-2.ec2.internal", start=at - 60, end=at)
    assert other is not None and "another host's log" in other
    # the offset is unknown: only a gap beyond any UTC offset is "another time"
    assert log_mismatch(result, node=None, start=at + 10 * 3600, end=at + 11 * 3600) is None
    later = log_mismatch(result, node=None, start=at + 20 * 3600, end=at + 21 * 3600)
    assert later is not None and "another time's log" in later
