"""`check --textfile` / `--pushgateway` against the real tools: promtool, node_exporter, Pushgateway.

Debian's `prometheus` (promtool), `prometheus-node-exporter` and `prometheus-pushgateway` packages;
`./scripts/test.sh` installs them. A missing binary FAILS these tests with what to install: CI must
never pass by skipping them.

Each daemon is started on a free 127.0.0.1 port, polled until it answers (bounded), and terminated
in the fixture's finalizer whatever the test did. The Pushgateway runs without persistence and with
basic auth (`--web.config.file`); the bearer-token push is tested against a fake gateway in
test_check.py, because the Pushgateway only knows basic auth.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import run_cli

from .kubelet_sim import KubeletSim

pytestmark = pytest.mark.integration

PROMTOOL = ("/usr/bin/promtool", "prometheus")
NODE_EXPORTER = ("/usr/bin/prometheus-node-exporter", "prometheus-node-exporter")
PUSHGATEWAY = ("/usr/bin/prometheus-pushgateway", "prometheus-pushgateway")

GATEWAY_USER = "pusher"
GATEWAY_PASSWORD = "test-push-password"
# bcrypt of GATEWAY_PASSWORD, cost 4 (fast to check), made once with
# python3.11 -c "import crypt; print(crypt.crypt('test-push-password', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))"
# (bcrypt is not a dependency; the hash is test data).
GATEWAY_PASSWORD_BCRYPT = "$2b$04$2MmQxLgBBmPmuuW7BLVt8ut1XlnxQ5EC2byXFCJRykIKFsRuIO0fW"

START_TIMEOUT_SECONDS = 20.0


def _binary(spec: tuple[str, str]) -> str:
    path, package = spec
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"{path} is missing: install the Debian package `{package}` "
            f"(apt-get install {package}; ./scripts/test.sh does it)",
            pytrace=False,
        )
    return path


def run(args, capsys):
    return run_cli(args, capsys, secrets=(GATEWAY_PASSWORD,))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, *, auth: tuple[str, str] | None = None, timeout: float = 5.0) -> str:
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body: bytes = response.read()
    return body.decode()


@contextlib.contextmanager
def _daemon(
    argv: list[str], ready_url: str, log: Path, *, auth: tuple[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `argv`, wait (bounded) until `ready_url` answers 200, always terminate it."""
    with log.open("wb") as log_file:
        process = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"{argv[0]} exited with {process.returncode}:\n{log.read_text()[-2000:]}"
                )
            try:
                _get(ready_url, auth=auth, timeout=1.0)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{argv[0]} did not answer {ready_url} within {START_TIMEOUT_SECONDS:.0f} s:\n"
                    f"{log.read_text()[-2000:]}"
                )
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _sim_dumps(directory: Path, wedged: int = 0) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    sim = KubeletSim()
    sim.run(600)
    first = directory / "a.prom"
    first.write_text(sim.dump())
    sim.runtime.wedged_pods = wedged
    sim.run(600)
    second = directory / "b.prom"
    second.write_text(sim.dump())
    return [str(first), str(second)]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


# --- promtool ----------------------------------------------------------------------------------


def _promtool_check_metrics(path: Path) -> None:
    with path.open("rb") as handle:
        result = subprocess.run(
            [_binary(PROMTOOL), "check", "metrics"],
            stdin=handle,
            capture_output=True,
            timeout=60,
            check=False,
        )
    output = (result.stdout + result.stderr).decode()
    # promtool exits non-zero on a parse error or a lint problem (naming, units, HELP).
    assert result.returncode == 0 and not output.strip(), output


def test_promtool_check_metrics_accepts_the_textfile(tmp_path, capsys):
    directory = tmp_path / "textfile"
    directory.mkdir()
    code, _, _ = run(
        ["check", *_sim_dumps(tmp_path / "d", 1), "--textfile", str(directory)], capsys
    )
    assert code == 1
    _promtool_check_metrics(directory / "pleg_doctor.prom")
    # The failure file (up 0, no report) too.
    code, _, _ = run(
        ["check", str(tmp_path / "missing.prom"), "--textfile", str(directory)], capsys
    )
    assert code == 3
    assert 'pleg_doctor_up{node="unknown"} 0.0' in (directory / "pleg_doctor.prom").read_text()
    _promtool_check_metrics(directory / "pleg_doctor.prom")


# --- node_exporter -------------------------------------------------------------------------------


