"""What one kubelet log line says failed: the call, its error class, and what it names.

Every failed CRI call is logged, usually twice: once by the CRI client (`remote_runtime.go`:
`ContainerStatus "<id>" from runtime service failed: <err>`) and once by its caller, microseconds
later, often with more context (`getPodContainerStatuses for pod "<pod>" failed`, `Failed to stop
sandbox {"containerd" "<id>"}`). `classify` turns a record into failed calls (`Failure`: the
operation, a container, sandbox or pod, and whether it hit the CRI timeout: DeadlineExceeded, or
`code = 4` before gRPC names, or the docker client's `operation timeout`) and into the links it
states (`Link`: container id, pod UID, pod name). `culprits` counts them.

What is *not* blamed on a container (`fixtures/kubelet-logs/` has each case):

* `NotFound` (a container removed while the GC or a probe looked at it) and `Unimplemented`:
  these are not hangs; they are counted and named in the notes only.
* `Unavailable` / connection refused / socket missing: the runtime itself is down, not the
  container; counted as a runtime-level failure.
* List calls without an id filter (`ListContainers`, `ListPodSandbox`), `Status`, `Version`
  and image calls: the whole runtime; runtime-level failures.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Literal

from pleg_doctor.logs.parse import Record

ErrorClass = Literal["deadline", "unavailable", "notfound", "unimplemented", "other"]
Kind = Literal["container", "sandbox", "pod", "runtime"]

_DEADLINE = (
    "DeadlineExceeded",
    "code = 4 ",
    "deadline exceeded",
    "operation timeout",
    "operationTimeout",
)
_UNAVAILABLE = (
    "code = Unavailable",
    "code = 14 ",
    "connection refused",
    "no such file or directory",
    "transport is closing",
    "connection error",
    "error reading from server",
    "cannot connect to Docker endpoint",
    "Cannot connect to the Docker daemon",
    "Is the docker daemon running",
)
_NOT_FOUND = ("code = NotFound", "code = 5 ", "not found", "No such container", "does not exist")


def classify_error(text: str) -> ErrorClass:
    """What kind of failure an error text is (the order matters: a timeout is a timeout)."""
    if any(s in text for s in _DEADLINE):
        return "deadline"
    if any(s in text for s in _UNAVAILABLE):
        return "unavailable"
    if "code = Unimplemented" in text or "code = 12 " in text:
        return "unimplemented"
    if any(s in text for s in _NOT_FOUND):
        return "notfound"
    return "other"


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    """One failed call, as one log line tells it."""

    op: str
    """The CRI operation in the metrics' `operation_type` names (`container_status`, …), or a
    kubelet-level one: `pod_status` (GetPodStatus), `kill_pod`, `sync_pod`."""
    kind: Kind
    id: str | None
    pod: str | None
    """`namespace/name`."""
    uid: str | None
    error: ErrorClass
    caller: bool
    """True for the caller's line (it may repeat the CRI client's line just before it)."""
    example: str
    kills_sandbox: bool = False
    """True for a pod whose `KillPodSandbox` failed (see `culprits.KILL_LINK_WINDOW_SECONDS`)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Link:
    """What a line says belongs together: a container or sandbox id, a pod UID, a pod name."""

    id: str | None
    uid: str | None
    pod: str | None


# --- pods and ids ----------------------------------------------------------------------------

_HEX_ID = re.compile(r"\b([0-9a-f]{64})\b")
_SHORT_HEX = re.compile(r"^(?:\w+://)?([0-9a-f]{12,64})$")
_UID = re.compile(r"\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")
_GLOG_POD = re.compile(r"^(?P<name>[^_\s(]+)_(?P<ns>[^_\s(]+)(?:\((?P<uid>[0-9a-f-]+)\))?$")


def normalize_pod(text: str | None) -> tuple[str | None, str | None]:
    """A pod as the kubelet prints it → (`namespace/name`, UID).

    glog prints `name_namespace(uid)` (names and namespaces cannot contain `_`); structured
    klog and JSON print `namespace/name` (klog.KObj).
    """
    if not text:
        return None, None
    text = text.strip().strip('"')
    match = _GLOG_POD.match(text)
    if match is not None:
        return f"{match.group('ns')}/{match.group('name')}", match.group("uid")
    if text.count("/") == 1 and " " not in text:
        namespace, name = text.split("/")
        return (f"{namespace}/{name}" if namespace and name else None), None
    return None, None


def _id_of(value: str | None) -> str | None:
    """A container or sandbox id from a field value (`containerd://<id>`, `{Type:… ID:<id>}`)."""
    if not value:
        return None
    value = value.strip().strip('"')
    match = _SHORT_HEX.match(value)
    if match is not None:
        return match.group(1)
    match = _HEX_ID.search(value)
    return match.group(1) if match is not None else None


