"""The runtime asked directly: time `crictl inspect`/`inspectp` on every container and sandbox.

What `pleg-doctor probe-runtime` runs and reports (`ProbeReport`, schema `probe-v1`).

This is the loop every PLEG thread ends up running by hand (kubernetes#45419:
`docker ps -a | … xargs … docker inspect`): a relist inspects each changed pod, so one container
whose status call hangs costs one CRI timeout per relist, and the way to find it is to ask the
runtime about every id with a short timeout and see which one does not answer.

What it does, read-only:

1. `crictl ps -a -q` and `crictl pods -q` list the ids (each under the call timeout: a list that
   does not answer means the whole runtime is hung, and that is the finding);
2. `crictl inspect <id>` / `crictl inspectp <id>` for each, `--parallel` at a time, each under
   `--call-timeout`, timed from process start to exit;
3. the slowest, hung and failed calls are reported with the pod they belong to (from the
   inspect output when it comes back).

It never stops, kills or removes a container or a pod. The only processes it ends are its own
`crictl` clients that outlive the call timeout (their whole process group, so nothing they
started is left behind); the runtime's side of such a call is simply abandoned, as the kubelet
does at its own timeout.

Exit codes (documented in the README): 2 when any call or list hung, 1 when any call was slower
than `--slow` or failed (a container removed meanwhile, `NotFound`, is not a failure), 0
otherwise; 3 when the runtime could not be probed at all (no crictl, permission denied).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pleg_doctor.core.printable import escape_controls
from pleg_doctor.errors import SourceError, UsageError
from pleg_doctor.exitcodes import ExitCode
from pleg_doctor.sources.decode import json_document
from pleg_doctor.sources.http.redaction import quote_outside
from pleg_doctor.sources.limits import current as current_limits
from pleg_doctor.sources.process import run_bounded

SCHEMA = "pleg-doctor/probe-v1"

DEFAULT_CALL_TIMEOUT_SECONDS = 10.0
DEFAULT_PARALLEL = 4
DEFAULT_SLOW_SECONDS = 1.0
"""A healthy inspect answers in tens of milliseconds (crictl's own start included)."""

Outcome = Literal["ok", "slow", "hung", "error", "gone"]
Kind = Literal["container", "sandbox"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunOutcome:
    """How one crictl process ended."""

    returncode: int | None
    """None when it was killed at the timeout."""
    stdout: bytes
    stderr: bytes
    seconds: float
    timed_out: bool


Runner = Callable[[Sequence[str], float], RunOutcome]


def run_command(argv: Sequence[str], timeout: float) -> RunOutcome:
    """Run `argv` with a deadline; at the deadline kill its process group (it is ours alone).

    `process.run_bounded` puts crictl (and anything a wrapper script starts) in a new process
    group, so the kill cannot reach anything else and no grandchild keeps our pipes open; and it
    keeps at most `PLEG_DOCTOR_MAX_OUTPUT_BYTES` of each output (an inspect is tens of KB): past
    that the probe stops with a `LimitError` naming the bound.
    """
    limits = current_limits()
    try:
        finished = run_bounded(argv, timeout=timeout, max_output_bytes=limits.output_bytes)
    except FileNotFoundError as exc:
        raise UsageError(
            f"{argv[0]} not found",
            hint="install crictl, or give its path with --crictl PATH",
        ) from exc
    except PermissionError as exc:
        raise UsageError(f"{argv[0]} is not executable") from exc
    except OSError as exc:
        raise SourceError(f"cannot run {argv[0]}: {exc.strerror or type(exc).__name__}") from exc
    if finished.killed in ("stdout", "stderr"):
        command = " ".join(["crictl", *argv[-2:]])
        raise limits.error("output_bytes", f"`{command}` wrote more than its {finished.killed}")
    return RunOutcome(
        returncode=finished.returncode,
        stdout=finished.stdout,
        stderr=finished.stderr,
        seconds=finished.seconds,
        timed_out=finished.timed_out,
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class ListResult:
    """One list call (`crictl ps -a -q`, `crictl pods -q`)."""

    command: str
    seconds: float
    outcome: Literal["ok", "hung", "error"]
    count: int | None
    error: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class CallResult:
    """One `crictl inspect` / `inspectp`."""

    kind: Kind
    id: str
    seconds: float
    outcome: Outcome
    name: str | None = None
    """The container's or the sandbox's name, from the inspect output."""
    pod: str | None = None
    """`namespace/name` of the pod, from the inspect output."""
    state: str | None = None
    """`CONTAINER_RUNNING`, `SANDBOX_READY`, … from the inspect output."""
    error: str | None = None
    """The first line crictl wrote to stderr, for failed calls."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProbeReport:
    """Every call, slowest first, and what it adds up to."""

    crictl: str
    call_timeout_seconds: float
    parallel: int
    slow_seconds: float
    lists: tuple[ListResult, ...]
    calls: tuple[CallResult, ...]
    wall_seconds: float

    def count(self, outcome: Outcome) -> int:
        """Calls that ended with `outcome`."""
        return sum(1 for c in self.calls if c.outcome == outcome)

    @property
    def verdict(self) -> Literal["ok", "warning", "critical"]:
        """critical: a call or a list hung; warning: slow or failed calls, or a list that failed
        while the other worked; ok otherwise."""
        if self.count("hung") or any(item.outcome == "hung" for item in self.lists):
            return "critical"
        if (
            self.count("slow")
            or self.count("error")
            or any(i.outcome == "error" for i in self.lists)
        ):
            return "warning"
        return "ok"

    @property
    def exit_code(self) -> ExitCode:
        """2 hung, 1 slow or failed, 0 otherwise."""
        return {
            "ok": ExitCode.OK,
            "warning": ExitCode.WARNING,
            "critical": ExitCode.CRITICAL,
        }[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        """The `pleg-doctor/probe-v1` object, built field by field."""
        return {
            "schema": SCHEMA,
            "crictl": self.crictl,
            "call_timeout_seconds": self.call_timeout_seconds,
            "parallel": self.parallel,
            "slow_seconds": self.slow_seconds,
            "verdict": self.verdict,
            "wall_seconds": round(self.wall_seconds, 3),
            "lists": [
                {
                    "command": item.command,
                    "seconds": round(item.seconds, 3),
                    "outcome": item.outcome,
                    "count": item.count,
                    "error": item.error,
                }
                for item in self.lists
            ],
            "counts": {
                "containers": sum(1 for c in self.calls if c.kind == "container"),
                "sandboxes": sum(1 for c in self.calls if c.kind == "sandbox"),
                **{outcome: self.count(outcome) for outcome in ("ok", "slow", "hung", "error")},
                "gone": self.count("gone"),
            },
            "calls": [
                {
                    "kind": c.kind,
                    "id": c.id,
                    "pod": c.pod,
                    "name": c.name,
                    "state": c.state,
                    "seconds": round(c.seconds, 3),
                    "outcome": c.outcome,
                    "error": c.error,
                }
                for c in self.calls
            ],
        }


def _first_line(data: bytes) -> str | None:
    """crictl's first line of stderr, quoted safely: secrets redacted, control characters
    escaped (a runtime's error may carry anything, terminal escape sequences included)."""
    return quote_outside(data, limit=300) or None


def _ids(stdout: bytes) -> list[str]:
    ids = []
    for line in stdout.decode("utf-8", "replace").splitlines():
        token = line.strip()
        if token and all(c in "0123456789abcdefABCDEF" for c in token):
            ids.append(token)
    return list(dict.fromkeys(ids))


def _describe(kind: Kind, stdout: bytes) -> tuple[str | None, str | None, str | None]:
    """(name, pod, state) from `crictl inspect`/`inspectp` JSON; Nones when it is not JSON."""
    try:
        data = json_document(stdout)
    except ValueError:
        return None, None, None
    status = _mapping(data, "status")
    metadata = _mapping(status, "metadata")
    state = _text(status, "state")
    name = _text(metadata, "name")
    pod: str | None = None
    if kind == "sandbox":
        namespace = _text(metadata, "namespace")
        if namespace and name:
            pod = f"{namespace}/{name}"
    else:
        labels = _mapping(status, "labels")
        pod_name = _text(labels, "io.kubernetes.pod.name")
        pod_namespace = _text(labels, "io.kubernetes.pod.namespace")
        if pod_name and pod_namespace:
            pod = f"{pod_namespace}/{pod_name}"
    return name, pod, state


def _mapping(data: Any, key: str) -> dict[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _text(data: dict[str, Any], key: str) -> str | None:
    """A string field of crictl's JSON, control characters escaped (it reaches a terminal)."""
    value = data.get(key)
    return escape_controls(value[:_FIELD_CHARS]) if isinstance(value, str) and value else None


_FIELD_CHARS = 512
"""The longest name, namespace or state kept (Kubernetes names stop at 253)."""


def _is_gone(stderr: bytes) -> bool:
    text = stderr.decode("utf-8", "replace")
    return "NotFound" in text or "not found" in text or "No such" in text


def probe_runtime(
    *,
    crictl: str = "crictl",
    runtime_endpoint: str | None = None,
    call_timeout: float = DEFAULT_CALL_TIMEOUT_SECONDS,
    parallel: int = DEFAULT_PARALLEL,
    slow_seconds: float = DEFAULT_SLOW_SECONDS,
    runner: Runner = run_command,
) -> ProbeReport:
    """List every container and sandbox with crictl and time an inspect of each.

    `runtime_endpoint` is passed as `crictl --runtime-endpoint` (else crictl's own config).
    Raises `UsageError` when crictl is missing and `SourceError` when neither list call works
    (crictl cannot reach the runtime: permission, wrong endpoint); a list that times out is a
    result (the runtime is hung), not an error.
    """
    if call_timeout <= 0 or slow_seconds <= 0:
        raise UsageError("--call-timeout and --slow must be more than 0 seconds")
    if parallel < 1:
        raise UsageError("--parallel must be at least 1")
    base = [crictl] + (["--runtime-endpoint", runtime_endpoint] if runtime_endpoint else [])
    start = time.monotonic()
    lists: list[ListResult] = []
    targets: list[tuple[Kind, str]] = []
    plan: tuple[tuple[Kind, list[str]], ...] = (
        ("sandbox", ["pods", "-q"]),
        ("container", ["ps", "-a", "-q"]),
    )
    for kind, args in plan:
        command = " ".join(["crictl", *args])
        outcome = runner([*base, *args], call_timeout)
        if outcome.timed_out:
            lists.append(ListResult(command=command, seconds=outcome.seconds, outcome="hung",
                                    count=None, error=None))  # fmt: skip
            continue
        if outcome.returncode != 0:
            lists.append(ListResult(command=command, seconds=outcome.seconds, outcome="error",
                                    count=None, error=_first_line(outcome.stderr)))  # fmt: skip
            continue
        ids = _ids(outcome.stdout)
        lists.append(
            ListResult(
                command=command, seconds=outcome.seconds, outcome="ok", count=len(ids), error=None
            )
        )
        targets.extend((kind, i) for i in ids)
    if all(item.outcome == "error" for item in lists):
        detail = lists[0].error or "crictl exited with an error and said nothing"
        raise SourceError(
            f"crictl cannot reach the runtime: {detail}",
            hint="run as root, or point crictl at the socket with --runtime-endpoint",
        )

    def inspect(target: tuple[Kind, str]) -> CallResult:
        kind, cid = target
        verb = "inspectp" if kind == "sandbox" else "inspect"
        outcome = runner([*base, verb, cid], call_timeout)
        if outcome.timed_out:
            return CallResult(kind=kind, id=cid, seconds=outcome.seconds, outcome="hung")
        if outcome.returncode != 0:
            gone = _is_gone(outcome.stderr)
            return CallResult(
                kind=kind,
                id=cid,
                seconds=outcome.seconds,
                outcome="gone" if gone else "error",
                error=_first_line(outcome.stderr),
            )
        name, pod, state = _describe(kind, outcome.stdout)
        return CallResult(
            kind=kind,
            id=cid,
            seconds=outcome.seconds,
            outcome="slow" if outcome.seconds >= slow_seconds else "ok",
            name=name,
            pod=pod,
            state=state,
        )

    calls: list[CallResult] = []
    if targets:
        with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
            calls = list(pool.map(inspect, targets))
    order = {"hung": 0, "error": 1, "slow": 2, "ok": 3, "gone": 4}
    calls.sort(key=lambda c: (order[c.outcome], -c.seconds, c.id))
    return ProbeReport(
        crictl=crictl,
        call_timeout_seconds=call_timeout,
        parallel=parallel,
        slow_seconds=slow_seconds,
        lists=tuple(lists),
        calls=tuple(calls),
        wall_seconds=time.monotonic() - start,
    )
