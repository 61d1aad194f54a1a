"""The README stays true: quick start, every command documented, the demo report current."""

from __future__ import annotations

import re

import click
import pytest

from pleg_doctor.cli import cli
from pleg_doctor.render.table import render_table

from .conftest import ROOT
from .helpers import diagnose_texts

README = (ROOT / "README.md").read_text()


def test_quick_start_is_exactly_two_commands():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    assert all(len(b.strip().splitlines()) == 1 for b in blocks)
    assert "pleg-doctor diagnose --demo" in blocks[0]
    assert blocks[1].strip() == "./scripts/test.sh"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./scripts/test.sh" in ci


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_with_an_example_and_is_in_the_readme(name):
    command = cli.commands[name]
    assert isinstance(command, click.Command)
    assert command.help and "Example:" in command.help
    assert f"pleg-doctor {name}" in README


def test_readme_demo_report_is_current():
    from pleg_doctor.sources.files import DemoSource

    dump = DemoSource().fetch()
    report = diagnose_texts([b"".join(dump.chunks)])
    expected = "\n".join(line.rstrip() for line in render_table(report, width=100).splitlines())
    block = README.split("`pleg-doctor diagnose --demo` (a healthy node", 1)[1]
    shown = re.search(r"```text\n(.*?)```", block, re.S)
    assert shown is not None
    # The source line differs (the test reads the bundled bytes directly); the rest must match.
    assert _without_source(shown.group(1).rstrip("\n")) == _without_source(expected)


def _without_source(text: str) -> list[str]:
    return [line for line in text.splitlines() if "source " not in line]


def test_every_cause_id_is_documented():
    from pleg_doctor.core.causes import CAUSE_IDS

    for cause in CAUSE_IDS:
        assert f"`{cause}`" in README