def _snake(op: str) -> str:
    """`PodSandboxStatus` → `podsandbox_status` (the metrics' operation_type spelling)."""
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower()
    return snake.replace("pod_sandbox", "podsandbox")


_CONTAINER_OPS = frozenset(
    {
        "container_status",
        "stop_container",
        "remove_container",
        "start_container",
        "exec_sync",
        "exec",
        "attach",
        "update_container",
        "reopen_container_log",
        "container_stats",
        "checkpoint_container",
    }
)
_SANDBOX_OPS = frozenset(
    {
        "podsandbox_status",
        "stop_podsandbox",
        "remove_podsandbox",
        "podsandbox_stats",
        "port_forward",
        "create_container",
        "update_podsandbox_resources",
    }
)


def _kind_for(op: str, has_id: bool) -> Kind:
    if not has_id:
        return "pod" if op == "run_podsandbox" else "runtime"
    if op in _CONTAINER_OPS:
        return "container"
    if op in _SANDBOX_OPS or "podsandbox" in op:
        return "sandbox"
    return "container"


def _filter_id(text: str) -> tuple[str | None, Kind | None]:
    """The id a `ListContainers`/`ListPodSandbox` filter names (`Id:<x>`, `PodSandboxId:<x>`)."""
    sandbox = re.search(r"PodSandboxId:([0-9a-f]{12,64})", text)
    if sandbox is not None:
        return sandbox.group(1), "sandbox"
    own = re.search(r"\bId:([0-9a-f]{12,64})", text)
    if own is not None:
        return own.group(1), ("sandbox" if "PodSandboxFilter" in text else "container")
    return None, None


def _sync_op(error: str) -> str:
    """The operation behind an `Error syncing pod` line, from its error text."""
    if "KillPodSandbox" in error or "KillContainer" in error or "killing pod" in error:
        return "kill_pod"
    if "CreatePodSandbox" in error or "RunPodSandbox" in error:
        return "run_podsandbox"
    if "determining status" in error:
        return "pod_status"
    return "sync_pod"


# --- classification --------------------------------------------------------------------------

_G_CLIENT = re.compile(
    r"^(?P<op>[A-Z][A-Za-z]+)(?P<mid>.*?) from (?:runtime|image) service failed: (?P<err>.*)$"
)
_G_CONTAINER_STATUS = re.compile(r'^Failed to get container status for "(?P<id>\w+)": (?P<err>.*)')
_G_SANDBOX_STATUS = re.compile(
    r'^PodSandboxStatus of sandbox "(?P<id>\w+)" for pod "(?P<pod>[^"]+)" error: (?P<err>.*)'
)
_G_STOP_SANDBOX = re.compile(
    r'^Failed to stop sandbox (?:\{"\w*" "(?P<id1>\w+)"\}|"(?P<id2>\w+)")'
    r"(?: before removing)?(?::? (?P<err>.*))?$"
)
_G_TERMINATION = re.compile(
    r'^Container "(?:\w+://)?(?P<id>\w+)" termination failed with gracePeriod \d+: (?P<err>.*)'
)
_G_CREATE_SANDBOX = re.compile(
    r'^(?:CreatePodSandbox|createPodSandbox|Failed to create sandbox) for pod "(?P<pod>[^"]+)"'
    r"(?: failed)?: (?P<err>.*)"
)
_G_SYNC = re.compile(
    r'^Error syncing pod (?P<uid>[0-9a-f-]{36})(?: \("(?P<pod>[^"]+)"\))?, skipping: (?P<err>.*)'
)
_G_POD_STATUSES = re.compile(
    r'^getPodContainerStatuses for pod "(?P<pod>[^"]+)" failed: (?P<err>.*)'
)
_G_IGNORING = re.compile(
    r"^PLEG: Ignoring events for pod (?P<name>[^/\s]+)/(?P<ns>[^:\s]+): (?P<err>.*)"
)
_G_LIST = re.compile(
    r"^(?:Error listing containers|getKubeletContainers failed|ListPodSandbox failed|"
    r"Failed to list pod sandboxes|GetPods failed)[:,] (?P<err>.*)"
)
_G_EVENT = re.compile(
    r'Event\(v1\.ObjectReference\{Kind:"Pod", Namespace:"(?P<ns>[^"]*)", Name:"(?P<name>[^"]*)",'
    r' UID:"(?P<uid>[^"]*)"'
)
_G_SYNCLOOP = re.compile(r'SyncLoop \(PLEG\): "(?P<pod>[^"]+)", event: (?P<event>.*)')
_S_CLIENT = re.compile(
    r"^(?P<op>[A-Z][A-Za-z]+)(?: with filter| cmd)? from (?:runtime|image) service failed$"
)
_EVENT_ID = re.compile(r'ID:"?(?P<uid>[0-9a-f-]{36})"?')
_EVENT_DATA = re.compile(r'Data:"?(?P<id>[0-9a-f]{64})"?|"Data":"(?P<jid>[0-9a-f]{64})"')
_EVENT_JSON_ID = re.compile(r'"ID":"(?P<uid>[0-9a-f-]{36})"')


