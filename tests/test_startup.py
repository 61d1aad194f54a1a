"""Start-up cost: a command imports its own module, not every command's, and no edge it does not use.

Cron and monitoring agents run `pleg-doctor check` on every node every minute
(`benchmarks/bench_startup.py` measures what it costs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from typing import Any

from .conftest import ROOT

SCRIPT = """
import json, sys
from pleg_doctor.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    print(json.dumps(sorted(sys.modules)))
"""


GENERATED_SCRIPT = """
import dataclasses, json, sys
from pleg_doctor.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    print(json.dumps(sorted(
        f"{name}.{cls.__qualname__}"
        for name, module in list(sys.modules.items())
        if name.startswith("pleg_doctor")
        for cls in vars(module).values()
        if isinstance(cls, type) and cls.__module__ == name and dataclasses.is_dataclass(cls)
        and cls.__dataclass_params__.init  # dataclasses wrote and compiled its methods
    )))
"""


def modules_after(*args: str, script: str = SCRIPT) -> set[str]:
    """The modules loaded once `pleg-doctor ARGS...` ran, as a regular install would load them."""
    return set(after_run(script, *args))


def after_run(script: str, *args: str) -> Any:
    """The JSON `script` prints last, run with ARGS... as a regular install would run it.

    `-S` with the checkout and site-packages on `PYTHONPATH`: the dev venv's `.pth` hooks (the
    editable finder imports pathlib and urllib.parse) would otherwise hide what pleg-doctor loads.
    """
    path = os.pathsep.join((str(ROOT), sysconfig.get_paths()["purelib"]))
    result = subprocess.run(
        [sys.executable, "-S", "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
        env={**os.environ, "PYTHONPATH": path},
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


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
    # Standard-library modules only a push, a state file, --demo, --debug or a live source needs.
    for unused in (
        "http.client",
        "urllib.request",
        "urllib.error",
        "urllib.parse",
        "pathlib",
        "logging",
        "traceback",
        "importlib.resources",
        "ssl",
        "socket",
        "pleg_doctor.render.prom",
    ):
        assert unused not in loaded, f"check FILE imported {unused}"


def test_check_on_a_file_compiles_no_dataclass(tmp_path):
    """The classes `check FILE` defines, with `--textfile` too (what the DaemonSet runs), are
    `core.records.record`s: a frozen dataclass compiles six generated methods when its class is
    defined (0.5-1 ms each class, at every start)."""
    dump = str(ROOT / "fixtures" / "datadog-v1.21.2.prom")
    generated = modules_after("check", dump, script=GENERATED_SCRIPT)
    assert not generated, f"dataclasses on the start-up path of check FILE: {sorted(generated)}"
    generated = modules_after("check", dump, "--textfile", str(tmp_path), script=GENERATED_SCRIPT)
    assert not generated, f"dataclasses on the path of check --textfile: {sorted(generated)}"


def test_check_with_textfile_or_state_imports_what_they_need(tmp_path):
    dump = str(ROOT / "fixtures" / "datadog-v1.21.2.prom")
    loaded = modules_after("check", dump, "--textfile", str(tmp_path))
    assert {"pleg_doctor.render.prom", "pathlib"} <= loaded
    # the textfile is written without prometheus_client (and its HTTP modules): only a push
    # needs them
    assert not loaded & {"prometheus_client", "http.client", "http.server", "urllib.request"}
    assert (tmp_path / "pleg_doctor.prom").is_file()
    loaded = modules_after("check", dump, "--state", str(tmp_path / "state.json"))
    assert "pleg_doctor.commands.check_state" in loaded
    assert "pleg_doctor.render.prom" not in loaded
    assert (tmp_path / "state.json").is_file()


def test_debug_still_configures_logging():
    loaded = modules_after("check", str(ROOT / "fixtures" / "datadog-v1.21.2.prom"), "--debug")
    assert "logging" in loaded


def test_help_lists_every_command():
    from pleg_doctor.cli import COMMANDS, cli

    assert sorted(cli.commands) == sorted(COMMANDS)
    for name in COMMANDS:
        assert cli.commands[name].name == name


def test_setup_logging_without_debug_still_resets_a_configured_logger():
    """In one process (tests, an embedding script), a run without --debug after one with it must
    not keep logging DEBUG: once `logging` is imported, the WARNING level is set again."""
    import logging

    from pleg_doctor.commands import console

    console.setup_logging(True)
    assert logging.getLogger("pleg_doctor").level == logging.DEBUG
    console.setup_logging(False)
    assert logging.getLogger("pleg_doctor").level == logging.WARNING


FROZEN_SCRIPT = """
import gc, json, sys
from pleg_doctor import __main__
sys.argv = ["pleg-doctor", *sys.argv[1:]]
try:
    __main__.main()
except SystemExit:
    print(json.dumps({"frozen": gc.get_freeze_count(), "enabled": gc.isenabled()}))
"""


def test_the_entry_point_freezes_what_importing_the_cli_created():
    """The console script imports the CLI with the collector paused, then moves those objects
    to the permanent generation (`gc.freeze`): no collection scans them again. The command
    itself runs with the collector enabled."""
    state = after_run(FROZEN_SCRIPT, "check", str(ROOT / "fixtures" / "datadog-v1.21.2.prom"))
    assert state["enabled"]
    # click alone is thousands of functions, classes and dicts
    assert state["frozen"] > 5000


def test_fleet_json_imports_no_table_renderer():
    """`fleet -o json` (cron, scripts) writes the document without rich; the table needs it."""
    from tests.fakeserver import FakeServer
    from tests.test_fleet import FakeProm, _mixed_fleet, sim_results

    with FakeServer(FakeProm(sim_results(_mixed_fleet()))) as server:
        as_json = modules_after("fleet", "--prometheus", server.url("/"), "-o", "json")
        as_table = modules_after("fleet", "--prometheus", server.url("/"))
    assert "pleg_doctor.render.json" in as_json
    assert "rich" not in as_json and "pleg_doctor.render.fleet" not in as_json
    assert {"rich", "pleg_doctor.render.fleet"} <= as_table
