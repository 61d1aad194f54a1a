"""The real excerpts of fixtures/kubelet-logs/ read as their threads describe (SOURCES.md there)."""

from __future__ import annotations

import pytest

from pleg_doctor.logs import LogReader, LogsResult, analyze_logs, evidence_for_causes, rfc3339

from .conftest import FIXTURES

LOGS = FIXTURES / "kubelet-logs"


def read(name: str, year: int = 2026) -> LogsResult:
    reader = LogReader([str(LOGS / name)])
    return analyze_logs(reader.chunks(), default_year=year, extra_notes=reader.notes)


def summary(result: LogsResult) -> list[tuple[str, str | None, str | None, str, int, int]]:
    return [
        (c.kind, (c.id or "")[:8] or None, c.pod, c.operation, c.errors, c.deadline_exceeded)
        for c in result.culprits
    ]


def test_every_excerpt_parses_and_every_line_is_accounted_for():
    files = sorted(LOGS.glob("*.log")) + sorted((LOGS / "extra").glob("*.log"))
    assert len(files) == 35
    for path in files:
        result = read(str(path.relative_to(LOGS)))
        lines = path.read_bytes().count(b"\n")
        assert result.lines_read == lines, path.name
        assert result.kubelet_lines + result.lines_skipped + result.lines_continued == lines
        assert result.verdict != "unknown", path.name


def test_k3s_2370_flapping_outage_and_the_hung_container():
    result = read("k3s-2370-containerd-hang-timeline.log")
    first, second = result.unhealthy_periods
    # Anchors SOURCES.md derives: last good relist 16:18:22.376, then 16:32:33.775.
    assert rfc3339(first.last_relist) == "2026-10-08T16:18:22.376"
    assert rfc3339(second.last_relist) == "2026-10-08T16:32:33.775"
    assert rfc3339(first.start) == "2026-10-08T16:21:22.376"  # anchor + 3m threshold
    assert first.end is not None and second.end is None  # unhealthy when the paste ends
    assert round(first.max_age_seconds, 3) == 306.764
    assert round(second.max_age_seconds, 3) == 373.016
    assert (first.messages, second.messages) == (4, 6)
    assert result.timeline.flapping and result.verdict == "critical"
    assert result.relist_failures == 1
    assert summary(result) == [
        ("container", "127f2f85", None, "container_status", 1, 1),
        ("container", "b6031502", None, "stop_container", 1, 1),
        ("pod", "6083039b", "europrod/lil-upload-87f9547cf-6rw9n", "kill_pod", 1, 1),
        ("sandbox", "c5d58313", "europrod/lil-upload-87f9547cf-6rw9n", "stop_podsandbox", 1, 1),
    ]
    sandbox = result.culprits[3]
    assert sandbox.linked_by_timing and any("by timing" in n for n in result.notes)
    (lists,) = result.runtime_failures
    assert (lists.operation, lists.errors, lists.deadline_exceeded) == ("list_containers", 7, 7)
    causes = evidence_for_causes(result)
    assert list(causes)[:2] == ["container_wedged", "runtime_hung"]
    assert causes["container_wedged"].next_steps[0] == (
        "timeout 10 crictl inspect 127f2f8567b0680dffea820ff404f50b2566085b3c47d1452c249586ed212a5b"
    )


def test_event_channel_full():
    result = read("k8s-pr103732-event-channel-full.log")
    assert result.timeline.discarded_events.count == 10
    assert result.unhealthy_periods == () and result.verdict == "warning"
    assert "event_channel_full" in evidence_for_causes(result)


def test_evented_pleg_fallback_with_a_hard_wrapped_line():
    result = read("k8s-129827-evented-pleg-fallback-relisting.log")
    assert result.timeline.evented_errors.count == 3
    assert result.relist_failures == 1
    assert result.timeline.relist_failures_by_error == {"unavailable": 1}
    assert result.lines_continued == 1 and result.lines_skipped == 0
    assert result.culprits == ()  # the runtime restarting is no container's fault
    assert set(evidence_for_causes(result)) == {"evented_pleg_fallback", "runtime_hung"}


def test_steady_state_bracketed_glog():
    result = read("k8s-61117-skipping-bracketed-journal.log")
    (period,) = result.unhealthy_periods
    assert rfc3339(period.last_relist) == "2026-03-13T15:59:38.634"
    assert period.messages == 5 and period.end is None


