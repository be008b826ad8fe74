"""A plain WSGI app behind the middleware: same refusals, token in environ["asgi.scope"]."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import httpx

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
