"""The bounds on everything read from outside, and the environment variables that raise them.

Every reader of outside data stops at a bound chosen from what real data needs, with room
(`docs/limits.md` gives the measurements): past it the run ends with one line naming the bound
and the variable that raises it (`errors.LimitError`), in bounded time and memory, instead of
being killed by the pod's memory limit or by cron's patience. `Limits` holds the values; the
edge reads the environment (`sources/limits.py`) and the core is handed what it needs, so the
core itself reads no environment.

Pure: no I/O, no clock, no environment.
"""

from __future__ import annotations

from pleg_doctor.core.records import record
from pleg_doctor.errors import LimitError

MIB = 1 << 20


@record(kw_only=True)
class Limits:
    """One value per bound; the defaults are what `docs/limits.md` justifies."""

    samples: int = 20_000
    """Kept exposition lines per dump (real dumps: 181-712)."""
    kept_bytes: int = 4 * MIB
    """Bytes of kept exposition lines per dump (real dumps: 16-64 KB)."""
    gzip_ratio: float = 100.0
    """Decompressed bytes per compressed byte (real dumps and logs: 6-16; newlines: 1,000)."""
    body_bytes: int = 64 * MIB
    """Decompressed bytes of one HTTP answer of a kubelet or the API server (real: 0.1-5 MB)."""
    answer_bytes: int = 64 * MIB
    """Bytes of one Prometheus API answer in `fleet` (1,000 nodes: at most 5.2 MB)."""
    series: int = 1_000_000
    """Series in all the Prometheus answers of one `fleet` run (1,000 nodes: 123,748)."""
    output_bytes: int = 4 * MIB
    """Bytes a child process (exec credential plugin, crictl) may write to stdout or stderr."""
    yaml_nodes: int = 100_000
    """YAML nodes of one kubeconfig file after alias expansion (real: hundreds)."""

    def error(self, field: str, what: str) -> LimitError:
        """The error for `what` going past the bound `field`: it names both and the variable."""
        variable = VARIABLES[field]
        return LimitError(
            f"{what}: past the bound of {describe(field, getattr(self, field))} ({variable})",
            variable=variable,
        )

    def gzip_error(self, name: str, compressed_bytes: int, decompressed_bytes: int) -> LimitError:
        """The error for a gzip stream past the `gzip_ratio` bound (`streams.GzipBomb`)."""
        return self.error(
            "gzip_ratio",
            f"{name}: {compressed_bytes:,} gzip bytes expand to over {decompressed_bytes:,} "
            "(a gzip bomb?)",
        )


VARIABLES: dict[str, str] = {
    "samples": "PLEG_DOCTOR_MAX_SAMPLES",
    "kept_bytes": "PLEG_DOCTOR_MAX_KEPT_BYTES",
    "gzip_ratio": "PLEG_DOCTOR_MAX_GZIP_RATIO",
    "body_bytes": "PLEG_DOCTOR_MAX_BODY_BYTES",
    "answer_bytes": "PLEG_DOCTOR_MAX_ANSWER_BYTES",
    "series": "PLEG_DOCTOR_MAX_SERIES",
    "output_bytes": "PLEG_DOCTOR_MAX_OUTPUT_BYTES",
    "yaml_nodes": "PLEG_DOCTOR_MAX_YAML_NODES",
}
"""Each bound's environment variable (a plain number: bytes, a count, a ratio)."""

GZIP_FLOOR_BYTES = 16 * MIB
"""Decompressed bytes always allowed, whatever the ratio: a tiny gzip may expand a lot."""


def describe(field: str, value: float) -> str:
    """A bound's value for people: `64 MiB`, `20,000 kept lines`, `ratio 100`."""
    if field.endswith("_bytes"):
        if value >= MIB and value % MIB == 0:
            return f"{int(value) // MIB} MiB"
        return f"{int(value):,} bytes"
    if field == "gzip_ratio":
        return f"{value:g}× decompression"
    units = {"samples": "kept lines", "series": "series", "yaml_nodes": "YAML nodes"}
    return f"{int(value):,} {units[field]}"
