"""Identity from a token never passes for a person, and a client never for a user.

The middleware gives a user's token a ``TokenUser`` and a client's own token
(client_credentials) a ``ClientUser``; the default ``authenticate`` hook
(``user_from_scope``, i.e. ``logged_in_user``) refuses both by type, and refuses
any request the middleware saw a token on. On a route the middleware does not
protect, a person already signed in by the host's session stays ``request.user``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from oauth_middleware import AccessToken, ClientUser, OAuthMiddleware, TokenUser, logged_in_user
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.web import user_from_scope

ORDERS = ("oauth-inside-session", "oauth-outside-session")


class HeaderSession(AuthenticationBackend):
    """The host's login: ``x-session-user`` stands for a session cookie."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        name = conn.headers.get("x-session-user")
        return (AuthCredentials(["session"]), SimpleUser(name)) if name else None


async def whoami(request: Request) -> Response:
    user = request.user
    oauth = request.scope.get("oauth")
    return JSONResponse({
        "type": type(user).__name__, "identity": user.identity if user.is_authenticated else None,
        "display": user.display_name if user.is_authenticated else None,
        "auth": sorted(request.auth.scopes), "token_client": oauth.client_id if oauth else None,
        "logged_in": logged_in_user(request), "default_hook": await user_from_scope(request),
        "repr": repr(user),
    })


def host(store: TokenStore, order: str) -> Starlette:
    session = [Middleware(AuthenticationMiddleware, backend=HeaderSession())]
    oauth = [Middleware(OAuthMiddleware, store=store, scopes={"/api": ["read"]})]
    return Starlette(routes=[Route("/api", whoami), Route("/page", whoami)],
                     middleware=session + oauth if order == ORDERS[0] else oauth + session)


@pytest.fixture(params=ORDERS)
async def client(store: TokenStore, request: pytest.FixtureRequest
                 ) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=host(store, request.param))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        yield c


async def _token(store: TokenStore, subject: str, subject_type: str = "user") -> str:
    issued = await store.issue(NewTokens(client_id="bob" if subject_type == "client" else "web",
                                         subject=subject, subject_type=subject_type,  # type: ignore[arg-type]
                                         scopes=frozenset({"read"})))
    return issued.access_token


@pytest.mark.rule("auth.client-identity-not-a-user", "auth.login.token-identity-refused")
async def test_a_client_token_is_a_client_user_never_the_user_of_the_same_name(
    store: TokenStore,
) -> None:
    token = await _token(store, "bob", "client")
    app = host(store, ORDERS[0])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as client:
        for path in ("/api", "/page"):
            body = (await client.get(path, headers={"Authorization": f"Bearer {token}"})).json()
            assert body["type"] == ClientUser.__name__ and body["identity"] == ""
            assert body["display"] == "client bob" and body["token_client"] == "bob"
            assert body["logged_in"] is None and body["default_hook"] is None
            assert body["repr"] == "ClientUser(client='bob')" and token not in body["repr"]
            assert body["auth"] == ["read"]


@pytest.mark.rule("auth.login.token-identity-refused")
async def test_a_user_token_is_a_token_user_that_the_default_hook_refuses(
    store: TokenStore,
) -> None:
    token = await _token(store, "alice")
    app = host(store, ORDERS[0])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as client:
        for path in ("/api", "/page"):
            body = (await client.get(path, headers={"Authorization": f"Bearer {token}"})).json()
            assert body["type"] == TokenUser.__name__ and body["identity"] == "alice"
            assert body["logged_in"] is None and body["default_hook"] is None
            assert body["repr"] == "TokenUser('alice', client='web')"


@pytest.mark.rule("auth.login.token-identity-refused")
async def test_a_token_on_an_unlisted_route_never_replaces_the_signed_in_person(
    store: TokenStore,
) -> None:
    """Middleware inside the session: bob stays request.user, the token is in scope["oauth"]
    only, and the default hook still says nobody (a request with a token is no login)."""
    token = await _token(store, "alice")
    app = host(store, ORDERS[0])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as client:
        headers = {"Authorization": f"Bearer {token}", "x-session-user": "bob"}
        page = (await client.get("/page", headers=headers)).json()
        api = (await client.get("/api", headers=headers)).json()
        plain = (await client.get("/page", headers={"x-session-user": "bob"})).json()
    assert page["type"] == "SimpleUser" and page["identity"] == "bob"
    assert page["auth"] == ["session"] and page["token_client"] == "web"
    assert page["default_hook"] is None and page["logged_in"] is None
    assert api["type"] == TokenUser.__name__ and api["identity"] == "alice"
    assert api["auth"] == ["read"]
    assert plain["type"] == "SimpleUser" and plain["default_hook"] == "bob"


