"""Fleet mode without a real Prometheus: queries, results → windows, ranking, JSON, HTTP errors.

The oracle for "what would Prometheus answer" is `sim_results`: two dumps of a simulated kubelet
and the exact increases between them, routed to the query terms the way the server's `or`-joined,
tagged answers are. Diagnosing those through fleet mode must agree with `pleg-doctor diagnose` on
the same two dumps: same window, same verdict, same causes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from pleg_doctor.core.exposition import parse_exposition
from pleg_doctor.core.fleet import (
    FleetNode,
    FleetReport,
    diagnose_fleet,
    human_duration,
    rank_reports,
)
from pleg_doctor.core.inputs import op_timeouts
from pleg_doctor.core.report import SourceInfo, diagnose
from pleg_doctor.core.window import window_from_snapshots
from pleg_doctor.errors import UsageError
from pleg_doctor.sources.base import FetchedDump
from pleg_doctor.sources.prometheus.assembly import _SAMPLE_ROUTES, PromSample, assemble_nodes
from pleg_doctor.sources.prometheus.queries import (
    DEFAULT_SELECTOR,
    FLEET_OPERATIONS,
    QUERY_TAG,
    build_queries,
    normalize_selector,
    promql_duration,
)
from pleg_doctor.sources.prometheus.recording import measurements
from pleg_doctor.sources.prometheus.rules import RuleOptions
from pleg_doctor.sources.prometheus.source import PrometheusSource, api_url, parse_header
from pleg_doctor.sources.scrape import snapshot_from_dump
from tests.fakeserver import (
    CA,
    SECRETS,
    SERVER_CERT,
    TOKEN,
    FakeServer,
    Reply,
    Seen,
    closed_port,
)

from .helpers import check_schema, run_cli
from .kubelet_sim import KubeletSim, Runtime

T_END = 1_790_003_600.0
HEADER_SECRET = "hdr-secret-9d8c7b6a5f4e"


def run(args: list[str], capsys, *extra_secrets: str) -> tuple[int, str, str]:
    return run_cli(args, capsys, secrets=(*SECRETS, HEADER_SECRET, *extra_secrets))


# --- the oracle: what Prometheus would answer for simulated kubelets -------------------------

_GAUGE_TERMS = {
    "last_seen",
    "running_pods",
    "running_containers",
    "process_start",
    "evented_errors_total",
    "evented_successes_total",
    "evented_gate",
}
_OLD_NAMES = {"running_pods_old": "running_pods", "running_containers_old": "running_containers"}
_COUNTER_FAMILIES = {
    "discards": "discard_events",
    "evented_errors": "evented_errors",
    "process_cpu": "process_cpu",
    "started_containers": "started_containers",
}


@dataclasses.dataclass
class SimPair:
    """Two dumps of one simulated kubelet, `seconds` apart, and its target labels."""

    instance: str
    first: str
    second: str
    t_first: float
    t_second: float
    extra_labels: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.t_second - self.t_first


def sim_pair(
    instance: str,
    sim: KubeletSim,
    *,
    seconds: float = 300.0,
    change: Callable[[KubeletSim], None] | None = None,
    **labels: str,
) -> SimPair:
    sim.run(600)
    t_first = sim.now
    first = sim.dump()
    if change is not None:
        change(sim)
    sim.run(seconds)
    return SimPair(instance, first, sim.dump(), t_first, sim.now, dict(labels))


def _samples(text: str):
    return parse_exposition([text.encode()], name="sim").samples


def _key(sample) -> tuple[Any, ...]:
    return (sample.family, sample.part, tuple(sorted(sample.labels.items())), sample.bound)


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else f"{bound:g}"


def _measures(pair: SimPair) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """What the server measures of the histograms between the two dumps: the exact deltas,
    their quantiles as `histogram_quantile` computes them (`Distribution.quantile`, Prometheus'
    semantics), their shapes."""
    snapshots = [
        snapshot_from_dump(FetchedDump(kind="file", location=f"d{i}", chunks=[t.encode()]))
        for i, t in enumerate((pair.first, pair.second))
    ]
    window = window_from_snapshots(snapshots)
    node: dict[str, float] = {}
    relist = window.relist_duration
    if relist is not None:
        node |= {"relists": relist.count, "relist_sum_seconds": relist.sum_seconds}
        for q, name in ((0.5, "relist_p50_seconds"), (0.99, "relist_p99_seconds")):
            value = relist.quantile(q)
            if value is not None:
                node[name] = value
        if relist.buckets:
            node["relists_over_top"] = relist.count_above(10.0) or 0.0
            over_mean = relist.over_top_mean_seconds()
            if over_mean is not None:
                node["relist_over_top_mean_seconds"] = over_mean
    summary = window.last.relist_duration_summary
    recent = summary.summary_quantile(0.99) if summary is not None else None
    if recent is not None and not math.isnan(recent):
        node["relist_recent_p99_seconds"] = recent
    interval = window.relist_interval
    if interval is not None:
        node |= {
            "relist_interval_sum_seconds": interval.sum_seconds,
            "relist_interval_count": interval.count,
        }
    operations: dict[str, dict[str, float]] = {}
    for op in FLEET_OPERATIONS:
        stats = window.runtime_ops.get(op)
        if stats is None:
            continue
        measured = operations[op] = {"op_calls": stats.calls, "op_errors": stats.errors}
        latency = stats.latency
        if latency is None:
            continue
        measured |= {"op_count": latency.count, "op_sum_seconds": latency.sum_seconds}
        p99 = latency.quantile(0.99)
        if p99 is not None:
            measured["op_p99_seconds"] = p99
        if latency.buckets:
            measured["op_timeouts"] = op_timeouts(stats) or 0.0
            if stats.timeouts is None and (over_mean := latency.over_top_mean_seconds()):
                measured["op_over_top_mean_seconds"] = over_mean
    return node, operations


def sim_results(pairs: Sequence[SimPair]) -> dict[str, list[PromSample]]:
    """Each term's answer: the histograms measured over the exact increases between the dumps,
    the plain counters' increases, the gauges of the second one."""
    results: dict[str, list[PromSample]] = {}

    def add(term: str, labels: dict[str, str], value: float, at: float) -> None:
        results.setdefault(term, []).append(PromSample(labels=labels, value=value, timestamp=at))

    for pair in pairs:
        base = {"instance": pair.instance, **pair.extra_labels}
        first = {_key(s): s.value for s in _samples(pair.first)}
        second = _samples(pair.second)
        at = pair.t_second
        node, operations = _measures(pair)
        for term, value in node.items():
            add(term, dict(base), value, at)
        for op, measured in operations.items():
            for term, value in measured.items():
                add(term, {**base, "operation_type": op}, value, at)
        for term, route in _SAMPLE_ROUTES.items():
            for sample in second:
                # the server-side name regex merges the ≤ 1.18 names into the current ones
                family = _OLD_NAMES.get(sample.family, sample.family)
                if family != route.family or sample.part != route.part:
                    continue
                if route.fixed and any(sample.labels.get(k) != v for k, v in route.fixed):
                    continue
                labels = dict(base)
                if route.label is not None and route.label in sample.labels:
                    labels[route.label] = sample.labels[route.label]
                value = sample.value
                if term not in _GAUGE_TERMS:
                    value -= first.get(_key(sample), 0.0)
                add(term, labels, value, at)
        for term, family in _COUNTER_FAMILIES.items():
            for sample in second:
                if sample.family == family:
                    add(term, dict(base), sample.value - first.get(_key(sample), 0.0), at)
        for sample in second:
            if sample.family == "node_name":
                add("node_name", {**base, "node": sample.labels["node"]}, 1.0, at)
            if sample.family == "build_info":
                version = {
                    k: v for k, v in sample.labels.items() if k in ("git_version", "gitVersion")
                }
                add("build_info", {**base, **version}, 1.0, at)
        add("scraped_at", dict(base), pair.t_second, at)
        add("scrapes", dict(base), 11.0, at)
        add("restarts", dict(base), 0.0, at)
        add("up", dict(base), 1.0, at)
    return results


