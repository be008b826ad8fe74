"""OpenID Connect as grant extensions (Core 1.0 §3.1 code flow, §3.2 implicit flow).

:class:`OpenIDCode` extends the authorization code grant: a code issued for the
``openid`` scope carries the ``nonce`` and how the user signed in, and its
redemption at ``token/`` answers an ``id_token`` beside the access token (with
``at_hash``). :class:`OpenIDImplicitGrant` serves the ``id_token`` and
``id_token token`` response types (implicit: only for clients allowed ``implicit``,
``nonce`` required, §3.2.2.1), answering in the fragment.

A refreshed token response carries no new ID token (§12.2 allows either): no one
signed in at a refresh, and the original ID token still says who did and when.
"""

from __future__ import annotations

from dataclasses import dataclass

from oauth_middleware.errors import AccessDenied, InvalidRequest, InvalidScope
from oauth_middleware.models import Client, IssuedTokens, PendingAuthorization
from oauth_middleware.server.grants import (
    AuthorizationDetails,
    AuthorizationGrant,
    Grant,
    GrantExtension,
    ImplicitGrant,
    TokenRequest,
)
from oauth_middleware.server.oidc import id_token
from oauth_middleware.server.oidc.claims import granted_claims, user_claims
from oauth_middleware.server.oidc.request import requested
from oauth_middleware.server.oidc.subject import subject
from oauth_middleware.server.urlencoded import Params

OPENID = "openid"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignIn:
    """What an ID token is made from: the grant's user, scopes and recorded sign-in."""

    user: str
    scopes: frozenset[str]
    nonce: str | None = None
    auth_time: float | None = None
    acr: str | None = None
    amr: tuple[str, ...] = ()
    claims: str | None = None


def asks_openid(params: Params) -> bool:
    return OPENID in (params.get("scope") or "").split(" ")


async def issue_id_token(grant: Grant, client: Client, sign_in: SignIn, *,
                         access_token: str | None = None, all_scope_claims: bool = False) -> str:
    """A signed ID token for ``sign_in``. Claims the scopes grant go in when no access
    token comes with it (§5.4); otherwise only those the ``claims`` request names."""
    config, provider, keys = grant.config, grant.config.openid, grant.config.signing_keys
    if provider is None or keys is None:  # unreachable: registered only with both (typing)
        raise InvalidRequest("This server is no OpenID Provider.")
    allowed = granted_claims(sign_in.scopes)
    wanted = allowed if all_scope_claims else \
        allowed & requested(sign_in.claims, "id_token").keys()
    extra = await user_claims(provider, sign_in.user, sign_in.scopes, frozenset(wanted))
    who = id_token.Authenticated(
        subject=subject(provider, config.secret_key, client, sign_in.user),
        auth_time=sign_in.auth_time, acr=sign_in.acr, amr=sign_in.amr)
    body = id_token.claims(
        issuer=config.issuer, client=client, who=who, now=grant.store.clock(),
        lifetime=provider.id_token_lifetime, nonce=sign_in.nonce,
        access_token=access_token, extra=extra)
    return await id_token.sign(keys, client, body)


class OpenIDCode(GrantExtension):
    """The code flow's ID token (§3.1.3.3), answered at ``token/``."""

    async def check_authorization(self, grant: AuthorizationGrant, client: Client,
                                  params: Params) -> None:
        if asks_openid(params):
            id_token.check_algorithm(grant.config.signing_keys, client)

    async def token_response(self, grant: Grant, request: TokenRequest, issued: IssuedTokens,
                             body: dict[str, object]) -> None:
        code = request.code
        if code is None or OPENID not in issued.token.scopes:
            return
        sign_in = SignIn(user=code.subject, scopes=issued.token.scopes, nonce=code.nonce,
                         auth_time=code.auth_time, acr=code.acr, amr=code.amr,
                         claims=code.claims)
        body["id_token"] = await issue_id_token(grant, request.client, sign_in,
                                                access_token=issued.access_token)


class OpenIDImplicitGrant(ImplicitGrant):
    """``id_token`` and ``id_token token`` (§3.2): the ID token, and an access token when
    asked for, in the fragment; never a refresh token."""

    RESPONSE_TYPES = frozenset({"id_token", "id_token token"})

    def check_parameters(self, client: Client, params: Params) -> AuthorizationDetails:
        if not asks_openid(params):
            raise InvalidScope("The id_token response types need the openid scope.")
        if params.get("nonce") is None:
            raise InvalidRequest("The nonce parameter is required in the implicit flow.")
        id_token.check_algorithm(self.config.signing_keys, client)
        return AuthorizationDetails()

    async def respond(self, client: Client, pending: PendingAuthorization,
                      scopes: frozenset[str]) -> dict[str, str]:
        if OPENID not in scopes:
            raise AccessDenied("The openid scope was not approved.")
        answer = await super().respond(client, pending, scopes) \
            if pending.response_type == "id_token token" else {}
        sign_in = SignIn(user=pending.user, scopes=scopes, nonce=pending.nonce,
                         auth_time=pending.auth_time, acr=pending.acr, amr=pending.amr,
                         claims=pending.claims)
        answer["id_token"] = await issue_id_token(
            self, client, sign_in, access_token=answer.get("access_token"),
            all_scope_claims="access_token" not in answer)
        return answer
