"""A simulated kubelet whose PLEG relist loop writes real exposition text.

The fixture builder for synthetic windows: it runs the relist loop of docs/model.md#the-relist-loop with
injected per-call latencies (a hung runtime, a wedged container, a slow runtime, churn, ...) on a
simulated clock and records every metric the way the kubelet does (histograms with the real
bucket sets, counters, the last-seen gauge), then renders a dump in a chosen era's metric names.
Diagnosing two dumps of it exercises the whole pipeline, parser included.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable

DEF_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
EXP_BUCKETS = tuple(0.005 * 2.5**i for i in range(14))
TAU = 120.0
REFUSED_SECONDS = 0.001
"""How long a refused call takes (an immediate gRPC error)."""


class Hist:
    """A Prometheus histogram (cumulative on render) that also keeps recent observations."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.count = 0
        self.sum = 0.0
        self.recent: list[tuple[float, float]] = []  # (time, value) for ≤1.13 summaries

    def observe(self, value: float, now: float) -> None:
        self.count += 1
        self.sum += value
        for i, le in enumerate(self.buckets):
            if value <= le:
                self.counts[i] += 1
                break
        self.recent.append((now, value))
        if len(self.recent) > 5000:
            self.recent = self.recent[-2500:]

    def cumulative(self) -> list[tuple[float, int]]:
        total = 0
        out = []
        for le, c in zip(self.buckets, self.counts, strict=False):
            total += c
            out.append((le, total))
        return out

    def recent_quantiles(self, now: float) -> dict[float, float]:
        values = sorted(v for t, v in self.recent if now - t <= 600)
        if not values:
            return dict.fromkeys((0.5, 0.9, 0.99), math.nan)
        return {q: values[min(len(values) - 1, int(q * len(values)))] for q in (0.5, 0.9, 0.99)}


@dataclasses.dataclass
class Runtime:
    """Per-call latency (seconds) of each CRI operation; `math.inf` means the call hangs (τ)."""

    list_podsandbox: float = 0.005
    list_containers: float = 0.005
    podsandbox_status: float = 0.003
    container_status: float = 0.003
    status: float = 0.004
    wedged_pods: int = 0
    """Pods whose PodSandboxStatus hangs until the CRI timeout on every inspection."""
    list_scale_per_container: float = 0.0
    """Extra list latency per container listed (exited containers inflate lists)."""
    refused: frozenset[str] = frozenset()
    """Operations the runtime refuses at once (gRPC UNAVAILABLE: the socket is gone or the
    runtime is restarting): each call fails in about a millisecond with an error."""


