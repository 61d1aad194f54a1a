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
    from pleg_doctor.cli import main as cli_main

    cli_main()


def kubectl_main() -> None:
    """`kubectl pleg-doctor ...`: the same CLI, where a NODE argument means `--node NODE`."""
    if sys.argv[1:] == ["--version"]:
        main()
        return
    from pleg_doctor.cli import main as cli_main

    cli_main(kubectl_plugin=True)


if __name__ == "__main__":
    main()
