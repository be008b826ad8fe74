"""/client/'s OpenID Connect relying party over HTTP against the real demo process: what it
refuses (another browser's answer, another issuer's, a denial, a forged sign-out return),
and what never reaches the access log (the code, the ID token sent as a logout hint)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.demo.harness import Demo, consent, decide, location, login
from tests.server.authorize_harness import read_page


async def _to_consent(agent: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    """Start "Sign in with OpenID Connect" as alice: (the consent page URL, what was asked)."""
    start = await agent.get("/client/oidc/login")
    path, asked = location(start)
    assert path == "/oauth/auth/" and asked["scope"] == "openid profile email phone"
    assert asked["nonce"] and asked["code_challenge_method"] == "S256"
    to_login = await agent.get(start.headers["location"])
    await login(agent, "alice", location(to_login)[1]["next"])
    return start.headers["location"], asked


async def _error(agent: httpx.AsyncClient) -> str:
    page = await agent.get("/client/")
    assert page.status_code == 200
    return read_page(page.text).text


@pytest.mark.rule("rest.no-secret-in-logs")
async def test_sign_in_and_out_keep_the_code_and_the_id_token_out_of_the_access_log(
    demo: Demo, agent: httpx.AsyncClient,
) -> None:
    auth_url, asked = await _to_consent(agent)
    action, page = await consent(agent, auth_url)
    approved = await decide(agent, action, page, "approve")
    path, params = location(approved)
    assert path == "/client/oidc/callback"
    assert location(await agent.get(approved.headers["location"])) == ("/client/", {})
    shown = (await agent.get("/client/")).text
    assert '"sub": "alice"' in shown and "Alice Liddell" in shown
    for forged in ("/client/oidc/callback", "/client/oidc/signed-out"):  # links from anywhere
        assert location(await agent.get(forged, params={"state": "guessed", "code": "x"})) == (
            "/client/", {})
        assert "Alice Liddell" in await _error(agent)  # the sign-in shown stays
    leaving = await agent.post("/client/oidc/logout")
    path, hint = location(leaving)
    assert path == "/oauth/end_session/" and hint["id_token_hint"].count(".") == 2
    assert hint["id_token_hint"] not in shown  # the page shows claims, never the token
    back = await agent.get(leaving.headers["location"])
    assert location(back) == ("/client/oidc/signed-out", {"state": hint["state"]})
    await agent.get(back.headers["location"])
    assert "Signed out everywhere" in await _error(agent)
    demo.process.stop()
    log = demo.process.output()
    assert params["code"] not in log and hint["id_token_hint"] not in log
    iss = quote(f"{demo.url}/oauth", safe="")
    assert (f'"GET /client/oidc/callback?code=redacted&iss={iss}&state={asked["state"]} '
            'HTTP/1.1" 303') in log
    assert '"GET /oauth/end_session/?id_token_hint=redacted&' in log


async def test_an_answer_for_another_browser_or_from_another_issuer_signs_nobody_in(
    demo: Demo, agent: httpx.AsyncClient,
) -> None:
    _, asked = await _to_consent(agent)
    forged = await agent.get("/client/oidc/callback", params={
        "code": "x", "state": asked["state"], "iss": "https://evil.example/oauth"})
    assert location(forged) == ("/client/", {})
    assert "The answer did not come from the demo's provider (iss)." in await _error(agent)
    replayed = await agent.get("/client/oidc/callback", params={
        "code": "x", "state": asked["state"], "iss": f"{demo.url}/oauth"})
    assert location(replayed) == ("/client/", {})  # the pending sign-in was used up
    assert "The state did not match" in await _error(agent)
    assert "id-token-claims" not in (await agent.get("/client/")).text


async def test_a_denial_is_shown_and_a_forged_sign_out_return_is_refused(
    demo: Demo, agent: httpx.AsyncClient,
) -> None:
    auth_url, _ = await _to_consent(agent)
    action, page = await consent(agent, auth_url)
    denied = await decide(agent, action, page, "deny")
    assert location(denied)[1]["error"] == "access_denied"
    await agent.get(denied.headers["location"])
    assert "The provider answered access_denied." in await _error(agent)
    nothing = await agent.post("/client/oidc/logout")  # nobody signed in: nowhere to go
    assert location(nothing) == ("/client/", {})
    forged = await agent.get("/client/oidc/signed-out", params={"state": "guessed"})
    assert location(forged) == ("/client/", {})
    assert "A sign-out answer that was not for this browser." in await _error(agent)
