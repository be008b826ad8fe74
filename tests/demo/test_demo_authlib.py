"""A third-party OAuth client library (Authlib) drives code + PKCE through the real demo.

The login and consent steps are submitted as a browser would (forms, cookies,
303s); Authlib builds the authorization URL with its own PKCE verifier, then
exchanges the code, calls the API and refreshes, against real uvicorn and Redis.
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx

from tests.demo.harness import WEB_SECRET, Demo, consent, decide, location, login


def _authlib_client(**options: Any) -> Any:
    with warnings.catch_warnings():
        import authlib.deprecate

        warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
        from authlib.common.security import generate_token
        from authlib.integrations.httpx_client import AsyncOAuth2Client
    client = AsyncOAuth2Client(**options)
    client.code_verifier = generate_token(64)
    return client


async def test_authlib_runs_code_with_pkce_through_login_and_consent(
    demo: Demo, agent: httpx.AsyncClient
) -> None:
    meta = (await agent.get("/.well-known/oauth-authorization-server/oauth")).json()
    redirect_uri = f"{demo.url}/client/callback"
    client = _authlib_client(client_id="demo-web", client_secret=WEB_SECRET,
                             redirect_uri=redirect_uri, scope="polls:results polls:vote",
                             code_challenge_method="S256", base_url=demo.url)
    async with client:
        url, state = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=client.code_verifier)
        to_login = await agent.get(url)
        logged_in = await login(agent, "alice", location(to_login)[1]["next"])
        action, page = await consent(agent, logged_in.headers["location"])
        assert [c["value"] for c in page.checkboxes()] == ["polls:results", "polls:vote"]
        approved = await decide(agent, action, page, "approve", scopes=["polls:results"])
        path, params = location(approved)
        assert path == "/client/callback" and params["state"] == state
        token = await client.fetch_token(
            meta["token_endpoint"], authorization_response=approved.headers["location"],
            code_verifier=client.code_verifier)
        assert token["token_type"] == "Bearer" and token["scope"] == "polls:results"
        assert isinstance(token["expires_in"], int) and "refresh_token" in token
        me = await client.get("/api/me")
        assert me.json() == {"user": "alice", "client_id": "demo-web", "scopes": ["polls:results"]}
        assert (await client.get("/polls/1/results")).status_code == 200
        assert (await client.post("/polls/1/vote", data={"choice": "query"})).status_code == 403
        old = token["access_token"]
        # Authlib asks again for its configured scope; the user granted less, so that
        # would widen the grant (invalid_scope). Ask for what was granted.
        refreshed = await client.refresh_token(meta["token_endpoint"], scope="polls:results")
        assert refreshed["access_token"] != old
        assert refreshed["refresh_token"] != token["refresh_token"]
        assert (await client.get("/api/me")).status_code == 200
        replay = await agent.post(meta["token_endpoint"], auth=("demo-web", WEB_SECRET), data={
            "grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        assert (await client.get("/api/me")).status_code == 401  # reuse revoked the family
