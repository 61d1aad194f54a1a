"""node-problem-detector: `check -o npd`, and deploy/node-problem-detector/ run the way NPD runs it.

NPD's custom plugin contract, from kubernetes/node-problem-detector:

* `pkg/custompluginmonitor/types/config.go` (`ApplyConfiguration`, `Validate`): the defaults
  (timeout 5s, invoke_interval 30s, max_output_length 80, concurrency 3), Go durations, `plugin`
  must be `custom`, a rule's timeout must not exceed the global one, a permanent rule's condition
  must have a default condition.
* `pkg/custompluginmonitor/plugin/plugin.go` (`Plugin.run`): the rule's `path` is executed with
  its `args` (no shell, NPD's own environment), killed at the rule's (or the global) timeout; at
  most 4096 bytes of stdout are read, whitespace-trimmed and cut at `max_output_length` bytes;
  exit 0 is OK, 1 NonOK, anything else Unknown.
* `pkg/custompluginmonitor/custom_plugin_monitor.go` (`toConditionStatus`): a permanent rule's
  condition is False for OK, True for NonOK, Unknown otherwise.

`run_like_npd` does exactly that with the rule of `pleg-doctor-monitor.json`, against a real
HTTPS fake kubelet (trustme certificate) serving dumps of the simulated kubelet: healthy, a
wedged container, a hung runtime, and kubelets that refuse, stall or are not there.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import os
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from pleg_doctor.logs.parse import parse_go_duration
from pleg_doctor.render.npd import MAX_OUTPUT_LENGTH, fit, npd_exit_code, npd_line
from tests.fakeserver import SERVER_CERT, FakeServer, Reply, Seen, closed_port, status_json
from tests.test_deploy import command_lines, parse_with_the_cli

from .conftest import REAL_DUMPS, ROOT
from .helpers import diagnose_texts, run_cli
from .kubelet_sim import KubeletSim, Runtime

NPD_DIR = ROOT / "deploy" / "node-problem-detector"
MONITOR = NPD_DIR / "pleg-doctor-monitor.json"
INSTALLED = "/usr/local/bin/pleg-doctor"
"""Where the image (deploy/node-problem-detector/Containerfile) installs the console script."""
PLEG_DOCTOR = str(Path(sys.executable).parent / "pleg-doctor")
"""This checkout's console script: it stands in for INSTALLED when the rule runs here."""

CONFIG_KEYS = {"plugin", "pluginConfig", "source", "conditions", "rules", "metricsReporting"}
PLUGIN_CONFIG_KEYS = {
    "invoke_interval",
    "timeout",
    "max_output_length",
    "concurrency",
    "enable_message_change_based_condition_update",
    "skip_initial_status",
}
RULE_KEYS = {"type", "condition", "reason", "path", "args", "timeout", "invoke_interval"}
CONDITION_KEYS = {"type", "reason", "message"}
PLUGIN_BUFFER_BYTES = 4096
"""`maxCustomPluginBufferBytes`: NPD reads no more of a plugin's stdout."""


# --- NPD's side ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Monitor:
    """A custom plugin monitor config after NPD's `ApplyConfiguration` and `Validate`."""

    doc: dict[str, Any]
    timeout_seconds: float
    invoke_interval_seconds: float
    max_output_length: int
    concurrency: int

    def rule_timeout(self, rule: dict[str, Any]) -> float:
        """`Plugin.run`: the rule's timeout when it is shorter than the global one."""
        own = parse_go_duration(rule["timeout"]) if "timeout" in rule else None
        return own if own is not None and own < self.timeout_seconds else self.timeout_seconds


def go_duration(text: Any) -> float:
    seconds = parse_go_duration(text) if isinstance(text, str) else None
    assert seconds is not None, f"not a Go duration: {text!r}"
    return seconds


