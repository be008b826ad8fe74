"""What an approved request sends back (RFC 6749 §4.1.2, §4.2.2).

Code flow: a fresh authorization code bound to the client, the redirect URI
(and whether it was sent), the user, the approved scopes and the PKCE
challenge, stored for ``code_lifetime`` seconds. Implicit flow: an access token
in the fragment with ``token_type``, ``expires_in`` and ``scope`` — never a
refresh token (RFC 6749 §4.2.2).
"""

from __future__ import annotations

from oauth_middleware.models import AuthorizationCode, Client, PendingAuthorization
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.store import NewTokens


async def approve(
    config: ServerConfig, client: Client, pending: PendingAuthorization, scopes: frozenset[str]
) -> dict[str, str]:
    """Create the grant; returns the parameters for the redirect (``state`` is added later)."""
    store = config.store
    if pending.response_type == "code":
        code = await store.create_code(
            AuthorizationCode(
                grant_id="", client_id=client.client_id, subject=pending.user,
                redirect_uri=pending.redirect_uri,
                redirect_uri_explicit=pending.redirect_uri_explicit, scopes=scopes,
                code_challenge=pending.code_challenge,
                code_challenge_method=pending.code_challenge_method,
            ),
            lifetime=config.code_lifetime, client_generation=client.generation,
        )
        return {"code": code}
    issued = await store.issue(NewTokens(
        client_id=client.client_id, subject=pending.user, scopes=scopes,
        lifetime=client.token_lifetime, refresh=False, client_generation=client.generation,
    ))
    params = {"access_token": issued.access_token, "token_type": "Bearer"}
    expires_in = issued.token.expires_in(store.clock())
    if expires_in is not None:
        params["expires_in"] = str(expires_in)
    params["scope"] = " ".join(sorted(scopes))
    return params
