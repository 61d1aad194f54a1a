"""`python -m pleg_doctor`, the `pleg-doctor` console script and the kubectl plugin.

`--version` is answered here, before click and the rest are imported: cron and inventory tools
call it on thousands of nodes, and it should cost about one interpreter start.
`kubectl-pleg_doctor` on PATH makes `kubectl pleg-doctor diagnose NODE` work (kubectl runs
`kubectl-pleg_doctor diagnose NODE`).
"""

from __future__ import annotations

import sys


def main() -> None:
    """Entry point: answer `--version` at once, else hand over to the click application."""
    if sys.argv[1:] == ["--version"]:
        from pleg_doctor import __version__

        sys.stdout.write(f"pleg-doctor, version {__version__}\n")
        return
    _run_cli(kubectl_plugin=False)


def kubectl_main() -> None:
    """`kubectl pleg-doctor ...`: the same CLI, where a NODE argument means `--node NODE`."""
    if sys.argv[1:] == ["--version"]:
        main()
        return
    _run_cli(kubectl_plugin=True)


def _run_cli(*, kubectl_plugin: bool) -> None:
    """`cli.main`, imported without the cyclic garbage collector's passes over what it imports.

    Importing click and the CLI creates tens of thousands of objects (functions, classes, their
    dicts) that live as long as the process. Python runs a collection every 700 new objects and
    an older-generation one every 10 of those, and each scans the survivors again: for `check
    FILE` a twelfth of its start-up went there without finding any garbage. So the collector
    waits during the import, then `gc.freeze()` moves what exists to the permanent generation,
    which later collections skip; the command itself runs with the collector as usual.
    """
    import gc

    gc.disable()
    try:
        from pleg_doctor.cli import main as cli_main
    finally:
        gc.freeze()
        gc.enable()
    cli_main(kubectl_plugin=kubectl_plugin)


if __name__ == "__main__":
    main()
