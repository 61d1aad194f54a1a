"""The log parser: Go durations, every line format, the chunk scanner, the catalogue's messages."""

from __future__ import annotations

import random
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pleg_doctor.logs import analyze_logs, parse_go_duration
from pleg_doctor.logs import scanner as parse_module
from pleg_doctor.logs.classify import classify, classify_error, normalize_pod
from pleg_doctor.logs.parse import NEVER_SECONDS, parse_record
from pleg_doctor.logs.scanner import ANCHORS, ScanStats, scan

from .logsamples import FORMATS, go_duration, render

# --- Go durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3m0s", 180.0),
        ("3m0.4s", 180.4),
        ("3m5.30015447s", 185.30015447),
        ("16h14m34.439643899s", 16 * 3600 + 14 * 60 + 34.439643899),
        ("2562047h47m16.854775807s", NEVER_SECONDS),
        ("250ms", 0.25),
        ("1.5µs", 1.5e-6),
        ("10m0s", 600.0),
        ("0", 0.0),
        ("3m0.32           2579259s", 180.322579259),  # runc#2551: spaces from a paste
    ],
)
def test_go_durations(text, seconds):
    assert parse_go_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("text", ["", "3x", "m3s", "3m0s ago", "ago", "1h-2m"])
def test_not_go_durations(text):
    assert parse_go_duration(text) is None


@given(st.floats(min_value=0.001, max_value=1e6, allow_nan=False))
def test_go_duration_round_trip(seconds):
    assert parse_go_duration(go_duration(seconds)) == pytest.approx(seconds, abs=1e-5)


# --- one line of every format ------------------------------------------------------------------

HEALTH = (
    "skipping pod synchronization - PLEG is not healthy: pleg was last seen active 3m5.3s ago; "
    "threshold is 3m0s"
)
KLOG = f"E0313 16:02:43.934473    1450 kubelet.go:1778] {HEALTH}"


@pytest.mark.parametrize(
    "line",
    [
        KLOG,  # plain klog file
        f"Mar 13 16:02:43 vk-node kubelet[1450]: {KLOG}",  # journalctl (short)
        f"Mar 13 16:02:45.123456 vk-node kubelet[1450]: {KLOG}",  # -o short-precise
        f"Mar  3 16:02:43 vk-node kubelet[1450]: {KLOG}",  # day padded with a space
        f"Sep 04 09:23:20 kubelet[7981]: {KLOG}",  # no host name
        f"Oct 21 06:03:47  kubelet[1530]: {KLOG}",  # empty host name
        f"Jan 28 15:05:48 pc79k8sp100016 kubelet: {KLOG}",  # syslog, no pid
        f"Oct  8 16:39:44 worker9 k3s[1636]: {KLOG}",
        f"Dec 15 17:25:41 single1 kubenswrapper[1832249]: {KLOG}",
        f"Mar 22 10:41:31 shoot--x hyperkube[1403]: {KLOG}",
        f"Oct 23 09:37:37 ag05.prod.com kubelet-wrapper[28811]: {KLOG}",
        f"Nov 08 16:25:22 paas-node origin-node[29837]: {KLOG}",
        f"Dec 12 21:55:45 kubernetes-node5 docker[641]: {KLOG}",  # kubelet in a container
        f"2026-03-13T16:02:43+0100 vk-node kubelet[1450]: {KLOG}",  # -o short-iso
        f"{KLOG}\r",  # a Windows log file
    ],
)
def test_prefixes_are_skipped_and_klog_time_used(line):
    record = parse_record(line.encode())
    assert record is not None
    assert record.severity == "E" and record.caller == "kubelet.go:1778"
    assert record.local is not None
    assert (record.local.month, record.local.day) == (3, 13)
    assert record.local.seconds == pytest.approx(16 * 3600 + 2 * 60 + 43.934473)
    assert record.message.startswith("skipping pod synchronization") and record.fields is None


