"""CORS preflights carry no credentials: they reach the app in either middleware order.

A browser asks ``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``
before a cross-origin request with an ``Authorization`` header, and never sends
credentials with it. Answering it 401 (what the middleware did when it sat
outside Starlette's ``CORSMiddleware``) makes every browser call fail.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oauth_middleware import OAuthMiddleware
from oauth_middleware.store import NewTokens, TokenStore

ORIGIN = "https://spa.example"
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET",
             "Access-Control-Request-Headers": "authorization"}


def _app(store: TokenStore, order: str) -> Starlette:
    async def items(request: Request) -> Response:
        request.app.state.calls.append(request.method)
        return JSONResponse({"user": request.user.identity})

    app = Starlette(routes=[Route("/items", items, methods=["GET"])])
    app.state.calls = []
    cors: dict[str, Any] = {"allow_origins": [ORIGIN], "allow_methods": ["GET"],
                            "allow_headers": ["Authorization"]}
    # add_middleware puts the newest outermost.
    if order == "CORS outside":
        app.add_middleware(OAuthMiddleware, store=store, scopes={"/items": "items:read"})
        app.add_middleware(CORSMiddleware, **cors)
    else:
        app.add_middleware(CORSMiddleware, **cors)
        app.add_middleware(OAuthMiddleware, store=store, scopes={"/items": "items:read"})
    return app


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url="https://api.example")


@pytest.mark.rule("resource.cors-preflight")
@pytest.mark.parametrize("order", ["CORS outside", "OAuth outside"])
async def test_preflight_to_a_protected_route_gets_the_cors_answer_in_either_order(
    store: TokenStore, order: str
) -> None:
    issued = await store.issue(NewTokens(client_id="spa", subject="alice",
                                         scopes=frozenset({"items:read"})))
    app = _app(store, order)
    async with _client(app) as client:
        preflight = await client.options("/items", headers=PREFLIGHT)
        actual = await client.get("/items", headers={
            "Origin": ORIGIN, "Authorization": f"Bearer {issued.access_token}"})
        bare_options = await client.options("/items", headers={"Origin": ORIGIN})
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "www-authenticate" not in preflight.headers
    assert actual.status_code == 200 and actual.json() == {"user": "alice"}
    assert actual.headers["access-control-allow-origin"] == ORIGIN
    # Not a preflight (no Access-Control-Request-Method): protected like any request.
    assert bare_options.status_code == 401
    assert bare_options.headers["www-authenticate"] == 'Bearer realm="api"'
    assert app.state.calls == ["GET"]


@pytest.mark.rule("resource.cors-preflight", "resource.invalid-token")
async def test_options_carrying_credentials_is_no_preflight_and_is_judged(
    store: TokenStore,
) -> None:
    app = Starlette(routes=[Route("/items", lambda request: JSONResponse({}),
                                  methods=["GET", "OPTIONS"])])
    app.add_middleware(OAuthMiddleware, store=store, scopes={"/items": "items:read"})
    async with _client(app) as client:
        forged = await client.options("/items", headers={
            **PREFLIGHT, "Authorization": "Bearer not-a-token-of-ours"})
        preflight = await client.options("/items", headers=PREFLIGHT)
    assert forged.status_code == 401
    assert forged.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in forged.headers["www-authenticate"]
    # A real preflight reaches the app, but an answer that is no CORS answer (here an
    # endpoint serving OPTIONS itself) is replaced by the refusal (test_preflight_guard.py).
    assert preflight.status_code == 401
    assert preflight.headers["www-authenticate"] == 'Bearer realm="api"'
