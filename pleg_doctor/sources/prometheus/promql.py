"""What every PromQL of pleg-doctor shares: the kubelets' selector, the window, the grouping.

Fleet mode's queries (`queries.py`) and the recording rules (`recording.py`) select the same
kubelet series with the same matchers and aggregate them the same way.
"""

from __future__ import annotations

from pleg_doctor.errors import UsageError

DEFAULT_SELECTOR = 'job="kubelet",metrics_path="/metrics"'
"""kube-prometheus' kubelet selector (its kubelet ServiceMonitor,
`manifests/kubernetesControlPlane-serviceMonitorKubelet.yaml`): one `kubelet` job scrapes
`/metrics`, `/metrics/cadvisor`, `/metrics/probes` and `/metrics/slis`; PLEG lives in `/metrics`."""

DEFAULT_RANGE_SECONDS = 300.0
"""`--range`: the window of `increase()`, as the kubernetes-mixin's `[5m]` rates."""

GROUP_LABELS = ("cluster", "instance")
"""What identifies one kubelet across all queries."""

FLEET_OPERATIONS = (
    "list_podsandbox",
    "list_containers",
    "podsandbox_status",
    "container_status",
    "status",
)
"""The runtime operations of the relist (`pkg/kubelet/pleg/generic.go` `Relist`: `GetPods`, then
`GetPodStatus` per pod with events) and the runtime `Status()` check (`pkg/kubelet/kubelet.go`
`updateRuntimeUp`): what the model and the causes read; other operations are not queried."""

LIST_OPERATIONS = FLEET_OPERATIONS[:2]
STATUS_OPERATIONS = FLEET_OPERATIONS[2:]


def normalize_selector(selector: str) -> str:
    """The label matchers of `--selector` without surrounding braces or a trailing comma.

    `{job="kubelet"}` and `job="kubelet",` both become `job="kubelet"`; an empty selector is
    allowed (every series of the metric, e.g. with a single kubelet job). Validation is left to
    the server: its `bad_data` answer names the problem, and the error shows the query.
    """
    text = selector.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    text = text.rstrip(",").strip()
    if "\n" in text or "\r" in text:
        raise UsageError('--selector must be one line of label matchers, e.g. job="kubelet"')
    return text


def promql_duration(seconds: float) -> str:
    """`300.0` → `300s`; fractions as milliseconds (`1.5` → `1500ms`)."""
    if seconds <= 0:
        raise UsageError("--range must be more than 0 seconds")
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"
