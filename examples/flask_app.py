"""A Flask app protected by bearer tokens, the authorization server beside it (RFC 6750, RFC 6749).

Run it with ``uvicorn examples.flask_app:app`` and get a token::

    curl -s -u example-service:$EXAMPLE_CLIENT_SECRET -d grant_type=client_credentials \\
         -d scope=items:read http://127.0.0.1:8000/oauth/token/

``GET /items`` needs ``items:read``, ``POST /items`` ``items:write`` (both through
the mapping given to :func:`~oauth_middleware.wsgi.protect_wsgi`); ``GET /health``
is public. Plain ``http://127.0.0.1`` needs no flag (the library accepts plain HTTP
from this machine to this machine). Settings come from the environment: see
:mod:`examples.provisioning`.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from flask import Flask, abort, request
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from examples.provisioning import oauth_from_env, provision
from oauth_middleware import AccessToken
from oauth_middleware.wsgi import protect_wsgi, wsgi_token

#: The scope mapping: method and path as Flask sees them, below the mount.
SCOPES = {"GET /items": "items:read", "POST /items": "items:write"}

flask_app = Flask(__name__)
flask_app.config["MAX_CONTENT_LENGTH"] = 16 * 1024  # a name is short: refuse big bodies (413)
#: In memory, per process, and bounded: an example, not a database.
items: deque[str] = deque(maxlen=100)


@flask_app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


def current_token() -> AccessToken:
    """The token the middleware validated for this request (its client, user and scopes)."""
    token = wsgi_token(request.environ)
    if token is None:  # only on a route the mapping leaves open
        abort(401)
    return token


@flask_app.get("/items")
def list_items() -> dict[str, Any]:
    token = current_token()
    return {"items": list(items), "client": token.client_id, "scopes": sorted(token.scopes)}


@flask_app.post("/items")
def add_item() -> tuple[dict[str, Any], int]:
    token = current_token()  # before any change: never write, then refuse
    body = request.get_json(silent=True)
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str) or not 0 < len(name) <= 100 or not name.isprintable():
        return {"error": "send JSON {\"name\": \"...\"}, 1 to 100 printable characters"}, 400
    items.append(name)
    return {"added": name, "by": token.client_id}, 201


oauth = oauth_from_env()
server = oauth.server(grants=["client_credentials"])


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await provision(oauth.store)
    yield
    await oauth.store.aclose()


app = Starlette(
    routes=[
        Mount("/oauth", server),
        # RFC 8414 §3.1: /.well-known/oauth-authorization-server/oauth for issuer .../oauth
        Route(server.metadata_path, server.metadata_endpoint),
        # protect_wsgi takes the middleware's options: the store and realm of ``oauth``.
        Mount("/", protect_wsgi(flask_app, store=oauth.store, realm=oauth.realm,
                                scopes=SCOPES)),
    ],
    lifespan=lifespan,
)
