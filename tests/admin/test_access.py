"""Who may use the admin: anonymous -> login, non-admin -> 403, admin -> 200; config checks."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import Message

from oauth_middleware.admin import AdminApp
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import register_client
from tests.admin.harness import KEY, USER_HEADER, Admin, assert_page_headers, build_host
from tests.raw_asgi import call

PAGES = ["/admin/clients/", "/admin/clients/new", "/admin/clients/web/",
         "/admin/clients/web/edit", "/admin/scopes/", "/admin/tokens/"]
CB = "https://a.example/cb"


async def test_anonymous_visitors_are_sent_to_the_login_page_with_next(
    store: TokenStore, host: Starlette
) -> None:
    async with Admin(host, user=None) as anonymous:
        page = await anonymous.get("/admin/clients/", q="a b", cursor="0")
        assert page.status_code == 303
        assert page.headers["location"] == (
            "/login?next=%2Fadmin%2Fclients%2F%3Fq%3Da%2Bb%26cursor%3D0")
        assert page.headers["cache-control"] == "no-store"
        posted = await anonymous.post("/admin/scopes/add", {"identifier": "x:y"}, csrf="")
        assert posted.status_code == 303
        assert posted.headers["location"] == "/login?next=%2Fadmin%2F"
    assert await store.list_scopes() == []


async def test_a_login_url_with_a_query_keeps_it(store: TokenStore) -> None:
    app = build_host(store, login_url="https://sso.example/login?app=polls")
    async with Admin(app, user=None) as anonymous:
        page = await anonymous.get("/admin/")
    assert page.headers["location"] == "https://sso.example/login?app=polls&next=%2Fadmin%2F"


async def test_signed_in_users_who_are_not_admins_get_403_on_every_page_and_form(
    store: TokenStore, host: Starlette
) -> None:
    await register_client(store, "Web", "web", CB)
    async with Admin(host, user="bob") as bob:
        for path in PAGES:
            page = await bob.get(path)
            assert page.status_code == 403, path
            assert_page_headers(page)
            assert "may not use this admin" in page.text
            assert 'href="/admin/scopes/"' not in page.text
        posted = await bob.post("/admin/clients/web/delete", {"confirm": "1"}, csrf="x")
        assert posted.status_code == 403
    assert await store.get_client("web") is not None


async def test_admins_get_every_page_with_the_page_headers(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Web", "web", CB)
    for path in PAGES:
        page = await admin.get(path)
        assert page.status_code == 200, path
        assert_page_headers(page)
        assert "Signed in as <strong>alice</strong>" in page.text
    home = await admin.get("/admin/")
    assert (home.status_code, home.headers["location"]) == (303, "/admin/clients/")
    head = await admin.http.head("/admin/scopes/")
    assert head.status_code == 200 and head.content == b""


async def test_async_hooks_decide_who_is_signed_in_and_who_is_admin(store: TokenStore) -> None:
    async def authenticate(request: Request) -> str | None:
        await asyncio.sleep(0)
        return request.headers.get("x-who")

    async def is_admin(request: Request) -> bool:
        await asyncio.sleep(0)
        return request.headers.get("x-who") == "carol"

    app = AdminApp(store=store, is_admin=is_admin, authenticate=authenticate, secret_key=KEY)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://admin.example") as client:
        assert (await client.get("/scopes/", headers={"x-who": "carol"})).status_code == 200
        assert (await client.get("/scopes/", headers={"x-who": "dave"})).status_code == 403
        anonymous = await client.get("/scopes/")
        assert (anonymous.status_code, anonymous.headers["location"]) == (
            303, "/login?next=%2Fscopes%2F")


async def test_an_is_admin_hook_answering_anything_but_true_means_no(store: TokenStore) -> None:
    app = build_host(store, is_admin=lambda request: "yes")
    async with Admin(app) as alice:
        assert (await alice.get("/admin/clients/")).status_code == 403


async def test_plain_http_is_refused_outside_debug_and_allowed_in_debug(store: TokenStore) -> None:
    async with Admin(build_host(store), base_url="http://testserver") as alice:
        page = await alice.get("/admin/clients/")
        assert page.status_code == 400 and "HTTPS is required." in page.text
        assert_page_headers(page)
    async with Admin(build_host(store, debug=True), base_url="http://testserver") as alice:
        assert (await alice.get("/admin/clients/")).status_code == 200


async def test_unknown_pages_are_404_and_wrong_methods_405_as_admin_pages(admin: Admin) -> None:
    missing = await admin.get("/admin/nothing/here")
    assert missing.status_code == 404
    assert_page_headers(missing)
    unknown_client = await admin.get("/admin/clients/nope/")
    assert unknown_client.status_code == 404 and "does not exist" in unknown_client.text
    wrong = await admin.http.delete("/admin/clients/")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, HEAD"
    assert_page_headers(wrong)
    get_a_form = await admin.get("/admin/scopes/add")
    assert (get_a_form.status_code, get_a_form.headers["allow"]) == (405, "POST")


def test_bad_configuration_is_refused_at_construction(store: TokenStore) -> None:
    def allow(request: Request) -> bool:
        return True

    with pytest.raises(ValueError, match="secret_key is required"):
        AdminApp(store=store, is_admin=allow)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        AdminApp(store=store, is_admin=allow, secret_key="short")
    with pytest.raises(ValueError, match="login_url"):
        AdminApp(store=store, is_admin=allow, secret_key=KEY, login_url="//evil.example/")
    with pytest.raises(ValueError, match="page_size"):
        AdminApp(store=store, is_admin=allow, secret_key=KEY, page_size=0)
    with pytest.raises(ValueError, match=r"is_admin=True \(bool\) is wrong: pass a function"):
        AdminApp(store=store, is_admin=True, secret_key=KEY)  # type: ignore[arg-type]
    AdminApp(store=store, is_admin=allow, debug=True)  # debug makes up a key


async def test_websockets_are_closed_and_lifespan_completes(store: TokenStore) -> None:
    app = AdminApp(store=store, is_admin=lambda request: True, secret_key=KEY)
    sent: list[Message] = []
    inbox: list[Message] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> Message:
        return inbox.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    await app({"type": "websocket", "path": "/", "headers": []}, receive, send)
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"},
                    {"type": "websocket.close", "code": 1008}]


@pytest.mark.parametrize("user", [b"alice", None])
async def test_a_query_that_is_not_utf8_is_a_400_page_not_a_500(
    host: Starlette, user: bytes | None
) -> None:
    """Starlette's request.url decodes the query strictly; the admin refuses it first."""
    headers = [(b"x-test-user", user)] if user else []
    for path in ("/admin/", "/admin/clients/", "/admin/tokens/"):
        response = await call(host, "GET", path, query=b"q=\x80", headers=headers)
        assert response.status == 400
        assert response.header("content-type") == "text/html; charset=utf-8"
        assert b"not UTF-8" in response.body


