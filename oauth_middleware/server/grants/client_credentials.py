"""The client credentials grant (RFC 6749 §4.4): a confidential client acting for itself.

"The client credentials grant type MUST only be used by confidential clients"
(§4.4): the grant is not ``PUBLIC``, so the token endpoint answers a public
client ``unauthorized_client`` before it gets here (oauthost issued it a
token). The token's subject is the client, recorded as ``subject_type
"client"`` so it can never be mistaken for a user of the same name, and no
refresh token is issued (§4.4.3).
"""

from __future__ import annotations

from oauth_middleware.models import IssuedTokens
from oauth_middleware.policy import grantable_scopes
from oauth_middleware.server.grants.base import TokenGrant, requested_scopes
from oauth_middleware.server.grants.request import TokenRequest


class ClientCredentialsGrant(TokenGrant):
    GRANT_TYPE = "client_credentials"

    async def issue(self, request: TokenRequest) -> IssuedTokens:
        client = request.client
        scopes = await grantable_scopes(self.store, client, requested_scopes(request.params),
                                        snapshot=request.scope_snapshot)
        return await self.store.issue(self.new_tokens(
            client, subject=client.client_id, subject_type="client", scopes=scopes, refresh=False,
            audience=self.direct_audience(client, request.params), jkt=request.dpop_jkt,
        ))