def fleet_report(pairs: Sequence[SimPair], **kwargs: Any) -> FleetReport:
    seconds = pairs[0].seconds
    nodes = assemble_nodes(sim_results(pairs), evaluated_at=T_END, range_seconds=seconds)
    return diagnose_fleet(
        nodes,
        prometheus="http://prom:9090",
        selector=DEFAULT_SELECTOR,
        evaluated_at=T_END,
        range_seconds=seconds,
        **kwargs,
    )


def diagnose_pair(pair: SimPair):
    snapshots = [
        snapshot_from_dump(FetchedDump(kind="file", location=f"d{i}", chunks=[t.encode()]))
        for i, t in enumerate((pair.first, pair.second))
    ]
    return diagnose(window_from_snapshots(snapshots), source=SourceInfo(kind="file", location="x"))


# --- queries ------------------------------------------------------------------------------------


def test_few_queries_whatever_the_fleet_and_every_series_selected():
    queries = build_queries(normalize_selector(DEFAULT_SELECTOR), 300)
    assert len(queries) + 1 <= 20  # + the server's time()
    assert len(queries) == 7
    for query in queries:
        promql = query.promql
        assert "\n" not in promql
        # every selector carries the user's matchers
        selectors = [part.split("}")[0] for part in promql.split("{")[1:]]
        assert selectors, promql
        assert all('job="kubelet",metrics_path="/metrics"' in s for s in selectors), promql
        if len(query.terms) > 1:
            assert promql.count(f'"{QUERY_TAG}"') == len(query.terms)
            assert all(term.promql in promql for term in query.terms)
        for term in query.terms:
            assert "by (cluster, instance" in term.promql, term.promql
    text = " ".join(q.promql for q in queries)
    assert "[300s]" in text and "[3600s]" in text  # names look back an hour
    assert 'timestamp({__name__=~"kubelet_pleg_relist_duration_seconds_count|' in text
    # the histograms are measured on the server: no bucket comes back
    assert not any('"le"' in term.promql for q in queries for term in q.terms)
    assert 'operation_type=~"list_podsandbox|list_containers|podsandbox_status|' in text


def test_custom_and_empty_selectors():
    queries = build_queries(normalize_selector('{job="kubernetes-nodes", cluster="prod",}'), 90)
    text = " ".join(q.promql for q in queries)
    assert 'kubelet_node_name{job="kubernetes-nodes", cluster="prod"}[3600s]' in text
    assert "[90s]" in text
    empty = " ".join(q.promql for q in build_queries(normalize_selector("  "), 300))
    assert "kubelet_pleg_last_seen_seconds{}" in empty
    assert '{__name__=~"kubelet_running_pods|kubelet_running_pod_count"}' in empty
    assert 'kubernetes_feature_enabled{name="EventedPLEG"}' in empty
    with pytest.raises(UsageError, match="one line"):
        normalize_selector('job="a"\n,x="b"')


