"""`check --textfile` writes the Prometheus text format itself: byte for byte prometheus_client's.

pleg-doctor does not depend on prometheus_client (importing it cost more than the rest of a cron
run; it is a test dependency only); these tests hold its own writer to what prometheus_client's
`generate_latest` writes for the same gauges (`helpers.build_registry`), on real dumps,
simulated trouble, a failed source and label values that need escaping. The real node_exporter
reads the file in test_check_integration.py.
"""

from __future__ import annotations

import dataclasses
import math
import os

import pytest
from prometheus_client import generate_latest
from prometheus_client.utils import floatToGoString

from pleg_doctor.render.prom import (
    TEXTFILE_NAME,
    CheckMetrics,
    exposition,
    go_float,
    write_textfile,
)

from .conftest import REAL_DUMPS
from .helpers import build_registry, diagnose_texts
from .kubelet_sim import KubeletSim, Runtime


def _reports() -> list:
    reports = [diagnose_texts([path.read_bytes()]) for path in REAL_DUMPS]
    for sim, hang in (
        (KubeletSim(runtime=Runtime(wedged_pods=1)), False),
        (KubeletSim(), True),
    ):
        sim.run(300)
        first = sim.dump()
        if hang:
            sim.hang_runtime_for(300)
        else:
            sim.run(300)
        reports.append(diagnose_texts([first, sim.dump()]))
    return reports


NODES = (
    "ip-10-0-1-7.ec2.internal",
    'we"ird\\node\nname',
    "nœud-é",
)


@pytest.mark.parametrize("node", NODES, ids=["plain", "escapes", "unicode"])
def test_exposition_is_prometheus_clients_byte_for_byte(node):
    runs = [CheckMetrics(node=node, report=None, ran_at=1_764_436_000.25)]
    runs += [
        CheckMetrics(node=node, report=report, ran_at=ran_at)
        for report in _reports()
        for ran_at in (1_764_436_000.123456, 0.0, 1e16)
    ]
    verdicts = set()
    for metrics in runs:
        ours = exposition(metrics)
        assert ours == generate_latest(build_registry(metrics)), metrics.report
        verdicts.add("none" if metrics.report is None else metrics.report.verdict)
    assert {"none", "ok", "warning", "critical"} <= verdicts


def test_values_are_written_as_go_writes_them():
    values = [0, 1, -1, 0.5, 1e-9, 123456.0, 1234567.0, 1_764_436_000.123456, 1e16, -1e16]
    values += [math.inf, -math.inf, math.nan, 179.89, -331.0, 2.5e-5]
    for value in values:
        assert go_float(value) == floatToGoString(value), value


def test_write_textfile_replaces_the_file_atomically(tmp_path):
    report = _reports()[0]
    metrics = CheckMetrics(node="n", report=report, ran_at=1.0)
    (tmp_path / TEXTFILE_NAME).write_text("old")
    path = write_textfile(tmp_path, metrics)
    assert path.read_bytes() == generate_latest(build_registry(metrics))
    assert sorted(os.listdir(tmp_path)) == [TEXTFILE_NAME]  # no temporary file left
    failed = dataclasses.replace(metrics, report=None)
    write_textfile(tmp_path, failed)
    assert b'pleg_doctor_up{node="n"} 0.0' in path.read_bytes()


def test_the_push_secret_is_not_in_the_targets_repr(tmp_path):
    """`--debug` logs and tracebacks may show a PushTarget; its auth's secret stays out."""
    from pleg_doctor.render.prom import PushTarget, push_auth

    token = tmp_path / "token"
    token.write_text("s3cr3t-token\n")
    target = PushTarget(
        url="http://gateway:9091",
        job="pleg-doctor",
        grouping={},
        auth=push_auth(user=None, password_file=None, token_file=str(token)),
    )
    assert target.auth.secret == "s3cr3t-token"
    assert "s3cr3t" not in repr(target)
    assert "bearer" in repr(target)
