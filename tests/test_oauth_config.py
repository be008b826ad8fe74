"""One ``OAuth`` object hands out the middleware, the server and the admin, agreeing."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.requests import Request

from oauth_middleware import AccessToken, OAuth, RequireScopes, TokenStore, register_client
from oauth_middleware.middleware import OAuthMiddleware

KEY = "k" * 32


def _is_admin(request: Request) -> bool:
    return False


async def test_one_configuration_protects_an_app_and_serves_its_tokens(store: TokenStore) -> None:
    oauth = OAuth(store=store, issuer="https://testserver/oauth", secret_key=KEY)
    app = FastAPI()

    @app.get("/items")
    async def items(request: Request) -> Any:
        return {"client": request.scope["oauth"].client_id}

    @app.post("/items")
    async def add(token: Annotated[AccessToken, Depends(RequireScopes("items:write"))]) -> Any:
        return {"added_by": token.client_id}

    oauth.protect(app, scopes={"GET /items": "items:read"})
    app.mount("/oauth", oauth.server())
    registered = await register_client(store, "Service", "svc", [], None, public=False,
                                       scopes_list=["items:read", "items:write"],
                                       grant_types=["client_credentials"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as client:
        issued = await client.post("/oauth/token", data={
            "grant_type": "client_credentials", "scope": "items:read",
            "client_id": "svc", "client_secret": registered.client_secret or ""})
        bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
        read = await client.get("/items", headers=bearer)
        write = await client.post("/items", headers=bearer)
    assert issued.status_code == 200, issued.text
    assert read.status_code == 200 and read.json() == {"client": "svc"}
    assert write.status_code == 403
    assert write.json() == {"error": "insufficient_scope", "scope": "items:write",
                            "error_description": "The access token does not carry the "
                                                 "required scope."}
    assert write.headers["www-authenticate"].startswith('Bearer realm="api", error=')


@pytest.mark.parametrize("secret_key", [KEY, None])
def test_the_three_apps_share_store_key_realm_and_debug(
    store: TokenStore, secret_key: str | None
) -> None:
    oauth = OAuth(store=store, issuer="http://localhost:8000/oauth", secret_key=secret_key,
                  realm="items", debug=True)
    server, admin = oauth.server(), oauth.admin(is_admin=_is_admin)
    middleware = oauth.middleware(FastAPI(), scopes={"/items": "items:read"})
    assert isinstance(middleware, OAuthMiddleware)
    assert server.config.secret_key == admin.config.secret_key == oauth.signing_key
    assert len(oauth.signing_key) >= 32
    assert server.config.store is admin.config.store is middleware.verifier is store
    assert server.config.realm == middleware.realm == "items"
    assert server.config.debug and admin.config.debug and middleware.debug
    assert KEY not in repr(oauth)


@pytest.mark.parametrize(("make", "message"), [
    (lambda o: o.server(debug=True), r"OAuth.server\(\) got debug: set it once on OAuth"),
    (lambda o: o.admin(is_admin=_is_admin, store=None), r"OAuth.admin\(\) got store"),
    (lambda o: o.middleware(FastAPI(), realm="x"), r"OAuth.middleware\(\) got realm"),
    (lambda o: o.protect(object()), r"needs a Starlette or FastAPI app"),
])
def test_a_shared_option_given_to_one_app_is_refused_by_name(
    store: TokenStore, make: Any, message: str
) -> None:
    oauth = OAuth(store=store, issuer="https://example.com/oauth", secret_key=KEY)
    with pytest.raises(TypeError, match=message):
        make(oauth)


def test_misconfigured_oauth_names_the_parameter(store: TokenStore) -> None:
    with pytest.raises(TypeError, match=r"OAuth\(store=...\) must be a TokenStore, not str"):
        OAuth(store="redis://localhost:6379/0")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"OAuth\(issuer=...\) is required"):
        OAuth(store=store, secret_key=KEY).server()
    with pytest.raises(ValueError, match="secret_key is required"):
        OAuth(store=store, issuer="https://example.com/oauth").admin(is_admin=_is_admin)
