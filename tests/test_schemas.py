"""Every document pleg-doctor prints (`-o json` and `-o yaml`) or keeps (`check --state`) is
valid against its published JSON Schema (`pleg-doctor schema NAME`, draft 2020-12), and the
schemas are strict: every field required, no field they do not name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from pleg_doctor.commands.schema import SCHEMAS, load_schema
from pleg_doctor.core.causes import CAUSE_IDS
from pleg_doctor.core.whatif import KNOBS

from .conftest import FIXTURES, REAL_DUMPS
from .helpers import run_cli
from .kubelet_sim import KubeletSim
from .test_causes import SCENARIOS
from .test_fleet import mixed_results  # noqa: F401 - a fixture
from .test_probe import crictl  # noqa: F401 - a fixture

LOGS = sorted((FIXTURES / "kubelet-logs").glob("*.log"))


def schema_from_the_cli(name: str, capsys) -> dict[str, Any]:
    code, out, err = run_cli(["schema", name], capsys)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def validators() -> dict[str, Draft202012Validator]:
    found = {}
    for name in SCHEMAS:
        schema = load_schema(name)
        Draft202012Validator.check_schema(schema)
        found[name] = Draft202012Validator(schema)
    return found


def documents(
    args: list[str], capsys, *, codes=(0, 1, 2), deterministic: bool = True
) -> Iterator[tuple[str, Any]]:
    """The command's `-o json` and `-o yaml` documents (the same data both ways, when the
    command answers the same twice)."""
    loaded = []
    for fmt in ("json", "yaml"):
        code, out, err = run_cli([*args, "-o", fmt], capsys)
        assert code in codes, err
        loaded.append(json.loads(out) if fmt == "json" else yaml.safe_load(out))
    if deterministic:
        assert loaded[0] == loaded[1], "-o yaml is not the same document as -o json"
    yield from zip(("json", "yaml"), loaded, strict=True)


def assert_valid(validator: Draft202012Validator, document: Any) -> None:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


# --- the schema command ------------------------------------------------------------------------


def test_schema_lists_every_name(capsys):
    code, out, _ = run_cli(["schema"], capsys)
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == list(SCHEMAS)


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_schema_prints_each_as_valid_draft_2020_12(capsys, name):
    schema = schema_from_the_cli(name, capsys)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert schema == load_schema(name)


def test_schema_names_in_other_spellings(capsys):
    assert schema_from_the_cli("pleg-doctor/logs-v1", capsys)["$id"].endswith("/logs-v1.json")
    assert schema_from_the_cli("fleet", capsys)["$id"].endswith("/fleet-v1.json")
    code, _, err = run_cli(["schema", "v9"], capsys)
    assert code == 3 and "known are v1, fleet-v1" in err


@pytest.mark.parametrize("name", ["fleet-v1", "scan-v1"])
def test_the_ranked_schemas_are_self_contained(capsys, name):
    schema = schema_from_the_cli(name, capsys)
    assert schema["$defs"]["v1"]["$id"] == load_schema("v1")["$id"]


# --- strictness ---------------------------------------------------------------------------------


def _objects(schema: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        if "properties" in schema:
            yield where, schema
        for key, value in schema.items():
            yield from _objects(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _objects(value, f"{where}/{index}")


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_every_object_requires_every_field_and_allows_no_other(name):
    for where, obj in _objects(load_schema(name)):
        assert obj.get("additionalProperties") is False, f"{name}{where}: not closed"
        assert sorted(obj["required"]) == sorted(obj["properties"]), f"{name}{where}"


def test_the_schemas_know_every_cause_id_and_knob():
    report = load_schema("v1")
    cause = report["properties"]["causes"]["items"]["properties"]["id"]
    assert cause["enum"] == list(CAUSE_IDS)
    inputs = load_schema("model-v1")["properties"]["inputs"]["properties"]
    assert set(KNOBS) <= set(inputs)


def test_a_field_the_schema_does_not_name_is_refused(validators, capsys):
    (_, document), _ = documents(["diagnose", "--demo"], capsys)
    assert_valid(validators["v1"], document)
    with pytest.raises(ValidationError, match="Additional properties"):
        validators["v1"].validate({**document, "surprise": 1})
    without = dict(document)
    del without["headroom_seconds"]
    with pytest.raises(ValidationError, match="required"):
        validators["v1"].validate(without)


# --- every command's documents ------------------------------------------------------------------


@pytest.mark.parametrize("dump", REAL_DUMPS, ids=[p.stem for p in REAL_DUMPS])
def test_diagnose_and_check_of_every_real_dump(validators, capsys, dump):
    for command in ("diagnose", "check"):
        for _, document in documents([command, str(dump)], capsys, codes=(0, 1, 2, 3)):
            assert_valid(validators["v1"], document)


@pytest.mark.parametrize("cause", sorted(SCENARIOS))
def test_diagnose_of_every_simulated_cause(validators, capsys, tmp_path, cause):
    paths = []
    for index, text in enumerate(SCENARIOS[cause]()):
        path = tmp_path / f"{index}.prom"
        path.write_text(text)
        paths.append(str(path))
    for _, document in documents(["diagnose", *paths], capsys, codes=(0, 1, 2, 3)):
        assert_valid(validators["v1"], document)


def test_diagnose_with_a_log_and_the_demo(validators, capsys):
    log = FIXTURES / "kubelet-logs" / "k3s-2370-containerd-hang-timeline.log"
    for _, document in documents(["diagnose", "--demo", "--logs", str(log)], capsys):
        assert_valid(validators["v1"], document)


@pytest.mark.parametrize("log", LOGS, ids=[p.stem for p in LOGS])
def test_logs_of_every_real_log(validators, capsys, log):
    for _, document in documents(["logs", str(log)], capsys, codes=(0, 1, 2, 3)):
        assert_valid(validators["logs-v1"], document)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--pods", "300", "--hung-calls", "1"],
        ["--evented", "--kubelet-version", "v1.30"],
        ["--from", str(FIXTURES / "datadog-v1.21.2.prom"), "--set", "pods=300"],
        ["--from", str(FIXTURES / "spitdb-v1.35.0.prom"), "--max-pods", "250"],
    ],
)
def test_model(validators, capsys, args):
    for _, document in documents(["model", *args], capsys):
        assert_valid(validators["model-v1"], document)


def test_check_state_file(validators, capsys, tmp_path):
    sim = KubeletSim()
    sim.run(600)
    first, second = tmp_path / "a.prom", tmp_path / "b.prom"
    first.write_text(sim.dump())
    sim.run(300)
    second.write_text(sim.dump())
    state = tmp_path / "state.json"
    for dump in (first, second):
        code, _, err = run_cli(["check", str(dump), "--state", str(state)], capsys)
        assert code == 0, err
        assert_valid(validators["state-v1"], json.loads(state.read_text()))


def test_probe_runtime(validators, capsys, crictl):  # noqa: F811 - the imported fixture
    # timings differ between the two runs: the same schema, not the same numbers
    for _, document in documents(
        ["probe-runtime", "--call-timeout", "1.5s", "--slow", "0.4s"], capsys, deterministic=False
    ):
        assert_valid(validators["probe-v1"], document)
        assert document["counts"]["hung"] == 1


def test_fleet(validators, capsys, mixed_results):  # noqa: F811 - the imported fixture
    from tests.fakeserver import FakeServer

    from .test_fleet import FakeProm

    with FakeServer(FakeProm(mixed_results)) as server:
        for _, document in documents(["fleet", "--prometheus", server.url("")], capsys):
            assert_valid(validators["fleet-v1"], document)
            assert len(document["nodes"]) == 5


def test_watch_json_lines_and_yaml(validators, capsys, tmp_path):
    from tests.fakeserver import CA, SECRETS, SERVER_CERT, TOKEN, FakeServer

    from .test_cli_live import SimKubelet, _kubelet_args

    ca, token = tmp_path / "ca.pem", tmp_path / "token"
    CA.cert_pem.write_to_path(str(ca))
    token.write_text(TOKEN)
    sim = KubeletSim()
    sim.run(300)
    with FakeServer(SimKubelet(sim, step=5), cert=SERVER_CERT) as server:
        for fmt in ("json", "yaml"):
            code, out, err = run_cli(
                [
                    "watch",
                    *_kubelet_args(server, str(ca), str(token)),
                    *("--window", "0.05s", "--count", "3", "-o", fmt),
                ],
                capsys,
                secrets=SECRETS,
            )
            assert code == 0, err
            if fmt == "json":  # JSON Lines: one object per refresh, one per line
                docs = [json.loads(line) for line in out.splitlines()]
            else:  # a YAML document per refresh
                docs = list(yaml.safe_load_all(out))
                assert out.count("---\n") == 3
            assert len(docs) == 3
            for document in docs:
                assert_valid(validators["v1"], document)
                assert document["node"] == "sim-node-1" and document["window_seconds"] is not None


def scan_documents(
    args: list[str], capsys, monkeypatch, tmp_path, **kinds: int
) -> Iterator[tuple[str, Any]]:
    """`scan`'s `-o json` and `-o yaml` documents of a fake cluster with `kinds` of nodes. Two
    scans end at two moments (`evaluated_at`, the time of a node no scrape read): the same
    nodes, verdicts and summary, not the same document."""
    from tests.fakecluster import FakeCluster, build_cluster
    from tests.fakeserver import CA, PROXY_VARIABLES, SERVER_CERT, TOKEN, FakeServer
    from tests.test_sources_apiserver import write_kubeconfig

    for name in (*PROXY_VARIABLES, "KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)
    ca = tmp_path / "ca.crt"
    CA.cert_pem.write_to_path(str(ca))
    nodes = build_cluster(**kinds)
    loaded = []
    with FakeServer(FakeCluster(nodes, token=TOKEN), cert=SERVER_CERT) as server:
        config = write_kubeconfig(tmp_path / "config", server.url(""), {"token": TOKEN}, ca=ca)
        for fmt in ("json", "yaml"):
            code, out, err = run_cli(
                ["scan", "--kubeconfig", str(config), "--timeout", "2s", *args, "-o", fmt],
                capsys,
                secrets=(TOKEN,),
            )
            assert code in (0, 1, 2, 3), err
            loaded.append(json.loads(out) if fmt == "json" else yaml.safe_load(out))
    as_json, as_yaml = loaded
    assert as_yaml["summary"] == as_json["summary"]
    assert [(n["node"], n["verdict"]) for n in as_yaml["nodes"]] == [
        (n["node"], n["verdict"]) for n in as_json["nodes"]
    ]
    yield from zip(("json", "yaml"), loaded, strict=True)


def test_scan_of_every_kind_of_node(validators, capsys, monkeypatch, tmp_path):
    kinds = {"blocked": 1, "unreachable": 1, "refused": 1, "proxy_errors": 1, "wedged": 1}
    for _, document in scan_documents([], capsys, monkeypatch, tmp_path, total=8, hung=1, **kinds):
        assert_valid(validators["scan-v1"], document)
        assert document["range_seconds"] is None and document["selector"] is None
        assert len(document["nodes"]) == 8
        assert document["summary"]["by_scrape"] == {
            "ok": 4,  # the wedged, the hung and two healthy kubelets answered
            "blocked": 1,
            "refused": 1,
            "unreachable": 1,
            "error": 1,
        }
        scrapes = {n["node"]: n["scrape"] for n in document["nodes"]}
        for name, scrape in scrapes.items():
            if ".blocked." in name:  # diagnose's scrape block, blocked with /healthz's answer
                assert scrape["blocked"] is True and scrape["health_status"] == 200
            elif any(kind in name for kind in (".unreachable.", ".refused.", ".proxy-error.")):
                assert scrape is None
            else:
                assert scrape["blocked"] is False and scrape["metrics_seconds"] is not None


def test_scan_with_a_window_and_a_selector(validators, capsys, monkeypatch, tmp_path):
    args = ["--window", "0.2s", "-l", "node-role.kubernetes.io/worker"]
    kinds = {"blocked": 0, "unreachable": 0, "refused": 1, "proxy_errors": 0, "wedged": 1}
    for _, document in scan_documents(
        args, capsys, monkeypatch, tmp_path, total=9, hung=1, **kinds
    ):
        assert_valid(validators["scan-v1"], document)
        assert document["range_seconds"] == 0.2
        assert document["selector"] == "node-role.kubernetes.io/worker"
        assert len(document["nodes"]) == 3  # every third node is a worker


# --- the kubelet-lab recordings and a blocked /metrics (schema v1's scrape, inferred versions) -


def _lab_cases() -> list[tuple[str, list[str]]]:
    from .kubelet_lab import SCENARIOS as LAB_SCENARIOS
    from .kubelet_lab import dump_paths, worst_pair, worst_single

    cases = []
    for scenario in LAB_SCENARIOS:
        cases.append((f"{scenario}-single", [str(worst_single(scenario))]))
        cases.append((f"{scenario}-pair", [str(p) for p in worst_pair(scenario)]))
        cases.append((f"{scenario}-series", [str(p) for p in dump_paths(scenario)]))
    return cases


@pytest.mark.parametrize(("name", "dumps"), _lab_cases(), ids=[c[0] for c in _lab_cases()])
def test_diagnose_of_the_kubelet_lab(validators, capsys, name, dumps):
    for _, document in documents(["diagnose", *dumps], capsys, codes=(0, 1, 2, 3)):
        assert_valid(validators["v1"], document)
        assert document["relist"]["worst_last_seen_age_seconds"] is not None
        if name == "S3-status-slow-under-churn-pair":  # a relist in progress at an edge
            assert document["model"]["terms"]["window_edges"] != 0


def test_an_inferred_version_range(validators, capsys, tmp_path):
    from .kubelet_lab import LAB, read_text

    dump = tmp_path / "no-build-info.prom"
    text = read_text(LAB / "S1-healthy-baseline" / "01-20261129T151022Z.prom.gz")
    kept = [line for line in text.splitlines() if "kubernetes_build_info" not in line]
    dump.write_text("\n".join(kept) + "\n")
    for _, document in documents(["diagnose", str(dump)], capsys, codes=(0, 1, 2, 3)):
        assert_valid(validators["v1"], document)
        assert document["kubelet_version"] is None
        assert document["kubelet_version_inferred"].startswith(">=1.")
    with pytest.raises(ValidationError, match="does not match"):
        validators["v1"].validate({**document, "kubelet_version_inferred": "v1.32"})


@pytest.fixture
def blocking_kubelet_args(tmp_path):
    """A real HTTPS kubelet whose /metrics answers a lab dump only after 30 s while /healthz
    answers at once, and the arguments that reach it."""
    from tests.fakeserver import CA, SERVER_CERT, TOKEN, FakeServer

    from .test_blocked_metrics import blocking_kubelet

    ca, token = tmp_path / "ca.pem", tmp_path / "token"
    CA.cert_pem.write_to_path(str(ca))
    token.write_text(TOKEN)
    with FakeServer(blocking_kubelet(30.0), cert=SERVER_CERT) as server:
        yield [
            *("--kubelet", f"127.0.0.1:{server.port}"),
            *("--cacert", str(ca), "--kubelet-token-file", str(token)),
        ]


@pytest.mark.parametrize("command", ["diagnose", "check"])
def test_a_blocked_scrape(validators, capsys, blocking_kubelet_args, command):
    patience = ["--timeout", "0.3s", "--metrics-timeout", "0.6s"]
    # /healthz's time differs between the two runs: the same schema, not the same numbers
    for _, document in documents(
        [command, *blocking_kubelet_args, *patience], capsys, codes=(3,), deterministic=False
    ):
        assert_valid(validators["v1"], document)
        assert document["scrape"]["blocked"] is True
        assert document["scrape"]["waited_seconds"] == 0.6
        assert document["causes"][0]["id"] == "runtime_hung"
    with pytest.raises(ValidationError, match="Additional properties"):
        validators["v1"].validate({**document, "scrape": {**document["scrape"], "said": "ok"}})
