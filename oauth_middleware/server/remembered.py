"""Remembered consent: the scopes a user already granted a client (OpenID Connect Core 1.0
§3.1.2.4), so ``prompt=none`` can succeed for a returning user.

STUB in this branch: it remembers nothing, so ``prompt=none`` always answers
``consent_required``. The real module (store-backed, revocable from the admin) replaces
this one with the same function.
"""

from __future__ import annotations

from oauth_middleware.server.config import ServerConfig


async def remembered_scopes(config: ServerConfig, user_id: str, client_id: str
                            ) -> frozenset[str]:
    """The scopes ``user_id`` consented to for ``client_id`` and has not revoked (none here)."""
    del config, user_id, client_id
    return frozenset()