@pytest.mark.rule("abuse.malformed-400")
async def test_an_admin_post_whose_client_goes_away_is_refused_not_raised(
    store: TokenStore,
) -> None:
    """The admin let Starlette's ClientDisconnect escape: uvicorn logged an ASGI exception
    with its traceback for every browser that went away mid-form."""
    response = await call(build_host(store), "POST", "/admin/scopes/add", chunks=[b"a=b"],
                          disconnect=True, headers=[
                              (USER_HEADER.encode(), b"alice"),
                              (b"content-type", b"application/x-www-form-urlencoded")])
    assert response.status == 400
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert await store.list_scopes() == []


@pytest.mark.parametrize(("asked", "location"), [
    ("/admin/clients", "/admin/clients/"),
    ("/admin/clients?search=we%20b&cursor=0", "/admin/clients/?search=we%20b&cursor=0"),
    ("/admin/scopes", "/admin/scopes/"),
    ("/admin/tokens", "/admin/tokens/"),
    ("/admin/clients/web", "/admin/clients/web/"),
    ("/admin/clients/caf%C3%A9%09%22x", "/admin/clients/caf%C3%A9%09%22x/"),
])
async def test_a_page_asked_without_its_trailing_slash_redirects_to_it(
    store: TokenStore, host: Starlette, asked: str, location: str,
) -> None:
    await register_client(store, "Web", "web", CB)
    async with Admin(host) as admin:
        moved = await admin.get(asked)
        assert moved.status_code == 303
        assert moved.headers["location"] == location
        assert moved.headers["cache-control"] == "no-store"
        followed = await admin.get(location)
    assert followed.status_code == (404 if "caf" in location else 200)  # no client "café\t"x"


async def test_a_page_without_its_slash_is_still_refused_to_anonymous_and_non_admins(
    store: TokenStore, host: Starlette,
) -> None:
    async with Admin(host, user=None) as anonymous:
        page = await anonymous.get("/admin/clients")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fadmin%2Fclients"
    async with Admin(host, user="bob") as bob:
        refused = await bob.get("/admin/clients")
    assert refused.status_code == 403
    assert_page_headers(refused)


async def test_only_get_pages_redirect_and_unknown_paths_stay_404(
    store: TokenStore, host: Starlette,
) -> None:
    async with Admin(host) as admin:
        unknown = await admin.get("/admin/nothing")
        posted = await admin.post("/admin/clients", {})
    assert unknown.status_code == 404 and "location" not in unknown.headers
    assert_page_headers(unknown)
    assert posted.status_code == 404 and "location" not in posted.headers
