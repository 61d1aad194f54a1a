"""One PLEG incident, written in every kubelet log format (look-alike lines from the catalogue).

The scenario (2026-03-10, node-1): a container of pod `shop/cart-7d9c9c8d8b-q2lzj` is linked by a
PLEG event, then its ContainerStatus times out, PLEG goes unhealthy (anchor 10:00:06.5), the node
goes NotReady, a relist fails, events are discarded; a relist succeeds at 10:04:07 and PLEG is
unhealthy again from 10:07:07 (flapping), with the pod's sandbox status timing out; noise all
along, and the log goes on past the second period. Every format must parse into the same
timeline and culprits (tests/test_logs_formats.py).
"""

from __future__ import annotations

import datetime as dt
import json

CID = "a1" * 32
SID = "b2" * 32
POD_NAME = "cart-7d9c9c8d8b-q2lzj"
NAMESPACE = "shop"
UID = "8c0e1f2a-3b4c-4d5e-8f60-718293a4b5c6"
BASE = dt.datetime(2026, 3, 10, 10, 0, 0)
ANCHOR_1 = BASE + dt.timedelta(seconds=6.5)
ANCHOR_2 = BASE + dt.timedelta(minutes=4, seconds=7)
DEADLINE = "rpc error: code = DeadlineExceeded desc = context deadline exceeded"

FORMATS = (
    "journald",
    "journald-precise",
    "glog",
    "structured",
    "json",
    "syslog",
    "wrapper",
)


def go_duration(seconds: float) -> str:
    """Seconds → Go's `time.Duration.String()` (`3m4.5s`)."""
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{rest:.6f}".rstrip("0").rstrip(".") + "s"
    if minutes or hours:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return text


def events() -> list[tuple[dt.datetime, str, dict[str, str]]]:
    """(time, kind, details) of the scenario, in time order."""
    out: list[tuple[dt.datetime, str, dict[str, str]]] = [
        (BASE + dt.timedelta(seconds=second, microseconds=1234), "noise", {})
        for second in range(0, 490, 7)
    ]
    out.append((BASE + dt.timedelta(seconds=5), "link", {}))
    out.append((BASE + dt.timedelta(minutes=2, seconds=5), "container_status", {}))
    for i in range(11):
        t = BASE + dt.timedelta(minutes=3, seconds=10 + 5 * i)
        out.append((t, "health", {"age": go_duration((t - ANCHOR_1).total_seconds())}))
    notready_at = BASE + dt.timedelta(minutes=3, seconds=16, microseconds=100000)
    age = go_duration((notready_at - ANCHOR_1).total_seconds())
    out.append((notready_at, "not_ready", {"age": age}))
    out.append((BASE + dt.timedelta(minutes=5), "relist_failure", {}))
    out.append((BASE + dt.timedelta(minutes=5, seconds=30), "discard", {}))
    out.append((BASE + dt.timedelta(minutes=5, seconds=30, microseconds=5), "discard", {}))
    out.append((BASE + dt.timedelta(minutes=6, seconds=7), "sandbox_status", {}))
    for i in range(5):
        t = BASE + dt.timedelta(minutes=7, seconds=10 + 5 * i)
        out.append((t, "health", {"age": go_duration((t - ANCHOR_2).total_seconds())}))
    out.append((BASE + dt.timedelta(minutes=8, seconds=1), "garbage", {}))
    out.sort(key=lambda item: item[0])
    return out


def _glog(kind: str, details: dict[str, str]) -> tuple[str, str]:
    """(caller, free text) of a glog-era line."""
    pod = f"{POD_NAME}_{NAMESPACE}({UID})"
    return {
        "noise": (
            "reconciler.go:224",
            'operationExecutor.VerifyControllerAttachedVolume started for volume "kube-api-access"',
        ),
        "link": (
            "kubelet.go:1953",
            f'SyncLoop (PLEG): "{pod}", event: &pleg.PodLifecycleEvent{{ID:"{UID}", '
            f'Type:"ContainerStarted", Data:"{CID}"}}',
        ),
        "container_status": (
            "remote_runtime.go:295",
            f'ContainerStatus "{CID}" from runtime service failed: {DEADLINE}',
        ),
        "health": (
            "kubelet.go:1846",
            "skipping pod synchronization - PLEG is not healthy: pleg was last seen active "
            f"{details.get('age')} ago; threshold is 3m0s",
        ),
        "not_ready": (
            "setters.go:555",
            "Node became not ready: {Type:Ready Status:False LastHeartbeatTime:2026-03-10 "
            "10:03:16.1 +0000 UTC LastTransitionTime:2026-03-10 10:03:16.1 +0000 UTC "
            f"Reason:KubeletNotReady Message:PLEG is not healthy: pleg was last seen active "
            f"{details.get('age')} ago; threshold is 3m0s}}",
        ),
        "relist_failure": ("generic.go:205", f"GenericPLEG: Unable to retrieve pods: {DEADLINE}"),
        "discard": ("generic.go:354", "event channel is full, discard this relist() cycle event"),
        "sandbox_status": (
            "kuberuntime_manager.go:965",
            f'PodSandboxStatus of sandbox "{SID}" for pod "{pod}" error: {DEADLINE}',
        ),
    }[kind]


