"""Helpers for the token-family tests: a mounted server, registered clients, codes, checks.

``build_app`` is what a user writes: a Starlette app with the authorization
server mounted at ``/oauth`` and one protected route, ``/me``, behind
``OAuthMiddleware``, so tests can show a revoked token failing on the very next
protected request.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from oauth_middleware import OAuthMiddleware, TokenStore
from oauth_middleware.errors import safe_text
from oauth_middleware.models import AuthorizationCode
from oauth_middleware.security import pkce_s256
from oauth_middleware.server import AuthorizationServer
from oauth_middleware.toolbox import RegisteredClient, register_client

ISSUER = "https://auth.example/oauth"
SECRET_KEY = b"k" * 32
BASE_URL = "https://testserver"
REDIRECT_URI = "https://app.example/cb"
#: A valid RFC 7636 verifier (43 unreserved characters) and its S256 challenge.
VERIFIER = "v" * 20 + "-._~" + "w" * 19
TOKEN_PATH = "/oauth/token/"
REVOKE_PATH = "/oauth/revoke/"
INTROSPECT_PATH = "/oauth/introspect/"
METADATA_URL = "/oauth/.well-known/oauth-authorization-server"


async def me(request: Request) -> Response:
    return JSONResponse({"user": request.user.identity, "scopes": request.auth.scopes})


def build_app(store: TokenStore, **options: Any) -> Starlette:
    options.setdefault("issuer", ISSUER)
    options.setdefault("secret_key", SECRET_KEY)
    server = AuthorizationServer(store=store, **options)
    app = Starlette(routes=[Mount("/oauth", server), Route("/me", me)])
    app.add_middleware(OAuthMiddleware, store=store, scopes={"/me": []},
                       debug=options.get("debug", False))
    app.state.server = server
    return app


def http(app: ASGIApp, base_url: str = BASE_URL) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


async def confidential(
    store: TokenStore, client_id: str = "web", *, scopes: Sequence[str] = ("read", "write"),
    grant_types: Sequence[str] | None = None, **options: Any,
) -> RegisteredClient:
    """A confidential client allowed code, refresh and client_credentials by default."""
    return await register_client(store, "Web App", client_id, REDIRECT_URI, None,
                                 scopes_list=list(scopes), public=False,
                                 grant_types=grant_types, **options)


async def public(
    store: TokenStore, client_id: str = "spa", *, scopes: Sequence[str] = ("read", "write"),
    **options: Any,
) -> RegisteredClient:
    return await register_client(store, "Single Page App", client_id, REDIRECT_URI, None,
                                 scopes_list=list(scopes), public=True, **options)


def basic(client_id: str, secret: str) -> dict[str, str]:
    """An RFC 6749 §2.3.1 Basic header: each half form-urlencoded, then base64."""
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def auth_of(registered: RegisteredClient) -> dict[str, str]:
    assert registered.client_secret is not None
    return basic(registered.client.client_id, registered.client_secret)


async def new_code(
    store: TokenStore, client_id: str, *, user: str = "alice",
    scopes: Sequence[str] = ("read",), verifier: str | None = VERIFIER, method: str = "S256",
    redirect_uri: str = REDIRECT_URI, explicit: bool = True, lifetime: int = 120,
) -> str:
    """A code as the authorization endpoint would store it after the user approved."""
    challenge = None
    if verifier is not None:
        challenge = pkce_s256(verifier) if method == "S256" else verifier
    record = AuthorizationCode(
        grant_id="", client_id=client_id, subject=user, redirect_uri=redirect_uri,
        redirect_uri_explicit=explicit, scopes=frozenset(scopes), code_challenge=challenge,
        code_challenge_method=method if verifier is not None else None,
    )
    return await store.create_code(record, lifetime=lifetime)


def code_form(code: str, *, verifier: str | None = VERIFIER, **extra: str) -> dict[str, str]:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if verifier is not None:
        form["code_verifier"] = verifier
    return {**form, **extra}


def assert_no_store(response: httpx.Response) -> None:
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


def assert_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """A token-family error: status, JSON shape, no-store headers, safe description."""
    assert response.status_code == status, response.text
    assert_no_store(response)
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    assert body["error_description"] == safe_text(body["error_description"]) != ""
    return body


def assert_invalid_client(response: httpx.Response) -> None:
    assert_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"] == 'Basic realm="oauth"'


async def code_tokens(client: httpx.AsyncClient, store: TokenStore, registered: RegisteredClient,
                      **code_options: Any) -> dict[str, Any]:
    """The token response of redeeming a fresh code of ``registered`` (a user grant)."""
    code = await new_code(store, registered.client.client_id, **code_options)
    response = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(registered))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