@pytest.fixture
def node_exporter(tmp_path) -> Iterator[tuple[str, Path]]:
    """A real node_exporter with only the textfile collector, on a free loopback port."""
    binary = _binary(NODE_EXPORTER)
    directory = tmp_path / "textfile_collector"
    directory.mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    argv = [
        binary,
        f"--web.listen-address=127.0.0.1:{port}",
        "--collector.disable-defaults",
        "--collector.textfile",
        f"--collector.textfile.directory={directory}",
    ]
    with _daemon(argv, url, tmp_path / "node_exporter.log"):
        yield url, directory


def test_node_exporter_serves_the_textfile(node_exporter, tmp_path, capsys):
    url, directory = node_exporter
    dumps = _sim_dumps(tmp_path / "d", 1)
    code, _, _ = run(["check", *dumps, "--textfile", str(directory)], capsys)
    assert code == 1
    doc = json.loads(run(["check", *dumps, "-o", "json"], capsys)[1])

    scraped = _samples(_get(url))
    node = (("node", "sim-node-1"),)
    assert scraped[("node_textfile_scrape_error", ())] == 0
    assert scraped[("pleg_doctor_headroom_seconds", node)] == pytest.approx(doc["headroom_seconds"])
    assert scraped[("pleg_doctor_up", node)] == 1
    assert scraped[("pleg_doctor_verdict", (*node, ("verdict", "warning")))] == 1

    # The next run fails to read its source: node_exporter now serves up 0, verdict unknown.
    code, _, _ = run(["check", str(tmp_path / "gone.prom"), "--textfile", str(directory)], capsys)
    assert code == 3
    scraped = _samples(_get(url))
    unknown = (("node", "unknown"),)
    assert scraped[("node_textfile_scrape_error", ())] == 0
    assert scraped[("pleg_doctor_up", unknown)] == 0
    assert scraped[("pleg_doctor_verdict", (*unknown, ("verdict", "unknown")))] == 1
    assert not any(name == "pleg_doctor_headroom_seconds" for name, _ in scraped)


# --- Pushgateway ---------------------------------------------------------------------------------


@pytest.fixture
def pushgateway(tmp_path) -> Iterator[str]:
    """A real Pushgateway, in memory only, with basic auth; yields its base URL."""
    binary = _binary(PUSHGATEWAY)
    web_config = tmp_path / "web.yml"
    web_config.write_text(f"basic_auth_users:\n  {GATEWAY_USER}: {GATEWAY_PASSWORD_BCRYPT}\n")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [
        binary,
        f"--web.listen-address=127.0.0.1:{port}",
        "--persistence.file=",  # the Debian default is a file under /var/lib/prometheus
        f"--web.config.file={web_config}",
    ]
    with _daemon(
        argv, f"{base}/-/ready", tmp_path / "pushgateway.log", auth=(GATEWAY_USER, GATEWAY_PASSWORD)
    ):
        yield base


def test_push_to_a_real_pushgateway_with_basic_auth(pushgateway, tmp_path, capsys):
    password = tmp_path / "password"
    password.write_text(GATEWAY_PASSWORD + "\n")
    auth_args = [
        "--pushgateway-user",
        GATEWAY_USER,
        "--pushgateway-password-file",
        str(password),
    ]
    dumps = _sim_dumps(tmp_path / "d", 1)
    code, out, err = run(["check", *dumps, "--pushgateway", pushgateway, *auth_args], capsys)
    assert code == 1 and out.startswith("PLEG WARNING"), err
    doc = json.loads(run(["check", *dumps, "-o", "json"], capsys)[1])

    gateway = _samples(_get(f"{pushgateway}/metrics", auth=(GATEWAY_USER, GATEWAY_PASSWORD)))
    group = (("instance", ""), ("job", "pleg-doctor"), ("node", "sim-node-1"))
    assert gateway[("pleg_doctor_headroom_seconds", group)] == pytest.approx(
        doc["headroom_seconds"]
    )
    assert gateway[("pleg_doctor_up", group)] == 1
    assert gateway[("pleg_doctor_verdict", (*group, ("verdict", "warning")))] == 1
    assert gateway[("push_time_seconds", group)] > 0
    assert gateway[("push_failure_time_seconds", group)] == 0

    # A healthy run replaces the group (PUT): the verdict moves, nothing of the last run lingers.
    healthy = _sim_dumps(tmp_path / "h")
    code, _, _ = run(["check", *healthy, "--pushgateway", pushgateway, *auth_args], capsys)
    assert code == 0
    gateway = _samples(_get(f"{pushgateway}/metrics", auth=(GATEWAY_USER, GATEWAY_PASSWORD)))
    assert gateway[("pleg_doctor_verdict", (*group, ("verdict", "warning")))] == 0
    assert gateway[("pleg_doctor_verdict", (*group, ("verdict", "ok")))] == 1


