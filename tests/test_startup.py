"""Start-up cost: a command imports its own module, not every command's, and no edge it does not use.

Cron and monitoring agents run `pleg-doctor check` on every node every minute.
"""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import ROOT

SCRIPT = """
import json, sys
from pleg_doctor.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    print(json.dumps(sorted(sys.modules)))
"""


def modules_after(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_check_on_a_file_imports_only_the_check_command():
    loaded = modules_after("check", str(ROOT / "fixtures" / "datadog-v1.21.2.prom"))
    commands = {m for m in loaded if m.startswith("pleg_doctor.commands.")}
    assert "pleg_doctor.commands.check" in commands
    assert not commands & {
        "pleg_doctor.commands.diagnose",
        "pleg_doctor.commands.capture",
        "pleg_doctor.commands.watch",
        "pleg_doctor.commands.fleet",
        "pleg_doctor.commands.logs",
        "pleg_doctor.commands.model",
        "pleg_doctor.commands.probe",
        "pleg_doctor.commands.check_state",
    }
    for heavy in ("requests", "urllib3", "rich", "yaml", "prometheus_client"):
        assert heavy not in loaded, f"check FILE imported {heavy}"


def test_help_lists_every_command():
    from pleg_doctor.cli import COMMANDS, cli

    assert sorted(cli.commands) == sorted(COMMANDS)
    for name in COMMANDS:
        assert cli.commands[name].name == name
