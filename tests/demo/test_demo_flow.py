"""The demo end to end over plain HTTP requests (no browser): every step's status and headers.

``python -m demo`` runs as a real process with uvicorn and a real redis-server,
exactly as the README's first command starts it.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import pytest

from oauth_middleware.security import pkce_s256
from oauth_middleware.server.responses import HTML_HEADERS
from tests.demo.harness import WEB_SECRET, Demo, consent, decide, location, login
from tests.page_headers import assert_page_headers
from tests.server.authorize_harness import read_page

WALKTHROUGH = Path(__file__).resolve().parents[2] / "docs" / "walkthrough.md"


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
                      "iss": f"{demo.url}/oauth", "state": request["state"]}
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


async def test_the_client_page_shows_a_dpop_bound_token_that_works_only_with_its_proofs(
    demo: Demo, agent: httpx.AsyncClient
) -> None:
    auth_url, _ = await _sign_in_through_client(agent)
    action, page = await consent(agent, auth_url)
    approved = await decide(agent, action, page, "approve")
    await agent.get(approved.headers["location"])
    before = (await agent.get("/client/")).text
    assert 'id="dpop-call"' in before and 'id="dpop-jkt"' not in before
    bound = await agent.post("/client/dpop")
    assert location(bound)[0] == "/client/"
    shown = (await agent.get("/client/")).text
    text = read_page(shown).text
    assert re.search(r'id="dpop-token-type">DPoP<', shown)
    jkt = re.search(r'id="dpop-jkt">([A-Za-z0-9_-]{43})<', shown)
    assert jkt is not None
    assert re.findall(r"(DPoP|Bearer) GET (\S+) (\d{3})", text) == [
        ("DPoP", "/polls/1/results", "200"), ("DPoP", "/api/me", "200"),
        ("Bearer", "/polls/1/results", "401")]
    assert '"user":"alice"' in text and "The token endpoint answered" not in text
    assert 'WWW-Authenticate: DPoP realm="api", error="invalid_token"' in text
    # the bearer token of the sign-in still works, and its refresh token was rotated in place
    again = await agent.post("/client/call")
    assert location(again)[0] == "/client/"
    calls = read_page((await agent.get("/client/")).text).text
    assert re.findall(r"(?:header|form body|query) (?:GET|POST) \S+ (\d{3})", calls) == [
        "200"] * 4
    # a second round reuses the session's key: same thumbprint, a new token
    await agent.post("/client/dpop")
    assert f'id="dpop-jkt">{jkt.group(1)}<' in (await agent.get("/client/")).text


def _stopped_log(demo: Demo) -> str:
    """Everything the demo printed, its access log included (stopped, so all of it is written)."""
    demo.process.stop()
    return demo.process.output()


@pytest.mark.rule("rest.no-secret-in-logs")
async def test_the_callback_redeems_the_code_and_keeps_it_out_of_the_access_log(
    demo: Demo, agent: httpx.AsyncClient
) -> None:
    auth_url, request = await _sign_in_through_client(agent)
    action, page = await consent(agent, auth_url)
    approved = await decide(agent, action, page, "approve")
    path, params = location(approved)
    code = params["code"]
    assert path == "/client/callback" and len(code) >= 43
    back = await agent.get(approved.headers["location"])
    assert location(back) == ("/client/", {})
    results = read_page((await agent.get("/client/")).text).text
    assert "header GET /api/me 200" in results and '"user":"alice"' in results  # redeemed
    log = _stopped_log(demo)
    assert code not in log
    iss = quote(f"{demo.url}/oauth", safe="")
    assert (f'"GET /client/callback?code=redacted&iss={iss}&state={request["state"]} '
            'HTTP/1.1" 303') in log


@pytest.mark.rule("rest.early-refusal-redacted", "metadata.document")
async def test_the_metadata_at_the_host_root_refuses_a_post_itself_and_logs_no_secret(
    demo: Demo, agent: httpx.AsyncClient
) -> None:
    """Served as a function route, Starlette answered a POST with its own 405 before our
    endpoint could blank the query, and uvicorn logged the secret sent in it."""
    path = "/.well-known/oauth-authorization-server/oauth"
    document = await agent.get(path)
    assert document.status_code == 200 and document.json()["issuer"] == f"{demo.url}/oauth"
    refused = await agent.post(f"{path}?client_secret=S3CRET-meta-0123&x=1")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD"
    assert refused.headers["cache-control"] == "no-store"
    assert refused.json()["error"] == "invalid_request"
    log = _stopped_log(demo)
    assert "S3CRET-meta" not in log
    assert f'"POST {path}?client_secret=redacted&x=redacted HTTP/1.1" 405' in log


def _readme_by_hand() -> tuple[str, str]:
    """The walkthrough's 4.1.1 as written: the authorization URL it echoes and the
    redirect_uri it posts (docs/walkthrough.md; tests/demo/test_walkthrough.py runs it)."""
    block = WALKTHROUGH.read_text().split("4.1.1", 1)[1].split("4.1.2", 1)[0]
    url = re.search(r'echo "(http://127\.0\.0\.1:8000/oauth/auth/\?[^"]+)"', block)
    redirect_uri = re.search(r"-d redirect_uri=(\S+)", block)
    assert url is not None and redirect_uri is not None
    return url.group(1), redirect_uri.group(1)


@pytest.mark.rule("rest.no-secret-in-logs")
async def test_the_readme_by_hand_code_flow_works_as_written_and_logs_no_code(
    demo: Demo, agent: httpx.AsyncClient
) -> None:
    written_url, written_redirect = _readme_by_hand()
    verifier = secrets.token_urlsafe(48)
    url = written_url.replace("$challenge", pkce_s256(verifier)).replace(
        "http://127.0.0.1:8000", demo.url)
    redirect_uri = written_redirect.replace("http://127.0.0.1:8000", demo.url)
    to_login = await agent.get(url)
    await login(agent, "alice", location(to_login)[1]["next"])
    action, page = await consent(agent, url)
    path, params = location(await decide(agent, action, page, "approve"))
    assert (path, params["state"]) == ("/client/code", "xyz")
    shown = await agent.get(f"{path}?{urlencode(params)}")
    assert shown.status_code == 200
    for name, value in HTML_HEADERS.items():
        assert shown.headers[name] == value
    code = re.search(r'<code id="code">([^<]+)</code>', shown.text)
    assert code is not None and code.group(1) == params["code"]
    token = await agent.post("/oauth/token/", auth=("demo-web", WEB_SECRET), data={
        "grant_type": "authorization_code", "code": code.group(1),
        "code_verifier": verifier, "redirect_uri": redirect_uri})
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "polls:results"
    me = await agent.get("/api/me", headers={
        "Authorization": f"Bearer {token.json()['access_token']}"})
    assert me.json()["user"] == "alice"
    log = _stopped_log(demo)
    assert params["code"] not in log
    iss = quote(f"{demo.url}/oauth", safe="")
    assert f'"GET /client/code?code=redacted&iss={iss}&state=xyz HTTP/1.1" 200' in log


@pytest.mark.rule("rest.no-secret-in-logs")
async def test_the_public_clients_page_shows_its_code_but_the_access_log_does_not(
    demo: Demo, agent: httpx.AsyncClient
) -> None:
    auth_url = "/oauth/auth/?" + urlencode({
        "response_type": "code", "client_id": "demo-spa", "scope": "polls:results",
        "state": "spa", "code_challenge": pkce_s256(secrets.token_urlsafe(48)),
        "code_challenge_method": "S256"})
    await login(agent, "bob", location(await agent.get(auth_url))[1]["next"])
    action, page = await consent(agent, auth_url)
    path, params = location(await decide(agent, action, page, "approve"))
    assert path == "/client/spa"
    shown = await agent.get(f"{path}?{urlencode(params)}")
    assert shown.status_code == 200 and params["code"] in read_page(shown.text).text
    log = _stopped_log(demo)
    assert params["code"] not in log
    iss = quote(f"{demo.url}/oauth", safe="")
    assert f'"GET /client/spa?code=redacted&iss={iss}&state=spa HTTP/1.1" 200' in log
