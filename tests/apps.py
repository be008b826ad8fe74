"""A small protected Starlette app shaped like the seed's polls example, for tests.

``build_app`` records every call that reaches an endpoint in ``app.state.calls``
so tests can assert the wrapped app was (or was never) called.
"""

from __future__ import annotations

import os
from typing import Any

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from oauth_middleware import AUTO, OAuthMiddleware, TokenStore, oauth_required

SCOPES: dict[str, Any] = {
    "/polls/{poll_id}/stats": "my_polls:my_stats",
    "/polls/{poll_id}/results": AUTO,
    "POST /polls/{poll_id}/vote": "polls:vote",
    "/me": [],
    "/ws": [],
}


def _who(request: Request) -> dict[str, Any]:
    request.app.state.calls.append(request.url.path)
    token = request.scope.get("oauth")
    return {
        "user": request.user.identity if request.user.is_authenticated else None,
        "scopes": request.auth.scopes,
        "client_id": token.client_id if token else None,
    }


async def results(request: Request) -> Response:
    return JSONResponse(_who(request))


async def stats(request: Request) -> Response:
    return JSONResponse(_who(request))


async def vote(request: Request) -> Response:
    body = await request.body()
    form = await request.form()
    return JSONResponse({**_who(request), "body": body.decode("latin-1"),
                         "choice": form.get("choice")})


async def me(request: Request) -> Response:
    return JSONResponse(_who(request))


async def public(request: Request) -> Response:
    return JSONResponse(_who(request))


async def echo(request: Request) -> Response:
    request.app.state.calls.append(request.url.path)
    return Response(await request.body(), media_type="application/octet-stream")


@oauth_required("extra:scope")
async def decorated(request: Request) -> Response:
    return JSONResponse(_who(request))


@oauth_required(scope_auto=True)
async def auto_decorated(request: Request) -> Response:
    return JSONResponse(_who(request))


@requires("polls:vote")
async def starlette_requires(request: Request) -> Response:
    return JSONResponse(_who(request))


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"user": websocket.user.identity})
    await websocket.close()


def build_app(store: TokenStore, **options: Any) -> Starlette:
    app = Starlette(routes=[
        Mount("/polls", name="polls", routes=[
            Route("/{poll_id}/results", results),
            Route("/{poll_id}/stats", stats),
            Route("/{poll_id}/vote", vote, methods=["POST"]),
            Route("/{poll_id}/auto", auto_decorated),
        ]),
        Route("/me", me),
        Route("/public", public, methods=["GET", "POST"]),
        Route("/echo", echo, methods=["POST"]),
        Route("/decorated", decorated),
        Route("/requires", starlette_requires),
        WebSocketRoute("/ws", ws),
    ])
    app.state.calls = []
    options.setdefault("scopes", SCOPES)
    app.add_middleware(OAuthMiddleware, store=store, **options)
    return app


def uvicorn_app() -> Starlette:
    """Factory for ``uvicorn --factory tests.apps:uvicorn_app`` (real-server tests)."""
    store = TokenStore.from_url(os.environ["REDIS_URL"])
    scopes = {**SCOPES, "/ws": os.environ.get("OM_WS_SCOPE", [])}  # a test may protect /ws
    return build_app(store, debug=os.environ.get("OM_DEBUG") == "1", scopes=scopes)
