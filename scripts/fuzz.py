"""The long fuzz campaign: `tests/fuzzing.py`'s mutants of the real dumps, many more of them.

    .venv/bin/python scripts/fuzz.py --runs 15000            # about 8 min on one core
    .venv/bin/python scripts/fuzz.py --runs 2000 --seed 50000 --no-bombs

Prints how many cases ran and held, the exit codes, the mutators of the cases that did not hold
(with their seeds, to replay one: `--seed N --runs 1`), and exits 1 if any did not hold.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import fuzzing  # noqa: E402 - after the sys.path line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15000)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--no-bombs", action="store_true", help="skip the gzip-bomb mutant")
    args = parser.parse_args()
    codes: collections.Counter[int] = collections.Counter()
    commands: collections.Counter[str] = collections.Counter()
    failed: list[fuzzing.Outcome] = []
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pleg-doctor-fuzz-") as tmp:
        for outcome in fuzzing.run_many(
            range(args.seed, args.seed + args.runs), Path(tmp), bombs=not args.no_bombs
        ):
            codes[outcome.code] += 1
            commands[outcome.case.command] += 1
            if outcome.problem is not None:
                failed.append(outcome)
                print(f"seed {outcome.case.seed}: {outcome.problem} {outcome.case}", flush=True)
    elapsed = time.monotonic() - start
    held = args.runs - len(failed)
    print(f"{args.runs:,} runs in {elapsed:.0f} s: {held:,} held, {len(failed):,} did not")
    print("exit codes:", dict(sorted(codes.items())))
    print("commands:", dict(sorted(commands.items())))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
