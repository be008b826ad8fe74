"""What the fuzz tests run against, and the properties every answer must have.

One embedded store on one event loop per module (hypothesis examples are
synchronous; :meth:`FuzzEnv.run` drives the app), holding the reliability stack
(``auth/``, the token family, a protected ``/me``) and the polls app of
tests/apps.py behind the middleware. Throttling is relaxed so that thousands of
failures keep reaching the code behind it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from oauth_middleware import OAuthMiddleware, TokenStore, register_client
from oauth_middleware.errors import safe_text
from oauth_middleware.store import NewTokens
from tests.page_headers import assert_page_headers
from tests.raw_asgi import RawResponse
from tests.reliability.stack import REDIRECT, SCOPES, Clients, build, seed

T = TypeVar("T")

NATIVE_REDIRECT = "http://127.0.0.1/cb"
QUERY_REDIRECT = "https://client.example/cb?from=registration"
LOGIN_URL = "/login"


@dataclass
class FuzzEnv:
    runner: asyncio.Runner
    store: TokenStore
    stack: Starlette
    api: Starlette
    clients: Clients
    access_token: str
    refresh_token: str

    @classmethod
    async def create(cls, runner: asyncio.Runner) -> FuzzEnv:
        store = TokenStore.from_url(None)
        clients = await seed(store)
        await register_client(store, "Native", "native", NATIVE_REDIRECT, public=True,
                              allow_http=True, scopes_list=list(SCOPES))
        await register_client(store, "Query", "withquery", [QUERY_REDIRECT, REDIRECT],
                              public=False, scopes_list=list(SCOPES),
                              grant_types=["authorization_code", "implicit"],
                              allow_confidential_implicit=True)
        issued = await store.issue(NewTokens(client_id="web", subject="alice", refresh=True,
                                             scopes=frozenset(SCOPES), lifetime=None,
                                             refresh_lifetime=None))
        api_token = await store.issue(NewTokens(
            client_id="web", subject="alice", lifetime=None,
            scopes=frozenset({"polls:results", "polls:vote", "my_polls:my_stats"})))
        assert issued.refresh_token is not None
        return cls(runner, store, build(store), api(store), clients,
                   api_token.access_token, issued.refresh_token)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    @property
    def basic(self) -> bytes:
        raw = f"web:{self.clients.web_secret}".encode()
        return b"Basic " + base64.b64encode(raw)

    @property
    def bearer(self) -> bytes:
        return b"Bearer " + self.access_token.encode()


async def _reached(request: Request) -> Response:
    """A downstream endpoint that records the call and reads the replayed body."""
    request.app.state.calls.append(request.scope["path"])
    await request.body()
    return PlainTextResponse("reached")


def api(store: TokenStore) -> Starlette:
    """Routes behind the middleware whose endpoints never parse the request themselves
    (Starlette's own URL parsing fails on a non-UTF-8 query: not the middleware's doing)."""
    app = Starlette(routes=[
        Route("/polls/{poll_id}/results", _reached), Route("/polls/{poll_id}/stats", _reached),
        Route("/polls/{poll_id}/vote", _reached, methods=["POST"]),
        Route("/me", _reached), Route("/public", _reached, methods=["GET", "POST"]),
    ])
    app.add_middleware(OAuthMiddleware, store=store, scopes={
        "/polls/{poll_id}/results": "polls:results", "/polls/{poll_id}/stats": "my_polls:my_stats",
        "POST /polls/{poll_id}/vote": "polls:vote", "/me": [],
    })
    app.state.calls = []
    return app


#: Every redirect URI registered in the environment (the native one with any port).
REGISTERED = (REDIRECT, QUERY_REDIRECT, NATIVE_REDIRECT)


def assert_no_server_error(response: RawResponse) -> None:
    assert response.status < 500, (response.status, response.body[:300])
    assert b"Traceback" not in response.body


def _to_registered(location: str) -> bool:
    """``location`` is a registered URI with our parameters after it (``?``/``&`` or ``#``)."""
    for uri in REGISTERED:
        joiner = "&" if "?" in uri else "?"
        if location.startswith((uri + joiner, uri + "#")):
            return True
    parts = urlsplit(location)  # RFC 8252 §7.3: any port on a loopback IP literal
    return (parts.scheme, parts.hostname, parts.path) == ("http", "127.0.0.1", "/cb")


def assert_location_is_registered_or_login(response: RawResponse) -> None:
    """A redirect goes to a registered URI (our parameters after it) or to the login page."""
    location = response.header("location")
    if location is None:
        assert response.status not in (301, 302, 303, 307, 308)
        return
    assert response.status == 303, response.status
    assert response.header("cache-control") == "no-store"
    assert location.startswith(LOGIN_URL + "?next=") or _to_registered(location), location


def assert_html_page(response: RawResponse) -> None:
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert_page_headers(response)


def assert_token_family_json(response: RawResponse) -> dict[str, Any]:
    """JSON, uncacheable; an error is exactly error + a safe description."""
    assert response.header("content-type") == "application/json", response.headers
    assert response.header("cache-control") == "no-store"
    assert response.header("pragma") == "no-cache"
    body: dict[str, Any] = json.loads(response.body)
    if response.status != 200:
        assert set(body) == {"error", "error_description"}, body
        assert body["error_description"] == safe_text(body["error_description"]) != ""
    else:
        assert "error" not in body
    return body


#: The only shapes of Bearer challenge the middleware sends (RFC 6750 §3).
_CHALLENGE = re.compile(
    r'Bearer realm="api"(, error="(invalid_request|invalid_token|insufficient_scope)", '
    r'error_description="[\x20\x21\x23-\x5b\x5d-\x7e]*"(, scope="[\x21\x23-\x5b\x5d-\x7e ]+")?)?'
)


def assert_bearer_challenge(response: RawResponse) -> None:
    challenge = response.header("www-authenticate")
    if challenge is not None:
        assert _CHALLENGE.fullmatch(challenge), challenge
