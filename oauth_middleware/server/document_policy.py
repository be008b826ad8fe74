"""Which Client ID Metadata Documents a server accepts, and how it fetches them (CIMD draft §3-§6).

The options of ``AuthorizationServer(client_metadata_documents=ClientMetadataPolicy())``;
the fetching is :mod:`oauth_middleware.safe_fetch`'s, the clients
:mod:`.client_documents`'. Every bound is checked here, at construction.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

#: ``resolve(host, port)``: the host's addresses as text (tests inject one; see safe_fetch).
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Longest Client Identifier URL accepted (characters).
MAX_URL = 255
_DAY = 86_400


@dataclass(frozen=True, kw_only=True)
class ClientMetadataPolicy:
    """Clients whose ``client_id`` is an https URL of their metadata (opt-in, per server).

    Such a client is public (``token_endpoint_auth_method`` ``none``; ``private_key_jwt``
    is not supported) and is shown as unverified, with its host name, on the consent page.
    """

    #: Bytes of a document read at most (the draft recommends 5 KB); past them, refused.
    max_bytes: int = 5 * 1024
    #: Seconds one fetch may take in all: lookup, connection, TLS, headers and body.
    timeout: float = 5.0
    #: Seconds a document is used before it is fetched again: its ``Cache-Control: max-age``
    #: (or ``Expires``), ``default_ttl`` when it has neither, always within these bounds
    #: (``no-store`` and ``no-cache`` get ``min_ttl``: a sign-in needs the document twice).
    min_ttl: int = 60
    max_ttl: int = _DAY
    default_ttl: int = 3600
    #: Seconds a failed fetch is remembered, so a failing host is not fetched on every
    #: request that names it (the draft says not to cache errors: 0 follows it strictly).
    failure_ttl: int = 10
    #: Document clients the store keeps at most, server-wide; past them new URLs are refused.
    max_clients: int = 10_000
    #: Fetches one caller address may cause per ``window`` seconds (429 past them).
    per_address: int = 30
    window: int = 60
    #: The scopes a document client may be granted; empty: any enabled scope.
    scopes: tuple[str, ...] = ()
    #: https redirect URIs must be on the client id's host (loopback http and private-use
    #: schemes, for native apps, are always allowed). False: any https redirect URI.
    same_host_redirects: bool = True
    #: Networks fetched from although special-use (``"127.0.0.1/32"`` for a test server,
    #: an intranet the operator chose). Empty by default: only public addresses.
    allowed_networks: tuple[str, ...] = ()
    #: The name lookup (default: the system's); for tests.
    resolver: Resolver | None = field(default=None, repr=False, compare=False)
    #: The TLS trust (default: httpx's CA bundle); for tests and private CAs.
    tls_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 512 <= self.max_bytes <= 1024 * 1024:
            raise ValueError("ClientMetadataPolicy.max_bytes must be 512 to 1048576 bytes")
        if not 0 < self.timeout <= 60:
            raise ValueError("ClientMetadataPolicy.timeout must be above 0 and at most 60 s")
        if not 0 <= self.min_ttl <= self.default_ttl <= self.max_ttl <= 30 * _DAY:
            raise ValueError("ClientMetadataPolicy needs 0 <= min_ttl <= default_ttl <= "
                             "max_ttl <= 30 days (seconds)")
        if not 0 <= self.failure_ttl <= 3600:
            raise ValueError("ClientMetadataPolicy.failure_ttl must be 0 to 3600 seconds")
        for name, top in (("max_clients", 10**7), ("per_address", 10**6), ("window", _DAY)):
            if not 0 < getattr(self, name) <= top:
                raise ValueError(f"ClientMetadataPolicy.{name} must be 1 to {top}")
        self.networks()  # a malformed network fails here, not at the first fetch

    def networks(self) -> tuple[Network, ...]:
        try:
            return tuple(ipaddress.ip_network(n) for n in self.allowed_networks)
        except (TypeError, ValueError):
            raise ValueError("ClientMetadataPolicy.allowed_networks takes networks such as "
                             "'127.0.0.1/32' or '10.20.0.0/16'") from None
