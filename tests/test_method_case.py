"""A scope key's method matches the request's method however the client spells it (RFC 9110 §9.1).

Methods are case-sensitive on the wire, but the frameworks behind the middleware
are not: Django and Werkzeug (Flask) upper-case the method before they dispatch.
uvicorn's h11 parser (the one a plain ``pip install uvicorn`` runs) passes ``post``
through as sent. A key such as ``"POST /items"`` matched only ``POST``, so
``post /items`` with an ``items:read`` token reached the POST view unchecked.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from oauth_middleware import OAuthMiddleware
from oauth_middleware.store import NewTokens, TokenStore
from tests.raw_asgi import call
from tests.redis_process import free_port
from tests.servers import UvicornProcess

SCOPES = {"GET /things": "things:read", "POST /things": "things:write"}
SECRET = "example-secret-0123456789"


class Dispatcher:
    """A raw ASGI app that dispatches like Django and Werkzeug: on the upper-cased method."""

    def __init__(self) -> None:
        self.things: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"].upper() == "POST":
            self.things.append("new")
            response: Response = JSONResponse({"added": "new"}, status_code=201)
        else:
            response = JSONResponse({"things": self.things})
        await response(scope, receive, send)


def _app(store: TokenStore) -> tuple[OAuthMiddleware, Dispatcher]:
    inner = Dispatcher()
    app = OAuthMiddleware(inner, store=store, scopes=SCOPES)
    app.policy.bound = True  # explicit rules, no routes to read (as protect_wsgi does)
    return app, inner


@pytest.mark.rule("resource.method-case", "resource.insufficient-scope",
                  "resource.app-not-called")
@pytest.mark.parametrize("method", ["post", "Post", "pOST"])
async def test_a_lower_case_post_needs_the_post_scope(store: TokenStore, method: str) -> None:
    reader = await store.issue(NewTokens(client_id="c", subject="alice",
                                         scopes=frozenset({"things:read"})))
    app, inner = _app(store)
    answer = await call(app, method, "/things",
                        headers=[(b"authorization", f"Bearer {reader.access_token}".encode())])
    assert answer.status == 403, answer.body
    assert answer.header("www-authenticate") == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="The access token does not carry the required scope.", '
        'scope="things:write"')
    assert answer.header("cache-control") == "no-store"
    assert answer.body.startswith(b'{"error": "insufficient_scope"')
    assert inner.things == []


@pytest.mark.rule("resource.method-case", "resource.missing-401", "resource.app-not-called")
async def test_a_lower_case_post_without_a_token_is_refused(store: TokenStore) -> None:
    app, inner = _app(store)
    answer = await call(app, "post", "/things")
    assert answer.status == 401, answer.body
    assert answer.header("www-authenticate") == 'Bearer realm="api"'
    assert inner.things == []


@pytest.fixture(params=["examples.flask_app:app", "examples.django_project.asgi:application"])
def h11_example(request: pytest.FixtureRequest) -> Iterator[UvicornProcess]:
    """An example under uvicorn's h11 parser, which keeps a method's case as sent."""
    port = free_port()
    env = {"OAUTH_ISSUER": f"http://127.0.0.1:{port}/oauth", "EXAMPLE_CLIENT_SECRET": SECRET,
           "REDIS_URL": "", "OAUTH_SECRET_KEY": ""}
    with UvicornProcess(request.param, "--http", "h11", env=env, port=port) as server:
        yield server


def _raw(port: int, request: bytes) -> tuple[bytes, bytes]:
    """One request on its own connection, bytes as given: the status line and the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], body


@pytest.mark.rule("resource.method-case", "resource.insufficient-scope")
def test_examples_under_h11_refuse_a_lower_case_post_with_a_read_token(
    h11_example: UvicornProcess,
) -> None:
    port = h11_example.port
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        issued = http.post("/oauth/token/", auth=("example-service", SECRET),
                           data={"grant_type": "client_credentials", "scope": "items:read"})
        token = issued.json()["access_token"]
        body = b'{"name": "forged"}'
        status, answer = _raw(port, b"post /items HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                              b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                              b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                              % (port, token.encode(), len(body), body))
        listed = http.get("/items", headers={"Authorization": f"Bearer {token}"})
    assert status == b"HTTP/1.1 403 Forbidden", answer
    assert answer.startswith(b'{"error": "insufficient_scope"'), answer
    assert listed.status_code == 200 and listed.json()["items"] == []
