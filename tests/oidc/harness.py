"""An OpenID Provider for the tests: the ``auth/`` harness's host, with ``openid=`` on.

The host's ``authenticate`` says who signed in (``X-Test-User``) and, when the test
sends them, when and how: ``X-Auth-Time``, ``X-Acr``, ``X-Amr``. Its ``userinfo`` hook
knows alice and bob, and tries to smuggle in a ``sub`` and a claim no scope grants.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.requests import Request

from oauth_middleware import Scope, TokenStore, register_client
from oauth_middleware.identity import logged_in_user
from oauth_middleware.security import pkce_s256
from oauth_middleware.server.oidc import OpenIDProvider
from oauth_middleware.web import Authentication
from tests.oidc_keys import TestKeys, ring
from tests.server.authorize_harness import (
    ISSUER,
    VERIFIER,
    Harness,
    answer,
    open_harness,
    read_page,
)

RP = "rp"
RP_SECRET = "rp-secret-0123456789abcdefghijklmnopqrstuvwxyz"
RP_REDIRECT = "https://rp.example/cb"
OTHER = "other"
OTHER_REDIRECT = "https://other.example/cb"
SPA = "spa"
SPA_REDIRECT = "https://spa.example/cb"
CLAIM_SCOPES = ("profile", "email", "address", "phone")
CHALLENGE = pkce_s256(VERIFIER)

USERS: dict[str, dict[str, object]] = {
    "alice": {
        "name": "Alice Liddell", "given_name": "Alice", "family_name": "Liddell",
        "email": "alice@example.com", "email_verified": True,
        "address": {"country": "GB", "locality": "Oxford"},
        "phone_number": "+44 1865 000000", "phone_number_verified": False,
        "sub": "forged-by-the-hook", "salary": 100,
    },
    "bob": {"name": "Bob", "email": "bob@example.com", "email_verified": False},
}


def userinfo(user_id: str, scopes: frozenset[str]) -> dict[str, object]:
    return USERS.get(user_id, {})


async def authenticate(request: Request) -> Authentication | None:
    user = logged_in_user(request)
    if user is None:
        return None
    at, acr = request.headers.get("x-auth-time"), request.headers.get("x-acr")
    return Authentication(user, auth_time=float(at) if at else None, acr=acr,
                          amr=tuple(request.headers.get("x-amr", "").split()))


async def seed(store: TokenStore) -> None:
    for scope in ("openid", *CLAIM_SCOPES, "polls:read"):
        await store.save_scope(Scope(scope, scope.title()))
    await register_client(store, "Relying Party", RP, RP_REDIRECT, public=False,
                          client_secret=RP_SECRET, register_unknown_scopes=False)
    await register_client(store, "Other RP", OTHER, OTHER_REDIRECT, public=False,
                          client_secret=RP_SECRET, register_unknown_scopes=False)
    await register_client(store, "Implicit SPA", SPA, SPA_REDIRECT, public=True,
                          register_unknown_scopes=False,
                          grant_types=["authorization_code", "implicit", "refresh_token"])


@dataclass
class OP:
    """The harness plus what the OpenID tests do over and over."""

    h: Harness
    keys: TestKeys

    async def authorize(self, user: str | None = "alice",
                        headers: Mapping[str, str] | None = None, /,
                        **params: str) -> httpx.Response:
        return await self.h.get_auth(params, user=user, headers=headers)

    async def approve(self, user: str = "alice", headers: Mapping[str, str] | None = None, /,
                      **params: str) -> dict[str, str]:
        """Open the consent page as ``user``, approve it; the redirect's parameters."""
        return await self.approve_scopes(user, headers, None, params)

    async def approve_scopes(self, user: str, headers: Mapping[str, str] | None,
                             scopes: list[str] | None, params: Mapping[str, str]
                             ) -> dict[str, str]:
        """:meth:`approve`, ticking only ``scopes`` (None: all) on the consent page."""
        response = await self.authorize(user, headers, **params)
        assert response.status_code == 200, response.text
        page = read_page(response.text)
        decided = await self.h.decide(page, user=user, scopes=scopes,
                                      headers=dict(headers or {}) | {
                                          "origin": "https://testserver",
                                          "sec-fetch-site": "same-origin"})
        return answer(decided)[2]

    async def code_flow(self, user: str = "alice", *, scope: str = "openid",
                        headers: Mapping[str, str] | None = None, **params: str) -> httpx.Response:
        """Sign ``user`` in at ``rp`` (code + PKCE); the token endpoint's response."""
        got = await self.approve(user, headers, response_type="code", client_id=RP,
                                 redirect_uri=RP_REDIRECT, scope=scope, state="s",
                                 code_challenge=CHALLENGE, code_challenge_method="S256",
                                 **params)
        return await self.redeem(got["code"])

    async def redeem(self, code: str, client: str = RP, redirect_uri: str = RP_REDIRECT
                     ) -> httpx.Response:
        return await self.h.http.post("/oauth/token/", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": VERIFIER}, auth=(client, RP_SECRET))

    async def jwks(self) -> KeySet:
        return KeySet.import_key_set(await self.keys.public_jwks())  # type: ignore[arg-type]

    async def id_token(self, raw: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Header and claims of an ID token whose signature verifies with our JWKS."""
        token = jwt.decode(raw, await self.jwks(), algorithms=["RS256", "ES256"])
        return dict(token.header), dict(token.claims)


def half_hash(value: str) -> str:
    """at_hash / c_hash for RS256 and ES256, computed independently of the server."""
    digest = hashlib.sha256(value.encode("ascii")).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def claims_param(**members: object) -> str:
    return json.dumps(members)


@asynccontextmanager
async def open_op(store: TokenStore, *, provider: OpenIDProvider | None = None,
                  **options: Any) -> AsyncIterator[OP]:
    keys = ring()
    options.setdefault("openid", provider or OpenIDProvider(userinfo=userinfo))
    async with open_harness(store, seeded=False, signing_keys=keys, authenticate=authenticate,
                            **options) as h:
        await seed(store)
        yield OP(h, keys)


__all__ = ["ISSUER", "OP", "OTHER", "RP", "SPA", "SPA_REDIRECT", "open_op"]
