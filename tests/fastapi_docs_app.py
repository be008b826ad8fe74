"""A FastAPI host for the /docs browser test: FastAPI's own /docs, the host's login, the server.

``uvicorn --factory tests.fastapi_docs_app:uvicorn_app`` with ``REDIS_URL`` and
``OM_ISSUER`` (``http://127.0.0.1:<port>/oauth``). Swagger UI is told its client
through ``swagger_ui_init_oauth``, as the FastAPI guide documents; the page itself
is FastAPI's default ``/docs``.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import FastAPI, Security
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request

from oauth_middleware import AccessToken, OAuth, RequireScopes, TokenStore
from oauth_middleware.openapi import document_oauth
from tests.server.authorize_harness import SECRET_KEY, HeaderOrSessionBackend, login

CLIENT_ID = "api-docs"
require_token = RequireScopes()


async def list_items(request: Request) -> dict[str, Any]:
    """Protected by the mapping (``GET /items``): answers with what the token stands for."""
    token: AccessToken = request.scope["oauth"]
    return {"user": token.subject, "client": token.client_id, "scopes": sorted(token.scopes)}


async def create_item(
    token: Annotated[AccessToken, Security(require_token, scopes=["items:write"])],
) -> dict[str, str]:
    return {"created_by": token.subject}


def uvicorn_app() -> FastAPI:
    oauth = OAuth(store=TokenStore.from_url(os.environ["REDIS_URL"]),
                  issuer=os.environ["OM_ISSUER"], secret_key=SECRET_KEY)
    server = oauth.server()
    app = FastAPI(swagger_ui_init_oauth={"clientId": CLIENT_ID,
                                         "usePkceWithAuthorizationCodeGrant": True})
    app.get("/items")(list_items)
    app.post("/items")(create_item)
    app.add_route("/login", login, methods=["GET", "POST"])
    app.mount("/oauth", server)
    # Innermost first: the session and the signed-in person exist before tokens are read.
    oauth.protect(app, scopes={"GET /items": "items:read"})
    app.add_middleware(AuthenticationMiddleware, backend=HeaderOrSessionBackend())
    app.add_middleware(SessionMiddleware, secret_key=SECRET_KEY)
    document_oauth(app, server)
    return app
