"""Idempotent provisioning (RFC 6749 §2): make a client match its arguments, at every start.

``register_client`` refuses an id that exists (``ClientExists``), so an app that
registers its own clients in its lifespan works once. ``ensure_client`` creates
the client, or changes it to match, or leaves it alone when it already does;
every worker of every deploy can call it at once. Each write is decided in Redis
by the store's ``SAVE_CLIENT`` script (create only if absent; update only over the
registration that was read), one whole record at a time, so a client is never
half written; a call that loses a race reads the winner's record and tries again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from oauth_middleware import settings_checks
from oauth_middleware.models import Client
from oauth_middleware.policy import validate_client_id
from oauth_middleware.security import (
    hash_client_secret,
    new_generation,
    new_secret,
    verify_client_secret,
)
from oauth_middleware.signing import id_token_algorithm
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox.clients import ensure_scopes, registrant_of
from oauth_middleware.toolbox.rules import (
    MAX_TEXT,
    MAX_TITLE,
    check_lifetime,
    check_token_format,
    check_typed_text,
    grant_types_for,
    link_field,
    redirect_uris_for,
    resources_for,
    text_field,
)

#: Reads and writes one call makes before giving up on a client that keeps changing.
MAX_ATTEMPTS = 10
Outcome = Literal["created", "updated", "unchanged"]


class ProvisioningConflict(RuntimeError):
    """The client changed under every attempt (something else keeps rewriting it)."""


@dataclass(frozen=True, slots=True)
class EnsuredClient:
    """The client as stored after :func:`ensure_client`, and what the call did to it.

    ``client_secret`` is set only when this call generated the secret (a new
    confidential client given none): shown once, as by ``register_client``.
    """

    client: Client
    outcome: Outcome
    client_secret: str | None = field(default=None, repr=False)


async def ensure_client(
    store: TokenStore,
    client_id: str,
    title: str,
    *,
    redirect_uris: str | Sequence[str] = (),
    public: bool = True,
    client_secret: str | None = None,
    grant_types: Iterable[str] | None = None,
    scopes_list: Sequence[str] | None = None,
    register_unknown_scopes: bool = True,
    token_lifetime: int | None = 3600,
    description: str = "",
    link: str = "",
    registrant: Any = None,
    allow_http: bool = False,
    allow_plain_pkce: bool = False,
    allow_confidential_implicit: bool = False,
    resources: Sequence[str] = (),
    post_logout_redirect_uris: str | Sequence[str] = (),
    access_token_format: str = "opaque",
    access_token_alg: str | None = None,
    id_token_signed_response_alg: str = "",
    require_pushed_authorization_requests: bool = False,
    require_dpop: bool = False,
) -> EnsuredClient:
    """Create client ``client_id`` or change it to match these arguments; safe to run at
    every start, by every worker at once.

    The arguments mean what they mean for ``register_client`` and pass the same rules.
    A confidential client's secret: ``client_secret`` given, the stored hash is made to
    match it (kept as it is when it matches already, so a secret is never rotated by
    a restart); none given, an existing secret is kept and a new client gets a
    generated one, returned once in :attr:`EnsuredClient.client_secret` to the one
    call that created it. Its ``generation`` and ``created_at`` are kept on update,
    so its tokens stay valid; fields not named here (none) are never left behind.
    """
    settings_checks.check_options("ensure_client", settings_checks.REGISTRATION, locals())
    if client_secret is not None and (public or len(client_secret) < 16):
        raise ValueError("client_secret is only for confidential clients, at least 16 characters")
    if not title.strip():
        raise ValueError("a client needs a title")
    wanted = {
        "client_id": validate_client_id(client_id),
        "title": text_field(title, "title", MAX_TITLE),
        "redirect_uris": redirect_uris_for(
            [redirect_uris] if isinstance(redirect_uris, str) else redirect_uris, allow_http),
        "public": public,
        "grant_types": grant_types_for(grant_types, public,
                                       allow_confidential_implicit=allow_confidential_implicit),
        "token_lifetime": check_lifetime(token_lifetime),
        "description": text_field(description, "description", MAX_TEXT, multiline=True),
        "link": link_field(link),
        "registrant": check_typed_text(registrant_of(registrant), "registrant"),
        "allow_plain_pkce": allow_plain_pkce,
        "resources": resources_for(resources),
        "post_logout_redirect_uris": redirect_uris_for(post_logout_redirect_uris, allow_http),
        "id_token_signed_response_alg": id_token_algorithm(id_token_signed_response_alg),
        "require_pushed_authorization_requests": require_pushed_authorization_requests,
        "require_dpop": require_dpop,
    }
    wanted["access_token_format"], wanted["access_token_alg"] = check_token_format(
        access_token_format, access_token_alg)
    scopes = await ensure_scopes(store, scopes_list or (), register_unknown=register_unknown_scopes)
    wanted["scopes"] = tuple(s.identifier for s in scopes)
    for _ in range(MAX_ATTEMPTS):
        existing = await store.get_client(client_id)
        done = (await _create(store, wanted, client_secret) if existing is None
                else await _update(store, existing, wanted, client_secret))
        if done is not None:
            return done
    raise ProvisioningConflict(f"client {client_id!r} changed under each of {MAX_ATTEMPTS} "
                               "attempts to provision it")


async def _create(store: TokenStore, wanted: dict[str, Any], secret: str | None
                  ) -> EnsuredClient | None:
    """A new registration, unless another call created one first (then None: read again)."""
    client_id: str = wanted["client_id"]
    generated = None if wanted["public"] or secret is not None else new_secret()
    given = secret or generated
    client = Client(**wanted, secret_hash=None if given is None else hash_client_secret(given),
                    created_at=store.clock(), generation=new_generation())
    if await store.client_indexed(client_id):
        # what an interrupted removal left, and nothing a new registration got meanwhile
        await store.revoke_client_tokens(client_id, only_leftovers=True)
    if not await store.save_client(client, only="new"):
        return None
    return EnsuredClient(client, "created", generated)


async def _update(store: TokenStore, existing: Client, wanted: dict[str, Any],
                  secret: str | None) -> EnsuredClient | None:
    """``existing`` changed to match, written only over that same registration, and only
    while the secret it keeps from ``existing`` is still the stored one (a secret rotated
    meanwhile is never brought back); every other field is this call's to set."""
    generated = None
    read: tuple[str, ...] = ()
    if wanted["public"]:
        secret_hash = None
    elif secret is not None:
        kept = verify_client_secret(existing.secret_hash, secret)
        secret_hash = existing.secret_hash if kept else hash_client_secret(secret)
    elif existing.secret_hash is not None:  # kept as read: written only if it still is
        secret_hash, read = existing.secret_hash, ("secret_hash",)
    else:  # a public client made confidential, no secret given: it needs one
        generated = new_secret()
        secret_hash = hash_client_secret(generated)
    client = replace(existing, **wanted, secret_hash=secret_hash)
    if client == existing:
        return EnsuredClient(existing, "unchanged")
    if not await store.save_client(client, only="same", over=existing, fields=read):
        return None
    return EnsuredClient(client, "updated", generated)
