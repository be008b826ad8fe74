"""The ``sub`` a client sees (OpenID Connect Core 1.0 §8): public or pairwise.

Public: the user id itself, the same for every client. Pairwise: one opaque value
per user and sector, so two clients of different sectors cannot tell they share a
user (§8.1). The sector is the host of the client's redirect URIs when they share
one (§8.1: "the host component of the redirect_uri"); a client registered with
redirect URIs on several hosts would need a ``sector_identifier_uri``, which this
server does not fetch, so it gets a sector of its own (its client id). The value is
an HMAC keyed from the server's secret key: stable across workers and restarts,
and changing that key changes every pairwise ``sub``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from oauth_middleware.models import Client
from oauth_middleware.security import pairwise_subject
from oauth_middleware.server.oidc.provider import OpenIDProvider


def sector_of(client: Client) -> str:
    """The client's sector identifier (§8.1)."""
    hosts = {(urlsplit(uri).hostname or "") for uri in client.redirect_uris}
    if len(hosts) == 1 and "" not in hosts:
        return hosts.pop()
    return f"client:{client.client_id}"


def subject(provider: OpenIDProvider, secret_key: bytes, client: Client, user: str) -> str:
    """The ``sub`` of ``user`` in every ID token and UserInfo answer ``client`` gets."""
    if provider.subject_type == "public":
        return user
    return pairwise_subject(secret_key, sector_of(client), user)
