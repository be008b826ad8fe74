"""A FastAPI service protected by oauth_middleware, with its own authorization server.

Run it (from the repository root)::

    pip install 'oauth-middleware[fastapi]' uvicorn
    uvicorn examples.fastapi_app:app

Plain ``http://127.0.0.1`` works as it is: the library accepts plain HTTP from this
machine to this machine, and only that. Settings come from the environment (see
:mod:`examples.provisioning`): ``REDIS_URL``, ``OAUTH_SECRET_KEY``, ``OAUTH_ISSUER``
(default ``http://127.0.0.1:8000/oauth``), ``EXAMPLE_CLIENT_SECRET`` (unset: generated
and printed at the first start).

Then get a token for the ``example-service`` client and call the API::

    curl -u example-service:$SECRET -d grant_type=client_credentials \\
         -d scope='items:read items:write' http://127.0.0.1:8000/oauth/token/
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/items

``/docs`` has an Authorize button (client credentials, or code + PKCE for a public
client you register); see docs/guides/fastapi.md.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Query
from starlette.routing import Route

from examples.provisioning import oauth_from_env, provision
from oauth_middleware import AccessToken, RequireScopes
from oauth_middleware.openapi import document_oauth

oauth = oauth_from_env()
server = oauth.server()
#: In memory, per process, and bounded: an example, not a database.
items: deque[str] = deque(maxlen=100)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await provision(oauth.store)
    yield
    await oauth.store.aclose()


app = FastAPI(title="Items", lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/items")
async def list_items() -> list[str]:
    """Needs ``items:read``: the middleware's mapping below says so."""
    return list(items)


@app.post("/items", status_code=201)
async def create_item(
    name: Annotated[str, Query(min_length=1, max_length=100)],
    token: Annotated[AccessToken, Depends(RequireScopes("items:write"))],
) -> dict[str, str]:
    """Needs ``items:write``: the dependency says so."""
    items.append(name)
    return {"name": name, "created_by": token.subject}


oauth.protect(app, scopes={"GET /items": "items:read"})
app.mount("/oauth", server)
# RFC 8414 §3.1: the metadata also where the issuer's path puts it on the host.
app.router.routes.append(Route(server.metadata_path, server.metadata_endpoint))
document_oauth(app, server)