def test_durations_and_urls():
    assert promql_duration(300) == "300s"
    assert promql_duration(1.5) == "1500ms"
    assert human_duration(300) == "5m" and human_duration(90) == "90s"
    assert human_duration(7200) == "2h"
    assert api_url("http://prom:9090") == "http://prom:9090/api/v1/query"
    assert api_url("http://mimir/prometheus/") == "http://mimir/prometheus/api/v1/query"
    assert (
        api_url("http://vm:8481/select/0/prometheus/api/v1/query")
        == "http://vm:8481/select/0/prometheus/api/v1/query"
    )
    assert api_url("https://thanos.example/graph") == "https://thanos.example/api/v1/query"
    # like --kubelet: HOST[:PORT] with Prometheus' defaults (http, 9090)
    assert api_url("prom:9090") == "http://prom:9090/api/v1/query"
    assert api_url("prom") == "http://prom:9090/api/v1/query"
    assert api_url("10.0.0.9:9091/prometheus") == "http://10.0.0.9:9091/prometheus/api/v1/query"
    assert api_url("[::1]:9090") == "http://[::1]:9090/api/v1/query"
    for bad in ("ftp://prom", "user:pw@prom:9090", "http://user:pw@prom:9090", "http://prom:99999"):
        with pytest.raises(UsageError) as info:
            api_url(bad)
        assert "pw" not in str(info.value)


def test_header_parsing_never_quotes_the_value():
    assert parse_header("X-Scope-OrgID:  tenant-1 ") == ("X-Scope-OrgID", "tenant-1")
    for bad in (f"no colon {HEADER_SECRET}", f"Bad Name: {HEADER_SECRET}"):
        with pytest.raises(UsageError) as info:
            parse_header(bad)
        assert HEADER_SECRET not in str(info.value)


def test_cli_default_selector_is_the_source_default():
    from pleg_doctor.commands.fleet import fleet

    option = next(p for p in fleet.params if p.name == "selector")
    assert option.default == DEFAULT_SELECTOR


# --- results → windows ---------------------------------------------------------------------------


def test_a_node_window_is_the_range_not_the_lifetime():
    pair = sim_pair("10.0.0.1:10250", KubeletSim(churn_pods_per_relist=0.5))
    (node,) = assemble_nodes(sim_results([pair]), evaluated_at=T_END, range_seconds=pair.seconds)
    window = node.window
    assert not window.is_lifetime
    assert window.seconds == pair.seconds
    assert window.scrapes == 11
    assert window.last.node == "sim-node-1"
    assert window.last.captured_at == pair.t_second
    assert window.last.kubelet_version == "v1.29.4"
    assert window.last.runtime_buckets == "exponential"
    assert window.relists is not None and 200 < window.relists < 310
    assert set(window.runtime_ops) >= {"list_podsandbox", "podsandbox_status", "status"}
    assert node.unknown_reason is None


@pytest.mark.parametrize(
    ("name", "sim", "change"),
    [
        ("healthy", KubeletSim(churn_pods_per_relist=0.3), None),
        ("wedged", KubeletSim(), lambda s: setattr(s.runtime, "wedged_pods", 1)),
        (
            "slow",
            KubeletSim(runtime=Runtime(list_podsandbox=1.2, list_containers=1.0)),
            None,
        ),
        ("hung", KubeletSim(), lambda s: s.hang_runtime_for(0)),
        ("evented", KubeletSim(version="v1.30.2", evented_gate=True), None),
        ("discards", KubeletSim(), lambda s: setattr(s, "discards", 250)),
        ("v1.16", KubeletSim(version="v1.16.15"), None),
    ],
)
def test_fleet_diagnosis_equals_diagnose_of_the_same_two_scrapes(name, sim, change):
    pair = sim_pair("10.0.0.1:10250", sim, change=change)
    expected = diagnose_pair(pair)
    (got,) = fleet_report([pair]).reports
    assert got.verdict == expected.verdict, (got.reasons, expected.reasons)
    assert [c.id for c in got.causes] == [c.id for c in expected.causes]
    for ours, theirs in zip(got.causes, expected.causes, strict=True):
        assert ours.score == pytest.approx(theirs.score, abs=1e-6)
    assert got.model.headroom_seconds == pytest.approx(expected.model.headroom_seconds, abs=1e-6)
    ours, theirs = got.to_dict(), expected.to_dict()
    for key in ("relist", "runtime_ops", "pods", "model", "pleg_mode", "kubelet_version"):
        assert ours[key] == theirs[key], key
    assert ours["window_seconds"] == pytest.approx(theirs["window_seconds"])
    assert ours["source"] == {"kind": "prometheus", "location": "http://prom:9090"}
    check_schema(ours)


