"""The wire: a requests adapter without urllib3 retries, connections that never print headers
and whose sockets the request's deadline watches, an optional SNI override, and the proxy for a
URL.
"""

from __future__ import annotations

import socket
from typing import Any

import requests
import requests.adapters
import requests.utils
import urllib3
import urllib3.connection

from pleg_doctor.sources.http.deadline import current as current_deadline
from pleg_doctor.sources.http.settings import HttpSettings


class _Watched(urllib3.connection.HTTPConnection):
    """A connection whose socket the request's deadline watches (`deadline.current()`).

    The socket is handed over as soon as it is connected, before any TLS handshake, so the
    deadline also cuts a handshake that trickles.
    """

    # NOTE: `http.client.HTTPConnection.debuglevel = 1` is the usual recipe for debugging requests,
    # and makes http.client print every request header, Authorization included, to stdout. Pinning
    # the attribute on our own connection classes keeps that switch from reaching our requests.
    debuglevel = 0

    def _new_conn(self) -> socket.socket:
        """The connected socket, watched by the request's deadline."""
        sock = super()._new_conn()
        deadline = current_deadline()
        if deadline is not None:
            deadline.watch(sock)
        return sock


class _HTTPConnection(_Watched):
    pass


class _HTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _HTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOL_CLASSES: dict[str, type[urllib3.HTTPConnectionPool]] = {
    "http": _HTTPConnectionPool,
    "https": _HTTPSConnectionPool,
}


class Adapter(requests.adapters.HTTPAdapter):
    """No urllib3 retries (we count our own), quiet connections, optional SNI override."""

    def __init__(self, *, tls_server_name: str | None) -> None:
        self._tls_kwargs: dict[str, Any] = (
            {"server_hostname": tls_server_name, "assert_hostname": tls_server_name}
            if tls_server_name
            else {}
        )
        super().__init__(max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        """requests' pool manager, with our connection classes and the SNI override."""
        pool_kwargs.update(self._tls_kwargs)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOL_CLASSES)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """requests' proxy manager, with our connection classes (SOCKS aside) and SNI override."""
        if proxy not in self.proxy_manager:
            proxy_kwargs.update(self._tls_kwargs)
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            # SOCKS managers bring their own pool classes; replacing them would skip the proxy.
            manager.pool_classes_by_scheme = dict(_POOL_CLASSES)
        return manager


def proxies_for(url: str, settings: HttpSettings) -> dict[str, str]:
    """The proxies for `url`: the kubeconfig's `proxy-url`, else `HTTPS_PROXY`/`NO_PROXY`."""
    if settings.proxy_url:
        return {"http": settings.proxy_url, "https": settings.proxy_url}
    # Honour HTTPS_PROXY / NO_PROXY like kubectl does, without `trust_env` (see default_ca_bundle).
    return dict(requests.utils.get_environ_proxies(url))
