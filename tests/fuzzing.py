"""A seeded mutation fuzzer over the real dumps of `fixtures/`, run through the CLI in process.

Each case takes one real dump, applies one to three mutators (hostile values, label values with
`}` `"` and newlines, cut lines, duplicated families, random bytes, gzip, gzip bombs, forged
capture headers...) and runs `diagnose -o json`, `check` (with `--textfile`), or `diagnose` on
the original and the mutant as a window. What must hold, whatever the input
(`check_invariants`):

* the exit code is 0-3, and stderr holds no "internal error" and no traceback;
* JSON output is strict (no NaN, no Infinity) and `check`'s stdout is one Nagios line;
* a verdict of OK comes with a finite headroom (JSON), a `headroom Ns` (the line);
* the textfile holds no NaN and no infinity outside an `le="+Inf"` bucket.

`tests/test_fuzz.py` runs a few hundred cases in seconds; `scripts/fuzz.py --runs 15000` runs
many more and prints the figures.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import io
import json
import math
import random
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DUMPS = sorted((ROOT / "fixtures").glob("*.prom"))

HOSTILE_VALUES = (
    "NaN",
    "+Inf",
    "-Inf",
    "1e308",
    "-1e308",
    "1e20",
    "-1",
    "0",
    "4.9e-324",
    "9007199254740993",
    "nan",
    "Infinity",
)
HOSTILE_LABELS = (
    "a}b",
    '\\"',
    "\\n",
    "}{,=",
    "a\\\\",
    "x\\nkubelet_pleg_last_seen_seconds 1",
    "a b source=evil captured_at=1999-01-01T00:00:00Z",
    "..",
    "\x1b[2J",
    "",
)

_SAMPLE = re.compile(rb"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^\n]*\})? (\S+)$", re.M)
_LABEL_VALUE = re.compile(rb'="([^"\\]*)"')


Mutator = Callable[[bytes, random.Random], bytes]


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _kept_positions(data: bytes) -> list[re.Match[bytes]]:
    return [
        m
        for m in _SAMPLE.finditer(data)
        if m.group(1).startswith((b"kubelet_", b"process_", b"go_memstats_last"))
    ]


def hostile_value(data: bytes, rng: random.Random) -> bytes:
    """One kept sample's value replaced by NaN, ±Inf, 1e308, a negative or a huge number."""
    matches = _kept_positions(data)
    if not matches:
        return data
    match = rng.choice(matches)
    value = rng.choice(HOSTILE_VALUES).encode()
    return data[: match.start(3)] + value + data[match.end(3) :]


def hostile_values_everywhere(data: bytes, rng: random.Random) -> bytes:
    """Many kept values replaced at once (a broken exporter)."""
    for _ in range(rng.randint(2, 30)):
        data = hostile_value(data, rng)
    return data


def hostile_label(data: bytes, rng: random.Random) -> bytes:
    """One label value replaced by one with `}`, escaped quotes, newlines or an escape code."""
    matches = list(_LABEL_VALUE.finditer(data))
    if not matches:
        return data
    match = rng.choice(matches)
    value = rng.choice(HOSTILE_LABELS).encode()
    return data[: match.start(1)] + value + data[match.end(1) :]


def truncate_line(data: bytes, rng: random.Random) -> bytes:
    """One line cut at a random place."""
    lines = _lines(data)
    index = rng.randrange(len(lines))
    lines[index] = lines[index][: rng.randint(0, max(0, len(lines[index]) - 1))]
    return b"\n".join(lines)


def truncate_dump(data: bytes, rng: random.Random) -> bytes:
    """The dump cut off at a random byte."""
    return data[: rng.randint(0, len(data))]


def duplicate_family(data: bytes, rng: random.Random) -> bytes:
    """A run of lines repeated (a family exposed twice), maybe with other values."""
    lines = _lines(data)
    start = rng.randrange(len(lines))
    block = lines[start : start + rng.randint(1, 40)]
    if rng.random() < 0.5:
        block = [hostile_value(line, rng) for line in block]
    at = rng.randrange(len(lines))
    return b"\n".join(lines[:at] + block + lines[at:])


def random_bytes(data: bytes, rng: random.Random) -> bytes:
    """A few random bytes written somewhere."""
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.randbytes(rng.randint(1, 64)) + data[at:]


