"""FastAPI's OpenAPI schema: one OAuth 2 scheme at the mounted server, every protected operation's
scopes whatever protects it (mapping, AUTO, ``@oauth_required``, ``RequireScopes``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.security import SecurityScopes

from oauth_middleware import (
    AUTO,
    AccessToken,
    OAuthMiddleware,
    RequireScopes,
    TokenStore,
    oauth_required,
)
from oauth_middleware.openapi import document_oauth
from oauth_middleware.server import AuthorizationServer
from oauth_middleware.store import NewTokens
from tests.servers import ROOT

ISSUER = "https://api.example/oauth"
SECRET_KEY = "openapi-test-secret-key-0123456789abcdef"


#: Module level: FastAPI resolves the (postponed) annotations in the module's namespace.
require = RequireScopes()


async def auditor(security_scopes: SecurityScopes,
                  token: Annotated[AccessToken, Security(RequireScopes("audit"))]) -> str:
    return f"{token.subject} {' '.join(security_scopes.scopes)}"


def _app(store: TokenStore, **server_options: Any) -> FastAPI:
    """Each way of protecting an operation, once, and two public operations."""
    app = FastAPI()
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def thing(thing_id: int) -> int:
        return thing_id

    @app.get("/items")
    async def list_items() -> list[str]:
        return []

    @app.post("/items")
    async def create_item(
        token: Annotated[AccessToken, Depends(RequireScopes("items:write"))]
    ) -> str:
        return token.subject

    @app.get("/reports/{report_id}")
    async def report(report_id: str,
                     token: Annotated[AccessToken, Security(require, scopes=["reports:read"])]
                     ) -> str:
        return token.subject

    @app.get("/audit")
    async def audit(who: Annotated[str, Security(auditor, scopes=["audit:log"])]) -> str:
        return who

    @app.get("/stats")
    @oauth_required("stats:read")
    async def stats(request: Request) -> str:
        return "stats"

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> int:
        return order_id

    @app.delete("/orders/{order_id}")
    async def cancel(order_id: int,
                     token: Annotated[AccessToken, Depends(RequireScopes("orders:cancel"))]
                     ) -> int:
        return order_id

    @app.get("/health")
    async def health() -> str:
        return "ok"

    app.include_router(router, prefix="/r")
    app.add_middleware(OAuthMiddleware, store=store, scopes={
        "GET /items": "items:read", "/r/things/{thing_id}": AUTO,
        "/orders/{order_id}": "orders:read"})
    server = AuthorizationServer(store=store, issuer=ISSUER, secret_key=SECRET_KEY,
                                 **server_options)
    app.mount("/oauth", server)
    document_oauth(app, server)
    return app


def _security(schema: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(method, path): operation.get("security")
            for path, item in schema["paths"].items() for method, operation in item.items()}


def test_every_protected_operation_lists_its_scopes_whatever_protects_it() -> None:
    schema = _app(TokenStore.from_url(None)).openapi()
    assert _security(schema) == {
        ("get", "/items"): [{"OAuth2": ["items:read"]}],          # the mapping
        ("post", "/items"): [{"OAuth2": ["items:write"]}],        # Depends(RequireScopes(...))
        ("get", "/reports/{report_id}"): [{"OAuth2": ["reports:read"]}],  # Security(scopes=...)
        ("get", "/audit"): [{"OAuth2": ["audit:log", "audit"]}],  # SecurityScopes, nested
        ("get", "/stats"): [{"OAuth2": ["stats:read"]}],          # @oauth_required
        ("get", "/r/things/{thing_id}"): [{"OAuth2": ["tests:thing"]}],  # AUTO, included router
        ("get", "/orders/{order_id}"): [{"OAuth2": ["orders:read"]}],  # path params in the key
        ("delete", "/orders/{order_id}"): [{"OAuth2": ["orders:cancel", "orders:read"]}],  # both
        ("get", "/health"): None,
    }


def test_openapi_declares_one_oauth2_scheme_with_the_mounted_servers_flows() -> None:
    app = _app(TokenStore.from_url(None))
    first = app.openapi()
    again = app.openapi()  # completed once: a second call changes nothing
    assert again == first and _security(again)[("get", "/items")] == [{"OAuth2": ["items:read"]}]
    described = {"audit": "Audit", "audit:log": "Audit Log", "items:read": "Items Read",
                 "items:write": "Items Write", "orders:cancel": "Orders Cancel",
                 "orders:read": "Orders Read", "reports:read": "Reports Read",
                 "stats:read": "Stats Read", "tests:thing": "Tests Thing"}
    scheme = first["components"]["securitySchemes"]
    assert list(scheme) == ["OAuth2"]
    assert scheme["OAuth2"]["type"] == "oauth2"
    assert scheme["OAuth2"]["flows"] == {
        "authorizationCode": {"authorizationUrl": f"{ISSUER}/auth/", "tokenUrl": f"{ISSUER}/token/",
                              "refreshUrl": f"{ISSUER}/token/", "scopes": described},
        "clientCredentials": {"tokenUrl": f"{ISSUER}/token/", "scopes": described},
    }


def test_the_scheme_offers_only_the_flows_the_server_allows() -> None:
    schema = _app(TokenStore.from_url(None), grants=["client_credentials"]).openapi()
    assert list(schema["components"]["securitySchemes"]["OAuth2"]["flows"]) == [
        "clientCredentials"]


def test_an_explicit_mapping_documents_an_app_the_middleware_wraps_from_outside() -> None:
    store = TokenStore.from_url(None)
    app = FastAPI()

    @app.get("/polls/{poll_id}/stats")
    async def stats(poll_id: int) -> int:
        return poll_id

    server = AuthorizationServer(store=store, issuer=ISSUER, secret_key=SECRET_KEY)
    mapping = {"/polls/{poll_id}/stats": "my_polls:my_stats"}
    document_oauth(app, server, scopes=mapping, scheme_name="Polls")
    OAuthMiddleware(app, store=store, scopes=mapping)
    schema = app.openapi()
    assert _security(schema) == {("get", "/polls/{poll_id}/stats"): [
        {"Polls": ["my_polls:my_stats"]}]}
    assert list(schema["components"]["securitySchemes"]) == ["Polls"]


@pytest.mark.rule("resource.missing-401", "resource.insufficient-scope")
async def test_security_scopes_add_to_the_dependencys_own_when_checking(store: TokenStore) -> None:
    app = _app(store)
    both = await store.issue(NewTokens(client_id="web", subject="alice",
                                       scopes=frozenset({"audit", "audit:log", "items:write"})))
    own_only = await store.issue(NewTokens(client_id="web", subject="bob",
                                           scopes=frozenset({"audit", "reports:read"})))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as client:
        async def call(method: str, path: str, token: str | None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return await client.request(method, path, headers=headers)

        ok = await call("GET", "/audit", both.access_token)
        lacking = await call("GET", "/audit", own_only.access_token)
        anonymous = await call("GET", "/audit", None)
        created = await call("POST", "/items", both.access_token)
        refused = await call("POST", "/items", own_only.access_token)
        report = await call("GET", "/reports/7", own_only.access_token)
        no_report = await call("GET", "/reports/7", both.access_token)
    assert (ok.status_code, ok.json()) == (200, "alice audit:log")
    assert (created.status_code, created.json()) == (200, "alice")
    assert (report.status_code, report.json()) == (200, "bob")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="api"'
    for response, scope in ((lacking, "audit audit:log"), (refused, "items:write"),
                            (no_report, "reports:read")):
        assert response.status_code == 403
        challenge = response.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in challenge
        assert challenge.endswith(f'scope="{scope}"')


def test_the_dependency_still_takes_the_request_where_fastapi_is_not_used() -> None:
    token = AccessToken(grant_id="g", client_id="web", subject="alice",
                        scopes=frozenset({"a", "b"}))
    scope = {"type": "http", "oauth": token, "headers": []}
    assert RequireScopes("a")(Request(scope)) is token
    with pytest.raises(Exception, match="required scope") as refused:
        RequireScopes("c")(Request(scope))
    assert getattr(refused.value, "status_code", None) == 403


def test_importing_the_package_needs_no_fastapi() -> None:
    """FastAPI is an optional extra: the package, its dependency and a Starlette app using
    it import and run with ``fastapi`` unimportable; only ``oauth_middleware.openapi`` asks."""
    script = textwrap.dedent("""
        import sys
        class NoFastAPI:
            def find_spec(self, name, path=None, target=None):
                if name == "fastapi" or name.startswith("fastapi."):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        sys.meta_path.insert(0, NoFastAPI())
        import oauth_middleware
        from oauth_middleware import RequireScopes, TokenStore, OAuthMiddleware
        from oauth_middleware.server import AuthorizationServer
        from starlette.requests import Request
        from starlette.testclient import TestClient
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route
        async def items(request):
            return JSONResponse(RequireScopes("items:read")(request).subject)
        app = Starlette(routes=[Route("/items", items)])
        app = OAuthMiddleware(app, store=TokenStore.from_url(None))
        response = TestClient(app, base_url="https://testserver").get("/items")
        assert response.status_code == 401, response.status_code
        assert "fastapi" not in sys.modules
        try:
            import oauth_middleware.openapi
        except ImportError as exc:
            print("refused:", exc)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("refused: oauth_middleware.openapi needs FastAPI: "
                                   "pip install 'oauth-middleware[fastapi]'")