def test_pid_widths_and_caller_directories():
    for pid in ("    1941", "  363817", " 2129392", " 3970407"):
        record = parse_record(f"I0101 00:00:00.000001{pid} kubelet/kubelet.go:1991] x".encode())
        assert record is not None and record.caller == "kubelet/kubelet.go:1991"


def test_short_iso_prefix_gives_year_and_offset():
    record = parse_record(f"2024-12-31T23:59:59+0530 h kubelet[1]: {KLOG}".encode())
    assert record is not None
    assert record.year_hint == (2024, 12) and record.offset_hint == 330


def test_structured_record_fields():
    line = (
        'E0118 10:19:44.767958  197889 kuberuntime_manager.go:1003] "PodSandboxStatus of sandbox '
        'for pod" err="rpc error: code = DeadlineExceeded desc = \\"quoted\\"" '
        'podSandboxID="abc" pod="kube-system/calico-node-x" condition={Type:Ready Status:False} '
        "count=3 list=[a b]"
    )
    record = parse_record(line.encode())
    assert record is not None
    assert record.message == "PodSandboxStatus of sandbox for pod"
    assert record.fields == {
        "err": 'rpc error: code = DeadlineExceeded desc = "quoted"',
        "podSandboxID": "abc",
        "pod": "kube-system/calico-node-x",
        "condition": "{Type:Ready Status:False}",
        "count": "3",
        "list": "[a b]",
    }
    assert record.error.startswith("rpc error")


def test_json_record_with_node_prefix_and_pod_object():
    line = (
        '10.200.1.3: {"ts":1753121294157.4375,"caller":"kuberuntime/kuberuntime_sandbox.go:72",'
        '"msg":"Failed to create sandbox for pod","pod":{"name":"etcd-x","namespace":"t"},'
        '"err":"rpc error: code = DeadlineExceeded desc = context deadline exceeded"}'
    )
    record = parse_record(line.encode())
    assert record is not None and record.local is None
    assert record.epoch == pytest.approx(1753121294.1574375)
    assert record.severity == "E" and record.fields is not None
    assert record.fields["pod"] == "t/etcd-x"


def test_foreign_and_broken_lines_are_not_records():
    for line in (
        '{"level":"info","ts":"2021-04-08T07:44:28.615Z","caller":"proc.go:203","msg":"CNI"}',
        "Mar 13 16:02:43 node systemd[1]: Started Session 42 of user root.",
        "\x00\x01\x02 garbage",
        "",
        'time="2026-01-01T00:00:00Z" level=error msg="PLEG"',  # containerd's logfmt
        "E1399 25:61:99.000000    1 x.go:1] impossible date",
    ):
        record = parse_record(line.encode())
        assert record is None or record.local is None


def test_cut_json_record_keeps_scalar_fields():
    line = '10.0.0.1: {"ts":1753148291619.3523,"caller":"kubelet/kubelet.go:2406","msg":"Skipping pod synchronization","err":"x","errCauses"'
    record = parse_record(line.encode())
    assert record is not None and record.message == "Skipping pod synchronization"
    assert record.fields == {"err": "x"}


# --- classification ----------------------------------------------------------------------------

DEADLINE = "rpc error: code = DeadlineExceeded desc = context deadline exceeded"
CID = "c" * 64
SID = "d" * 64


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (DEADLINE, "deadline"),
        ("rpc error: code = 4 desc = context deadline exceeded", "deadline"),
        ("operation timeout: context deadline exceeded", "deadline"),
        ("dockertools.operationTimeout{err:(*errors.errorString)(0xc8200110c0)}", "deadline"),
        (
            "rpc error: code = Unavailable desc = connection error: connect: connection refused",
            "unavailable",
        ),
        ("cannot connect to Docker endpoint", "unavailable"),
        (
            'rpc error: code = NotFound desc = an error occurred when try to find container "x": not found',
            "notfound",
        ),
        ("rpc error: code = Unimplemented desc = not implemented", "unimplemented"),
        ("rpc error: code = Unknown desc = failed to stop container", "other"),
    ],
)
def test_error_classes(error, kind):
    assert classify_error(error) == kind


