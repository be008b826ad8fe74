"""The authorization code grant, both halves (RFC 6749 §4.1, RFC 7636, RFC 9700 §4.14).

At ``auth/`` the ``code`` response type takes a PKCE challenge — required for
public clients, and for every client when the server says so — and an approved
request gets a fresh code bound to the client, the redirect URI (and whether it
was sent), the user, the approved scopes and the challenge, stored for
``code_lifetime`` seconds (§4.1.2), and to the resources asked for (RFC 8707 §2).

At ``token/`` the code is checked against everything it was bound to at the
authorization endpoint — client, redirect URI (required iff it was sent there), PKCE
challenge, the DPoP key named by ``dpop_jkt`` at ``auth/`` (RFC 9449 §10); the
resources named here, a subset of those authorized — before anything
is consumed, so a request with a wrong client or
verifier revokes nothing. A code that is valid but already used is refused AND
its grant revoked: "If an authorization code is used more than once, the
authorization server MUST deny the request and SHOULD revoke (when possible)
all tokens previously issued based on that authorization code" (§4.1.2).
Redemption is one compare-and-set in Redis, so of N racing requests one wins.
"""

from __future__ import annotations

import re

from oauth_middleware.errors import InvalidGrant, InvalidRequest
from oauth_middleware.models import AuthorizationCode, Client, IssuedTokens, PendingAuthorization
from oauth_middleware.pkce import check_challenge, verify_pkce
from oauth_middleware.resource_indicators import narrowed_audience
from oauth_middleware.security import constant_time_equals
from oauth_middleware.server.grants.base import (
    AuthorizationDetails,
    AuthorizationGrant,
    TokenGrant,
    logger,
    required,
    resources,
)
from oauth_middleware.server.grants.request import Prefetch, TokenRequest
from oauth_middleware.server.jwt_access import SignIn
from oauth_middleware.server.urlencoded import Params

#: An RFC 7638 SHA-256 thumbprint, base64url without padding.
_JKT = re.compile(r"[A-Za-z0-9_-]{43}")


def _thumbprint(value: str | None) -> str | None:
    """``dpop_jkt`` (RFC 9449 §10): an RFC 7638 SHA-256 thumbprint, 43 base64url characters."""
    if value is None:
        return None
    if not _JKT.fullmatch(value):
        raise InvalidRequest("The dpop_jkt parameter is not a key thumbprint.")
    return value


def check_redirect_uri(code: AuthorizationCode, sent: str | None) -> None:
    """RFC 6749 §4.1.3: required, and identical, if it was part of the authorization request."""
    if sent is None and not code.redirect_uri_explicit:
        return
    if sent != code.redirect_uri:
        raise InvalidGrant("The redirect_uri does not match the authorization request.")


class AuthorizationCodeGrant(AuthorizationGrant, TokenGrant):
    GRANT_TYPE = "authorization_code"
    RESPONSE_TYPES = frozenset({"code"})
    PUBLIC = True
    PREFETCH = Prefetch(requested_scopes=False, code="code")
    EVENTS = ("code.redeemed", "code.replayed")

    def check_parameters(self, client: Client, params: Params) -> AuthorizationDetails:
        return AuthorizationDetails(challenge=check_challenge(
            client, params.get("code_challenge"), params.get("code_challenge_method"),
            required=client.public or self.config.require_pkce,
        ), dpop_jkt=_thumbprint(params.get("dpop_jkt")))

    async def respond(self, client: Client, pending: PendingAuthorization,
                      scopes: frozenset[str]) -> dict[str, str]:
        code = await self.store.create_code(
            AuthorizationCode(
                grant_id="", client_id=client.client_id, subject=pending.user,
                redirect_uri=pending.redirect_uri,
                redirect_uri_explicit=pending.redirect_uri_explicit, scopes=scopes,
                code_challenge=pending.code_challenge,
                code_challenge_method=pending.code_challenge_method,
                audience=pending.audience, nonce=pending.nonce, auth_time=pending.auth_time,
                acr=pending.acr, amr=pending.amr, claims=pending.claims,
                dpop_jkt=pending.dpop_jkt,
            ),
            lifetime=self.config.code_lifetime, client_generation=client.generation,
            event=self.authorization_event("code.issued", client, pending.user, scopes),
        )
        return {"code": code}

    async def issue(self, request: TokenRequest) -> IssuedTokens:
        params, client = request.params, request.client
        code = required(params, "code")
        record = request.code
        if record is None or record.client_id != client.client_id:
            raise InvalidGrant("The authorization code is invalid, expired or used.")
        check_redirect_uri(record, params.get("redirect_uri"))
        verify_pkce(record, params.get("code_verifier"),
                    required=client.public or self.config.require_pkce,
                    allow_plain=client.allow_plain_pkce)
        if record.dpop_jkt and not constant_time_equals(record.dpop_jkt, request.dpop_jkt):
            raise InvalidGrant("The authorization code is bound to a DPoP key: send a proof "
                               "made with that key.")
        if record.used:
            await self.revoke_replayed("code.replayed", client, record.grant_id,
                                       record.fingerprint, record.subject)
            logger.warning("authorization code %s replayed by client %s: grant revoked",
                           record.fingerprint, client.client_id)
            raise InvalidGrant("The authorization code is invalid, expired or used.")
        scopes = await self.still_available(request, record.scopes)
        audience = narrowed_audience(client, resources(params), record.audience)
        spec = self.new_tokens(client, subject=record.subject, scopes=scopes, audience=audience,
                               grant_audience=record.audience, jkt=request.dpop_jkt,
                               sign_in=SignIn(auth_time=record.auth_time, acr=record.acr,
                                              amr=record.amr))
        issued = await self.store.redeem_code(code, record, spec)
        if issued is None:
            raise InvalidGrant("The authorization code is invalid, expired or used.")
        return issued
