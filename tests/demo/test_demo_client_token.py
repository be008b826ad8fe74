"""The demo's API never presents a client's own token as a user of the same name."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware

from demo import polls
from oauth_middleware import OAuthMiddleware, TokenStore
from oauth_middleware.toolbox import issue_token, register_client


@pytest.mark.rule("auth.client-identity-not-a-user")
async def test_api_me_and_polls_give_no_user_for_a_client_token(store: TokenStore) -> None:
    scopes = ["my_polls:my_stats", "polls:vote"]
    await register_client(store, "Web", "web", "https://a.example/cb", public=False,
                          scopes_list=scopes, register_unknown_scopes=True)
    await register_client(store, "Bob's machine", "bob", "https://a.example/cb", public=False,
                          scopes_list=scopes, grant_types=["client_credentials"])
    client_token = (await issue_token(store, "bob")).access_token
    user_token = (await issue_token(store, "web", user="bob")).access_token
    app = Starlette(routes=polls.routes, middleware=[
        Middleware(OAuthMiddleware, store=store, scopes=polls.SCOPES, debug=True)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as http:
        async def both(method: str, path: str, **kw: object) -> list[dict[str, object]]:
            answers = []
            for token in (client_token, user_token):
                response = await http.request(method, path, **kw,  # type: ignore[arg-type]
                                              headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 200, response.text
                answers.append(response.json())
            return answers

        me = await both("GET", "/api/me")
        stats = await both("GET", "/polls/1/stats")
        votes = await both("POST", "/polls/1/vote", data={"choice": "header"})
    assert me[0] == {"user": None, "client_id": "bob", "scopes": scopes}
    assert me[1] == {"user": "bob", "client_id": "web", "scopes": scopes}
    assert [s["viewer"] for s in stats] == [None, "bob"]
    assert [v["by"] for v in votes] == [None, "bob"]
