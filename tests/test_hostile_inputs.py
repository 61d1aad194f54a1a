"""Hostile children and documents: exec plugins and crictl that never stop talking, hang with
their children, print secrets and escape sequences; kubeconfig alias bombs; JSON nested past
Python's recursion limit; a Prometheus answer with too many series."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from pleg_doctor.errors import LimitError, SourceAuthError
from pleg_doctor.sources.decode import json_document, yaml_document
from pleg_doctor.sources.kubeconfig.config import ExecPlugin, load_kubeconfig
from pleg_doctor.sources.kubeconfig.credentials import run_exec_plugin
from pleg_doctor.sources.process import run_bounded

from . import hostile
from .helpers import run_cli

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXh5eg"
DEEP_JSON = "[" * 200_000 + "]" * 200_000


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\nimport json, os, subprocess, sys, time\n{body}")
    path.chmod(0o755)
    return path


def _plugin(command: Path, **env: str) -> ExecPlugin:
    return ExecPlugin(
        command=str(command),
        api_version="client.authentication.k8s.io/v1",
        env=tuple(env.items()),
    )


def _gone(pid: int) -> bool:
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True


# --- child processes ---------------------------------------------------------------------------


def test_endless_output_stops_at_the_output_bound(tmp_path, bounds):
    bounds(PLEG_DOCTOR_MAX_OUTPUT_BYTES=str(1 << 20))
    plugin = _script(tmp_path, "chatty", "while True: sys.stdout.write('x' * 65536)\n")
    with pytest.raises(LimitError) as info:
        run_exec_plugin(_plugin(plugin), timeout=60)
    assert "wrote too much to stdout" in str(info.value)
    assert info.value.variable == "PLEG_DOCTOR_MAX_OUTPUT_BYTES"


def test_a_hung_plugin_and_its_children_are_killed_at_the_timeout(tmp_path):
    record = tmp_path / "child.pid"
    plugin = _script(
        tmp_path,
        "hangs",
        f"child = subprocess.Popen(['sleep', '600'])\nopen({str(record)!r}, 'w').write("
        "str(child.pid))\ntime.sleep(600)\n",
    )
    start = time.monotonic()
    with pytest.raises(SourceAuthError, match="did not finish within 1 s"):
        run_exec_plugin(_plugin(plugin), timeout=1)
    assert time.monotonic() - start < 30
    child = int(record.read_text())
    until = time.monotonic() + 5
    while not _gone(child) and time.monotonic() < until:
        time.sleep(0.05)
    assert _gone(child)


def test_a_child_that_closes_its_pipes_and_lingers_is_killed(tmp_path):
    script = _script(tmp_path, "lingers", "os.close(1); os.close(2); time.sleep(600)\n")
    finished = run_bounded([str(script)], timeout=1, max_output_bytes=100)
    assert finished.timed_out and finished.returncode is None


def test_plugin_stderr_is_quoted_without_secrets_or_escapes(tmp_path, capsys):
    plugin = _script(
        tmp_path,
        "denied",
        f"sys.stderr.write('\\x1b[2Jerror: token {TOKEN} rejected, key=' + "
        "os.environ['PLUGIN_KEY'] + '\\n')\nsys.exit(3)\n",
    )
    with pytest.raises(SourceAuthError) as info:
        run_exec_plugin(_plugin(plugin, PLUGIN_KEY="hunter2hunter2"), timeout=10)
    message = str(info.value)
    assert "failed (exit 3): \\x1b[2Jerror: token <redacted> rejected" in message
    assert TOKEN not in message and "hunter2hunter2" not in message and "\x1b" not in message


def test_plugin_output_nested_too_deep_is_not_json(tmp_path):
    plugin = _script(tmp_path, "deep", f"sys.stdout.write({DEEP_JSON!r})\n")
    with pytest.raises(SourceAuthError, match="output that is not JSON"):
        run_exec_plugin(_plugin(plugin), timeout=10)


FAKE_CRICTL = r"""
ID = "ab" * 32
args = sys.argv[1:]
mode = os.environ["HOSTILE_CRICTL"]
if args == ["pods", "-q"]:
    print(ID)
    sys.exit(0)
if args == ["ps", "-a", "-q"]:
    if mode == "endless":
        while True:
            sys.stdout.write(ID + "\n")
    print(ID)
    sys.exit(0)
if mode == "escapes":
    print(json.dumps({"status": {"metadata": {"name": "\x1b]0;owned\x07\x1b[2Japp",
        "namespace": "ns"}, "state": "\x1b[31mSANDBOX_READY"}}))
elif mode == "deep":
    sys.stdout.write("[" * 200000 + "]" * 200000)
elif mode == "stderr":
    sys.stderr.write("\x1b[31mrpc error: Authorization: Bearer s3cr3t-t0k3n-v4lue\n")
    sys.exit(1)
