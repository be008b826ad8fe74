"""OpenAPI says an operation needs a scope only when the middleware enforces it on all of it.

A mapping key narrower than the route it was meant for — ``"/files/{page}"`` over a
route ``/files/{name:path}`` — protects ``/files/a`` and leaves ``/files/a/b`` open.
The schema matched the key against the route's path with its convertors stripped
and listed the scope on the whole operation, so ``/docs`` showed a padlock over an
open door. A key that is the route's own template with a narrower convertor
(``"/orders/{order_id:int}"`` over ``/orders/{order_id}``) is refused at start.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from oauth_middleware import OAuthMiddleware, TokenStore
from oauth_middleware.openapi import document_oauth
from oauth_middleware.server import AuthorizationServer

#: (route, mapping key, sample paths, documented): documented exactly when the key
#: covers every path of the route.
CASES = [
    ("/items/{item_id}", "/items/{id:int}", ["/items/1", "/items/abc"], False),
    ("/users/{uid:int}", "/users/{uid}", ["/users/7"], True),
    ("/files/{name:path}", "/files/{page}", ["/files/a", "/files/a/b"], False),
    ("/docs/{page:path}", "/docs/{page:path}", ["/docs/a", "/docs/a/b"], True),
    ("/exact/{x}", "/exact/{x}", ["/exact/1", "/exact/x"], True),
]


def _app(store: TokenStore, route: str, key: str) -> FastAPI:
    app = FastAPI()

    async def endpoint() -> dict[str, str]:
        return {"open": "yes"}

    app.get(route)(endpoint)
    app.add_middleware(OAuthMiddleware, store=store, scopes={key: "things:read"})
    server = AuthorizationServer(store=store, issuer="https://api.example/oauth",
                                 secret_key="openapi-coverage-key-0123456789abcdef")
    app.mount("/oauth", server)
    document_oauth(app, server)
    return app


@pytest.mark.parametrize(("route", "key", "paths", "documented"), CASES)
async def test_the_schema_lists_a_scope_only_where_every_request_needs_it(
    store: TokenStore, route: str, key: str, paths: list[str], documented: bool
) -> None:
    app = _app(store, route, key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://api.example") as client:
        answers = {path: (await client.get(path)).status_code for path in paths}
        schema = (await client.get("/openapi.json")).json()
    [operation] = [item["get"] for path, item in schema["paths"].items()
                   if path.startswith(route.split("{")[0])]
    enforced_everywhere = all(status == 401 for status in answers.values())
    assert enforced_everywhere is documented, answers
    assert ("security" in operation) is documented, operation
    if documented:
        assert operation["security"] == [{"OAuth2": ["things:read"]}]


async def test_a_key_narrower_than_its_route_fails_at_start_or_protects_all_of_it(
    store: TokenStore,
) -> None:
    """``"/orders/{order_id:int}"`` over FastAPI's ``/orders/{order_id}`` (``order_id: int``):
    FastAPI parses ``+5``, ``1.0`` and `` 1`` as order numbers the key never matches."""
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> int:
        return order_id

    app.add_middleware(OAuthMiddleware, store=store,
                       scopes={"/orders/{order_id:int}": "orders:read"})
    answers: list[int | bool] = []
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="https://api.example") as client:
            for path in ("/orders/1", "/orders/+5", "/orders/1.0", "/orders/%201"):
                answers.append((await client.get(path)).status_code)
    except ValueError as exc:  # refused at start: the message names the key
        answers = ["/orders/{order_id:int}" in str(exc)] * 4
    assert answers in ([401, 401, 401, 401], [True] * 4)
