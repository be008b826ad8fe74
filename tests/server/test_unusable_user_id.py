"""A host's sign-in hook that answers a user id with a control character signs nobody in.

The id would reach the grant, the audit trail, the admin, the connected-apps page and
terminals (the toolbox and the CLI refuse it, tests/toolbox/test_typed_text.py). It is
the host's bug: the person sees an error page (a JSON error at the token endpoint), never
a 500 and never a grant; the operator reads a warning that names the hook and what is
wrong, and neither shows the id itself."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount

from oauth_middleware import TokenStore, register_client
from oauth_middleware.account import ConnectedAppsApp
from oauth_middleware.server.grants.device_code import DEVICE_CODE
from oauth_middleware.web import Authenticate, Authentication
from tests.account.harness import PAGE, post, world
from tests.admin.harness import KEY, Admin, stored_state
from tests.admin.harness import build_host as build_admin
from tests.audit.harness import WEB
from tests.server.authorize_harness import USER_HEADER, Harness, assert_page, open_harness
from tests.server.test_device import BROWSER, DEVICE_PATH, open_page, start, state
from tests.server.token_harness import (
    TOKEN_PATH,
    assert_error,
    auth_of,
    build_app,
    confidential,
    http,
)

#: Control characters a hook could let through: a terminal escape, a line feed that would
#: forge a log line, a bidi override.
CONTROLS = ["\x1b]0;pwned\x07", "\n", "\u202e"]
#: The signed-in user the hook mangles.
DIRTY = "dirty"


def hook(control: str, *, rich: bool = False) -> Authenticate:
    """``authenticate``: the test header's user, with ``control`` inside for ``DIRTY``
    (``rich``: answered as an :class:`Authentication`)."""

    async def authenticate(request: Request) -> str | Authentication | None:
        user = request.headers.get(USER_HEADER)
        if user == DIRTY:
            user = f"ali{control}ce"
        if user and rich:
            return Authentication(user, auth_time=1.0)
        return user

    return authenticate


def refused_quietly(response_text: str, caplog: pytest.LogCaptureFixture, control: str,
                    hook_name: str, refusals: int = 1) -> None:
    """Each refusal names the hook in a warning, and none shows the id."""
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                and hook_name in r.getMessage()]
    assert len(warnings) == refusals, [r.getMessage() for r in caplog.records]
    assert all("control characters" in w.getMessage() for w in warnings)
    for text in (response_text, *[r.getMessage() for r in caplog.records]):
        assert f"ali{control}ce" not in text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def no_grant(store: TokenStore) -> None:
    assert await store.list_tokens() == (0, [])


@pytest.mark.rule("rest.typed-text.controls")
@pytest.mark.parametrize("rich", [False, True], ids=["user-id", "authentication"])
@pytest.mark.parametrize("control", CONTROLS)
async def test_auth_refuses_a_user_id_with_a_control_character_with_a_page(
        store: TokenStore, control: str, rich: bool,
        caplog: pytest.LogCaptureFixture) -> None:
    async with open_harness(store, authenticate=hook(control, rich=rich)) as h:
        response = await h.authorize(DIRTY, **WEB)
        page_text = response.text
        assert_page(response, 403)
        assert "account id with a character that is not allowed" in page_text
        assert await h.code_keys() == []
        assert (await h.authorize("bob", **WEB)).status_code == 200  # a clean id still works
    refused_quietly(page_text, caplog, control, "authenticate")


@pytest.mark.rule("rest.typed-text.controls")
async def test_a_consent_posted_by_a_user_id_with_a_control_character_issues_no_code(
        store: TokenStore, caplog: pytest.LogCaptureFixture) -> None:
    async with open_harness(store, authenticate=hook("\n")) as h:
        page = await h.consent("alice", **WEB)
        response = await h.decide(page, user=DIRTY)
        assert_page(response, 403)
        assert await h.code_keys() == []
    refused_quietly(response.text, caplog, "\n", "authenticate")


async def _device(h: Harness, store: TokenStore) -> tuple[str, str]:
    await register_client(store, "TV", "tv", public=True, grant_types=[DEVICE_CODE],
                          scopes_list=["polls:read"], register_unknown_scopes=False)
    started = await start(h, scope="polls:read")
    return started["device_code"], started["user_code"]


@pytest.mark.rule("rest.typed-text.controls")
async def test_the_device_page_refuses_a_user_id_with_a_control_character(
        store: TokenStore, caplog: pytest.LogCaptureFixture) -> None:
    async with open_harness(store, authenticate=hook("\x1b[2J")) as h:
        device_code, user_code = await _device(h, store)
        opened = await h.http.get(DEVICE_PATH, params={"user_code": user_code},
                                  headers={USER_HEADER: DIRTY})
        assert_page(opened, 403)
        page = await open_page(h, user_code, "alice")  # the page of a clean id, posted dirty
        fields: dict[str, str | list[str]] = {
            i["name"]: i["value"] for i in page.inputs if i.get("type") == "hidden"}
        fields.update({"scope": ["polls:read"], "decision": "approve"})
        posted = await h.http.post(page.forms[0]["action"], data=fields,
                                   headers={**BROWSER, USER_HEADER: DIRTY})
        assert_page(posted, 403)
        assert "user" not in await state(h, device_code)
    refused_quietly(opened.text + posted.text, caplog, "\x1b[2J", "authenticate", 2)
    await no_grant(store)


@pytest.mark.rule("rest.typed-text.controls")
@pytest.mark.parametrize("control", CONTROLS)
async def test_the_password_grant_refuses_a_user_id_with_a_control_character(
        store: TokenStore, control: str, caplog: pytest.LogCaptureFixture) -> None:
    def verify_password(username: str, password: str) -> str | None:
        return f"ali{control}ce" if password == "right" else None

    client = await confidential(store, "pw", grant_types=["password"])
    async with http(build_app(store, verify_password=verify_password)) as c:
        response = await c.post(TOKEN_PATH, headers=auth_of(client), data={
            "grant_type": "password", "username": "alice", "password": "right"})
    assert_error(response, 400, "invalid_grant")
    assert "account id with a character that is not allowed" in response.text
    refused_quietly(response.text, caplog, control, "verify_password")
    await no_grant(store)


@pytest.mark.rule("rest.typed-text.controls")
@pytest.mark.parametrize("control", CONTROLS)
async def test_the_admin_signs_in_nobody_with_a_user_id_with_a_control_character(
        store: TokenStore, control: str, caplog: pytest.LogCaptureFixture) -> None:
    """The admin's own sign-in: the page and a form post are refused (403) before the
    ``is_admin`` hook is asked, and nothing changes; a clean id still gets in."""
    app = build_admin(store, authenticate=hook(control),
                      is_admin=lambda request: True)  # a yes for anyone: the id decides
    before = await stored_state(store)
    async with Admin(app, user=DIRTY) as dirty, Admin(app, user="bob") as clean:
        page = await dirty.get("/admin/scopes/")
        posted = await dirty.http.post("/admin/clients/new", data={"client_id": "x"})
        assert (await clean.get("/admin/scopes/")).status_code == 200
    for response in (page, posted):
        assert response.status_code == 403
        assert "account id with a character that is not allowed" in response.text
    assert await stored_state(store) == before
    refused_quietly(page.text + posted.text, caplog, control, "authenticate", 2)


@pytest.mark.rule("rest.typed-text.controls")
@pytest.mark.parametrize("control", CONTROLS)
async def test_the_connected_apps_page_signs_in_nobody_with_a_user_id_with_a_control_character(
        store: TokenStore, control: str, caplog: pytest.LogCaptureFixture) -> None:
    """The connected-apps page's own sign-in: listing and revoking are refused (403), and
    the grants stay; a clean id still sees its page."""
    issued = await world(store)
    page = ConnectedAppsApp(store=store, secret_key=KEY, login_url="/login",
                            authenticate=hook(control))
    app = Starlette(routes=[Mount("/account/apps", page)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as http_client:
        listed = await http_client.get(PAGE, headers={USER_HEADER: DIRTY})
        revoked = await post(http_client, "disconnect", {"client_id": "web"}, user=DIRTY)
        assert (await http_client.get(PAGE, headers={USER_HEADER: "alice"})).status_code == 200
    for response in (listed, revoked):
        assert response.status_code == 403
        assert "account id with a character that is not allowed" in response.text
    assert [await store.resolve(i.access_token) is not None for i in issued.values()] == [
        True] * len(issued)
    refused_quietly(listed.text + revoked.text, caplog, control, "authenticate", 2)
