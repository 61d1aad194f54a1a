"""The generated rules on a real Prometheus, node by node against `pleg-doctor fleet`.

A simulated fleet (tests/promsim.py: healthy kubelets, a wedged container, a hung runtime, a slow
runtime, discarded events, a kubelet Prometheus cannot scrape, a v1.13 kubelet) is written as
30 minutes of OpenMetrics history at 30 s steps ending now, with the metrics `pleg-doctor check
--textfile` writes for three of its nodes beside it (rendered by `render/prom.py` from the CLI's
own reports), backfilled with promtool and served by Debian's Prometheus with the generated rule
file (deploy/prometheus/pleg-doctor-rules.yml) loaded.

Recording rules are not evaluated over backfilled history, so the rules are checked two ways:

* over the history: the rules' measurements (what the kubelets measured in each window) are
  backfilled with `promtool tsdb create-blocks-from rules`, which evaluates them against the
  server at every 30 s step; the model's rules, which read each other and which promtool cannot
  chain, are queried with their expressions expanded down to those measurements
  (`rules.expressions(inline=...)`). The alerts' `for` is emulated on the top signal's history:
  it must have held at every 30 s step of the `for`;
* live: Prometheus evaluates the whole rule file every 5 s from its start, on the last minutes
  of the history; the recorded series and the pending alerts are read back.

Both are compared with `pleg-doctor fleet` at the same instant. The same fleet goes through the
kubernetes-mixin's `KubeletPlegDurationHigh` and the community staleness rule; the counts per
sick kind are printed (`pytest -s`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pleg_doctor.render.prom import CheckMetrics, render_textfile
from pleg_doctor.sources.prometheus.alerting import alerting_rules
from pleg_doctor.sources.prometheus.recording import expressions, recording_rules
from pleg_doctor.sources.prometheus.rules import RULES_INFO, SEVERITIES, RuleOptions

from .conftest import ROOT
from .helpers import diagnose_texts, run_cli
from .promserver import PromClient, backfill, backfill_rules, serve
from .promsim import SimNode, build_fleet, go_float, write_history
from .test_dashboard import dashboard, panel_targets

pytestmark = pytest.mark.integration

HEALTHY = 20
HISTORY_SECONDS = 1800.0
STEP_SECONDS = 30.0
RULE_FILE = ROOT / "deploy" / "prometheus" / "pleg-doctor-rules.yml"
TEXTFILE_SCENARIOS = ("healthy", "wedged", "hung")
"""Nodes whose `pleg-doctor check --textfile` metrics are backfilled too (one a minute)."""
SICK_KINDS = ("wedged", "hung", "slow", "discards")
EXPECTED_ALERTS = {
    "wedged": ("KubeletPlegHeadroomLow", "warning"),
    "hung": ("KubeletPlegCritical", "critical"),
    "slow": ("KubeletPlegRuntimeSlow", "info"),
    "discards": ("KubeletPlegDegraded", "warning"),
}
"""What each sick node must raise: the CLI's verdict (warning, critical); the slow runtime, which
the CLI calls OK with `runtime_slow` as its top cause, at `info`."""
HEADROOM_TOLERANCE_SECONDS = 10.0
MODEL = ("identity", "model")
"""Expanded in the queries over the history: the measurements are backfilled, the model is not."""

SELECTOR = 'job="kubelet", metrics_path="/metrics"'
MIXIN_RECORD = (
    "histogram_quantile(0.99, sum(rate(kubelet_pleg_relist_duration_seconds_bucket"
    f"{{{SELECTOR}}}[5m])) by (cluster, instance, le) * on(cluster, instance) "
    f"group_left(node) kubelet_node_name{{{SELECTOR}}})"
)
"""kubernetes-mixin `node_quantile:kubelet_pleg_relist_duration_seconds:histogram_quantile`
(`rules/kubelet.libsonnet`, quantile 0.99)."""
MIXIN_ALERT = f"{MIXIN_RECORD} >= 10"
MIXIN_FOR_SECONDS = 300.0
"""`KubeletPlegDurationHigh` (`alerts/kubelet.libsonnet`): p99 ≥ 10 s for 5m, warning."""
STALENESS_ALERT = f"time() - kubelet_pleg_last_seen_seconds{{{SELECTOR}}} > 180"
"""The community staleness rule: the last relist started over 3 minutes ago."""


@dataclasses.dataclass(frozen=True)
class Loaded:
    history: PromClient
    """The history, with the rules' measurements backfilled over it."""
    live: PromClient
    """The history alone, with the rule file loaded and evaluated every 5 s."""
    end: float
    """The history's last sample (every node's last scrape)."""
    backfilled_at: float
    """The last time promtool evaluated the measurements at: at most a step after `end` (it
    evaluates at the rule group's own offset in the step, as Prometheus does)."""
    live_at: float
    """A time the loaded rule file was evaluated at, live, with the history in its window."""
    nodes: tuple[SimNode, ...]
    textfile_nodes: tuple[str, ...]