"""


@pytest.fixture
def crictl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = _script(tmp_path, "crictl", FAKE_CRICTL)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    return path


@pytest.mark.parametrize("mode", ["escapes", "deep", "stderr"])
def test_crictl_output_never_reaches_the_terminal_raw(crictl, capsys, monkeypatch, mode):
    monkeypatch.setenv("HOSTILE_CRICTL", mode)
    for output in ("table", "json"):
        code, out, err = run_cli(["probe-runtime", "-o", output], capsys)
        assert code in (0, 1, 2), err
        assert "\x1b" not in out + err
        assert "s3cr3t-t0k3n-v4lue" not in out + err
        assert "internal error" not in err
        if output == "json":
            json.loads(out)
    if mode == "escapes":
        _, out, _ = run_cli(["probe-runtime", "-o", "json"], capsys)
        assert "\\\\x1b]0;owned\\\\x07\\\\x1b[2Japp" in out


def test_crictl_endless_output_stops_at_the_bound(crictl, capsys, bounds):
    bounds(HOSTILE_CRICTL="endless", PLEG_DOCTOR_MAX_OUTPUT_BYTES=str(1 << 20))
    code, _, err = run_cli(["probe-runtime"], capsys)
    assert code == 3
    assert "wrote more than its stdout" in err and "PLEG_DOCTOR_MAX_OUTPUT_BYTES" in err


# --- documents ---------------------------------------------------------------------------------

ALIAS_BOMB = """\
a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_a_kubeconfig_alias_bomb_is_refused_in_bounded_time(tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:6443\n"
        "    extensions:\n    - name: client.authentication.k8s.io/exec\n      extension:\n"
        + "".join(f"        {line}\n" for line in ALIAS_BOMB.splitlines())
        + "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    start = time.monotonic()
    with pytest.raises(LimitError) as info:
        load_kubeconfig(str(kubeconfig))
    assert time.monotonic() - start < 10
    assert "more than 100,000 YAML nodes" in str(info.value)
    assert info.value.variable == "PLEG_DOCTOR_MAX_YAML_NODES"


def test_yaml_nested_too_deep_is_refused():
    from pleg_doctor.sources.decode import YamlTooLarge

    with pytest.raises(YamlTooLarge, match="nests deeper than"):
        yaml_document("a: " + "[" * 5000 + "]" * 5000)


def test_ordinary_yaml_aliases_still_work():
    assert yaml_document("a: &x {k: 1}\nb: *x\n") == {"a": {"k": 1}, "b": {"k": 1}}


def test_deep_json_is_a_value_error():
    with pytest.raises(ValueError, match="nested too deeply"):
        json_document(DEEP_JSON)


def _prometheus(body: bytes) -> hostile.Script:
    def script(conn, stop):
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body)
        )

    return script


def test_a_deeply_nested_prometheus_answer(capsys):
    body = b'{"status":"success","data":' + DEEP_JSON.encode() + b"}"
    with hostile.ScriptedServer(_prometheus(body)) as server:
        code, _, err = run_cli(["fleet", "--prometheus", server.url("/")], capsys)
    assert code == 3
    assert "did not answer with the Prometheus API's JSON" in err
    assert "internal error" not in err


def test_too_many_series_stop_before_decoding(capsys, bounds):
    bounds(PLEG_DOCTOR_MAX_SERIES="1000")
    element = b'{"metric":{"instance":"n"},"value":[1,"1"]}'
    body = (
        b'{"status":"success","data":{"resultType":"vector","result":['
        + b",".join([element] * 5000)
        + b"]}}"
    )
    with hostile.ScriptedServer(_prometheus(body)) as server:
        code, _, err = run_cli(["fleet", "--prometheus", server.url("/")], capsys)
    assert code == 3
    assert "more than 1,000 series in all (5,000 to one query" in err
    assert "PLEG_DOCTOR_MAX_SERIES" in err


def test_an_oversized_prometheus_answer_names_its_bound(capsys, bounds):
    bounds(PLEG_DOCTOR_MAX_ANSWER_BYTES="1000")
    body = (
        b'{"status":"success","data":{"resultType":"scalar","result":[1,"' + b"1" * 5000 + b'"]}}'
    )
    with hostile.ScriptedServer(_prometheus(body)) as server:
        code, _, err = run_cli(["fleet", "--prometheus", server.url("/")], capsys)
    assert code == 3
    assert "PLEG_DOCTOR_MAX_ANSWER_BYTES" in err


def test_a_corrupt_state_nested_too_deep_is_replaced(tmp_path, capsys):
    from .conftest import FIXTURES

    state = tmp_path / "state.json"
    state.write_text(DEEP_JSON)
    code, out, err = run_cli(
        ["check", str(FIXTURES / "datadog-v1.21.2.prom"), "--state", str(state)], capsys
    )
    assert code == 0, out + err
    assert "unusable (not JSON)" in err
    assert json.loads(state.read_text())["schema"]


def test_an_api_server_paginating_without_end_stops_the_scan(tmp_path, capsys, monkeypatch):
    from pleg_doctor.sources import scan

    from .fakeserver import CA, SERVER_CERT, FakeServer, Reply
    from .test_sources_apiserver import write_kubeconfig

    monkeypatch.setattr(scan, "MAX_LIST_PAGES", 5)
    pages: list[str] = []

    def endless(seen):
        pages.append(seen.path)
        body = {"kind": "PartialObjectMetadataList", "items": [], "metadata": {"continue": "x"}}
        return Reply(body=json.dumps(body).encode(), content_type="application/json")

    ca = tmp_path / "ca.pem"
    CA.cert_pem.write_to_path(str(ca))
    with FakeServer(endless, cert=SERVER_CERT) as server:
        config = write_kubeconfig(tmp_path / "config", server.url(""), {"token": "t0k3n"}, ca=ca)
        code, _, err = run_cli(["scan", "--kubeconfig", str(config)], capsys)
    assert code == 3
    assert "kept the node list going past 5 pages" in err
    assert len(pages) == 5