def test_node_names_join_on_instance_then_node_label_then_instance():
    a = sim_pair("10.0.0.1:10250", KubeletSim(node="named"))
    b = sim_pair("10.0.0.2:10250", KubeletSim(node="ignored"))
    c = sim_pair("10.0.0.3:10250", KubeletSim(node="ignored-too"))
    results = sim_results([a, b, c])
    results["node_name"] = [
        s for s in results["node_name"] if s.labels["instance"] == "10.0.0.1:10250"
    ]
    results["up"] = [
        s._replace(labels={**s.labels, "node": "from-up"})
        if s.labels["instance"] == "10.0.0.2:10250"
        else s
        for s in results["up"]
    ]
    nodes = assemble_nodes(results, evaluated_at=T_END, range_seconds=a.seconds)
    assert [n.window.last.node for n in nodes] == ["named", "from-up", "10.0.0.3:10250"]
    # the names next-step commands may use: an instance is no node's name
    assert [n.node_name for n in nodes] == ["named", "from-up", None]


def test_two_clusters_are_kept_apart_and_named():
    a = sim_pair("10.0.0.1:10250", KubeletSim(node="n1"), cluster="prod")
    b = sim_pair("10.0.0.1:10250", KubeletSim(node="n1"), cluster="staging")
    nodes = assemble_nodes(sim_results([a, b]), evaluated_at=T_END, range_seconds=a.seconds)
    assert sorted(n.window.last.node for n in nodes) == ["prod/n1", "staging/n1"]
    assert [n.node_name for n in nodes] == ["n1", "n1"]


def test_next_steps_name_the_node_by_its_label_never_its_display_name():
    from pleg_doctor.core.fleet import diagnose_node

    from .test_causes import SCENARIOS

    texts = SCENARIOS["event_channel_full"]()
    window = window_from_snapshots(
        [
            snapshot_from_dump(FetchedDump(kind="file", location=f"d{i}", chunks=[t.encode()]))
            for i, t in enumerate(texts)
        ]
    )
    source = SourceInfo(kind="prometheus", location="http://prom:9090")

    def steps(node: FleetNode) -> list[str]:
        return [s for c in diagnose_node(node, source=source).causes for s in c.next_steps]

    named = steps(FleetNode(window=window, node_name="worker-3"))
    assert any("spec.nodeName=worker-3 " in s for s in named), named
    assert not any("sim-node-1" in s or "$NODE" in s for s in named)
    unnamed = steps(FleetNode(window=window))
    assert any("spec.nodeName=$NODE " in s for s in unnamed), unnamed


def test_missing_series_give_unknown_with_the_reason_never_a_crash():
    healthy = sim_pair("10.0.0.1:10250", KubeletSim())
    results = sim_results([healthy])
    at = healthy.t_second
    # a kubelet Prometheus cannot scrape: only `up` (and its name, looked up over an hour)
    results["up"].append(PromSample({"instance": "10.0.0.2:10250"}, 0.0, at))
    results["node_name"].append(PromSample({"instance": "10.0.0.2:10250", "node": "dead"}, 1, at))
    # a target with gauges but no PLEG series (e.g. a pre-1.14 kubelet: µs summaries only)
    results["running_pods"].append(PromSample({"instance": "10.0.0.3:10250"}, 12.0, at))
    # a kubelet with the last-seen gauge only (one scrape in the range: no increase)
    results["last_seen"].append(PromSample({"instance": "10.0.0.4:10250"}, at - 2, at))
    results["scraped_at"].append(PromSample({"instance": "10.0.0.4:10250"}, at, at))
    # garbage values never crash
    results["process_start"].append(PromSample({"instance": "10.0.0.4:10250"}, math.nan, at))
    results["op_timeouts"].append(
        PromSample({"instance": "10.0.0.4:10250", "operation_type": "status"}, math.inf, at)
    )
    nodes = assemble_nodes(results, evaluated_at=T_END, range_seconds=healthy.seconds)
    report = diagnose_fleet(
        nodes,
        prometheus="http://prom:9090",
        selector=DEFAULT_SELECTOR,
        evaluated_at=T_END,
        range_seconds=healthy.seconds,
    )
    by_node = {r.node: r for r in report.reports}
    assert by_node["sim-node-1"].verdict == "ok"
    dead = by_node["dead"]
    assert dead.verdict == "unknown" and "up == 0" in dead.reasons[0]
    old = by_node["10.0.0.3:10250"]
    assert old.verdict == "unknown" and "no kubelet_pleg_* series" in old.reasons[0]
    assert "1.14" in old.reasons[0]
    gauge_only = by_node["10.0.0.4:10250"]
    assert gauge_only.verdict == "ok"  # judged from the last-seen age alone, and it says so
    assert any("increase() needs two scrapes" in n for n in gauge_only.notes)
    for r in report.reports:
        check_schema(json.loads(json.dumps(r.to_dict(), allow_nan=False)))


def test_a_kubelet_that_stopped_answering_is_unknown_even_with_earlier_data():
    pair = sim_pair("10.0.0.1:10250", KubeletSim())
    results = sim_results([pair])
    results["up"] = [s._replace(value=0.0) for s in results["up"]]
    (node,) = assemble_nodes(results, evaluated_at=T_END, range_seconds=pair.seconds)
    assert node.unknown_reason is not None and "up == 0" in node.unknown_reason
    assert any("latest scrape" in n for n in node.notes)


