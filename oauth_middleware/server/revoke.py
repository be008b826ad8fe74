"""Token revocation (RFC 7009): a client withdraws one of its own tokens.

The client authenticates exactly as at the token endpoint. The token is found
whatever ``token_type_hint`` says (one lookup covers both kinds, which §2.1
allows: the server "MUST extend its search across all of its supported token
types"). Revoking a refresh token revokes its whole grant, access tokens
included (§2.1 "SHOULD"); so does a refresh token already rotated away, which
is still known as one the grant issued (RFC 9700 §4.14.2: otherwise revoking
it while a rotation races, or after one, would leave the new tokens alive).
The grant goes in one script, so a rotation that runs first loses its new
tokens with it and one that runs later finds nothing to rotate. Revoking an
access token deletes that token. Unknown
tokens, and tokens of another client, answer 200 and change nothing: the
answer never tells a client whether some other client's token is live. Every
protected request reads Redis, so a revoked token fails on the very next one.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from oauth_middleware.models import RefreshToken
from oauth_middleware.security import digest
from oauth_middleware.server.boundary import FormEndpoint, logger
from oauth_middleware.server.client_auth import ClientAuthenticator
from oauth_middleware.server.client_documents import DocumentClients
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.form import Params
from oauth_middleware.server.grants.base import required
from oauth_middleware.server.responses import json_response
from oauth_middleware.server.throttle import Throttle
from oauth_middleware.store import Lookahead


class RevocationEndpoint(FormEndpoint):
    def __init__(self, config: ServerConfig, *, documents: DocumentClients | None = None) -> None:
        super().__init__(config)
        self.clients = ClientAuthenticator(
            config.store, Throttle(config.store, config.throttle, config.audit), documents)

    async def answer(self, request: Request, params: Params) -> Response:
        client, read = await self.clients.authenticate_ahead(
            request, params, ahead=Lookahead(token=params.get("token")))
        token = required(params, "token")
        record = read.token
        if record is not None and record.client_id == client.client_id:
            whole = isinstance(record, RefreshToken)
            audit = self.config.audit
            written = None if audit is None else audit.stream_event(
                "token.revoked", actor=f"client:{client.client_id}", client=client.client_id,
                user=record.subject if record.subject_type == "user" else "",
                grant=record.grant_id, fingerprint=record.fingerprint, by="client",
                reason="grant" if whole else "access token")
            if whole:
                await self.store.revoke_grant(record.grant_id, event=written)
            else:
                await self.store.revoke_access(record.grant_id, digest(token), event=written)
            logger.info("client %s revoked token %s", client.client_id, record.fingerprint)
        return json_response({})
