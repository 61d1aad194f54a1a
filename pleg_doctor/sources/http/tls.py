"""TLS files: the CA bundle to verify with, the client certificate and key, checked before use
and written to private temp files when they come as PEM bytes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import requests.utils

from pleg_doctor.errors import SourceError, SourceTLSError
from pleg_doctor.sources.http.settings import HttpSettings, PemSource


def check_files(settings: HttpSettings) -> None:
    """Fail early, naming the file, when a CA / cert / key file is missing or unusable.

    Without this, `requests` raises a bare `OSError`, and OpenSSL would prompt on the terminal for
    the passphrase of an encrypted key, hanging a cron job.
    """
    for label, value in (
        ("CA file", settings.ca),
        ("client certificate", settings.client_cert),
        ("client key", settings.client_key),
    ):
        if isinstance(value, Path) and not value.is_file():
            raise SourceError(f"{label} {value} not found")
    key = settings.client_key if settings.client_key is not None else settings.client_cert
    if key is None:
        return
    name = f" {key}" if isinstance(key, Path) else ""
    try:
        data = key.read_bytes() if isinstance(key, Path) else key
    except OSError as exc:
        raise SourceError(
            f"cannot read client key{name}: {exc.strerror or type(exc).__name__}"
        ) from exc
    if b"ENCRYPTED" in data:
        raise SourceTLSError(
            f"client key{name} is protected by a passphrase, which pleg-doctor cannot ask for",
            hint="write an unencrypted copy: openssl pkey -in KEY -out KEY.plain (keep it 0600)",
        )


def default_ca_bundle() -> tuple[str, str]:
    """The CA bundle used when none is given, and how to name it.

    `trust_env` is off (it would also pull credentials from `~/.netrc`), so the variables requests
    honours for the bundle are read here explicitly.
    """
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = os.environ.get(name)
        if value:
            return value, f"the system CA bundle ({value}, from {name})"
    path = requests.utils.DEFAULT_CA_BUNDLE_PATH
    return path, f"the system CA bundle ({path})"


def ca_label(settings: HttpSettings) -> str:
    """How messages name the CA the server is verified with."""
    if settings.ca_label is not None:
        return settings.ca_label
    if isinstance(settings.ca, Path):
        return f"CA file {settings.ca}"
    if settings.ca is not None:
        return "the given CA data"
    return default_ca_bundle()[1]


@contextlib.contextmanager
def tls_files(
    settings: HttpSettings,
) -> Iterator[tuple[bool | str, str | tuple[str, str] | None]]:
    """Yield `requests`' `verify` and `cert` arguments, writing PEM bytes to private temp files.

    The temp directory is 0700 (mkdtemp) and the files 0600; both are removed when the request is
    done, so key material from a kubeconfig's `client-key-data` sits on disk only while needed.
    """
    with contextlib.ExitStack() as stack:
        tmpdir: str | None = None

        def as_path(value: PemSource, name: str) -> str:
            nonlocal tmpdir
            if isinstance(value, Path):
                return str(value)
            if tmpdir is None:
                tmpdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="pleg-doctor-"))
            path = os.path.join(tmpdir, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(value)
            return path

        verify: bool | str
        if settings.insecure_skip_tls_verify:
            verify = False
        elif settings.ca is not None:
            verify = as_path(settings.ca, "ca.crt")
        else:
            verify = default_ca_bundle()[0]
        cert: str | tuple[str, str] | None = None
        if settings.client_cert is not None:
            cert_path = as_path(settings.client_cert, "client.crt")
            if settings.client_key is not None:
                cert = (cert_path, as_path(settings.client_key, "client.key"))
            else:
                cert = cert_path
        yield verify, cert
