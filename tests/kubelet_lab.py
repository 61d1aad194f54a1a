"""The kubelet-lab recordings (`fixtures/kubelet-lab/`) and an oracle of their verdicts.

The oracle applies the verdict rules written in each scenario's `truth.json` / SOURCES.md to the
raw dump text with regular expressions, independently of pleg_doctor's parser, model and rules:
the tests compare the tool's verdict with it, so it must never call pleg_doctor.

Rules (the kubelet-lab README's, made precise for one dump and for a window of dumps):

* **critical** when the worst last-seen age (`captured_at − kubelet_pleg_last_seen_seconds`) of
  any dump of the window is ≥ 180 s, or no relist completed for ≥ 180 s between two dumps;
* **warning** when `180 − worst age < 90`; when a relist runtime call (`list_podsandbox`,
  `list_containers`, `podsandbox_status`, `container_status`) hit the CRI timeout (the
  (119.2, 298] bucket); when ≥ 1 % of the relists took more than 10 s (p99 ≥ 10 s, the
  kubernetes-mixin `KubeletPlegDurationHigh` condition); when PLEG events were discarded; when
  EventedPLEG fell back to relisting (≥ 5 stream errors);
* **ok** otherwise.

A window counts what happened between its first and last dump (counter deltas); a single dump
counts what happened since the kubelet started (lifetime counters: one scrape cannot tell when).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import itertools
import json
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

LAB = Path(__file__).resolve().parent.parent / "fixtures" / "kubelet-lab"
SCENARIOS = ("S1-healthy-baseline", "S2-listcontainers-slow-2.5s", "S3-status-slow-under-churn",
             "S4-listpodsandbox-hang")  # fmt: skip

THRESHOLD_SECONDS = 180.0
TIMEOUT_LOW, TIMEOUT_HIGH = "119.20928955078125", "298.0232238769531"
RELIST_OPS = ("list_podsandbox", "list_containers", "podsandbox_status", "container_status")
VERDICT_RANK = {"ok": 0, "warning": 1, "critical": 2}


def dump_paths(scenario: str) -> list[Path]:
    """The scenario's dumps in time order (`NN-<UTC>.prom` or `.prom.gz`)."""
    return sorted((LAB / scenario).glob("[0-9][0-9]-*.prom*"))


def read_text(path: Path) -> str:
    """A dump's text, gunzipped when it is gzip (by content, as the tool reads it)."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode()


@cache
def truth(scenario: str) -> dict[str, Any]:
    """The scenario's truth.json."""
    return json.loads((LAB / scenario / "truth.json").read_text())


@dataclasses.dataclass(frozen=True)
class RawDump:
    """What the oracle reads from one dump, by regular expression only."""

    path: Path
    captured_at: float
    last_seen: float | None
    relists: float
    relists_le_10: float
    relist_sum: float
    timeouts: float
    """Relist runtime calls in the (119.2, 298] bucket, lifetime."""
    discards: float
    evented_errors: float
    process_start: float


