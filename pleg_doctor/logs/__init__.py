"""Kubelet logs: the PLEG timeline and the culprits (docs/output.md#logs-v1).

The public API, for `pleg-doctor logs` and for `diagnose --logs`:

* `analyze_logs(chunks, default_year=…)` reads a log (bytes in chunks; `LogReader` and
  `JournalReader` make them from files, stdin, `.gz` and `journalctl`) in one streaming pass
  and returns a `LogsResult` (timeline, culprits, notes; `to_dict()` is schema `logs-v1`).
* `evidence_for_causes(result)` maps it onto cause ids (`container_wedged`, `runtime_hung`,
  `cni`, …) with evidence and next steps naming the container (`crictl inspect <id>`);
  `culprit_findings(result)` gives the same as `Finding`s and `merge_findings()` combines them
  with the metric rules' findings.

Modules: `scanner` (the chunk scanner), `parse` (the formats of a record), `timeline` (periods,
NotReady, relist failures, discards), `classify` (one line → failed calls and links), `culprits`
(failed calls → containers, sandboxes, pods), `clock` (times without a year or an offset),
`result` (`LogsResult` and its JSON), `notes`, `analyze` (the pass), `evidence`, `reader` (I/O).
"""

from __future__ import annotations

from pleg_doctor.logs.analyze import analyze_logs
from pleg_doctor.logs.clock import rfc3339
from pleg_doctor.logs.culprits import Culprit
from pleg_doctor.logs.evidence import (
    CauseEvidence,
    culprit_findings,
    evidence_for_causes,
    log_mismatch,
    merge_findings,
)
from pleg_doctor.logs.notes import time_notes
from pleg_doctor.logs.parse import NEVER_SECONDS, parse_go_duration
from pleg_doctor.logs.reader import JournalReader, LogReader
from pleg_doctor.logs.result import SCHEMA, LogsResult
from pleg_doctor.logs.timeline import Occurrences, Transition, UnhealthyPeriod

__all__ = [
    "NEVER_SECONDS",
    "SCHEMA",
    "CauseEvidence",
    "Culprit",
    "JournalReader",
    "LogReader",
    "LogsResult",
    "Occurrences",
    "Transition",
    "UnhealthyPeriod",
    "analyze_logs",
    "culprit_findings",
    "evidence_for_causes",
    "log_mismatch",
    "merge_findings",
    "parse_go_duration",
    "rfc3339",
    "time_notes",
]
