"""The click application: the `pleg-doctor` group, its commands, and the exit-code mapping.

Each command lives in its own module under `commands/` (options and orchestration); this module
only builds the group and registers them. Exit codes are Nagios' for every command (ARCHITECTURE.md
decision 1): click's usage errors are mapped to 3 (UNKNOWN), never 2, which every monitoring
system reads as CRITICAL.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

import click

from pleg_doctor import __version__
from pleg_doctor.commands import console
from pleg_doctor.commands.capture import capture
from pleg_doctor.commands.check import check
from pleg_doctor.commands.diagnose import diagnose
from pleg_doctor.commands.fleet import fleet
from pleg_doctor.commands.logs import logs
from pleg_doctor.commands.model import model
from pleg_doctor.commands.options import CONTEXT_SETTINGS
from pleg_doctor.commands.probe import probe_runtime
from pleg_doctor.commands.watch import watch
from pleg_doctor.errors import PlegDoctorError
from pleg_doctor.exitcodes import ExitCode


@click.group(context_settings=CONTEXT_SETTINGS)
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


for _command in (diagnose, capture, watch, model, check, fleet, logs, probe_runtime):
    cli.add_command(_command)


def _fail(message: str, debug: bool) -> NoReturn:
    console.error(message)
    if debug:
        traceback.print_exc()
    sys.exit(int(ExitCode.UNKNOWN))


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI with Nagios exit codes; project errors become one line and exit 3."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="pleg-doctor", standalone_mode=False)
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
