"""Registering and editing clients (RFC 6749 §2): every rule a client's fields must pass.

``register_client`` mirrors oauthost's
``register_client('My OAuth Client', '1234', 'https://myapp.com/', user, scopes_list=...)``,
async and with the store first. ``update_client`` applies the same rules to an
edit, so the CLI, the admin and application code can never store a client that
registration would have refused.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from oauth_middleware import settings_checks
from oauth_middleware.audit import AuditTrail, removed
from oauth_middleware.limits import ACCESS_LIFETIME, MAX_CLIENT_SCOPES
from oauth_middleware.models import Client, Scope
from oauth_middleware.policy import validate_client_id
from oauth_middleware.scopes import validate_scope
from oauth_middleware.security import (
    hash_client_secret,
    new_client_id,
    new_generation,
    new_secret,
)
from oauth_middleware.signing import id_token_algorithm
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox.rules import (
    MAX_TEXT,
    MAX_TITLE,
    check_count,
    check_lifetime,
    check_token_format,
    check_typed_text,
    grant_types_for,
    link_field,
    redirect_uris_for,
    resources_for,
    scope_title,
    text_field,
)


class ClientExists(ValueError):
    """A client with this id is already registered."""


class UnknownClient(LookupError):
    """No client with this id is registered."""


class ClientChanged(UnknownClient):
    """The client was changed or removed between reading it and writing an edit of it:
    the edit was not written (it would have undone the other change)."""


class _Keep(enum.Enum):
    KEEP = "keep"


#: ``update_client(..., token_lifetime=KEEP)``: leave the lifetime as it is (None means never).
KEEP = _Keep.KEEP


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    """A client as just registered; ``client_secret`` exists only here, shown once."""

    client: Client
    client_secret: str | None = field(default=None, repr=False)


def registrant_of(user: Any) -> str:
    """Who registered a client, as text: a user object's identity or username, or ``str``."""
    if user is None:
        return ""
    return str(getattr(user, "identity", None) or getattr(user, "username", None) or user)


