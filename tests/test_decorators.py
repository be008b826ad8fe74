"""``@oauth_required``: its own requirement always holds; AUTO is derived from the app's routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute, request_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from oauth_middleware import AUTO, OAuthMiddleware, oauth_required
from oauth_middleware.scopes import ScopePolicy
from oauth_middleware.store import NewTokens, TokenStore

#: Paths that reached a decorated endpoint (cleared before every test).
calls: list[str] = []
DESC_SCOPE = "The access token does not carry the required scope."


@oauth_required(scope_auto=True)
async def auto(request: Request) -> Response:
    calls.append(request.url.path)
    return JSONResponse({"user": request.user.identity})


@oauth_required()
async def any_token(request: Request) -> Response:
    calls.append(request.url.path)
    return JSONResponse({"user": request.user.identity})


async def outer(request: Request) -> Response:
    """Calls the AUTO endpoint itself: no route of the app leads to ``auto`` here."""
    return await auto(request)


@pytest.fixture(autouse=True)
def _no_calls() -> None:
    calls.clear()


async def _token(store: TokenStore, *scopes: str) -> dict[str, str]:
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset(scopes)))
    return {"Authorization": f"Bearer {issued.access_token}"}


@asynccontextmanager
async def _client(app: ASGIApp, root_path: str = "") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    async with httpx.AsyncClient(transport=transport,
                                 base_url=f"https://testserver{root_path}") as client:
        yield client


def _opaque(app: ASGIApp) -> ASGIApp:
    """``app`` behind a plain ASGI callable: a middleware around it cannot see its routes."""

    async def forward(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)

    return forward


def _challenge(scope: str) -> str:
    return (f'Bearer realm="api", error="insufficient_scope", '
            f'error_description="{DESC_SCOPE}", scope="{scope}"')


@pytest.mark.rule("resource.insufficient-scope", "resource.app-not-called")
async def test_a_looser_mapping_entry_never_waives_the_decorators_auto_scope(
    store: TokenStore,
) -> None:
    app = Starlette(routes=[Route("/x", auto)])
    app.add_middleware(OAuthMiddleware, store=store, scopes={"GET /x": []})
    async with _client(app) as client:
        lacking = await client.get("/x", headers=await _token(store, "other"))
        ok = await client.get("/x", headers=await _token(store, "tests:auto"))
    assert lacking.status_code == 403
    assert lacking.headers["www-authenticate"] == _challenge("tests:auto")
    assert lacking.json() == {"error": "insufficient_scope", "error_description": DESC_SCOPE,
                              "scope": "tests:auto"}
    assert ok.status_code == 200
    assert calls == ["/x"]


def _polls(mode: str, store: TokenStore) -> ASGIApp:
    """``auto`` under ``Mount("/polls", name="polls")``, the middleware seeing it or not."""
    route = Route("/{poll_id}/auto", auto)
    if mode == "mounted app, routes unseen":
        app = Starlette(routes=[Mount("/polls", name="polls", app=Starlette(routes=[route]))])
    else:
        app = Starlette(routes=[Mount("/polls", name="polls", routes=[route])])
    if mode == "mapped":
        app.add_middleware(OAuthMiddleware, store=store,
                           scopes={"/polls/{poll_id}/auto": AUTO})
        return app
    if mode == "decorator only":
        app.add_middleware(OAuthMiddleware, store=store, scopes={})
        return app
    # The middleware cannot bind the routes: it resolves the token, the route is not its.
    return OAuthMiddleware(_opaque(app), store=store, scopes={})


@pytest.mark.parametrize(("mode", "root_path"), [
    ("mapped", ""), ("decorator only", ""), ("routes unseen", ""), ("routes unseen", "/api"),
    ("mounted app, routes unseen", ""),
])
@pytest.mark.rule("resource.insufficient-scope")
async def test_auto_scope_is_the_same_whether_or_not_the_middleware_resolved_the_route(
    store: TokenStore, mode: str, root_path: str
) -> None:
    async with _client(_polls(mode, store), root_path) as client:
        anonymous = await client.get("/polls/1/auto")
        by_module = await client.get("/polls/1/auto", headers=await _token(store, "tests:auto"))
        by_mount = await client.get("/polls/1/auto", headers=await _token(store, "polls:auto"))
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="api"'
    assert by_module.status_code == 403
    assert by_module.headers["www-authenticate"] == _challenge("polls:auto")
    assert by_mount.status_code == 200 and by_mount.json() == {"user": "alice"}
    assert calls == [f"{root_path}/polls/1/auto"]


@pytest.mark.rule("resource.insufficient-scope", "resource.app-not-called")
async def test_an_auto_endpoint_no_route_leads_to_is_refused_not_guessed(
    store: TokenStore,
) -> None:
    app = Starlette(routes=[Route("/outer", outer)])
    app.add_middleware(OAuthMiddleware, store=store, scopes={"/outer": []})
    async with _client(app) as client:
        response = await client.get("/outer", headers=await _token(store, "tests:auto",
                                                                    "tests:outer"))
    description = "The scope this endpoint needs is unknown."
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="api", error="insufficient_scope", error_description="{description}"')
    assert response.json() == {"error": "insufficient_scope", "error_description": description}
    assert calls == []


@pytest.mark.rule("resource.missing-401")
async def test_bare_oauth_required_wants_a_token_and_accepts_any_valid_one(
    store: TokenStore,
) -> None:
    app = Starlette(routes=[Route("/any", any_token)])
    app.add_middleware(OAuthMiddleware, store=store)
    async with _client(app) as client:
        anonymous = await client.get("/any")
        scopeless = await client.get("/any", headers=await _token(store))
        scoped = await client.get("/any", headers=await _token(store, "polls:vote"))
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="api"'
    assert anonymous.json() == {"error_description": "A bearer token is required."}
    assert (scopeless.status_code, scopeless.json()) == (200, {"user": "alice"})
    assert (scoped.status_code, scoped.json()) == (200, {"user": "alice"})
    assert calls == ["/any", "/any"]


def _decorated_now(kind: str) -> tuple[Any, str]:
    """An endpoint decorated inside the test, so the decorator itself runs under test (a
    module-level endpoint is decorated once, at import), and the scope it must need."""
    if kind == "auto":
        @oauth_required(scope_auto=True)
        async def made_now(request: Request) -> Response:
            calls.append(request.url.path)
            return JSONResponse({"user": request.user.identity})

        return made_now, "tests:made_now"
    if kind == "sync, one scope":
        @oauth_required("made:now")
        def sync_made_now(request: Request) -> Response:
            calls.append(request.url.path)
            return JSONResponse({"user": request.user.identity})

        return sync_made_now, "made:now"

    @oauth_required(["made:now"])
    async def async_made_now(request: Request) -> Response:
        calls.append(request.url.path)
        return JSONResponse({"user": request.user.identity})

    return async_made_now, "made:now"


@pytest.mark.parametrize("kind", ["auto", "sync, one scope", "async, scope list"])
@pytest.mark.rule("resource.insufficient-scope", "resource.missing-401", "resource.app-not-called")
async def test_an_endpoint_decorated_at_run_time_is_refused_and_served_like_any_other(
    store: TokenStore, kind: str
) -> None:
    endpoint, needed = _decorated_now(kind)
    assert ScopePolicy({}).bind([Route("/x", endpoint)])[0].scopes == frozenset({needed})
    app = Starlette(routes=[Route("/x", endpoint)])
    guarded = OAuthMiddleware(_opaque(app), store=store, scopes={})  # the decorator alone
    async with _client(guarded) as client:
        anonymous = await client.get("/x")
        lacking = await client.get("/x", headers=await _token(store, "other"))
        ok = await client.get("/x", headers=await _token(store, needed))
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="api"'
    assert lacking.status_code == 403
    assert lacking.headers["www-authenticate"] == _challenge(needed)
    assert (ok.status_code, ok.json()) == (200, {"user": "alice"})
    assert calls == ["/x"]


@pytest.mark.rule("resource.missing-401")
async def test_a_decorated_websocket_refused_by_the_decorator_is_closed_as_policy_violation(
    store: TokenStore,
) -> None:
    @oauth_required("ws:read")
    async def feed(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    app = OAuthMiddleware(_opaque(Starlette(routes=[WebSocketRoute("/feed", feed)])),
                          store=store, scopes={})
    sent: list[Message] = []
    inbox: list[Message] = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        return inbox.pop(0) if inbox else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": "wss", "path": "/feed",
             "raw_path": b"/feed", "root_path": "", "query_string": b"", "headers": [],
             "server": ("testserver", 443), "client": ("127.0.0.1", 5000), "subprotocols": []}
    await app(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "missing_token"}]


def test_misuse_of_the_decorator_is_refused_naming_the_fix() -> None:
    with pytest.raises(ValueError, match="not both") as both:
        oauth_required("a", scope_auto=True)
    assert str(both.value) == "pass either scope=... or scope_auto=True, not both"
    for empty in ("", [""]):
        with pytest.raises(ValueError, match="invalid scope identifier ''"):
            oauth_required(empty)

    @oauth_required()
    def no_request(value: int) -> int:
        return value

    with pytest.raises(TypeError, match="argument") as misuse:
        no_request(1)
    assert str(misuse.value) == (
        "@oauth_required endpoints must take the request (or websocket) argument")


def _refused_for_scope(response: httpx.Response, scope: str | None) -> bool:
    """A 403 ``insufficient_scope`` naming ``scope`` (or none) in its challenge."""
    challenge = response.headers.get("www-authenticate", "")
    named = f'scope="{scope}"' in challenge if scope else "scope=" not in challenge
    return (response.status_code == 403 and response.json()["error"] == "insufficient_scope"
            and challenge.startswith('Bearer realm="api", error="insufficient_scope"') and named)


@pytest.mark.rule("resource.insufficient-scope")
async def test_auto_scope_of_a_route_without_mounts_holds_under_the_servers_root_path(
    store: TokenStore,
) -> None:
    """Behind ``uvicorn --root-path /api`` no Mount sets ``app_root_path``: the decorator
    matches its route below the server's ``root_path``, as Starlette's router does."""
    app = OAuthMiddleware(_opaque(Starlette(routes=[Route("/x", auto)])), store=store, scopes={})
    async with _client(app, "/api") as client:
        lacking = await client.get("/x", headers=await _token(store, "other"))
        ok = await client.get("/x", headers=await _token(store, "tests:auto"))
    assert _refused_for_scope(lacking, "tests:auto")
    assert (ok.status_code, ok.json()) == (200, {"user": "alice"})
    assert calls == ["/api/x"]


@oauth_required(scope_auto=True)
async def vote(request: Request) -> Response:
    calls.append(request.method)
    return JSONResponse({"user": request.user.identity})


@pytest.mark.rule("resource.insufficient-scope")
async def test_auto_scope_of_a_post_only_route_is_derived_for_the_post(store: TokenStore) -> None:
    app = OAuthMiddleware(_opaque(Starlette(routes=[Route("/vote", vote, methods=["POST"])])),
                          store=store, scopes={})
    async with _client(app) as client:
        lacking = await client.post("/vote", headers=await _token(store, "other"))
        ok = await client.post("/vote", headers=await _token(store, "tests:vote"))
    assert _refused_for_scope(lacking, "tests:vote")
    assert (ok.status_code, ok.json()) == (200, {"user": "alice"})
    assert calls == ["POST"]


@pytest.mark.rule("resource.insufficient-scope", "resource.app-not-called")
async def test_an_auto_endpoint_served_without_any_router_is_refused_not_guessed(
    store: TokenStore,
) -> None:
    """An endpoint served as a bare ASGI app has no routes to derive its scope from."""
    app = OAuthMiddleware(request_response(auto), store=store, scopes={})
    async with _client(app) as client:
        response = await client.get("/x", headers=await _token(store, "tests:auto"))
    assert _refused_for_scope(response, None)
    assert calls == []


@oauth_required(scope_auto=True)
async def live(conn: HTTPConnection) -> Response | None:
    """One endpoint for a page and a socket at the same path."""
    if isinstance(conn, WebSocket):
        await conn.accept()
        await conn.send_text("live")
        await conn.close()
        return None
    return JSONResponse({"live": True})


async def _socket(app: ASGIApp, path: str, headers: dict[str, str]) -> list[Message]:
    sent: list[Message] = []
    inbox: list[Message] = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        return inbox.pop(0) if inbox else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": "wss", "path": path,
             "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "server": ("testserver", 443), "client": ("127.0.0.1", 5000), "subprotocols": []}
    await app(scope, receive, send)
    return sent


async def test_a_socket_sharing_its_path_with_a_page_is_held_to_the_same_rule_by_both_layers(
    store: TokenStore,
) -> None:
    """The middleware matches a WebSocket handshake as GET, so the page's GET rule comes
    first at that path; the decorator matches it the same way, never with another scope."""
    app = Starlette(routes=[Mount("/m", name="m", routes=[
        Route("/live", live, name="page"), WebSocketRoute("/live", live, name="socket")])])
    app.add_middleware(OAuthMiddleware, store=store)
    page = await _socket(app, "/m/live", await _token(store, "m:page"))
    socket_only = await _socket(app, "/m/live", await _token(store, "m:socket"))
    assert page == [{"type": "websocket.accept", "subprotocol": None, "headers": []},
                    {"type": "websocket.send", "text": "live"},
                    {"type": "websocket.close", "code": 1000, "reason": ""}]
    assert socket_only == [{"type": "websocket.accept"},
                           {"type": "websocket.close", "code": 1008,
                            "reason": "insufficient_scope"}]
