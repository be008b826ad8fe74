"""Clients that registered themselves (RFC 7591): finding and purging the unused ones.

"Unused": a dynamic client that last registered or got a code or a token (as the
authorization server notes, ``store.dynamic_clients_last_used``; its registration time
for clients registered before that was noted) more than ``unused_for`` seconds ago, and
holds no live grant (no token, refresh token or code of it is left in its index). A
client whose users still hold a token is kept, however old.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from oauth_middleware.models import Client
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox.clients import remove_client

_DURATION = re.compile(r"([1-9][0-9]{0,5})([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_duration(text: str) -> int:
    """Seconds in ``30d``, ``12h``, ``90m`` or ``45s`` (``ValueError`` otherwise)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError("a duration is a number and a unit: 30d, 12h, 90m or 45s")
    return int(match[1]) * _UNITS[match[2]]


async def unused_dynamic_clients(store: TokenStore, unused_for: int, *,
                                 now: Callable[[], float] = time.time) -> list[Client]:
    """Dynamic clients last used over ``unused_for`` seconds ago, with no live grant."""
    found: list[Client] = []
    cursor: int | None = None
    while cursor != 0:
        cursor, page = await store.list_clients(cursor or 0)
        used = await store.dynamic_clients_last_used([c.client_id for c in page if c.dynamic])
        for client in page:
            old = used.get(client.client_id, client.created_at) <= now() - unused_for
            if client.dynamic and old and not await store.client_indexed(client.client_id):
                found.append(client)
    return sorted(found, key=lambda c: c.client_id)


async def purge_dynamic_clients(store: TokenStore, unused_for: int, *,
                                now: Callable[[], float] = time.time) -> list[str]:
    """Remove the unused dynamic clients (as ``remove_client`` does); their ids, sorted."""
    removed = []
    for client in await unused_dynamic_clients(store, unused_for, now=now):
        if await remove_client(store, client.client_id):
            removed.append(client.client_id)
    return removed