@dataclasses.dataclass
class KubeletSim:
    """The simulated node."""

    version: str = "v1.29.4"
    node: str = "sim-node-1"
    pods: int = 30
    containers_per_pod: int = 2
    exited_containers: int = 2
    churn_pods_per_relist: float = 0.05
    runtime: Runtime = dataclasses.field(default_factory=Runtime)
    dockershim: bool = False
    network_status_seconds: float = 0.002
    evented_gate: bool = False
    kubelet_overhead_seconds: float = 0.0003
    """Kubelet CPU per relist not spent in CRI calls (ε)."""
    kubelet_stall_seconds: float = 0.0
    """Extra time per cycle the loop neither relists nor sleeps (CPU starvation)."""
    extra_relist_seconds: float = 0.0
    """Relist time no CRI call explains (host reads, lock waits)."""
    start: float = 1_790_000_000.0

    def __post_init__(self) -> None:
        self.now = self.start
        self.process_start = self.start
        self.relist_duration = Hist(DEF_BUCKETS)
        self.relist_interval = Hist(DEF_BUCKETS)
        exp = EXP_BUCKETS
        self.ops: dict[str, Hist] = {}
        self.ops_def: dict[str, Hist] = {}
        self.op_errors: dict[str, int] = {}
        self._op_buckets = exp
        self.docker_ops: dict[str, Hist] = {}
        self.network_ops: dict[str, Hist] = {}
        self.last_relist_start: float | None = None  # relistTime
        self.last_relist_attempt: float | None = None
        self.discards = 0
        self.evented_errors = 0
        self.evented_successes = 1 if self.evented_gate else 0
        self.cpu_seconds = 0.0
        self.started_containers = 0
        self.churn_accumulator = 0.0
        self.next_status_check = self.now
        self.reinspect = 0

    # --- CRI calls ------------------------------------------------------------------------
    def _call(self, op: str, latency: float) -> bool:
        """Record one CRI call; returns False when it hung into the timeout (an error)."""
        hist = self.ops.setdefault(op, Hist(self._op_buckets))
        if op in self.runtime.refused:
            self.now += REFUSED_SECONDS
            hist.observe(REFUSED_SECONDS, self.now)
            self.ops_def.setdefault(op, Hist(DEF_BUCKETS)).observe(REFUSED_SECONDS, self.now)
            self.op_errors[op] = self.op_errors.get(op, 0) + 1
            self._status_loop()
            return False
        hung = math.isinf(latency) or latency >= TAU
        spent = TAU if hung else latency
        self.now += spent
        hist.observe(spent, self.now)
        self.ops_def.setdefault(op, Hist(DEF_BUCKETS)).observe(spent, self.now)
        if hung:
            self.op_errors[op] = self.op_errors.get(op, 0) + 1
        self._status_loop()
        return not hung

    def _docker(self, op: str, latency: float) -> None:
        self.docker_ops.setdefault(op, Hist(DEF_BUCKETS)).observe(latency, self.now)

    def _status_loop(self) -> None:
        """`updateRuntimeUp` every 5 s: the runtime `status` call (`pkg/kubelet/kubelet.go` `updateRuntimeUp`)."""
        while self.next_status_check <= self.now:
            latency = self.runtime.status
            hist = self.ops.setdefault("status", Hist(self._op_buckets))
            if "status" in self.runtime.refused:
                hist.observe(REFUSED_SECONDS, self.now)
                self.ops_def.setdefault("status", Hist(DEF_BUCKETS)).observe(
                    REFUSED_SECONDS, self.now
                )
                self.op_errors["status"] = self.op_errors.get("status", 0) + 1
                self.next_status_check += 5.0
                continue
            hung = math.isinf(latency)
            hist.observe(TAU if hung else latency, self.now)
            self.ops_def.setdefault("status", Hist(DEF_BUCKETS)).observe(
                TAU if hung else latency, self.now
            )
            if hung:
                self.op_errors["status"] = self.op_errors.get("status", 0) + 1
            self.next_status_check += 5.0 + (TAU if hung else 0.0)

    def _list(self, op: str) -> bool:
        base = getattr(self.runtime, op)
        containers = self.pods * self.containers_per_pod + self.exited_containers
        latency = base + self.runtime.list_scale_per_container * containers
        if self.dockershim and not math.isinf(latency):
            self._docker("list_containers", latency * 0.9)
        return self._call(op, latency)

    # --- the relist loop (docs/model.md#the-relist-loop) ------------------------------------
    def relist(self) -> None:
        if self.last_relist_start is not None:
            self.relist_interval.observe(self.now - self.last_relist_start, self.now)
        timestamp = self.now
        ok = self._list("list_podsandbox") and self._list("list_containers")
        if ok:
            self.last_relist_start = timestamp  # updateRelistTime before per-pod work
            self.churn_accumulator += self.churn_pods_per_relist
            changed = int(self.churn_accumulator)
            self.churn_accumulator -= changed
            self.started_containers += changed
            inspected = changed + self.reinspect + self.runtime.wedged_pods
            self.reinspect = 0
            for index in range(inspected):
                wedged = index >= inspected - self.runtime.wedged_pods
                if not self._inspect(wedged) and not wedged:
                    self.reinspect += 1
            self.now += self.kubelet_overhead_seconds + self.extra_relist_seconds
        self.relist_duration.observe(self.now - timestamp, self.now)
        self.cpu_seconds += 0.002 + self.kubelet_overhead_seconds

    def _inspect(self, wedged: bool) -> bool:
        """`GetPodStatus`: filtered lists, sandbox status, container statuses (docs/model.md#the-relist-loop)."""
        self._call("list_podsandbox", self.runtime.list_podsandbox)
        sandbox_latency = math.inf if wedged else self.runtime.podsandbox_status
        if self.dockershim and not wedged:
            self._docker("inspect_container", 0.002)
            self.network_ops.setdefault("get_pod_network_status", Hist(DEF_BUCKETS)).observe(
                self.network_status_seconds, self.now
            )
            sandbox_latency += self.network_status_seconds
        if not self._call("podsandbox_status", sandbox_latency):
            return False
        self._call("list_containers", self.runtime.list_containers)
        for _ in range(self.containers_per_pod):
            if self.dockershim:
                self._docker("inspect_container", 0.002)
                self._docker("inspect_image", 0.001)
            self._call("container_status", self.runtime.container_status)
        return True

    def run(self, seconds: float, *, on_relist: Callable[[KubeletSim], None] | None = None) -> None:
        """Run the loop for `seconds` of simulated time (`wait.Until`: sliding 1 s period)."""
        end = self.now + seconds
        while self.now < end:
            self.relist()
            if on_relist is not None:
                on_relist(self)
            period = 300.0 if (self.evented_gate and self.evented_errors < 5) else 1.0
            self.now += period + self.kubelet_stall_seconds
            self.cpu_seconds += self.kubelet_stall_seconds * 0.5
            self._status_loop()

    def hang_runtime_for(self, seconds: float) -> None:
        """The runtime stops answering: every call now hangs into the timeout (`runtime_hung`, docs/model.md#causes)."""
        self.runtime.list_podsandbox = math.inf
        self.runtime.list_containers = math.inf
        self.runtime.status = math.inf
        self.run(seconds)

    def restart(self) -> None:
        """A kubelet restart: counters from zero, a new process start time."""
        now = self.now
        fresh = KubeletSim(**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        self.__dict__.update(fresh.__dict__)
        self.now = now
        self.process_start = now
        self.next_status_check = now

    # --- exposition --------------------------------------------------------------------------
    def dump(self, *, header: bool = True, captured_at: float | None = None) -> str:
        """The kubelet's /metrics now, in the names of `self.version`'s era."""
        minor = int(self.version.lstrip("v").split(".")[1])
        at = self.now if captured_at is None else captured_at
        lines: list[str] = []
        if header:
            stamp = (
                dt.datetime.fromtimestamp(at, tz=dt.timezone.utc).isoformat().replace("+00:00", "Z")
            )
            lines.append(
                f"# pleg-doctor capture: captured_at={stamp} node={self.node} source=sim://{self.node}"
            )
        label = "git_version" if minor >= 21 else "gitVersion"
        lines += [
            "# TYPE kubernetes_build_info gauge",
            f'kubernetes_build_info{{{label}="{self.version}",major="1",minor="{minor}"}} 1',
        ]
        if minor >= 14:
            lines += [
                "# TYPE kubelet_node_name gauge",
                f'kubelet_node_name{{node="{self.node}"}} 1',
            ]
        lines += [
            "# TYPE process_start_time_seconds gauge",
            f"process_start_time_seconds {self.process_start}",
            "# TYPE process_cpu_seconds_total counter",
            f"process_cpu_seconds_total {self.cpu_seconds}",
            "# TYPE go_memstats_last_gc_time_seconds gauge",
            f"go_memstats_last_gc_time_seconds {at - 3}",
        ]
        if minor >= 14:
            lines += _hist("kubelet_pleg_relist_duration_seconds", self.relist_duration)
            lines += _hist("kubelet_pleg_relist_interval_seconds", self.relist_interval)
        if minor <= 16:
            lines += _summary("kubelet_pleg_relist_latency_microseconds", self.relist_duration, at)
            lines += _summary("kubelet_pleg_relist_interval_microseconds", self.relist_interval, at)
        if minor >= 14:
            lines += [
                "# TYPE kubelet_pleg_discard_events counter",
                f"kubelet_pleg_discard_events {self.discards}",
            ]
        if minor >= 18:
            seen = self.last_relist_start if self.last_relist_start is not None else 0
            if self.evented_gate:
                seen = at
            lines += [
                "# TYPE kubelet_pleg_last_seen_seconds gauge",
                f"kubelet_pleg_last_seen_seconds {int(seen)}",
            ]
        if minor >= 27:
            gate = 1 if self.evented_gate else 0
            lines += [
                "# TYPE kubelet_evented_pleg_connection_error_count counter",
                f"kubelet_evented_pleg_connection_error_count {self.evented_errors}",
                "# TYPE kubelet_evented_pleg_connection_success_count counter",
                f"kubelet_evented_pleg_connection_success_count {self.evented_successes}",
                "# TYPE kubernetes_feature_enabled gauge",
                f'kubernetes_feature_enabled{{name="EventedPLEG",stage="ALPHA"}} {gate}',
            ]
        lines += self._runtime_families(minor, at)
        running = self.pods * self.containers_per_pod
        if minor >= 19:
            lines += [
                "# TYPE kubelet_running_pods gauge",
                f"kubelet_running_pods {self.pods}",
                "# TYPE kubelet_running_containers gauge",
                f'kubelet_running_containers{{container_state="running"}} {running}',
                f'kubelet_running_containers{{container_state="exited"}} {self.exited_containers}',
            ]
        else:
            lines += [
                "# TYPE kubelet_running_pod_count gauge",
                f"kubelet_running_pod_count {self.pods}",
                "# TYPE kubelet_running_container_count gauge",
                f"kubelet_running_container_count {running}",
            ]
        lines += [
            "# TYPE kubelet_started_containers_total counter",
            f"kubelet_started_containers_total {self.started_containers}",
        ]
        # A little cAdvisor-style noise the filter must skip.
        lines += [
            "# TYPE container_cpu_usage_seconds_total counter",
            'container_cpu_usage_seconds_total{id="/kubepods/pod1",name="x"} 12.5',
        ]
        return "\n".join(lines) + "\n"

    def _runtime_families(self, minor: int, at: float) -> list[str]:
        lines: list[str] = []
        ops = sorted(self.ops)
        if minor >= 14:
            lines.append("# TYPE kubelet_runtime_operations_total counter")
            lines += [
                f'kubelet_runtime_operations_total{{operation_type="{op}"}} {self.ops[op].count}'
                for op in ops
            ]
            if self.op_errors:
                lines.append("# TYPE kubelet_runtime_operations_errors_total counter")
                lines += [
                    f'kubelet_runtime_operations_errors_total{{operation_type="{op}"}} {n}'
                    for op, n in sorted(self.op_errors.items())
                ]
            lines.append("# TYPE kubelet_runtime_operations_duration_seconds histogram")
            for op in ops:
                # DefBuckets up to 1.19, ExponentialBuckets(.005, 2.5, 14) from 1.20 (kubernetes#96054).
                hist = self.ops[op] if minor >= 20 else self.ops_def[op]
                lines += _hist_lines(
                    "kubelet_runtime_operations_duration_seconds", hist, f'operation_type="{op}"'
                )
        if minor <= 16:
            lines.append("# TYPE kubelet_runtime_operations counter")
            lines += [
                f'kubelet_runtime_operations{{operation_type="{op}"}} {self.ops[op].count}'
                for op in ops
            ]
            lines.append("# TYPE kubelet_runtime_operations_errors counter")
            lines += [
                f'kubelet_runtime_operations_errors{{operation_type="{op}"}} {n}'
                for op, n in sorted(self.op_errors.items())
            ]
            lines.append("# TYPE kubelet_runtime_operations_latency_microseconds summary")
            for op in ops:
                quantiles = self.ops[op].recent_quantiles(at)
                for q, v in quantiles.items():
                    lines.append(
                        f'kubelet_runtime_operations_latency_microseconds{{operation_type="{op}",quantile="{q}"}} {v * 1e6}'
                    )
                lines.append(
                    f'kubelet_runtime_operations_latency_microseconds_sum{{operation_type="{op}"}} {self.ops[op].sum * 1e6}'
                )
                lines.append(
                    f'kubelet_runtime_operations_latency_microseconds_count{{operation_type="{op}"}} {self.ops[op].count}'
                )
        if self.dockershim and minor >= 14:
            lines.append("# TYPE kubelet_docker_operations_duration_seconds histogram")
            for op, hist in sorted(self.docker_ops.items()):
                lines += _hist_lines(
                    "kubelet_docker_operations_duration_seconds", hist, f'operation_type="{op}"'
                )
            lines.append("# TYPE kubelet_network_plugin_operations_duration_seconds histogram")
            for op, hist in sorted(self.network_ops.items()):
                lines += _hist_lines(
                    "kubelet_network_plugin_operations_duration_seconds",
                    hist,
                    f'operation_type="{op}"',
                )
        return lines


def _hist(name: str, hist: Hist) -> list[str]:
    return [f"# TYPE {name} histogram", *_hist_lines(name, hist, "")]


def _hist_lines(name: str, hist: Hist, labels: str) -> list[str]:
    sep = "," if labels else ""
    out = [f'{name}_bucket{{{labels}{sep}le="{le:g}"}} {c}' for le, c in hist.cumulative()]
    out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {hist.count}')
    brace = f"{{{labels}}}" if labels else ""
    out.append(f"{name}_sum{brace} {hist.sum}")
    out.append(f"{name}_count{brace} {hist.count}")
    return out


def _summary(name: str, hist: Hist, at: float) -> list[str]:
    out = [f"# TYPE {name} summary"]
    for q, v in hist.recent_quantiles(at).items():
        out.append(f'{name}{{quantile="{q}"}} {v * 1e6}')
    out.append(f"{name}_sum {hist.sum * 1e6}")
    out.append(f"{name}_count {hist.count}")
    return out
