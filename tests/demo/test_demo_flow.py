"""The demo end to end over plain HTTP requests (no browser): every step's status and headers.

``python -m demo`` runs as a real process with uvicorn and a real redis-server,
exactly as the README's first command starts it.
"""

from __future__ import annotations

import re

import httpx

from tests.demo.harness import WEB_SECRET, Demo, consent, decide, location, login
from tests.page_headers import assert_page_headers
from tests.server.authorize_harness import read_page


async def _sign_in_through_client(agent: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    """Start the client app's flow, get sent to login, log in; returns the auth/ URL."""
    start = await agent.get("/client/login")
    path, params = location(start)
    assert path == "/oauth/auth/"
    assert params["response_type"] == "code" and params["client_id"] == "demo-web"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["redirect_uri"].endswith("/client/callback") and params["state"]
    auth_url = start.headers["location"]
    to_login = await agent.get(auth_url)
    login_path, login_params = location(to_login)
    assert login_path == "/login" and login_params["next"].startswith("/oauth/auth/?")
    logged_in = await login(agent, "alice", login_params["next"])
    assert location(logged_in)[0] == "/oauth/auth/"
    return logged_in.headers["location"], params


async def test_client_app_code_pkce_flow_then_refresh_and_revoke(
    demo: Demo, agent: httpx.AsyncClient
) -> None:
    auth_url, request = await _sign_in_through_client(agent)
    action, page = await consent(agent, auth_url)
    response = await agent.get(auth_url)
    assert_page_headers(response)
    assert "Demo web client" in page.text and "Polls Results" in page.text
    assert sorted(c["value"] for c in page.checkboxes()) == [
        "my_polls:my_stats", "polls:results", "polls:vote"]
    approved = await decide(agent, action, page, "approve")
    path, params = location(approved)
    assert path == "/client/callback" and params["state"] == request["state"]
    assert approved.headers["cache-control"] == "no-store"
    back = await agent.get(approved.headers["location"])
    assert location(back)[0] == "/client/"
    results = read_page((await agent.get("/client/")).text)
    statuses = re.findall(r"(header|form body|query) (GET|POST) (\S+) (\d{3})", results.text)
    assert statuses == [("header", "GET", "/polls/1/results", "200"),
                        ("form body", "POST", "/polls/1/vote", "200"),
                        ("query", "GET", "/polls/1/stats", "200"),
                        ("header", "GET", "/api/me", "200")]
    assert '"user":"alice"' in results.text and '"client_id":"demo-web"' in results.text
    before = re.search(r"fingerprint (\w{12}), expires", results.text)
    assert before is not None
    refreshed = await agent.post("/client/refresh")
    assert location(refreshed)[0] == "/client/"
    after_refresh = read_page((await agent.get("/client/")).text).text
    now = re.search(r"fingerprint (\w{12}), expires", after_refresh)
    assert now is not None and now.group(1) != before.group(1)
    assert "200" in after_refresh and "The token endpoint answered" not in after_refresh
    assert location(await agent.post("/client/revoke"))[0] == "/client/"
    revoked = read_page((await agent.get("/client/")).text).text
    assert "revoked" in revoked
    assert re.findall(r"(?:header|form body|query) (?:GET|POST) \S+ (\d{3})", revoked) == [
        "401"] * 4
    assert 'error="invalid_token"' in revoked


async def test_denying_consent_reaches_the_client_as_access_denied(
    demo: Demo, agent: httpx.AsyncClient
) -> None:
    auth_url, request = await _sign_in_through_client(agent)
    action, page = await consent(agent, auth_url)
    denied = await decide(agent, action, page, "deny")
    path, params = location(denied)
    assert path == "/client/callback"
    assert params == {"error": "access_denied", "error_description": params["error_description"],
                      "state": request["state"]}
    await agent.get(denied.headers["location"])
    shown = read_page((await agent.get("/client/")).text).text
    assert "The server answered access_denied." in shown


async def test_seed_steps_with_curl_style_requests(demo: Demo, agent: httpx.AsyncClient) -> None:
    """The README walkthrough: password grant, then the three ways of sending the token."""
    token = await agent.post("/oauth/token/", data={
        "grant_type": "password", "username": "bob", "password": "bob-password",
        "scope": "polls:results polls:vote my_polls:my_stats"}, auth=("demo-web", WEB_SECRET))
    assert token.status_code == 200 and token.headers["cache-control"] == "no-store"
    access = token.json()["access_token"]
    header = await agent.get("/polls/1/results", headers={"Authorization": f"Bearer {access}"})
    body = await agent.post("/polls/1/vote", data={"access_token": access, "choice": "query"})
    query = await agent.get("/polls/1/stats", params={"access_token": access})
    assert (header.status_code, body.status_code, query.status_code) == (200, 200, 200)
    assert query.headers["cache-control"] == "private"
    assert body.json() == {"poll": 1, "voted": "query", "by": "bob"}
    assert (await agent.get("/polls/1/results")).status_code == 401
    metadata = await agent.get("/.well-known/oauth-authorization-server/oauth")
    assert metadata.json()["issuer"] == f"{demo.url}/oauth"
    assert metadata.json()["token_endpoint"] == f"{demo.url}/oauth/token/"


async def _votes(agent: httpx.AsyncClient) -> dict[str, int]:
    """Poll 1's counts, read with a token of bob's (the password grant demo-web is allowed)."""
    token = await agent.post("/oauth/token/", data={
        "grant_type": "password", "username": "bob", "password": "bob-password",
        "scope": "polls:results"}, auth=("demo-web", WEB_SECRET))
    assert token.status_code == 200
    answer = await agent.get("/polls/1/results", headers={
        "Authorization": f"Bearer {token.json()['access_token']}"})
    assert answer.status_code == 200
    results: dict[str, int] = answer.json()["results"]
    return results


async def test_reloading_the_client_page_casts_no_vote_and_call_again_casts_one(
    demo: Demo, agent: httpx.AsyncClient
) -> None:
    auth_url, _ = await _sign_in_through_client(agent)
    action, page = await consent(agent, auth_url)
    approved = await decide(agent, action, page, "approve")
    await agent.get(approved.headers["location"])  # the callback: exchange, one round of calls
    after_sign_in = await _votes(agent)
    shown = [read_page((await agent.get("/client/")).text).text for _ in range(3)]
    assert await _votes(agent) == after_sign_in
    assert shown[0] == shown[1] == shown[2]
    assert after_sign_in == {"header": 1, "form body": 0, "query": 0}
    again = await agent.post("/client/call")
    assert location(again)[0] == "/client/"
    assert await _votes(agent) == {"header": 2, "form body": 0, "query": 0}
