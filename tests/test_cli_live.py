"""The CLI against live sources: real HTTPS servers on 127.0.0.1 serving a simulated kubelet."""

from __future__ import annotations

import email.utils
import io
import json
import threading
from pathlib import Path

import pytest
from rich.console import Console

from pleg_doctor.commands.watch import run_watch
from pleg_doctor.sources.kubelet import KubeletSource
from pleg_doctor.sources.options import local_credential_hint
from tests.fakeserver import CA, SECRETS, SERVER_CERT, TOKEN, FakeServer, Reply, assert_secret_free
from tests.helpers import run_cli

from .kubelet_sim import KubeletSim


class SimKubelet:
    """A handler: every scrape advances the simulated kubelet by `step` seconds first."""

    def __init__(self, sim: KubeletSim, step: float = 30.0, token: str = TOKEN) -> None:
        self.sim = sim
        self.step = step
        self.token = token
        self.lock = threading.Lock()
        self.scrapes = 0

    def __call__(self, seen) -> Reply:
        if seen.headers.get("Authorization") != f"Bearer {self.token}":
            return Reply(401, b"Unauthorized\n", "text/plain")
        with self.lock:
            self.sim.run(self.step)
            self.scrapes += 1
            return Reply(
                body=self.sim.dump(header=False).encode(),
                date=email.utils.formatdate(self.sim.now, usegmt=True),
            )


