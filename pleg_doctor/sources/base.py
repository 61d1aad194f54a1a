"""What every source of kubelet metrics hands to the core.

A source fetches bytes; it does not parse them. Live sources return the whole body (a kubelet's
`/metrics` is a few MB at most); file sources stream (a saved dump with cAdvisor series reaches
100 MB), so the body is an iterator of byte chunks either way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Literal, Protocol

from pleg_doctor.core.records import record

SourceKind = Literal["file", "kubelet", "apiserver", "prometheus", "demo"]


@record(kw_only=True)
class FetchedDump:
    """One scrape of one kubelet's `/metrics`, as raw exposition bytes."""

    kind: SourceKind
    """Which kind of source produced it (docs/output.md#v1 `source.kind`)."""

    location: str
    """Where it came from, safe to print: a path or a URL without credentials."""

    chunks: Iterable[bytes]
    """The exposition text (decompressed), in chunks of any size."""

    captured_at: dt.datetime | None = None
    """The kubelet's own clock at the scrape (HTTP `Date` header), timezone-aware UTC, if known."""

    node: str | None = None
    """The node name when the source knows it (e.g. `--node NAME`)."""

    latency_seconds: float | None = None
    """Live sources: how long `/metrics` took to start answering (its headers), seconds."""


class MetricsSource(Protocol):
    """Anything that can fetch one scrape. Implementations raise only `SourceError`s."""

    def fetch(self) -> FetchedDump:
        """Fetch one scrape now."""
        ...

    @property
    def kind(self) -> SourceKind:
        """What kind of source this is (the report's `source.kind`), known before fetching."""
        ...

    @property
    def location(self) -> str:
        """Where this source reads from, safe to print (no credentials)."""
        ...

    @property
    def must_warn_insecure(self) -> bool:
        """True when TLS verification is off: the command must print a warning."""
        ...
