"""The report's `source.kind` is the source's own, never guessed from its location."""

from __future__ import annotations

import json
import shutil

from pleg_doctor.sources.files import DemoSource, FileSource

from .conftest import ROOT
from .helpers import run_cli


def test_every_metrics_source_says_its_kind():
    assert FileSource("bundled.prom").kind == "file"
    assert DemoSource().kind == "demo"
    assert not FileSource("a.prom").must_warn_insecure
    assert not DemoSource().must_warn_insecure


def test_a_file_named_bundled_is_a_file(tmp_path, capsys):
    path = tmp_path / "bundled-copy.prom"
    shutil.copy(ROOT / "fixtures" / "datadog-v1.21.2.prom", path)
    code, out, _ = run_cli(["diagnose", str(path), "-o", "json", "--exit-zero"], capsys)
    assert code == 0
    assert json.loads(out)["source"] == {"kind": "file", "location": str(path)}


def test_the_demo_is_a_demo(capsys):
    code, out, _ = run_cli(["diagnose", "--demo", "-o", "json", "--exit-zero"], capsys)
    assert code == 0
    assert json.loads(out)["source"]["kind"] == "demo"
