"""A route needing several scopes needs ALL of them, on every surface (RFC 6750 §3.1).

Each surface (the middleware's mapping, ``@oauth_required``, FastAPI's
``RequireScopes``) is given a route needing two scopes and tokens holding one,
the other, both: a check written as "any of" (``required & token.scopes``)
instead of "all of" passes every single-scope test, so only this shape
catches it.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from oauth_middleware import AccessToken, OAuthMiddleware, RequireScopes, oauth_required
from oauth_middleware.store import NewTokens, TokenStore

BOTH = ("reports:read", "reports:write")
DESC_SCOPE = "The access token does not carry the required scope."
CHALLENGE = ('Bearer realm="api", error="insufficient_scope", '
             f'error_description="{DESC_SCOPE}", scope="reports:read reports:write"')
#: Paths that reached an endpoint: a refusal must leave this empty.
calls: list[str] = []


@pytest.fixture(autouse=True)
def _no_calls() -> None:
    calls.clear()


async def _endpoint(request: Request) -> Response:
    calls.append(request.url.path)
    return JSONResponse({"user": request.user.identity})


@oauth_required(list(BOTH))
async def _decorated(request: Request) -> Response:
    return await _endpoint(request)


def _mapped(store: TokenStore) -> ASGIApp:
    app = Starlette(routes=[Route("/reports", _endpoint)])
    app.add_middleware(OAuthMiddleware, store=store, scopes={"/reports": list(BOTH)})
    return app


def _decorator_only(store: TokenStore) -> ASGIApp:
    """The middleware cannot see the routes (a plain ASGI callable in between), so it
    enforces nothing for this endpoint: the decorator's own check is the one tested."""
    app = Starlette(routes=[Route("/reports", _decorated)])

    async def opaque(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)

    return OAuthMiddleware(opaque, store=store, scopes={})


def _dependency(store: TokenStore) -> ASGIApp:
    app = FastAPI()

    @app.get("/reports")
    async def reports(token: Annotated[AccessToken, Depends(RequireScopes(*BOTH))]) -> Any:
        calls.append("/reports")
        return {"user": token.subject}

    app.add_middleware(OAuthMiddleware, store=store, scopes={})
    return app


async def _answers(app: ASGIApp, store: TokenStore) -> dict[str, httpx.Response]:
    """The answer to a token holding each subset of the two scopes."""
    holdings = {"read only": {"reports:read"}, "write only": {"reports:write"},
                "unrelated": {"reports:other"}, "both": set(BOTH)}
    answers = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as client:
        for name, scopes in holdings.items():
            issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                                 scopes=frozenset(scopes)))
            answers[name] = await client.get(
                "/reports", headers={"Authorization": f"Bearer {issued.access_token}"})
    return answers


@pytest.mark.parametrize("surface", [_mapped, _decorator_only, _dependency],
                         ids=["mapping", "oauth_required", "RequireScopes"])
@pytest.mark.rule("resource.insufficient-scope", "resource.app-not-called")
async def test_a_token_holding_one_of_two_required_scopes_is_403_naming_both(
    store: TokenStore, surface: Any
) -> None:
    answers = await _answers(surface(store), store)
    for name in ("read only", "write only", "unrelated"):
        lacking = answers[name]
        assert lacking.status_code == 403, name
        assert lacking.headers["www-authenticate"] == CHALLENGE, name
        assert lacking.headers["cache-control"] == "no-store", name
        assert lacking.json() == {"error": "insufficient_scope",
                                  "error_description": DESC_SCOPE,
                                  "scope": "reports:read reports:write"}
    assert answers["both"].status_code == 200
    assert answers["both"].json() == {"user": "alice"}
    assert calls == ["/reports"]
