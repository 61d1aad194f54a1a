from __future__ import annotations

import contextlib
import gzip
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from pleg_doctor.core.exposition import parse_exposition
from pleg_doctor.core.families import NAME_TABLE as _NAME_TABLE
from pleg_doctor.errors import ExpositionError

from .conftest import FIXTURES


def _ours(data: bytes, chunk: int | None = None) -> set[tuple]:
    chunks = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    parsed = parse_exposition(chunks, name="t")
    return {
        (s.family, s.part, tuple(sorted(s.labels.items())), s.bound, round(s.value, 6))
        for s in parsed.samples
    }


def _blocks(text: str) -> list[tuple[str | None, str]]:
    """Split a dump into per-family blocks, each with the name its `# TYPE` line declares."""
    blocks: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in text.splitlines():
        if line.startswith("# HELP ") or (
            line.startswith("# TYPE ") and blocks[-1][0] != line.split()[2]
        ):
            blocks.append((line.split()[2], []))
        blocks[-1][1].append(line)
    return [(name, "\n".join(lines) + "\n") for name, lines in blocks]


def _reference(data: bytes) -> set[tuple]:
    """The same selection, parsed by prometheus_client (the reference parser).

    prometheus_client renames counter samples without `_total` (`kubelet_runtime_operations` →
    `..._total`), which would collide with the 1.14 `_total` family; each family
    block is parsed alone and its samples are mapped back to the declared name.
    """
    out = set()
    for declared, block in _blocks(data.decode()):
        for family in text_string_to_metric_families(block):
            for sample in family.samples:
                name = sample.name
                if (
                    declared is not None
                    and family.type == "counter"
                    and not declared.endswith("_total")
                    and name == declared + "_total"
                ):
                    name = declared
                if name.endswith("_created"):
                    continue
                out |= _reference_row(name, sample)
    return out


def _reference_row(name: str, sample) -> set[tuple]:
    entry = _NAME_TABLE.get(name.encode())
    if entry is None:
        return set()
    fam, part, scale = entry
    labels = dict(sample.labels)
    bound = None
    if part == "bucket":
        bound = float(labels.pop("le"))
        scale = 1.0
    elif part == "quantile":
        bound = float(labels.pop("quantile"))
    return {(fam, part, tuple(sorted(labels.items())), bound, round(sample.value * scale, 6))}


def _nan_safe(rows: set[tuple]) -> set[tuple]:
    return {tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in r) for r in rows}


def test_every_real_dump_matches_prometheus_client(real_dump: Path) -> None:
    data = real_dump.read_bytes()
    ours = _nan_safe(_ours(data))
    assert ours, "nothing kept"
    assert ours == _nan_safe(_reference(data))


def test_chunking_does_not_change_the_result(real_dump: Path) -> None:
    data = real_dump.read_bytes()
    assert _nan_safe(_ours(data, chunk=997)) == _nan_safe(_ours(data))


def test_filter_keeps_only_model_families() -> None:
    parsed = parse_exposition([(FIXTURES / "spitdb-v1.35.0.prom").read_bytes()], name="t")
    assert parsed.lines_total == 2575
    # 625 lines match the prefixes; apiserver_*, rest_client_*, cAdvisor-like lines are skipped.
    assert parsed.lines_kept < parsed.lines_total / 3
    families = {s.family for s in parsed.samples}
    assert {"relist_duration_hist", "last_seen", "runtime_ops_total", "build_info"} <= families


def test_microsecond_summaries_are_scaled_to_seconds() -> None:
    parsed = parse_exposition([(FIXTURES / "datadog-v1.10.0.prom").read_bytes()], name="t")
    p99 = [
        s.value
        for s in parsed.samples
        if s.family == "relist_duration_summary" and s.part == "quantile" and s.bound == 0.99
    ]
    assert p99 == [pytest.approx(0.381714)]