def classify(record: Record) -> tuple[list[Failure], list[Link]]:
    """The failed calls and the links one record tells (both usually empty)."""
    if record.fields is None:
        return _classify_glog(record)
    return _classify_structured(record)


def _failure(
    op: str,
    kind: Kind,
    record: Record,
    error: str,
    *,
    id: str | None = None,
    pod: str | None = None,
    uid: str | None = None,
    caller: bool = True,
) -> Failure:
    return Failure(
        op=op,
        kind=kind,
        id=id,
        pod=pod,
        uid=uid,
        error=classify_error(error),
        caller=caller,
        example=record.example,
        kills_sandbox=op == "kill_pod" and "KillPodSandbox" in error,
    )


def _classify_glog(record: Record) -> tuple[list[Failure], list[Link]]:
    text = record.message
    failure = _glog_failure(record, text)
    if failure is not None:
        links = [Link(failure.id, failure.uid, failure.pod)] if failure.pod or failure.uid else []
        return [failure], links
    if "SyncLoop (PLEG)" in text:
        match = _G_SYNCLOOP.search(text)
        if match is not None:
            pod, uid = normalize_pod(match.group("pod"))
            data = _EVENT_DATA.search(match.group("event"))
            cid = data.group("id") or data.group("jid") if data is not None else None
            return [], [Link(cid, uid, pod)]
    if "ObjectReference" in text:
        match = _G_EVENT.search(text)
        if match is not None and match.group("ns") and match.group("name"):
            pod = f"{match.group('ns')}/{match.group('name')}"
            return [], [Link(None, match.group("uid") or None, pod)]
    return [], []


def _glog_failure(record: Record, text: str) -> Failure | None:
    match = _G_CLIENT.match(text)
    if match is not None:
        op = _snake(match.group("op"))
        mid = match.group("mid")
        err = match.group("err")
        if " with filter " in mid or mid.startswith(" with filter"):
            fid, fkind = _filter_id(mid)
            return _failure(op, fkind or "runtime", record, err, id=fid, caller=False)
        quoted = re.search(r'"([^"]*)"', mid)
        bare = re.search(r"\b([0-9a-f]{12,64})\b", mid)
        cid = _id_of(quoted.group(1)) if quoted is not None else None
        if cid is None and bare is not None:
            cid = bare.group(1)
        if op == "image_status" or op.endswith("image") or op.endswith("images"):
            cid = None
        kind: Kind = "sandbox" if " in sandbox " in mid else _kind_for(op, cid is not None)
        return _failure(op, kind, record, err, id=cid, caller=False)
    for pattern, op, kind in (
        (_G_CONTAINER_STATUS, "container_status", "container"),
        (_G_SANDBOX_STATUS, "podsandbox_status", "sandbox"),
        (_G_TERMINATION, "stop_container", "container"),
    ):
        match = pattern.match(text)
        if match is not None:
            pod, uid = normalize_pod(match.groupdict().get("pod"))
            return _failure(op, kind, record, match.group("err"), id=match.group("id"), pod=pod)
    match = _G_STOP_SANDBOX.match(text)
    if match is not None:
        sid = match.group("id1") or match.group("id2")
        return _failure("stop_podsandbox", "sandbox", record, match.group("err") or "", id=sid)
    match = _G_CREATE_SANDBOX.match(text)
    if match is not None:
        pod, uid = normalize_pod(match.group("pod"))
        return _failure("run_podsandbox", "pod", record, match.group("err"), pod=pod, uid=uid)
    match = _G_SYNC.match(text)
    if match is not None:
        pod, uid = normalize_pod(match.group("pod"))
        err = match.group("err")
        return _failure(_sync_op(err), "pod", record, err, pod=pod, uid=uid or match.group("uid"))
    match = _G_POD_STATUSES.match(text)
    if match is not None:
        pod, uid = normalize_pod(match.group("pod"))
        return _failure("container_status", "pod", record, match.group("err"), pod=pod, uid=uid)
    match = _G_IGNORING.match(text)
    if match is not None:
        # NOTE: this glog line prints name/namespace, the reverse of klog.KObj (SOURCES.md).
        pod = f"{match.group('ns')}/{match.group('name')}"
        return _failure("pod_status", "pod", record, match.group("err"), pod=pod)
    match = _G_LIST.match(text)
    if match is not None:
        op = "list_podsandbox" if "andbox" in text[:40] else "list_containers"
        caller = not text.startswith("Error listing containers")
        return _failure(op, "runtime", record, match.group("err"), caller=caller)
    return _list_consequence(record, text)


