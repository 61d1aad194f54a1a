#!/usr/bin/env python3
"""Write docs/model-validation.md: the model against real kubelets and the simulated loop.

python scripts/validate_model.py           # (re)write the document
python scripts/validate_model.py --check   # exit 1 if the document is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pleg_doctor.core.streams import decompressed  # noqa: E402
from pleg_doctor.core.validation import (  # noqa: E402
    WindowValidation,
    render_markdown,
    simulation_checks,
    validate_dump,
    validate_series,
)

DOC = ROOT / "docs" / "model-validation.md"
LAB = ROOT / "fixtures" / "kubelet-lab"


def lab_windows() -> list[WindowValidation]:
    """Every validated window of every kubelet-lab scenario (dumps gunzipped by content)."""
    rows: list[WindowValidation] = []
    for scenario in sorted(p for p in LAB.iterdir() if p.is_dir()):
        dumps = [
            (path.name, b"".join(decompressed([path.read_bytes()])))
            for path in sorted(scenario.glob("[0-9][0-9]-*.prom*"))
        ]
        rows += validate_series(scenario.name, dumps)
    return rows


def generate() -> str:
    dumps = [
        validate_dump(p.name, p.read_bytes()) for p in sorted((ROOT / "fixtures").glob("*.prom"))
    ]
    return render_markdown(dumps, simulation_checks(), lab_windows())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the document is stale")
    args = parser.parse_args()
    text = generate()
    if args.check:
        current = DOC.read_text() if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is out of date: run scripts/validate_model.py", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
