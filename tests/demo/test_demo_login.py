"""The demo's own login and logout (issue 9: a CSRF field and ``next``; "a server-side session
whose cookie holds only a signed id"; ``/logout``), over real HTTP against ``python -m demo``.
"""

from __future__ import annotations

import httpx
import pytest
from itsdangerous import URLSafeSerializer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from demo.client import COOKIE as CLIENT_COOKIE
from demo.client import MAX_SESSIONS as CLIENT_SESSIONS
from demo.client import DemoClient
from demo.sessions import MAX_SESSIONS as LOGIN_SESSIONS
from demo.sessions import SESSION_COOKIE, Sessions
from oauth_middleware.security import is_urlsafe
from tests.demo.harness import Demo, login
from tests.server.authorize_harness import read_page

#: An authorization request of demo-web (plus its callback as redirect_uri): consent for a
#: signed-in user, else the login page.
AUTH = {"client_id": "demo-web", "response_type": "code", "scope": "polls:results"}


async def _signed_in(agent: httpx.AsyncClient) -> bool:
    callback = f"{str(agent.base_url).rstrip('/')}/client/callback"
    response = await agent.get("/oauth/auth/", params={**AUTH, "redirect_uri": callback})
    if response.status_code == 303:
        assert response.headers["location"].startswith("/login?next=")
        return False
    assert response.status_code == 200, response.text
    return True


async def _login_form(agent: httpx.AsyncClient, next_url: str = "/") -> dict[str, str]:
    page = read_page((await agent.get("/login", params={"next": next_url})).text)
    return {"csrf": page.hidden("csrf"), "next": page.hidden("next")}


async def _logout_token(agent: httpx.AsyncClient) -> str:
    """The CSRF field of the sign-out form every page shows a signed-in user."""
    page = read_page((await agent.get("/")).text)
    assert [f["action"] for f in page.forms] == ["/logout"]
    return page.hidden("logout_token")


async def test_logout_clears_the_cookie_and_ends_the_session_on_the_server(
    demo: Demo, agent: httpx.AsyncClient
) -> None:
    assert (await login(agent, "alice", "/")).status_code == 303
    assert await _signed_in(agent)
    old_cookie = agent.cookies[SESSION_COOKIE]
    out = await agent.post("/logout", data={"logout_token": await _logout_token(agent)})
    assert out.status_code == 303 and out.headers["location"] == "/"
    cleared = out.headers["set-cookie"]
    assert cleared.startswith(f'{SESSION_COOKIE}="";') and "Max-Age=0" in cleared
    assert SESSION_COOKIE not in agent.cookies
    assert not await _signed_in(agent)
    async with httpx.AsyncClient(base_url=demo.url, cookies={SESSION_COOKIE: old_cookie},
                                 follow_redirects=False) as replay:
        assert not await _signed_in(replay)  # the id it names is gone from the server


async def test_logout_is_a_post_with_the_sessions_csrf_token_and_nothing_else_signs_out(
    demo: Demo, agent: httpx.AsyncClient
) -> None:
    await login(agent, "alice", "/")
    token = await _logout_token(agent)
    assert len(token) >= 20
    link = await agent.get("/logout")  # an <img src=/logout> on another site
    assert link.status_code == 405 and link.headers["allow"] == "POST"
    async with httpx.AsyncClient(base_url=demo.url, follow_redirects=False) as bob:
        await login(bob, "bob", "/")
        bobs = await _logout_token(bob)
    assert bobs != token  # bound to the session, not the same for everyone
    for fields in ({}, {"logout_token": ""}, {"logout_token": "forged"}, {"logout_token": bobs}):
        refused = await agent.post("/logout", data=fields)
        assert refused.status_code == 403
        assert "location" not in refused.headers
        assert SESSION_COOKIE not in refused.headers.get("set-cookie", "")
        assert "Not signed out" in read_page(refused.text).text
    assert await _signed_in(agent)
    out = await agent.post("/logout", data={"logout_token": token})
    assert out.status_code == 303 and not await _signed_in(agent)


async def test_a_wrong_password_is_401_and_a_bad_csrf_field_403_and_neither_signs_in(
    demo: Demo, agent: httpx.AsyncClient
) -> None:
    wrong = await agent.post("/login", data={**await _login_form(agent), "username": "alice",
                                             "password": "bob-password"})
    assert wrong.status_code == 401
    assert "Unknown user or wrong password." in read_page(wrong.text).text
    forged = await agent.post("/login", data={**await _login_form(agent), "csrf": "forged",
                                              "username": "alice", "password": "alice-password"})
    assert forged.status_code == 403
    assert "The form expired" in read_page(forged.text).text
    for refused in (wrong, forged):
        assert "location" not in refused.headers
        assert SESSION_COOKIE not in refused.headers.get("set-cookie", "")
    assert SESSION_COOKIE not in agent.cookies
    assert not await _signed_in(agent)


