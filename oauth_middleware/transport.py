"""Which requests may travel in plain HTTP (RFC 6749 §3.1, §10.9; RFC 6750 §5.3).

Outside debug mode tokens, codes and secrets travel over TLS only. One exception
needs no flag: a request that never left the machine. Its peer (``scope["client"]``)
AND its ``Host`` header must both be loopback — ``127.0.0.0/8``, ``::1`` or
``localhost``, with or without a port — and it must carry no proxy header
(``Forwarded``, ``X-Forwarded-*``, ``X-Real-IP``, ``Via``) and not be HTTP/1.0.
That is what browsers treat as a secure context. Each condition closes one hole:

- the peer: a remote client can send ``Host: localhost``;
- the Host: a page on ``evil.example`` rebound by DNS to 127.0.0.1 reaches a local
  server from the user's browser, with its own name in ``Host``;
- the proxy headers: a proxy on the same machine is a loopback peer, and some
  send the upstream's own address as ``Host``;
- HTTP/1.0: nginx's defaults are exactly that — ``Host`` the upstream address,
  HTTP/1.0, and no proxy header at all. Browsers and local tools speak HTTP/1.1+.
  A proxy configured to speak HTTP/1.1 upstream, to rewrite ``Host`` and to add
  none of those headers is not detectable: it must be told to add them.

Behind a TLS-terminating proxy, let the ASGI server set ``scope["scheme"]`` from the
proxy's headers (uvicorn ``--proxy-headers --forwarded-allow-ips=...``); nothing here
reads ``X-Forwarded-Proto`` itself (DESIGN decision 8).
"""

from __future__ import annotations

import ipaddress
import logging

from starlette.types import Scope

logger = logging.getLogger("oauth_middleware.transport")

#: Headers only a proxy adds: a request carrying one did not start on this machine.
PROXY_HEADERS = frozenset({
    b"forwarded", b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto",
    b"x-real-ip", b"via",
})
#: Longest port in a Host header (RFC 3986 §3.2.3 allows any digits; 65535 has five).
_MAX_PORT_DIGITS = 5


def is_loopback_ip(value: str) -> bool:
    """True for an address in 127.0.0.0/8 or ``::1`` (an IPv4-mapped one included)."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_loopback_host(value: bytes) -> bool:
    """True for a ``Host`` value naming this machine: ``localhost``, ``127.x.y.z`` or
    ``[::1]``, each with an optional port; ``localhost.evil.example`` is not one."""
    try:
        host = value.decode("ascii")
    except UnicodeDecodeError:
        return False
    if host.startswith("["):
        name, bracket, rest = host[1:].partition("]")
        if not bracket or ":" not in name:
            return False
        port = rest.removeprefix(":") if rest else ""
        if rest and (not rest.startswith(":") or not port):
            return False
    else:
        name, colon, port = host.partition(":")
        if colon and not port:
            return False
    if port and (len(port) > _MAX_PORT_DIGITS or not port.isascii() or not port.isdigit()):
        return False
    return name.lower() == "localhost" or is_loopback_ip(name)


def is_local(scope: Scope) -> bool:
    """True when the request came from this machine to this machine, through no proxy."""
    client = scope.get("client")
    if not client or not isinstance(client[0], str) or not is_loopback_ip(client[0]):
        return False
    if scope.get("http_version") == "1.0":  # what nginx forwards by default (module doc)
        return False
    hosts = []
    for name, value in scope.get("headers", ()):
        if name in PROXY_HEADERS:
            return False
        if name == b"host":
            hosts.append(value)
    return len(hosts) == 1 and is_loopback_host(hosts[0])


class Transport:
    """The HTTPS rule of one app (middleware, authorization server or admin).

    ``secure(scope)`` is True over TLS, in debug mode, or for a local request
    (:func:`is_local`); the first local plain-HTTP request accepted logs one
    warning, so a deployment that is reached this way by accident says so.
    """

    __slots__ = ("_warned", "debug", "name")

    def __init__(self, *, debug: bool = False, name: str = "oauth_middleware") -> None:
        self.debug = debug
        self.name = name
        self._warned = False

    def __repr__(self) -> str:
        return f"Transport(debug={self.debug!r}, name={self.name!r})"

    def secure(self, scope: Scope) -> bool:
        # ASGI: a missing scheme means plain "http" (or "ws").
        if scope.get("scheme") in ("https", "wss") or self.debug:
            return True
        if not is_local(scope):
            return False
        if not self._warned:
            self._warned = True
            logger.warning("%s: accepting plain HTTP from this machine (loopback peer and "
                           "Host); every other request needs HTTPS", self.name)
        return True