@pytest.mark.parametrize(
    ("text", "pod", "uid"),
    [
        (
            "lil-upload-87f9547cf-6rw9n_europrod(6083039b-081e-4070-b751-bf877fd35ae0)",
            "europrod/lil-upload-87f9547cf-6rw9n",
            "6083039b-081e-4070-b751-bf877fd35ae0",
        ),
        ("svclb-traefik-phpd2_kube-system", "kube-system/svclb-traefik-phpd2", None),
        ("kube-system/calico-node-kckfc", "kube-system/calico-node-kckfc", None),
        ("not a pod", None, None),
        (None, None, None),
    ],
)
def test_pod_names_normalize_to_namespace_slash_name(text, pod, uid):
    assert normalize_pod(text) == (pod, uid)


# Every message pattern of the catalogue (fixtures/kubelet-logs/SOURCES.md and the shared
# catalogue it comes from), as a look-alike line: (message, operation, kind, id, pod, deadline).
# Several come from excerpts this repository does not hold: the parser must hold on them too.
CATALOGUE = [
    (
        f'ContainerStatus "{CID}" from runtime service failed: {DEADLINE}',
        "container_status",
        "container",
        CID,
        None,
    ),
    (
        f'Failed to get container status for "{CID}": {DEADLINE}',
        "container_status",
        "container",
        CID,
        None,
    ),
    (
        f'PodSandboxStatus of sandbox "{SID}" for pod "web-1_prod(0a0a0a0a-0a0a-0a0a-0a0a-0a0a0a0a0a0a)" error: {DEADLINE}',
        "podsandbox_status",
        "sandbox",
        SID,
        "prod/web-1",
    ),
    (
        f'"PodSandboxStatus of sandbox for pod" err="{DEADLINE}" podSandboxID="{SID}" pod="prod/web-1"',
        "podsandbox_status",
        "sandbox",
        SID,
        "prod/web-1",
    ),
    (
        f'StopPodSandbox "{SID}" from runtime service failed: {DEADLINE}',
        "stop_podsandbox",
        "sandbox",
        SID,
        None,
    ),
    (
        f'"StopPodSandbox from runtime service failed" err="{DEADLINE}" podSandboxID="{SID}"',
        "stop_podsandbox",
        "sandbox",
        SID,
        None,
    ),
    (f'Failed to stop sandbox {{"containerd" "{SID}"}}', "stop_podsandbox", "sandbox", SID, None),
    (
        f'Failed to stop sandbox "{SID}" before removing: rpc error: code = 4 desc = context deadline exceeded',
        "stop_podsandbox",
        "sandbox",
        SID,
        None,
    ),
    (
        f'"Failed to stop sandbox before removing" err="{DEADLINE}" sandboxID="{SID}"',
        "stop_podsandbox",
        "sandbox",
        SID,
        None,
    ),
    (
        f'Failed to stop sandbox "{SID}": operation timeout: context deadline exceeded',
        "stop_podsandbox",
        "sandbox",
        SID,
        None,
    ),
    (
        f'Container "containerd://{CID}" termination failed with gracePeriod 30: {DEADLINE}',
        "stop_container",
        "container",
        CID,
        None,
    ),
    (
        f'"Kill container failed" err="{DEADLINE}" pod="prod/web-1" podUID="0a0a0a0a-0a0a-0a0a-0a0a-0a0a0a0a0a0a" containerName="web" containerID={{"Type":"containerd","ID":"{CID}"}}',
        "stop_container",
        "container",
        CID,
        "prod/web-1",
    ),
    (
        f'CreatePodSandbox for pod "web-1_prod(0a0a0a0a-0a0a-0a0a-0a0a-0a0a0a0a0a0a)" failed: {DEADLINE}',
        "run_podsandbox",
        "pod",
        None,
        "prod/web-1",
    ),
    (
        f'createPodSandbox for pod "web-1_prod(0a0a0a0a-0a0a-0a0a-0a0a-0a0a0a0a0a0a)" failed: {DEADLINE}',
        "run_podsandbox",
        "pod",
        None,
        "prod/web-1",
    ),
    (
        f'"CreatePodSandbox for pod failed" err="{DEADLINE}" pod="prod/web-1"',
        "run_podsandbox",
        "pod",
        None,
        "prod/web-1",
    ),
    (f"RunPodSandbox from runtime service failed: {DEADLINE}", "run_podsandbox", "pod", None, None),
    (
        f'Error syncing pod 0a0a0a0a-0a0a-0a0a-0a0a-0a0a0a0a0a0a ("web-1_prod(0a0a0a0a-0a0a-0a0a-0a0a-0a0a0a0a0a0a)"), skipping: {DEADLINE}',
        "sync_pod",
        "pod",
        None,
        "prod/web-1",
    ),
    (
        f'"Error syncing pod, skipping" err="{DEADLINE}" pod="prod/web-1" podUID="0a0a0a0a-0a0a-0a0a-0a0a-0a0a0a0a0a0a"',
        "sync_pod",
        "pod",
        None,
        "prod/web-1",
    ),
    (
        f'getPodContainerStatuses for pod "web-1_prod(0a0a0a0a-0a0a-0a0a-0a0a-0a0a0a0a0a0a)" failed: {DEADLINE}',
        "container_status",
        "pod",
        None,
        "prod/web-1",
    ),
    (
        f"PLEG: Ignoring events for pod web-1/prod: {DEADLINE}",
        "pod_status",
        "pod",
        None,
        "prod/web-1",
    ),
    (
        f'"PLEG: Ignoring events for pod" err="{DEADLINE}" pod="prod/web-1"',
        "pod_status",
        "pod",
        None,
        "prod/web-1",
    ),
    (
        f'"PLEG: Write status" err="{DEADLINE}" pod="prod/web-1"',
        "pod_status",
        "pod",
        None,
        "prod/web-1",
    ),
    (
        f'"Evented PLEG: Get cache" err="{DEADLINE}" podID=0a0a0a0a-0a0a-0a0a-0a0a-0a0a0a0a0a0a',
        "pod_status",
        "pod",
        None,
        None,
    ),
    (
        f"ListPodSandbox with filter nil from runtime service failed: {DEADLINE}",
        "list_podsandbox",
        "runtime",
        None,
        None,
    ),
    (
        f'ListPodSandbox with filter "nil" from runtime service failed: {DEADLINE}',
        "list_podsandbox",
        "runtime",
        None,
        None,
    ),
    (
        f"ListPodSandbox with filter &PodSandboxFilter{{Id:,State:&PodSandboxStateValue{{State:SANDBOX_READY,}},LabelSelector:map[string]string{{}},}} from runtime service failed: {DEADLINE}",
        "list_podsandbox",
        "runtime",
        None,
        None,
    ),
    (
        f'"ListPodSandbox with filter from runtime service failed" err="{DEADLINE}" filter="nil"',
        "list_podsandbox",
        "runtime",
        None,
        None,
    ),
    (f'"Failed to list pod sandboxes" err="{DEADLINE}"', "list_podsandbox", "runtime", None, None),
    (f"ListPodSandbox failed: {DEADLINE}", "list_podsandbox", "runtime", None, None),
    (
        f"ListContainers with filter &ContainerFilter{{Id:,State:nil,PodSandboxId:,LabelSelector:map[string]string{{}},}} from runtime service failed: {DEADLINE}",
        "list_containers",
        "runtime",
        None,
        None,
    ),
    (
        f"ListContainers with filter &ContainerFilter{{Id:,State:nil,PodSandboxId:{SID},LabelSelector:map[string]string{{}},}} from runtime service failed: {DEADLINE}",
        "list_containers",
        "sandbox",
        SID,
        None,
    ),
    (f"getKubeletContainers failed: {DEADLINE}", "list_containers", "runtime", None, None),
    (
        f'"ListContainers with filter from runtime service failed" err="{DEADLINE}" filter="&ContainerFilter{{Id:,State:nil,PodSandboxId:,LabelSelector:map[string]string{{}},}}"',
        "list_containers",
        "runtime",
        None,
        None,
    ),
    (
        "Error listing containers: dockertools.operationTimeout{err:(*errors.errorString)(0xc8200110c0)}",
        "list_containers",
        "runtime",
        None,
        None,
    ),
    (
        'Error listing containers: &status.statusError{Code:4, Message:"context deadline exceeded", Details:[]*any.Any(nil)}',
        "list_containers",
        "runtime",
        None,
        None,
    ),
    (
        f"ExecSync {CID} 'mongo --eval db.adminCommand('ping')' from runtime service failed: {DEADLINE}",
        "exec_sync",
        "container",
        CID,
        None,
    ),
    (
        f'"ExecSync cmd from runtime service failed" err="{DEADLINE}" containerID="{CID}" cmd=[sh -c true]',
        "exec_sync",
        "container",
        CID,
        None,
    ),
    (
        f'ImageStatus "rancher/pause-amd64:3.1" from image service failed: {DEADLINE}',
        "image_status",
        "runtime",
        None,
        None,
    ),
    (
        f"eviction manager: failed to get summary stats: failed to list pod stats: failed to list all containers: {DEADLINE}",
        "list_containers",
        "runtime",
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("message", "op", "kind", "cid", "pod"), CATALOGUE, ids=[c[0][:40] for c in CATALOGUE]
)
def test_catalogue_messages_are_classified(message, op, kind, cid, pod):
    line = f"E0313 10:21:04.123456    1234 some_file.go:42] {message}"
    # The one exception repeats the CRI client's StopPodSandbox line (which has an anchor).
    assert any(anchor in line.encode() for anchor in ANCHORS) or message.startswith(
        'Failed to stop sandbox {"containerd"'
    ), "no anchor: the scanner would never read this line"
    record = parse_record(line.encode())
    assert record is not None
    failures, _ = classify(record)
    assert len(failures) == 1, failures
    failure = failures[0]
    assert (failure.op, failure.kind, failure.id, failure.pod) == (op, kind, cid, pod)


def test_catalogue_health_and_timeline_messages_have_anchors():
    for text in (
        "skipping pod synchronization - [container runtime is down]",
        "skipping pod synchronization - [container runtime status check may not have completed yet PLEG is not healthy: pleg has yet to be successful]",
        "Recording NodeNotReady event message for node ip-10-50-20-208.ec2.internal",
        "Recording NodeReady event message for node e2e-scalability-minion-zwiy",
        "Node became not ready: {Type:Ready Status:False Reason:KubeletNotReady Message:x}",
        '"Recording event message for node" node="n" event="NodeNotReady"',
        "GenericPLEG: Unable to retrieve pods: cannot connect to Docker endpoint",
        "event channel is full, discard this relist() cycle event",
        '"Evented PLEG: Event channel is full, discarded pod lifecycle event"',
        '"Evented PLEG: Failed to get container events, retrying: " err="EOF"',
        '"Fall back to Generic PLEG relisting since Evented PLEG is not working"',
        "Starting kubelet main sync loop.",
    ):
        assert any(anchor in text.encode() for anchor in ANCHORS), text


def test_not_found_and_unavailable_are_not_blamed():
    lines = [
        f'E1212 05:20:10.568360     707 log.go:32] "ContainerStatus from runtime service failed" err="rpc error: code = NotFound desc = an error occurred when try to find container \\"{CID}\\": not found" containerID="{CID}"',
        f'E1212 05:20:11.568360     707 log.go:32] "ContainerStatus from runtime service failed" err="rpc error: code = Unavailable desc = connection error: connect: connection refused" containerID="{CID}"',
    ]
    result = analyze_logs(["\n".join(lines).encode()], default_year=2026)
    assert result.culprits == ()
    assert result.ignored == {"notfound": 1}
    assert result.runtime_unavailable.count == 1


# --- the scanner -------------------------------------------------------------------------------


def _scan_all(data: bytes, sizes: list[int]) -> tuple[list[bytes], ScanStats]:
    chunks = []
    pos = 0
    for size in sizes:
        if pos >= len(data):
            break
        chunks.append(data[pos : pos + size])
        pos += size
    chunks.append(data[pos:])
    stats = ScanStats()
    records = [item for item in scan(chunks, stats) if isinstance(item, bytes)]
    return records, stats


def test_scanner_counts_lines_and_skips_foreign_ones():
    text = render("syslog")
    records, stats = _scan_all(text.encode(), [len(text)])
    assert stats.lines_read == text.count("\n")
    assert stats.lines_skipped == 2  # the garbage line and the CNI plugin's JSON
    assert all(b"Verify" not in r for r in records)  # noise is never parsed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(FORMATS),
    sizes=st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=60),
)
def test_results_do_not_depend_on_chunk_boundaries(fmt, sizes):
    data = render(fmt).encode()
    expected = analyze_logs([data], default_year=2026).to_dict()
    chunks = []
    pos = 0
    for size in sizes:
        chunks.append(data[pos : pos + size])
        pos += size
    chunks.append(data[pos:])
    with mock.patch.object(parse_module, "CHUNK_BYTES", 256):
        assert analyze_logs(chunks, default_year=2026).to_dict() == expected


