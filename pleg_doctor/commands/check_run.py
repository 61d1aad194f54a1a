"""One `check` run: scrape, the window since the saved run, diagnose, save; no click, no output.

`run_check` is one run: scrape, rebuild the previous run from `--state` (`check_state`), diagnose,
save the state. A state file that cannot serve (unreadable, not JSON, another schema, another
node or source) is reported in one line on stderr and replaced by this run's; it never fails the
check, because a monitoring check that dies on its own cache is worse than one that diagnoses one
scrape. A previous run older than `--state-max-age` (default 1 h) is not used either: a window of
hours averages away what is happening now. The report's notes say which of these happened.

Separate from `check.py` (the click command: the Nagios line, the other outputs, the delivery
and the exit code) because it decides what was diagnosed, and a caller that is not the command
line (a test, an embedding agent) can run it and read a `CheckRun`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from pleg_doctor.core.records import record
from pleg_doctor.errors import PlegDoctorError

if TYPE_CHECKING:
    from pathlib import Path

    from pleg_doctor.commands.check_state import SavedScrape
    from pleg_doctor.core.endpoints import ScrapeFacts
    from pleg_doctor.core.report import Report
    from pleg_doctor.core.snapshot import Snapshot
    from pleg_doctor.sources.base import MetricsSource
    from pleg_doctor.sources.live import MetricsBlocked
    from pleg_doctor.sources.scrape import Scrape

DEFAULT_STATE_MAX_AGE_SECONDS = 3600.0
"""`--state-max-age`: one hour. A cron check runs every few minutes; a previous run older than
this means the check was down, and a window that long would hide the present."""

EVIDENCE_TIMEOUT_SECONDS = 2.0
"""The deadline of each request `check` makes after a live `/metrics` did not answer: the
`/healthz` probe, and with `--node` the Node's Ready condition (never more than `--timeout`).
A kubelet answers `/healthz`, and the API server a Node, in milliseconds; one that takes seconds
is itself the evidence (the kubelet is down or overloaded). So a cron run against a kubelet
whose `/metrics` blocks ends within `--metrics-timeout` (default `--timeout`) and 2 s, not twice
`--timeout` (docs/limits.md#deadlines)."""

LIVE_KINDS = frozenset({"kubelet", "apiserver"})
"""Sources whose location names one endpoint; a file source reads a new dump every run."""


@record(kw_only=True)
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
    diagnose: Callable[[Sequence[Snapshot], ScrapeFacts | None], Report],
    blocked: Callable[[MetricsBlocked], Report] | None = None,
    patience: float | None = None,
    state_path: Path | None = None,
    state_max_age: float = DEFAULT_STATE_MAX_AGE_SECONDS,
    node_label: str | None = None,
    clock: Callable[[], float] = time.time,
) -> CheckRun:
    """Scrape `sources`, diagnose the window since the saved run, save this run.

    `diagnose` turns snapshots (the previous run's first when there is one) and how the live
    endpoints answered into a Report; the CLI passes its own, with the user's cause selection.
    A live `/metrics` is waited on for `patience` seconds (default: the source's timeout); when
    it does not answer while `/healthz` does, `blocked` turns that into the run's Report (the
    state is then kept as it was). `node_label` forces the metrics' node label (an explicit
    `--grouping-key node=NAME`). Source and parse errors (`PlegDoctorError`) become a `CheckRun`
    with `error` set; nothing else is caught.
    """

    ran_at = clock()
    warnings: list[str] = []
    saved: SavedScrape | None = None
    state_unusable: str | None = None
    if state_path is not None:
        from pleg_doctor.commands.check_state import StateProblem, load_state

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

    facts: ScrapeFacts | None = None
    try:
        scrapes, facts = _fetch(sources, patience)
    except PlegDoctorError as exc:
        if state_unusable is not None:
            warnings.append(_unusable_warning(state_path, state_unusable, replaced=False))
        node = node_label or _node_without_report(sources, saved)
        from pleg_doctor.sources.live import MetricsBlocked

        if blocked is not None and isinstance(exc, MetricsBlocked):
            report = blocked(exc)
            node = node_label or report.node or node
            return CheckRun(
                report=report, error=None, node=node, ran_at=ran_at, warnings=tuple(warnings)
            )
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
        report = diagnose([previous, *snapshots] if previous is not None else snapshots, facts)
    except PlegDoctorError as exc:
        return CheckRun(
            report=None,
            error=exc,
            node=node_label or latest.snapshot.node or _node_without_report(sources, saved),
            ran_at=ran_at,
            warnings=tuple(warnings),
        )

    if state_path is not None:
        from pleg_doctor.commands.check_state import save_state, saved_from_scrape

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


def _fetch(
    sources: Sequence[MetricsSource], patience: float | None
) -> tuple[list[Scrape], ScrapeFacts | None]:
    """Fetch and parse every source; a live one through `fetch_live` (its `/healthz` is asked
    when `/metrics` does not answer, and `MetricsBlocked` raised)."""
    from pleg_doctor.sources.scrape import scrape_from_dump

    if len(sources) == 1 and sources[0].kind in LIVE_KINDS:
        from pleg_doctor.sources.live import LiveSource, fetch_live

        dump, facts = fetch_live(
            cast("LiveSource", sources[0]),
            patience=patience,
            health_timeout=EVIDENCE_TIMEOUT_SECONDS,
        )
        return [scrape_from_dump(dump)], facts
    return [scrape_from_dump(source.fetch()) for source in sources], None


def _unusable_warning(path: Path | None, reason: str, *, replaced: bool) -> str:
    then = "replacing it" if replaced else "it will be replaced after the next good scrape"
    return f"state file {path} is unusable ({reason}): {then}"


def _configured_source(sources: Sequence[MetricsSource]) -> tuple[str, str]:
    """(kind, location) of what this run reads, known before fetching (the last source)."""
    source = sources[-1]
    return source.kind, source.location


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
    from pleg_doctor.core.durations import rfc3339

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
    import urllib.parse

    if "://" not in location:
        return None
    try:
        return urllib.parse.urlsplit(location).hostname or None
    except ValueError:
        return None
