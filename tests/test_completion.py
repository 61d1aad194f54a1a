"""`pleg-doctor completion bash|zsh|fish`: the scripts are generated, and bash completes with
the generated script in a real bash (commands, options, -o formats)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import run_cli

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _pleg_doctor_completion pleg-doctor"),
        ("zsh", "#compdef pleg-doctor"),
        ("fish", "complete --no-files --command pleg-doctor"),
    ],
)
def test_each_script_is_generated(capsys, shell, marker):
    code, out, err = run_cli(["completion", shell], capsys)
    assert code == 0, err
    assert marker in out and "_PLEG_DOCTOR_COMPLETE" in out


def test_an_unknown_shell_is_a_usage_error(capsys):
    code, _, err = run_cli(["completion", "tcsh"], capsys)
    assert code == 3 and "tcsh" in err


def bash_complete(words: list[str]) -> list[str]:
    """COMPREPLY of the generated script for `words` (the last one is being completed)."""
    script = subprocess.run(
        [str(BIN / "pleg-doctor"), "completion", "bash"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    program = (
        f"{script}\n"
        f"COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}; COMPREPLY=()\n"
        "_pleg_doctor_completion pleg-doctor\n"
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True,
        env=env,
        timeout=60,
        check=True,
    )
    return done.stdout.decode().split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_a_subcommand_an_option_and_a_format():
    assert bash_complete(["pleg-doctor", "di"]) == ["diagnose"]
    assert "completion" in bash_complete(["pleg-doctor", "co"])
    assert "--window" in bash_complete(["pleg-doctor", "diagnose", "--wi"])
    assert bash_complete(["pleg-doctor", "diagnose", "-o", "''"]) == ["table", "json", "yaml"]
