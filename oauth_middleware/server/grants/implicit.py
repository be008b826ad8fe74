"""The implicit grant (RFC 6749 §4.2): the ``token`` response type, at ``auth/`` only.

RFC 9700 §2.1.2 advises against it, so a client uses it only when registered
for it (and the server, when it offers it). The answer goes in the fragment,
errors included (§4.2.2, §4.2.2.1): an access token with ``token_type``,
``expires_in`` and ``scope`` — never a refresh token ("The authorization
server MUST NOT issue a refresh token", §4.2.2). No PKCE: nothing is redeemed
later for a verifier to protect.
"""

from __future__ import annotations

from oauth_middleware.models import Client, PendingAuthorization
from oauth_middleware.server.grants.base import AuthorizationGrant
from oauth_middleware.server.jwt_access import SignIn
from oauth_middleware.store import NewTokens


class ImplicitGrant(AuthorizationGrant):
    GRANT_TYPE = "implicit"
    RESPONSE_TYPES = frozenset({"token"})
    FRAGMENT = True

    async def respond(self, client: Client, pending: PendingAuthorization,
                      scopes: frozenset[str]) -> dict[str, str]:
        store = self.store
        issued = await store.issue(self.signer.apply(client, NewTokens(
            client_id=client.client_id, subject=pending.user, scopes=scopes,
            lifetime=client.token_lifetime, client_generation=client.generation,
            audience=pending.audience,
            event=self.authorization_event("token.issued", client, pending.user, scopes),
        ), SignIn(auth_time=pending.auth_time, acr=pending.acr, amr=pending.amr)))
        params = {"access_token": issued.access_token, "token_type": "Bearer"}
        expires_in = issued.token.expires_in(store.clock())
        if expires_in is not None:
            params["expires_in"] = str(expires_in)
        params["scope"] = " ".join(sorted(scopes))
        return params
