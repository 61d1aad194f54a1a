"""Which containers, sandboxes and pods the runtime failed on: the culprits of a kubelet log.

Metrics say the relist is stuck; only the log says on what. Every failed CRI call is logged,
usually twice: once by the CRI client (`remote_runtime.go`: `ContainerStatus "<id>" from runtime
service failed: <err>`) and once by its caller, microseconds later, often with more context
(`getPodContainerStatuses for pod "<pod>" failed`, `Failed to stop sandbox {"containerd"
"<id>"}`). This module turns both into one failed call (`Failure`), attributes it to a
container, sandbox or pod, and counts per (culprit, operation) how many calls failed and how
many of those hit the CRI timeout (DeadlineExceeded, or `code = 4` before gRPC names, or the
docker client's `operation timeout`).

What is *not* blamed on a container (SOURCES.md §6):

* `NotFound` (a container removed while the GC or a probe looked at it) and `Unimplemented`:
  these are not hangs; they are counted and named in the notes only.
* `Unavailable` / connection refused / socket missing: the runtime itself is down, not the
  container; counted as a runtime-level failure.
* List calls without an id filter (`ListContainers`, `ListPodSandbox`), `Status`, `Version`
  and image calls: the whole runtime; runtime-level failures.

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
import re
from collections.abc import Callable
from typing import Literal

from pleg_doctor.logs.parse import Record

ErrorClass = Literal["deadline", "unavailable", "notfound", "unimplemented", "other"]
Kind = Literal["container", "sandbox", "pod", "runtime"]

LINK_WINDOW_SECONDS = 1.0
"""A caller's line follows its CRI client's line within this (same goroutine, µs apart)."""

KILL_LINK_WINDOW_SECONDS = 2.0
"""The window of the one inference: a StopPodSandbox timeout next to a pod's KillPodSandbox."""

MAX_CULPRITS = 10_000
"""Distinct (culprit, operation) pairs kept; more are counted in a note (memory stays bounded)."""

MAX_LINKS = 200_000
"""ID → pod links kept; a log with more distinct containers only loses resolution."""

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
    """True for a pod whose `KillPodSandbox` failed (see `KILL_LINK_WINDOW_SECONDS`)."""


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
    with it); alone (talos #11775 logs only the stats path) they still show the list failing.
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


# --- aggregation -----------------------------------------------------------------------------


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
