"""The project owns its docs: nothing cites a document the repository does not contain, nor an
issue number of its own tracker, and every `docs/FILE.md#section` cited exists.

Upstream numbers name their project (`kubernetes#94829`, `containerd#5274`); a bare `#94829`,
an issue number of this project, a `§1.3` (a section of a document that is not here) or the
name of a design document kept outside the repository are citations a reader of this repository cannot follow. Every file of the repository is read,
code, tests, docs, deploy files and the generated reports alike; only the provenance files
(`SOURCES.md`, which name the upstream threads real data came from) and the data itself (dumps,
logs, recordings) are not the project's prose.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT

SCANNED_SUFFIXES = {
    ".py", ".md", ".toml", ".yaml", ".yml", ".json", ".sh", ".tmpl", ".service", ".timer", ".cfg",
    ".txt", ".ini", ".prom",
}  # fmt: skip
SCANNED_NAMES = {"Makefile", "Containerfile", "run"}
SKIPPED_DIRS = {".git", ".venv", "build", "dist", "__pycache__", ".mypy_cache", ".ruff_cache"}
PROVENANCE = "SOURCES.md"
"""Where real data came from: upstream threads are named there, with their project."""
DATA_DIRS = {"fixtures"}
"""Real dumps, logs and recordings: read only for their markdown (the provenance aside)."""

ELSEWHERE = re.compile(
    r"shared/desig[n]|\.\./share[d]|/work/share[d]"  # the design folder outside the repository
    r"|\b[Ii]ssues? #?\d+"  # an issue of the project's own tracker
    r"|(?<![\w/#-])#\d{2,}\b"  # a bare number: name its project (kubernetes#94829)
    r"|§\s?\d"  # a section of a document that is not here
)
MARKDOWN = re.compile(r"(?<![\w/.-])([\w.-]+\.md)\b")
DOCS_LINK = re.compile(r"docs/([\w.-]+\.md)(?:#([\w-]+))?")


def scanned_files() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT)
        if any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in relative.parts):
            continue
        if path == Path(__file__) or not path.is_file() or path.name == PROVENANCE:
            continue
        if relative.parts[0] in DATA_DIRS and path.suffix != ".md":
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
    # Assembled from pieces so that this file itself cites nothing.
    pieces = ["CONTRACT" + ".md", "PLEG-MODEL" + ".md §6.2", "issue" + " 11", "(issue" + " 6)"]
    pieces += ["#94829", "../" + "shared/" + "design"]
    bad = "see " + ", ".join(pieces)
    assert len(citations(bad, docs)) == 7
    good = "kubernetes#94829, containerd#5274, docs/model.md#worst-age, README.md, `# 2 calls`"
    assert citations(good, docs) == []


def test_nothing_cites_a_document_or_an_issue_the_repository_does_not_have():
    documents = repository_documents()
    found: list[str] = []
    for path in scanned_files():
        relative = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            found += [f"{relative}:{number}: {c}" for c in citations(line, documents)]
    assert not found, "cite docs/ or an upstream source instead:\n" + "\n".join(found)


def test_the_scan_reads_code_docs_and_generated_reports_but_not_provenance_or_data():
    scanned = {p.relative_to(ROOT).as_posix() for p in scanned_files()}
    for expected in (
        "README.md",
        "docs/model.md",
        "pleg_doctor/core/model.py",
        "scripts/test.sh",
        ".pre-commit-config.yaml",
        "deploy/prometheus/pleg-doctor-alerts.yml",
        "tests/golden/sim-relist_deadlock.txt",
    ):
        assert expected in scanned, expected
    assert "fixtures/SOURCES.md" not in scanned
    assert not any(p.startswith("fixtures/") and not p.endswith(".md") for p in scanned)


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


MARKDOWN_LINK = re.compile(r"\]\(([^)\s#]*)(?:#([\w-]+))?\)")


@pytest.mark.parametrize(
    "path",
    [p for p in scanned_files() if p.suffix == ".md"],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_every_markdown_link_inside_the_repository_resolves(path):
    """`[text](other.md#section)` and `[text](#section)` lead somewhere that exists."""
    for match in MARKDOWN_LINK.finditer(path.read_text(encoding="utf-8")):
        target, anchor = match.group(1), match.group(2)
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        document = (path.parent / target).resolve() if target else path
        assert document.exists(), f"{path.name}: link to {target}: no such file"
        if anchor and document.suffix == ".md":
            assert anchor in _anchors(document.read_text()), f"{path.name}: {match.group(0)}"
