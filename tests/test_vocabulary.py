"""One vocabulary across commands: `-o` is the format, `--window` the time between scrapes,
`--<endpoint>-token[-file]` the credentials; old spellings keep working with one deprecation
line on stderr (never on stdout). Against a real HTTPS server with a simulated kubelet."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.fakeserver import CA, SECRETS, SERVER_CERT, TOKEN, FakeServer
from tests.helpers import run_cli

from .kubelet_sim import KubeletSim
from .test_cli_live import SimKubelet


@pytest.fixture
def kubelet(tmp_path: Path):
    """A simulated kubelet behind a real HTTPS server, and the CA and token files to reach it."""
    ca = tmp_path / "ca.pem"
    CA.cert_pem.write_to_path(str(ca))
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    sim = KubeletSim()
    sim.run(300)
    with FakeServer(SimKubelet(sim, step=5), cert=SERVER_CERT) as server:
        yield server, str(ca), str(token)


def run(args, capsys):
    return run_cli(args, capsys, secrets=SECRETS)


def deprecations(err: str) -> list[str]:
    return [line for line in err.splitlines() if "deprecated" in line]


def test_new_spellings_say_nothing_about_deprecation(kubelet, capsys, tmp_path):
    server, ca, token = kubelet
    source = ["--kubelet", f"127.0.0.1:{server.port}", "--cacert", ca]
    code, out, err = run(
        ["diagnose", *source, "--kubelet-token-file", token, "--window", "0.05s", "-o", "json"],
        capsys,
    )
    assert code == 0, err
    assert json.loads(out)["window_seconds"] is not None
    assert deprecations(err) == []
    code, _, err = run(
        ["watch", *source, "--kubelet-token", TOKEN, "--window", "0.05s", "--count", "1"], capsys
    )
    assert code == 0 and deprecations(err) == []
    code, _, err = run(
        ["capture", *source, "--kubelet-token-file", token, str(tmp_path / "a.prom")], capsys
    )
    assert code == 0 and deprecations(err) == []


@pytest.mark.parametrize(
    ("command", "old", "new"),
    [
        (["diagnose", "-o", "json"], ["--token-file", "{token_file}"], "--kubelet-token-file"),
        (["diagnose", "-o", "json"], ["--token", "{token}"], "--kubelet-token"),
        (
            ["watch", "--count", "1", "--kubelet-token-file", "{token_file}"],
            ["--interval", "0.05s"],
            "--window",
        ),
        (
            ["capture", "{tmp}/b.prom", "--count", "2", "--kubelet-token-file", "{token_file}"],
            ["--every", "0.05s"],
            "--window",
        ),
        (
            ["capture", "--kubelet-token-file", "{token_file}"],
            ["-o", "{tmp}/c.prom"],
            "capture FILE",
        ),
    ],
)
def test_an_old_spelling_works_and_says_the_new_one_on_stderr(
    kubelet, capsys, tmp_path, command, old, new
):
    server, ca, token = kubelet
    values = {"token_file": token, "token": TOKEN, "tmp": str(tmp_path)}
    args = [a.format(**values) for a in (*command, *old)]
    code, out, err = run(
        [args[0], "--kubelet", f"127.0.0.1:{server.port}", "--cacert", ca, *args[1:]], capsys
    )
    assert code == 0, err
    (line,) = deprecations(err)
    assert line.startswith("pleg-doctor: deprecated: ") and f"is now {new}" in line
    assert "deprecated" not in out
    if args[0] == "diagnose":
        assert json.loads(out)["node"] == "sim-node-1"  # stdout is the document alone
    if args[0] == "capture":
        assert list(tmp_path.glob("[bc]*.prom"))


def test_the_old_and_new_spelling_disagreeing_is_a_usage_error(kubelet, capsys):
    server, ca, token = kubelet
    source = ["--kubelet", f"127.0.0.1:{server.port}", "--cacert", ca]
    code, out, err = run(
        ["watch", *source, "--kubelet-token-file", token, "--window", "1s", "--interval", "2s"],
        capsys,
    )
    assert code == 3 and out == ""
    assert "--window and --interval disagree" in err


# --- capture: FILE, -, --force, -o FORMAT -------------------------------------------------------


def _capture(kubelet, capsys, *args: str) -> tuple[int, str, str]:
    server, ca, token = kubelet
    return run(
        [
            "capture",
            "--kubelet",
            f"127.0.0.1:{server.port}",
            "--cacert",
            ca,
            "--kubelet-token-file",
            token,
            *args,
        ],
        capsys,
    )


def test_capture_to_stdout(kubelet, capsys):
    code, out, err = _capture(kubelet, capsys, "-")
    assert code == 0, err
    assert out.startswith("# pleg-doctor capture: captured_at=")
    assert "kubelet_pleg_relist_duration_seconds" in out


def test_capture_never_overwrites_without_force(kubelet, capsys, tmp_path):
    target = tmp_path / "w.prom"
    target.write_text("precious\n")
    code, _, err = _capture(kubelet, capsys, str(target))
    assert code == 3 and f"{target} exists: pass --force" in err
    assert target.read_text() == "precious\n"
    code, _, err = _capture(kubelet, capsys, str(target), "--force")
    assert code == 0, err
    assert target.read_text().startswith("# pleg-doctor capture:")
    numbered = tmp_path / "s-002.prom"
    numbered.write_text("precious\n")
    code, _, err = _capture(kubelet, capsys, str(tmp_path / "s.prom"), "--count", "2")
    assert code == 3 and "s-002.prom exists" in err
    assert not (tmp_path / "s-001.prom").exists()  # refused before the first scrape


def test_capture_format_option(kubelet, capsys, tmp_path):
    plain = tmp_path / "p.gz"
    code, _, err = _capture(kubelet, capsys, str(plain), "-o", "text")
    assert code == 0, err
    assert plain.read_bytes().startswith(b"# pleg-doctor capture:")
    packed = tmp_path / "z.prom"
    code, _, err = _capture(kubelet, capsys, str(packed), "-o", "gzip")
    assert code == 0, err
    assert gzip.decompress(packed.read_bytes()).startswith(b"# pleg-doctor capture:")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "json"], "capture saves the kubelet's exposition text"),
        (["x.prom", "-o", "y.prom"], "-o is the format"),
        (["-", "--count", "2"], "give a FILE name, not -"),
        ([], "where to? give a FILE"),
    ],
)
def test_capture_usage_errors(kubelet, capsys, args, message):
    code, out, err = _capture(kubelet, capsys, *args)
    assert code == 3 and out == ""
    assert message in err and "Traceback" not in err


def test_old_capture_o_dash_writes_stdout_not_a_file_named_dash(kubelet, capsys, tmp_path):
    code, out, err = _capture(kubelet, capsys, "-o", "-")
    assert code == 0, err
    assert out.startswith("# pleg-doctor capture:")
    assert len(deprecations(err)) == 1
    assert not Path("-").exists()


# --- durations, versions, journal ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["diagnose", "--demo", "--runtime-request-timeout", "2"],
        ["model", "--runtime-request-timeout", "120"],
        ["model", "--set", "runtime_request_timeout=2"],
        ["fleet", "--prometheus", "p:9090", "--runtime-request-timeout", "2"],
    ],
)
def test_runtime_request_timeout_needs_a_unit_as_the_kubelet_does(capsys, args):
    code, _, err = run(args, capsys)
    assert code == 3 and "not a duration with a unit" in err and "Traceback" not in err


@pytest.mark.parametrize(("value", "seconds"), [("2m", 120), ("90s", 90), ("1m30s", 90)])
def test_runtime_request_timeout_units(capsys, value, seconds):
    code, out, _ = run(
        ["model", "--hung-calls", "1", "--runtime-request-timeout", value, "-o", "json"], capsys
    )
    assert code == 0
    assert json.loads(out)["constants"]["runtime_request_timeout_seconds"] == seconds


def test_other_durations_keep_plain_seconds(capsys):
    # only the kubelet's own setting changed: --timeout 10 is still 10 s
    code, _, err = run(["diagnose", "--demo", "--timeout", "10"], capsys)
    assert code == 0, err


@pytest.mark.parametrize("command", ["diagnose", "check"])
def test_metrics_timeout_is_a_duration_like_timeout(capsys, command):
    for value in ("130", "2m", "90s"):
        code, _, err = run([command, "--demo", "--metrics-timeout", value], capsys)
        assert code == 0, err
    code, out, err = run([command, "--demo", "--metrics-timeout", "soon"], capsys)
    assert code == 3 and "is not a duration" in err and "Traceback" not in err
    if command == "check":  # a usage error is still one Nagios line
        assert out.startswith("PLEG UNKNOWN - ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["diagnose", "--demo", "--since", "-1h"], "--since and --unit apply to --journal"),
        (["diagnose", "--demo", "--unit", "k3s"], "--since and --unit apply to --journal"),
        (["model", "--kubelet-version", "banana"], "not a kubelet version"),
    ],
)
def test_options_that_would_be_ignored_are_usage_errors(capsys, args, message):
    code, _, err = run(args, capsys)
    assert code == 3 and message in err


def test_diagnose_journal_unit(capsys, monkeypatch, tmp_path):
    import os
    import sys

    args_file = tmp_path / "args.json"
    script = tmp_path / "journalctl"
    script.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"json.dump(sys.argv[1:], open({str(args_file)!r}, 'w'))\n"
        "print('-- No entries --')\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    code, out, err = run(
        ["diagnose", "--demo", "--journal", "--unit", "k3s", "--since", "-30min", "-o", "json"],
        capsys,
    )
    assert code == 0, err
    assert json.loads(args_file.read_text())[:4] == ["-u", "k3s", "--since", "-30min"]
    assert any(n.startswith("kubelet log (") for n in json.loads(out)["notes"])