def test_hard_wrapped_records_are_glued_across_chunk_boundaries():
    head = (
        "Jan 26 13:04:10 kind kubelet[698]: I0126 13:04:10.153589     698 evented.go:206] "
        '"Evented PLEG: Failed to get container events, retrying: " err="rpc error: code = '
        "Unavailable desc = connect: no su"
    )
    data = (
        head + '\nch file or directory\\""\n' + "I0126 13:04:11.000000     698 x.go:1] tail\n"
    ).encode()
    for cut_at in range(1, len(data)):
        with mock.patch.object(parse_module, "CHUNK_BYTES", 64):
            stats = ScanStats()
            records = [
                r for r in scan([data[:cut_at], data[cut_at:]], stats) if isinstance(r, bytes)
            ]
        assert records == [head.encode() + b'ch file or directory\\""'], cut_at
        assert stats.continued == 1 and stats.lines_read == 3 and stats.lines_skipped == 0


def test_an_endless_line_is_counted_and_dropped():
    data = [b"E0101 00:00:00.000000 1 a.go:1] PLEG " + b"x" * 5000, b"y" * 5000, b"\n"]
    data.append(b"E0101 00:00:01.000000 1 a.go:1] PLEG is fine\n")
    with (
        mock.patch.object(parse_module, "CHUNK_BYTES", 1024),
        mock.patch.object(parse_module, "MAX_LINE_BYTES", 4096),
    ):
        stats = ScanStats()
        records = [r for r in scan(data, stats) if isinstance(r, bytes)]
    assert records == [b"E0101 00:00:01.000000 1 a.go:1] PLEG is fine"]
    assert stats.oversized == 1 and stats.lines_read == 2