@pytest.mark.rule("auth.login.token-identity-refused")
async def test_the_default_hook_refuses_a_token_whatever_the_middleware_order(
    client: httpx.AsyncClient, store: TokenStore,
) -> None:
    token = await _token(store, "alice")
    for headers in ({"Authorization": f"Bearer {token}"},
                    {"Authorization": f"Bearer {token}", "x-session-user": "bob"}):
        for path in ("/api", "/page"):
            body = (await client.get(path, headers=headers)).json()
            assert body["default_hook"] is None and body["logged_in"] is None
            assert body["token_client"] == "web"
    assert (await client.get("/page", headers={"x-session-user": "bob"})).json()[
        "default_hook"] == "bob"


class _NoLoginFlag:
    """A host user object that never says whether it is authenticated."""

    identity = "mallory"


@pytest.mark.rule("auth.login.token-identity-refused")
@pytest.mark.parametrize("subject_type", ["user", "client"])
def test_a_token_identity_is_refused_by_its_type_even_without_the_tokens_mark(
    subject_type: str,
) -> None:
    """A host that copies ``request.user`` onto another request (no ``scope["oauth"]``)
    still gets nobody from a token's identity: the type alone refuses it."""
    token = AccessToken(grant_id="g", client_id="web", subject="alice",
                        subject_type=subject_type)  # type: ignore[arg-type]
    user = TokenUser(token) if subject_type == "user" else ClientUser(token)
    assert user.is_authenticated
    assert logged_in_user(HTTPConnection({"type": "http", "user": user})) is None


def test_a_user_object_that_does_not_say_it_is_authenticated_is_nobody() -> None:
    request = HTTPConnection({"type": "http", "user": _NoLoginFlag()})
    assert logged_in_user(request) is None
    signed_in = HTTPConnection({"type": "http", "user": SimpleUser("bob")})
    assert logged_in_user(signed_in) == "bob"


@pytest.mark.rule("auth.login.token-identity-refused")
async def test_a_token_on_an_unlisted_route_replaces_a_user_object_that_is_no_login(
    store: TokenStore,
) -> None:
    """Only a person the host says is authenticated keeps ``request.user`` beside a token."""
    token = await _token(store, "alice")

    async def kind(request: Request) -> Response:
        return JSONResponse({"type": type(request.scope["user"]).__name__})

    oauth = OAuthMiddleware(Starlette(routes=[Route("/page", kind), Route("/api", kind)]),
                            store=store, scopes={"/api": ["read"]})

    async def host_without_login_flag(scope: Scope, receive: Receive, send: Send) -> None:
        scope["user"] = _NoLoginFlag()
        await oauth(scope, receive, send)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host_without_login_flag),
                                 base_url="https://testserver") as client:
        body = (await client.get("/page", headers={"Authorization": f"Bearer {token}"})).json()
    assert body == {"type": TokenUser.__name__}


async def _who_on_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    user = websocket.user
    await websocket.send_json({"type": type(user).__name__, "identity": user.identity})
    await websocket.close()


async def _socket_user(app: Starlette, path: str, headers: dict[str, str]) -> object:
    """What the socket's endpoint saw as ``websocket.user``, driven as raw ASGI."""
    scope: Scope = {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": "wss",
                    "path": path, "raw_path": path.encode(), "root_path": "",
                    "query_string": b"", "server": ("testserver", 443), "client": None,
                    "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
                    "subprotocols": []}
    incoming: list[Message] = [{"type": "websocket.connect"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    (text,) = [m["text"] for m in sent if m["type"] == "websocket.send"]
    return json.loads(text)


@pytest.mark.rule("auth.login.token-identity-refused")
async def test_on_a_protected_socket_the_token_is_the_user_and_on_an_unlisted_one_the_person(
    store: TokenStore,
) -> None:
    """As for HTTP: a protected route's identity is its token's, even with a person signed
    in by the session; an unlisted route keeps the person."""
    token = await _token(store, "alice")
    session = [Middleware(AuthenticationMiddleware, backend=HeaderSession())]
    oauth = [Middleware(OAuthMiddleware, store=store, scopes={"/ws-api": ["read"]})]
    app = Starlette(routes=[WebSocketRoute("/ws-api", _who_on_socket),
                            WebSocketRoute("/ws-page", _who_on_socket)],
                    middleware=session + oauth)
    headers = {"authorization": f"Bearer {token}", "x-session-user": "bob"}
    assert await _socket_user(app, "/ws-api", headers) == {
        "type": TokenUser.__name__, "identity": "alice"}
    assert await _socket_user(app, "/ws-page", headers) == {
        "type": "SimpleUser", "identity": "bob"}
