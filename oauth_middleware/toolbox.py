"""Management calls shared by the app, the CLI and the admin (oauthost's ``toolbox``).

``register_client`` mirrors oauthost's
``register_client('My OAuth Client', '1234', 'https://myapp.com/', user, scopes_list=...)``,
async and with the store first. Every rule that decides what a client may have
(scopes, redirect URIs, grant types) lives here, so no caller can skip one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from oauth_middleware.errors import InvalidScope
from oauth_middleware.models import (
    DEFAULT_CONFIDENTIAL_GRANTS,
    DEFAULT_PUBLIC_GRANTS,
    GRANT_TYPES,
    Client,
    GrantType,
    IssuedTokens,
    Scope,
)
from oauth_middleware.redirects import validate_redirect_uri
from oauth_middleware.scopes import validate_scope
from oauth_middleware.security import hash_client_secret, new_client_id, new_secret
from oauth_middleware.store import NewTokens, TokenStore

_CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{1,128}")


class ClientExists(ValueError):
    """A client with this id is already registered."""


class UnknownClient(LookupError):
    """No client with this id is registered."""


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    """A client as just registered; ``client_secret`` exists only here, shown once."""

    client: Client
    client_secret: str | None = field(default=None, repr=False)


def scope_title(identifier: str) -> str:
    """A readable default title: ``"polls:results"`` -> ``"Polls Results"``."""
    words = re.split(r"[:_\-./]+", identifier)
    return " ".join(w[:1].upper() + w[1:] for w in words if w)


def validate_client_id(client_id: str) -> str:
    if not _CLIENT_ID.fullmatch(client_id):
        raise ValueError("a client id is 1 to 128 of the characters A-Z a-z 0-9 . _ ~ -")
    return client_id


def _grant_types(grant_types: Iterable[str] | None, public: bool) -> tuple[GrantType, ...]:
    if grant_types is None:
        return DEFAULT_PUBLIC_GRANTS if public else DEFAULT_CONFIDENTIAL_GRANTS
    chosen = tuple(dict.fromkeys(grant_types))
    unknown = [g for g in chosen if g not in GRANT_TYPES]
    if unknown:
        raise ValueError(f"unknown grant type {unknown[0]!r}: choose from {', '.join(GRANT_TYPES)}")
    if public and ("client_credentials" in chosen or "password" in chosen):
        raise ValueError("public clients cannot use client_credentials or password: "
                         "register the client as confidential")
    return chosen  # type: ignore[return-value]


def _registrant(user: Any) -> str:
    if user is None:
        return ""
    return str(getattr(user, "identity", None) or getattr(user, "username", None) or user)


async def ensure_scopes(
    store: TokenStore, identifiers: Iterable[str], *, register_unknown: bool = True
) -> list[Scope]:
    """The scopes named, registering missing ones with a readable title when allowed."""
    wanted = [validate_scope(s) for s in dict.fromkeys(identifiers)]
    known = await store.get_scopes(wanted)
    missing = [s for s in wanted if s not in known]
    if missing and not register_unknown:
        raise ValueError(f"unknown scope {missing[0]!r}: register it first or allow registering")
    for identifier in missing:
        known[identifier] = Scope(identifier, scope_title(identifier))
        await store.save_scope(known[identifier])
    return [known[s] for s in wanted]


async def register_client(
    store: TokenStore,
    title: str,
    identifier: str | None = None,
    redirect_uri: str | Sequence[str] = (),
    registrant: Any = None,
    *,
    scopes_list: Sequence[str] | None = None,
    register_unknown_scopes: bool = True,
    token_lifetime: int | None = 3600,
    public: bool = True,
    grant_types: Iterable[str] | None = None,
    description: str = "",
    link: str = "",
    allow_http: bool = False,
    allow_plain_pkce: bool = False,
    replace_existing: bool = False,
    client_secret: str | None = None,
) -> RegisteredClient:
    """Register a client; a confidential one gets a secret, returned once and stored hashed.

    ``client_secret`` sets a confidential client's secret (e.g. from the environment)
    instead of generating one; it must be at least 16 characters.
    """
    if not title.strip():
        raise ValueError("a client needs a title")
    client_id = validate_client_id(identifier) if identifier else new_client_id()
    uris = [redirect_uri] if isinstance(redirect_uri, str) else list(redirect_uri)
    uris = list(dict.fromkeys(validate_redirect_uri(u, allow_http=allow_http) for u in uris))
    if token_lifetime is not None and token_lifetime <= 0:
        raise ValueError("token_lifetime must be a positive number of seconds, or None for never")
    grants = _grant_types(grant_types, public)
    if not replace_existing and await store.get_client(client_id) is not None:
        raise ClientExists(f"client {client_id!r} is already registered")
    scopes = await ensure_scopes(store, scopes_list or (), register_unknown=register_unknown_scopes)
    if client_secret is not None and (public or len(client_secret) < 16):
        raise ValueError("client_secret is only for confidential clients, at least 16 characters")
    secret = None if public else client_secret or new_secret()
    client = Client(
        client_id=client_id, title=title.strip(), redirect_uris=tuple(uris), public=public,
        secret_hash=None if secret is None else hash_client_secret(secret),
        scopes=tuple(s.identifier for s in scopes), grant_types=grants,
        token_lifetime=token_lifetime, description=description, link=link,
        registrant=_registrant(registrant), allow_plain_pkce=allow_plain_pkce,
        created_at=time.time(),
    )
    await store.save_client(client)
    return RegisteredClient(client, secret)


async def rotate_secret(store: TokenStore, client_id: str) -> RegisteredClient:
    """Give a confidential client a new secret (the old one stops working at once)."""
    client = await store.get_client(client_id)
    if client is None:
        raise UnknownClient(f"no client {client_id!r}")
    if client.public:
        raise ValueError(f"client {client_id!r} is public and has no secret")
    secret = new_secret()
    client = replace(client, secret_hash=hash_client_secret(secret))
    await store.save_client(client)
    return RegisteredClient(client, secret)


async def remove_client(store: TokenStore, client_id: str) -> bool:
    """Revoke every token of a client, then forget it."""
    await store.revoke_client_tokens(client_id)
    return await store.delete_client(client_id)


async def grantable_scopes(
    store: TokenStore, client: Client, requested: Iterable[str] | None
) -> frozenset[str]:
    """The scopes a request may be granted (RFC 6749 §3.3), or :class:`InvalidScope`.

    Requested scopes must be registered, enabled and allowed for the client (a
    client with no scope list may have any enabled scope). With nothing
    requested the client's own list is the default; without a list there is no
    default and the request is refused.
    """
    asked = list(dict.fromkeys(requested or ()))
    if not asked:
        if not client.scopes:
            raise InvalidScope("No scope was requested and the client has no default scope.")
        asked = list(client.scopes)
    if client.scopes and not set(asked) <= set(client.scopes):
        raise InvalidScope("A requested scope is not allowed for this client.")
    known = await store.get_scopes(asked)
    granted = frozenset(s for s in asked if s in known and known[s].enabled)
    if not requested and granted:
        return granted
    if granted != set(asked):
        raise InvalidScope("A requested scope is unknown or disabled.")
    return granted


async def issue_token(
    store: TokenStore,
    client_id: str,
    *,
    user: str | None = None,
    scopes: Iterable[str] | None = None,
    lifetime: int | None = None,
) -> IssuedTokens:
    """Issue a token directly (CLI, admin, tests): for ``user``, or for the client itself.

    The client's scope rules apply; the lifetime defaults to the client's. A
    refresh token comes along when a user is named and the client may refresh.
    """
    if lifetime is not None and lifetime <= 0:
        raise ValueError("a token lifetime must be a positive number of seconds")
    client = await require_client(store, client_id)
    granted = await grantable_scopes(store, client, scopes)
    spec = NewTokens(
        client_id=client.client_id,
        subject=user if user is not None else client.client_id,
        subject_type="user" if user is not None else "client",
        scopes=granted,
        lifetime=client.token_lifetime if lifetime is None else lifetime,
        refresh=user is not None and client.allows("refresh_token"),
    )
    return await store.issue(spec)


async def require_client(store: TokenStore, client_id: str) -> Client:
    """The registered client ``client_id``, or :class:`UnknownClient`."""
    client = await store.get_client(client_id)
    if client is None:
        raise UnknownClient(f"no client {client_id!r}")
    return client


async def add_redirect_uri(
    store: TokenStore, client_id: str, uri: str, *, allow_http: bool = False
) -> Client:
    """Register one more redirect URI, checked by the rules ``register_client`` applies."""
    validate_redirect_uri(uri, allow_http=allow_http)
    client = await require_client(store, client_id)
    if uri not in client.redirect_uris:
        client = replace(client, redirect_uris=(*client.redirect_uris, uri))
        await store.save_client(client)
    return client


async def remove_redirect_uri(store: TokenStore, client_id: str, uri: str) -> Client:
    """Forget one redirect URI (an exact match, as the authorization endpoint compares)."""
    client = await require_client(store, client_id)
    if uri not in client.redirect_uris:
        raise ValueError(f"client {client_id!r} has no redirect URI {uri!r}")
    client = replace(client, redirect_uris=tuple(u for u in client.redirect_uris if u != uri))
    await store.save_client(client)
    return client
