"""The authorization code grant at the token endpoint (RFC 6749 §4.1.3, RFC 7636, RFC 9700 §4.14).

The code is checked against everything it was bound to at the authorization
endpoint — client, redirect URI (required iff it was sent there), PKCE
challenge — before anything is consumed, so a request with a wrong client or
verifier revokes nothing. A code that is valid but already used is refused AND
its grant revoked: "If an authorization code is used more than once, the
authorization server MUST deny the request and SHOULD revoke (when possible)
all tokens previously issued based on that authorization code" (§4.1.2).
Redemption is one compare-and-set in Redis, so of N racing requests one wins.
"""

from __future__ import annotations

from oauth_middleware.errors import InvalidGrant
from oauth_middleware.models import AuthorizationCode, Client, IssuedTokens
from oauth_middleware.pkce import verify_pkce
from oauth_middleware.server.form import Params
from oauth_middleware.server.grants.base import Grant, logger, required
from oauth_middleware.store import ClientRead, Lookahead


def check_redirect_uri(code: AuthorizationCode, sent: str | None) -> None:
    """RFC 6749 §4.1.3: required, and identical, if it was part of the authorization request."""
    if sent is None and not code.redirect_uri_explicit:
        return
    if sent != code.redirect_uri:
        raise InvalidGrant("The redirect_uri does not match the authorization request.")


class AuthorizationCodeGrant(Grant):
    GRANT_TYPE = "authorization_code"
    PUBLIC = True

    def lookahead(self, params: Params) -> Lookahead:
        return Lookahead(code=params.get("code"), grants=True)

    async def issue(
        self, client: Client, params: Params, read: ClientRead, address: str
    ) -> IssuedTokens:
        code = required(params, "code")
        record = read.code
        if record is None or record.client_id != client.client_id:
            raise InvalidGrant("The authorization code is invalid, expired or used.")
        check_redirect_uri(record, params.get("redirect_uri"))
        verify_pkce(record, params.get("code_verifier"),
                    required=client.public or self.config.require_pkce,
                    allow_plain=client.allow_plain_pkce)
        if record.used:
            await self.store.revoke_grant(record.grant_id)
            logger.warning("authorization code %s replayed by client %s: grant revoked",
                           record.fingerprint, client.client_id)
            raise InvalidGrant("The authorization code is invalid, expired or used.")
        scopes = await self.still_available(client, record.scopes, read)
        spec = self.new_tokens(client, subject=record.subject, scopes=scopes)
        issued = await self.store.redeem_code(code, record, spec)
        if issued is None:
            raise InvalidGrant("The authorization code is invalid, expired or used.")
        return issued
