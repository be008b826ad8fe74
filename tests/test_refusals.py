"""One refusal wherever it is decided: mapping, `@oauth_required`, `RequireScopes` (RFC 6750 §3).

Each case is sent to three apps protecting the same route three ways; the
answers must be byte-identical in status, challenge, JSON body and caching
headers. The dependency and the decorator sit on routes the middleware does not
protect, so they also prove that the middleware's reason for dropping a token
(garbage, malformed, plain HTTP) reaches them.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from oauth_middleware import AccessToken, OAuthMiddleware, RequireScopes, oauth_required
from oauth_middleware.error_response import render
from oauth_middleware.errors import InvalidToken, MissingToken
from oauth_middleware.store import NewTokens, TokenStore

NEED = "reports:read"
#: The headers a refusal is compared on (content-length follows from the body).
COMPARED = ("content-type", "cache-control", "pragma", "www-authenticate", "retry-after")
calls: list[str] = []


async def _endpoint(request: Request) -> Response:
    calls.append(request.url.path)
    return JSONResponse({"user": request.user.identity})


@oauth_required(NEED)
async def _decorated(request: Request) -> Response:
    return await _endpoint(request)


def _mapped(store: TokenStore) -> ASGIApp:
    app = Starlette(routes=[Route("/reports", _endpoint)])
    app.add_middleware(OAuthMiddleware, store=store, scopes={"/reports": NEED})
    return app


def _decorator(store: TokenStore) -> ASGIApp:
    """The middleware cannot see the routes, so only the decorator refuses."""
    app = Starlette(routes=[Route("/reports", _decorated)])

    async def opaque(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)

    return OAuthMiddleware(opaque, store=store, scopes={})


def _fastapi() -> FastAPI:
    app = FastAPI()

    @app.get("/reports")
    async def reports(token: Annotated[AccessToken, Depends(RequireScopes(NEED))]) -> Any:
        calls.append("/reports")
        return {"user": token.subject}

    return app


def _dependency(store: TokenStore) -> ASGIApp:
    app = _fastapi()
    app.add_middleware(OAuthMiddleware, store=store, scopes={})
    return app


SURFACES = {"mapping": _mapped, "oauth_required": _decorator, "RequireScopes": _dependency}


async def _ask(app: ASGIApp, headers: dict[str, str], base_url: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=base_url) as client:
        return await client.get("/reports", headers=headers)


async def _token(store: TokenStore, case: str) -> tuple[dict[str, str], str]:
    """The request headers and base URL of one case."""
    scopes = frozenset({"other:scope"} if case == "insufficient scope" else {NEED})
    issued = await store.issue(NewTokens(client_id="web", subject="alice", scopes=scopes))
    token = issued.access_token
    if case == "revoked token":
        assert await store.revoke_token(token)
    headers = {
        "no token": {},
        "garbage token": {"Authorization": "Bearer not-a-token-of-ours"},
        "malformed token": {"Authorization": "Bearer a,b"},
    }.get(case, {"Authorization": f"Bearer {token}"})
    return headers, "http://testserver" if case == "plain HTTP" else "https://testserver"


EXPECTED = {  # status, challenge's error (None: bare challenge), description
    "no token": (401, None, "A bearer token is required."),
    "garbage token": (401, "invalid_token", "The access token is invalid, expired or revoked."),
    "revoked token": (401, "invalid_token", "The access token is invalid, expired or revoked."),
    "malformed token": (400, "invalid_request", "The access token is malformed."),
    "insufficient scope": (403, "insufficient_scope",
                           "The access token does not carry the required scope."),
    "plain HTTP": (400, "invalid_request", "HTTPS is required."),
}


@pytest.mark.rule("resource.one-refusal", "resource.dropped-token-reason",
                  "resource.invalid-token", "resource.app-not-called")
@pytest.mark.parametrize("case", list(EXPECTED))
async def test_every_surface_refuses_with_the_same_status_challenge_and_body(
    store: TokenStore, case: str
) -> None:
    calls.clear()
    headers, base_url = await _token(store, case)
    answers = {name: await _ask(build(store), headers, base_url)
               for name, build in SURFACES.items()}
    status, error, description = EXPECTED[case]
    reference = answers["mapping"]
    assert reference.status_code == status
    challenge = reference.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="api"')
    assert (f'error="{error}"' in challenge) if error else challenge == 'Bearer realm="api"'
    assert reference.headers["cache-control"] == "no-store"
    assert reference.headers["pragma"] == "no-cache"
    assert reference.json()["error_description"] == description
    assert reference.json().get("error") == error
    for name, answer in answers.items():
        assert answer.status_code == status, name
        assert {h: answer.headers.get(h) for h in COMPARED} == \
            {h: reference.headers.get(h) for h in COMPARED}, name
        assert answer.content == reference.content, name
    assert calls == []


def _placed(store: TokenStore, placement: str) -> ASGIApp:
    """The dependency's app with the middleware added, wrapped around it from outside
    (so FastAPI's own 500 handler sits between them), on a parent app, or absent."""
    app = _fastapi()
    if placement == "wrapping it":
        return OAuthMiddleware(app, store=store, scopes={})
    if placement == "on a parent app":
        parent = Starlette(routes=[Mount("/api", app)])
        parent.add_middleware(OAuthMiddleware, store=store, scopes={})
        return parent
    if placement == "added":
        app.add_middleware(OAuthMiddleware, store=store, scopes={})
    return app


@pytest.mark.rule("resource.one-refusal", "resource.dropped-token-reason")
@pytest.mark.parametrize("placement", ["added", "wrapping it", "on a parent app", "absent"])
async def test_require_scopes_answers_with_the_renderer_wherever_the_middleware_sits(
    store: TokenStore, placement: str
) -> None:
    calls.clear()
    path = "/api/reports" if placement == "on a parent app" else "/reports"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_placed(store, placement)),
                                 base_url="https://testserver") as client:
        answer = await client.get(path, headers={"Authorization": "Bearer garbage"})
    # Without the middleware nobody judged the token: it is missing, not invalid.
    error = None if placement == "absent" else "invalid_token"
    expected = render(InvalidToken() if error else MissingToken(), "api")
    assert answer.status_code == 401
    assert answer.content == expected.body
    assert sorted(answer.headers.raw) == sorted(expected.headers)
    assert calls == []