@pytest.fixture
def ca_file(tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    CA.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def token_file(tmp_path: Path) -> str:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return str(path)


def run(args, capsys):
    return run_cli(args, capsys, secrets=SECRETS)


def _kubelet_args(server: FakeServer, ca_file: str, token_file: str) -> list[str]:
    return [
        "--kubelet",
        f"127.0.0.1:{server.port}",
        "--cacert",
        ca_file,
        "--kubelet-token-file",
        token_file,
    ]


def test_diagnose_live_uses_the_kubelets_date_as_capture_time(ca_file, token_file, capsys):
    sim = KubeletSim()
    sim.run(600)
    handler = SimKubelet(sim)
    with FakeServer(handler, cert=SERVER_CERT) as server:
        code, out, err = run(
            ["diagnose", *_kubelet_args(server, ca_file, token_file), "-o", "json"], capsys
        )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["source"]["kind"] == "kubelet"
    assert doc["source"]["location"] == f"https://127.0.0.1:{server.port}/metrics"
    assert doc["window_seconds"] is None
    stamp = email.utils.parsedate_to_datetime(email.utils.formatdate(sim.now, usegmt=True))
    assert doc["captured_at"] == stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert handler.scrapes == 1


def test_window_takes_exactly_two_scrapes(ca_file, token_file, capsys):
    sim = KubeletSim()
    sim.run(600)
    handler = SimKubelet(sim, step=30)
    with FakeServer(handler, cert=SERVER_CERT) as server:
        code, out, err = run(
            [
                "diagnose",
                *_kubelet_args(server, ca_file, token_file),
                "--window",
                "0.2s",
                "-o",
                "json",
            ],
            capsys,
        )
    assert code == 0, err
    assert handler.scrapes == 2
    doc = json.loads(out)
    # the window is measured on the kubelet's clock (Date headers), not the local one
    assert doc["window_seconds"] == pytest.approx(30, abs=2)
    assert "waiting" in err or "second scrape" in err


def test_capture_then_diagnose_gives_the_live_verdict(ca_file, token_file, tmp_path, capsys):
    sim = KubeletSim()
    sim.run(300)
    sim.runtime.wedged_pods = 1
    handler = SimKubelet(sim, step=300)
    target = tmp_path / "w.prom.gz"
    with FakeServer(handler, cert=SERVER_CERT) as server:
        code, _, err = run(
            [
                "capture",
                *_kubelet_args(server, ca_file, token_file),
                str(target),
                "--count",
                "2",
                "--window",
                "0.1s",
            ],
            capsys,
        )
        assert code == 0, err
        files = sorted(tmp_path.glob("w-*.prom.gz"))
        assert [f.name for f in files] == ["w-001.prom.gz", "w-002.prom.gz"]
        code_files, out_files, _ = run(["diagnose", *map(str, files), "-o", "json"], capsys)
        # the same kubelet, live with a window: the same verdict and top cause
        sim_live = KubeletSim()
        sim_live.run(300)
        sim_live.runtime.wedged_pods = 1
        live_handler = SimKubelet(sim_live, step=300)
        server.handler = live_handler
        code_live, out_live, _ = run(
            [
                "diagnose",
                *_kubelet_args(server, ca_file, token_file),
                "--window",
                "0.1s",
                "-o",
                "json",
            ],
            capsys,
        )
    files_doc, live_doc = json.loads(out_files), json.loads(out_live)
    assert files_doc["verdict"] == live_doc["verdict"] == "warning"
    assert code_files == code_live == 1
    assert files_doc["causes"][0]["id"] == live_doc["causes"][0]["id"] == "container_wedged"
    assert files_doc["headroom_seconds"] == pytest.approx(live_doc["headroom_seconds"], abs=1)
    header = __import__("gzip").decompress(files[0].read_bytes()).split(b"\n", 1)[0].decode()
    assert header.startswith("# pleg-doctor capture: captured_at=")
    assert (
        "node=sim-node-1" in header and f"source=https://127.0.0.1:{server.port}/metrics" in header
    )


def test_wrong_token_exits_3_and_names_the_permission_without_leaking(tmp_path, ca_file, capsys):
    sim = KubeletSim()
    bad = tmp_path / "bad-token"
    bad.write_text("not-the-" + TOKEN[::-1])
    with FakeServer(SimKubelet(sim), cert=SERVER_CERT) as server:
        code, out, err = run(
            [
                "diagnose",
                "--kubelet",
                f"127.0.0.1:{server.port}",
                "--cacert",
                ca_file,
                "--kubelet-token-file",
                str(bad),
                "--debug",
            ],
            capsys,
        )
    assert code == 3
    assert "nodes/metrics" in err
    assert_secret_free(out + err, bad.read_text())
    assert "Authorization" not in err or "[redacted]" in err or "REDACTED" in err.upper()


def test_token_on_the_command_line_never_shows_with_debug(ca_file, capsys):
    with FakeServer(SimKubelet(KubeletSim()), cert=SERVER_CERT) as server:
        code, out, err = run(
            [
                "diagnose",
                "--kubelet",
                f"127.0.0.1:{server.port}",
                "--cacert",
                ca_file,
                "--kubelet-token",
                TOKEN,
                "--debug",
                "-o",
                "json",
            ],
            capsys,
        )
    assert code == 0, err
    assert "GET https://127.0.0.1" in err  # --debug shows request detail...
    assert TOKEN not in err and TOKEN not in out  # ...never the token
    assert json.loads(out)["source"]["kind"] == "kubelet"


def test_insecure_skip_tls_verify_warns_on_stderr(token_file, capsys):
    with FakeServer(SimKubelet(KubeletSim()), cert=SERVER_CERT) as server:
        code, out, err = run(
            [
                "diagnose",
                "--kubelet",
                f"127.0.0.1:{server.port}",
                "--insecure-skip-tls-verify",
                "--kubelet-token-file",
                token_file,
                "-o",
                "json",
            ],
            capsys,
        )
    assert code == 0
    assert "warning: TLS verification is off" in err
    assert json.loads(out)["schema"] == "pleg-doctor/v1"


def test_unreachable_kubelet_is_one_line_exit_3(capsys):
    from tests.fakeserver import closed_port

    code, out, err = run(
        ["diagnose", "--kubelet", f"127.0.0.1:{closed_port()}", "--timeout", "2s"], capsys
    )
    assert code == 3 and out == ""
    assert 1 <= len(err.strip().splitlines()) <= 2 and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kubelet", "a", "--node", "b"], "give one source"),
        (["x.prom", "--kubelet", "a"], "give one source"),
        (["--kubelet-token", "t", "x.prom"], "only applies to --kubelet"),
        (["--context", "c", "--demo"], "only apply to --node"),
        (["--demo", "--window", "30s"], "--window needs a live source"),
    ],
)
def test_source_usage_errors(args, message, capsys):
    code, _, err = run(["diagnose", *args], capsys)
    assert code == 3 and message in err


