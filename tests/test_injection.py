"""Strings from outside land escaped or validated: the capture header, the Pushgateway URL, the
textfile's labels, the Nagios line, suggested shell commands, the terminal."""

from __future__ import annotations

import datetime as dt
import json
import shlex
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pleg_doctor.core.exposition import capture_header_line, parse_exposition
from pleg_doctor.core.printable import escape_controls, shell_command
from pleg_doctor.errors import ExpositionError
from pleg_doctor.render.check import unknown_line
from pleg_doctor.render.prom import push_path

from .conftest import FIXTURES
from .fakeserver import FakeServer, Reply, Seen
from .helpers import run_cli

DUMP = (FIXTURES / "datadog-v1.21.2.prom").read_text()
REAL_NODE = 'kubelet_node_name{node="ip-172-29-240-188.ec2.internal"}'
FORGERY = "a b source=evil captured_at=1999-01-01T00:00:00Z"
NEWLINE = "x\\nkubelet_pleg_last_seen_seconds 1"  # `\n` escaped: legal in a label value


def _dump_with_node(node_label_value: str) -> str:
    text = DUMP.replace(REAL_NODE, f'kubelet_node_name{{node="{node_label_value}"}}')
    assert text != DUMP
    return text


@pytest.mark.parametrize("node", [FORGERY, NEWLINE, "ok-node\\\\", 'q\\"uote'])
def test_a_node_name_cannot_forge_the_capture_header(tmp_path, capsys, node):
    body = _dump_with_node(node).encode()

    def handler(seen: Seen) -> Reply:
        return Reply(body=body)

    out_file = tmp_path / "capture.prom"
    with FakeServer(handler) as server:
        code, _, err = run_cli(["capture", "--kubelet", server.url(), "-o", str(out_file)], capsys)
    assert code == 0, err
    header, _, rest = out_file.read_bytes().partition(b"\n")
    assert rest == body  # the body as served, after exactly one header line
    assert header.startswith(b"# pleg-doctor capture: captured_at=2026-11-27T10:00:00Z ")
    assert b"node=" not in header  # not a node name: left out, not written raw
    assert header.count(b"captured_at=") == 1 and header.count(b"source=") == 1
    code, out, _ = run_cli(["diagnose", str(out_file), "-o", "json"], capsys)
    doc = json.loads(out)
    assert doc["captured_at"] == "2026-11-27T10:00:00Z"
    assert doc["source"]["location"] == str(out_file)


def test_header_values_are_percent_encoded_and_read_back():
    line = capture_header_line(
        captured_at=dt.datetime(2026, 11, 27, 10, tzinfo=dt.timezone.utc),
        node="worker-3",
        source="https://h/a b?x=1%2 c",
    )
    assert line == (
        b"# pleg-doctor capture: captured_at=2026-11-27T10:00:00Z node=worker-3 "
        b"source=https://h/a%20b?x=1%252%20c\n"
    )
    parsed = parse_exposition([line + b"kubelet_running_pods 1\n"], name="t")
    assert parsed.header is not None
    assert parsed.header.source == "https://h/a b?x=1%2 c"
    assert parsed.header.node == "worker-3"


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (b"captured_at=2026-11-27T10:00:00Z captured_at=1999-01-01T00:00:00Z", "repeats"),
        (b"node=a node=b", "repeats"),
        (b"captured_at=2026-11-27T10:00:00Z evil", "not key=value"),
        (b"node=Not_A_Node", "bad node"),
        (b"node=a%0Ab", "bad node"),
    ],
)
def test_the_header_parser_is_strict(header, problem):
    with pytest.raises(ExpositionError, match=problem):
        parse_exposition(
            [b"# pleg-doctor capture: " + header + b"\nkubelet_running_pods 1\n"], name="t"
        )


def test_a_second_header_cannot_override_the_first():
    text = (
        b"# pleg-doctor capture: captured_at=2026-11-27T10:00:00Z node=real\n"
        b"kubelet_running_pods 1\n"
        b"# pleg-doctor capture: captured_at=1999-01-01T00:00:00Z node=forged\n"
    )
    with pytest.raises(
        ExpositionError, match="line 3: a capture header is valid only as the first"
    ):
        parse_exposition([text], name="t")


@pytest.mark.parametrize(
    ("node", "segment"),
    [
        ("worker-3", "node/worker-3"),
        ("..", "node@base64/Li4="),
        (".", "node@base64/Lg=="),
        ("", "node@base64/="),
        ("a/b", "node@base64/YS9i"),
        ("a b\n", "node@base64/YSBiCg=="),
        ("x?y#z", "node@base64/eD95I3o="),
    ],
)
def test_pushgateway_path_segments(node, segment):
    assert push_path("pleg-doctor", {"node": node}) == f"/metrics/job/pleg-doctor/{segment}"


