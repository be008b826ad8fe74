"""A client's redirect URIs, one at a time (RFC 6749 §3.1.2), under the registration rules."""

from __future__ import annotations

from dataclasses import replace

from oauth_middleware.limits import MAX_REDIRECT_URIS
from oauth_middleware.models import Client
from oauth_middleware.redirects import validate_redirect_uri
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox.clients import require_client, save_edit
from oauth_middleware.toolbox.rules import check_count


async def add_redirect_uri(
    store: TokenStore, client_id: str, uri: str, *, allow_http: bool = False
) -> Client:
    """Register one more redirect URI, checked by the rules ``register_client`` applies."""
    validate_redirect_uri(uri, allow_http=allow_http)
    client = await require_client(store, client_id)
    if uri not in client.redirect_uris:
        edited = replace(client, redirect_uris=(*client.redirect_uris, uri))
        check_count(edited.redirect_uris, MAX_REDIRECT_URIS, "has at most {} redirect URIs")
        await save_edit(store, edited, client)
        return edited
    return client


async def remove_redirect_uri(store: TokenStore, client_id: str, uri: str) -> Client:
    """Forget one redirect URI (an exact match, as the authorization endpoint compares)."""
    client = await require_client(store, client_id)
    if uri not in client.redirect_uris:
        raise ValueError(f"client {client_id!r} has no redirect URI {uri!r}")
    edited = replace(client, redirect_uris=tuple(u for u in client.redirect_uris if u != uri))
    await save_edit(store, edited, client)
    return edited