def swap_lines(data: bytes, rng: random.Random) -> bytes:
    """Two lines exchanged (families out of order)."""
    lines = _lines(data)
    a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[a], lines[b] = lines[b], lines[a]
    return b"\n".join(lines)


def drop_lines(data: bytes, rng: random.Random) -> bytes:
    """Some lines removed (buckets missing, a count without its sum)."""
    lines = _lines(data)
    keep = [line for line in lines if rng.random() > 0.05]
    return b"\n".join(keep)


def negative_counters(data: bytes, rng: random.Random) -> bytes:
    """Counters and buckets scaled by a negative or a huge factor."""
    factor = rng.choice((-1.0, 1e12, 1e300, 0.5))

    def scale(match: re.Match[bytes]) -> bytes:
        try:
            value = float(match.group(3))
        except ValueError:
            return match.group(0)
        if not match.group(1).startswith(b"kubelet_") or rng.random() < 0.5:
            return match.group(0)
        return match.group(0)[: match.start(3) - match.start(0)] + repr(value * factor).encode()

    return _SAMPLE.sub(scale, data)


def forged_header(data: bytes, rng: random.Random) -> bytes:
    """A capture header, well formed or forged, first or elsewhere."""
    header = rng.choice(
        (
            b"# pleg-doctor capture: captured_at=2026-11-27T10:00:00Z node=worker-3 source=x",
            b"# pleg-doctor capture: captured_at=2026-11-27T10:00:00Z captured_at=1999-01-01T00:00:00Z",
            b"# pleg-doctor capture: captured_at=9999-12-31T23:59:59Z",
            b"# pleg-doctor capture: captured_at=0001-01-01T00:00:00Z",
            b"# pleg-doctor capture: node=Bad_Node",
            b"# pleg-doctor capture: node=a%0Ab source=%ZZ",
        )
    )
    if rng.random() < 0.7:
        return header + b"\n" + data
    lines = _lines(data)
    lines.insert(rng.randrange(len(lines) + 1), header)
    return b"\n".join(lines)


def blank_and_comment_flood(data: bytes, rng: random.Random) -> bytes:
    """Thousands of blank or comment lines inserted."""
    flood = rng.choice((b"\n", b"#\n", b"# HELP x y\n", b"   \n")) * rng.randint(1000, 50_000)
    at = rng.randrange(len(data) + 1)
    return data[:at] + flood + data[at:]


def crlf(data: bytes, rng: random.Random) -> bytes:
    """Windows line ends."""
    return data.replace(b"\n", b"\r\n")


def gzip_it(data: bytes, rng: random.Random) -> bytes:
    """The mutant gzip-compressed (maybe cut off, maybe two members)."""
    packed = gzip.compress(data, rng.choice((1, 6, 9)), mtime=0)
    roll = rng.random()
    if roll < 0.15:
        return packed[: rng.randint(2, len(packed) - 1)]
    if roll < 0.3:
        return packed + gzip.compress(b"\n", mtime=0)
    return packed


def gzip_bomb(data: bytes, rng: random.Random) -> bytes:
    """The dump followed by a flood of newlines, gzip-compressed: it must hit the ratio bound."""
    return gzip.compress(data + b"\n" * rng.randint(20_000_000, 40_000_000), 9, mtime=0)


MUTATORS: tuple[Mutator, ...] = (
    hostile_value,
    hostile_value,
    hostile_value,
    hostile_values_everywhere,
    hostile_label,
    hostile_label,
    truncate_line,
    truncate_dump,
    duplicate_family,
    random_bytes,
    swap_lines,
    drop_lines,
    negative_counters,
    forged_header,
    blank_and_comment_flood,
    crlf,
)
WRAPPERS: tuple[Mutator, ...] = (gzip_it, gzip_bomb)


@dataclasses.dataclass(frozen=True)
class Case:
    """One fuzz case: which dump, which mutators, which command."""

    seed: int
    dump: str
    mutators: tuple[str, ...]
    command: str


@dataclasses.dataclass
class Outcome:
    """What one case did."""

    case: Case
    code: int
    problem: str | None
    """What did not hold, or None."""


