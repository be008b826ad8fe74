"""What a client may be granted, what a client id and its texts may be (RFC 6749 §2.2, §3.3).

The authorization server applies these rules to every request, and the toolbox (CLI,
admin, app code) to everything it issues or registers: one definition, imported by
both, so the server never reaches into the management layer for a protocol rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from oauth_middleware.errors import InvalidScope
from oauth_middleware.models import Client
from oauth_middleware.store import ScopeSnapshot, TokenStore
from oauth_middleware.typed_text import check_typed_text as check_typed_text  # re-exported

_CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{1,128}")


def validate_client_id(client_id: str) -> str:
    """``client_id``, unless it is not 1 to 128 URL-safe characters (``ValueError``)."""
    if not _CLIENT_ID.fullmatch(client_id):
        raise ValueError("a client id is 1 to 128 of the characters A-Z a-z 0-9 . _ ~ -")
    return client_id


async def grantable_scopes(
    store: TokenStore, client: Client, requested: Iterable[str] | None, *,
    snapshot: ScopeSnapshot | None = None,
) -> frozenset[str]:
    """The scopes a request may be granted (RFC 6749 §3.3), or :class:`InvalidScope`.

    Requested scopes must be registered, enabled and allowed for the client (a
    client with no scope list may have any enabled scope). With nothing
    requested the client's own list is the default; without a list there is no
    default and the request is refused. ``snapshot``: scopes this request read
    already (see ``TokenStore.get_scopes``).
    """
    asked = list(dict.fromkeys(requested or ()))
    if not asked:
        if not client.scopes:
            raise InvalidScope("No scope was requested and the client has no default scope.")
        asked = list(client.scopes)
    if client.scopes and not set(asked) <= set(client.scopes):
        raise InvalidScope("A requested scope is not allowed for this client.")
    known = await store.get_scopes(asked, snapshot=snapshot)
    granted = frozenset(s for s in asked if s in known and known[s].enabled)
    if not requested and granted:
        return granted
    if granted != set(asked):
        raise InvalidScope("A requested scope is unknown or disabled.")
    return granted
