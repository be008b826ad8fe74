"""Helpers for the token exchange tests (RFC 8693): the server, its clients, tokens to exchange.

``web`` is the app the user signed in to: its token for alice is meant for API B
(``API_B``). ``api-b`` is that API, a confidential client that exchanges the token it
was called with for one meant for API C, acting for alice (delegation, its own
client-credentials token as ``actor_token``); ``api-imp`` does the same by impersonation.
A foreign issuer (an in-process JWKS) signs JWTs for alice; the server trusts it.
``build`` is the same server for real uvicorn.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import httpx
from joserfc import jws
from joserfc.jwk import RSAKey
from starlette.applications import Starlette

from oauth_middleware import JWTVerifier, TokenStore
from oauth_middleware.models import TOKEN_EXCHANGE
from oauth_middleware.server import ExchangeClient, TokenExchangePolicy
from oauth_middleware.store import NewTokens
from oauth_middleware.toolbox import RegisteredClient
from tests.conftest import FakeClock
from tests.server.token_harness import ISSUER, TOKEN_PATH, auth_of, build_app, confidential

API_B = "https://b.example/api"
API_C = "https://c.example/api"
FOREIGN = "https://idp.example"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
JWT = "urn:ietf:params:oauth:token-type:jwt"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})


def _jwks(request: httpx.Request) -> httpx.Response:
    if "/.well-known/" in request.url.path:
        return httpx.Response(200, json={"issuer": FOREIGN, "jwks_uri": FOREIGN + "/jwks"})
    return httpx.Response(200, json={"keys": [KEY.as_dict(private=False)]},
                          headers={"Cache-Control": "max-age=600"})


def policy(clock: Callable[[], float]) -> TokenExchangePolicy:
    foreign = JWTVerifier(issuer=FOREIGN, audience=ISSUER, clock=clock,
                          http_client=httpx.AsyncClient(transport=httpx.MockTransport(_jwks)))
    return TokenExchangePolicy(trusted_issuers=[foreign], clients={
        "api-b": ExchangeClient(accepts=frozenset({API_B})),
        "api-imp": ExchangeClient(accepts=frozenset({API_B}), delegation=False),
    })


def exchange_app(store: TokenStore, clock: FakeClock, **options: Any) -> Starlette:
    return build_app(store, token_exchange=policy(clock), **options)


def build() -> Starlette:
    """For ``uvicorn --factory tests.server.exchange_harness:build``: the Redis of
    ``REDIS_URL``, the issuer of ``OM_ISSUER``, debug (plain HTTP on loopback)."""
    store = TokenStore.from_url(os.environ["REDIS_URL"])
    return build_app(store, issuer=os.environ["OM_ISSUER"], debug=True,
                     token_exchange=policy(time.time))


async def services(store: TokenStore, **options: Any) -> dict[str, RegisteredClient]:
    """``web`` (signs alice in), ``api-b`` (delegation), ``api-imp`` (impersonation)."""
    grants = ["client_credentials", TOKEN_EXCHANGE]
    return {
        "web": await confidential(store, "web"),
        "api-b": await confidential(store, "api-b", grant_types=grants,
                                    resources=[API_C], **options),
        "api-imp": await confidential(store, "api-imp", grant_types=grants, resources=[API_C]),
    }


async def user_token(store: TokenStore, *, client_id: str = "web", user: str = "alice",
                     audience: frozenset[str] = frozenset({API_B}),
                     scopes: frozenset[str] = frozenset({"read", "write"}),
                     lifetime: int = 3600) -> tuple[str, str]:
    """An access token of ``user`` issued to ``client_id``, and its refresh token."""
    issued = await store.issue(NewTokens(client_id=client_id, subject=user, scopes=scopes,
                                         audience=audience, lifetime=lifetime, refresh=True))
    assert issued.refresh_token is not None
    return issued.access_token, issued.refresh_token


async def own_token(store: TokenStore, client_id: str) -> str:
    """A client's own client-credentials token (its ``actor_token``)."""
    issued = await store.issue(NewTokens(client_id=client_id, subject=client_id,
                                         subject_type="client", scopes=frozenset({"read"})))
    return issued.access_token


def foreign_jwt(clock: FakeClock, *, key: RSAKey = KEY, **claims: Any) -> str:
    now = int(clock.now)
    body = {"iss": FOREIGN, "aud": ISSUER, "sub": "alice", "client_id": "idp-app",
            "scope": "read", "iat": now, "exp": now + 600} | claims
    return jws.serialize_compact({"alg": "RS256", "kid": "k1", "typ": "at+jwt"},
                                 json.dumps(body), key)


def form(subject: str, actor: str | None = None, *, subject_type: str = ACCESS,
         actor_type: str = ACCESS, **extra: str | list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {"grant_type": TOKEN_EXCHANGE, "subject_token": subject,
                            "subject_token_type": subject_type, "resource": API_C}
    if actor is not None:
        data |= {"actor_token": actor, "actor_token_type": actor_type}
    return data | extra


async def exchange(client: httpx.AsyncClient, caller: RegisteredClient, subject: str,
                   actor: str | None = None, **extra: Any) -> httpx.Response:
    return await client.post(TOKEN_PATH, data=form(subject, actor, **extra),
                             headers=auth_of(caller))