def test_no_source_lists_the_ways_and_local_credentials(tmp_path, capsys):
    code, _, err = run(["diagnose"], capsys)
    assert code == 3
    assert "--kubelet HOST" in err and "--node NAME" in err and "--demo" in err
    cert, key = tmp_path / "apiserver-kubelet-client.crt", tmp_path / "apiserver-kubelet-client.key"
    assert (
        local_credential_hint(
            kubelet_client=(cert, key), service_account_token=tmp_path / "t", home=tmp_path
        )
        is None
    )
    cert.write_text("x")
    key.write_text("y")
    hint = local_credential_hint(kubelet_client=(cert, key), service_account_token=tmp_path / "t")
    assert hint is not None and "--kubelet 127.0.0.1" in hint and str(cert) in hint


def test_node_through_the_api_server_with_kubeconfig(tmp_path, ca_file, capsys, monkeypatch):
    from tests.fakeserver import apiserver_handler

    kubeconfig = tmp_path / "config"
    with FakeServer(
        apiserver_handler(token=TOKEN, nodes=("worker-1",)), cert=SERVER_CERT
    ) as server:
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            f"clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:{server.port}\n"
            f"    certificate-authority: {ca_file}\n"
            f"users:\n- name: u\n  user:\n    token: {TOKEN}\n"
            "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
        )
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        code, out, err = run(["diagnose", "--node", "worker-1", "-o", "json"], capsys)
        assert code == 0, err
        doc = json.loads(out)
        assert doc["source"]["kind"] == "apiserver" and doc["node"] == "worker-1"
        code, _, err = run(["diagnose", "--node", "worker-9"], capsys)
        assert code == 3 and "worker-9" in err


def test_watch_plain_lines_when_not_a_terminal(ca_file, token_file, capsys):
    sim = KubeletSim()
    sim.run(300)
    handler = SimKubelet(sim, step=5)
    with FakeServer(handler, cert=SERVER_CERT) as server:
        code, out, err = run(
            [
                "watch",
                *_kubelet_args(server, ca_file, token_file),
                "--window",
                "0.05s",
                "--count",
                "3",
            ],
            capsys,
        )
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 3 and all(
        "verdict=ok" in line and "node=sim-node-1" in line for line in lines
    )
    assert handler.scrapes == 4  # the first scrape, then one per refresh


def test_watch_screen_through_a_recording_console(ca_file, token_file):
    sim = KubeletSim()
    sim.run(300)
    handler = SimKubelet(sim, step=5)

    def wedge_after_two(_: float) -> None:
        if handler.scrapes == 2:
            sim.runtime.wedged_pods = 1
            handler.step = 400

    with FakeServer(handler, cert=SERVER_CERT) as server:
        source = KubeletSource(f"127.0.0.1:{server.port}", cacert=ca_file, token_file=token_file)
        screen = Console(file=io.StringIO(), record=True, force_terminal=True, width=100)
        reports = run_watch(
            source,
            interval=0.01,
            count=3,
            runtime_request_timeout=120,
            diagnose_pair=lambda snaps, facts: diagnose_texts_from_snapshots(snaps),
            console=screen,
            plain=False,
            sleep=wedge_after_two,
        )
    text = screen.export_text()
    assert [r.verdict for r in reports] == ["ok", "warning", "warning"]
    assert "Trend" in text and "relists per second" in text and "container_wedged" in text
    assert "PLEG WARNING" in text


def diagnose_texts_from_snapshots(snaps, facts=None):
    from pleg_doctor.core.report import SourceInfo, diagnose
    from pleg_doctor.core.window import window_from_snapshots

    return diagnose(window_from_snapshots(snaps), source=SourceInfo(kind="kubelet", location="t"))


def test_watch_ctrl_c_exits_cleanly(ca_file, token_file):
    sim = KubeletSim()
    handler = SimKubelet(sim, step=5)

    def interrupt(_: float) -> None:
        if handler.scrapes >= 2:
            raise KeyboardInterrupt

    with FakeServer(handler, cert=SERVER_CERT) as server:
        source = KubeletSource(f"127.0.0.1:{server.port}", cacert=ca_file, token_file=token_file)
        reports = run_watch(
            source,
            interval=0.01,
            count=None,
            runtime_request_timeout=120,
            diagnose_pair=diagnose_texts_from_snapshots,
            out=io.StringIO(),
            plain=True,
            sleep=interrupt,
        )
    assert len(reports) == 1
