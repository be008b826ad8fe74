"""What every grant shares (RFC 6749 §4, §5.1, §3.3): the two halves, parameters, scopes.

A grant owns a flow at both endpoints it touches. Its authorization-endpoint half
(:class:`AuthorizationGrant`) declares the ``RESPONSE_TYPES`` it answers at
``auth/``, checks those response types' own parameters and builds the approved
request's answer; its token-endpoint half (:class:`TokenGrant`) is keyed by
``GRANT_TYPE`` at ``token/``, declares what it needs read along with the client
(``PREFETCH``) and issues tokens from one
:class:`~oauth_middleware.server.grants.request.TokenRequest`. The code grant has
both halves, implicit only the first, the others only the second. A grant raises
OAuth errors and returns records; turning either into a response is the endpoints'
job. ``GRANT_TYPE`` is also the name the server and each client must allow
(RFC 7591 §2 ``grant_types``: ``implicit`` for the token response type).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from oauth_middleware.audit import EventType
from oauth_middleware.errors import SCOPE_TOKEN, InvalidRequest, InvalidScope
from oauth_middleware.models import (
    Client,
    GrantType,
    IssuedTokens,
    PendingAuthorization,
    ResponseType,
    SubjectType,
)
from oauth_middleware.pkce import Challenge
from oauth_middleware.resource_indicators import requested_audience
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.server.form import Params, values
from oauth_middleware.server.grants.extensions import GrantExtension
from oauth_middleware.server.grants.request import Prefetch, TokenRequest
from oauth_middleware.server.jwt_access import AccessTokenSigner, SignIn
from oauth_middleware.server.throttle import Throttle
from oauth_middleware.server.urlencoded import Params as QueryParams
from oauth_middleware.store import NewTokens, StreamEvent

logger = logging.getLogger("oauth_middleware.server")


def required(params: Params, name: str) -> str:
    """A parameter the grant cannot do without (RFC 6749 §5.2 ``invalid_request``)."""
    value = params.get(name)
    if value is None:
        raise InvalidRequest(f"The {name} parameter is missing.")
    return value


def resources(params: Params) -> list[str]:
    """The ``resource`` parameters of a token request (RFC 8707 §2), in order."""
    return values(params, "resource")


def requested_scopes(params: Params) -> list[str] | None:
    """The ``scope`` parameter as a list (RFC 6749 §3.3), None when not sent."""
    raw = params.get("scope")
    items = [s for s in raw.split(" ") if s] if raw is not None else []
    if any(not SCOPE_TOKEN.fullmatch(s) for s in items):
        raise InvalidScope("A requested scope is malformed.")
    return items or None


class Grant(ABC):
    """A grant's configuration and token issuing; a grant is one half or both, never neither.

    ``extensions`` are the :class:`GrantExtension` registered for it, called by both halves.
    """

    GRANT_TYPE: ClassVar[GrantType]
    #: The audit event of this grant's issue, and the one of a replay its store script
    #: refuses (None: it has none); written by the store with the change.
    EVENTS: ClassVar[tuple[EventType, EventType | None]] = ("token.issued", None)

    def __init__(self, config: ServerConfig, throttle: Throttle,
                 extensions: Sequence[GrantExtension] = ()) -> None:
        self.config = config
        self.store = config.store
        self.throttle = throttle
        self.extensions = tuple(extensions)
        #: Signs the access tokens of clients registered for JWTs (RFC 9068).
        self.signer = AccessTokenSigner(config)

    def authorization_event(self, type: EventType, client: Client, user: str,
                            scopes: Iterable[str]) -> StreamEvent | None:
        """The event of what a person's approval at ``auth/`` issued, for the store to
        write with it (None: no trail)."""
        audit = self.config.audit
        if audit is None:
            return None
        return audit.stream_event(type, actor=f"user:{user}", client=client.client_id,
                                  user=user, scopes=scopes, grant_type=self.GRANT_TYPE)

    async def revoke_replayed(self, type: EventType, client: Client, grant_id: str,
                              fingerprint: str, user: str) -> None:
        """Revoke the grant of a value presented again (RFC 9700 §4.14.2), its event
        (``type``, naming the value by ``fingerprint``) written by the same script."""
        audit = self.config.audit
        if audit is None:
            await self.store.revoke_grant(grant_id)
            return
        await self.store.revoke_grant(grant_id, event=audit.stream_event(
            type, actor=f"client:{client.client_id}", client=client.client_id, user=user,
            grant=grant_id, fingerprint=fingerprint))

    def may_refresh(self, client: Client) -> bool:
        """Refresh tokens only for clients allowed them, while the server allows refreshing."""
        return client.allows("refresh_token") and "refresh_token" in self.config.grant_types

    def new_tokens(
        self, client: Client, *, subject: str, scopes: frozenset[str],
        subject_type: SubjectType = "user", refresh: bool = True,
        grant_scopes: frozenset[str] | None = None, audience: frozenset[str] = frozenset(),
        grant_audience: frozenset[str] | None = None, sign_in: SignIn | None = None,
        jkt: str = "",
    ) -> NewTokens:
        """What to issue: the client's token lifetime, the server's refresh lifetime, and
        the client's access token format (a JWT carries ``sign_in``, RFC 9068 §2.2.1).
        ``jkt`` binds the tokens to a DPoP key (RFC 9449 §5): the access token always, the
        refresh token of a public client only (a confidential client's is bound to its
        authentication already)."""
        audit = self.config.audit
        return self.signer.apply(client, NewTokens(
            client_id=client.client_id, subject=subject, subject_type=subject_type,
            scopes=scopes, lifetime=client.token_lifetime,
            refresh=refresh and self.may_refresh(client),
            refresh_lifetime=self.config.refresh_lifetime, grant_scopes=grant_scopes,
            client_generation=client.generation, audience=audience,
            grant_audience=grant_audience, jkt=jkt, bind_refresh=bool(jkt) and client.public,
            event=None if audit is None else audit.stream_event(
                self.EVENTS[0], lost=self.EVENTS[1], actor=f"client:{client.client_id}",
                client=client.client_id, user=subject if subject_type == "user" else "",
                scopes=scopes, grant_type=self.GRANT_TYPE),
        ), sign_in)

    def direct_audience(self, client: Client, params: Params) -> frozenset[str]:
        """The audience of a grant made at the token endpoint itself (RFC 8707 §2)."""
        return requested_audience(client, resources(params), self.config.default_resource)


class TokenGrant(Grant):
    """The token-endpoint half (RFC 6749 §4.1.3, §4.3.2, §4.4.2, §6)."""

    #: May a public client (``client_id`` alone, RFC 6749 §2.1) use this grant?
    PUBLIC: ClassVar[bool] = False
    #: What :meth:`issue` needs read along with the client, in one round trip.
    PREFETCH: ClassVar[Prefetch] = Prefetch()

    @abstractmethod
    async def issue(self, request: TokenRequest) -> IssuedTokens:
        """Check the grant and issue tokens, or raise the OAuth error that says why not."""

    async def token_response(self, request: TokenRequest, issued: IssuedTokens
                             ) -> dict[str, object]:
        """The JSON body for ``issued`` (RFC 6749 §5.1), as the extensions complete it."""
        body = issued.to_response(self.store.clock())
        for extension in self.extensions:
            await extension.token_response(self, request, issued, body)
        return body

    async def still_available(self, request: TokenRequest, scopes: Iterable[str]
                              ) -> frozenset[str]:
        """The part of an earlier grant that may still be issued: scopes disabled or taken
        from the client since then are dropped, never granted (RFC 6749 §3.3)."""
        client, wanted = request.client, list(scopes)
        known = await self.store.get_scopes(wanted, snapshot=request.scope_snapshot)
        available = frozenset(
            s for s in wanted
            if s in known and known[s].enabled and (not client.scopes or s in client.scopes)
        )
        if not available:
            raise InvalidScope("None of the granted scopes is available any more.")
        return available


@dataclass(frozen=True, slots=True)
class AuthorizationDetails:
    """What a response type's own parameters add to the request the user is asked about."""

    #: RFC 7636 §4.3, for ``code``.
    challenge: Challenge | None = None
    #: RFC 9449 §10, for ``code``: the key the code will be redeemed with.
    dpop_jkt: str | None = None


