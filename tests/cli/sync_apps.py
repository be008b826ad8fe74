"""Apps for ``scope sync``, imported by path as users name theirs: ``tests.cli.sync_apps:app``.

``app`` is the polls test app: explicit, AUTO under a named mount, method-specific
and decorator-declared (explicit and AUTO) scopes. ``plain_mount_app`` (a factory)
puts AUTO routes under an unnamed mount, where oauthost's module rule applies.
``fastapi_app`` keeps its protected routes in routers added with ``include_router``.
``bulk`` needs ``BULK`` scopes, enough for ``scope sync`` to draw its progress bar.
``dependency_app`` needs scopes only through ``RequireScopes``; ``wsgi`` and
``mounted_wsgi`` are WSGI apps behind ``protect_wsgi``; ``mounted_router`` mounts an
``OAuthMiddleware`` below the app.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Security
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, Router

from oauth_middleware import AUTO, OAuthMiddleware, RequireScopes, TokenStore, oauth_required
from oauth_middleware.wsgi import protect_wsgi
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


def _items_router() -> APIRouter:
    items = APIRouter(prefix="/items")

    @items.get("")
    @oauth_required("items:read")
    async def read_items(request: Request) -> list[str]:
        return []

    @items.get("/{item_id}/stats")
    async def item_stats(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    archive = APIRouter()

    @archive.post("/archive")
    @oauth_required(scope_auto=True)
    async def archive_items(request: Request) -> dict[str, bool]:
        return {"archived": True}

    items.include_router(archive, prefix="/admin")
    return items


def build_fastapi_app() -> FastAPI:
    """Scopes only inside included routers: a decorator, an AUTO entry, a nested router."""
    built = FastAPI()
    built.include_router(_items_router(), prefix="/api")
    built.add_middleware(OAuthMiddleware, store=store,
                         scopes={"/api/items/{item_id}/stats": AUTO})
    return built


fastapi_app = build_fastapi_app()


#: How many scopes ``bulk`` needs, one per route.
BULK = 120


def _bulk_endpoint(number: int) -> Any:
    @oauth_required(f"bulk:scope{number:03d}")
    async def endpoint(request: Request) -> Response:
        return JSONResponse({"number": number})

    return endpoint


bulk = Starlette(routes=[Route(f"/bulk/{n}", _bulk_endpoint(n)) for n in range(BULK)])
bulk.add_middleware(OAuthMiddleware, store=store)


def _dependency_app() -> FastAPI:
    """Scopes only through RequireScopes: Depends, Security(scopes=...), a router's own."""
    built = FastAPI()

    @built.get("/items")
    async def list_items(token: Annotated[Any, Depends(RequireScopes("items:read"))]
                         ) -> list[str]:
        return []

    @built.post("/items")
    async def add_item(
        token: Annotated[Any, Security(RequireScopes("items:write"), scopes=["items:audit"])],
    ) -> dict[str, bool]:
        return {"added": True}

    admin = APIRouter(prefix="/admin", dependencies=[Depends(RequireScopes("items:admin"))])

    @admin.delete("/items/{item_id}")
    async def drop_item(item_id: int) -> dict[str, int]:
        return {"dropped": item_id}

    built.include_router(admin)
    built.add_middleware(OAuthMiddleware, store=store)
    return built


dependency_app = _dependency_app()


def _legacy_wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"legacy"]


_LEGACY_SCOPES = {"GET /reports": "reports:read", "POST /reports": ["reports:write"]}

#: protect_wsgi's explicit mapping, the app itself and mounted beside other routes.
wsgi = protect_wsgi(_legacy_wsgi, store=store, scopes=_LEGACY_SCOPES)
mounted_wsgi = Starlette(routes=[
    Route("/health", listing),
    Mount("/legacy", protect_wsgi(_legacy_wsgi, store=store, scopes=_LEGACY_SCOPES)),
])

#: An OAuthMiddleware mounted below the app, over a router with a decorated endpoint.
mounted_router = Starlette(routes=[Mount("/v2", OAuthMiddleware(
    Router(routes=_routes()), store=store, scopes={"PUT /api/items": "items:write"}))])


#: AUTO over an app without routes: nothing to derive the scope from.
routeless_auto = Starlette(routes=[Mount("/legacy", OAuthMiddleware(
    JSONResponse({}), store=store, scopes={"/reports": AUTO}))])


def failing_factory() -> Starlette:
    raise RuntimeError("DATABASE_URL is not set")


class Reports(HTTPEndpoint):
    """A class endpoint: @oauth_required on its methods, which the decorator enforces."""

    @oauth_required("reports:read")
    async def get(self, request: Request) -> Response:
        return JSONResponse([])

    @oauth_required(["reports:write", "reports:audit"])
    async def post(self, request: Request) -> Response:
        return JSONResponse({})

    async def delete(self, request: Request) -> Response:
        return JSONResponse({})


class AutoReports(HTTPEndpoint):
    @oauth_required(scope_auto=True)
    async def get(self, request: Request) -> Response:
        return JSONResponse([])


class_endpoints = Starlette(routes=[Mount("/api", routes=[Route("/reports", Reports)])])
class_endpoints.add_middleware(OAuthMiddleware, store=store)
auto_class_endpoint = Starlette(routes=[Route("/reports", AutoReports)])
