"""The apps under load: one Starlette route, bare and behind the middleware (``uvicorn --factory``).

``bare`` is the route alone, the baseline every row is compared with. ``protected``
is the same route behind :class:`OAuthMiddleware` with the authorization server
mounted at ``/oauth``; ``cached`` is the same with the opt-in local token cache.
The app reads ``REDIS_URL`` and the server's issuer from the environment.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from oauth_middleware import OAuthMiddleware, TokenStore
from oauth_middleware.server import AuthorizationServer

#: A fixed key so that every worker of one bench run agrees (loopback, debug only).
SECRET_KEY = "bench-only-secret-key-not-for-production-use"


async def hello(request: Request) -> Response:
    user = request.user.identity if request.user.is_authenticated else None
    return JSONResponse({"hello": "world", "user": user})


async def bare_hello(request: Request) -> Response:
    return JSONResponse({"hello": "world", "user": None})


def bare() -> Starlette:
    return Starlette(routes=[Route("/me", bare_hello, methods=["GET", "POST"])])


def _protected(local_cache: bool) -> Starlette:
    url = os.environ["REDIS_URL"]
    store = (TokenStore.from_url(url, local_cache=True) if local_cache
             else TokenStore.from_url(url))
    server = AuthorizationServer(store=store, issuer=os.environ["BENCH_ISSUER"],
                                 secret_key=SECRET_KEY, debug=True)
    app = Starlette(routes=[
        Route("/me", hello, methods=["GET", "POST"]),
        Mount("/oauth", app=server),
    ])
    app.add_middleware(OAuthMiddleware, store=store, scopes={"/me": ["bench:read"]},
                       debug=True)
    return app


def protected() -> Starlette:
    return _protected(local_cache=False)


def cached() -> Starlette:
    return _protected(local_cache=True)