def _value(text: str, pattern: str) -> float | None:
    match = re.search(r"^" + pattern + r" (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


@cache
def raw_dump(path: Path) -> RawDump:
    """Parse `path` with regular expressions (never with pleg_doctor)."""
    text = read_text(path)
    header = re.match(r"# pleg-doctor capture: captured_at=(\S+)", text)
    assert header is not None, path
    captured = dt.datetime.fromisoformat(header.group(1).replace("Z", "+00:00")).timestamp()
    timeouts = 0.0
    for op in RELIST_OPS:
        bucket = (
            r'kubelet_runtime_operations_duration_seconds_bucket\{operation_type="%s",le="%s"\}'
        )
        low = _value(text, bucket % (op, re.escape(TIMEOUT_LOW)))
        high = _value(text, bucket % (op, re.escape(TIMEOUT_HIGH)))
        if low is not None and high is not None:
            timeouts += high - low
    relist = "kubelet_pleg_relist_duration_seconds"
    return RawDump(
        path=path,
        captured_at=captured,
        last_seen=_value(text, "kubelet_pleg_last_seen_seconds"),
        relists=_value(text, relist + "_count") or 0.0,
        relists_le_10=_value(text, relist + r'_bucket\{le="10"\}') or 0.0,
        relist_sum=_value(text, relist + "_sum") or 0.0,
        timeouts=timeouts,
        discards=_value(text, "kubelet_pleg_discard_events") or 0.0,
        evented_errors=_value(text, "kubelet_evented_pleg_connection_error_count") or 0.0,
        process_start=_value(text, "process_start_time_seconds") or 0.0,
    )


@dataclasses.dataclass(frozen=True)
class Expected:
    """The oracle's answer for one dump or one window."""

    verdict: str
    worst_age_seconds: float | None
    reasons: tuple[str, ...]


def oracle(paths: Sequence[Path]) -> Expected:
    """The verdict the truth rules give for these dumps (one: lifetime; several: a window)."""
    dumps = sorted((raw_dump(p) for p in paths), key=lambda d: d.captured_at)
    ages = [d.captured_at - d.last_seen for d in dumps if d.last_seen is not None]
    worst = max(ages) if ages else None
    first, last = dumps[0], dumps[-1]
    if len(dumps) == 1:
        relists, over_10 = last.relists, last.relists - last.relists_le_10
        timeouts, discards = last.timeouts, last.discards
    else:
        relists = last.relists - first.relists
        over_10 = relists - (last.relists_le_10 - first.relists_le_10)
        timeouts, discards = last.timeouts - first.timeouts, last.discards - first.discards
    critical: list[str] = []
    if worst is not None and worst >= THRESHOLD_SECONDS:
        critical.append(f"worst last-seen age {worst:.0f} s")
    for earlier, later in itertools.pairwise(dumps):
        if later.relists == earlier.relists and later.captured_at - earlier.captured_at >= 180:
            critical.append("no relist for 180 s")
    if critical:
        return Expected("critical", worst, tuple(critical))
    warning: list[str] = []
    if worst is not None and THRESHOLD_SECONDS - worst < 90:
        warning.append(f"headroom {THRESHOLD_SECONDS - worst:.0f} s")
    if timeouts > 0:
        warning.append(f"{timeouts:.0f} CRI timeouts")
    if relists > 0 and over_10 / relists >= 0.01:
        warning.append(f"{over_10:.0f} of {relists:.0f} relists over 10 s")
    if discards > 0:
        warning.append(f"{discards:.0f} discarded events")
    if last.evented_errors >= 5:
        warning.append("EventedPLEG fell back")
    if warning:
        return Expected("warning", worst, tuple(warning))
    return Expected("ok", worst, ())


def pairs(scenario: str) -> list[tuple[Path, Path]]:
    """Every pair of consecutive dumps."""
    paths = dump_paths(scenario)
    return list(itertools.pairwise(paths))


def worst_single(scenario: str) -> Path:
    """The dump at the worst moment: worst verdict, then the largest last-seen age."""
    return max(dump_paths(scenario), key=lambda p: _severity([p]))


def worst_pair(scenario: str) -> tuple[Path, Path]:
    """The window of two consecutive dumps at the worst moment: worst verdict, then the largest
    age, then the longest mean relist in the window."""
    return max(pairs(scenario), key=lambda pair: _severity(list(pair)))


def _severity(paths: list[Path]) -> tuple[int, float, float]:
    expected = oracle(paths)
    dumps = [raw_dump(p) for p in paths]
    relists = dumps[-1].relists - (dumps[0].relists if len(dumps) > 1 else 0.0)
    spent = dumps[-1].relist_sum - (dumps[0].relist_sum if len(dumps) > 1 else 0.0)
    mean = spent / relists if relists else 0.0
    return VERDICT_RANK[expected.verdict], expected.worst_age_seconds or 0.0, mean


def bump(text: str, series: str, delta: float) -> str:
    """`text` with `delta` added to every sample whose `name{labels}` matches the regex `series`
    (a minimal edit of a real dump: counter values only, nothing else moves)."""
    pattern = re.compile(r"^(?P<series>" + series + r") (?P<value>\S+)$", re.MULTILINE)

    def add(match: re.Match[str]) -> str:
        return f"{match.group('series')} {float(match.group('value')) + delta:.10g}"

    edited, count = pattern.subn(add, text)
    assert count, f"no sample matches {series}"
    return edited


def with_timed_out_calls(text: str, operation: str, calls: int, *, relists: int) -> str:
    """A lab dump with `calls` more `operation` calls that failed at the 120 s CRI timeout, held
    by `relists` more relists of 120 s each (what a wedged container or a hung runtime adds)."""
    op = f'operation_type="{operation}"'
    latency = "kubelet_runtime_operations_duration_seconds"
    above = r"(298\.0232238769531|745\.0580596923828|\+Inf)"
    text = bump(text, latency + r"_bucket\{" + op + r',le="' + above + r'"\}', calls)
    text = bump(text, latency + r"_count\{" + op + r"\}", calls)
    text = bump(text, latency + r"_sum\{" + op + r"\}", 120.0 * calls)
    text = bump(text, r"kubelet_runtime_operations_total\{" + op + r"\}", calls)
    errors = r"kubelet_runtime_operations_errors_total\{" + op + r"\}"
    if re.search(r"^" + errors + " ", text, re.MULTILINE):
        text = bump(text, errors, calls)
    else:
        text += f"kubelet_runtime_operations_errors_total{{{op}}} {calls}\n"
    relist = "kubelet_pleg_relist_duration_seconds"
    text = bump(text, relist + r'_bucket\{le="\+Inf"\}', relists)
    text = bump(text, relist + "_count", relists)
    return bump(text, relist + "_sum", 120.0 * relists)
