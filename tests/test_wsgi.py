"""A plain WSGI app behind the middleware: same refusals, token in environ["asgi.scope"]."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from oauth_middleware import AUTO
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.wsgi import protect_wsgi, wsgi_token

calls: list[str] = []


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    calls.append(environ["PATH_INFO"])
    token = wsgi_token(environ)
    body = json.dumps({"user": token.subject if token else None,
                       "body": environ["wsgi.input"].read().decode()}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


async def test_wsgi_app_is_protected_like_an_asgi_app(store: TokenStore) -> None:
    calls.clear()
    app = protect_wsgi(wsgi_app, store=store, scopes={"POST /vote": "polls:vote"})
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"polls:vote"})))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as client:
        refused = await client.post("/vote")
        voted = await client.post("/vote", data={"access_token": issued.access_token, "c": "1"})
        public = await client.get("/public")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="api"'
    assert voted.status_code == 200
    assert voted.json() == {"user": "alice", "body": f"access_token={issued.access_token}&c=1"}
    assert public.json() == {"user": None, "body": ""}
    assert calls == ["/vote", "/public"]


def test_protect_wsgi_refuses_auto_naming_the_key(store: TokenStore) -> None:
    with pytest.raises(ValueError, match=r"scopes\['/vote'\] is AUTO, which needs Starlette"):
        protect_wsgi(wsgi_app, store=store, scopes={"GET /public": "a:b", "/vote": AUTO})


async def test_a_mounted_wsgi_app_keeps_its_own_mapping_relative_to_the_mount(
    store: TokenStore,
) -> None:
    """Keys are the WSGI app's own paths; the enclosing app's routes never rebind them."""
    calls.clear()
    protected = protect_wsgi(wsgi_app, store=store, scopes={"POST /vote": "polls:vote"})
    app = Starlette(routes=[Route("/vote", _outer_vote, methods=["POST"]),
                            Mount("/legacy", protected)])
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"polls:other"})))
    bearer = {"Authorization": f"Bearer {issued.access_token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as client:
        refused = await client.post("/legacy/vote")
        short = await client.post("/legacy/vote", headers=bearer)
        outer = await client.post("/vote")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="api"'
    assert short.status_code == 403
    assert short.json()["error"] == "insufficient_scope"
    assert 'scope="polls:vote"' in short.headers["www-authenticate"]
    assert outer.status_code == 200 and outer.json() == {"outer": True}
    assert calls == []
    assert protected.policy.required("POST", "/vote") == frozenset({"polls:vote"})


async def _outer_vote(request: Request) -> Response:
    return JSONResponse({"outer": True})