async def ensure_scopes(
    store: TokenStore, identifiers: Iterable[str], *, register_unknown: bool = True
) -> list[Scope]:
    """The scopes named, registering missing ones with a readable title when allowed.

    A scope registered meanwhile (by another worker, or the admin with its own title)
    is kept as it is: registering only creates (``create_scope``), never overwrites."""
    wanted = [validate_scope(s) for s in dict.fromkeys(identifiers)]
    check_count(wanted, MAX_CLIENT_SCOPES, "lists at most {} scopes")
    known = await store.get_scopes(wanted)
    missing = [s for s in wanted if s not in known]
    if missing and not register_unknown:
        raise ValueError(f"unknown scope {missing[0]!r}: register it first or allow registering")
    for identifier in missing:
        known[identifier] = Scope(identifier, scope_title(identifier))
        await store.create_scope(known[identifier])
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
    token_lifetime: int | None = ACCESS_LIFETIME,
    public: bool = True,
    grant_types: Iterable[str] | None = None,
    description: str = "",
    link: str = "",
    allow_http: bool = False,
    allow_plain_pkce: bool = False,
    replace_existing: bool = False,
    client_secret: str | None = None,
    allow_confidential_implicit: bool = False,
    resources: Sequence[str] = (),
    post_logout_redirect_uris: str | Sequence[str] = (),
    access_token_format: str = "opaque",
    access_token_alg: str | None = None,
    id_token_signed_response_alg: str = "",
    require_pushed_authorization_requests: bool = False,
    require_dpop: bool = False,
) -> RegisteredClient:
    """Register a client; a confidential one gets a secret, returned once and stored hashed.

    Refused with :class:`ClientExists` when ``identifier`` is taken: to run at every
    start, use :func:`~oauth_middleware.toolbox.ensure_client`. The arguments:

    - ``title``: shown on the consent page (1 to ``MAX_TITLE`` characters).
    - ``identifier``: the client id (``A-Z a-z 0-9 . _ ~ -``, up to 128), random when None.
    - ``redirect_uri``: one URI or a list, matched exactly (RFC 6749 §3.1.2): https, a
      private-use scheme, or plain http on loopback (anywhere with ``allow_http``).
    - ``registrant``: who registered it (a user object or a string), for the admin.
    - ``scopes_list``: the scopes it may be granted (None: any enabled scope); unknown
      ones are registered with a readable title unless ``register_unknown_scopes=False``.
    - ``token_lifetime``: seconds an access token lives, None for never expiring.
    - ``public``: True for browser and mobile apps (no secret, PKCE required); False for
      a confidential client, which gets a secret.
    - ``grant_types``: the grants it may use (None: authorization_code and refresh_token,
      plus client_credentials when confidential). ``implicit`` for a confidential
      client needs ``allow_confidential_implicit``.
    - ``description``, ``link``: shown on the consent page.
    - ``allow_plain_pkce``: accept the PKCE ``plain`` method from it (S256 always works).
    - ``replace_existing``: overwrite a client registered under ``identifier`` (keeping
      its generation, so its tokens stay valid) instead of raising ``ClientExists``.
    - ``client_secret``: a confidential client's secret (e.g. from the environment),
      at least 16 characters, instead of a generated one.
    - ``resources``: the resource URIs (RFC 8707) its tokens may be meant for; also its
      tokens' audience when it names none. Empty: any resource it asks for.
    - ``post_logout_redirect_uris``: where ``end_session/`` may send the user back after
      logging out (OpenID Connect RP-Initiated Logout 1.0), under the redirect URI rules.
    - ``access_token_format``: ``"opaque"`` (random values) or ``"jwt"`` (RFC 9068 JWTs
      signed with the server's keys, at most the key ring's ``max_token_lifetime``);
      ``access_token_alg``: ``RS256`` or ``ES256`` for them (None: the key ring's first).
    - ``id_token_signed_response_alg``: the JWS algorithm of its OpenID Connect ID tokens
      (``"ES256"``, ...); empty: RS256. The server's key ring must sign it.
    - ``require_pushed_authorization_requests``: ``auth/`` takes its requests only when
      pushed to ``par/`` first (RFC 9126 §6).
    - ``require_dpop``: refuse its token requests without a DPoP proof (RFC 9449 §5.2),
      so every token it gets is bound to its key (docs/guides/dpop.md).

    Titles, descriptions and the registrant are refused with control characters; an
    option of the wrong type is refused naming it (``settings_checks``).

    Each new registration gets a new ``generation``; tokens an earlier registration of
    the same id left behind (an interrupted removal) are revoked first, never inherited.
    """
    settings_checks.check_options("register_client", settings_checks.REGISTRATION, locals())
    if not title.strip():
        raise ValueError("a client needs a title")
    client_id = validate_client_id(identifier) if identifier else new_client_id()
    uris = redirect_uris_for([redirect_uri] if isinstance(redirect_uri, str) else redirect_uri,
                          allow_http)
    grants = grant_types_for(grant_types, public,
                             allow_confidential_implicit=allow_confidential_implicit)
    texts = (text_field(title, "title", MAX_TITLE),
             text_field(description, "description", MAX_TEXT, multiline=True),
             link_field(link), check_lifetime(token_lifetime))
    token_format = check_token_format(access_token_format, access_token_alg)
    existing = await store.get_client(client_id)
    if existing is not None and not replace_existing:
        raise ClientExists(f"client {client_id!r} is already registered")
    scopes = await ensure_scopes(store, scopes_list or (), register_unknown=register_unknown_scopes)
    if client_secret is not None and (public or len(client_secret) < 16):
        raise ValueError("client_secret is only for confidential clients, at least 16 characters")
    secret = None if public else client_secret or new_secret()
    client = Client(
        client_id=client_id, title=texts[0], redirect_uris=uris, public=public,
        secret_hash=None if secret is None else hash_client_secret(secret),
        scopes=tuple(s.identifier for s in scopes), grant_types=grants,
        token_lifetime=texts[3], description=texts[1], link=texts[2],
        registrant=check_typed_text(registrant_of(registrant), "registrant"),
        allow_plain_pkce=allow_plain_pkce, resources=resources_for(resources),
        post_logout_redirect_uris=redirect_uris_for(post_logout_redirect_uris, allow_http),
        id_token_signed_response_alg=id_token_algorithm(id_token_signed_response_alg),
        created_at=time.time(), access_token_format=token_format[0],
        access_token_alg=token_format[1],
        require_pushed_authorization_requests=require_pushed_authorization_requests,
        generation=new_generation() if existing is None else existing.generation,
        require_dpop=require_dpop,
    )
    if existing is None and await store.client_indexed(client_id):
        # what an interrupted removal left, and nothing a new registration got meanwhile
        await store.revoke_client_tokens(client_id, only_leftovers=True)
    if not await store.save_client(client, only="new" if existing is None else "same",
                                   over=existing):
        raise ClientExists(f"client {client_id!r} was registered or removed meanwhile")
    return RegisteredClient(client, secret)


