"""The figures of `docs/limits.md`, measured again: each reader's worst bounded input and the
hostile servers against a deadline.

    .venv/bin/python scripts/hostile.py                 # both parts, about 2 min
    .venv/bin/python scripts/hostile.py --part memory   # peak RSS per reader
    .venv/bin/python scripts/hostile.py --part deadline --timeout 3

Memory: for each reader, an input at (or just past) its bound, run as `pleg-doctor` in a child
process under GNU time (`%M`, peak RSS), against the 128 MiB limit of the DaemonSet and CronJob
in `deploy/`. Deadline: `pleg-doctor` against each hostile server of `tests/hostile.py` with
`--timeout`, wall time and the line it printed. A measurement, not a test: it prints and exits 0.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import hostile  # noqa: E402 - after the sys.path line
from tests.fakeserver import CA, SERVER_CERT, FakeServer, Reply  # noqa: E402

PLEG_DOCTOR = REPO / ".venv" / "bin" / "pleg-doctor"
TIME = "/usr/bin/time"
POD_LIMIT_MIB = 128
DUMP = (REPO / "fixtures" / "datadog-v1.21.2.prom").read_bytes()


def run(args: Sequence[str], env: dict[str, str] | None = None) -> tuple[int, float, int, str]:
    """(exit code, seconds, peak RSS KiB, first line of stdout or stderr)."""
    start = time.monotonic()
    proc = subprocess.run(
        [TIME, "-f", "%M", str(PLEG_DOCTOR), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
        check=False,
    )
    elapsed = time.monotonic() - start
    rss = int(proc.stderr.strip().splitlines()[-1])
    said = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
    return proc.returncode, elapsed, rss, (said[0] if said else "")[:150]


def run_exec_plugin(tmp: Path, body: str, *flags: str) -> tuple[int, float, int, str]:
    """`check --node` with a kubeconfig whose exec plugin is the Python `body`."""
    plugin = tmp / "plugin"
    plugin.write_text(f"#!{sys.executable}\n{body}")
    plugin.chmod(0o755)
    config = tmp / "exec-kubeconfig"
    config.write_text(_exec_kubeconfig(plugin))
    return run(["check", "--node", "n1", "--kubeconfig", str(config), *flags])


def _exec_kubeconfig(plugin: Path) -> str:
    """A kubeconfig whose user runs `plugin` as its exec credential plugin."""
    return (
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        f"users: [{{name: u, user: {{exec: {{command: '{plugin}', "
        "apiVersion: client.authentication.k8s.io/v1, interactiveMode: Never}}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )


def _kept_lines(count: int) -> bytes:
    return b"".join(
        b'kubelet_runtime_operations_duration_seconds_bucket{operation_type="op_%06d",le="%d"} %d\n'
        % (i, i % 17, i)
        for i in range(count)
    )


def _cadvisor(megabytes: int) -> bytes:
    line = b'container_cpu_usage_seconds_total{container="c",id="/kubepods/pod1/x",pod="p"} 1\n'
    return line * (megabytes * (1 << 20) // len(line))


def memory(tmp: Path) -> None:
    print(f"Peak RSS per reader, worst bounded input (pod limit {POD_LIMIT_MIB} MiB)")
    rows: list[tuple[str, tuple[int, float, int, str]]] = []
    worst_dump = DUMP + _kept_lines(19_000) + _cadvisor(100)
    dump = tmp / "worst.prom"
    dump.write_bytes(worst_dump)
    rows.append(("dump file: 19,000 kept lines + 100 MB", run(["check", str(dump)])))
    state = tmp / "state.json"
    run(["check", str(dump), "--state", str(state)])
    rows.append(
        ("check --state, twice, at 19,000 kept", run(["check", str(dump), "--state", str(state)]))
    )
    over = tmp / "over.prom"
    over.write_bytes(DUMP + _kept_lines(25_000))
    rows.append(("dump file past the kept bound", run(["check", str(over)])))
    bomb = tmp / "bomb.prom.gz"
    bomb.write_bytes(gzip.compress(DUMP + _cadvisor(400), 9))
    rows.append(("gzip dump: 400 MB of cAdvisor lines", run(["check", str(bomb)])))
    newlines = tmp / "newlines.prom.gz"
    newlines.write_bytes(gzip.compress(DUMP + b"\n" * 1_000_000_000, 9))
    rows.append(("gzip bomb: 1 MB of gzipped newlines", run(["check", str(newlines)])))

    live_body = DUMP + _kept_lines(19_000) + _cadvisor(60)
    with FakeServer(lambda seen: Reply(body=live_body)) as server:
        rows.append(
            ("live kubelet: 63 MB body, 19,000 kept", run(["check", "--kubelet", server.url()]))
        )
    big_body = _cadvisor(200)
    with FakeServer(lambda seen: Reply(body=big_body)) as server:
        rows.append(
            ("live kubelet: 200 MB body (past 64 MiB)", run(["check", "--kubelet", server.url()]))
        )

    element = b'{"metric":{"instance":"10.0.0.1:10250","operation_type":"list_podsandbox","le":"0.5"},"value":[1,"1"]}'
    series = 600_000  # about 60 MiB: under the answer bound; two of them pass the series bound
    answer = (
        b'{"status":"success","data":{"resultType":"vector","result":['
        + b",".join([element] * series)
        + b"]}}"
    )
    time_answer = (
        b'{"status":"success","data":{"resultType":"scalar","result":[1795972560,"1795972560"]}}'
    )

    def prometheus(conn, stop) -> None:  # type: ignore[no-untyped-def]
        body = time_answer if b"time%28%29" in hostile_request[0] else answer
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % len(body)
        )
        conn.sendall(body)

    hostile_request = [b""]

    class Prom(hostile.ScriptedServer):
        def _serve(self, conn):  # type: ignore[no-untyped-def]
            with conn:
                hostile_request[0] = hostile.read_request(conn)
                prometheus(conn, self.stop)

    with Prom(prometheus) as server:
        rows.append(
            (
                f"fleet: answers of {len(answer) >> 20} MiB, {series:,} series",
                run(["fleet", "--prometheus", server.url("/"), "--timeout", "120s"]),
            )
        )

    rows.append(
        (
            "exec plugin: endless stdout",
            run_exec_plugin(tmp, "import sys\nwhile True: sys.stdout.write('x' * 65536)\n"),
        )
    )
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    crictl = bin_dir / "crictl"
    crictl.write_text(
        f"#!{sys.executable}\nimport sys\nwhile True: sys.stdout.write('ab' * 32 + '\\n')\n"
    )
    crictl.chmod(0o755)
    rows.append(("crictl: endless ids", run(["probe-runtime", "--crictl", str(crictl)])))
    levels = ["a: &a [" + ",".join(['"x"'] * 9) + "]"]
    for index, name in enumerate("bcdefghi"):
        previous = "abcdefgh"[index]
        levels.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    bomb_config = tmp / "bomb-kubeconfig"
    bomb_config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:1\n"
        "    extensions:\n    - name: client.authentication.k8s.io/exec\n      extension:\n"
        + "".join(f"        {line}\n" for line in levels)
        + "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    rows.append(
        (
            "kubeconfig YAML: alias bomb (10^9 nodes)",
            run(["check", "--node", "n1", "--kubeconfig", str(bomb_config)]),
        )
    )
    width = max(len(name) for name, _ in rows)
    for name, (code, seconds, rss, said) in rows:
        print(
            f"  {name:<{width}}  {rss / 1024:6.1f} MiB  {seconds:6.2f} s  exit {code}  {said[:90]}"
        )


def deadlines(timeout: float, tmp: Path) -> None:
    print(
        f"Hostile servers under --timeout {timeout:g}s (each would go on for {hostile.FOREVER:.0f} s)"
    )
    ca = tmp / "ca.pem"
    CA.cert_pem.write_to_path(str(ca))
    flag = ["--timeout", f"{timeout:g}s"]
    rows: list[tuple[str, tuple[int, float, int, str]]] = []
    scripts = {
        "trickling headers": hostile.trickling_headers,
        "trickling Content-Length body": hostile.trickling_body,
        "never-ending chunked body": hostile.endless_chunked_body(),
    }
    for name, script in scripts.items():
        with hostile.ScriptedServer(script) as server:
            rows.append((f"kubelet, {name}", run(["check", "--kubelet", server.url(), *flag])))
            rows.append(
                (f"Prometheus, {name}", run(["fleet", "--prometheus", server.url("/"), *flag]))
            )
            config = tmp / "kubeconfig"
            config.write_text(
                "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                f"clusters: [{{name: k, cluster: {{server: 'http://127.0.0.1:{server.port}'}}}}]\n"
                "users: [{name: u, user: {token: t0k3n}}]\n"
                "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
            )
            rows.append(
                (
                    f"API server, {name}",
                    run(["check", "--node", "n1", "--kubeconfig", str(config), *flag]),
                )
            )
            rows.append(
                (
                    f"Pushgateway, {name}",
                    run(
                        [
                            "check",
                            str(REPO / "fixtures" / "datadog-v1.21.2.prom"),
                            "--pushgateway",
                            f"http://127.0.0.1:{server.port}",
                            *flag,
                        ]
                    ),
                )
            )
    with FakeServer(cert=SERVER_CERT) as server, hostile.TrickleProxy(server.port) as proxy:
        rows.append(
            (
                "kubelet, trickling TLS handshake",
                run(
                    [
                        "check",
                        "--kubelet",
                        f"https://127.0.0.1:{proxy.port}/metrics",
                        "--cacert",
                        str(ca),
                        *flag,
                    ]
                ),
            )
        )
    rows.append(
        (
            "exec plugin that hangs with a child",
            run_exec_plugin(
                tmp,
                "import subprocess, time\nsubprocess.Popen(['sleep', '600'])\ntime.sleep(600)\n",
                *flag,
            ),
        )
    )
    width = max(len(name) for name, _ in rows)
    longest = max(seconds for _, (_, seconds, _, _) in rows)
    for name, (code, seconds, _, said) in rows:
        print(f"  {name:<{width}}  {seconds:6.2f} s  exit {code}  {said[:100]}")
    print(f"  longest: {longest:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("memory", "deadline", "both"), default="both")
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pleg-doctor-hostile-") as tmp:
        if args.part in ("deadline", "both"):
            deadlines(args.timeout, Path(tmp))
        if args.part in ("memory", "both"):
            memory(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