def test_a_dot_dot_node_pushes_to_its_own_group(tmp_path, capsys):
    from .test_check import FakeGateway

    with FakeGateway() as gateway:
        code, out, _ = run_cli(
            [
                "check",
                str(FIXTURES / "datadog-v1.21.2.prom"),
                "--pushgateway",
                gateway.url,
                "--grouping-key",
                "node=..",
            ],
            capsys,
        )
    assert code == 0, out
    (pushed,) = gateway.requests
    assert pushed.path == "/metrics/job/pleg-doctor/node@base64/Li4="


def test_textfile_labels_hold_any_node_name(tmp_path, capsys):
    node = 'a\\"b\\\\c\\nd}e{f'  # as written in the exposition: quote, backslash, newline, braces
    dump = tmp_path / "dump.prom"
    dump.write_text(_dump_with_node(node))
    code, out, err = run_cli(["check", str(dump), "--textfile", str(tmp_path)], capsys)
    assert code == 0, out + err
    text = (tmp_path / "pleg_doctor.prom").read_text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    (up,) = families["pleg_doctor_up"].samples
    assert up.labels["node"] == 'a"b\\c\nd}e{f'
    assert len([line for line in text.splitlines() if line.startswith("pleg_doctor_up")]) == 1


def test_the_nagios_line_stays_one_line_without_a_pipe_or_an_escape():
    line = unknown_line("bad | thing\nPLEG OK - forged | headroom=180s\x1b[2J")
    assert "\n" not in line and "\x1b" not in line
    assert line.count("|") == 0
    assert line.startswith("PLEG UNKNOWN - bad / thing PLEG OK - forged / headroom=180s\\x1b[2J")


SYNC_ERROR = (
    "Oct  8 16:37:{s} worker9 kubelet[1636]: E1008 16:37:{s}.529643    1636 pod_workers.go:191] "
    'Error syncing pod 6083039b-081e-4070-b751-bf877fd35ae0 ("{name}_prod'
    '(6083039b-081e-4070-b751-bf877fd35ae0)"), skipping: error killing pod: [failed to '
    '"KillPodSandbox" for "6083039b-081e-4070-b751-bf877fd35ae0" with KillPodSandboxError: '
    '"rpc error: code = DeadlineExceeded desc = context deadline exceeded"]\n'
)


def _sync_errors(tmp_path: Path, name: str) -> str:
    log = tmp_path / "kubelet.log"
    log.write_text(SYNC_ERROR.format(s="39", name=name) + SYNC_ERROR.format(s="44", name=name))
    return str(log)


def test_a_hostile_pod_name_stays_one_shell_word(tmp_path, capsys):
    name = "x;touch${IFS}/tmp/PWNED;#"
    code, out, _ = run_cli(["logs", _sync_errors(tmp_path, name)], capsys)
    assert code == 1
    (pods,) = [line for line in out.splitlines() if line.startswith("$ crictl pods")]
    words = shlex.split(pods.removeprefix("$ ").partition(" | ")[0])
    assert words == ["crictl", "pods", "--namespace", "prod", "--name", name, "-q"]


def test_shell_words():
    assert shell_command("crictl", "inspect", "abc123") == "crictl inspect abc123"
    assert shell_command("echo", "a b", "it's") == "echo 'a b' 'it'\"'\"'s'"
    assert shell_command("echo", "a\x1b[2Jb\n") == "echo $'a\\x1b[2Jb\\x0a'"


def test_outside_text_never_reaches_the_terminal_raw(tmp_path, capsys):
    log = _sync_errors(tmp_path, "web\x1b]0;owned\x07\x1b[2J")
    for args in (["logs", log], ["logs", log, "-o", "json"], ["diagnose", "--demo", "--logs", log]):
        code, out, err = run_cli(args, capsys)
        assert code in (0, 1, 2), err
        assert "\x1b" not in out + err and "\x07" not in out + err
    _, out, _ = run_cli(["logs", log], capsys)
    assert "web\\x1b]0;owned\\x07\\x1b[2J" in out


def test_escape_controls():
    assert escape_controls("plain text\twith tab\n") == "plain text\twith tab\n"
    assert escape_controls("\x1b[31m\r\x00\x7f\x9b") == "\\x1b[31m\\x0d\\x00\\x7f\\x9b"


def test_every_control_character_is_escaped_inside_printable_text():
    """`escape_controls` returns text `str.isprintable` passes as is, without its pattern: that
    holds only while every character the pattern escapes is one `isprintable` refuses."""
    codes = (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)
    for code in codes:
        escaped = f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
        assert escape_controls(f"node-{chr(code)}-a") == f"node-{escaped}-a"
    assert escape_controls("ünïcode nödé ✓") == "ünïcode nödé ✓"


