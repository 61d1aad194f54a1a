"""Generate a large, realistic kubelet `/metrics` dump for the benchmarks.

    python benchmarks/gen_dump.py --size-mb 100 -o /tmp/big.prom [--gzip] [--seed 1]

The dump is Prometheus text exposition 0.0.4, as a kubelet's `/metrics` and `/metrics/cadvisor`
concatenated and sorted by family name would be:

* the kubelet families the PLEG model reads (docs/model.md#metric-names-by-era), synthesized (not copied from any
  real dump) with the shapes of real kubelet v1.21-v1.35 scrapes: `kubelet_pleg_*` histograms with
  DefBuckets, `kubelet_runtime_operations_*{operation_type}` with ExponentialBuckets(.005, 2.5, 14),
  `kubelet_running_*`, `kubelet_node_name`, `kubernetes_build_info` (snake_case labels,
  `git_version="v1.29.4"`), `process_start_time_seconds`, `go_memstats_last_gc_time_seconds`, ...;
  every histogram is internally consistent (cumulative buckets never fall, `+Inf` == `_count`,
  `_sum` fits the bucket distribution);
* other kubelet families a real scrape carries (`apiserver_*`, `rest_client_*`,
  `storage_operation_duration_seconds`, `go_*`, `kubernetes_feature_enabled`, ...);
* cAdvisor `container_*` series with millisecond timestamps, as many as it takes to reach the
  requested size. They are the bulk of the bytes: a reader that parses everything pays for them.

Numbers are written as Go's `strconv.FormatFloat(f, 'g', -1, 64)` writes them (`1.67195e+06`),
as client_golang does. Output is deterministic for a given `--seed`, `--size-mb` and `--now`.

Sizes are MiB (1 MiB = 1,048,576 bytes) of the uncompressed text; the kubelet part alone is about
0.2 MiB, so a smaller request gets that much. `--gzip` (or an `-o` name ending in `.gz`) writes
gzip; the size still counts uncompressed bytes.

`promtool check metrics < DUMP` parses the result; it exits 3, not 0, because promlint flags a few
real kubelet names (`kubelet_pleg_discard_events` is a counter without `_total`, ...). promtool's
exit codes: 0 = parsed, no lint problem; 3 = parsed, lint problems only; 1 = parse error.
"""

from __future__ import annotations

import argparse
import gzip
import math
import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import BinaryIO, Protocol

MIB = 1 << 20
DEFAULT_NOW = 1_732_780_000  # 2024-11-28T07:46:40Z, the capture moment of the synthetic scrape.

# client_golang prometheus.DefBuckets.
DEF_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def exponential_buckets(start: float, factor: float, count: int) -> tuple[float, ...]:
    """Bounds as client_golang's `ExponentialBuckets` computes them (repeated multiplication)."""
    out: list[float] = []
    for _ in range(count):
        out.append(start)
        start *= factor
    return tuple(out)


# kubelet runtime operations since 1.20 (kubernetes#96054): ExponentialBuckets(.005, 2.5, 14).
RUNTIME_BUCKETS = exponential_buckets(0.005, 2.5, 14)
# client-go rest_client_request_duration_seconds.
REST_BUCKETS: tuple[float, ...] = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)
REST_SIZE_BUCKETS = exponential_buckets(64, 4, 8)
# pkg/volume/util/metrics.go (current).
STORAGE_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 25, 50, 120, 300, 600)
CERT_BUCKETS: tuple[float, ...] = (
    0,
    1800,
    3600,
    7200,
    21600,
    43200,
    86400,
    172800,
    345600,
    604800,
    2592000,
    7776000,
    15552000,
    31104000,
)
AUTHZ_BUCKETS: tuple[float, ...] = (0.25, 0.5, 0.7, 1, 1.5, 3, 5, 10)
CONTAINERS_PER_POD_BUCKETS = exponential_buckets(1, 2, 5)


# ---------------------------------------------------------------------------------------------
# Number formatting


def go_float(x: float) -> str:
    """Format `x` as Go's `strconv.FormatFloat(x, 'g', -1, 64)` does (client_golang's output).

    Shortest round-trip digits (Python's `repr` finds the same ones); exponent form when the
    decimal exponent is below -4 or at least 6 (Go uses precision 6 for that decision when the
    precision is "shortest"), with at least two exponent digits.
    """
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    sign, digit_tuple, exponent = Decimal(repr(x)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    exp10 = exponent + len(digits) - 1
    neg = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        esign = "-" if exp10 < 0 else "+"
        return f"{neg}{mantissa}e{esign}{abs(exp10):02d}"
    if exp10 < 0:
        return f"{neg}0.{'0' * (-exp10 - 1)}{digits}"
    if len(digits) <= exp10 + 1:
        return f"{neg}{digits}{'0' * (exp10 + 1 - len(digits))}"
    return f"{neg}{digits[: exp10 + 1]}.{digits[exp10 + 1 :]}"


def labelset(pairs: Iterable[tuple[str, str]]) -> str:
    """`{a="1",b="2"}` (or `` for no labels), label values escaped as the text format wants."""
    body = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in pairs
    )
    return "{" + body + "}" if body else ""


# ---------------------------------------------------------------------------------------------
# Families


@dataclass
class Family:
    """One metric family's text, or a generator that writes it in chunks (the cAdvisor part)."""

    name: str
    text: str = ""
    render: Callable[[], Iterable[str]] | None = None

    def chunks(self) -> Iterable[str]:
        if self.render is not None:
            return self.render()
        return (self.text,)


def header(name: str, mtype: str, help_text: str) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} {mtype}\n"


def simple(
    name: str,
    mtype: str,
    help_text: str,
    samples: Sequence[tuple[Sequence[tuple[str, str]], float]],
) -> Family:
    """A counter or gauge family from `(labels, value)` samples."""
    lines = [header(name, mtype, help_text)]
    lines.extend(f"{name}{labelset(labels)} {go_float(value)}\n" for labels, value in samples)
    return Family(name, "".join(lines))


