"""The report's notes: what the data could not tell, and how it was read.

Separate from the verdict and the causes: notes never change either, they say what a reader
should know before trusting the figures (lifetime counters, an estimated capture time, an
inferred version, the µs summary hiding the tail, DefBuckets counting over-10 s calls as
timeouts).
"""

from __future__ import annotations

import math

from pleg_doctor.core.constants import RELIST_OPS, PlegConstants
from pleg_doctor.core.distribution import DEF_BUCKETS_TOP_SECONDS
from pleg_doctor.core.durations import rfc3339
from pleg_doctor.core.inputs import op_timeouts
from pleg_doctor.core.model import ModelResult
from pleg_doctor.core.window import Window

MAX_REJECTED_SHOWN = 5
"""Set-aside values named in the note (the rest are counted)."""


def reading_notes(window: Window, model: ModelResult, constants: PlegConstants) -> list[str]:
    """What the data could not tell, and how it was read."""
    notes: list[str] = []
    last = window.last
    rejected = [r.text for s in (window.first, last) if s is not None for r in s.rejected]
    if rejected:
        unique = list(dict.fromkeys(rejected))
        more = (
            f" and {len(unique) - MAX_REJECTED_SHOWN} more"
            if len(unique) > MAX_REJECTED_SHOWN
            else ""
        )
        notes.append(
            "values no kubelet exposes were ignored: "
            + "; ".join(unique[:MAX_REJECTED_SHOWN])
            + more
        )
    if window.is_lifetime:
        uptime = last.uptime_seconds
        since = f" ({uptime / 3600:.1f} h of kubelet uptime)" if uptime is not None else ""
        notes.append(
            "single scrape: counters are lifetime totals since the kubelet started"
            f"{since}; for rates now, take two scrapes (--window 30s, or two dumps)"
        )
    else:
        notes.append(
            f"window of {window.scrapes} scrapes over "
            + (f"{window.seconds:.0f} s" if window.seconds is not None else "an unknown time")
        )
        if window.restarted:
            notes.append(
                "the kubelet restarted inside the window (counters reset); deltas count from the "
                "restart, never negative"
            )
    notes.extend(model.explanations)
    origin = last.captured_at_origin
    if origin == "estimated":
        upper = last.captured_at_upper
        span = f" and {rfc3339(upper)}" if upper is not None else " or later"
        notes.append(
            f"capture time not recorded: bounded from the dump's own clocks between "
            f"{rfc3339(last.captured_at)}{span}; ages are lower bounds"
        )
    elif origin == "unknown":
        notes.append("capture time unknown: the current PLEG age cannot be judged")
    if last.version is None:
        notes.append("kubelet version unknown: current kubelet behaviour assumed")
    elif last.version_range is not None:
        notes.append(
            f"no kubernetes_build_info: kubelet {last.version_range} inferred from the metric "
            f"names; the model assumes v{last.version[0]}.{last.version[1]}, the oldest they allow"
        )
    if constants.mode == "evented":
        notes.append(
            "EventedPLEG gate on: kubelet_pleg_last_seen_seconds is overwritten with 'now' and "
            "carries no staleness; relist progress is used instead"
        )
    elif not constants.has_last_seen:
        notes.append(
            "no kubelet_pleg_last_seen_seconds before 1.18: the current age of the last relist "
            "is unknown from one scrape"
        )
    relist = window.relist_duration
    summary = last.relist_duration_summary
    if relist is not None and relist.buckets and summary is not None:
        over = relist.count_above(DEF_BUCKETS_TOP_SECONDS)
        recent = summary.summary_quantile(0.99)
        if (
            over
            and recent is not None
            and not math.isnan(recent)
            and recent < DEF_BUCKETS_TOP_SECONDS
        ):
            notes.append(
                f"the deprecated µs summary says p99 {recent:.3f} s (last 10 min), yet the "
                f"histogram holds {over:.0f} relists over 10 s: the summary hides the tail"
            )
    if window.is_lifetime and relist is not None:
        over = relist.count_above(DEF_BUCKETS_TOP_SECONDS)
        if over:
            tail = relist.over_top_mean_seconds()
            notes.append(
                f"{over:.0f} relists took over 10 s since the kubelet started"
                + (f" (≈ {tail:.0f} s each on average)" if tail is not None else "")
                + "; one scrape cannot tell when"
            )
        timeouts = sum(op_timeouts(window.runtime_ops.get(op)) or 0.0 for op in RELIST_OPS)
        if timeouts:
            notes.append(
                f"{timeouts:.0f} relist runtime call(s) took timeout-sized latencies since the "
                "kubelet started; one scrape cannot tell when"
            )
        if window.discard_events:
            notes.append(
                f"{window.discard_events:.0f} PLEG events discarded since the kubelet started"
            )
    if last.runtime_buckets == "default":
        notes.append(
            "runtime latency histograms use DefBuckets (≤ 1.19): calls over 10 s are counted as "
            "timeouts"
        )
    elif not last.runtime_buckets and window.runtime_ops:
        notes.append("runtime latencies are summaries (≤ 1.13): timeouts cannot be counted")
    if not window.runtime_ops:
        notes.append("no kubelet_runtime_operations metrics: the relist cost cannot be modelled")
    if last.pod_relist_duration is not None and last.pod_relist_duration.count:
        mean = last.pod_relist_duration.mean_seconds
        notes.append(
            f"1.36 per-pod relists: {last.pod_relist_duration.count:.0f}"
            + (f", mean {mean:.3f} s" if mean is not None else "")
            + "; they share the relist lock"
        )
    return notes
