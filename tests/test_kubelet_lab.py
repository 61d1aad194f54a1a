"""A real kubelet v1.32 with a healthy, slow, churning and hung runtime (`fixtures/kubelet-lab/`).

Every single dump, every pair of consecutive dumps and the whole series of each scenario are
diagnosed through the real pipeline and compared with the oracle of `tests/kubelet_lab.py`,
which applies the recordings' verdict rules to the raw dump text by itself.
"""

from __future__ import annotations

import pytest

from .kubelet_lab import SCENARIOS, dump_paths, oracle, raw_dump, truth


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_oracle_reads_the_ages_and_the_peak_verdict_of_the_truth(scenario):
    recorded = truth(scenario)
    paths = dump_paths(scenario)
    per_scrape = recorded["max_last_seen_age_seconds"]["per_scrape"]
    assert [p.name.removesuffix(".gz") for p in paths] == [s["file"] for s in per_scrape]
    for path, scrape in zip(paths, per_scrape, strict=True):
        dump = raw_dump(path)
        assert dump.last_seen == scrape["last_seen"]
        assert dump.captured_at - dump.last_seen == scrape["age_seconds"]
    whole = oracle(paths)
    assert whole.worst_age_seconds == recorded["max_last_seen_age_seconds"]["value"]
    assert whole.verdict == recorded["expected"]["verdict_peak"]