@dataclass(frozen=True)
class LogNormal:
    """`count` observations from a log-normal with this median and sigma (sigma 0: a point)."""

    count: int
    median: float
    sigma: float

    def cdf(self, x: float) -> float:
        if x <= 0:
            return 0.0
        if self.sigma == 0:
            return 1.0 if x >= self.median else 0.0
        z = (math.log(x) - math.log(self.median)) / (self.sigma * math.sqrt(2))
        return 0.5 * (1 + math.erf(z))

    def mean(self) -> float:
        return self.median * math.exp(self.sigma**2 / 2)


@dataclass
class Histogram:
    """A histogram family built series by series; every series is consistent by construction."""

    name: str
    help_text: str
    bounds: Sequence[float]
    lines: list[str] = field(default_factory=list)

    def add_lognormal(self, labels: Sequence[tuple[str, str]], parts: Sequence[LogNormal]) -> None:
        # Rounding a non-decreasing function keeps it non-decreasing, so the cumulative counts are
        # monotonic; each part contributes at most its count, so no bucket exceeds +Inf == _count.
        cumulative = [sum(round(p.count * p.cdf(b)) for p in parts) for b in self.bounds]
        total = sum(p.count for p in parts)
        self._add(labels, cumulative, total, sum(p.count * p.mean() for p in parts))

    def add_points(
        self, labels: Sequence[tuple[str, str]], points: Sequence[tuple[float, int]]
    ) -> None:
        """Observations given as `(value, how many)`."""
        cumulative = [sum(n for v, n in points if v <= b) for b in self.bounds]
        total = sum(n for _, n in points)
        self._add(labels, cumulative, total, float(sum(v * n for v, n in points)))

    def _add(
        self, labels: Sequence[tuple[str, str]], cumulative: Sequence[int], total: int, sum_: float
    ) -> None:
        for bound, count in zip(self.bounds, cumulative, strict=True):
            bucket_labels = labelset([*labels, ("le", go_float(float(bound)))])
            self.lines.append(f"{self.name}_bucket{bucket_labels} {go_float(count)}\n")
        inf_labels = labelset([*labels, ("le", "+Inf")])
        self.lines.append(f"{self.name}_bucket{inf_labels} {go_float(total)}\n")
        self.lines.append(f"{self.name}_sum{labelset(labels)} {go_float(sum_ if total else 0)}\n")
        self.lines.append(f"{self.name}_count{labelset(labels)} {go_float(total)}\n")

    def family(self) -> Family:
        return Family(
            self.name, header(self.name, "histogram", self.help_text) + "".join(self.lines)
        )


# ---------------------------------------------------------------------------------------------
# The kubelet part


@dataclass(frozen=True)
class Node:
    """The facts the kubelet families share, so that they agree with each other."""

    name: str
    now: int
    uptime_s: float
    running_pods: int
    running_containers: int
    exited_containers: int
    created_containers: int
    started_pods: int
    started_containers: int
    relists: int
    relist_median_s: float
    interval_median_s: float


def make_node(rng: random.Random, now: int) -> Node:
    running_pods = rng.randint(60, 110)
    running_containers = sum(rng.choice((1, 1, 1, 2, 2, 3)) for _ in range(running_pods))
    uptime_s = rng.uniform(3, 12) * 86400
    relist_median = 0.010 + running_pods * 0.00015
    interval_median = 1.0 + relist_median * 1.05
    started_pods = running_pods + rng.randint(50, 400)
    return Node(
        name=f"ip-10-{rng.randint(0, 255)}-{rng.randint(0, 255)}-{rng.randint(1, 254)}"
        ".ec2.internal",
        now=now,
        uptime_s=uptime_s,
        running_pods=running_pods,
        running_containers=running_containers,
        exited_containers=rng.randint(5, 40),
        created_containers=rng.randint(0, 2),
        started_pods=started_pods,
        started_containers=round(started_pods * running_containers / running_pods),
        relists=int(uptime_s / (interval_median * 1.002)),
        relist_median_s=relist_median,
        interval_median_s=interval_median,
    )


@dataclass(frozen=True)
class RuntimeOp:
    name: str
    calls: int
    median_s: float
    sigma: float
    errors: int = 0