def _structured(kind: str, details: dict[str, str]) -> tuple[str, str, dict[str, object]]:
    """(caller, message, fields) of a structured line (fields also make the JSON record)."""
    pod = f"{NAMESPACE}/{POD_NAME}"
    health = f"PLEG is not healthy: pleg was last seen active {details.get('age')} ago; threshold is 3m0s"
    table: dict[str, tuple[str, str, dict[str, object]]] = {
        "noise": (
            "reconciler_common.go:245",
            "operationExecutor.VerifyControllerAttachedVolume started for volume",
            {"volume": "kube-api-access", "pod": "default/web-1"},
        ),
        "link": (
            "kubelet.go:2443",
            "SyncLoop (PLEG): event for pod",
            {"pod": pod, "event": {"ID": UID, "Type": "ContainerStarted", "Data": CID}},
        ),
        "container_status": (
            "remote_runtime.go:432",
            "ContainerStatus from runtime service failed",
            {"err": DEADLINE, "containerID": CID},
        ),
        "health": ("kubelet.go:2355", "Skipping pod synchronization", {"err": health}),
        "not_ready": (
            "setters.go:549",
            "Node became not ready",
            {
                "node": "node-1",
                "condition": "{Type:Ready Status:False LastHeartbeatTime:2026-03-10 "
                "10:03:16.1 +0000 UTC LastTransitionTime:2026-03-10 10:03:16.1 +0000 UTC "
                f"Reason:KubeletNotReady Message:{health}}}",
            },
        ),
        "relist_failure": (
            "generic.go:256",
            "GenericPLEG: Unable to retrieve pods",
            {"err": DEADLINE},
        ),
        "discard": (
            "generic.go:339",
            "Event channel is full, discard this relist() cycle event",
            {},
        ),
        "sandbox_status": (
            "kuberuntime_manager.go:1003",
            "PodSandboxStatus of sandbox for pod",
            {"err": DEADLINE, "podSandboxID": SID, "pod": pod},
        ),
    }
    return table[kind]


def _kv(fields: dict[str, object]) -> str:
    parts = []
    for key, value in fields.items():
        if isinstance(value, dict):
            inner = " ".join(f"{k}:{v}" for k, v in value.items())
            parts.append(f"{key}={{{inner}}}")
        elif key == "condition":
            parts.append(f"{key}={value}")
        else:
            escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'{key}="{escaped}"')
    return " ".join(parts)


def render(fmt: str, *, pid: int = 1234) -> str:
    """The scenario as one log text in format `fmt` (one of `FORMATS`)."""
    lines: list[str] = []
    for t, kind, details in events():
        klog_time = t.strftime("%m%d %H:%M:%S.%f")
        if kind == "garbage":
            lines.append("\x00\x01 not a log line at all ]]] {")
            lines.append('{"level":"info","ts":"2026-03-10T10:08:01.000Z","msg":"CNI Plugin v1"}')
            continue
        severity = "I" if kind in ("noise", "link", "not_ready") else "E"
        if fmt in ("journald", "glog", "syslog"):
            caller, text = _glog(kind, details)
            record = f"{severity}{klog_time} {pid:>7} {caller}] {text}"
        elif fmt == "json":
            caller, message, fields = _structured(kind, details)
            data: dict[str, object] = {
                "ts": round(t.replace(tzinfo=dt.timezone.utc).timestamp() * 1000, 3),
                "caller": f"kubelet/{caller}",
                "msg": message,
            }
            if "pod" in fields:
                namespace, _, name = str(fields["pod"]).partition("/")
                fields = {**fields, "pod": {"name": name, "namespace": namespace}}
            data.update(fields)
            if "err" not in fields:
                data["v"] = 0
            lines.append("10.0.0.7: " + json.dumps(data, separators=(",", ":")))
            continue
        else:
            caller, message, fields = _structured(kind, details)
            escaped = message.replace('"', '\\"')
            record = f'{severity}{klog_time} {pid:>7} {caller}] "{escaped}" {_kv(fields)}'.rstrip()
        lag = t + dt.timedelta(seconds=2)  # journald stamps lines when it reads them
        prefix = {
            "journald": lag.strftime("%b %d %H:%M:%S") + f" node-1 kubelet[{pid}]: ",
            "journald-precise": lag.strftime("%b %d %H:%M:%S.%f") + f" node-1 kubelet[{pid}]: ",
            "glog": "",
            "structured": "",
            "syslog": lag.strftime("%b %e %H:%M:%S") + " node-1 kubelet: ",
            "wrapper": lag.strftime("%b %d %H:%M:%S") + f" node-1 kubenswrapper[{pid}]: ",
        }[fmt]
        lines.append(prefix + record)
    return "\n".join(lines) + "\n"
