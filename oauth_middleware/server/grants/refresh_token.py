"""The refresh token grant (RFC 6749 §6, RFC 9700 §4.14.2): rotation with reuse detection.

Each use retires the refresh token and issues a new pair in the same grant.
Presenting a retired one means it leaked: the whole grant (every access and
refresh token of the family) is revoked. A token is bound to its client, and
the scope may be narrowed but never widened; either mistake is refused before
anything is consumed. The new refresh token keeps the whole original scope, so
a narrowed refresh can be undone later ("If omitted, is treated as equal to the
scope originally granted by the resource owner", §6). Resources (RFC 8707 §2) work
the same way: a refresh may name a subset of the grant's, and the refresh token
keeps them all.
"""

from __future__ import annotations

from oauth_middleware.errors import InvalidGrant, InvalidScope
from oauth_middleware.models import IssuedTokens
from oauth_middleware.resource_indicators import narrowed_audience
from oauth_middleware.security import constant_time_equals
from oauth_middleware.server.grants.base import (
    TokenGrant,
    logger,
    requested_scopes,
    required,
    resources,
)
from oauth_middleware.server.grants.request import Prefetch, TokenRequest


class RefreshTokenGrant(TokenGrant):
    GRANT_TYPE = "refresh_token"
    PUBLIC = True
    PREFETCH = Prefetch(refresh="refresh_token")
    EVENTS = ("token.refreshed", "refresh.reused")

    async def issue(self, request: TokenRequest) -> IssuedTokens:
        params, client = request.params, request.client
        token = required(params, "refresh_token")
        record = request.refresh
        if record is None or record.client_id != client.client_id:
            raise InvalidGrant("The refresh token is invalid, expired or revoked.")
        if record.rotated:  # before any other check: a replay revokes whatever else it asks
            user = record.subject if record.subject_type == "user" else ""
            await self.revoke_replayed("refresh.reused", client, record.grant_id,
                                       record.fingerprint, user)
            logger.warning("refresh token %s reused by client %s: grant revoked",
                           record.fingerprint, client.client_id)
            raise InvalidGrant("The refresh token is invalid, expired or revoked.")
        if record.jkt and not constant_time_equals(record.jkt, request.dpop_jkt):
            raise InvalidGrant("The refresh token is bound to a DPoP key: send a proof "
                               "made with that key.")
        asked = requested_scopes(params)
        if asked is not None and not set(asked) <= record.scopes:
            raise InvalidScope("A refresh may narrow the scope, never widen it.")
        scopes = await self.still_available(request, asked or record.scopes)
        audience = narrowed_audience(client, resources(params), record.audience)
        spec = self.new_tokens(client, subject=record.subject, subject_type=record.subject_type,
                               scopes=scopes, grant_scopes=record.scopes, audience=audience,
                               grant_audience=record.audience, jkt=request.dpop_jkt)
        issued = await self.store.rotate_refresh(token, record, spec)
        if issued is None:
            raise InvalidGrant("The refresh token is invalid, expired or revoked.")
        return issued