def _name(node: SimNode) -> str:
    minor = int(node.sim.version.split(".")[1])
    return node.sim.node if minor >= 14 else node.instance


def _textfile_history(dumps: dict[str, list[tuple[float, str]]], path: Path) -> None:
    """What `check --textfile` would have written each minute, as timestamped OpenMetrics."""
    families: dict[str, list[str]] = {}
    for node, pairs in dumps.items():
        for (_, before), (at, after) in itertools.pairwise(pairs):
            report = diagnose_texts([before, after])
            text = render_textfile(CheckMetrics(node=node, report=report, ran_at=at))
            for line in text.splitlines():
                if not line or line.startswith("#"):
                    continue
                name, rest = line.split("{", 1)
                labels, value = rest.rsplit("} ", 1)
                target = f'instance="{node}:9100",job="node-exporter",{labels}'
                families.setdefault(name, []).append(
                    f"{name}{{{target}}} {go_float(float(value))} {at:.3f}"
                )
    with path.open("w", encoding="utf-8") as out:
        for name, lines in families.items():
            out.write(f"# TYPE {name} gauge\n")
            out.write("\n".join(lines) + "\n")
        out.write("# EOF\n")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    work = tmp_path_factory.mktemp("rules-prometheus")
    end = float(math.floor(time.time() / STEP_SECONDS) * STEP_SECONDS)
    nodes = build_fleet(HEALTHY, start=end - HISTORY_SECONDS - 600)
    wanted = {
        next(n for n in nodes if n.scenario == scenario).sim.node for scenario in TEXTFILE_SCENARIOS
    }
    dumps: dict[str, list[tuple[float, str]]] = {name: [] for name in wanted}

    def sample(node: SimNode, at: float) -> None:
        if node.sim.node in wanted and end - at <= 900 and at % 60 == 0:
            dumps[node.sim.node].append((at, node.sim.dump(header=True, captured_at=at)))

    history = work / "history.om"
    write_history(
        nodes, history, end=end, duration=HISTORY_SECONDS, step=STEP_SECONDS, on_sample=sample
    )
    textfile = work / "textfile.om"
    _textfile_history(dumps, textfile)
    raw = work / "raw-data"
    backfill(history, raw)
    backfill(textfile, raw)
    # A copy with what the kubelets measured recorded over the history by the rules' own
    # expressions; the live server keeps the raw data only: backfilled series carry no staleness
    # marker, and a live rule would read a stopped kubelet's old measurements as current.
    data = work / "history-data"
    shutil.copytree(raw, data)
    measures = work / "measures.yml"
    measures.write_text(
        yaml.safe_dump({"groups": [{"name": "measures", "rules": _measure_rules()}]})
    )
    (work / "history").mkdir()
    (work / "live").mkdir()
    with serve(data, work / "history") as url:
        backfill_rules(
            url,
            measures,
            start=end - HISTORY_SECONDS + 300,
            end=end + STEP_SECONDS,
            step="30s",
            data=data,
        )
    with (
        serve(data, work / "history") as history_url,
        serve(raw, work / "live", rule_files=[RULE_FILE], evaluation_interval="5s") as live_url,
    ):
        history_client = PromClient(history_url)
        live = PromClient(live_url)
        stamps = history_client.query(
            "timestamp(instance:kubelet_pleg_relists:increase5m)", end + STEP_SECONDS
        )
        yield Loaded(
            history=history_client,
            live=live,
            end=end,
            backfilled_at=max(float(item["value"][1]) for item in stamps),
            live_at=_first_live_evaluation(live),
            nodes=tuple(nodes),
            textfile_nodes=tuple(wanted),
        )