def _described(
    client: Client, title: str | None, description: str | None, link: str | None
) -> dict[str, Any]:
    """The checked title, description and link of an edit (None keeps the client's)."""
    if title is not None and not title.strip():
        raise ValueError("a client needs a title")
    return {
        "title": client.title if title is None else text_field(title, "title", MAX_TITLE),
        "description": client.description if description is None
        else text_field(description, "description", MAX_TEXT, multiline=True),
        "link": client.link if link is None else link_field(link),
    }


async def update_client(
    store: TokenStore,
    client_id: str,
    *,
    title: str | None = None,
    redirect_uris: Sequence[str] | None = None,
    scopes_list: Sequence[str] | None = None,
    public: bool | None = None,
    grant_types: Iterable[str] | None = None,
    token_lifetime: int | _Keep | None = KEEP,
    description: str | None = None,
    link: str | None = None,
    allow_http: bool = False,
    allow_plain_pkce: bool | None = None,
    register_unknown_scopes: bool = False,
    allow_confidential_implicit: bool = False,
    resources: Sequence[str] | None = None,
    post_logout_redirect_uris: str | Sequence[str] | None = None,
    require_pushed_authorization_requests: bool | None = None,
    access_token_format: str | None = None,
    access_token_alg: str | None = None,
    id_token_signed_response_alg: str | None = None,
    require_dpop: bool | None = None,
) -> RegisteredClient:
    """Change a client's fields under the rules of ``register_client``; None keeps a field.

    ``access_token_format`` and ``access_token_alg`` change the tokens issued from now on
    (tokens already issued stay as they are); a client made opaque drops its algorithm,
    and ``access_token_alg=""`` goes back to the key ring's first.
    ``id_token_signed_response_alg=""`` goes back to RS256.

    Redirect URIs already registered are kept as they are; new ones are checked.
    So is a confidential client's implicit grant once forced; a client newly
    confidential with it, or newly given it, needs ``allow_confidential_implicit``.
    A public client made confidential gets a new secret (returned once); a
    confidential one made public loses its secret. Issued tokens keep their scopes.
    """
    client = await require_client(store, client_id)
    public = client.public if public is None else public
    changes = _described(client, title, description, link)
    changes["public"] = public
    forced = not client.public and "implicit" in client.grant_types
    changes["grant_types"] = grant_types_for(
        client.grant_types if grant_types is None else grant_types, public,
        allow_confidential_implicit=allow_confidential_implicit or forced)
    if allow_plain_pkce is not None:
        changes["allow_plain_pkce"] = allow_plain_pkce
    if require_pushed_authorization_requests is not None:
        changes["require_pushed_authorization_requests"] = require_pushed_authorization_requests
    if require_dpop is not None:
        changes["require_dpop"] = require_dpop
    if redirect_uris is not None:
        changes["redirect_uris"] = redirect_uris_for(redirect_uris, allow_http,
                                                     client.redirect_uris)
    if post_logout_redirect_uris is not None:
        changes["post_logout_redirect_uris"] = redirect_uris_for(
            post_logout_redirect_uris, allow_http, client.post_logout_redirect_uris)
    if token_lifetime is not KEEP:
        changes["token_lifetime"] = check_lifetime(token_lifetime)
    changes.update(_token_formats(client, access_token_format, access_token_alg,
                                  id_token_signed_response_alg))
    if resources is not None:
        changes["resources"] = resources_for(resources)
    if scopes_list is not None:
        scopes = await ensure_scopes(store, scopes_list, register_unknown=register_unknown_scopes)
        changes["scopes"] = tuple(s.identifier for s in scopes)
    secret = new_secret() if client.public and not public else None
    if public:
        changes["secret_hash"] = None
    elif secret is not None:
        changes["secret_hash"] = hash_client_secret(secret)
    edited = replace(client, **changes)
    await save_edit(store, edited, client)
    return RegisteredClient(edited, secret)