def make_case(seed: int, workdir: Path, *, bombs: bool = True) -> tuple[Case, list[str]]:
    """The mutant for `seed`, written under `workdir`, and the CLI arguments to run it with."""
    rng = random.Random(seed)
    dump = rng.choice(DUMPS)
    data = dump.read_bytes()
    names: list[str] = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        mutator = rng.choice(MUTATORS)
        data = mutator(data, rng)
        names.append(mutator.__name__)
    roll = rng.random()
    if roll < 0.1:
        data = gzip_it(data, rng)
        names.append("gzip_it")
    elif bombs and roll < 0.11:
        data = gzip_bomb(data, rng)
        names.append("gzip_bomb")
    mutant = workdir / f"mutant-{seed}.prom"
    mutant.write_bytes(data)
    command = rng.choice(("diagnose", "diagnose", "check", "window", "textfile", "model", "table"))
    if command == "diagnose":
        args = ["diagnose", str(mutant), "-o", "json"]
    elif command == "model":
        args = ["model", "--from", str(mutant), "-o", "json"]
    elif command == "table":
        args = ["diagnose", str(mutant), "--explain"]
    elif command == "check":
        args = ["check", str(mutant)]
    elif command == "window":
        original = workdir / f"original-{seed}.prom"
        original.write_bytes(
            b"# pleg-doctor capture: captured_at=2026-11-27T09:59:00Z\n" + dump.read_bytes()
        )
        args = ["diagnose", str(original), str(mutant), "-o", "json"]
    else:
        textdir = workdir / f"text-{seed}"
        textdir.mkdir(exist_ok=True)
        args = ["check", str(mutant), "--textfile", str(textdir)]
    return Case(seed, dump.name, tuple(names), command), args


def run_case(seed: int, workdir: Path, *, bombs: bool = True) -> Outcome:
    """Build and run one case through the real entry point, in this process."""
    case, args = make_case(seed, workdir, bombs=bombs)
    code, out, err = run_in_process(args)
    problem = check_invariants(case, args, code, out, err)
    for path in workdir.iterdir():
        if path.is_file():
            path.unlink()
    return Outcome(case, code, problem)


def run_in_process(args: list[str]) -> tuple[int, str, str]:
    """`pleg-doctor ARGS` in this process: (exit code, stdout, stderr)."""
    from pleg_doctor.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: object = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code
    return (code if isinstance(code, int) else 0), out.getvalue(), err.getvalue()


_OK_LINE = re.compile(r"^PLEG OK - headroom -?\d+s of \d+s")


def check_invariants(case: Case, args: list[str], code: int, out: str, err: str) -> str | None:
    """What did not hold for this run (see the module docstring), or None."""
    if code not in (0, 1, 2, 3):
        return f"exit code {code}"
    if "internal error" in err or "Traceback" in err:
        return "internal error: " + err.strip().splitlines()[-1][:200]
    if "\x1b" in out + err:
        return "a raw escape character reached the output"
    if "-o" in args and "json" in args and out:
        try:
            doc = json.loads(out, parse_constant=_refuse_constant)
        except ValueError as exc:
            return f"not strict JSON: {exc}"
        headroom = doc.get("headroom_seconds")
        if (
            "verdict" in doc
            and doc.get("verdict") == "ok"
            and not (isinstance(headroom, (int, float)) and math.isfinite(headroom))
        ):
            return f"OK with headroom {headroom!r}"
    if args[0] == "check":
        lines = out.splitlines()
        if len(lines) != 1:
            return f"check printed {len(lines)} lines"
        if lines[0].startswith("PLEG OK") and not _OK_LINE.match(lines[0]):
            return f"OK without a finite headroom: {lines[0][:120]}"
        if "--textfile" in args:
            textfile = Path(args[args.index("--textfile") + 1]) / "pleg_doctor.prom"
            if textfile.exists():
                text = textfile.read_text()
                if "NaN" in text or re.search(r"(?<!le=\")[+-]Inf", text):
                    return "a non-finite sample in the textfile"
                shutil_rmtree(textfile.parent)
    return None


def shutil_rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _refuse_constant(constant: str) -> float:
    raise ValueError(f"non-strict JSON constant {constant}")


def run_many(seeds: range, workdir: Path, *, bombs: bool = True) -> Iterator[Outcome]:
    """Every case of `seeds`, in order."""
    import logging

    logging.getLogger("pleg_doctor").handlers[:] = []
    for seed in seeds:
        yield run_case(seed, workdir, bombs=bombs)


if __name__ == "__main__":  # pragma: no cover - `scripts/fuzz.py` is the entry point
    sys.exit("run scripts/fuzz.py")