def _measure_rules() -> list[dict[str, Any]]:
    """The rule file's measurements (node names expanded in them: promtool backfills one layer)
    and its `pleg_doctor_rules_info`, by which fleet mode finds them."""
    rules = recording_rules(RuleOptions(), layers=("measure",), inline=("identity",))
    rules += tuple(r for r in recording_rules(RuleOptions()) if r.record == RULES_INFO)
    return [
        {"record": rule.record, "expr": rule.expr}
        | ({"labels": dict(rule.labels)} if rule.labels else {})
        for rule in rules
    ]


def _first_live_evaluation(client: PromClient) -> float:
    """The time of an evaluation of the whole rule file that wrote its alerts' `ALERTS` series
    (Prometheus writes none in its first minute, while it restores the alerts' `for` state)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        alerts = client.query("ALERTS", time.time())
        if alerts:
            return max(float(alert["value"][0]) for alert in alerts)
        time.sleep(1)
    pytest.fail("the rule file raised no alert within 120 s")


def _by_node(result: list[dict[str, Any]]) -> dict[str, float]:
    return {item["metric"]["node"]: float(item["value"][1]) for item in result}


def _fleet(
    client: PromClient, at: float, capsys: pytest.CaptureFixture[str], *options: str
) -> dict[str, Any]:
    """`pleg-doctor fleet` at `at`, its nodes by name; by default computing the histograms'
    measurements, not reading the rules' (the comparisons would compare the rules to themselves)."""
    chosen = options or ("--recorded", "no")
    code, out, err = run_cli(
        ["fleet", "--prometheus", client.url, "--at", str(at), "-o", "json", *chosen], capsys
    )
    assert code in (0, 1, 2), err
    doc = json.loads(out)
    assert doc["recording_rules"] is (options != ()), options
    return {node["node"]: node for node in doc["nodes"]}


def _compare(rules: dict[str, dict[str, float]], cli: dict[str, Any]) -> float:
    """Assert the rules agree with the CLI on every node the CLI can judge (the figures the
    rules were read for); the largest headroom difference."""
    worst = 0.0
    verdicts = {0.0: "ok", 1.0: "warning", 2.0: "critical"}
    for node, report in cli.items():
        headroom = report["headroom_seconds"]
        if headroom is None:
            assert report["verdict"] == "unknown", node
            continue
        assert node in rules["headroom_seconds"], (node, "no headroom from the rules")
        difference = abs(rules["headroom_seconds"][node] - headroom)
        worst = max(worst, difference)
        assert difference <= HEADROOM_TOLERANCE_SECONDS, (
            node,
            rules["headroom_seconds"][node],
            headroom,
        )
        assert verdicts[rules["verdict"][node]] == report["verdict"], (node, report["notes"])
        age = report["relist"]["last_seen_age_seconds"]
        if age is not None:
            assert rules["last_seen_age_seconds"][node] == pytest.approx(age, abs=1e-3)
        tolerated = report["model"]["hung_calls_tolerated"]
        if tolerated is not None and "hung_calls_tolerated" in rules:
            assert rules["hung_calls_tolerated"][node] == tolerated, node
        predicted = report["model"]["predicted_relist_seconds"]
        if predicted is not None and "predicted_relist_seconds" in rules:
            assert rules["predicted_relist_seconds"][node] == pytest.approx(
                predicted, rel=1e-3, abs=1e-4
            ), (node, report["model"], report["runtime_ops"])
    return worst


FIGURES = (
    "headroom_seconds",
    "verdict",
    "last_seen_age_seconds",
    "hung_calls_tolerated",
    "predicted_relist_seconds",
)


def test_rules_match_the_cli_at_the_end_of_the_history(loaded: Loaded, capsys):
    inline = expressions(RuleOptions(), inline=MODEL)
    at = loaded.backfilled_at
    rules = {name: _by_node(loaded.history.query(inline[name], at)) for name in FIGURES}
    cli = _fleet(loaded.history, at, capsys)
    worst = _compare(rules, cli)
    judged = [n for n in cli.values() if n["headroom_seconds"] is not None]
    assert len(judged) == HEALTHY + 5  # all but the kubelet Prometheus cannot scrape
    print(
        f"\nrules vs fleet at the end of the history: {len(judged)} nodes, largest headroom "
        f"difference {worst:.6f} s"
    )
    # The v1.13 kubelet, judged from its µs summaries alike (no last-seen gauge before 1.18).
    old = next(n for n in loaded.nodes if n.scenario == "old")
    assert cli[_name(old)]["verdict"] == "ok" and rules["verdict"][_name(old)] == 0.0
    assert _name(old) not in rules["last_seen_age_seconds"]


