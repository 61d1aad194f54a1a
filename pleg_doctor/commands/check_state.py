"""`check --state FILE`: the previous run's scrape, kept so the next run diagnoses a window.

A cron job or a monitoring agent runs `check` every minute or so. One scrape alone only has the
kubelet's lifetime counters (docs/model.md#estimating-the-terms); with `--state FILE` each run
keeps what the next one needs to rebuild its Snapshot, so every run after the first diagnoses the
window since the previous run, exactly as `diagnose previous.prom current.prom` would
(docs/architecture.md#decisions; the file is docs/output.md#state-v1).

The state file (schema `pleg-doctor/state-v1`) is small JSON holding the *kept* samples of the last
scrape (the few hundred PLEG-relevant ones `exposition` keeps, never the cAdvisor series) and the
arguments `build_snapshot` got: name, node, capture time and its origin. Rebuilding from the same
samples gives the same Snapshot, so the window is the two-dump window bit for bit; a kubelet
restart between runs is then the core's business (`window.window_between` counts from the
restart). It is written atomically (temporary file in the same directory, then rename), so a run
killed mid-write leaves the previous state, never half a file. `StateProblem` says why a state
file cannot serve; what a run does then is `check_run.run_check`'s business.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from pathlib import Path

from pleg_doctor.core.durations import rfc3339
from pleg_doctor.core.exposition import Sample
from pleg_doctor.core.snapshot import Snapshot, build_snapshot
from pleg_doctor.sources.decode import json_document
from pleg_doctor.sources.scrape import Scrape

STATE_SCHEMA = "pleg-doctor/state-v1"


class StateProblem(Exception):
    """A state file that cannot serve; the message says why in a few words."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class SavedScrape:
    """What a state file holds: one scrape, enough to rebuild its Snapshot exactly."""

    kind: str
    """The source kind (`file`, `kubelet`, `apiserver`, `demo`)."""
    location: str
    """The source location (a path or a URL without credentials)."""
    name: str
    """`Snapshot.name` of the scrape."""
    node: str | None
    """The node override `build_snapshot` got (source or capture header), else None."""
    snapshot_node: str | None
    """The node the Snapshot ended up with (override, else `kubelet_node_name`)."""
    captured_at: float | None
    """The capture time `build_snapshot` got; None when it was bounded from the dump's clocks."""
    captured_at_origin: str
    samples: tuple[Sample, ...]

    def snapshot(self) -> Snapshot:
        """The Snapshot of the saved scrape, rebuilt as it was built the first time."""
        return build_snapshot(
            self.samples,
            name=self.name,
            node=self.node,
            captured_at=self.captured_at,
            captured_at_origin=self.captured_at_origin,
        )


def saved_from_scrape(scrape: Scrape) -> SavedScrape:
    """The state of `scrape`."""
    return SavedScrape(
        kind=scrape.kind,
        location=scrape.location,
        name=scrape.snapshot.name,
        node=scrape.node,
        snapshot_node=scrape.snapshot.node,
        captured_at=scrape.captured_at,
        captured_at_origin=scrape.captured_at_origin,
        samples=scrape.samples,
    )


def encode_state(saved: SavedScrape, *, written_at: float) -> str:
    """The state file's JSON text (strict JSON: non-finite numbers become strings)."""
    document = {
        "schema": STATE_SCHEMA,
        "written_at": rfc3339(written_at),
        "source": {"kind": saved.kind, "location": saved.location},
        "name": saved.name,
        "node": saved.node,
        "snapshot_node": saved.snapshot_node,
        "captured_at": saved.captured_at,
        "captured_at_origin": saved.captured_at_origin,
        # [family, part, labels, value, bound]: arrays, not objects, to keep the file small.
        "samples": [
            [s.family, s.part, s.labels, _encode_float(s.value), _encode_float(s.bound)]
            for s in saved.samples
        ],
    }
    return json.dumps(document, allow_nan=False, separators=(",", ":")) + "\n"


def decode_state(text: str) -> SavedScrape:
    """Parse a state file's text; raises `StateProblem` for anything but a valid v1 state."""
    try:
        document = json_document(text)
    except ValueError as exc:
        raise StateProblem("not JSON") from exc
    if not isinstance(document, dict):
        raise StateProblem("not a pleg-doctor state")
    schema = document.get("schema")
    if schema != STATE_SCHEMA:
        raise StateProblem(f"schema {schema!r}, not {STATE_SCHEMA!r}")
    try:
        source = document["source"]
        samples = tuple(_decode_sample(row) for row in document["samples"])
        saved = SavedScrape(
            kind=_str(source["kind"]),
            location=_str(source["location"]),
            name=_str(document["name"]),
            node=_opt_str(document["node"]),
            snapshot_node=_opt_str(document["snapshot_node"]),
            captured_at=_opt_float(document["captured_at"]),
            captured_at_origin=_str(document["captured_at_origin"]),
            samples=samples,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StateProblem("malformed (a field is missing or of the wrong type)") from exc
    return saved


def load_state(path: Path) -> SavedScrape | None:
    """The saved scrape of `path`; None when the file does not exist yet (the first run)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise StateProblem("not UTF-8 text") from exc
    except OSError as exc:
        raise StateProblem(f"unreadable ({exc.strerror or type(exc).__name__})") from exc
    return decode_state(text)


def save_state(path: Path, saved: SavedScrape, *, written_at: float) -> None:
    """Write `path` atomically: a temporary file in the same directory, then `os.replace`.

    Raises `OSError` (the caller reports it; a state that cannot be written is not fatal).
    """
    data = encode_state(saved, written_at=written_at).encode()
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _encode_float(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return str(value)  # "nan", "inf", "-inf": float() reads them back


def _decode_float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError("not a number")
    if isinstance(value, str) and value not in ("nan", "inf", "-inf"):
        raise ValueError("not a number")
    return float(value)


def _decode_sample(row: object) -> Sample:
    if not isinstance(row, list) or len(row) != 5:
        raise TypeError("sample row")
    family, part, labels, value, bound = row
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise TypeError("labels")
    decoded = _decode_float(value)
    if decoded is None:
        raise TypeError("value")
    return Sample(
        family=_str(family),
        part=_str(part),
        labels=dict(labels),
        value=decoded,
        bound=_decode_float(bound),
    )


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _opt_str(value: object) -> str | None:
    return None if value is None else _str(value)


def _opt_float(value: object) -> float | None:
    return _decode_float(value)
