"""The project owns its docs: nothing cites a document the repository does not contain, nor an
issue number of its own tracker, and every `docs/FILE.md#section` cited exists.

Upstream numbers name their project (`kubernetes#94829`, `containerd#5274`); a bare `#94829`,
an `issue 6`, a `§1.3` (a section of a document that is not here) or `CONTRACT.md` are
citations a reader of this repository cannot follow. Files written before the project owned its
docs still hold some: `LEGACY` counts them per file, and no file may gain one (they are being
rewritten to cite docs/ and upstream sources; a file without them is not in the list).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT

SCANNED_SUFFIXES = {
    ".py", ".md", ".toml", ".yaml", ".yml", ".json", ".sh", ".tmpl", ".service", ".timer", ".cfg",
}  # fmt: skip
SCANNED_NAMES = {"Makefile", "Containerfile", "run"}
SKIPPED_DIRS = {".git", ".venv", "build", "dist", "__pycache__", "fixtures", "golden", "data"}
"""Data (real dumps and logs, generated goldens, the demo dump) is not the project's prose."""

ELSEWHERE = re.compile(
    r"shared/design|\.\./shared|/work/shared"  # the design folder outside the repository
    r"|\b[Ii]ssues? #?\d+"  # an issue of the project's own tracker
    r"|(?<![\w/#-])#\d{2,}\b"  # a bare number: name its project (kubernetes#94829)
    r"|§\s?\d"  # a section of a document that is not here
)
MARKDOWN = re.compile(r"(?<![\w/.-])([\w.-]+\.md)\b")
DOCS_LINK = re.compile(r"docs/([\w.-]+\.md)(?:#([\w-]+))?")

LEGACY: dict[str, int] = {
    ".pre-commit-config.yaml": 1,
    "README.md": 5,
    "benchmarks/README.md": 3,
    "benchmarks/gen_dump.py": 3,
    "deploy/prometheus/pleg-doctor-alerts.yml": 1,
    "docs/model-validation.md": 9,
    "pleg_doctor/commands/check_state.py": 4,
    "pleg_doctor/core/causes/__init__.py": 3,
    "pleg_doctor/core/causes/base.py": 5,
    "pleg_doctor/core/causes/kubelet.py": 6,
    "pleg_doctor/core/causes/load.py": 7,
    "pleg_doctor/core/causes/pleg.py": 10,
    "pleg_doctor/core/causes/runtime.py": 6,
    "pleg_doctor/core/distribution.py": 10,
    "pleg_doctor/core/exposition.py": 7,
    "pleg_doctor/core/fleet.py": 5,
    "pleg_doctor/core/model.py": 58,
    "pleg_doctor/core/report.py": 3,
    "pleg_doctor/core/simulation.py": 5,
    "pleg_doctor/core/snapshot.py": 12,
    "pleg_doctor/core/validation.py": 11,
    "pleg_doctor/core/window.py": 2,
    "pleg_doctor/errors.py": 1,
    "pleg_doctor/exitcodes.py": 1,
    "pleg_doctor/logs/__init__.py": 2,
    "pleg_doctor/logs/classify.py": 2,
    "pleg_doctor/logs/evidence.py": 1,
    "pleg_doctor/logs/parse.py": 3,
    "pleg_doctor/logs/result.py": 1,
    "pleg_doctor/logs/timeline.py": 8,
    "pleg_doctor/render/__init__.py": 1,
    "pleg_doctor/sources/apiserver.py": 6,
    "pleg_doctor/sources/base.py": 1,
    "pleg_doctor/sources/crictl.py": 3,
    "pleg_doctor/sources/http/__init__.py": 1,
    "pleg_doctor/sources/http/client.py": 2,
    "pleg_doctor/sources/http/metrics.py": 1,
    "pleg_doctor/sources/http/redaction.py": 1,
    "pleg_doctor/sources/http/settings.py": 2,
    "pleg_doctor/sources/kubeconfig/__init__.py": 3,
    "pleg_doctor/sources/kubelet.py": 14,
    "pleg_doctor/sources/nodestatus.py": 2,
    "pleg_doctor/sources/options.py": 3,
    "pleg_doctor/sources/prometheus/__init__.py": 5,
    "pleg_doctor/sources/prometheus/assembly.py": 3,
    "pleg_doctor/sources/prometheus/queries.py": 5,
    "pleg_doctor/sources/prometheus/source.py": 1,
    "pleg_doctor/sources/scrape.py": 2,
    "scripts/test.sh": 1,
    "tests/conftest.py": 1,
    "tests/helpers.py": 1,
    "tests/kubelet_sim.py": 9,
    "tests/promsim.py": 1,
    "tests/test_exposition.py": 1,
    "tests/test_logs_formats.py": 1,
    "tests/test_model.py": 4,
    "tests/test_validation.py": 1,
}
"""Citations per file written before the project owned its docs, to be rewritten to docs/."""


def scanned_files() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT)
        if any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in relative.parts):
            continue
        if path == Path(__file__) or not path.is_file():
            continue
        if path.suffix in SCANNED_SUFFIXES or path.name in SCANNED_NAMES:
            yield path


def repository_documents() -> set[str]:
    return {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts}


def citations(text: str, documents: set[str]) -> list[str]:
    """The citations in `text` of what is not in the repository."""
    found = [m.group(0) for m in ELSEWHERE.finditer(text)]
    found += [m.group(1) for m in MARKDOWN.finditer(text) if m.group(1) not in documents]
    return found


def test_the_pattern_catches_what_it_should_and_spares_upstream_numbers():
    docs = {"README.md", "model.md"}
    bad = "see CONTRACT.md, PLEG-MODEL.md §6.2, issue 11, (issue 6), #94829, ../shared/design"
    assert len(citations(bad, docs)) == 7
    good = "kubernetes#94829, containerd#5274, docs/model.md#worst-age, README.md, `# 2 calls`"
    assert citations(good, docs) == []


def test_nothing_cites_a_document_or_an_issue_the_repository_does_not_have():
    documents = repository_documents()
    over: list[str] = []
    for path in scanned_files():
        relative = path.relative_to(ROOT).as_posix()
        found = citations(path.read_text(encoding="utf-8", errors="replace"), documents)
        allowed = LEGACY.get(relative, 0)
        if len(found) > allowed:
            over.append(f"{relative}: {len(found)} citation(s), {allowed} allowed: {found[:6]}")
    assert not over, "cite docs/ or an upstream source instead:\n" + "\n".join(over)


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            title = re.sub(r"[^\w\- ]", "", title)
            anchors.add(title.replace(" ", "-"))
    return anchors


@pytest.mark.parametrize(
    "path", list(scanned_files()), ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_every_docs_section_cited_exists(path):
    for match in DOCS_LINK.finditer(path.read_text(encoding="utf-8", errors="replace")):
        document, anchor = match.group(1), match.group(2)
        target = ROOT / "docs" / document
        assert target.is_file(), f"{match.group(0)}: no such document"
        if anchor:
            assert anchor in _anchors(target.read_text()), f"{match.group(0)}: no such section"