@pytest.mark.rule("resource.dropped-token-reason")
async def test_valid_token_on_unlisted_route_passes_require_scopes_and_verdict_is_kept(
    store: TokenStore,
) -> None:
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({NEED})))
    calls.clear()
    answer = await _ask(_dependency(store), {"Authorization": f"Bearer {issued.access_token}"},
                        "https://testserver")
    assert answer.status_code == 200 and answer.json() == {"user": "alice"}
    assert calls == ["/reports"]


async def _ws_close(app: ASGIApp, token: str) -> Message:
    """Open a wss connection with ``token``; the close the server sends."""
    sent: list[Message] = []
    incoming: list[Message] = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": "wss",
             "path": "/ws", "raw_path": b"/ws", "root_path": "", "query_string": b"",
             "headers": [(b"host", b"testserver"),
                         (b"authorization", f"Bearer {token}".encode())],
             "client": ("192.0.2.1", 5000), "server": ("testserver", 443), "subprotocols": []}
    await app(scope, receive, send)
    return next(m for m in sent if m["type"] == "websocket.close")


@pytest.mark.rule("resource.dropped-token-reason", "resource.websocket-close-codes")
async def test_a_websocket_endpoint_refuses_a_dropped_token_with_its_reason(
    store: TokenStore,
) -> None:
    @oauth_required(NEED)
    async def decorated(websocket: WebSocket) -> None:
        calls.append("decorated")
        await websocket.accept()

    async def with_dependency(websocket: WebSocket) -> None:
        RequireScopes(NEED)(websocket)
        calls.append("dependency")
        await websocket.accept()

    calls.clear()
    for endpoint in (decorated, with_dependency):
        app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])

        async def opaque(scope: Scope, receive: Receive, send: Send,
                         app: ASGIApp = app) -> None:
            await app(scope, receive, send)

        closed = await _ws_close(OAuthMiddleware(opaque, store=store, scopes={}), "garbage")
        assert (closed["code"], closed["reason"]) == (1008, "invalid_token"), endpoint
    assert calls == []