def test_no_file_name_is_built_from_outside_values():
    # Capture names its files from the -o template and an index only (commands/capture.py).
    from pleg_doctor.commands.capture import capture_path

    assert capture_path("w3.prom.gz", 1, 3) == "w3-002.prom.gz"
    assert Path(capture_path("../x/w3.prom", 0, 2)).name == "w3-001.prom"


@pytest.mark.parametrize(
    "node",
    ["prod/x;touch${IFS}/tmp/PWNED;#", "c\n$ rm -rf ~/a b", "10.0.0.7:10250", "worker-3"],
)
def test_fleet_suggests_commands_with_every_label_quoted(node):
    from pleg_doctor.render.fleet import diagnose_command

    command = diagnose_command(node, via=("--context", "prod eu"))
    words = shlex.split(command.command)
    name = node.rpartition("/")[2]
    assert name in words and words[:2] == ["pleg-doctor", "diagnose"]
    assert "\n" not in command.command + command.comment
    if not name.endswith(":10250"):
        assert words[-2:] == ["--context", "prod eu"]


def test_the_blocked_scrape_cause_quotes_the_node():
    from pleg_doctor.core.causes.scrape import metrics_blocked

    finding = metrics_blocked(node="a;b", waited_seconds=10.0, healthz="200 ok")
    command = finding.next_steps[0].partition("   #")[0]
    words = shlex.split(command)
    assert words[:4] == ["pleg-doctor", "diagnose", "--node", "a;b"]
    assert words[4] == "--metrics-timeout"


def test_name_node_fills_the_placeholder_with_one_shell_word():
    from pleg_doctor.core.printable import name_node

    command = "kubectl get pods --field-selector spec.nodeName=$NODE | grep -v Running"
    assert name_node(command, "worker-3") == command.replace("$NODE", "worker-3")
    assert name_node(command, None) == command and name_node(command, "") == command
    hostile = "w 3;touch${IFS}/tmp/PWNED;#"
    words = shlex.split(name_node(command, hostile))
    assert f"spec.nodeName={hostile}" in words and words[-2:] == ["-v", "Running"]
    # a variable of the node's own environment is not the placeholder
    assert name_node("check --kubelet $NODE_IP --node $NODES", "w") == (
        "check --kubelet $NODE_IP --node $NODES"
    )
    # control characters: bash's $'...', one word that shows them escaped
    assert name_node("x --node $NODE", "a\nb\x1b") == "x --node $'a\\x0ab\\x1b'"


def _sim_texts_for(node: str) -> list[str]:
    """The event_channel_full scenario (a `$NODE` next step) of a kubelet whose
    `kubelet_node_name` says `node` (the capture header refuses what is not a node name)."""
    from .test_causes import SCENARIOS

    texts = SCENARIOS["event_channel_full"]()
    label = node.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return [
        text.replace(" node=sim-node-1", "").replace('node="sim-node-1"', f'node="{label}"')
        for text in texts
    ]


@pytest.mark.parametrize("node", ["w 3;touch${IFS}/tmp/PWNED;#", "c\n$ rm -rf ~", "worker-3"])
def test_every_next_step_names_a_hostile_node_as_one_word(node):
    from .helpers import diagnose_texts

    report = diagnose_texts(_sim_texts_for(node))
    assert report.node == node
    steps = [step for cause in report.causes for step in cause.next_steps]
    (kubectl,) = [s for s in steps if "spec.nodeName=" in s]
    if "\n" in node:  # bash's $'...': one word, its control characters escaped
        assert "spec.nodeName=$'c\\x0a$ rm -rf ~'" in kubectl
    else:
        assert f"spec.nodeName={node}" in shlex.split(kubectl.partition("   #")[0])
        assert not any("$NODE" in step for step in steps), steps
    assert all("\n" not in step for step in steps)


def test_an_unknown_node_keeps_the_placeholder():
    from .helpers import diagnose_texts

    texts = [
        "\n".join(line for line in text.splitlines() if "sim-node-1" not in line)
        for text in _sim_texts_for("sim-node-1")
    ]
    report = diagnose_texts(texts)
    assert report.node is None
    steps = [step for cause in report.causes for step in cause.next_steps]
    assert any("spec.nodeName=$NODE " in step for step in steps), steps
    # fleet's node without a name label (its window says the Prometheus instance)
    named = diagnose_texts(_sim_texts_for("10.0.0.7:10250"), node_name="")
    assert named.node == "10.0.0.7:10250"
    named_steps = [step for cause in named.causes for step in cause.next_steps]
    assert any("spec.nodeName=$NODE " in step for step in named_steps), named_steps
    assert not any("10.0.0.7" in step for step in named_steps)
