"""The click application: the `pleg-doctor` group, its commands, and the exit-code mapping.

Each command lives in its own module under `commands/` (options and orchestration); this module
only builds the group, which imports a command's module when the command is used. Exit codes are
Nagios' for every command: click's usage errors are mapped to 3 (UNKNOWN), never 2, which every
monitoring system reads as CRITICAL.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping, Sequence
from typing import NoReturn

import click

from pleg_doctor import __version__
from pleg_doctor.commands import console
from pleg_doctor.commands.options import CONTEXT_SETTINGS
from pleg_doctor.errors import PlegDoctorError
from pleg_doctor.exitcodes import ExitCode

COMMANDS = {
    "capture": ("capture", "capture"),
    "check": ("check", "check"),
    "completion": ("completion", "completion"),
    "diagnose": ("diagnose", "diagnose"),
    "fleet": ("fleet", "fleet"),
    "logs": ("logs", "logs"),
    "model": ("model", "model"),
    "probe-runtime": ("probe", "probe_runtime"),
    "rules": ("rules", "rules"),
    "scan": ("scan", "scan"),
    "schema": ("schema", "schema"),
    "watch": ("watch", "watch"),
}
"""Every command: its name → (its module under `pleg_doctor/commands/`, the click command in it)."""


class _Commands(MutableMapping[str, click.Command]):
    """The group's commands, each module imported the first time its command is looked up.

    `pleg-doctor check FILE` then imports `commands/check.py` and not the other command modules
    (cron runs it on every node every minute); `--help` looks every command up to list it.
    """

    def __init__(self) -> None:
        self._names = dict(COMMANDS)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module, attribute = self._names[name]
            command = getattr(importlib.import_module(f"pleg_doctor.commands.{module}"), attribute)
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._names and name not in self._loaded:
            raise KeyError(name)
        self._names.pop(name, None)
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({*self._names, *self._loaded}))

    def __len__(self) -> int:
        return len({*self._names, *self._loaded})


@click.group(context_settings=CONTEXT_SETTINGS, commands=_Commands())
@click.version_option(__version__, prog_name="pleg-doctor")
def cli() -> None:
    """How close is this node to "PLEG is not healthy", why, and what to do next.

    pleg-doctor reads the kubelet's Prometheus metrics (a saved dump, the kubelet on :10250, the
    API server proxy, or Prometheus for a whole fleet), runs a reference model of the kubelet's
    PLEG relist loop, and ranks the likely causes with evidence and the next command to run.

    \b
    Example:
      pleg-doctor diagnose --demo
      pleg-doctor diagnose node-a.prom node-a-30s-later.prom -o json
    """


def _fail(message: str, debug: bool) -> NoReturn:
    console.fail(message, debug=debug, code=int(ExitCode.UNKNOWN))


def main(argv: Sequence[str] | None = None, *, kubectl_plugin: bool = False) -> None:
    """Run the CLI with Nagios exit codes; project errors become one line and exit 3.

    `kubectl_plugin`: run as `kubectl pleg-doctor` (the `kubectl-pleg_doctor` script), where a
    NODE argument is the expected thing (commands/options.py `node_from_arguments`).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    console.prepare_streams()
    try:
        cli.main(
            args=args,
            prog_name="kubectl pleg-doctor" if kubectl_plugin else "pleg-doctor",
            complete_var="_PLEG_DOCTOR_COMPLETE",
            standalone_mode=False,
            obj={"kubectl_plugin": kubectl_plugin},
        )
        sys.exit(0)  # --help and --version return here
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.stderr.write("pleg-doctor: interrupted\n")
        sys.exit(int(ExitCode.UNKNOWN))
    except click.ClickException as exc:
        # Usage errors included: exit 3, not click's 2 (2 means CRITICAL to monitoring).
        exc.show()
        sys.exit(int(ExitCode.UNKNOWN))
    except PlegDoctorError as exc:
        _fail(str(exc), debug)
    except KeyboardInterrupt:
        sys.stderr.write("pleg-doctor: interrupted\n")
        sys.exit(int(ExitCode.UNKNOWN))
    except BrokenPipeError:
        # `pleg-doctor ... | head`: the reader left; nothing more to say.
        sys.stderr.close()
        sys.exit(int(ExitCode.UNKNOWN))
    except Exception as exc:
        _fail(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)", debug)
