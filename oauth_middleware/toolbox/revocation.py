"""Revoking what tooling names (RFC 7009 §2): one access token as listings show it, or all of
a client's.

The CLI (``token revoke-access``, ``token revoke-client``) and the admin's revoke
buttons call these, so both refuse the same names in the same way.
"""

from __future__ import annotations

import re

from oauth_middleware.audit import AuditTrail, cascading
from oauth_middleware.security import DIGEST_CHARS, FINGERPRINT_CHARS
from oauth_middleware.store import Progress, TokenStore
from oauth_middleware.toolbox.clients import UnknownClient

#: A token named by its fingerprint (as listed) up to its full digest, lowercase hex.
_FINGERPRINT = re.compile(f"[0-9a-f]{{{FINGERPRINT_CHARS},{DIGEST_CHARS}}}")


async def revoke_access_token(store: TokenStore, grant_id: str, fingerprint: str, *,
                              audit: AuditTrail | None = None) -> bool:
    """Revoke one access token named by its grant and fingerprint, as ``token list`` and the
    admin's listings show it; the rest of the grant (a refresh token) stays.

    False when no live access token of that grant has that fingerprint, or the
    names could not be one (nothing is read for those). ``audit`` records each grant
    exchanged from the token that goes with it (``token.revoked`` by ``cascade``); the
    revocation itself is the caller's to record.
    """
    if not grant_id or not _FINGERPRINT.fullmatch(fingerprint):
        return False
    return await store.revoke_access(grant_id, fingerprint, cascade=cascading(audit))


async def revoke_client_tokens(
    store: TokenStore, client_id: str, *, progress: Progress | None = None,
    audit: AuditTrail | None = None,
) -> int:
    """Revoke every token and code of a client, and forget every consent users gave it (so
    nothing is granted to it again without asking); returns the keys deleted.

    A client no longer registered still has its grants found and revoked (what an
    interrupted removal left). An id with neither a client nor any grant is
    :class:`UnknownClient`, as for every other call naming one, rather than "0
    revoked", which would also hide a mistyped id. ``audit``: as for
    :func:`revoke_access_token`.
    """
    if await store.get_client(client_id) is None and not await store.client_indexed(client_id):
        raise UnknownClient(f"no client {client_id!r}")
    await store.forget_client_consents(client_id)
    return await store.revoke_client_tokens(client_id, progress=progress,
                                            cascade=cascading(audit))
