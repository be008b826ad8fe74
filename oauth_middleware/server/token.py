"""The token endpoint (RFC 6749 §3.2, §4, §5): client authentication, then the grant.

The grant is chosen first, so what it declared it needs (``PREFETCH``) is read
along with the client; once the client authenticated, the parsed form, the
client, the caller's address and those records make one
:class:`~oauth_middleware.server.grants.TokenRequest` handed to the grant.

Grant selection follows RFC 6749 §5.2: no ``grant_type`` is ``invalid_request``,
one we do not know is ``unsupported_grant_type``, and one we know but that the
server has switched off or the client was not registered for is
``unauthorized_client`` — as is a public client asking for a grant that needs
a secret. ``invalid_grant`` answers are not counted: codes, refresh tokens and
PKCE verifiers cannot be guessed, and counting them per client let anyone lock
that client's users out (:mod:`.throttle`); wrong passwords are counted by the
password grant itself.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from oauth_middleware.errors import (
    InvalidClient,
    InvalidRequest,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from oauth_middleware.models import Client
from oauth_middleware.server.boundary import FormEndpoint, logger
from oauth_middleware.server.client_auth import ClientAuthenticator
from oauth_middleware.server.client_documents import DocumentClients
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.form import Params
from oauth_middleware.server.grants import Grants, TokenGrant, TokenRequest
from oauth_middleware.server.registration import note_use
from oauth_middleware.server.responses import json_response
from oauth_middleware.server.throttle import Throttle, caller_address
from oauth_middleware.server.token_dpop import TokenProofs
from oauth_middleware.store import ClientRemoved


class TokenEndpoint(FormEndpoint):
    def __init__(self, config: ServerConfig, grants: Grants | None = None, *,
                 documents: DocumentClients | None = None) -> None:
        super().__init__(config)
        self.throttle = Throttle(config.store, config.throttle, config.audit)
        self.clients = ClientAuthenticator(config.store, self.throttle, documents)
        self.grants = grants if grants is not None else Grants(config, self.throttle)
        self.proofs = TokenProofs(config)

    async def answer(self, request: Request, params: Params) -> Response:
        grant = self.select(params.get("grant_type"))
        client, read = await self.clients.authenticate_ahead(
            request, params, ahead=grant.PREFETCH.lookahead(params))
        self.check_allowed(grant, client)
        jkt = await self.proofs.key_of(request, client)
        token_request = TokenRequest.of(params, read, client, caller_address(request.scope),
                                        dpop_jkt=jkt)
        try:
            issued = await grant.issue(token_request)
            body = await grant.token_response(token_request, issued)
        except ClientRemoved:  # removed since it authenticated: nothing was issued
            raise InvalidClient() from None
        await note_use(self.config, client)
        logger.info("issued %s token %s to client %s", grant.GRANT_TYPE,
                    issued.token.fingerprint, client.client_id)
        return json_response(body, headers=await self.proofs.headers())

    def select(self, grant_type: str | None) -> TokenGrant:
        if grant_type is None:
            raise InvalidRequest("The grant_type parameter is missing.")
        grant = self.grants.token.get(grant_type)
        if grant is None:
            raise UnsupportedGrantType()
        return grant

    def check_allowed(self, grant: TokenGrant, client: Client) -> None:
        name = grant.GRANT_TYPE
        if name not in self.config.grant_types or not client.allows(name):
            raise UnauthorizedClient("The client is not allowed to use this grant type.")
        if client.public and not grant.PUBLIC:
            raise UnauthorizedClient("Public clients cannot use this grant type.")
