"""One `check` run: scrape, rebuild the previous run from `--state`, diagnose, save the state.

A cron job or a monitoring agent runs `check` every minute or so. One scrape alone only has the
kubelet's lifetime counters (PLEG-MODEL.md §6.4 "Single scrape"); with `--state FILE` each run
keeps what the next one needs to rebuild its Snapshot, so every run after the first diagnoses the
window since the previous run, exactly as `diagnose previous.prom current.prom` would (CONTRACT.md
"Commands": check; ARCHITECTURE.md decision 2).

The state file (schema `pleg-doctor/state-v1`) is small JSON holding the *kept* samples of the last
scrape (the few hundred PLEG-relevant ones `exposition` keeps, never the cAdvisor series) and the
arguments `build_snapshot` got: name, node, capture time and its origin. Rebuilding from the same
samples gives the same Snapshot, so the window is the two-dump window bit for bit; a kubelet
restart between runs is then the core's business (`snapshot.window_between` counts from the
restart). It is written atomically (temporary file in the same directory, then rename), so a run
killed mid-write leaves the previous state, never half a file.

A state file that cannot serve (unreadable, not JSON, another schema, another node or source) is
reported in one line on stderr and replaced by this run's; it never fails the check, because a
monitoring check that dies on its own cache is worse than one that diagnoses one scrape. A previous
run older than `--state-max-age` (default 1 h) is not used either: a window of hours averages away
what is happening now. The report's notes say which of these happened.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path

from pleg_doctor.core.exposition import Sample
from pleg_doctor.core.report import Report, rfc3339
from pleg_doctor.core.snapshot import Snapshot, build_snapshot
from pleg_doctor.errors import PlegDoctorError, UsageError
from pleg_doctor.sources.base import MetricsSource
from pleg_doctor.sources.scrape import Scrape, scrape_from_dump

STATE_SCHEMA = "pleg-doctor/state-v1"

DEFAULT_STATE_MAX_AGE_SECONDS = 3600.0
"""`--state-max-age`: one hour. A cron check runs every few minutes; a previous run older than
this means the check was down, and a window that long would hide the present."""

LIVE_KINDS = frozenset({"kubelet", "apiserver"})
"""Sources whose location names one endpoint; a file source reads a new dump every run."""


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
        document = json.loads(text)
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


# --- one run -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class CheckRun:
    """The outcome of one check run, for the CLI to render and deliver."""

    report: Report | None
    """None when the source failed (`error` says why)."""
    error: PlegDoctorError | None
    node: str
    """The `node` label of the metrics: never empty (`unknown` at worst)."""
    ran_at: float
    """Unix seconds, local clock, when the run started."""
    warnings: tuple[str, ...] = ()
    """One line each for stderr (an unusable or unwritable state file)."""


def run_check(
    sources: Sequence[MetricsSource],
    *,
    diagnose: Callable[[Sequence[Snapshot]], Report],
    state_path: Path | None = None,
    state_max_age: float = DEFAULT_STATE_MAX_AGE_SECONDS,
    node_label: str | None = None,
    clock: Callable[[], float] = time.time,
) -> CheckRun:
    """Scrape `sources`, diagnose the window since the saved run, save this run.

    `diagnose` turns snapshots (the previous run's first when there is one) into a Report; the
    CLI passes its own, with the user's cause selection. `node_label` forces the metrics' node
    label (an explicit `--grouping-key node=NAME`). Source and parse errors (`PlegDoctorError`)
    become a `CheckRun` with `error` set; nothing else is caught.
    """
    ran_at = clock()
    warnings: list[str] = []
    saved: SavedScrape | None = None
    state_unusable: str | None = None
    if state_path is not None:
        try:
            saved = load_state(state_path)
        except StateProblem as problem:
            state_unusable = str(problem)
    configured = _configured_source(sources)
    if saved is not None and not _same_source(saved, configured):
        state_unusable = (
            f"it holds {saved.kind} {saved.location}, not {configured[0]} {configured[1]}"
        )
        saved = None

    try:
        scrapes = [scrape_from_dump(source.fetch()) for source in sources]
    except PlegDoctorError as exc:
        if state_unusable is not None:
            warnings.append(_unusable_warning(state_path, state_unusable, replaced=False))
        node = node_label or _node_without_report(sources, saved)
        return CheckRun(report=None, error=exc, node=node, ran_at=ran_at, warnings=tuple(warnings))

    latest = _latest(scrapes)
    notes: list[str] = []
    previous: Snapshot | None = None
    if state_path is not None:
        if saved is not None:
            previous, note, foreign = _usable_previous(
                saved, scrapes, state_path=state_path, max_age=state_max_age
            )
            if note:
                notes.append(note)
            if foreign is not None:
                state_unusable = foreign
        if state_unusable is not None:
            warnings.append(_unusable_warning(state_path, state_unusable, replaced=True))
            notes.append(
                f"state file {state_path} was unusable ({state_unusable}) and is replaced: "
                "single scrape"
            )
        elif saved is None:
            notes.append(
                f"first run with state file {state_path}: single scrape; the next run "
                "diagnoses the window since this one"
            )

    snapshots = [s.snapshot for s in scrapes]
    try:
        report = diagnose([previous, *snapshots] if previous is not None else snapshots)
    except PlegDoctorError as exc:
        return CheckRun(
            report=None,
            error=exc,
            node=node_label or latest.snapshot.node or _node_without_report(sources, saved),
            ran_at=ran_at,
            warnings=tuple(warnings),
        )

    if state_path is not None:
        try:
            save_state(state_path, saved_from_scrape(latest), written_at=ran_at)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            warnings.append(
                f"cannot write state file {state_path} ({reason}): every run will diagnose "
                "a single scrape"
            )
            notes.append(f"state file {state_path} could not be written ({reason})")
    if notes:
        report = dataclasses.replace(report, notes=(*report.notes, *notes))
    node = node_label or report.node or _node_without_report(sources, saved)
    return CheckRun(report=report, error=None, node=node, ran_at=ran_at, warnings=tuple(warnings))


def _unusable_warning(path: Path | None, reason: str, *, replaced: bool) -> str:
    then = "replacing it" if replaced else "it will be replaced after the next good scrape"
    return f"state file {path} is unusable ({reason}): {then}"


def _configured_source(sources: Sequence[MetricsSource]) -> tuple[str, str]:
    """(kind, location) of what this run reads, known before fetching (the last source)."""
    from pleg_doctor.sources.files import DemoSource

    source = sources[-1]
    kind = getattr(source, "kind", None)
    if not isinstance(kind, str):
        kind = "demo" if isinstance(source, DemoSource) else "file"
    return kind, source.location


def _same_source(saved: SavedScrape, configured: tuple[str, str]) -> bool:
    """A live source must be the same endpoint; dumps are new files each run (node decides)."""
    kind, location = configured
    if saved.kind != kind:
        return False
    return kind not in LIVE_KINDS or saved.location == location


def _latest(scrapes: Sequence[Scrape]) -> Scrape:
    """The newest scrape (what the state keeps); the last given when times are unknown."""
    if all(s.snapshot.captured_at is not None for s in scrapes):
        return max(scrapes, key=lambda s: s.snapshot.captured_at or 0.0)
    return scrapes[-1]


def _usable_previous(
    saved: SavedScrape, scrapes: Sequence[Scrape], *, state_path: Path, max_age: float
) -> tuple[Snapshot | None, str, str | None]:
    """(previous Snapshot or None, the note saying why, a reason when the state is foreign)."""
    previous = saved.snapshot()
    node = next((s.snapshot.node for s in scrapes if s.snapshot.node is not None), None)
    if previous.node is not None and node is not None and previous.node != node:
        return None, "", f"it holds node {previous.node}, not {node}"
    earliest = min(
        (s.snapshot.captured_at for s in scrapes if s.snapshot.captured_at is not None),
        default=None,
    )
    newest = max(
        (s.snapshot.captured_at for s in scrapes if s.snapshot.captured_at is not None),
        default=None,
    )
    if previous.captured_at is None or earliest is None or newest is None:
        return (
            None,
            f"capture time unknown: the previous run in {state_path} cannot be placed before "
            "this one; single scrape",
            None,
        )
    if previous.captured_at >= earliest:
        return (
            None,
            f"the previous run in {state_path} ({rfc3339(previous.captured_at)}) is not older "
            "than this scrape: single scrape",
            None,
        )
    age = newest - previous.captured_at
    if age > max_age:
        return (
            None,
            f"the previous run in {state_path} is {_duration(age)} old, more than "
            f"--state-max-age {_duration(max_age)}: single scrape",
            None,
        )
    return (
        previous,
        f"window since the previous check run at {rfc3339(previous.captured_at)} "
        f"(state {state_path})",
        None,
    )


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def _node_without_report(sources: Sequence[MetricsSource], saved: SavedScrape | None) -> str:
    """The node label when no report names the node (the source failed).

    It should match the label of the good runs, or a Pushgateway group and an alert would split
    in two: the source's node (`--node NAME`), else the node the state last saw for this very
    source, else the host of the source URL, else `unknown`.
    """
    node = getattr(sources[-1], "node", None)
    if isinstance(node, str) and node:
        return node
    if saved is not None and saved.snapshot_node:
        return saved.snapshot_node
    return host_of(sources[-1].location) or "unknown"


def host_of(location: str) -> str | None:
    """The host of a URL location (`https://10.0.0.7:10250/metrics` → `10.0.0.7`), else None."""
    if "://" not in location:
        return None
    try:
        return urllib.parse.urlsplit(location).hostname or None
    except ValueError:
        return None


def parse_grouping_key(items: Sequence[str]) -> dict[str, str]:
    """`--grouping-key KEY=VALUE` (repeatable) → a dict; raises `UsageError` for a bad item.

    Label names follow Prometheus' `[a-zA-Z_][a-zA-Z0-9_]*`; `job` is `--job`'s.
    """
    grouping: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", key):
            raise UsageError(
                f"--grouping-key {item!r}: want KEY=VALUE with a Prometheus label name as KEY"
            )
        if key == "job":
            raise UsageError("--grouping-key job=... : the job is set with --job")
        if key.startswith("__"):
            raise UsageError(f"--grouping-key {key}: names starting with __ are reserved")
        grouping[key] = value
    return grouping