async def test_next_never_sends_the_user_off_site(demo: Demo, agent: httpx.AsyncClient) -> None:
    """``safe_next``: a login must not become an open redirect (RFC 6749 §10.15)."""
    for hostile in ("https://evil.example/", "//evil.example/", "/\\evil.example",
                    "http:/evil.example", "javascript:alert(1)"):
        assert (await _login_form(agent, hostile))["next"] == "/"
        signed = await agent.post("/login", data={
            **await _login_form(agent), "next": hostile,  # the hidden field, tampered with
            "username": "alice", "password": "alice-password"})
        assert signed.status_code == 303
        assert signed.headers["location"] == "/", hostile
    local = await login(agent, "alice", "/client/?from=login")
    assert local.headers["location"] == "/client/?from=login"


async def test_a_next_with_control_characters_or_spaces_signs_in_to_the_home_page(
    demo: Demo, agent: httpx.AsyncClient
) -> None:
    """CR, LF, NUL, VT and DEL cannot go into a Location header (the connection used to
    drop); browsers delete a tab, so ``/<TAB>/evil.example`` would leave the site."""
    for hostile in ("/a\r\nSet-Cookie: x=1", "/a\nb", "/a\rb", "/a\x00b", "/a\x0bb",
                    "/a\x7fb", "/\t/evil.example", "/\n/evil.example", "/a b", "/\u00e9",
                    "/\u20ac"):
        assert (await _login_form(agent, hostile))["next"] == "/", repr(hostile)
        signed = await agent.post("/login", data={
            **await _login_form(agent), "next": hostile,
            "username": "alice", "password": "alice-password"})
        assert signed.status_code == 303, repr(hostile)
        assert signed.headers["location"] == "/", repr(hostile)
        assert signed.headers["set-cookie"].startswith(f"{SESSION_COOKIE}=")
    assert await _signed_in(agent)


async def test_the_session_cookie_holds_only_a_signed_random_id(
    demo: Demo, agent: httpx.AsyncClient
) -> None:
    await login(agent, "alice", "/")
    cookie = agent.cookies[SESSION_COOKIE]
    payload, _, signature = cookie.rpartition(".")
    session_id = URLSafeSerializer(b"unused").load_payload(payload.encode())
    assert isinstance(session_id, str) and is_urlsafe(session_id) and len(session_id) >= 43
    assert "alice" not in cookie and "alice" not in session_id
    # the first character of the signature: six bits that all count (the last has padding)
    tampered = f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    forged = URLSafeSerializer(b"a key the demo never had", salt="demo-session").dumps("alice")
    for value in (tampered, forged):
        async with httpx.AsyncClient(base_url=demo.url, cookies={SESSION_COOKIE: value},
                                     follow_redirects=False) as other:
            assert not await _signed_in(other)
    assert await _signed_in(agent)


@pytest.mark.rule("abuse.bounded.demo-sessions")
async def test_visits_without_a_cookie_cannot_grow_the_client_apps_sessions_without_bound(
) -> None:
    """Every request to /client/ without the client app's cookie stored a new session."""
    client = DemoClient(base_url="http://testserver", secret="", signing_key=b"k" * 32)
    app = Starlette(routes=client.routes)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as http:
        for _ in range(CLIENT_SESSIONS + 50):
            http.cookies.clear()
            visit = await http.get("/client/")
            assert visit.status_code == 200
        kept = http.cookies.get(CLIENT_COOKIE)
        assert kept is not None
        again = await http.get("/client/")
    assert again.status_code == 200 and CLIENT_COOKIE in again.headers["set-cookie"]
    assert len(client._sessions) == CLIENT_SESSIONS
    assert URLSafeSerializer(b"k" * 32, salt="demo-client").loads(kept) in client._sessions


@pytest.mark.rule("abuse.bounded.demo-sessions")
def test_a_loop_of_logins_keeps_a_bounded_number_of_sessions() -> None:
    """Each login stored a session that only a logout removed."""
    sessions = Sessions(b"k" * 32)
    for _ in range(LOGIN_SESSIONS + 50):
        sessions.login(Response(), "alice")
    response = Response()
    sessions.login(response, "bob")
    cookie = response.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]
    request = Request({"type": "http", "headers": [(b"cookie", f"{SESSION_COOKIE}={cookie}"
                                                    .encode())]})
    assert len(sessions._sessions) == LOGIN_SESSIONS
    assert sessions.user(request) == "bob"
