"""A middleware judges each request with its own verifier: an outer one's token is not its own.

An app can hold two ``OAuthMiddleware`` over two token stores — a public API at
the top, an internal one mounted below with its own store. The inner one dropped
a token it did not know (an unlisted route) but left the outer one's
``scope["oauth"]`` and token user in place, so ``RequireScopes`` and
``@oauth_required`` below it accepted a token its own store never issued.
"""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from oauth_middleware import OAuthMiddleware, RequireScopes, TokenStore, oauth_required
from oauth_middleware.store import NewTokens

require_admin = RequireScopes("admin")


async def reports(request: Request) -> Response:
    token = require_admin(request)
    return JSONResponse({"subject": token.subject})


@oauth_required("admin")
async def decorated(request: Request) -> Response:
    return JSONResponse({"user": request.user.display_name})


async def whoami(request: Request) -> Response:
    return JSONResponse({"authenticated": request.user.is_authenticated,
                         "oauth": request.scope.get("oauth") is not None,
                         "scopes": request.auth.scopes})


def _app(public: TokenStore, internal: TokenStore) -> Starlette:
    inner = Starlette(routes=[Route("/reports", reports), Route("/decorated", decorated),
                              Route("/whoami", whoami)])
    inner.add_middleware(OAuthMiddleware, store=internal, realm="internal")
    outer = Starlette(routes=[Mount("/internal", inner)])
    outer.add_middleware(OAuthMiddleware, store=public)
    return outer


@pytest.mark.rule("resource.invalid-token", "resource.dropped-token-reason")
async def test_a_token_of_the_outer_store_opens_nothing_below_the_inner_middleware(
    store: TokenStore,
) -> None:
    internal = TokenStore.from_url(None)
    public = await store.issue(NewTokens(client_id="c", subject="mallory",
                                         scopes=frozenset({"admin"})))
    bearer = {"Authorization": f"Bearer {public.access_token}"}
    app = _app(store, internal)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://api.example") as client:
        answers = [await client.get(path, headers=bearer)
                   for path in ("/internal/reports", "/internal/decorated")]
        who = await client.get("/internal/whoami", headers=bearer)
    for answer in answers:
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"] == "invalid_token"
        # realm: the dependency's own ("api"), the inner middleware's for the decorator
        assert answer.headers["www-authenticate"].endswith(
            '", error="invalid_token", '
            'error_description="The access token is invalid, expired or revoked."')
    # Nor do the outer token's scopes stay in request.auth.
    assert who.json() == {"authenticated": False, "oauth": False, "scopes": []}
    await internal.aclose()


async def test_a_token_of_the_inner_store_is_accepted_below_it(store: TokenStore) -> None:
    internal = TokenStore.from_url(None)
    issued = await internal.issue(NewTokens(client_id="c", subject="alice",
                                            scopes=frozenset({"admin"})))
    app = _app(store, internal)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://api.example") as client:
        answer = await client.get("/internal/reports",
                                  headers={"Authorization": f"Bearer {issued.access_token}"})
    assert answer.status_code == 200 and answer.json() == {"subject": "alice"}
    await internal.aclose()
