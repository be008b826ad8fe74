"""The protected route and the authorization server on a Redis Cluster, for real uvicorn
workers (``uvicorn --factory tests.cluster_app:app``; reads ``REDIS_URL``, and
``OM_LOCAL_CACHE=1`` turns the local cache on).

``/me`` is protected; the authorization server is mounted at ``/oauth`` (plain HTTP,
debug mode). The throttle is set high: a test's traffic is many requests of one client.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from oauth_middleware import OAuthMiddleware, TokenStore
from oauth_middleware.server import AuthorizationServer, ThrottlePolicy


def app() -> Starlette:
    store = TokenStore.from_url(os.environ["REDIS_URL"],
                                replica_timeout=int(os.environ.get("OM_REPLICA_TIMEOUT", "200")),
                                local_cache=os.environ.get("OM_LOCAL_CACHE") == "1")

    async def me(request: Request) -> Response:
        return JSONResponse({"user": request.user.identity})

    server = AuthorizationServer(store=store, issuer="http://127.0.0.1/oauth",
                                 secret_key="cluster-app-test-key-of-at-least-32-bytes",
                                 debug=True, throttle=ThrottlePolicy(client_failures=10_000))
    starlette = Starlette(routes=[Route("/me", me), Mount("/oauth", server)])
    starlette.add_middleware(OAuthMiddleware, store=store, scopes={"/me": []}, debug=True)
    return starlette