# --- robustness --------------------------------------------------------------------------------

_PIECES = [
    "PLEG is not healthy: pleg was last seen active ",
    " ago; threshold is ",
    "3m0s",
    "2562047h47m16.854775807s",
    "skipping pod synchronization - [",
    '"Skipping pod synchronization" err="',
    "E0313 10:21:04.123456    1234 generic.go:271] ",
    "Oct  8 16:39:44 worker9 k3s[1636]: ",
    '{"ts":1753121294157.29,"msg":"',
    "rpc error: code = DeadlineExceeded",
    'ContainerStatus "',
    CID,
    '" from runtime service failed: ',
    "Node became not ready: {Type:Ready ",
    "LastTransitionTime:2017-09-02 22:02:03.18 +0800 CST",
    "m=+0.4",
    "Error syncing pod ",
    '("x_y(0a0a0a0a-0a0a-0a0a-0a0a-0a0a0a0a0a0a)"), skipping: ',
    "\\",
    '"',
    "{",
    "}",
    "\r",
    "\x00",
    "é",
    " ",
]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(_PIECES), max_size=12).map("".join) | st.text(max_size=80),
        max_size=40,
    )
)
def test_look_alike_and_garbage_lines_never_crash(lines):
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    result = analyze_logs([data], default_year=2026)
    assert result.lines_read == data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    assert 0 <= result.lines_skipped <= result.lines_read
    result.to_dict()


