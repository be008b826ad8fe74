"""Remembered consent at ``auth/`` (OpenID Connect Core 1.0 §3.1.2.4, §3.1.2.1 ``prompt``).

With ``AuthorizationServer(remember_consent=seconds)``, an approval is remembered per
user and client for that long (``TokenStore.remember_consent``), and a later request
whose every scope the user approved before is answered without the consent page,
after every check the page would have passed. Remembering never widens: only scopes
the user approved count, only while the client may still be granted them (a scope
disabled, or taken off the client's list, is no longer remembered), only for the
client registration they were approved for, and a request asking one scope more
shows the page. Unticking a scope on the page, or denying, forgets what was unticked.

Off by default: a GET that issues a code without asking changes what the endpoint
does for every returning user, which a deployment should choose, not inherit on
upgrade (the default before this option existed asked every time).
"""

from __future__ import annotations

from collections.abc import Iterable

from oauth_middleware.models import Client
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.urlencoded import Params

#: OpenID Connect Core 1.0 §3.1.2.1: the user is asked again, whatever was remembered.
PROMPT_CONSENT = "consent"


async def remembered_scopes(config: ServerConfig, user_id: str, client_id: str) -> frozenset[str]:
    """The scopes ``user_id`` approved for ``client_id`` that may still be granted to it;
    empty when remembering is off, nothing is remembered, or the client is gone."""
    if config.remember_consent is None:
        return frozenset()
    store = config.store
    remembered = await store.remembered_consent(user_id, client_id)
    client = await store.get_client(client_id) if remembered else None
    if client is None:
        return frozenset()
    known = await store.get_scopes(remembered)
    return frozenset(s for s in remembered if s in known and known[s].enabled
                     and (not client.scopes or s in client.scopes))


def asks_consent(params: Params) -> bool:
    """Whether the request says to ask the user again (``prompt`` names ``consent``); a
    repeated ``prompt`` counts as asking, the reading that grants nothing unasked."""
    prompts = params.values("prompt")
    return len(prompts) > 1 or any(PROMPT_CONSENT in p.split(" ") for p in prompts)


def covered(scopes: Iterable[str], remembered: frozenset[str]) -> bool:
    """Every scope asked for was approved before (and at least one is asked for)."""
    asked = frozenset(scopes)
    return bool(asked) and asked <= remembered


async def remember(config: ServerConfig, user: str, client: Client, *,
                   approved: Iterable[str], declined: Iterable[str]) -> None:
    """Record the user's decision on the consent page, when remembering is on."""
    if config.remember_consent is None:
        return
    await config.store.remember_consent(
        user, client.client_id, client_generation=client.generation, approved=approved,
        declined=declined, lifetime=config.remember_consent,
        cap=config.max_remembered_consents)
