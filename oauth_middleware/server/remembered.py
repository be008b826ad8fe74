"""Remembered consent at ``auth/`` (OpenID Connect Core 1.0 §3.1.2.4, §3.1.2.1 ``prompt``).

With ``AuthorizationServer(remember_consent=seconds)``, an approval is remembered per
user and client for that long (``TokenStore.remember_consent``), and a later request
whose every scope the user approved before, for the same resources (RFC 8707) or
fewer, is answered without the consent page, after every check the page would have
passed. Remembering never widens: only scopes the user approved count, only while the
client may still be granted them (a scope disabled, or taken off the client's list, is
no longer remembered), only for the client registration they were approved for, and a
request asking one scope or one resource more shows the page. Unticking a scope on
the page, or denying, forgets what was unticked.

Off by default: a GET that issues a code without asking changes what the endpoint
does for every returning user, which a deployment should choose, not inherit on
upgrade (the default before this option existed asked every time).
"""

from __future__ import annotations

from collections.abc import Iterable

from oauth_middleware.models import Client, RememberedConsent
from oauth_middleware.server.authorization_request import AuthorizationRequest
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.urlencoded import Params

#: OpenID Connect Core 1.0 §3.1.2.1: the user is asked again, whatever was remembered.
PROMPT_CONSENT = "consent"


async def _remembered(config: ServerConfig, user: str, client: Client
                      ) -> RememberedConsent | None:
    """The user's live entry for this registration of the client (None: off, or none)."""
    if config.remember_consent is None:
        return None
    _, found = await config.store.list_remembered_consents(user=user, client_id=client.client_id)
    if len(found) != 1 or found[0].client_generation != client.generation:
        return None
    return found[0]


async def _grantable(config: ServerConfig, client: Client, scopes: frozenset[str]
                     ) -> frozenset[str]:
    """``scopes`` the client may still be granted: registered, enabled, on its list."""
    known = await config.store.get_scopes(scopes)
    return frozenset(s for s in scopes if s in known and known[s].enabled
                     and (not client.scopes or s in client.scopes))


async def remembered_scopes(config: ServerConfig, user_id: str, client_id: str) -> frozenset[str]:
    """The scopes ``user_id`` approved for ``client_id`` that may still be granted to it;
    empty when remembering is off, nothing is remembered, or the client is gone. (Which
    resources they were approved for: :func:`covers` checks those too.)"""
    client = await config.store.get_client(client_id)
    record = await _remembered(config, user_id, client) if client is not None else None
    if client is None or record is None:
        return frozenset()
    return await _grantable(config, client, record.scopes)


async def covers(config: ServerConfig, user: str, request: AuthorizationRequest) -> bool:
    """Whether ``user`` approved everything ``request`` asks for before: every scope (still
    grantable) and every resource; a request asking for nothing is not covered."""
    asked = frozenset(request.scopes)
    record = await _remembered(config, user, request.client)
    if record is None or not asked or not _within(request.audience, record.audience):
        return False
    return asked <= await _grantable(config, request.client, record.scopes)


def _within(asked: frozenset[str], approved: frozenset[str]) -> bool:
    """An audience approved covers the same resources or fewer; no audience at all is the
    widest (a token valid at every resource that does not require one)."""
    return not approved or (bool(asked) and asked <= approved)


def asks_consent(params: Params) -> bool:
    """Whether the request says to ask the user again (``prompt`` names ``consent``); a
    repeated ``prompt`` counts as asking, the reading that grants nothing unasked."""
    prompts = params.values("prompt")
    return len(prompts) > 1 or any(PROMPT_CONSENT in p.split(" ") for p in prompts)


async def remember(config: ServerConfig, user: str, client: Client, *,
                   approved: Iterable[str], declined: Iterable[str],
                   audience: frozenset[str]) -> None:
    """Record the user's decision on the consent page, when remembering is on."""
    if config.remember_consent is None:
        return
    await config.store.remember_consent(
        user, client.client_id, client_generation=client.generation, approved=approved,
        declined=declined, audience=audience, lifetime=config.remember_consent,
        cap=config.max_remembered_consents)