def test_live_rules_match_the_cli(loaded: Loaded, capsys):
    """The rule file as Prometheus evaluates it, read back at one of its evaluations."""
    at = loaded.live_at
    records = {
        "headroom_seconds": "instance:pleg_headroom_seconds:model5m",
        "verdict": "instance:pleg_verdict:model5m",
        "last_seen_age_seconds": "instance:kubelet_pleg_last_seen_seconds:age",
    }
    rules = {name: _by_node(loaded.live.query(record, at)) for name, record in records.items()}
    cli = _fleet(loaded.live, at, capsys)
    # Only what the verdict reads: Prometheus 2.42's rule engine records what a query about a
    # second before the sample's timestamp gives (measured), and over a window the history ends
    # inside, increase() moves with each second (a wedged node's predicted relist by 5 %).
    worst = _compare(rules, cli)
    # Prometheus cannot scrape this kubelet: the rules say nothing (the mixin's KubeletDown and
    # `up` do); backfilled series carry no staleness marker, so only the live rules show it.
    down = next(n for n in loaded.nodes if n.scenario == "down")
    assert _name(down) not in rules["headroom_seconds"]
    print(
        f"\nlive rules vs fleet at {at:.0f} ({at - loaded.end:.0f} s after the history): "
        f"largest headroom difference {worst:.6f} s"
    )
    # The alerts that evaluation raised (pending: their `for` has not passed yet).
    raised: dict[str, set[str]] = {}
    for alert in loaded.live.query("ALERTS", at):
        labels = alert["metric"]
        raised.setdefault(labels["node"], set()).add(labels["severity"])
    for node, report in cli.items():
        assert raised.get(node, set()) == _severity_of(report), (node, report["verdict"])
    for node in loaded.nodes:
        if node.scenario in EXPECTED_ALERTS:
            assert _name(node) in raised, node.scenario


def _severity_of(report: dict[str, Any]) -> set[str]:
    """The alert severity the CLI's report calls for: its verdict when warning or critical,
    `info` for an OK node whose top cause is a slow runtime, none otherwise."""
    if report["verdict"] in ("warning", "critical"):
        return {report["verdict"]}
    causes = report["causes"]
    if report["verdict"] == "ok" and causes and causes[0]["id"] == "runtime_slow":
        return {"info"}
    return set()


def test_fleet_reads_the_rules_measurements_when_they_are_recorded(loaded: Loaded, capsys):
    """The history server holds the rules' measurements (backfilled) and their info series:
    fleet finds them and reads them, and judges every node as when it computes them."""
    at = loaded.backfilled_at
    computed = _fleet(loaded.history, at, capsys)
    recorded = _fleet(loaded.history, at, capsys, "--recorded", "auto")
    assert set(recorded) == set(computed)
    down = _name(next(n for n in loaded.nodes if n.scenario == "down"))
    assert recorded[down]["verdict"] == "unknown"
    for node, report in recorded.items():
        if node == down:
            continue  # its backfilled measurements carry no staleness marker, its data does
        other = computed[node]
        assert report["verdict"] == other["verdict"], node
        if other["headroom_seconds"] is not None:
            assert report["headroom_seconds"] == pytest.approx(other["headroom_seconds"], abs=1e-6)
        assert [c["id"] for c in report["causes"]] == [c["id"] for c in other["causes"]], node
        assert report["runtime_ops"] == other["runtime_ops"], node
        assert report["relist"] == other["relist"], node


def _holds_throughout(client: PromClient, expr: str, end: float, for_seconds: float) -> set[str]:
    """Nodes where `expr` holds at every 30 s step of `for` up to `end`: the alert has been
    pending for its `for`, and fires."""
    steps = round(for_seconds / STEP_SECONDS) + 1
    return {
        series["metric"].get("node", series["metric"].get("instance", "?"))
        for series in client.query_range(expr, end - for_seconds, end, STEP_SECONDS)
        if len(series["values"]) == steps
    }