def apply_and_validate(doc: dict[str, Any]) -> Monitor:
    """NPD's `ApplyConfiguration` then `Validate`, plus unknown keys (NPD ignores typos)."""
    assert set(doc) <= CONFIG_KEYS, set(doc) - CONFIG_KEYS
    plugin = doc.get("pluginConfig", {})
    assert set(plugin) <= PLUGIN_CONFIG_KEYS, set(plugin) - PLUGIN_CONFIG_KEYS
    monitor = Monitor(
        doc=doc,
        timeout_seconds=go_duration(plugin.get("timeout", "5s")),
        invoke_interval_seconds=go_duration(plugin.get("invoke_interval", "30s")),
        max_output_length=plugin.get("max_output_length", 80),
        concurrency=plugin.get("concurrency", 3),
    )
    assert isinstance(monitor.max_output_length, int) and monitor.max_output_length > 0
    assert isinstance(monitor.concurrency, int) and monitor.concurrency > 0
    assert doc["plugin"] == "custom"
    assert isinstance(doc["source"], str) and doc["source"]
    defaults = {c["type"] for c in doc["conditions"]}
    for condition in doc["conditions"]:
        assert set(condition) <= CONDITION_KEYS and condition["type"] and condition["reason"]
    for rule in doc["rules"]:
        assert set(rule) <= RULE_KEYS, set(rule) - RULE_KEYS
        assert rule["type"] in ("permanent", "temporary")
        assert rule["reason"] and rule["path"]
        assert all(isinstance(arg, str) for arg in rule.get("args", []))
        if "timeout" in rule:
            assert go_duration(rule["timeout"]) <= monitor.timeout_seconds, rule
        if rule["type"] == "permanent":
            assert rule["condition"] in defaults, rule
    return monitor


@dataclasses.dataclass(frozen=True)
class PluginResult:
    status: str
    """`OK`, `NonOK` or `Unknown`."""
    message: str
    """What NPD keeps: stdout trimmed and cut at max_output_length bytes."""
    stdout: str
    stderr: str
    exit_code: int

    @property
    def condition(self) -> str:
        """`toConditionStatus` of a permanent rule."""
        return {"OK": "False", "NonOK": "True"}.get(self.status, "Unknown")


def run_like_npd(
    monitor: Monitor, rule: dict[str, Any], *, env: dict[str, str], replace: dict[str, str]
) -> PluginResult:
    """Run `rule` as `Plugin.run` does; `replace` rewrites the argv (paths of this machine)."""
    argv = [rule["path"], *rule.get("args", [])]
    for old, new in replace.items():
        argv = [arg.replace(old, new) for arg in argv]
    try:
        proc = subprocess.run(
            argv, env=env, capture_output=True, timeout=monitor.rule_timeout(rule), check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"NPD would have killed the plugin after {monitor.rule_timeout(rule)} s")
    stdout = proc.stdout[:PLUGIN_BUFFER_BYTES]
    kept = stdout.decode("utf-8", "replace").strip().encode()[: monitor.max_output_length]
    status = {0: "OK", 1: "NonOK"}.get(proc.returncode, "Unknown")
    return PluginResult(
        status=status,
        message=kept.decode("utf-8", "replace"),
        stdout=proc.stdout.decode(),
        stderr=proc.stderr.decode(),
        exit_code=proc.returncode,
    )


@pytest.fixture(scope="module")
def monitor() -> Monitor:
    return apply_and_validate(json.loads(MONITOR.read_text()))


# --- the config -----------------------------------------------------------------------------------


def test_the_monitor_config_is_what_npd_accepts(monitor):
    doc = monitor.doc
    (condition,) = doc["conditions"]
    assert condition["type"] == "PLEGHeadroomLow"
    (rule,) = doc["rules"]
    assert rule["type"] == "permanent" and rule["condition"] == "PLEGHeadroomLow"
    assert rule["reason"] == "PLEGHeadroomLow" != condition["reason"]
    # The message must fit NPD's cut as a whole, and a run must end before the next one starts.
    assert monitor.max_output_length == MAX_OUTPUT_LENGTH
    assert monitor.rule_timeout(rule) < monitor.invoke_interval_seconds
    assert monitor.concurrency == 1


