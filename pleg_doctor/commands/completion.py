"""`completion`: the shell completion script of pleg-doctor, from click's own completion."""

from __future__ import annotations

import sys

import click

from pleg_doctor.commands.options import CONTEXT_SETTINGS

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_PLEG_DOCTOR_COMPLETE"
"""The variable the generated script sets when it asks `pleg-doctor` for completions."""


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish.

    Completes commands, options and choices (-o formats, cause ids); files where a command
    takes files. Load it in the shell's start-up file, or once in the current shell.

    \b
    Example:
      source <(pleg-doctor completion bash)                   # in ~/.bashrc
      pleg-doctor completion zsh > "${fpath[1]}/_pleg-doctor"   # zsh, compinit loads it
      pleg-doctor completion fish > ~/.config/fish/completions/pleg-doctor.fish
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # every name in SHELLS is one of click's
    root = click.get_current_context().find_root().command  # the pleg-doctor group
    script = completer(root, {}, "pleg-doctor", COMPLETE_VAR).source()
    sys.stdout.write(script if script.endswith("\n") else script + "\n")
    sys.exit(0)
