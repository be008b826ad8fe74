"""The token exchange grant (RFC 8693 §2): a client trades a token for one meant for another API.

A confidential client allowed ``urn:ietf:params:oauth:grant-type:token-exchange`` presents
a ``subject_token`` (§2.1): one of our access tokens, or a JWT a trusted issuer verifies
(:mod:`oauth_middleware.server.exchange_policy` says which a client may present). The new
token is for the same subject; its scope is never wider than the subject token's (nor the
client's), its audience is what ``resource``/``audience`` name (RFC 8707 rules:
``invalid_target`` for one the client may not use), and it never outlives the subject
token. Delegation records the actor from ``actor_token`` in ``act`` (§4.1), nesting the
subject token's own ``act``; impersonation records none. Anything wrong with either token,
or refused by policy, is ``invalid_request`` (§2.2.2).

Only access tokens are issued (``requested_token_type`` another type is ``invalid_request``),
and no refresh token (§2.2.1 "SHOULD NOT" when acting for another): the exchanged token
lives at most as long as its subject token, and a new one is had by exchanging again,
which checks the subject token again. An exchanged grant is linked to the subject's grant,
so revoking that revokes every token exchanged from it, transitively (``store._exchange``).
"""

from __future__ import annotations

import json
from dataclasses import replace

from oauth_middleware.errors import InvalidRequest, InvalidScope, UnauthorizedClient
from oauth_middleware.limits import MAX_EXCHANGE_DEPTH
from oauth_middleware.models import TOKEN_EXCHANGE, AccessToken, Client, IssuedTokens
from oauth_middleware.resource_indicators import requested_audience
from oauth_middleware.server.exchange_policy import (
    ACCESS_TOKEN_TYPE,
    JWT_TYPE,
    ExchangeClient,
    TokenExchangePolicy,
)
from oauth_middleware.server.form import values
from oauth_middleware.server.grants.base import (
    TokenGrant,
    requested_scopes,
    required,
    resources,
)
from oauth_middleware.server.grants.request import Prefetch, TokenRequest
from oauth_middleware.store import ChainFull

_GONE = "The subject_token is invalid, expired or revoked."


