"""A FastAPI service protected by oauth_middleware, with its own authorization server.

Run it (from the repository root)::

    pip install 'oauth-middleware[fastapi]' uvicorn
    uvicorn examples.fastapi_app:app

Environment (an empty value counts as unset): ``REDIS_URL`` (unset: the embedded
in-process store),
``OAUTH_SECRET_KEY`` (unset: generated, fine for one process),
``OAUTH_ISSUER`` (default ``http://127.0.0.1:8000/oauth``: where the server is mounted),
``EXAMPLE_CLIENT_SECRET`` (unset: generated and printed at the first start).

Then get a token for the ``example-service`` client and call the API::

    curl -u example-service:$SECRET -d grant_type=client_credentials \\
         -d scope='items:read items:write' http://127.0.0.1:8000/oauth/token/
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/items

``/docs`` has an Authorize button (client credentials, or code + PKCE for a public
client you register); see docs/guides/fastapi.md.
"""

from __future__ import annotations

import os
import secrets
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Query
from starlette.routing import Route

from oauth_middleware import AccessToken, OAuthMiddleware, RequireScopes, TokenStore
from oauth_middleware.openapi import document_oauth
from oauth_middleware.security import verify_client_secret
from oauth_middleware.server import AuthorizationServer
from oauth_middleware.toolbox import register_client
from oauth_middleware.toolbox.clients import ClientExists

CLIENT_ID = "example-service"
SCOPES = ["items:read", "items:write"]
# An empty value counts as unset (a blank line in a .env or compose file).
ISSUER = os.environ.get("OAUTH_ISSUER") or "http://127.0.0.1:8000/oauth"

store = TokenStore.from_url(os.environ.get("REDIS_URL") or None)
server = AuthorizationServer(
    store=store, issuer=ISSUER,
    secret_key=os.environ.get("OAUTH_SECRET_KEY") or secrets.token_urlsafe(32),
)  # no debug: plain HTTP from this machine needs none, and debug accepts it from anywhere
#: In memory, per process, and bounded: an example, not a database.
items: deque[str] = deque(maxlen=100)


async def provision() -> None:
    """Register ``example-service`` unless it is there as wanted: at every start, in every
    worker at once. Until an ``ensure_client`` call exists: register, and when another
    worker (or an earlier start) got there first, check what it registered."""
    wanted = os.environ.get("EXAMPLE_CLIENT_SECRET") or None
    for _ in range(3):  # a concurrent writer can make one attempt lose; three always do
        existing = await store.get_client(CLIENT_ID)
        if existing is not None and (
            set(existing.scopes) == set(SCOPES) and existing.grant_types == ("client_credentials",)
            and (wanted is None or verify_client_secret(existing.secret_hash, wanted))):
            return
        try:
            registered = await register_client(
                store, "Example service", CLIENT_ID, public=False, scopes_list=SCOPES,
                grant_types=["client_credentials"], client_secret=wanted,
                replace_existing=existing is not None)
        except ClientExists:
            continue
        if wanted is None:
            print(f"{CLIENT_ID} client secret (generated, shown once): "
                  f"{registered.client_secret}", flush=True)
        return
    raise RuntimeError(f"could not register {CLIENT_ID}: the store keeps changing it")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await provision()
    yield


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


app.add_middleware(OAuthMiddleware, store=store, scopes={"GET /items": "items:read"})
app.mount("/oauth", server)
# RFC 8414 §3.1: the metadata also where the issuer's path puts it on the host.
app.router.routes.append(Route(server.metadata_path, server.metadata_endpoint))
document_oauth(app, server)