def test_mutated_real_lines_never_crash():
    rng = random.Random(7)
    base = render("structured").splitlines() + render("journald").splitlines()
    for _ in range(300):
        line = rng.choice(base)
        pos = rng.randrange(len(line))
        mutated = line[:pos] + rng.choice(['"', "\\", "{", "]", "", "\x00", "é"]) + line[pos + 1 :]
        analyze_logs([mutated.encode("utf-8", "surrogatepass")], default_year=2026).to_dict()


# --- parallel reading of a large file ----------------------------------------------------------


def test_parallel_ranges_read_like_one_process(tmp_path):
    from pleg_doctor.logs import LogReader
    from pleg_doctor.logs import reader as reader_module

    path = tmp_path / "big.log"
    with path.open("w") as handle:
        for fmt in FORMATS:  # every format, one after the other: ~100 KB
            handle.write(render(fmt))
    sequential = analyze_logs(LogReader([str(path)], jobs=1), default_year=2026).to_dict()
    with (
        mock.patch.object(reader_module, "PARALLEL_MIN_BYTES", 1024),
        mock.patch.object(reader_module, "RANGE_BYTES", 7777),  # ranges cut mid-line
    ):
        parallel = analyze_logs(LogReader([str(path)], jobs=2), default_year=2026).to_dict()
    assert parallel == sequential
    assert parallel["lines_read"] == path.read_text().count("\n")