def test_restarts_and_evented_totals():
    pair = sim_pair("10.0.0.1:10250", KubeletSim(version="v1.30.2", evented_gate=True))
    results = sim_results([pair])
    results["restarts"] = [s._replace(value=1.0) for s in results["restarts"]]
    # 6 stream errors since the kubelet started, 1 in the range: EventedPLEG has fallen back
    results["evented_errors_total"] = [
        PromSample({"instance": "10.0.0.1:10250"}, 6.0, pair.t_second)
    ]
    results["evented_errors"] = [PromSample({"instance": "10.0.0.1:10250"}, 1.0, pair.t_second)]
    (node,) = assemble_nodes(results, evaluated_at=T_END, range_seconds=pair.seconds)
    assert node.window.restarted and node.window.evented_errors == 1.0
    assert node.window.last.evented_errors == 6.0 and node.window.last.evented_gate is True
    report = fleet_report([pair])  # unchanged results: the gate is on, no fallback
    assert report.reports[0].to_dict()["pleg_mode"] == "evented"


# --- ranking, summary, JSON ----------------------------------------------------------------------


def _mixed_fleet() -> list[SimPair]:
    return [
        sim_pair("10.0.0.1:10250", KubeletSim(node="healthy-a", pods=80)),
        sim_pair("10.0.0.2:10250", KubeletSim(node="hung"), change=lambda s: s.hang_runtime_for(0)),
        sim_pair("10.0.0.3:10250", KubeletSim(node="healthy-b", pods=10)),
        sim_pair(
            "10.0.0.4:10250",
            KubeletSim(node="wedged"),
            change=lambda s: setattr(s.runtime, "wedged_pods", 1),
        ),
        sim_pair(
            "10.0.0.5:10250",
            KubeletSim(node="slow", runtime=Runtime(list_podsandbox=1.5, list_containers=1.5)),
        ),
    ]


def test_ranking_worst_first_then_headroom_and_the_summary():
    pairs = _mixed_fleet()
    results = sim_results(pairs)
    results["up"].append(PromSample({"instance": "10.0.0.9:10250"}, 0.0, T_END))
    nodes = assemble_nodes(results, evaluated_at=T_END, range_seconds=pairs[0].seconds)
    report = diagnose_fleet(
        nodes,
        prometheus="http://prom:9090",
        selector=DEFAULT_SELECTOR,
        evaluated_at=T_END,
        range_seconds=300,
    )
    order = [(r.node, r.verdict) for r in report.reports]
    assert order[:3] == [("hung", "critical"), ("wedged", "warning"), ("10.0.0.9:10250", "unknown")]
    ok = report.reports[3:]
    assert all(r.verdict == "ok" for r in ok)
    headrooms = [r.model.headroom_seconds for r in ok]
    assert headrooms == sorted(headrooms)
    assert ok[0].node == "slow"  # least headroom among the healthy verdicts
    assert report.exit_code == 2
    assert report.by_verdict() == {"critical": 1, "warning": 1, "unknown": 1, "ok": 3}
    top = report.by_top_cause()
    assert top["runtime_hung"] == 1 and top["container_wedged"] == 1 and top["runtime_slow"] == 1
    assert rank_reports(list(reversed(report.reports))) == report.reports


def test_exit_code_is_the_worst_nodes_verdict():
    healthy = sim_pair("10.0.0.1:10250", KubeletSim())
    assert fleet_report([healthy]).exit_code == 0
    results = sim_results([healthy])
    results["up"].append(PromSample({"instance": "10.0.0.2:10250"}, 0.0, T_END))
    nodes = assemble_nodes(results, evaluated_at=T_END, range_seconds=300)
    report = diagnose_fleet(
        nodes, prometheus="p", selector="", evaluated_at=T_END, range_seconds=300
    )
    assert report.exit_code == 3  # nothing critical or warning, one node not judged
    assert (
        diagnose_fleet([], prometheus="p", selector="", evaluated_at=0, range_seconds=1).exit_code
        == 3
    )


def test_fleet_json_schema_top_and_strictness():
    report = fleet_report(_mixed_fleet())
    doc = json.loads(
        json.dumps(report.to_dict(), allow_nan=False),
        parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"),
    )
    assert list(doc) == [
        "schema",
        "prometheus",
        "selector",
        "evaluated_at",
        "range_seconds",
        "recording_rules",
        "summary",
        "nodes",
    ]
    assert doc["schema"] == "pleg-doctor/v1"
    assert doc["evaluated_at"] == "2026-09-21T15:13:20Z"
    assert doc["range_seconds"] == pytest.approx(report.range_seconds)
    assert sum(doc["summary"]["by_verdict"].values()) == len(doc["nodes"]) == 5
    assert list(doc["summary"]["by_verdict"]) == ["critical", "warning", "unknown", "ok"]
    for node in doc["nodes"]:
        check_schema(node)
        assert node["window_seconds"] is not None
    assert [n["node"] for n in doc["nodes"]][:2] == ["hung", "wedged"]
    top2 = report.to_dict(top=2)
    assert len(top2["nodes"]) == 2 and top2["summary"] == doc["summary"]


def test_select_and_ignore_apply_to_every_node():
    report = fleet_report(_mixed_fleet(), ignore=("runtime_hung",))
    hung = next(r for r in report.reports if r.node == "hung")
    assert "runtime_hung" not in [c.id for c in hung.causes]
    assert hung.verdict == "critical"


