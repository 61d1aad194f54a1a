"""From the command line's source options to `MetricsSource`s (docs/sources.md).

One place decides which source the user asked for, refuses ambiguous combinations, and, when no
source is given, says which ways exist and which local credentials would work on this machine.
The live sources (and so `requests`) are imported only when asked for: diagnosing a file must not
pay for them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pleg_doctor.core.records import record
from pleg_doctor.errors import UsageError
from pleg_doctor.sources.base import MetricsSource

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_TIMEOUT_SECONDS = 10.0

# Credentials that commonly sit on a node and reach the kubelet's /metrics (docs/sources.md#the-kubelet).
# Strings, not Paths: pathlib is imported only when the hint is needed (start-up cost of check).
_KUBEADM_KUBELET_CLIENT = (
    "/etc/kubernetes/pki/apiserver-kubelet-client.crt",
    "/etc/kubernetes/pki/apiserver-kubelet-client.key",
)
_SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


@record(kw_only=True)
class SourceOptions:
    """Everything the user said about where the metrics come from."""

    files: tuple[str, ...] = ()
    demo: bool = False
    kubelet: str | None = None
    token: str | None = None
    token_file: str | None = None
    cacert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    insecure_skip_tls_verify: bool = False
    node: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    @property
    def is_live(self) -> bool:
        """A live source (kubelet or API server) was chosen."""
        return self.kubelet is not None or self.node is not None


def build_sources(options: SourceOptions, *, live_only: bool = False) -> list[MetricsSource]:
    """The sources to read, in order; raises `UsageError` for contradictory or missing choices."""
    chosen = [
        name
        for name, given in (
            ("FILE", bool(options.files)),
            ("--demo", options.demo),
            ("--kubelet", options.kubelet is not None),
            ("--node", options.node is not None),
        )
        if given
    ]
    if len(chosen) > 1:
        raise UsageError(f"give one source, not {' and '.join(chosen)}")
    kubelet_auth = [
        flag
        for flag, value in (
            ("--kubelet-token", options.token),
            ("--kubelet-token-file", options.token_file),
            ("--client-cert", options.client_cert),
            ("--client-key", options.client_key),
        )
        if value is not None
    ]
    if kubelet_auth and options.kubelet is None:
        raise UsageError(f"{', '.join(kubelet_auth)} only applies to --kubelet")
    if (options.kubeconfig or options.context) and options.node is None:
        raise UsageError("--kubeconfig and --context only apply to --node")
    if options.files.count("-") > 1:
        raise UsageError("standard input (-) can be given only once")
    if options.kubelet is not None:
        from pleg_doctor.sources.kubelet import KubeletSource

        return [
            KubeletSource(
                options.kubelet,
                token=options.token,
                token_file=options.token_file,
                cacert=options.cacert,
                client_cert=options.client_cert,
                client_key=options.client_key,
                insecure_skip_tls_verify=options.insecure_skip_tls_verify,
                timeout=options.timeout,
            )
        ]
    if options.node is not None:
        if options.cacert or options.insecure_skip_tls_verify:
            raise UsageError(
                "--cacert and --insecure-skip-tls-verify apply to --kubelet; with --node the "
                "kubeconfig's cluster entry decides"
            )
        from pleg_doctor.sources.apiserver import ApiServerSource

        return [
            ApiServerSource(
                options.node,
                kubeconfig=options.kubeconfig,
                context=options.context,
                timeout=options.timeout,
            )
        ]
    if live_only and (options.files or options.demo):
        raise UsageError(
            "this command reads a live source: --kubelet HOST or --node NAME",
        )
    if options.demo:
        from pleg_doctor.sources.files import DemoSource

        return [DemoSource()]
    if options.files:
        from pleg_doctor.sources.files import FileSource

        return [FileSource(path) for path in options.files]
    raise UsageError(no_source_message(live_only=live_only), hint=local_credential_hint())


def no_source_message(*, live_only: bool = False) -> str:
    """The one line listing the ways to give a source."""
    ways = "--kubelet HOST (the kubelet on :10250) or --node NAME (through the API server)"
    if live_only:
        return f"no source given: pass {ways}"
    return f"no source given: pass a dump FILE (- for stdin), --demo, {ways}"


def local_credential_hint(
    *,
    kubelet_client: Sequence[str | os.PathLike[str]] = _KUBEADM_KUBELET_CLIENT,
    service_account_token: str | os.PathLike[str] = _SERVICE_ACCOUNT_TOKEN,
    home: Path | None = None,
) -> str | None:
    """A command that would work here, from credentials found on this machine (or None)."""
    from pathlib import Path

    cert, key = (Path(path) for path in kubelet_client)
    service_account_token = Path(service_account_token)
    if cert.is_file() and key.is_file():
        # A kubeadm control-plane node: the API server's own kubelet client certificate.
        return (
            f"this node has {cert}: try pleg-doctor diagnose --kubelet 127.0.0.1 "
            f"--client-cert {cert} --client-key {key} --insecure-skip-tls-verify"
        )
    if service_account_token.is_file():
        return (
            "running in a pod with a service-account token: try "
            "pleg-doctor diagnose --kubelet $NODE_IP (RBAC: get nodes/metrics)"
        )
    config = (
        Path(os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "")
        if os.environ.get("KUBECONFIG")
        else (home or Path.home()) / ".kube" / "config"
    )
    if config.is_file():
        return f"found kubeconfig {config}: try pleg-doctor diagnose --node NODE_NAME"
    return None
