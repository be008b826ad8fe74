"""FastAPI dependencies over the middleware's token: same statuses and challenges."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from oauth_middleware import AccessToken, OAuthMiddleware, RequireScopes, get_access_token
from oauth_middleware.dependencies import Refused
from oauth_middleware.store import NewTokens, TokenStore


def _app(store: TokenStore) -> FastAPI:
    app = FastAPI()

    @app.post("/polls/{poll_id}/vote")
    async def vote(
        poll_id: int, token: Annotated[AccessToken, Depends(RequireScopes("polls:vote"))]
    ) -> dict[str, Any]:
        return {"poll": poll_id, "user": token.subject}

    @app.get("/whoami")
    async def whoami(token: Annotated[AccessToken | None, Depends(get_access_token)]) -> Any:
        return {"user": token.subject if token else None}

    app.add_middleware(OAuthMiddleware, store=store)
    return app


@pytest.mark.rule("resource.insufficient-scope")
async def test_fastapi_dependency_checks_scopes_like_the_middleware(store: TokenStore) -> None:
    good = await store.issue(NewTokens(client_id="web", subject="alice",
                                       scopes=frozenset({"polls:vote"})))
    other = await store.issue(NewTokens(client_id="web", subject="bob",
                                        scopes=frozenset({"x"})))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(store)),
                                 base_url="https://testserver") as client:
        ok = await client.post("/polls/3/vote", headers={
            "Authorization": f"Bearer {good.access_token}"})
        lacking = await client.post("/polls/3/vote", headers={
            "Authorization": f"Bearer {other.access_token}"})
        anonymous = await client.post("/polls/3/vote")
        who = await client.get("/whoami", params={"access_token": other.access_token})
    assert ok.status_code == 200 and ok.json() == {"poll": 3, "user": "alice"}
    assert lacking.status_code == 403
    assert lacking.headers["www-authenticate"].endswith('scope="polls:vote"')
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="api"'
    assert who.json() == {"user": "bob"}
    assert repr(RequireScopes("b", "a")) == "RequireScopes(a, b)"


def test_require_scopes_called_without_the_request_says_to_pass_it() -> None:
    with pytest.raises(TypeError, match=r"^RequireScopes\(\.\.\.\) takes the request$"):
        RequireScopes("polls:vote")()


async def test_a_handler_of_the_host_for_refused_gets_the_error_and_the_challenge(
    store: TokenStore,
) -> None:
    """docs/guides/configuration.md: a host may answer ``Refused`` itself, from its error
    and headers; those carry the challenge but none of the JSON body's own headers."""
    app = _app(store)

    async def own(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        return PlainTextResponse(f"{exc.error.error}: {exc.detail}", exc.status_code,
                                 headers=exc.headers)

    app.add_exception_handler(Refused, own)
    other = await store.issue(NewTokens(client_id="web", subject="bob", scopes=frozenset({"x"})))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as client:
        lacking = await client.post("/polls/3/vote",
                                    headers={"Authorization": f"Bearer {other.access_token}"})
    assert lacking.status_code == 403
    assert lacking.text == "insufficient_scope: The access token does not carry the required scope."
    assert lacking.headers["content-type"] == "text/plain; charset=utf-8"
    assert lacking.headers["content-length"] == str(len(lacking.content))
    assert lacking.headers["cache-control"] == "no-store"
    assert lacking.headers["www-authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="The access token does not carry the required scope.", '
        'scope="polls:vote"')
