"""An app with the local token cache on, for real multi-worker uvicorn tests.

``/me`` is protected; the authorization server is mounted at ``/oauth`` (plain
HTTP, debug mode); ``/_cache`` (test only, unprotected) reports that worker's
cache: size, the keys of the token family's records, invalidations applied,
serving. Every answer, refusals included, names its worker in an
``x-worker-pid`` header.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oauth_middleware import OAuthMiddleware, TokenStore
from oauth_middleware.server import AuthorizationServer, ThrottlePolicy
from oauth_middleware.toolbox import RegisteredClient, register_client
from tests.servers import UvicornProcess
from tests.store_helpers import cache_of, redis_of

#: Failed client authentications before 429. Above the default 10 because a test
#: sends a refused secret until both workers have answered, and the kernel may hand
#: several connections in a row to the same worker.
THROTTLE = ThrottlePolicy(client_failures=100)


@asynccontextmanager
async def on_two_workers(redis_url: str
                         ) -> AsyncIterator[tuple[TokenStore, RegisteredClient, UvicornProcess]]:
    """An emptied store on ``redis_url`` with the confidential client ``web``, and this app
    served by uvicorn with two workers; the store is closed afterwards."""
    store = TokenStore.from_url(redis_url)
    try:
        await redis_of(store).flushdb()
        web = await register_client(store, "Web", "web", "https://app.example/cb", None,
                                    scopes_list=["read"], public=False)
        with UvicornProcess("tests.cache_app:app", "--factory", "--workers", "2",
                            env={"REDIS_URL": redis_url}) as server:
            yield store, web, server
    finally:
        await store.aclose()


def app() -> Starlette:
    """Factory for ``uvicorn --factory tests.cache_app:app``; reads ``REDIS_URL``."""
    store = TokenStore.from_url(os.environ["REDIS_URL"], local_cache=True)
    cache = cache_of(store)
    if cache is None:
        raise RuntimeError("the local cache needs a Redis URL")

    async def me(request: Request) -> Response:
        return JSONResponse({"user": request.user.identity})

    async def stats(request: Request) -> Response:
        return JSONResponse({"size": len(cache.entries), "records": sorted(cache.records),
                             "invalidations": cache.invalidations, "serving": cache.serving,
                             "last_invalidation": cache.last_invalidation})

    server = AuthorizationServer(store=store, issuer="http://127.0.0.1/oauth",
                                 secret_key="cache-app-test-key-of-at-least-32-bytes", debug=True,
                                 throttle=THROTTLE)
    starlette = Starlette(routes=[Route("/me", me), Route("/_cache", stats),
                                  Mount("/oauth", server)])
    starlette.add_middleware(OAuthMiddleware, store=store, scopes={"/me": []}, debug=True)
    starlette.add_middleware(WorkerPid)
    return starlette


class WorkerPid:
    """Outermost: every answer, refusals included, names the worker in ``x-worker-pid``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.pid = str(os.getpid()).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-worker-pid", self.pid)]}
            await send(message)

        await self.app(scope, receive, tagged)