def test_json_format_with_node_prefix():
    result = read("k8s-61117-json-format-node-prefixed.log")
    assert result.year == 2025 and result.utc_offset_minutes == 0
    assert summary(result) == [
        ("pod", None, "tenant-testmonitoring/etcd-defrag-29218680-tzdzg", "run_podsandbox", 1, 1)
    ]
    # The restart's `pleg has yet to be successful` is start-up noise, not an outage.
    assert result.unhealthy_periods == ()
    assert [p.startup for p in result.timeline.periods] == [True]
    assert len(result.timeline.kubelet_starts) == 1


def test_talos_json_16_hours():
    result = read("talos-11775-json-pleg-16h.log")
    (period,) = result.unhealthy_periods
    assert rfc3339(period.last_relist) == "2025-09-04T02:10:08.771Z"
    assert round(period.max_age_seconds) == 58479 and period.end is None
    assert [f.operation for f in result.runtime_failures] == ["list_containers"]


@pytest.mark.parametrize(
    "name",
    [
        "k8s-65843-startup-runtime-down-maxint.log",
        "k8s-73397-startup-pleg-yet-to-be-successful.log",
        "crio-5549-startup-structured.log",
        "k8s-122338-kubenswrapper-restart-notready.log",
        "extra/k8s-106265-add-dir-header-write-status.log",
    ],
)
def test_start_up_noise_is_not_an_incident(name):
    result = read(name)
    assert result.unhealthy_periods == ()
    assert result.timeline.periods and all(p.startup for p in result.timeline.periods)
    assert result.timeline.runtime_down.count == 0
    assert result.verdict == "ok"
    assert any("start-up" in note for note in result.notes)


def test_start_up_runtime_down_lines_are_counted_apart():
    result = read("k8s-65843-startup-runtime-down-maxint.log")
    assert result.timeline.runtime_down_at_startup == 5


def test_kubenswrapper_restart_notready_is_expected():
    result = read("k8s-122338-kubenswrapper-restart-notready.log")
    (transition,) = result.timeline.transitions
    assert not transition.ready and transition.startup
    assert result.year == 2023 and result.utc_offset_minutes == 8 * 60  # "+0800 CST"
    assert rfc3339(transition.time) == "2023-12-15T17:25:41.121+08:00"


def test_windows_kubelet():
    result = read("k8s-110143-windows-pleg.log")
    (period,) = result.unhealthy_periods
    assert rfc3339(period.last_relist) == "2026-04-22T16:30:13.559"
    assert period.messages == 4 and round(period.max_age_seconds, 1) == 216.4


def test_containerd_socket_refused():
    result = read("gpu-operator-303-containerd-refused-structured.log")
    assert result.relist_failures == 1
    assert result.runtime_unavailable.count >= 2
    assert result.culprits == ()
    assert "runtime_hung" in evidence_for_causes(result)


def test_syslog_with_foreign_cni_json():
    result = read("eks-ami-648-syslog-mixed-cni-json.log")
    assert result.lines_skipped == 2
    assert summary(result) == [
        ("pod", "612add33", "uat-priips/priips-api-management-b5664c45f-z8jjk", "sync_pod", 1, 1),
        ("pod", "369b1564", "uat-priips/wsdstub-69ccbc5888-2cqfv", "sync_pod", 1, 1),
    ]


def test_no_host_name_comma_joined_with_periods():
    result = read("k8s-94525-eks-no-hostname-trailing-period.log")
    (period,) = result.unhealthy_periods
    assert rfc3339(period.last_relist) == "2026-09-04T09:16:27.213"
    assert result.lines_skipped == 1


# --- extra/ ------------------------------------------------------------------------------------


def test_moby_44300_notready_states_year_and_offset():
    result = read("extra/moby-44300-docker-20.10.19-notready.log")
    (period,) = result.unhealthy_periods
    assert period.messages == 4  # three skipping lines and the NotReady line, one anchor
    assert rfc3339(period.last_relist) == "2022-10-14T17:11:40.144-07:00"
    assert result.not_ready_transitions == 1 and not result.timeline.transitions[0].startup
    assert result.timeline.kubelet_starts == ()  # m=+25681 s: not a recent start


def test_stop_sandbox_before_removing_code_4():
    result = read("extra/k8s-51919-stop-sandbox-notready.log")
    assert summary(result) == [("sandbox", "4347e890", None, "stop_podsandbox", 1, 1)]
    assert result.not_ready_transitions == 1 and len(result.unhealthy_periods) == 1
    assert result.year == 2017


def test_stop_pod_sandbox_client_and_caller_count_once():
    result = read("extra/k8s-45419-integrii-stoppodsandbox-calico.log")
    assert summary(result) == [("sandbox", "922f625c", None, "stop_podsandbox", 1, 1)]


