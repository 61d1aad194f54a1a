"""deploy/: the examples parse, hold the right kinds and RBAC, and call the real CLI correctly.

Every `pleg-doctor` command line in deploy/ (YAML `command`/`args`, shell scripts inside them, the
systemd `ExecStart`) is parsed by the click command object itself, so an option renamed in the
CLI breaks this test rather than a platform team's rollout. The alert rules go through
`promtool check rules` and their unit tests through `promtool test rules`.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import click
import pytest
import yaml

from pleg_doctor.cli import cli
from pleg_doctor.commands.check import parse_grouping_key
from pleg_doctor.render.prom import pushgateway_url

from .conftest import ROOT

DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
SYSTEMD = DEPLOY / "systemd"
RULES = DEPLOY / "prometheus" / "pleg-doctor-alerts.yml"
RULES_TEST = DEPLOY / "prometheus" / "pleg-doctor-alerts.test.yml"
PROMTOOL = "/usr/bin/promtool"

API_VERSIONS = {
    "ServiceAccount": "v1",
    "ConfigMap": "v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "DaemonSet": "apps/v1",
    "CronJob": "batch/v1",
}
DOWNWARD_API = {"NODE_IP": "status.hostIP", "NODE_NAME": "spec.nodeName"}


def _yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


def _k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    docs = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        with path.open(encoding="utf-8") as handle:
            docs += [(path, doc) for doc in yaml.safe_load_all(handle) if doc is not None]
    return docs


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "DaemonSet":
        spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    elif doc["kind"] == "CronJob":
        spec = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    else:
        raise AssertionError(doc["kind"])
    return spec


def _workloads() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, d) for p, d in _k8s_documents() if d["kind"] in ("DaemonSet", "CronJob")]


def command_lines(script: str) -> Iterator[list[str]]:
    """Every `pleg-doctor ...` invocation in a shell script, as argv (up to `;`, `&&`, `|`)."""
    joined = script.replace("\\\n", " ")
    for line in joined.splitlines():
        if not re.search(r"(^|[\s/])pleg-doctor\s", line):
            continue
        words = shlex.split(line, comments=True)
        start = next(i for i, w in enumerate(words) if PurePosixPath(w).name == "pleg-doctor")
        argv = []
        for word in words[start:]:
            if word in (";", "&&", "||", "|", "&"):
                break
            argv.append(word)
        yield argv


def _container_argvs(container: dict[str, Any]) -> list[list[str]]:
    command = container.get("command") or []
    args = container.get("args") or []
    if command[:2] in (["/bin/sh", "-c"], ["sh", "-c"]):
        return list(command_lines(args[0]))
    # No command: the image's ENTRYPOINT is pleg-doctor (deploy/container/Containerfile).
    return [["pleg-doctor", *args]] if not command else [[*command, *args]]


def _systemd_values(path: Path, key: str) -> list[str]:
    """The values of `key=` in a unit file, backslash continuations joined."""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    return [
        line.split("=", 1)[1].strip() for line in text.splitlines() if line.startswith(f"{key}=")
    ]


def _all_argvs() -> list[tuple[str, list[str], dict[str, Any] | None]]:
    """(where, argv, container or None) of every pleg-doctor command line in deploy/."""
    found: list[tuple[str, list[str], dict[str, Any] | None]] = [
        (f"{path.name} {doc['metadata']['name']}", argv, container)
        for path, doc in _workloads()
        for container in _pod_spec(doc)["containers"]
        for argv in _container_argvs(container)
    ]
    found += [
        (unit.name, shlex.split(value), None)
        for unit in sorted(SYSTEMD.glob("*.service"))
        for value in _systemd_values(unit, "ExecStart")
    ]
    return found


def parse_with_the_cli(argv: list[str]) -> click.Context:
    """Parse `argv` (`pleg-doctor check ...`) with the real click command, types converted."""
    assert PurePosixPath(argv[0]).name == "pleg-doctor", argv
    command = cli.commands[argv[1]]
    return command.make_context(argv[1], list(argv[2:]))


# --- YAML and kinds ------------------------------------------------------------------------------


def test_every_yaml_file_parses():
    files = _yaml_files()
    assert len(files) >= 6
    for path in files:
        with path.open(encoding="utf-8") as handle:
            docs = [d for d in yaml.safe_load_all(handle) if d is not None]
        assert docs, path


def test_kinds_and_api_versions():
    docs = _k8s_documents()
    kinds = [d["kind"] for _, d in docs]
    assert set(kinds) == set(API_VERSIONS)
    assert kinds.count("DaemonSet") == 1 and kinds.count("CronJob") == 2
    for path, doc in docs:
        assert doc["apiVersion"] == API_VERSIONS[doc["kind"]], (path.name, doc["kind"])
        assert doc["metadata"]["name"]
        if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == "monitoring", (path.name, doc["kind"])


# --- RBAC ---------------------------------------------------------------------------------------


def _rules_of(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _permissions_by_service_account() -> dict[tuple[str, str], set[tuple[str, str, str]]]:
    docs = _k8s_documents()
    roles = {d["metadata"]["name"]: d for _, d in docs if d["kind"] == "ClusterRole"}
    accounts = {
        (d["metadata"]["namespace"], d["metadata"]["name"])
        for _, d in docs
        if d["kind"] == "ServiceAccount"
    }
    granted: dict[tuple[str, str], set[tuple[str, str, str]]] = {a: set() for a in accounts}
    for _, binding in docs:
        if binding["kind"] != "ClusterRoleBinding":
            continue
        ref = binding["roleRef"]
        assert ref["apiGroup"] == "rbac.authorization.k8s.io" and ref["kind"] == "ClusterRole"
        assert ref["name"] in roles, ref
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount"
            key = (subject["namespace"], subject["name"])
            assert key in accounts, subject
            granted[key] |= _rules_of(roles[ref["name"]])
    return granted


def test_rbac_grants_get_on_node_metrics_and_proxy_only_for_the_apiserver_variant():
    docs = _k8s_documents()
    for path, role in docs:
        if role["kind"] != "ClusterRole":
            continue
        rules = _rules_of(role)
        assert all(verb == "get" for _, _, verb in rules), (path.name, rules)
        assert all(group == "" for group, _, _ in rules)
        resources = {resource for _, resource, _ in rules}
        if path.name == "apiserver-variant.yaml":
            assert resources == {"nodes/proxy"}
        else:
            assert resources == {"nodes/metrics"}, (path.name, resources)
    for path in KUBERNETES.glob("*.yaml"):
        if path.name != "apiserver-variant.yaml":
            assert "nodes/proxy" not in _yaml_text_without_comments(path), path.name


def _yaml_text_without_comments(path: Path) -> str:
    return "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())


def test_each_workload_has_exactly_the_permission_its_source_needs():
    granted = _permissions_by_service_account()
    for path, doc in _workloads():
        spec = _pod_spec(doc)
        account = (doc["metadata"]["namespace"], spec["serviceAccountName"])
        assert account in granted, (path.name, account)
        needed = set()
        for container in spec["containers"]:
            for argv in _container_argvs(container):
                params = parse_with_the_cli(argv).params
                if params["kubelet"] is not None:
                    needed.add(("", "nodes/metrics", "get"))  # the kubelet's SubjectAccessReview
                if params["node"] is not None:
                    needed.add(("", "nodes/proxy", "get"))  # the API server's node proxy
        assert needed and granted[account] == needed, (path.name, granted[account], needed)


# --- command lines -------------------------------------------------------------------------------


def test_every_command_line_uses_only_options_the_cli_accepts():
    argvs = _all_argvs()
    where = {w.split()[0] for w, _, _ in argvs}
    assert where == {
        "daemonset-textfile.yaml",
        "cronjob-pushgateway.yaml",
        "apiserver-variant.yaml",
        "pleg-doctor.service",
    }
    for place, argv, _ in argvs:
        assert argv[1] == "check", (place, argv)
        try:
            params = parse_with_the_cli(argv).params
        except click.ClickException as exc:
            pytest.fail(f"{place}: {shlex.join(argv)}: {exc.format_message()}")
        # The values go through the same checks as at run time.
        parse_grouping_key(params["grouping_key"])
        if params["pushgateway"] is not None:
            pushgateway_url(params["pushgateway"])
        assert params["kubelet"] or params["node"], place  # a live source, never a file


def test_no_command_line_uses_a_deprecated_spelling():
    from pleg_doctor.cli import cli

    command = cli.commands["check"]
    hidden = {o for p in command.params if getattr(p, "hidden", False) for o in p.opts}
    assert "--token-file" in hidden
    for place, argv, _ in _all_argvs():
        assert not hidden & set(argv), (place, hidden & set(argv))


def test_textfile_or_pushgateway_everywhere():
    for place, argv, _ in _all_argvs():
        params = parse_with_the_cli(argv).params
        assert (params["textfile"] is None) != (params["pushgateway"] is None), place
        if params["kubelet"] is not None:
            # Direct to the kubelet: the node's own, with a state that outlives the run.
            assert params["kubelet"] in ("$(NODE_IP)", "127.0.0.1"), place
            assert params["state"] == "/var/lib/pleg-doctor/state.json", place
        if params["pushgateway"] is not None:
            keys = parse_grouping_key(params["grouping_key"])
            # The grouping node must not depend on a good scrape (a failed one pushes up 0).
            assert keys.get("node") in ("$(NODE_NAME)", "$node"), place


def test_variables_come_from_the_downward_api_and_paths_are_mounted():
    for path, doc in _workloads():
        spec = _pod_spec(doc)
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in spec["containers"]:
            env = {e["name"]: e for e in container.get("env", [])}
            text = " ".join([*container.get("command", []), *container.get("args", [])])
            for name in set(re.findall(r"\$\(([A-Z_]+)\)", text)):
                assert name in env, (path.name, name)
                field = env[name]["valueFrom"]["fieldRef"]["fieldPath"]
                assert field == DOWNWARD_API[name], (path.name, name, field)
            mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
            assert all(m["name"] in volumes for m in mounts.values())
            for argv in _container_argvs(container):
                params = parse_with_the_cli(argv).params
                files = [
                    params[key]
                    for key in ("state", "pushgateway_password_file", "kubeconfig")
                    if params[key] is not None
                ]
                dirs = [params["textfile"]] if params["textfile"] else []
                for needed in [*(str(PurePosixPath(f).parent) for f in files), *dirs]:
                    assert needed in mounts, (path.name, needed, sorted(mounts))
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"]["drop"] == ["ALL"]


def test_jobs_do_not_fail_on_a_verdict_but_do_on_unknown():
    for path, doc in _workloads():
        if doc["kind"] != "CronJob":
            continue
        assert doc["spec"]["concurrencyPolicy"] == "Forbid"
        spec = _pod_spec(doc)
        assert spec["restartPolicy"] == "Never"
        script = spec["containers"][0]["args"][0]
        assert "-lt 3" in script or "-ge 3" in script, path.name


def test_the_apiserver_variant_kubeconfig_uses_the_pod_identity():
    (configmap,) = [d for _, d in _k8s_documents() if d["kind"] == "ConfigMap"]
    config = yaml.safe_load(configmap["data"]["kubeconfig"])
    (user,) = config["users"]
    assert user["user"]["tokenFile"] == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    (cluster,) = config["clusters"]
    assert cluster["cluster"]["server"] == "https://kubernetes.default.svc"
    assert config["current-context"] == config["contexts"][0]["name"]


# --- systemd ----------------------------------------------------------------------------------


def test_systemd_units():
    service = SYSTEMD / "pleg-doctor.service"
    timer = SYSTEMD / "pleg-doctor.timer"
    assert _systemd_values(service, "Type") == ["oneshot"]
    # 1 and 2 are verdicts delivered in the textfile; only 3 (the check failed) fails the unit.
    assert _systemd_values(service, "SuccessExitStatus") == ["1 2"]
    assert _systemd_values(service, "StateDirectory") == ["pleg-doctor"]
    (exec_start,) = _systemd_values(service, "ExecStart")
    params = parse_with_the_cli(shlex.split(exec_start)).params
    assert params["kubelet"] == "127.0.0.1"
    assert params["state"].startswith("/var/lib/pleg-doctor/")
    assert _systemd_values(service, "ReadWritePaths") == [params["textfile"]]
    assert _systemd_values(timer, "Unit") == ["pleg-doctor.service"]
    assert _systemd_values(timer, "OnUnitActiveSec") == ["1min"]


def test_systemd_units_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (optional: the structure is checked above)")
    # `verify` wants the ExecStart binary to exist: point it at this checkout's entry point.
    binary = ROOT / ".venv" / "bin" / "pleg-doctor"
    if not binary.exists():
        binary = Path(shutil.which("pleg-doctor") or "/bin/true")
    for unit in SYSTEMD.iterdir():
        text = unit.read_text().replace("/usr/local/bin/pleg-doctor", str(binary))
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", "--man=no", "pleg-doctor.service", "pleg-doctor.timer"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    complaints = [
        line for line in (result.stdout + result.stderr).splitlines() if "pleg-doctor" in line
    ]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr


# --- Prometheus rules ---------------------------------------------------------------------------


def _promtool() -> str:
    if not Path(PROMTOOL).exists():
        pytest.fail(
            f"{PROMTOOL} is missing: install the Debian package `prometheus` "
            "(./scripts/test.sh installs it)",
            pytrace=False,
        )
    return PROMTOOL


def test_alert_rules_cover_the_four_conditions():
    with RULES.open() as handle:
        doc = yaml.safe_load(handle)
    rules = {r["alert"]: r for group in doc["groups"] for r in group["rules"]}
    assert set(rules) == {
        "PlegHeadroomLow",
        "PlegCritical",
        "PlegDoctorSourceDown",
        "PlegDoctorStale",
    }
    assert "pleg_doctor_headroom_seconds" in rules["PlegHeadroomLow"]["expr"]
    assert 'pleg_doctor_verdict{verdict="critical"}' in rules["PlegCritical"]["expr"]
    assert "pleg_doctor_up == 0" in rules["PlegDoctorSourceDown"]["expr"]
    assert "pleg_doctor_last_run_timestamp_seconds" in rules["PlegDoctorStale"]["expr"]
    for rule in rules.values():
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert "{{ $labels.node }}" in rule["annotations"]["summary"]


@pytest.mark.integration
def test_promtool_check_rules():
    result = subprocess.run(
        [_promtool(), "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 4 rules found" in result.stdout


@pytest.mark.integration
def test_promtool_test_rules():
    result = subprocess.run(
        [_promtool(), "test", "rules", RULES_TEST.name],
        cwd=RULES_TEST.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
