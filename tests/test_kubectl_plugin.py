"""`kubectl pleg-doctor diagnose NODE`: the kubectl plugin entry point, run by the real kubectl
against a fake API server over HTTPS; NODE told from FILE; the krew manifest's shape."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fakeserver import SECRETS, SERVER_CERT, FakeServer

from .conftest import ROOT
from .helpers import run_cli
from .kubelet_sim import KubeletSim
from .test_diagnose_context import _kubeconfig, _serve_node_and_metrics

BIN = Path(sys.executable).parent
PLUGIN = BIN / "kubectl-pleg_doctor"


def run_plugin(args, capsys):
    """The plugin's entry, in process: `main(kubectl_plugin=True)`."""
    from pleg_doctor.cli import main

    with pytest.raises(SystemExit) as info:
        main(list(args), kubectl_plugin=True)
    out, err = capsys.readouterr()
    for secret in SECRETS:
        assert secret not in out + err
    code = info.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture
def api_server(tmp_path, monkeypatch):
    sim = KubeletSim(node="worker-1")
    sim.run(300)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    with FakeServer(_serve_node_and_metrics(sim), cert=SERVER_CERT) as server:
        yield _kubeconfig(tmp_path, server.port)


def test_the_console_script_is_installed_next_to_pleg_doctor():
    assert PLUGIN.is_file() and os.access(PLUGIN, os.X_OK)
    done = subprocess.run([str(PLUGIN), "--version"], capture_output=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.startswith(b"pleg-doctor, version ")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs the kubectl binary")
def test_kubectl_runs_the_plugin_with_a_node_argument(api_server, tmp_path):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("KUBECONFIG", None)
    listed = subprocess.run(
        ["kubectl", "plugin", "list"], capture_output=True, env=env, timeout=60, check=False
    )
    assert str(PLUGIN) in listed.stdout.decode()
    done = subprocess.run(
        [
            "kubectl",
            "pleg-doctor",
            "diagnose",
            "worker-1",
            "--kubeconfig",
            str(api_server),
            "-o",
            "json",
        ],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    doc = json.loads(done.stdout)
    assert doc["node"] == "worker-1" and doc["source"]["kind"] == "apiserver"
    assert b"reading it as --node" not in done.stderr  # as a plugin, a NODE is expected


def test_plugin_node_argument_and_explicit_node(api_server, capsys):
    code, out, err = run_plugin(
        ["diagnose", "worker-1", "--kubeconfig", str(api_server), "-o", "json"], capsys
    )
    assert code == 0, err
    assert json.loads(out)["source"]["location"].endswith("/api/v1/nodes/worker-1/proxy/metrics")
    code, out, err = run_plugin(
        ["diagnose", "--node", "worker-1", "--kubeconfig", str(api_server), "-o", "json"], capsys
    )
    assert code == 0, err and json.loads(out)["node"] == "worker-1"


def test_pleg_doctor_reads_a_node_argument_too_and_says_so(
    api_server, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(
        ["diagnose", "worker-1", "--kubeconfig", str(api_server), "-o", "json"], capsys
    )
    assert code == 0, err
    assert "worker-1 is not a file here: reading it as --node worker-1" in err
    assert json.loads(out)["node"] == "worker-1"


def test_an_existing_file_named_like_a_node_is_ambiguous_for_the_plugin(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    dump = (ROOT / "fixtures" / "datadog-v1.21.2.prom").read_bytes()
    (tmp_path / "worker-1").write_bytes(dump)
    code, out, err = run_plugin(["diagnose", "worker-1"], capsys)
    assert code == 3 and out == ""
    assert "pass ./worker-1 for the file, or --node worker-1 for the node" in err
    code, _, err = run_plugin(["diagnose", "./worker-1"], capsys)
    assert code == 0, err
    # pleg-doctor itself keeps reading the file, as it always did
    code, _, err = run_cli(["diagnose", "worker-1"], capsys)
    assert code == 0, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["diagnose", "worker-1", "--node", "worker-2"],
            "NODE worker-1 and --node worker-2 disagree",
        ),
        (["diagnose", "{dump}", "worker-1"], "give --node worker-1 alone"),
        (["diagnose", "worker-1", "worker-2"], "give --node worker-1 alone"),
    ],
)
def test_node_arguments_that_cannot_be_one_node_are_usage_errors(capsys, args, message):
    dump = str(ROOT / "fixtures" / "datadog-v1.21.2.prom")
    code, _, err = run_plugin([a.format(dump=dump) for a in args], capsys)
    assert code == 3 and message in err


def test_a_missing_dump_name_is_not_taken_for_a_node(capsys):
    code, _, err = run_cli(["diagnose", "no-such-dump.prom"], capsys)
    assert code == 3 and "no-such-dump.prom" in err and "--node" not in err


# --- krew -----------------------------------------------------------------------------------------


def test_krew_manifest_template_has_the_shape_krew_wants():
    text = (ROOT / "deploy" / "krew" / "pleg-doctor.yaml.tmpl").read_text()
    # krew-release-bot fills the template: {{ .TagName }}, and {{addURIAndSha "URL" .TagName }}
    # becomes the uri and sha256 of the archive at URL.
    filled = text.replace("{{ .TagName }}", "v0.1.0")
    filled, count = re.subn(
        r'^( *)\{\{addURIAndSha "(https://[^"]+)" \.TagName \}\}$',
        lambda m: f"{m[1]}uri: {m[2]}\n{m[1]}sha256: {'ab' * 32}",
        filled,
        flags=re.M,
    )
    assert count >= 4
    manifest = yaml.safe_load(filled)
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert manifest["kind"] == "Plugin" and manifest["metadata"]["name"] == "pleg-doctor"
    spec = manifest["spec"]
    assert spec["version"] == "v0.1.0"
    assert spec["homepage"].startswith("https://")
    assert 0 < len(spec["shortDescription"]) <= 50
    assert "PLEG" in spec["description"]
    oses = set()
    for platform in spec["platforms"]:
        assert platform["bin"] == "kubectl-pleg_doctor"
        labels = platform["selector"]["matchLabels"]
        oses.add(labels["os"])
        assert labels["arch"] in ("amd64", "arm64")
        assert platform["uri"].startswith("https://") and len(platform["sha256"]) == 64
        assert any(
            f["to"] == "." or f["to"].startswith("kubectl-pleg_doctor") for f in platform["files"]
        )
    assert {"linux", "darwin"} <= oses