def test_gzip_plain_chunked_and_concatenated() -> None:
    data = (FIXTURES / "datadog-v1.21.2.prom").read_bytes()
    packed = gzip.compress(data)
    assert _ours(packed) == _ours(data)
    assert _ours(packed, chunk=333) == _ours(data)
    half = data.index(b"\n", len(data) // 2) + 1
    two_members = gzip.compress(data[:half]) + gzip.compress(data[half:])
    assert _ours(two_members) == _ours(data)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"\n\n   \n", "empty"),
        (b"\x00\x01\x02binary\xff\xfe", "binary"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        (b"<!DOCTYPE html><html><body>Login</body></html>", "HTML"),
        (b'{"kind":"Status","status":"Failure"}', "JSON"),
        (b'[{"metric":{},"value":[1,"2"]}]', "JSON"),
        (b"\x1f\x8b\x08\x00garbage-not-deflate", "gzip"),
        (gzip.compress(b"kubelet_pleg_last_seen_seconds 1\n" * 500)[:-30], "truncated"),
        (b"this is a log line, not metrics\n", "line 1"),
        (b"# pleg-doctor\n\nWhen a node flips to NotReady, read this.\n", "line 3"),
        (b'[build-system]\nrequires = ["setuptools"]\n', "line 1"),
        (b"# HELP x y\n# TYPE x gauge\n[Unit]\nDescription=x\n", "line 3"),
        (b"# HELP x\nkubelet_pleg_last_seen_seconds abc\n", "line 2"),
        (b'kubelet_running_pods{a="b" 3\n', "line 1"),
        (b"kubelet_running_containers{container_state=running} 3\n", "line 1"),
        (b"kubelet_running_pods\n", "line 1"),
        (b'kubelet_pleg_relist_duration_seconds_bucket{x="1"} 3\n', "le"),
    ],
)
def test_bad_input_is_one_clear_error(payload: bytes, message: str) -> None:
    with pytest.raises(ExpositionError) as info:
        parse_exposition([payload], name="dump.prom")
    text = str(info.value)
    assert text.startswith("dump.prom: ")
    assert message in text
    assert len(text.splitlines()) <= 2


def test_openmetrics_counters_timestamps_exemplars_and_eof() -> None:
    text = b"""# TYPE kubelet_pleg_discard_events counter
kubelet_pleg_discard_events_total 7
kubelet_pleg_discard_events_created 1.7e9
# TYPE kubelet_pleg_relist_duration_seconds histogram
kubelet_pleg_relist_duration_seconds_bucket{le="10.0"} 3 # {trace_id="abc"} 0.5 1.7e9
kubelet_pleg_relist_duration_seconds_bucket{le="+Inf"} 4
kubelet_pleg_relist_duration_seconds_count 4
kubelet_pleg_relist_duration_seconds_sum 130.5
kubelet_pleg_last_seen_seconds 1.7e9 1700000000.123
# EOF
"""
    parsed = parse_exposition([text], name="om")
    assert parsed.is_openmetrics
    by = {(s.family, s.part, s.bound): s.value for s in parsed.samples}
    assert by[("discard_events", "value", None)] == 7
    assert by[("relist_duration_hist", "bucket", 10.0)] == 3
    assert by[("relist_duration_hist", "bucket", math.inf)] == 4
    assert by[("last_seen", "value", None)] == 1.7e9


def test_label_escapes_and_commas_in_values() -> None:
    text = (
        b'kubernetes_build_info{gitVersion="v1.2\\"3\\\\x",platform="linux/amd64,x",'
        b'compiler="g}c",} 1\n'
    )
    (sample,) = parse_exposition([text], name="t").samples
    assert sample.labels == {
        "gitVersion": 'v1.2"3\\x',
        "platform": "linux/amd64,x",
        "compiler": "g}c",
    }


def test_capture_header_is_read_and_validated() -> None:
    text = (
        b"# pleg-doctor capture: captured_at=2026-11-27T10:00:00Z node=worker-3 "
        b"source=https://10.0.0.7:10250/metrics\nkubelet_running_pods 3\n"
    )
    header = parse_exposition([text], name="t").header
    assert header is not None
    assert header.node == "worker-3"
    assert header.captured_at is not None
    assert header.captured_at.isoformat() == "2026-11-27T10:00:00+00:00"
    with pytest.raises(ExpositionError, match="captured_at"):
        parse_exposition([b"# pleg-doctor capture: captured_at=yesterday\n"], name="t")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_parser_raises_only_its_own_error_on_any_bytes(data: bytes) -> None:
    with contextlib.suppress(ExpositionError):
        parse_exposition([data], name="fuzz")


_line = st.one_of(
    st.sampled_from(
        [
            "kubelet_pleg_relist_duration_seconds_count 12",
            'kubelet_runtime_operations_total{operation_type="list_podsandbox"} 4',
            'kubelet_pleg_relist_duration_seconds_bucket{le="0.005"} 1',
            "kubelet_pleg_last_seen_seconds 1.7e+09",
            "# TYPE kubelet_running_pods gauge",
            "kubelet_running_pods NaN",
            "kubelet_running_pods +Inf",
            'kubelet_running_containers{container_state="exited"} 3',
        ]
    ),
    st.text(max_size=60).map(lambda t: "kubelet_" + t),
    st.text(max_size=60),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_line, max_size=12), st.integers(min_value=1, max_value=50))
def test_parser_on_metric_like_text_raises_only_its_own_error(lines: list[str], chunk: int) -> None:
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    with contextlib.suppress(ExpositionError):
        parse_exposition(chunks, name="fuzz")
