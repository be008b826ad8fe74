"""A CORS preflight to a protected route gets a CORS answer or the refusal, never the resource.

The middleware lets a preflight (``OPTIONS`` with ``Origin`` and
``Access-Control-Request-Method``, no ``Authorization``) through without a token so
that a CORS layer below it can answer (Fetch §4.8). Anyone can send those headers,
though, and the layer below is not always a CORS layer: a Django function view
that does not look at ``request.method`` (or any route that serves ``OPTIONS``)
answered the "preflight" with the protected data to an anonymous caller.
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
from starlette.types import Message, Receive, Scope, Send

from oauth_middleware import OAuthMiddleware
from oauth_middleware.store import TokenStore

ORIGIN = "https://spa.example"
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET",
             "Access-Control-Request-Headers": "authorization"}
SECRET_ITEMS = {"items": ["salary-report"]}
CORS_HEADERS = [(b"access-control-allow-origin", ORIGIN.encode()),
                (b"access-control-allow-methods", b"GET"),
                (b"access-control-allow-headers", b"authorization")]


class AnyMethodView:
    """A raw ASGI app answering every method alike, as a Django function view that
    never reads ``request.method`` does."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls.append(scope["method"])
        await JSONResponse(SECRET_ITEMS)(scope, receive, send)


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url="https://api.example")


@pytest.mark.rule("resource.cors-preflight", "resource.missing-401")
async def test_a_forged_preflight_to_a_protected_view_serving_options_gets_the_refusal(
    store: TokenStore,
) -> None:
    view = AnyMethodView()
    app = OAuthMiddleware(view, store=store, scopes={"/items": "items:read"})
    app.policy.bound = True  # explicit rules over an app without routes, as protect_wsgi does
    async with _client(app) as client:
        answer = await client.options("/items", headers=PREFLIGHT)
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"] == 'Bearer realm="api"'
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {"error_description": "A bearer token is required."}
    assert view.calls == ["OPTIONS"]  # it ran (the middleware cannot know), its answer did not go


@pytest.mark.rule("resource.cors-preflight")
async def test_a_cors_answer_to_a_preflight_keeps_its_headers_but_no_body(
    store: TokenStore,
) -> None:
    """The CORS layer's own answer goes out (a browser reads only its headers); a view
    that also sets CORS headers on everything cannot leak its data through it."""
    view = AnyMethodView()

    async def leaky(scope: Scope, receive: Receive, send: Send) -> None:
        """CORS done by hand: every answer gets the CORS headers, preflights included."""
        async def cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], *CORS_HEADERS]}
            await send(message)

        await view(scope, receive, cors)

    app = OAuthMiddleware(leaky, store=store, scopes={"/items": "items:read"})
    async with _client(app) as client:
        answer = await client.options("/items", headers=PREFLIGHT)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert answer.headers["access-control-allow-headers"] == "authorization"
    assert answer.headers["content-length"] == "0" and answer.content == b""
    assert view.calls == ["OPTIONS"]


@pytest.mark.rule("resource.cors-preflight")
async def test_starlette_cors_middleware_still_answers_preflights_to_protected_routes(
    store: TokenStore,
) -> None:
    async def items(request: Request) -> Response:
        return JSONResponse(SECRET_ITEMS)

    inner = Starlette(routes=[Route("/items", items)])
    cors = CORSMiddleware(inner, allow_origins=[ORIGIN], allow_methods=["GET"],
                          allow_headers=["Authorization"])
    app = OAuthMiddleware(cors, store=store, scopes={"/items": "items:read"})
    async with _client(app) as client:
        answer = await client.options("/items", headers=PREFLIGHT)
        refused = await client.options("/items", headers={**PREFLIGHT, "Origin": "https://x.example"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in answer.headers["access-control-allow-headers"].lower()
    # CORSMiddleware's own refusal of an unknown origin is still its answer.
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers


@pytest.mark.rule("resource.cors-preflight")
async def test_a_preflight_to_an_unlisted_route_reaches_the_app_untouched(
    store: TokenStore,
) -> None:
    view = AnyMethodView()
    app = OAuthMiddleware(view, store=store, scopes={"/items": "items:read"})
    app.policy.bound = True
    async with _client(app) as client:
        answer = await client.options("/public", headers=PREFLIGHT)
    assert answer.status_code == 200 and answer.json() == SECRET_ITEMS
    assert view.calls == ["OPTIONS"]


async def test_a_preflight_let_through_still_reads_its_body_below() -> None:
    """The layer below gets the request's own ``receive``: one that reads the body of an
    OPTIONS request (a framework parsing every request) must not break on it."""
    read: list[bytes] = []

    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        read.append(message["body"])
        await JSONResponse({"read": message["body"].decode()})(scope, receive, send)

    app = OAuthMiddleware(echo, store=TokenStore.from_url(None))
    async with _client(app) as client:
        answer = await client.request("OPTIONS", "/open", headers=PREFLIGHT, content=b"ping")
    assert answer.status_code == 200 and answer.json() == {"read": "ping"}
    assert read == [b"ping"]