def _our_alerts(client: PromClient, end: float) -> dict[str, list[tuple[str, str]]]:
    """The alerts of the rule file firing at `end`: each alert's `for`, emulated on the history
    with the top signal (expanded) at every 30 s step."""
    rules = alerting_rules(RuleOptions())
    longest = max(rule.for_seconds for rule in rules)
    top = expressions(RuleOptions(), inline=MODEL)["top_signal"]
    signal_at: dict[str, dict[float, str]] = {}
    for series in client.query_range(top, end - longest, end, STEP_SECONDS):
        node = series["metric"]["node"]
        for at, _ in series["values"]:
            signal_at.setdefault(node, {})[float(at)] = series["metric"]["signal"]
    firing: dict[str, list[tuple[str, str]]] = {}
    for rule in rules:
        signals = set(rule.meaning.split(", "))
        steps = [end - i * STEP_SECONDS for i in range(round(rule.for_seconds / STEP_SECONDS) + 1)]
        for node, by_time in signal_at.items():
            if all(by_time.get(at) in signals for at in steps):
                firing.setdefault(node, []).append((rule.alert, rule.severity))
    return firing


def test_alerts_on_the_fleet_against_the_mixin_and_the_staleness_rule(loaded: Loaded):
    at = loaded.backfilled_at
    ours = _our_alerts(loaded.history, at)
    mixin = _holds_throughout(loaded.history, MIXIN_ALERT, at, MIXIN_FOR_SECONDS)
    names = {node.instance: _name(node) for node in loaded.nodes}
    stale = {
        names[item["metric"]["instance"]] for item in loaded.history.query(STALENESS_ALERT, at)
    }
    rows = []
    counts = [0, 0, 0]
    for kind in SICK_KINDS:
        name = _name(next(n for n in loaded.nodes if n.scenario == kind))
        got = ours.get(name, [])
        assert got == [EXPECTED_ALERTS[kind]], (kind, got)
        caught = (bool(got), name in mixin, name in stale)
        counts = [c + hit for c, hit in zip(counts, caught, strict=True)]
        rows.append(
            f"  {kind:<9} {got[0][0] + ' (' + got[0][1] + ')':<36} "
            f"{'fires' if caught[1] else '-':<18} {'fires' if caught[2] else '-'}"
        )
    healthy = [_name(n) for n in loaded.nodes if n.scenario == "healthy"]
    assert not [n for n in healthy if n in ours or n in mixin or n in stale]
    print(
        "\nalerts on the fleet, per sick kind:\n"
        f"  {'kind':<9} {'pleg-doctor rules':<36} {'KubeletPlegDurationHigh':<18} "
        "staleness (> 180 s)\n"
        + "\n".join(rows)
        + f"\n  {'caught':<9} {f'{counts[0]} of 4':<36} {f'{counts[1]} of 4':<18} {counts[2]} of 4"
    )
    assert counts[0] == len(SICK_KINDS)
    assert counts[0] >= counts[1] and counts[0] >= counts[2]
    for rule in alerting_rules(RuleOptions()):
        assert {SEVERITIES[signal] for signal in rule.meaning.split(", ")} == {rule.severity}


def _substituted(expr: str, nodes: str) -> str:
    """A panel's query as Grafana sends it: the variables of the dashboard replaced."""
    values = {
        "$window": RuleOptions().window,
        "$cluster": ".*",
        "$node": nodes,
        "$__rate_interval": "5m",
        "$__interval": "30s",
    }
    for name, value in values.items():
        expr = expr.replace(name, value)
    assert "$" not in expr.replace("$1", ""), expr
    return expr


def test_every_dashboard_panel_has_data(loaded: Loaded):
    """Each query of deploy/grafana/pleg-doctor.json, on the live rules and the textfile
    metrics of `check`, for the nodes that have both: instant queries at an evaluation of the
    rules, range queries over the minute before it."""
    doc = dashboard()
    nodes = "|".join(loaded.textfile_nodes)  # as Grafana joins a multi-value variable
    at = loaded.live_at
    empty = []
    for title, target in panel_targets(doc):
        expr = _substituted(target["expr"], nodes)
        if target.get("instant"):
            found = loaded.live.query(expr, at)
        else:
            found = loaded.live.query_range(expr, at - 60, at, 15)
        if not found:
            empty.append(f"{title} [{target['refId']}]: {expr}")
    for variable in doc["templating"]["list"]:
        if variable["type"] == "query" and variable["name"] != "cluster":
            metric = variable["definition"].removeprefix("label_values(").rsplit(",", 1)[0]
            if not loaded.live.query(_substituted(metric, nodes), at):
                empty.append(f"variable {variable['name']}: {metric}")
    assert not empty, "no data:\n" + "\n".join(empty)