_LIST_CONSEQUENCE = re.compile(r"failed to list (?:all )?containers: (?P<err>.*)")


def _list_consequence(record: Record, text: str) -> Failure | None:
    """Stats, eviction and log-rotation paths that failed on a `ListContainers` call.

    They are callers of the same call the CRI client logged just before (and are then merged
    with it); alone (siderolabs/talos#11775 logs only the stats path) they still show the list failing.
    """
    match = _LIST_CONSEQUENCE.search(text)
    if match is None:
        return None
    return _failure("list_containers", "runtime", record, match.group("err"))


def _classify_structured(record: Record) -> tuple[list[Failure], list[Link]]:
    fields = record.fields or {}
    message = record.message
    err = fields.get("err", "")
    if "SyncLoop (PLEG)" in message:
        pod, uid = normalize_pod(fields.get("pod"))
        event = fields.get("event", "")
        found = _EVENT_ID.search(event) or _EVENT_JSON_ID.search(event)
        data = _EVENT_DATA.search(event)
        cid = (data.group("id") or data.group("jid")) if data is not None else None
        return [], [Link(cid, uid or (found.group("uid") if found else None), pod)]
    if "container finished" in message:
        return [], [Link(_id_of(fields.get("containerID")), fields.get("podID"), None)]
    if not err:
        return [], []
    failure = _structured_failure(record, message, fields, err)
    if failure is None:
        return [], []
    links = [Link(failure.id, failure.uid, failure.pod)] if failure.pod or failure.uid else []
    return [failure], links


def _structured_failure(
    record: Record, message: str, fields: dict[str, str], err: str
) -> Failure | None:
    pod, uid = normalize_pod(fields.get("pod"))
    uid = uid or fields.get("podUID") or None
    cid = _id_of(fields.get("containerID"))
    sid = _id_of(fields.get("podSandboxID") or fields.get("sandboxID"))
    match = _S_CLIENT.match(message)
    if match is not None:
        op = _snake(match.group("op"))
        if "filter" in fields:
            fid, kind = _filter_id(fields["filter"])
            return _failure(op, kind or "runtime", record, err, id=fid, caller=False)
        if op.endswith(("image", "images")) or op == "image_status":
            return _failure(op, "runtime", record, err, caller=False)
        oid = cid or sid
        kind = "sandbox" if sid and not cid else _kind_for(op, oid is not None)
        return _failure(op, kind, record, err, id=oid, pod=pod, uid=uid, caller=False)
    if message.startswith("PodSandboxStatus of sandbox"):
        return _failure("podsandbox_status", "sandbox", record, err, id=sid, pod=pod, uid=uid)
    if message.startswith("Failed to stop sandbox"):
        return _failure("stop_podsandbox", "sandbox", record, err, id=sid, pod=pod, uid=uid)
    if "termination failed" in message or message.startswith("Kill container failed"):
        return _failure("stop_container", "container", record, err, id=cid, pod=pod, uid=uid)
    if "for pod" in message and ("reate" in message and "andbox" in message):
        return _failure("run_podsandbox", "pod", record, err, pod=pod, uid=uid)
    if message.startswith("Error syncing pod"):
        return _failure(_sync_op(err), "pod", record, err, pod=pod, uid=uid)
    if message.startswith("getPodContainerStatuses"):
        return _failure("container_status", "pod", record, err, pod=pod, uid=uid)
    if message.startswith(("PLEG: Ignoring events for pod", "PLEG: Write status")):
        return _failure("pod_status", "pod", record, err, pod=pod, uid=uid)
    if message.startswith("Evented PLEG: Get cache"):
        return _failure("pod_status", "pod", record, err, uid=fields.get("podID"))
    if message.startswith(("Failed to list pod sandboxes", "getKubeletContainers failed")):
        op = "list_podsandbox" if "sandbox" in message else "list_containers"
        return _failure(op, "runtime", record, err)
    if message.startswith("Failed to get container status"):
        return _failure("container_status", "container", record, err, id=cid, pod=pod, uid=uid)
    if message.startswith("Probe errored") and cid and classify_error(err) == "deadline":
        return _failure("exec_sync", "container", record, err, id=cid, pod=pod, uid=uid)
    return _list_consequence(record, err)