WITHOUT_PROMETHEUS_CLIENT = """
import sys


class Absent:
    \"\"\"An install without prometheus_client (it is in the `test` extra only).\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "prometheus_client":
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None


sys.meta_path.insert(0, Absent())
from pleg_doctor.cli import main

main(sys.argv[1:])
"""


def test_textfile_and_push_need_no_prometheus_client(pushgateway, tmp_path):
    import sys

    from .conftest import ROOT

    password = tmp_path / "password"
    password.write_text(GATEWAY_PASSWORD + "\n")
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    dumps = _sim_dumps(tmp_path / "d", 1)
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_PROMETHEUS_CLIENT, "check", *dumps,
         "--textfile", str(textfile), "--pushgateway", pushgateway,
         "--pushgateway-user", GATEWAY_USER, "--pushgateway-password-file", str(password)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert result.returncode == 1 and result.stdout.startswith("PLEG WARNING"), result.stderr
    written = _samples((textfile / "pleg_doctor.prom").read_text())
    gateway = _samples(_get(f"{pushgateway}/metrics", auth=(GATEWAY_USER, GATEWAY_PASSWORD)))
    group = (("instance", ""), ("job", "pleg-doctor"), ("node", "sim-node-1"))
    assert written[("pleg_doctor_up", (("node", "sim-node-1"),))] == 1
    assert gateway[("pleg_doctor_up", group)] == 1
    assert gateway[("pleg_doctor_headroom_seconds", group)] == pytest.approx(
        written[("pleg_doctor_headroom_seconds", (("node", "sim-node-1"),))]
    )


def test_real_pushgateway_refusals_exit_3(pushgateway, tmp_path, capsys):
    dumps = _sim_dumps(tmp_path / "d")
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    for auth_args in (
        [],
        ["--pushgateway-user", GATEWAY_USER, "--pushgateway-password-file", str(wrong)],
    ):
        code, out, err = run(
            ["check", *dumps, "--pushgateway", pushgateway, *auth_args, "--debug"], capsys
        )
        assert code == 3
        assert out.startswith(f"PLEG UNKNOWN - push to {pushgateway} failed: HTTP 401")
        assert "verdict was OK" in out
        assert f"pleg-doctor: error: push to {pushgateway} failed: HTTP 401" in err
        assert "not-the-password" not in out + err


def test_a_blocked_kubelet_scrape_reaches_node_exporter_as_up_0_with_why(
    node_exporter, tmp_path, capsys
):
    """A real HTTPS kubelet whose /metrics blocks while /healthz answers: the textfile says so."""
    from tests.fakeserver import CA, SERVER_CERT, TOKEN, FakeServer
    from tests.test_blocked_metrics import blocking_kubelet

    url, directory = node_exporter
    ca = tmp_path / "ca.pem"
    CA.cert_pem.write_to_path(str(ca))
    token = tmp_path / "token"
    token.write_text(TOKEN)
    with FakeServer(blocking_kubelet(30.0), cert=SERVER_CERT) as server:
        code, out, err = run(
            ["check", "--kubelet", f"127.0.0.1:{server.port}", "--cacert", str(ca),
             "--token-file", str(token), "--timeout", "1s", "--textfile", str(directory)],
            capsys,
        )  # fmt: skip
    assert code == 3, err
    assert out.startswith("PLEG UNKNOWN - /metrics did not answer in 1.0 s while /healthz")
    _promtool_check_metrics(directory / "pleg_doctor.prom")
    scraped = _samples(_get(url))
    node = (("node", "127.0.0.1"),)
    assert scraped[("node_textfile_scrape_error", ())] == 0
    assert scraped[("pleg_doctor_up", node)] == 0
    assert scraped[("pleg_doctor_scrape_blocked_seconds", node)] == 1
    assert scraped[("pleg_doctor_verdict", (*node, ("verdict", "unknown")))] == 1
    assert scraped[("pleg_doctor_cause_score", (("cause", "runtime_hung"), *node))] >= 0.7