def runtime_ops(rng: random.Random, node: Node) -> list[RuntimeOp]:
    up = node.uptime_s
    list_ratio = rng.uniform(1.8, 1.9)  # relist + housekeeping through the runtime cache
    sc, sp = node.started_containers, node.started_pods
    probe_calls = int(up / 10 * rng.randint(20, 60))
    ops = [
        RuntimeOp("container_status", sc * 3 + rng.randint(0, 50), 0.003, 0.6, rng.randint(0, 4)),
        RuntimeOp("create_container", sc, 0.06, 0.9),
        RuntimeOp("exec_sync", probe_calls, 0.09, 0.5, probe_calls // 20000),
        RuntimeOp("image_fs_info", int(up / 30), 0.003, 0.5),
        RuntimeOp("image_status", sc * 2, 0.002, 0.5),
        RuntimeOp("list_containers", int(node.relists * list_ratio), 0.006, 0.45),
        RuntimeOp("list_images", int(up / 5.3), 0.01, 0.5),
        RuntimeOp("list_podsandbox", int(node.relists * (list_ratio - 0.01)), 0.004, 0.45),
        RuntimeOp("podsandbox_status", sp * 5, 0.004, 0.6, rng.randint(0, 2)),
        RuntimeOp("pull_image", rng.randint(5, 40), 6.0, 1.0, rng.randint(0, 2)),
        RuntimeOp("remove_container", sc - node.running_containers, 0.03, 0.7),
        RuntimeOp("remove_podsandbox", sp - node.running_pods, 0.05, 0.7),
        RuntimeOp("run_podsandbox", sp, 0.6, 0.6),
        RuntimeOp("start_container", sc, 0.15, 0.7),
        RuntimeOp("status", int(up / 5), 0.002, 0.4),
        RuntimeOp("stop_container", sc - node.running_containers, 0.8, 1.2),
        RuntimeOp("stop_podsandbox", sp - node.running_pods, 0.2, 0.8),
        RuntimeOp("update_runtime_config", 1, 0.001, 0.0),
        RuntimeOp("version", int(up / 10), 0.0015, 0.4),
    ]
    return ops


FEATURES: tuple[tuple[str, str, int], ...] = (
    ("APIResponseCompression", "BETA", 1),
    ("AllAlpha", "ALPHA", 0),
    ("AllBeta", "BETA", 0),
    ("CPUManagerPolicyAlphaOptions", "ALPHA", 0),
    ("CPUManagerPolicyBetaOptions", "BETA", 1),
    ("CPUManagerPolicyOptions", "BETA", 1),
    ("DisableCloudProviders", "BETA", 1),
    ("EventedPLEG", "ALPHA", 0),
    ("GracefulNodeShutdown", "BETA", 1),
    ("InPlacePodVerticalScaling", "ALPHA", 0),
    ("KubeletPodResourcesGet", "ALPHA", 0),
    ("KubeletTracing", "BETA", 1),
    ("NodeSwap", "BETA", 0),
    ("PodReadyToStartContainersCondition", "ALPHA", 0),
    ("SidecarContainers", "BETA", 1),
)


def kubelet_families(rng: random.Random, node: Node) -> list[Family]:
    """Every non-cAdvisor family of the dump, internally consistent."""
    fams: list[Family] = []
    up, now = node.uptime_s, node.now
    a = "[ALPHA] "

    # -- PLEG
    relist = Histogram(
        "kubelet_pleg_relist_duration_seconds",
        a + "Duration in seconds for relisting pods in PLEG.",
        DEF_BUCKETS,
    )
    tail = rng.randint(3, 30)
    relist.add_lognormal(
        [],
        [
            LogNormal(node.relists - tail - 1, node.relist_median_s, 0.55),
            LogNormal(tail, 0.4, 1.0),
            LogNormal(1, 12.5, 0.0),  # the first relist after a restart inspects every pod
        ],
    )
    fams.append(relist.family())
    interval = Histogram(
        "kubelet_pleg_relist_interval_seconds",
        a + "Interval in seconds between relisting in PLEG.",
        DEF_BUCKETS,
    )
    slow = rng.randint(1, 3)
    interval.add_lognormal(
        [],
        [
            LogNormal(node.relists - 1 - slow, node.interval_median_s, 0.004),
            LogNormal(slow, 12.0, 0.3),
        ],
    )
    fams.append(interval.family())
    fams.append(
        simple(
            "kubelet_pleg_last_seen_seconds",
            "gauge",
            a + "Timestamp in seconds when PLEG was last seen active.",
            [([], float(now - rng.randint(0, 1)))],
        )
    )
    fams.append(
        simple(
            "kubelet_pleg_discard_events",
            "counter",
            a + "The number of discard events in PLEG.",
            [([], 0)],
        )
    )
    for suffix, help_text in (
        (
            "error_count",
            "The number of errors encountered during the establishment of streaming "
            "connection with the CRI runtime.",
        ),
        (
            "success_count",
            "The number of times a streaming client was obtained to receive CRI Events.",
        ),
    ):
        fams.append(
            simple(f"kubelet_evented_pleg_connection_{suffix}", "counter", a + help_text, [([], 0)])
        )
    evented = Histogram(
        "kubelet_evented_pleg_connection_latency_seconds",
        a + "The latency of streaming connection with the CRI runtime, measured in seconds.",
        DEF_BUCKETS,
    )
    evented.add_points([], [])
    fams.append(evented.family())

    # -- runtime operations
    ops = runtime_ops(rng, node)
    duration = Histogram(
        "kubelet_runtime_operations_duration_seconds",
        a + "Duration in seconds of runtime operations. Broken down by operation type.",
        RUNTIME_BUCKETS,
    )
    for op in ops:
        duration.add_lognormal(
            [("operation_type", op.name)], [LogNormal(op.calls, op.median_s, op.sigma)]
        )
    fams.append(duration.family())
    fams.append(
        simple(
            "kubelet_runtime_operations_total",
            "counter",
            a + "Cumulative number of runtime operations by operation type.",
            [([("operation_type", op.name)], op.calls) for op in ops],
        )
    )
    fams.append(
        simple(
            "kubelet_runtime_operations_errors_total",
            "counter",
            a + "Cumulative number of runtime operation errors by operation type.",
            [([("operation_type", op.name)], op.errors) for op in ops if op.errors],
        )
    )

    # -- pods and containers
    fams.append(
        simple(
            "kubelet_running_pods",
            "gauge",
            a + "Number of pods that have a running pod sandbox",
            [([], node.running_pods)],
        )
    )
    fams.append(
        simple(
            "kubelet_running_containers",
            "gauge",
            a + "Number of containers currently running",
            [
                ([("container_state", "created")], node.created_containers),
                ([("container_state", "exited")], node.exited_containers),
                ([("container_state", "running")], node.running_containers),
            ],
        )
    )
    per_pod = Histogram(
        "kubelet_containers_per_pod_count",
        a + "The number of containers per pod.",
        CONTAINERS_PER_POD_BUCKETS,
    )
    mean_c = node.started_containers / node.started_pods
    two = max(0, min(node.started_pods, round(node.started_pods * (mean_c - 1) * 0.7)))
    three = max(0, round((node.started_containers - node.started_pods - two) / 2))
    three = min(three, node.started_pods - two)
    per_pod.add_points([], [(1, node.started_pods - two - three), (2, two), (3, three)])
    fams.append(per_pod.family())
    fams.append(
        simple(
            "kubelet_started_pods_total",
            "counter",
            a + "Cumulative number of pods started",
            [([], node.started_pods)],
        )
    )
    fams.append(
        simple(
            "kubelet_started_pods_errors_total",
            "counter",
            a + "Cumulative number of errors when starting pods",
            [([], rng.randint(0, 3))],
        )
    )
    fams.append(
        simple(
            "kubelet_started_containers_total",
            "counter",
            a + "Cumulative number of containers started",
            [
                ([("container_type", "container")], node.started_containers),
                ([("container_type", "init_container")], node.started_pods // 4),
            ],
        )
    )
    worker = Histogram(
        "kubelet_pod_worker_duration_seconds",
        a + "Duration in seconds to sync a single pod. Broken down by operation type: create, "
        "update, or sync",
        DEF_BUCKETS,
    )
    worker.add_lognormal([("operation_type", "create")], [LogNormal(node.started_pods, 0.9, 0.8)])
    worker.add_lognormal(
        [("operation_type", "sync")], [LogNormal(int(up / 60 * node.running_pods), 0.02, 0.7)]
    )
    worker.add_lognormal(
        [("operation_type", "update")], [LogNormal(node.started_pods * 3, 0.05, 0.9)]
    )
    fams.append(worker.family())
    cgroup = Histogram(
        "kubelet_cgroup_manager_duration_seconds",
        a + "Duration in seconds for cgroup manager operations. Broken down by method.",
        DEF_BUCKETS,
    )
    cgroup.add_lognormal([("operation_type", "create")], [LogNormal(node.started_pods, 0.004, 0.5)])
    cgroup.add_lognormal(
        [("operation_type", "destroy")],
        [LogNormal(node.started_pods - node.running_pods, 0.02, 0.7)],
    )
    cgroup.add_lognormal([("operation_type", "update")], [LogNormal(int(up / 60), 0.003, 0.5)])
    fams.append(cgroup.family())
    sandbox = Histogram(
        "kubelet_run_podsandbox_duration_seconds",
        a + "Duration in seconds of the run_podsandbox operations. Broken down by "
        "RuntimeClass.Handler.",
        DEF_BUCKETS,
    )
    sandbox.add_lognormal([("runtime_handler", "")], [LogNormal(node.started_pods, 0.6, 0.6)])
    fams.append(sandbox.family())
    fams.append(
        simple(
            "kubelet_node_name",
            "gauge",
            a + "The node's name. The count is always 1.",
            [([("node", node.name)], 1)],
        )
    )

    # -- volumes (kubelet_volume_stats_* per PVC)
    pvcs = [(f"ns-{rng.randint(0, 39)}", f"data-db-{i}") for i in range(30)]
    for suffix, help_text in (
        ("available_bytes", "Number of available bytes in the volume"),
        ("capacity_bytes", "Capacity in bytes of the volume"),
        ("inodes", "Maximum number of inodes in the volume"),
        ("inodes_free", "Number of free inodes in the volume"),
        ("inodes_used", "Number of used inodes in the volume"),
        ("used_bytes", "Number of used bytes in the volume"),
    ):
        fams.append(
            simple(
                f"kubelet_volume_stats_{suffix}",
                "gauge",
                a + help_text,
                [
                    (
                        [("namespace", ns), ("persistentvolumeclaim", pvc)],
                        float(rng.randrange(1 << 20, 100 << 30, 4096)),
                    )
                    for ns, pvc in pvcs
                ],
            )
        )

    # -- build, features, process, go
    fams.append(
        simple(
            "kubernetes_build_info",
            "gauge",
            a + "A metric with a constant '1' value labeled by major, minor, git version, git "
            "commit, git tree state, build date, Go version, and compiler from which Kubernetes "
            "was built, and platform on which it is running.",
            [
                (
                    [
                        ("build_date", "2024-04-16T10:21:32Z"),
                        ("compiler", "gc"),
                        ("git_commit", f"{rng.getrandbits(160):040x}"),
                        ("git_tree_state", "clean"),
                        ("git_version", "v1.29.4"),
                        ("go_version", "go1.21.9"),
                        ("major", "1"),
                        ("minor", "29"),
                        ("platform", "linux/amd64"),
                    ],
                    1,
                )
            ],
        )
    )
    fams.append(
        simple(
            "kubernetes_feature_enabled",
            "gauge",
            "[BETA] This metric records the data about the stage and enablement of a k8s feature.",
            [([("name", n), ("stage", s)], v) for n, s, v in FEATURES],
        )
    )
    start = round(now - up, 2)
    fams.extend(
        [
            simple(
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
                [([], start)],
            ),
            simple(
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
                [([], round(up * rng.uniform(0.05, 0.3), 2))],
            ),
            simple(
                "process_max_fds",
                "gauge",
                "Maximum number of open file descriptors.",
                [([], 1048576)],
            ),
            simple(
                "process_open_fds",
                "gauge",
                "Number of open file descriptors.",
                [([], rng.randint(40, 120))],
            ),
            simple(
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                [([], float(rng.randrange(60 << 20, 200 << 20, 4096)))],
            ),
            simple(
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
                [([], float(rng.randrange(1 << 30, 4 << 30, 4096)))],
            ),
            simple(
                "go_goroutines",
                "gauge",
                "Number of goroutines that currently exist.",
                [([], rng.randint(300, 900))],
            ),
            simple(
                "go_threads", "gauge", "Number of OS threads created.", [([], rng.randint(15, 40))]
            ),
            simple(
                "go_memstats_last_gc_time_seconds",
                "gauge",
                "Number of seconds since 1970 of last garbage collection.",
                [([], now - rng.uniform(5, 110))],
            ),
            simple(
                "go_memstats_alloc_bytes",
                "gauge",
                "Number of bytes allocated and still in use.",
                [([], float(rng.randrange(20 << 20, 80 << 20)))],
            ),
            simple(
                "go_memstats_heap_objects",
                "gauge",
                "Number of allocated objects.",
                [([], float(rng.randrange(100000, 400000)))],
            ),
            simple(
                "go_info",
                "gauge",
                "Information about the Go environment.",
                [([("version", "go1.21.9")], 1)],
            ),
        ]
    )
    gc_pause = [0.00002, 0.00004, 0.00006, 0.0001, 0.003]
    gc_lines = [
        header(
            "go_gc_duration_seconds",
            "summary",
            "A summary of the pause duration of garbage collection cycles.",
        )
    ]
    for q, v in zip(("0", "0.25", "0.5", "0.75", "1"), gc_pause, strict=True):
        gc_lines.append(f'go_gc_duration_seconds{{quantile="{q}"}} {go_float(v)}\n')
    gc_count = int(up / 100)
    gc_lines.append(f"go_gc_duration_seconds_sum {go_float(gc_count * 0.00007)}\n")
    gc_lines.append(f"go_gc_duration_seconds_count {gc_count}\n")
    fams.append(Family("go_gc_duration_seconds", "".join(gc_lines)))

    # -- client-go, apiserver libraries, storage
    host = "10.96.0.1:443"
    rest = Histogram(
        "rest_client_request_duration_seconds",
        a + "Request latency in seconds. Broken down by verb, and host.",
        REST_BUCKETS,
    )
    limiter = Histogram(
        "rest_client_rate_limiter_duration_seconds",
        a + "Client side rate limiter latency in seconds. Broken down by verb, and host.",
        REST_BUCKETS,
    )
    req_size = Histogram(
        "rest_client_request_size_bytes",
        a + "Request size in bytes. Broken down by verb and host.",
        REST_SIZE_BUCKETS,
    )
    resp_size = Histogram(
        "rest_client_response_size_bytes",
        a + "Response size in bytes. Broken down by verb and host.",
        REST_SIZE_BUCKETS,
    )
    ok: list[tuple[Sequence[tuple[str, str]], float]] = []
    not_found: list[tuple[Sequence[tuple[str, str]], float]] = []
    for verb, per_s in (
        ("DELETE", 0.002),
        ("GET", 0.8),
        ("PATCH", 0.2),
        ("POST", 0.01),
        ("PUT", 0.1),
    ):
        n = int(up * per_s)
        labels = [("host", host), ("verb", verb)]
        rest.add_lognormal(labels, [LogNormal(n, 0.012, 0.8)])
        limiter.add_lognormal(labels, [LogNormal(n, 0.000003, 1.5)])
        req_size.add_lognormal(labels, [LogNormal(n, 900, 1.0)])
        resp_size.add_lognormal(labels, [LogNormal(n, 4000, 1.2)])
        ok.append(([("code", "200"), ("host", host), ("method", verb)], n))
        not_found.append(([("code", "404"), ("host", host), ("method", verb)], n // 500))
    fams += [rest.family(), limiter.family(), req_size.family(), resp_size.family()]
    fams.append(
        simple(
            "rest_client_requests_total",
            "counter",
            a + "Number of HTTP requests, partitioned by status code, method, and host.",
            ok + not_found,
        )
    )
    cert = Histogram(
        "apiserver_client_certificate_expiration_seconds",
        a + "Distribution of the remaining lifetime on the certificate used to authenticate a "
        "request.",
        CERT_BUCKETS,
    )
    cert.add_points([], [])
    fams.append(cert.family())
    authz = Histogram(
        "apiserver_delegated_authz_request_duration_seconds",
        a + "Request latency in seconds. Broken down by status code.",
        AUTHZ_BUCKETS,
    )
    authz.add_lognormal([("code", "201")], [LogNormal(int(up / 300), 0.004, 0.6)])
    fams.append(authz.family())
    fams.append(
        simple(
            "apiserver_delegated_authz_request_total",
            "counter",
            a + "Number of HTTP requests partitioned by status code.",
            [([("code", "201")], int(up / 300))],
        )
    )
    storage = Histogram(
        "storage_operation_duration_seconds", a + "Storage operation duration", STORAGE_BUCKETS
    )
    for plugin in (
        "kubernetes.io/configmap",
        "kubernetes.io/csi:ebs.csi.aws.com",
        "kubernetes.io/empty-dir",
        "kubernetes.io/projected",
        "kubernetes.io/secret",
    ):
        for op_name, median in (
            ("volume_mount", 0.08),
            ("volume_unmount", 0.05),
            ("verify_controller_attached_volume", 0.002),
        ):
            for status, share in (("fail-unknown", 0.004), ("success", 1.0)):
                n = int(node.started_pods * rng.uniform(0.3, 2.0) * share)
                labels = [
                    ("migrated", "false"),
                    ("operation_name", op_name),
                    ("status", status),
                    ("volume_plugin", plugin),
                ]
                storage.add_lognormal(labels, [LogNormal(n, median, 1.1)])
    fams.append(storage.family())
    return fams


# ---------------------------------------------------------------------------------------------
# The cAdvisor part


@dataclass(frozen=True)
class Entry:
    """One cgroup as cAdvisor labels it; the label text is pre-cut where extra labels go in."""

    kind: str  # "pod" (a pod-level or system cgroup) or "container"
    container: str  # 'container="app"'
    id_image: str  # 'id="...",image="..."'
    name_ns: str  # 'name="...",namespace="..."'
    pod: str  # 'pod="..."'
    ts: str  # sample timestamp, ms

    @property
    def label_len(self) -> int:
        return len(self.container) + len(self.id_image) + len(self.name_ns) + len(self.pod)


@dataclass(frozen=True)
class CadvisorFamily:
    """A `container_*` family; each variant is the extra labels at the four cut points.

    Labels stay sorted by name, as cAdvisor writes them: `container`, [x1], `id`, `image`, [x2],
    `name`, `namespace`, [x3], `pod`, [x4].
    """

    name: str
    mtype: str
    help_text: str
    values: Callable[[random.Random, int], float]
    kinds: frozenset[str] = frozenset({"pod", "container"})
    variants: tuple[tuple[str, str, str, str], ...] = (("", "", "", ""),)


VALUES: dict[str, Callable[[random.Random, int], float]] = {
    "cpu": lambda rng, now: round(rng.uniform(0.5, 90000), 9),
    "bytes": lambda rng, now: float(rng.randrange(1 << 20, 6 << 30, 4096)),
    "count": lambda rng, now: float(rng.randrange(0, 5_000_000)),
    "small": lambda rng, now: float(rng.randrange(0, 300)),
    "zero": lambda rng, now: 0.0,
    "now": lambda rng, now: float(now),
    "start": lambda rng, now: float(now - rng.randrange(600, 30 * 86400)),
    "period": lambda rng, now: 100000.0,
    "shares": lambda rng, now: float(rng.choice((2, 102, 256, 512, 1024))),
    "limit": lambda rng, now: float(rng.choice((0, 268435456, 536870912, 1073741824))),
}
_DEV = ',device="/dev/nvme0n1"'
VARIANTS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "": (("", "", "", ""),),
    "cpu": ((',cpu="total"', "", "", ""),),
    "dev": ((_DEV, "", "", ""),),
    "blkio": tuple(
        (_DEV, ',major="259",minor="0"', f',operation="{op}"', "") for op in ("Read", "Write")
    ),
    "iface": (("", ',interface="eth0"', "", ""),),
    "memfail": tuple(
        (f',failure_type="{f}"', "", "", f',scope="{s}"')
        for f in ("pgfault", "pgmajfault")
        for s in ("container", "hierarchy")
    ),
    "tasks": tuple(
        ("", "", "", f',state="{s}"')
        for s in ("iowait", "running", "sleeping", "stopped", "uninterruptible")
    ),
}
KINDS = {
    "all": frozenset({"pod", "container"}),
    "pod": frozenset({"pod"}),
    "ctr": frozenset({"container"}),
}
# name (container_ omitted), type, values, cgroups it applies to, extra labels, help
_CADVISOR_TABLE: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("blkio_device_usage_total", "counter", "count", "all", "blkio", "Blkio Device bytes usage"),
    ("cpu_cfs_periods_total", "counter", "count", "all", "",
     "Number of elapsed enforcement period intervals."),
    ("cpu_cfs_throttled_periods_total", "counter", "count", "all", "",
     "Number of throttled period intervals."),
    ("cpu_cfs_throttled_seconds_total", "counter", "cpu", "all", "",
     "Total time duration the container has been throttled."),
    ("cpu_load_average_10s", "gauge", "small", "all", "",
     "Value of container cpu load average over the last 10 seconds."),
    ("cpu_system_seconds_total", "counter", "cpu", "all", "",
     "Cumulative system cpu time consumed in seconds."),
    ("cpu_usage_seconds_total", "counter", "cpu", "all", "cpu",
     "Cumulative cpu time consumed in seconds."),
    ("cpu_user_seconds_total", "counter", "cpu", "all", "",
     "Cumulative user cpu time consumed in seconds."),
    ("file_descriptors", "gauge", "small", "all", "",
     "Number of open file descriptors for the container."),
    ("fs_inodes_free", "gauge", "count", "ctr", "dev", "Number of available Inodes"),
    ("fs_inodes_total", "gauge", "count", "ctr", "dev", "Number of Inodes"),
    ("fs_limit_bytes", "gauge", "bytes", "ctr", "dev",
     "Number of bytes that can be consumed by the container on this filesystem."),
    ("fs_reads_bytes_total", "counter", "bytes", "all", "dev", "Cumulative count of bytes read"),
    ("fs_reads_total", "counter", "count", "all", "dev", "Cumulative count of reads completed"),
    ("fs_usage_bytes", "gauge", "bytes", "ctr", "dev",
     "Number of bytes that are consumed by the container on this filesystem."),
    ("fs_writes_bytes_total", "counter", "bytes", "all", "dev",
     "Cumulative count of bytes written"),
    ("fs_writes_total", "counter", "count", "all", "dev", "Cumulative count of writes completed"),
    ("last_seen", "gauge", "now", "all", "", "Last time a container was seen by the exporter"),
    ("memory_cache", "gauge", "bytes", "all", "", "Number of bytes of page cache memory."),
    ("memory_failcnt", "counter", "zero", "all", "", "Number of memory usage hits limits"),
    ("memory_failures_total", "counter", "count", "all", "memfail",
     "Cumulative count of memory allocation failures."),
    ("memory_mapped_file", "gauge", "bytes", "all", "", "Size of memory mapped files in bytes."),
    ("memory_max_usage_bytes", "gauge", "bytes", "all", "",
     "Maximum memory usage recorded in bytes"),
    ("memory_rss", "gauge", "bytes", "all", "", "Size of RSS in bytes."),
    ("memory_swap", "gauge", "zero", "all", "", "Container swap usage in bytes."),
    ("memory_usage_bytes", "gauge", "bytes", "all", "",
     "Current memory usage in bytes, including all memory regardless of when it was accessed"),
    ("memory_working_set_bytes", "gauge", "bytes", "all", "", "Current working set in bytes."),
    ("network_receive_bytes_total", "counter", "bytes", "pod", "iface",
     "Cumulative count of bytes received"),
    ("network_receive_errors_total", "counter", "zero", "pod", "iface",
     "Cumulative count of errors encountered while receiving"),
    ("network_receive_packets_dropped_total", "counter", "small", "pod", "iface",
     "Cumulative count of packets dropped while receiving"),
    ("network_receive_packets_total", "counter", "count", "pod", "iface",
     "Cumulative count of packets received"),
    ("network_transmit_bytes_total", "counter", "bytes", "pod", "iface",
     "Cumulative count of bytes transmitted"),
    ("network_transmit_packets_total", "counter", "count", "pod", "iface",
     "Cumulative count of packets transmitted"),
    ("oom_events_total", "counter", "zero", "all", "",
     "Count of out of memory events observed for the container"),
    ("processes", "gauge", "small", "all", "", "Number of processes running inside the container."),
    ("sockets", "gauge", "small", "all", "", "Number of open sockets for the container."),
    ("spec_cpu_period", "gauge", "period", "all", "", "CPU period of the container."),
    ("spec_cpu_shares", "gauge", "shares", "all", "", "CPU share of the container."),
    ("spec_memory_limit_bytes", "gauge", "limit", "all", "", "Memory limit for the container."),
    ("spec_memory_reservation_limit_bytes", "gauge", "zero", "all", "",
     "Memory reservation limit for the container."),
    ("start_time_seconds", "gauge", "start", "all", "",
     "Start time of the container since unix epoch in seconds."),
    ("tasks_state", "gauge", "small", "all", "tasks", "Number of tasks in given state"),
    ("threads", "gauge", "small", "all", "", "Number of threads running inside the container."),
    ("threads_max", "gauge", "zero", "all", "",
     "Maximum number of threads allowed inside the container, infinity if value is zero"),
)  # fmt: skip
CADVISOR: tuple[CadvisorFamily, ...] = tuple(
    CadvisorFamily(
        f"container_{name}", mtype, help_text, VALUES[values], KINDS[kinds], VARIANTS[var]
    )
    for name, mtype, values, kinds, var, help_text in _CADVISOR_TABLE
)

POOL = 1024  # distinct values per family, drawn at random for each sample
APPS = ("api", "app", "auth", "billing", "cache", "cart", "frontend", "ingest", "worker", "search")


def _uid(rng: random.Random) -> str:
    b = rng.getrandbits(128)
    h = f"{b:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _entries_for_pod(rng: random.Random, now_ms: int) -> list[Entry]:
    """A pod-level cgroup, its sandbox (pause) container and 1-3 app containers."""
    app = rng.choice(APPS)
    ns = f"ns-{rng.randint(0, 39)}"
    suffix = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
    pod = f"{app}-{rng.getrandbits(40):010x}-{suffix}"
    qos = rng.choice(("burstable", "burstable", "besteffort", ""))
    base = f"/kubepods/{qos}/pod{_uid(rng)}" if qos else f"/kubepods/pod{_uid(rng)}"
    ts = str(now_ms - rng.randrange(0, 15000))
    pod_q = f'pod="{pod}"'
    name_ns_empty = f'name="",namespace="{ns}"'
    out = [Entry("pod", 'container=""', f'id="{base}",image=""', name_ns_empty, pod_q, ts)]
    cid = f"{rng.getrandbits(256):064x}"
    out.append(
        Entry(
            "container",
            'container="POD"',
            f'id="{base}/{cid}",image="registry.k8s.io/pause:3.9"',
            f'name="{cid}",namespace="{ns}"',
            pod_q,
            ts,
        )
    )
    for i in range(rng.choice((1, 1, 2, 3))):
        cname = app if i == 0 else rng.choice(("sidecar", "proxy", "log-shipper"))
        cid = f"{rng.getrandbits(256):064x}"
        image = f"registry.example/{cname}:1.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
        out.append(
            Entry(
                "container",
                f'container="{cname}"',
                f'id="{base}/{cid}",image="{image}"',
                f'name="{cid}",namespace="{ns}"',
                pod_q,
                ts,
            )
        )
    return out


def _system_entries(now_ms: int) -> list[Entry]:
    empty = 'name="",namespace=""'
    return [
        Entry("pod", 'container=""', f'id="{cg}",image=""', empty, 'pod=""', str(now_ms))
        for cg in (
            "/",
            "/kubepods",
            "/kubepods/besteffort",
            "/kubepods/burstable",
            "/system.slice",
            "/system.slice/containerd.service",
            "/system.slice/kubelet.service",
        )
    ]


class Cadvisor:
    """The `container_*` families over a set of cgroups sized to fill a byte budget."""

    def __init__(self, rng: random.Random, now: int, budget: int) -> None:
        self.rng = rng
        self.pools = {f.name: [go_float(f.values(rng, now)) for _ in range(POOL)] for f in CADVISOR}
        avg_val = {n: sum(map(len, p)) / POOL for n, p in self.pools.items()}
        now_ms = now * 1000
        # Bytes one entry of each kind adds, minus its own label text (added per entry below).
        fixed: dict[str, float] = {"pod": 0.0, "container": 0.0}
        per_label: dict[str, int] = {"pod": 0, "container": 0}
        for f in CADVISOR:
            for kind in sorted(f.kinds):
                for v in f.variants:
                    # name + "{" + labels + extras + "} " + value + " " + ts + "\n"
                    fixed[kind] += len(f.name) + 4 + sum(map(len, v)) + avg_val[f.name] + 1
                    per_label[kind] += 1
        headers = sum(len(header(f.name, f.mtype, f.help_text)) for f in CADVISOR)
        static = sum(len(t) for t in _cadvisor_static(now))
        self.entries: list[Entry] = []
        used = float(headers + static)
        if budget > used:
            for e in _system_entries(now_ms):
                self.entries.append(e)
                used += self._cost(e, fixed, per_label)
        while True:
            pod = _entries_for_pod(rng, now_ms)
            cost = sum(self._cost(e, fixed, per_label) for e in pod)
            if used + cost / 2 > budget:  # stop at the pod boundary nearest the budget
                break
            self.entries += pod
            used += cost

    @staticmethod
    def _cost(e: Entry, fixed: dict[str, float], per_label: dict[str, int]) -> float:
        return fixed[e.kind] + per_label[e.kind] * (e.label_len + 3 + len(e.ts))

    def families(self, now: int) -> list[Family]:
        if not self.entries:
            return []
        out = [Family(f.name, render=self._renderer(f)) for f in CADVISOR]
        static = _cadvisor_static(now)
        out += [Family(t.split(" ", 3)[2], t) for t in static]
        return out

    def _renderer(self, f: CadvisorFamily) -> Callable[[], Iterable[str]]:
        def render() -> Iterable[str]:
            yield header(f.name, f.mtype, f.help_text)
            entries = [e for e in self.entries if e.kind in f.kinds]
            pool = self.pools[f.name]
            name = f.name
            batch = 4096
            for start in range(0, len(entries), batch):
                chunk = entries[start : start + batch]
                lines: list[str] = []
                for x1, x2, x3, x4 in f.variants:
                    vals = self.rng.choices(pool, k=len(chunk))
                    lines += [
                        f"{name}{{{e.container}{x1},{e.id_image}{x2},{e.name_ns}{x3},{e.pod}{x4}}}"
                        f" {v} {e.ts}\n"
                        for e, v in zip(chunk, vals, strict=True)
                    ]
                # cAdvisor writes a family's series sorted by labels; here: by cgroup, then variant.
                if len(f.variants) > 1:
                    n = len(chunk)
                    lines = [lines[v * n + i] for i in range(n) for v in range(len(f.variants))]
                yield "".join(lines)

        return render


def _cadvisor_static(now: int) -> list[str]:
    return [
        header(
            "cadvisor_version_info",
            "gauge",
            "A metric with a constant '1' value labeled by kernel version, OS version, docker "
            "version, cadvisor version & cadvisor revision.",
        )
        + 'cadvisor_version_info{cadvisorRevision="",cadvisorVersion="",dockerVersion="",'
        'kernelVersion="6.1.0-27-cloud-amd64",osVersion="Debian GNU/Linux 12 (bookworm)"} 1\n',
        header(
            "container_scrape_error",
            "gauge",
            "1 if there was an error while getting container metrics, 0 otherwise",
        )
        + "container_scrape_error 0\n",
        header("machine_cpu_cores", "gauge", "Number of logical CPU cores.")
        + f'machine_cpu_cores{{boot_id="{now:x}",machine_id="",system_uuid=""}} 16\n',
        header("machine_memory_bytes", "gauge", "Amount of memory installed on the machine.")
        + f'machine_memory_bytes{{boot_id="{now:x}",machine_id="",system_uuid=""}} '
        f"{go_float(66_708_713_472)}\n",
    ]


# ---------------------------------------------------------------------------------------------
# Entry point


class Sink(Protocol):
    """Where the dump goes: a binary file or a `gzip.GzipFile`."""

    def write(self, data: bytes, /) -> int: ...


def generate(out: Sink, *, size_bytes: int, seed: int = 1, now: int = DEFAULT_NOW) -> int:
    """Write the dump to `out`; returns the number of (uncompressed) bytes written."""
    rng = random.Random(seed)
    node = make_node(rng, now)
    fams = kubelet_families(rng, node)
    fixed = sum(len(f.text) for f in fams)
    cad = Cadvisor(rng, now, size_bytes - fixed)
    fams += cad.families(now)
    fams.sort(key=lambda f: f.name)
    names = [f.name for f in fams]
    assert len(set(names)) == len(names), "a family name appears twice"
    written = 0
    for fam in fams:
        for chunk in fam.chunks():
            data = chunk.encode("ascii")
            out.write(data)
            written += len(data)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate a large, realistic kubelet /metrics dump (deterministic).",
        epilog="Example: python benchmarks/gen_dump.py --size-mb 100 -o /tmp/big.prom",
    )
    parser.add_argument(
        "--size-mb", type=float, default=100.0, help="uncompressed size in MiB (default 100)"
    )
    parser.add_argument("-o", "--output", required=True, help="output file, or - for stdout")
    parser.add_argument(
        "--gzip", action="store_true", help="write gzip (implied by an -o name ending in .gz)"
    )
    parser.add_argument("--gzip-level", type=int, default=6, help="gzip level (default 6)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--now",
        type=int,
        default=DEFAULT_NOW,
        help=f"capture time, unix seconds (default {DEFAULT_NOW})",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    args = parser.parse_args(argv)

    size_bytes = int(args.size_mb * MIB)
    use_gzip = bool(args.gzip) or str(args.output).endswith(".gz")
    t0 = time.perf_counter()
    if args.output == "-":
        raw: BinaryIO = sys.stdout.buffer
        close_raw = False
    else:
        raw = open(args.output, "wb")  # noqa: SIM115 - closed below, shared with the gzip path
        close_raw = True
    try:
        if use_gzip:
            # filename="" and mtime=0: byte-identical output for the same arguments.
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=args.gzip_level, mtime=0
            ) as gz:
                written = generate(gz, size_bytes=size_bytes, seed=args.seed, now=args.now)
        else:
            written = generate(raw, size_bytes=size_bytes, seed=args.seed, now=args.now)
    finally:
        if close_raw:
            raw.close()
        else:
            raw.flush()
    elapsed = time.perf_counter() - t0
    if not args.quiet:
        print(
            f"gen_dump: {written / MIB:.2f} MiB uncompressed ({written} bytes)"
            f"{', gzip' if use_gzip else ''} -> {args.output} in {elapsed:.2f} s",
            file=sys.stderr,
        )
        if written > size_bytes + (64 << 10):
            print(
                f"gen_dump: asked for {args.size_mb} MiB, but the kubelet part alone is larger",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