def test_notready_v1_6_two_lines_one_transition():
    result = read("extra/k8s-45419-deitch-notready-v1.6.log")
    assert result.not_ready_transitions == 1
    assert result.year == 2017 and result.utc_offset_minutes == 0


def test_error_determining_status_pod():
    result = read("extra/k8s-45419-zhan849-error-determining-status.log")
    assert summary(result) == [("pod", "f0118c7e", "jenkins/optimus-pr-b-6bgc3", "sync_pod", 2, 2)]


def test_pre_cri_dockertools_timeouts():
    result = read("extra/k8s-17525-v1.4-dockertools-timeout.log")
    assert result.relist_failures == 1
    assert result.timeline.relist_failures_by_error == {"deadline": 1}
    assert [f.operation for f in result.runtime_failures] == ["list_containers"]
    assert {c.operation for c in result.culprits} == {"kill_pod", "sync_pod"}


def test_v1_2_cannot_connect_and_node_ready():
    result = read("extra/k8s-21252-v1.2-cannot-connect-docker.log")
    assert result.relist_failures == 1
    assert [t.ready for t in result.timeline.transitions] == [True]
    assert result.not_ready_transitions == 0


def test_code_4_list_timeouts():
    result = read("extra/k8s-54381-code4-list-deadline.log")
    assert [(f.operation, f.deadline_exceeded) for f in result.runtime_failures] == [
        ("list_containers", 1),
        ("list_podsandbox", 1),
    ]


def test_maxint_age_on_a_running_node_is_an_incident():
    result = read("extra/k8s-84978-origin-node-maxint.log")
    (period,) = result.unhealthy_periods
    assert period.never_succeeded and not period.startup and period.end is None
    assert result.verdict == "critical"
    assert any("never relisted" in note for note in result.notes)


def test_kubelet_inside_docker_and_17_hours():
    result = read("extra/kubernetes-anywhere-500-kubelet-in-docker.log")
    (period,) = result.unhealthy_periods
    assert period.messages == 5 and round(period.max_age_seconds / 3600, 1) == 17.4


def test_evented_get_cache_pod_by_uid():
    result = read("extra/k8s-128654-evented-pleg-get-cache.log")
    assert summary(result) == [("pod", "3c55a6f7", None, "pod_status", 1, 1)]
    assert [(f.operation, f.errors) for f in result.runtime_failures] == [("list_containers", 2)]


def test_stray_spaces_in_pasted_durations():
    result = read("extra/runc-2551-kubelet-info-grep.log")
    (period,) = result.unhealthy_periods
    assert period.messages == 4 and round(period.max_age_seconds, 2) == 181.03


def test_rook_cephfs_steady_state():
    (period,) = read("extra/rook-2255-cephfs-kubelet-wrapper.log").unhealthy_periods
    assert period.messages == 5


def test_rook_ceph_notready_v1_11():
    result = read("extra/k8s-73215-rook-ceph-notready.log")
    assert result.not_ready_transitions == 1 and result.year == 2019
    (period,) = result.unhealthy_periods
    assert round(period.max_age_seconds, 1) == 188.8


def test_hyperkube_fluentd_pod():
    result = read("extra/gardener-844-hyperkube-fluentd.log")
    assert summary(result) == [
        ("pod", "e5d6756a", "logging/msa-logging-fluentd-54bbc4fdf7-pxd99", "sync_pod", 1, 1)
    ]


def test_run_pod_sandbox_client_and_two_callers_count_once():
    result = read("extra/k3s-497-runpodsandbox-deadline.log")
    assert summary(result) == [
        ("pod", "964d3950", "kube-system/svclb-traefik-phpd2", "run_podsandbox", 1, 1)
    ]


def test_syncloop_pleg_links_and_notready():
    result = read("extra/kthw-12-gvisor-syncloop-notready.log")
    assert result.not_ready_transitions == 1 and result.culprits == ()


def test_out_of_order_dockershim_timeouts():
    result = read("extra/rancher-21178-dockershim-deadline.log")
    assert summary(result) == [("container", "6606f5b9", None, "exec_sync", 1, 1)]
    assert {f.operation for f in result.runtime_failures} == {"list_podsandbox", "image_status"}


def test_runtime_down_after_list_timeouts():
    result = read("extra/containerd-12138-runtime-down-structured.log")
    assert result.timeline.runtime_down.count == 1
    assert [(f.operation, f.errors) for f in result.runtime_failures] == [("list_containers", 2)]


def test_structured_syslog_2h33m():
    (period,) = read("extra/eks-workshop-447-structured-syslog.log").unhealthy_periods
    assert period.messages == 2 and round(period.max_age_seconds) == 9198
