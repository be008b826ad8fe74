"""Apps for ``scope sync``, imported by path as users name theirs: ``tests.cli.sync_apps:app``.

``app`` is the polls test app: explicit, AUTO under a named mount, method-specific
and decorator-declared (explicit and AUTO) scopes. ``plain_mount_app`` (a factory)
puts AUTO routes under an unnamed mount, where oauthost's module rule applies.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, Router

from oauth_middleware import AUTO, OAuthMiddleware, TokenStore, oauth_required
from tests.apps import build_app

store = TokenStore.from_url(None)
app = build_app(store)


async def listing(request: Request) -> Response:
    return JSONResponse([])


@oauth_required(scope_auto=True)
async def report(request: Request) -> Response:
    return JSONResponse({})


def _routes() -> list[Mount]:
    return [Mount("/api", routes=[
        Route("/items", listing, methods=["GET", "PUT"]),
        Route("/report", report),
    ])]


def plain_mount_app() -> Starlette:
    built = Starlette(routes=_routes())
    built.add_middleware(OAuthMiddleware, store=store, scopes={
        "/api/items": AUTO,
        "PUT /api/items": ["items:write", "items:admin"],
    })
    return built


#: OAuthMiddleware wrapping a router directly, without Starlette's middleware list.
wrapped = OAuthMiddleware(Router(routes=_routes()), store=store,
                          scopes={"/api/items": "items:read"})

#: No OAuthMiddleware at all: only the decorated endpoint is found.
bare = Starlette(routes=_routes())

#: An AUTO entry whose path no route has.
broken = Starlette(routes=_routes())
broken.add_middleware(OAuthMiddleware, store=store, scopes={"/api/nowhere": AUTO})

#: Not an ASGI app with routes.
not_an_app = 42