def test_fleet_node_override_keeps_other_fields():
    pair = sim_pair("10.0.0.1:10250", KubeletSim())
    (node,) = assemble_nodes(sim_results([pair]), evaluated_at=T_END, range_seconds=300)
    forced = FleetNode(window=node.window, unknown_reason="because", notes=("extra",))
    report = diagnose_fleet(
        [forced], prometheus="p", selector="", evaluated_at=T_END, range_seconds=300
    )
    (only,) = report.reports
    assert only.verdict == "unknown" and only.reasons == ("because",)
    assert only.notes[0] == "because" and only.notes[-1] == "extra" and only.exit_code == 3
    assert only.to_dict()["notes"][0] == "because"


# --- the HTTP API, through the CLI -----------------------------------------------------------------


RECORDED = measurements(RuleOptions(), recorded=True)
"""Each measurement's series, as the recording rules record it."""


class FakeProm:
    """A Prometheus query API answering the fleet queries from `sim_results`."""

    def __init__(
        self,
        results: dict[str, list[PromSample]],
        *,
        server_time: float = T_END,
        token: str | None = None,
        header: tuple[str, str] | None = None,
        prefix: str = "",
        probe: Sequence[dict[str, str]] = (),
        warnings: Sequence[str] = (),
        error: tuple[int, str, str] | None = None,
        rules: dict[str, str] | None = None,
    ) -> None:
        self.results = results
        self.rules = rules
        """The labels of the `pleg_doctor_rules_info` series of loaded recording rules."""
        self.server_time = server_time
        self.token = token
        self.header = header
        self.prefix = prefix
        self.probe = probe
        self.warnings = list(warnings)
        self.error = error
        self.queries: list[dict[str, str]] = []

    def __call__(self, seen: Seen) -> Reply:
        parts = urllib.parse.urlsplit(seen.path)
        if parts.path != f"{self.prefix}/api/v1/query":
            return Reply(404, b"404 page not found\n", "text/plain")
        if self.token is not None and seen.headers.get("Authorization") != f"Bearer {self.token}":
            return Reply(401, b"Unauthorized\n", "text/plain")
        if self.header is not None and seen.headers.get(self.header[0]) != self.header[1]:
            return Reply(403, b"no org id\n", "text/plain")
        params = dict(urllib.parse.parse_qsl(parts.query))
        self.queries.append(params)
        query = params["query"]
        if self.error is not None:
            status, error_type, message = self.error
            body = {"status": "error", "errorType": error_type, "error": message}
            return Reply(status, json.dumps(body).encode(), "application/json")
        if query == "time()":
            data: dict[str, Any] = {
                "resultType": "scalar",
                "result": [self.server_time, str(self.server_time)],
            }
        else:
            data = {"resultType": "vector", "result": self._vector(query)}
        doc: dict[str, Any] = {"status": "success", "data": data}
        if self.warnings:
            doc["warnings"] = self.warnings
        return Reply(body=json.dumps(doc).encode(), content_type="application/json")

    def _vector(self, query: str) -> list[dict[str, Any]]:
        if query.startswith("count by (job, metrics_path)"):
            return [{"metric": m, "value": [self.server_time, "3"]} for m in self.probe]
        if query.startswith("pleg_doctor_rules_info{"):
            if self.rules is None:
                return []
            matchers = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', query))
            wanted = {key: value.replace('\\"', '"') for key, value in matchers.items()}
            matching = all(self.rules.get(key) == value for key, value in wanted.items())
            labels = {"__name__": "pleg_doctor_rules_info", **self.rules}
            return [{"metric": labels, "value": [self.server_time, "1"]}] if matching else []
        if query.startswith('{__name__=~"'):  # the recording rules' series, by name
            names = {record: term for term, record in RECORDED.items()}
            out = []
            for name in query.split('"')[1].split("|"):
                for sample in self.results.get(names[name], []):
                    labels = {**sample.labels, "__name__": name, "node": "ignored"}
                    out.append({"metric": labels, "value": [sample.timestamp, repr(sample.value)]})
            return out
        if QUERY_TAG in query:
            terms = [t for t in self.results if f'"{QUERY_TAG}", "{t}"' in query]
            tagged = True
        else:  # the one query of a single term: the runtime's p99 per operation
            assert "operation_type, le" in query or ":p99_" in query, query
            terms, tagged = ["op_p99_seconds"], False
        operations = re.search(r'operation_type=~"([^"]*)"', query)
        out = []
        for term in terms:
            for s in self.results.get(term, []):
                if (
                    "operation_type" in s.labels
                    and operations is not None
                    and s.labels["operation_type"] not in operations.group(1).split("|")
                ):
                    continue
                labels = {**s.labels, QUERY_TAG: term} if tagged else dict(s.labels)
                value = "NaN" if math.isnan(s.value) else repr(s.value)
                out.append({"metric": labels, "value": [s.timestamp, value]})
        return out


@pytest.fixture(scope="module")
def mixed_results() -> dict[str, list[PromSample]]:
    return sim_results(_mixed_fleet())