def _pleg_doctor_argv(rule: dict[str, Any]) -> list[str]:
    assert rule["path"] == "/bin/sh" and rule["args"][0] == "-c"
    (argv,) = command_lines(rule["args"][1])
    return argv


def test_the_rule_runs_check_npd_against_the_nodes_own_kubelet(monitor):
    (rule,) = monitor.doc["rules"]
    argv = _pleg_doctor_argv(rule)
    assert argv[0] == INSTALLED
    params = parse_with_the_cli(argv).params
    assert params["output"] == "npd"
    assert params["kubelet"] == "$NODE_IP"
    assert params["insecure_skip_tls_verify"] is True  # kubelet serving certs are self-signed
    # A window between runs, never a stale one; the scrape ends well within the rule's timeout
    # (one retry on connection errors: twice --timeout at most, plus the start).
    assert params["state"] == "/var/lib/pleg-doctor/npd-state.json"
    assert params["state_max_age"] >= 2 * monitor.invoke_interval_seconds
    assert 2 * params["timeout"] + 5 <= monitor.rule_timeout(rule)
    assert params["textfile"] is None and params["pushgateway"] is None


def _documents() -> list[dict[str, Any]]:
    text = (NPD_DIR / "node-problem-detector.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def test_the_kustomization_mounts_this_config_where_the_daemonset_reads_it(monitor):
    kustomization = yaml.safe_load((NPD_DIR / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["node-problem-detector.yaml"]
    (generator,) = kustomization["configMapGenerator"]
    assert generator["files"] == [MONITOR.name]
    docs = _documents()
    (daemonset,) = [d for d in docs if d["kind"] == "DaemonSet"]
    spec = daemonset["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    (container,) = spec["containers"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert volumes[mounts["/config"]["name"]]["configMap"]["name"] == generator["name"]
    assert f"--config.custom-plugin-monitor=/config/{MONITOR.name}" in container["command"]
    assert container["command"][0] == "/node-problem-detector"
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {"NODE_NAME": "spec.nodeName", "NODE_IP": "status.hostIP"}
    (rule,) = monitor.doc["rules"]
    params = parse_with_the_cli(_pleg_doctor_argv(rule)).params
    state_dir = str(PurePosixPath(params["state"]).parent)
    assert volumes[mounts[state_dir]["name"]]["hostPath"]["path"] == state_dir
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert {d["kind"] for d in docs} == {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "DaemonSet",
    }


def test_rbac_gives_npd_its_own_role_and_the_check_nodes_metrics_only():
    docs = _documents()
    (account,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    (daemonset,) = [d for d in docs if d["kind"] == "DaemonSet"]
    assert (
        daemonset["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    )
    roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterRole"}
    bound = set()
    for binding in (d for d in docs if d["kind"] == "ClusterRoleBinding"):
        (subject,) = binding["subjects"]
        assert subject["name"] == account["metadata"]["name"]
        assert subject["namespace"] == account["metadata"]["namespace"]
        bound.add(binding["roleRef"]["name"])
    # NPD's bootstrap role (nodes/status patch, events create) and our nodes/metrics get.
    assert bound == {"system:node-problem-detector", *roles}
    (role,) = roles.values()
    assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]}]


# --- the rule, run like NPD runs it ----------------------------------------------------------------


class Kubelet:
    """A fake kubelet's answer, changed between runs like a real kubelet's metrics change."""

    def __init__(self) -> None:
        self.reply = Reply()

    def __call__(self, seen: Seen) -> Reply:
        return self.reply

    def serve(self, sim: KubeletSim) -> None:
        """Answer with `sim`'s metrics now, its clock in the `Date` header as a kubelet's is."""
        self.reply = Reply(
            body=sim.dump(header=False).encode(),
            date=email.utils.formatdate(sim.now, usegmt=True),
        )


@pytest.fixture
def kubelet():
    answer = Kubelet()
    with FakeServer(answer, cert=SERVER_CERT) as server:
        yield answer, server


def _run(monitor, tmp_path, node_ip: str, **replace: str) -> PluginResult:
    (rule,) = monitor.doc["rules"]
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)}
    env["NODE_IP"] = node_ip
    substitutions = {INSTALLED: PLEG_DOCTOR, "/var/lib/pleg-doctor": str(tmp_path), **replace}
    return run_like_npd(monitor, rule, env=env, replace=substitutions)


def _assert_npd_message(result: PluginResult, verdict: str) -> None:
    # The whole line survives NPD's cut: one ASCII line of at most max_output_length bytes.
    assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1, result.stdout
    assert result.message == result.stdout.strip(), (result.message, result.stdout)
    assert len(result.stdout.strip().encode()) <= MAX_OUTPUT_LENGTH
    assert result.message.isascii()
    assert result.message.startswith(f"PLEG {verdict}: "), result.message


def _healthy() -> KubeletSim:
    return KubeletSim(node="npd-node")


def _wedged() -> KubeletSim:
    return KubeletSim(node="npd-node", runtime=Runtime(wedged_pods=1))


@pytest.mark.parametrize(
    ("make", "hang", "status", "verdict", "cause"),
    [
        (_healthy, False, "OK", "ok", None),
        (_wedged, False, "NonOK", "warning", "container_wedged"),
        (_healthy, True, "NonOK", "critical", "runtime_hung"),
    ],
    ids=["healthy", "wedged-container", "hung-runtime"],
)
def test_the_configured_rule_sets_the_condition(
    monitor, tmp_path, kubelet, make, hang, status, verdict, cause
):
    answer, server = kubelet
    node_ip = f"127.0.0.1:{server.port}"
    sim = make()
    sim.run(300)
    answer.serve(sim)
    first = _run(monitor, tmp_path, node_ip)  # no state yet: a single scrape
    assert first.status in ("OK", "NonOK"), first
    assert (tmp_path / "npd-state.json").is_file()
    if hang:
        sim.hang_runtime_for(300)
    else:
        sim.run(300)
    answer.serve(sim)
    second = _run(monitor, tmp_path, node_ip)  # the window since the first run
    assert (second.status, second.condition) == (status, {"OK": "False"}.get(status, "True"))
    _assert_npd_message(second, verdict)
    assert "headroom" in second.message
    if cause is not None:
        assert second.message.endswith(f"top cause {cause}"), second.message
    assert len(server.seen) == 2


def _assert_unknown(result: PluginResult, *words: str) -> None:
    assert (result.status, result.exit_code, result.condition) == ("Unknown", 2, "Unknown")
    _assert_npd_message(result, "unknown")
    for word in words:
        assert word in result.message, result.message
    assert "pleg-doctor: error:" in result.stderr  # NPD logs a plugin's stderr


def test_a_kubelet_that_refuses_the_check_is_unknown(monitor, tmp_path, kubelet):
    answer, server = kubelet
    message = 'nodes "npd-node" is forbidden: cannot get resource "nodes/metrics"'
    answer.reply = Reply(403, status_json(403, "Forbidden", message), "application/json")
    result = _run(monitor, tmp_path, f"127.0.0.1:{server.port}")
    _assert_unknown(result, "403", f"127.0.0.1:{server.port}")


def test_a_kubelet_whose_metrics_block_past_the_timeout_is_unknown(monitor, tmp_path, kubelet):
    # A hung runtime blocks the kubelet's /metrics up to the CRI timeout; --timeout ends the wait
    # (shortened from the config's 10s so the test takes a second).
    answer, server = kubelet
    answer.reply = Reply(stall_seconds=30)
    result = _run(
        monitor, tmp_path, f"127.0.0.1:{server.port}", **{"--timeout 10s": "--timeout 1s"}
    )
    _assert_unknown(result, "did not answer within the 1 s deadline")


def test_no_kubelet_listening_is_unknown(monitor, tmp_path):
    result = _run(monitor, tmp_path, f"127.0.0.1:{closed_port()}")
    _assert_unknown(result, "connection refused")


def test_a_login_page_instead_of_metrics_is_unknown(monitor, tmp_path, kubelet):
    answer, server = kubelet
    answer.reply = Reply(body=b"<html><body>log in</body></html>", content_type="text/html")
    result = _run(monitor, tmp_path, f"127.0.0.1:{server.port}")
    _assert_unknown(result, "HTML")


# --- check -o npd itself --------------------------------------------------------------------------


def test_exit_codes_are_npds(tmp_path, capsys, monkeypatch):
    ok, out, _ = run_cli(["check", "-o", "npd", str(REAL_DUMPS[0])], capsys)
    assert ok == 0 and out.startswith("PLEG ok: headroom ")
    monkeypatch.chdir(tmp_path)
    missing, out, err = run_cli(["check", "-o", "npd", "nope.prom"], capsys)
    assert missing == 2 and out == "PLEG unknown: nope.prom: no such file\n"
    assert "no such file" in err
    # click's own usage errors too: 2 with -o npd in any spelling, still 3 without it.
    for spelling in (["-o", "npd"], ["--output", "npd"], ["--output=npd"], ["-onpd"]):
        code, out, err = run_cli(["check", *spelling, "--no-such-option"], capsys)
        assert code == 2 and out == "PLEG unknown: No such option '--no-such-option'.\n"
        assert "No such option" in err
    code, out, _ = run_cli(["check", "--no-such-option"], capsys)
    assert code == 3 and out.startswith("PLEG UNKNOWN - ")


def test_a_failed_textfile_does_not_turn_the_condition_unknown(tmp_path, capsys):
    code, out, err = run_cli(
        ["check", "-o", "npd", str(REAL_DUMPS[0]), "--textfile", str(tmp_path / "missing")],
        capsys,
    )
    assert code == 0 and out.startswith("PLEG ok: ")
    assert "--textfile" in err and "no such directory" in err


def test_every_real_dump_and_simulated_trouble_fits_in_80_ascii_bytes():
    texts: list[list[str | bytes]] = [[path.read_bytes()] for path in REAL_DUMPS]
    for runtime in (Runtime(wedged_pods=3), Runtime(list_podsandbox=2.0, list_containers=2.0)):
        sim = KubeletSim(runtime=runtime)
        sim.run(300)
        first = sim.dump()
        sim.run(300)
        texts.append([first, sim.dump()])
    for pair in texts:
        report = diagnose_texts(pair)
        line = npd_line(report)
        assert len(line.encode()) <= MAX_OUTPUT_LENGTH and line.isascii(), line
        assert line.startswith(f"PLEG {report.verdict}: ")
        assert npd_exit_code(report) == {"ok": 0, "warning": 1, "critical": 1}.get(
            report.verdict, 2
        )
        if report.causes:
            assert report.causes[0].id in line


def test_long_reasons_are_shortened_at_a_word_with_the_endpoint_kept():
    reason = (
        "PLEG unknown: kubelet https://ip-10-0-123-45.eu-west-1.compute.internal:10250/metrics "
        "did not answer within 10 s (the kubelet's /metrics blocks while its runtime hangs)"
    )
    line = fit(reason)
    assert len(line) <= MAX_OUTPUT_LENGTH and line.endswith("...")
    assert "kubelet ip-10-0-123-45.eu-west-1.compute.internal:10250 did" in line
    assert "https://" not in line and "/metrics did" not in line
    assert fit("steady state crosses the threshold: worst age ≈ 200 s ≥ 180 s") == (
        "steady state crosses the threshold: worst age ~ 200 s >= 180 s"
    )
    assert npd_exit_code(None) == 2


def test_an_unknown_verdict_is_npds_unknown(tmp_path, capsys):
    dump = tmp_path / "cadvisor.prom"
    dump.write_text(
        "# TYPE container_cpu_usage_seconds_total counter\n"
        'container_cpu_usage_seconds_total{id="/kubepods/pod1"} 12.5\n'
    )
    code, out, err = run_cli(["check", "-o", "npd", str(dump)], capsys)
    assert code == 2
    assert out.startswith("PLEG unknown: no PLEG metric in the data") and len(out) <= 81
    assert "no PLEG metric" in err