def _token_formats(client: Client, token_format: str | None, alg: str | None,
                   id_token_alg: str | None) -> dict[str, str]:
    """The checked access- and ID-token format fields of an edit (None keeps each)."""
    changes: dict[str, str] = {}
    if token_format is not None or alg is not None:
        wanted = client.access_token_format if token_format is None else token_format
        if alg is None:
            alg = client.access_token_alg if wanted == "jwt" else ""
        changes["access_token_format"], changes["access_token_alg"] = check_token_format(
            wanted, alg)
    if id_token_alg is not None:
        changes["id_token_signed_response_alg"] = id_token_algorithm(id_token_alg)
    return changes


async def rotate_secret(store: TokenStore, client_id: str) -> RegisteredClient:
    """Give a confidential client a new secret (the old one stops working at once)."""
    client = await require_client(store, client_id)
    if client.public:
        raise ValueError(f"client {client_id!r} is public and has no secret")
    secret = new_secret()
    rotated = replace(client, secret_hash=hash_client_secret(secret))
    await save_edit(store, rotated, client)
    return RegisteredClient(rotated, secret)


async def save_edit(store: TokenStore, client: Client, read: Client) -> None:
    """Store ``client``, edited from ``read``, over that same record, or
    :class:`UnknownClient` when it was removed, replaced or edited meanwhile (writing
    anyway would undo that edit: bring back a secret rotated away, drop a URI added)."""
    if not await store.save_client(client, only="same", over=read):
        raise ClientChanged(f"no client {client.client_id!r} as it was read: it was changed "
                            "or removed meanwhile; try again")


async def remove_client(store: TokenStore, client_id: str, *,
                        audit: AuditTrail | None = None, actor: str = "host") -> bool:
    """Forget a client, then revoke every token it has; False when it was not registered.

    The record goes first: from then on nothing more is issued to it (the issuing script
    checks the record), so the sweep of its index that follows, page by page, reaches
    every grant it ever had and none survives it. Leftovers of an earlier, interrupted
    removal are swept too. A client registered again under this id gets a new
    generation: a request that authenticated the old one issues nothing, and no consent
    remembered for the old one counts for it (they are forgotten too).

    ``audit``: the trail to record ``client.removed`` by ``actor`` in, and the tokens
    revoked with it (``token.revoked`` by ``cascade``).
    """
    existed = await store.delete_client(client_id)
    revoked = await store.revoke_client_tokens(client_id)
    await store.forget_client_consents(client_id)
    if existed or revoked:
        await removed(audit, client_id, revoked, actor=actor, reason="its grants revoked")
    return existed


async def require_client(store: TokenStore, client_id: str) -> Client:
    """The registered client ``client_id``, or :class:`UnknownClient`."""
    client = await store.get_client(client_id)
    if client is None:
        raise UnknownClient(f"no client {client_id!r}")
    return client
