"""Debian's `prometheus` and `promtool` for integration tests: backfill, serve, query.

`serve()` starts a real Prometheus on a free loopback port over a TSDB directory (blocks made by
`backfill()` with `promtool tsdb create-blocks-from openmetrics`), optionally with rule files
evaluated every `evaluation_interval`; `PromClient` queries its HTTP API (POST, so expressions of
any length fit). A missing binary fails the test, never skips it (scripts/test.sh installs them).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

READY_TIMEOUT_SECONDS = 30.0


def binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.fail(
            f"{name} not found: integration tests need Debian's prometheus package "
            "(scripts/test.sh installs it: apt-get install prometheus)"
        )
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def backfill(openmetrics: Path, data: Path) -> None:
    """`promtool tsdb create-blocks-from openmetrics FILE DIR` (several files may share a DIR)."""
    created = subprocess.run(
        [
            binary("promtool"),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(openmetrics),
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert created.returncode == 0, created.stderr[-2000:]


def backfill_rules(
    url: str, rule_file: Path, *, start: float, end: float, step: str, data: Path
) -> None:
    """Evaluate `rule_file`'s recording rules over `[start, end]` against the Prometheus at
    `url` (`promtool tsdb create-blocks-from rules`) and move the blocks into `data`; the
    server sees them once restarted on `data`. promtool evaluates each rule against the server,
    so a rule cannot read another of the same run: give it one layer at a time."""
    out = data.parent / f"rules-{rule_file.stem}"
    created = subprocess.run(
        [
            binary("promtool"),
            "tsdb",
            "create-blocks-from",
            "rules",
            f"--url={url}",
            f"--start={start:.0f}",
            f"--end={end:.0f}",
            f"--eval-interval={step}",
            f"--output-dir={out}",
            "--quiet",
            str(rule_file),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert created.returncode == 0, (created.stdout + created.stderr)[-2000:]
    blocks = [p for p in out.iterdir() if p.is_dir()]
    assert blocks, f"promtool made no block from {rule_file}"
    for block in blocks:
        shutil.move(str(block), data / block.name)


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout_seconds: float
) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited with {process.returncode}: {log.read_text()[-2000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"prometheus not ready after {timeout_seconds:g} s: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def serve(
    data: Path,
    work: Path,
    *,
    rule_files: Sequence[Path] = (),
    evaluation_interval: str = "1m",
    prometheus: str | None = None,
    ready_timeout_seconds: float = READY_TIMEOUT_SECONDS,
) -> Iterator[str]:
    """A Prometheus over `data` (no scrape targets: the data is backfilled); yields its URL.

    `prometheus` is the binary (Debian's by default); `ready_timeout_seconds` bounds the wait
    for `/-/ready` (a 10,000-node benchmark TSDB takes longer to load than a test's)."""
    config = work / "prometheus.yml"
    lines = ["global:", "  scrape_interval: 1m", f"  evaluation_interval: {evaluation_interval}"]
    if rule_files:
        lines += ["rule_files:", *(f"  - {path}" for path in rule_files)]
    config.write_text("\n".join(lines) + "\n")
    port = free_port()
    log = work / "prometheus.log"
    with log.open("wb") as log_handle:
        process = subprocess.Popen(
            [
                prometheus or binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=10y",
                "--log.level=warn",
            ],
            stdout=log_handle,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process, log, ready_timeout_seconds)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)  # a large TSDB takes a while to close
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class PromClient:
    """The HTTP API of one Prometheus."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _post(self, path: str, params: dict[str, str]) -> Any:
        body = urllib.parse.urlencode(params).encode()
        try:
            with urllib.request.urlopen(f"{self.url}{path}", data=body, timeout=120) as response:
                doc = json.load(response)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{exc}: {exc.read()[:500]!r} for {params.get('query')}") from exc
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        """`/api/v1/query` at `at`: the instant vector's elements (`metric`, `value`)."""
        data = self._post("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
        assert data["resultType"] == "vector", data["resultType"]
        return list(data["result"])

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """`/api/v1/query_range`: the matrix's series (`metric`, `values`)."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        data = self._post("/api/v1/query_range", params)
        assert data["resultType"] == "matrix", data["resultType"]
        return list(data["result"])

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=30) as response:
            doc = json.load(response)
        assert doc["status"] == "success", doc
        return doc["data"]
