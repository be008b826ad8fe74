"""The UserInfo endpoint ``userinfo/`` (OpenID Connect Core 1.0 §5.3, RFC 6750 §2-3).

GET or POST, the access token in the ``Authorization: Bearer`` header or (POST)
the form body — never the URL, which servers and proxies log. The token must be
live, be a user's (a client_credentials token stands for nobody) and carry the
``openid`` scope; every refusal carries a ``Bearer`` challenge (§5.3.3). The
answer is the host's claims the token's scopes grant (:mod:`.claims`), with the
``sub`` its ID token had (§5.3.2: the client MUST check they are equal).
"""

from __future__ import annotations

from typing import ClassVar

from starlette.requests import Request
from starlette.responses import Response

from oauth_middleware import extraction
from oauth_middleware.error_response import render
from oauth_middleware.errors import (
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    MethodNotAllowed,
    MissingToken,
    OAuthError,
    RequestTooLarge,
)
from oauth_middleware.models import AccessToken
from oauth_middleware.server.boundary import JsonEndpoint, read_body
from oauth_middleware.server.oidc.claims import granted_claims, user_claims
from oauth_middleware.server.oidc.grants import OPENID
from oauth_middleware.server.oidc.subject import subject
from oauth_middleware.server.responses import json_response


class UserInfoEndpoint(JsonEndpoint):
    methods: ClassVar[frozenset[str]] = frozenset({"GET", "POST"})

    async def respond(self, request: Request, query: bytes) -> Response:
        token = await self.token(request, query)
        provider = self.config.openid
        client = await self.store.get_client(token.client_id)
        if provider is None or client is None:  # provider: unreachable (typing)
            raise InvalidToken()
        claims = await user_claims(provider, token.subject, token.scopes,
                                   granted_claims(token.scopes))
        sub = subject(provider, self.config.secret_key, client, token.subject)
        return json_response({**claims, "sub": sub})

    async def token(self, request: Request, query: bytes) -> AccessToken:
        """The live user token of the request carrying ``openid``, or the refusal."""
        if extraction.has_access_token(query):
            raise InvalidRequest("The access token must not be sent in the URL.")
        headers = request.scope["headers"]
        header = extraction.from_header(headers)
        body = None
        if request.method == "POST" and extraction.is_form(headers):
            body = extraction.from_urlencoded(await read_body(request))
        credential = extraction.single(header, body, None)
        if credential is None:
            raise MissingToken()
        token = await self.store.resolve(credential.token)
        if token is None or token.user is None or token.is_expired(self.store.clock()):
            raise InvalidToken()
        if OPENID not in token.scopes:
            raise InsufficientScope([OPENID])
        return token

    def render(self, exc: OAuthError) -> Response:
        """Every refusal of the token carries the ``Bearer`` challenge (§5.3.3, RFC 6750 §3);
        a wrong method or an oversized body is no verdict on it."""
        about_token = not isinstance(exc, MethodNotAllowed | RequestTooLarge)
        return render(exc, self.config.realm if about_token else None).response()