def test_cli_json_against_a_fake_api_counts_calls_and_keeps_the_prefix(mixed_results, capsys):
    fake = FakeProm(mixed_results, prefix="/prometheus")
    with FakeServer(fake) as server:
        code, out, err = run(
            ["fleet", "--prometheus", server.url("/prometheus/"), "-o", "json"], capsys
        )
    assert code == 2, err
    doc = json.loads(out)
    assert len(doc["nodes"]) == 5 and doc["nodes"][0]["node"] == "hung"
    assert doc["prometheus"] == server.url("/prometheus")
    assert doc["evaluated_at"] == "2026-09-21T15:13:20Z"  # the server's time(), not ours
    assert len(fake.queries) == len(server.seen) == 9  # time(), the rules' info, 7 queries
    assert fake.queries[0]["query"] == "time()" and "time" not in fake.queries[0]
    assert {q["time"] for q in fake.queries[1:]} == {f"{T_END:.3f}"}
    assert all(q["timeout"] == "30s" for q in fake.queries)
    for node in doc["nodes"]:
        check_schema(node)


def test_cli_at_sets_the_evaluation_time_and_skips_time(mixed_results, capsys):
    fake = FakeProm(mixed_results)
    with FakeServer(fake) as server:
        code, out, err = run(
            [
                "fleet",
                "--prometheus",
                server.url(""),
                "--at",
                "2026-09-21T15:00:00Z",
                "--range",
                "10m",
                "--top",
                "2",
            ],
            capsys,
        )
    assert code == 2, err
    assert len(fake.queries) == 8
    assert {q["time"] for q in fake.queries} == {"1790002800.000"}
    assert all("[600s]" in q["query"] for q in fake.queries if "increase(" in q["query"])
    assert "PLEG fleet: 5 node(s)" in out and "range 10m" in out
    assert "1 critical · 1 warning · 0 unknown · 3 ok" in out
    assert "hung" in out and "runtime_hung (0." in out
    assert "healthy-b" not in out and "3 more node(s) not shown (3 ok)" in out
    assert "\x1b[" not in out


def test_cli_reads_the_recording_rules_series_when_they_are_loaded(mixed_results, capsys):
    """With `pleg-doctor rules` loaded for this selector and range, the histograms' measurements
    are read from the rules' series (the same values: the rules record what the queries
    compute); for another range, or with --recorded no, they are computed."""
    rules = {
        "selector": 'job="kubelet",metrics_path="/metrics"',
        "window": "5m",
        "version": "1",
        "runtime_request_timeout_seconds": "120",
    }
    computed = FakeProm(mixed_results)
    with FakeServer(computed) as server:
        code, out, err = run(["fleet", "--prometheus", server.url(""), "-o", "json"], capsys)
    assert code == 2, err
    baseline = json.loads(out)
    assert baseline["recording_rules"] is False
    for args, reads in ((["--range", "5m"], True), (["--range", "10m"], False)):
        fake = FakeProm(mixed_results, rules=rules)
        with FakeServer(fake) as server:
            code, out, err = run(
                ["fleet", "--prometheus", server.url(""), "-o", "json", *args], capsys
            )
        assert code == 2, err
        doc = json.loads(out)
        text = " ".join(q["query"] for q in fake.queries)
        assert doc["recording_rules"] is reads
        assert ("instance:kubelet_pleg_relists:increase5m" in text) is reads
        assert ("histogram_quantile" in text) is not reads
        if reads:
            assert [n["headroom_seconds"] for n in doc["nodes"]] == [
                n["headroom_seconds"] for n in baseline["nodes"]
            ]
    fake = FakeProm(mixed_results, rules=rules)
    with FakeServer(fake) as server:
        code, out, err = run(
            ["fleet", "--prometheus", server.url(""), "--recorded", "no", "--at", "1790002800"],
            capsys,
        )
    assert code == 2, err
    assert len(fake.queries) == 7  # no look for the rules, no time()
    assert "recording rules" not in out
    # --recorded yes, and the rules loaded are for another range: one clear error, exit 3
    fake = FakeProm(mixed_results, rules=rules)
    with FakeServer(fake) as server:
        args = ["fleet", "--prometheus", server.url(""), "--recorded", "yes", "--range", "10m"]
        code, out, err = run(args, capsys)
    assert code == 3 and out == ""
    assert "no recording rules of pleg-doctor for --selector" in err and "--range 10m" in err
    assert len(err.strip().splitlines()) == 2


def test_cli_token_and_headers_are_sent_and_never_printed(mixed_results, tmp_path, capsys):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    fake = FakeProm(mixed_results, token=TOKEN, header=("X-Scope-OrgID", HEADER_SECRET))
    with FakeServer(fake, cert=SERVER_CERT) as server:
        ca = tmp_path / "ca.pem"
        CA.cert_pem.write_to_path(str(ca))
        code, out, err = run(
            [
                "fleet",
                "--prometheus",
                server.url(""),
                "--prometheus-token-file",
                str(token_file),
                "--header",
                f"X-Scope-OrgID: {HEADER_SECRET}",
                "--cacert",
                str(ca),
                "--debug",
            ],
            capsys,
        )
    assert code == 2, err
    assert "pleg-doctor: debug:" in err and "time()" in err and "<redacted>" in err
    assert len(fake.queries) == 9
    # and a wrong token: refused, exit 3, nothing leaked (run() checks)
    bad = tmp_path / "bad"
    bad.write_text("not-the-token")
    with FakeServer(FakeProm(mixed_results, token=TOKEN)) as server:
        code, out, err = run(
            [
                "fleet",
                "--prometheus",
                server.url(""),
                "--prometheus-token-file",
                str(bad),
                "--debug",
            ],
            capsys,
            "not-the-token",
        )
    assert code == 3 and out == ""
    assert f"refused the token from {bad}" in err and "401" in err