def test_scan_range_owns_the_lines_that_start_in_it(tmp_path):
    from pleg_doctor.logs.reader import scan_range

    path = tmp_path / "x.log"
    lines = [f"E0101 00:00:{i:02d}.000000    1 a.go:1] PLEG line {i}" for i in range(30)]
    path.write_text("\n".join(lines) + "\n")
    size = path.stat().st_size
    seen = []
    total = 0
    for start in range(0, size, 100):
        items, stats = scan_range(str(path), start, min(start + 100, size))
        seen.extend(item for item in items if isinstance(item, bytes))
        total += stats.lines_read
    assert [line.decode() for line in seen] == lines and total == 30


def test_a_few_very_long_lines_are_kept():
    long_line = b"E0101 00:00:00.000000 1 a.go:1] PLEG " + b"x" * 3000 + b"\n"
    data = [long_line, long_line, b"y" * 2000]
    with (
        mock.patch.object(parse_module, "CHUNK_BYTES", 1024),
        mock.patch.object(parse_module, "MAX_LINE_BYTES", 4096),
    ):
        stats = ScanStats()
        records = [r for r in scan(data, stats) if isinstance(r, bytes)]
    assert len(records) == 2 and stats.oversized == 0 and stats.lines_read == 3


def test_a_burst_of_anonymous_failures_is_counted_whole():
    line = f"E0313 10:21:04.{{:06d}}    1234 remote_runtime.go:109] RunPodSandbox from runtime service failed: {DEADLINE}"
    data = "\n".join(line.format(i) for i in range(100)).encode()
    result = analyze_logs([data], default_year=2026)
    (culprit,) = result.culprits
    assert (culprit.kind, culprit.pod, culprit.errors) == ("pod", None, 100)
