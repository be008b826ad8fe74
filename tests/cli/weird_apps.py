"""Apps ``scope sync`` must refuse in one line instead of looping or dumping a traceback."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from oauth_middleware import OAuthMiddleware, TokenStore

store = TokenStore.from_url(None)


async def hello(request: Request) -> Response:
    return PlainTextResponse("hello")


#: An app mounted inside itself: every path under /again is the app once more.
self_mounted = Starlette(routes=[Route("/a", hello)])
self_mounted.router.routes.append(Mount("/again", app=self_mounted))
self_mounted.add_middleware(OAuthMiddleware, store=store, scopes={"/a": "weird:a"})

#: Two apps mounting each other.
ping = Starlette(routes=[Route("/ping", hello)])
pong = Starlette(routes=[Route("/pong", hello), Mount("/ping", app=ping)])
ping.router.routes.append(Mount("/pong", app=pong))


def _nested(depth: int) -> Starlette:
    app = Starlette(routes=[Route("/leaf", hello)])
    for _ in range(depth):
        app = Starlette(routes=[Mount("/n", app=app)])
    return app


#: Two thousand mounts deep, no cycle: deeper than Python's recursion limit.
deep = _nested(2000)


class RaisingRoutes:
    """An object whose ``routes`` raises (a lazy app that is not configured)."""

    @property
    def routes(self) -> Any:
        raise RuntimeError("settings are not configured")


raising = RaisingRoutes()


class EndlessRoutes:
    """An object whose ``routes`` never ends (a generator of routes)."""

    @property
    def routes(self) -> Iterator[Route]:
        return (Route(f"/r{i}", hello) for i in itertools.count())


endless = EndlessRoutes()