def test_cli_insecure_warns_and_header_refused_is_auth_error(mixed_results, capsys):
    fake = FakeProm(mixed_results, header=("X-Scope-OrgID", "prod"))
    with FakeServer(fake, cert=SERVER_CERT) as server:
        code, _, err = run(
            [
                "fleet",
                "--prometheus",
                server.url(""),
                "--insecure-skip-tls-verify",
                "--header",
                f"X-Scope-OrgID: {HEADER_SECRET}",
            ],
            capsys,
        )
    assert code == 3
    assert "warning: TLS verification is off" in err
    assert "denied access (403" in err and "X-Scope-OrgID" in err


def test_cli_query_error_shows_the_promql(mixed_results, capsys):
    error = (400, "bad_data", 'invalid parameter "query": 1:77: parse error: unexpected "}"')
    with FakeServer(FakeProm(mixed_results, error=error)) as server:
        code, out, err = run(
            ["fleet", "--prometheus", server.url(""), "--selector", 'job="x",}', "--at", "1"],
            capsys,
        )
    assert code == 3 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert "rejected a query (bad_data: invalid parameter" in lines[0]
    assert (
        "check --selector" in lines[1]
        and "the query was: label_replace(sum by (cluster, instance" in lines[1]
    )
    assert '{job="x",}}[300s]' in lines[1]  # the selector as given, inside the query


def test_cli_timeout_error_type_suggests_what_to_do(mixed_results, capsys):
    error = (503, "timeout", "query timed out in expression evaluation")
    with FakeServer(FakeProm(mixed_results, error=error)) as server:
        code, _, err = run(["fleet", "--prometheus", server.url(""), "--at", "1"], capsys)
    assert code == 3 and "timeout: query timed out" in err and "raise --timeout" in err


def test_cli_empty_result_names_the_selector_and_suggests_one(capsys):
    probe = [{"job": "kubernetes-nodes"}]
    with FakeServer(FakeProm({}, probe=probe)) as server:
        code, out, err = run(["fleet", "--prometheus", server.url("")], capsys)
    assert code == 3 and out == ""
    assert (
        'no kubelet PLEG series match --selector \'job="kubelet",metrics_path="/metrics"\'' in err
    )
    assert "try --selector 'job=\"kubernetes-nodes\"'" in err
    with FakeServer(FakeProm({})) as server:
        code, _, err = run(["fleet", "--prometheus", server.url("")], capsys)
    assert code == 3 and "has no kubelet_pleg_* series" in err


def test_cli_unreachable_html_and_404(capsys):
    port = closed_port()
    code, _, err = run(["fleet", "--prometheus", f"http://127.0.0.1:{port}"], capsys)
    assert code == 3 and "cannot connect to Prometheus" in err and "connection refused" in err

    def html(seen: Seen) -> Reply:
        return Reply(body=b"<html>login</html>", content_type="text/html")

    with FakeServer(html) as server:
        code, _, err = run(["fleet", "--prometheus", server.url("")], capsys)
    assert code == 3 and "did not answer with the Prometheus API's JSON (got an HTML page)" in err
    with FakeServer(FakeProm({}, prefix="/prometheus")) as server:
        code, _, err = run(["fleet", "--prometheus", server.url("")], capsys)
    assert code == 3 and "no Prometheus query API at" in err and "/prometheus" in err


def test_cli_server_warnings_go_to_stderr(mixed_results, capsys):
    fake = FakeProm(mixed_results, warnings=["partial response: store 10.0.0.9 unreachable"])
    with FakeServer(fake) as server:
        code, out, err = run(["fleet", "--prometheus", server.url(""), "-o", "json"], capsys)
    assert code == 2
    assert err.count("warning: Prometheus: partial response") == 1
    json.loads(out)


def test_cli_usage_errors_exit_3(capsys):
    for args, message in (
        (["--prometheus-token", "a", "--prometheus-token-file", "b"], "not both"),
        (["--cacert", "a", "--insecure-skip-tls-verify"], "not both"),
        (["--header", "X: 1", "--header", "x: 2"], "once"),
        (["--prometheus-token", "a", "--header", "Authorization: b"], "credentials once"),
    ):
        code, _, err = run(["fleet", "--prometheus", "http://127.0.0.1:1", *args], capsys)
        assert code == 3 and message in err, err
    code, _, err = run(["fleet"], capsys)
    assert code == 3 and "--prometheus" in err


def test_source_counts_calls_and_repr_has_no_secret():
    source = PrometheusSource("http://prom:9090/", token=TOKEN, headers=[("X-Key", HEADER_SECRET)])
    assert source.location == "http://prom:9090"
    assert TOKEN not in repr(source) and HEADER_SECRET not in repr(source)
    assert source.api_calls == 0


def test_cli_prometheus_host_port_like_kubelet(mixed_results, capsys):
    fake = FakeProm(mixed_results, prefix="/prometheus")
    with FakeServer(fake) as server:
        code, out, err = run(
            ["fleet", "--prometheus", f"127.0.0.1:{server.port}/prometheus", "-o", "json"], capsys
        )
    assert code == 2, err
    assert json.loads(out)["prometheus"] == server.url("/prometheus")
