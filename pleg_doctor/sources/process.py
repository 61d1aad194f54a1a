"""Child processes run with a deadline and bounded output, killed as a group: exec credential
plugins and crictl.

`subprocess.run(capture_output=True, timeout=...)` is not enough for programs we do not control:
it keeps everything they print (a plugin writing 3 GiB took 6 GB of RAM), and at its timeout it
kills only the child, leaving whatever the child started running, and waits for the pipes those
grandchildren still hold open. `run_bounded` starts the child in its own session (a new process
group, so the kill reaches everything it started and nothing else), reads both pipes as they
fill, and kills the whole group when the deadline passes or when either output passes the bound.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import Literal

_READ_BYTES = 64 * 1024


@dataclasses.dataclass(frozen=True, kw_only=True)
class Finished:
    """How a bounded child process ended."""

    returncode: int | None
    """The exit status; None when it was killed (deadline or output bound)."""
    stdout: bytes
    stderr: bytes
    """What it wrote, at most the bound each (the rest was not read)."""
    seconds: float
    """From start to exit (or to the kill)."""
    killed: Literal["deadline", "stdout", "stderr"] | None = None
    """Why its process group was killed: the deadline passed, or that output passed the bound."""

    @property
    def timed_out(self) -> bool:
        """True when the deadline killed it."""
        return self.killed == "deadline"


def run_bounded(
    argv: Sequence[str],
    *,
    timeout: float,
    max_output_bytes: int,
    env: Mapping[str, str] | None = None,
) -> Finished:
    """Run `argv` (stdin closed) until it exits, its deadline passes or an output overflows.

    Raises what `subprocess.Popen` raises when the program cannot start (`FileNotFoundError`,
    `PermissionError`, `OSError`); callers phrase those. The process group is killed (SIGKILL)
    at the deadline or at the output bound, so nothing it started outlives the call.
    """
    start = time.monotonic()
    deadline = start + timeout
    proc = subprocess.Popen(
        list(argv),
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    buffers = {"stdout": bytearray(), "stderr": bytearray()}
    killed: Literal["deadline", "stdout", "stderr"] | None = None
    with selectors.DefaultSelector() as selector, proc:
        selector.register(proc.stdout, selectors.EVENT_READ, "stdout")
        selector.register(proc.stderr, selectors.EVENT_READ, "stderr")
        while selector.get_map() and killed is None:
            left = deadline - time.monotonic()
            if left <= 0:
                killed = "deadline"
                break
            for key, _ in selector.select(timeout=left):
                name: Literal["stdout", "stderr"] = key.data
                data = os.read(key.fd, _READ_BYTES)
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                buffer = buffers[name]
                buffer += data
                if len(buffer) > max_output_bytes:
                    del buffer[max_output_bytes:]
                    killed = name
                    break
        if killed is None:
            # Both pipes closed: the child is exiting, or left them to a grandchild and runs on.
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                killed = "deadline"
        if killed is not None:
            _kill_group(proc)
    return Finished(
        returncode=None if killed is not None else proc.returncode,
        stdout=bytes(buffers["stdout"]),
        stderr=bytes(buffers["stderr"]),
        seconds=time.monotonic() - start,
        killed=killed,
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's process group (its own session: nothing else is in it), then reap."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        proc.kill()  # in case the group could not be signalled
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
