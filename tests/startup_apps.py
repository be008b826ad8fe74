"""Apps whose start is what a test checks, for ``uvicorn --factory tests.startup_apps:…``.

``provisioned``: every worker runs ``ensure_client`` in its lifespan, then appends its
outcome to a Redis list the test waits on. ``misconfigured``: a scope-mapping key that
matches no route, which must stop the server at start.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from oauth_middleware import OAuthMiddleware, TokenStore, ensure_client
from tests.store_helpers import redis_of

#: The Redis list each worker appends its ``ensure_client`` outcome to.
OUTCOMES = "test:provisioning:outcomes"


async def items(request: Request) -> Response:
    return PlainTextResponse("items")


def provisioned() -> Starlette:
    store = TokenStore.from_url(os.environ["REDIS_URL"])

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        done = await ensure_client(
            store, "example-service", "Example service", public=False,
            client_secret=os.environ["EXAMPLE_CLIENT_SECRET"],
            grant_types=["client_credentials"], scopes_list=["items:read", "items:write"])
        await redis_of(store).rpush(OUTCOMES, done.outcome)
        yield
        await store.aclose()

    return Starlette(routes=[Route("/items", items)], lifespan=lifespan)


def misconfigured() -> Starlette:
    store = TokenStore.from_url(None)
    return Starlette(routes=[Route("/items", items)], middleware=[
        Middleware(OAuthMiddleware, store=store, scopes={"/item": "items:read"})])