class TokenExchangeGrant(TokenGrant):
    GRANT_TYPE = TOKEN_EXCHANGE
    PREFETCH = Prefetch(token="subject_token")

    @property
    def policy(self) -> TokenExchangePolicy:
        policy = self.config.token_exchange
        if policy is None:  # unreachable: the server drops the grant without one (typing)
            raise UnauthorizedClient()
        return policy

    async def issue(self, request: TokenRequest) -> IssuedTokens:
        params, client = request.params, request.client
        rule = self.policy.rule(client.client_id)
        token = required(params, "subject_token")
        if params.get("requested_token_type") not in (None, ACCESS_TOKEN_TYPE):
            raise InvalidRequest("Only access tokens are issued by token exchange.")
        subject, ours = await self._subject(request, token)
        _check_meant_for(client, rule, subject, ours)
        if subject.exchange_depth >= MAX_EXCHANGE_DEPTH:
            raise InvalidRequest("The subject_token was exchanged too many times already.")
        act = await self._act(request, rule, subject, token)
        asked = requested_scopes(params)
        if asked is not None and not set(asked) <= subject.scopes:
            raise InvalidScope("An exchange may narrow the scope, never widen it.")
        scopes = await self.still_available(request, asked or subject.scopes)
        audience = requested_audience(client, [*resources(params), *values(params, "audience")],
                                      self.config.default_resource)
        spec = self.new_tokens(client, subject=subject.subject, subject_type=subject.subject_type,
                               scopes=scopes, refresh=False, audience=audience)
        now = self.store.clock()
        left = None if subject.expires_at is None else int(subject.expires_at - now)
        if left is not None and left < 1:
            raise InvalidRequest(_GONE)
        lifetime = spec.lifetime if left is None else min(left, spec.lifetime or left)
        spec = replace(spec, lifetime=lifetime, act=act, exchange_depth=subject.exchange_depth + 1,
                       parent_grant=subject.grant_id if ours else "")
        try:
            issued = await self.store.issue_exchanged(spec, token if ours else None)
        except ChainFull:
            raise InvalidRequest("Too many tokens were exchanged from this grant.") from None
        if issued is None:
            raise InvalidRequest(_GONE)
        return issued

    async def token_response(self, request: TokenRequest, issued: IssuedTokens
                             ) -> dict[str, object]:
        """§2.2.1: ``issued_token_type`` is REQUIRED."""
        body = await super().token_response(request, issued)
        body["issued_token_type"] = ACCESS_TOKEN_TYPE
        return body

    async def _subject(self, request: TokenRequest, token: str) -> tuple[AccessToken, bool]:
        """The subject token's record, and whether it is ours (in the store)."""
        kind = required(request.params, "subject_token_type")
        if kind == ACCESS_TOKEN_TYPE:
            record = request.token if isinstance(request.token, AccessToken) else None
            ours = True
        elif kind == JWT_TYPE:
            record, ours = await self._foreign(token), False
        else:
            raise InvalidRequest("The subject_token_type is not supported.")
        if record is None or record.is_expired(self.store.clock()):
            raise InvalidRequest(_GONE)
        return record, ours

    async def _foreign(self, token: str) -> AccessToken | None:
        """A user's JWT from a trusted issuer; a client's own token of another issuer names
        a client that is not ours, so it is refused."""
        for verifier in self.policy.trusted_issuers:
            record = await verifier.resolve(token)
            if record is not None:
                return record if record.subject_type == "user" else None
        return None

    async def _act(self, request: TokenRequest, rule: ExchangeClient, subject: AccessToken,
                   token: str) -> str:
        """The ``act`` claim of the new token as JSON text (RFC 8693 §4.1)."""
        params = request.params
        actor_token, kind = params.get("actor_token"), params.get("actor_token_type")
        if (actor_token is None) != (kind is None):
            raise InvalidRequest("actor_token and actor_token_type go together (RFC 8693 §2.1).")
        if not rule.delegation:
            if actor_token is not None:
                raise InvalidRequest("This client impersonates: it sends no actor_token.")
            return subject.act
        if actor_token is None or kind is None:
            raise InvalidRequest("Delegation needs an actor_token.")
        actor = await self._actor(request.client, actor_token, kind, token)
        if (actor.subject, actor.subject_type) == (subject.subject, subject.subject_type):
            raise InvalidRequest("The actor_token names the subject itself.")
        claim: dict[str, object] = {"sub": actor.subject} if actor.subject_type == "user" \
            else {"client_id": actor.subject}
        if subject.act:
            claim["act"] = json.loads(subject.act)
        return json.dumps(claim, separators=(",", ":"), sort_keys=True)

    async def _actor(self, client: Client, actor_token: str, kind: str, token: str
                     ) -> AccessToken:
        """The actor: our access token issued to the client itself, or a trusted JWT."""
        if actor_token == token:
            raise InvalidRequest("The actor_token is the subject_token.")
        if kind == ACCESS_TOKEN_TYPE:
            record = await self.store.resolve(actor_token)
            if record is not None and record.client_id != client.client_id:
                record = None
        elif kind == JWT_TYPE:
            record = await self._foreign(actor_token)
        else:
            raise InvalidRequest("The actor_token_type is not supported.")
        if record is None or record.is_expired(self.store.clock()):
            raise InvalidRequest("The actor_token is invalid, expired or revoked.")
        return record


def _check_meant_for(client: Client, rule: ExchangeClient, subject: AccessToken,
                     ours: bool) -> None:
    """A client exchanges only tokens meant for it: its own, or ones for an API it serves."""
    if ours and subject.client_id == client.client_id:
        return
    if not subject.audience.intersection(rule.accepts):
        raise InvalidRequest("The subject_token is not meant for this client.")