class AuthorizationGrant(Grant):
    """The authorization-endpoint half (RFC 6749 §4.1.1-4.1.2, §4.2.1-4.2.2)."""

    RESPONSE_TYPES: ClassVar[frozenset[ResponseType]]
    #: Answer in the fragment (RFC 6749 §4.2.2), errors included, rather than the query.
    FRAGMENT: ClassVar[bool] = False

    def check_parameters(self, client: Client, params: QueryParams) -> AuthorizationDetails:
        """The response type's own parameters, checked once client and redirect URI were
        (their errors are redirected); a grant with none returns no details."""
        return AuthorizationDetails()

    async def check_authorization(self, client: Client, params: QueryParams
                                  ) -> AuthorizationDetails:
        """:meth:`check_parameters`, then each extension's check."""
        details = self.check_parameters(client, params)
        for extension in self.extensions:
            await extension.check_authorization(self, client, params)
        return details

    @abstractmethod
    async def respond(self, client: Client, pending: PendingAuthorization,
                      scopes: frozenset[str]) -> dict[str, str]:
        """Create the grant the user approved; the redirect's parameters (``state`` apart)."""

    async def authorization_response(self, client: Client, pending: PendingAuthorization,
                                     scopes: frozenset[str]) -> dict[str, str]:
        """:meth:`respond`, as the extensions complete it."""
        answer = await self.respond(client, pending, scopes)
        for extension in self.extensions:
            await extension.authorization_response(self, client, pending, scopes, answer)
        return answer
