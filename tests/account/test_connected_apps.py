"""The connected-apps page in process, on every store backend: listing, revoking, refusals.

The host (tests/account/harness.py) signs people in with a test header, and installs
``OAuthMiddleware`` inside or outside that login, so a bearer token reaches the page
both ways and must be refused both ways.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from oauth_middleware import OAuth, TokenStore
from tests.account.harness import (
    NOTHING,
    ORDERS,
    PAGE,
    csrf_of,
    host,
    page_of,
    post,
    world,
)
from tests.admin.harness import KEY, USER_HEADER, assert_page_headers, stored_state
from tests.conftest import FakeClock


@pytest.fixture(params=ORDERS)
async def http(store: TokenStore, request: pytest.FixtureRequest
               ) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=host(store, request.param))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client



async def test_a_person_sees_their_apps_grants_and_remembered_consent_without_tokens(
    http: httpx.AsyncClient, store: TokenStore,
) -> None:
    issued = await world(store)
    page = await page_of(http)
    text = page.text
    assert "Web &lt;b&gt;Polls&lt;/b&gt;" in text and "<b>Polls" not in text
    assert "Other app" in text and "Machine" not in text
    assert text.count('class="grant"') == 3
    assert text.count('name="grant_id"') == 3 and text.count('name="client_id"') == 2
    for name in ("web1", "web2", "other"):
        assert issued[name].token.fingerprint in text
        assert issued[name].token.grant_id in text
    for token in issued.values():
        assert token.access_token not in text
        assert token.refresh_token is None or token.refresh_token not in text
    assert issued["bob"].token.grant_id not in text
    assert issued["machine"].token.grant_id not in text
    assert "Remembered consent" in text and text.count("Remembered consent") == 1
    assert "Read your polls" in text
    assert (await page_of(http, "carol")).text.count('class="grant"') == 0


@pytest.mark.rule("account.own-grants-only")
async def test_revoking_one_grant_ends_its_tokens_and_nothing_else(
    http: httpx.AsyncClient, store: TokenStore,
) -> None:
    issued = await world(store)
    token = csrf_of(await page_of(http))
    answer = await post(http, "revoke", {"csrf_token": token,
                                          "grant_id": issued["web1"].token.grant_id})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/account/apps/?done=revoked"
    assert answer.headers["cache-control"] == "no-store"
    assert await store.resolve(issued["web1"].access_token) is None
    assert await store.lookup(str(issued["web1"].refresh_token)) is None
    for name in ("web2", "other", "bob", "machine"):
        assert await store.resolve(issued[name].access_token) is not None
    assert await store.remembered_consent("alice", "web") == {"read"}
    after = await http.get(answer.headers["location"], headers={USER_HEADER: "alice"})
    assert "Revoked: that app" in after.text and after.text.count('class="grant"') == 2


@pytest.mark.rule("account.own-grants-only")
async def test_disconnecting_a_client_revokes_all_of_it_for_this_person_only(
    http: httpx.AsyncClient, store: TokenStore,
) -> None:
    issued = await world(store)
    token = csrf_of(await page_of(http))
    answer = await post(http, "disconnect", {"csrf_token": token, "client_id": "web"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/account/apps/?done=disconnected"
    for name in ("web1", "web2"):
        assert await store.resolve(issued[name].access_token) is None
        assert await store.lookup(str(issued[name].refresh_token)) is None
    assert await store.remembered_consent("alice", "web") == frozenset()
    for name in ("other", "bob", "machine"):
        assert await store.resolve(issued[name].access_token) is not None
    after = await http.get(answer.headers["location"], headers={USER_HEADER: "alice"})
    assert "Disconnected" in after.text and 'value="web"' not in after.text


@pytest.mark.rule("account.own-grants-only")
@pytest.mark.parametrize(("action", "field", "value"), [
    ("revoke", "grant_id", "bob"), ("revoke", "grant_id", "machine"),
    ("revoke", "grant_id", "{web}x"), ("revoke", "grant_id", ""),
    ("revoke", "grant_id", "x" * 5000),
    ("disconnect", "client_id", "alice"), ("disconnect", "client_id", "nobody"),
    ("disconnect", "client_id", ""),
])
async def test_a_form_naming_what_is_not_yours_changes_nothing_and_says_so(
    http: httpx.AsyncClient, store: TokenStore, action: str, field: str, value: str,
) -> None:
    issued = await world(store)
    if value in issued:
        value = issued[value].token.grant_id
    token = csrf_of(await page_of(http))
    before = await stored_state(store)
    answer = await post(http, action, {"csrf_token": token, field: value})
    assert answer.status_code == 404
    assert_page_headers(answer)
    assert NOTHING in answer.text and "location" not in answer.headers
    assert await stored_state(store) == before


@pytest.mark.rule("account.own-grants-only")
async def test_bob_naming_alices_grant_or_their_shared_client_touches_only_his_own(
    http: httpx.AsyncClient, store: TokenStore,
) -> None:
    issued = await world(store)
    token = csrf_of(await page_of(http, "bob"))
    answer = await post(http, "revoke", {"csrf_token": token,
                                          "grant_id": issued["web1"].token.grant_id}, "bob")
    assert answer.status_code == 404 and NOTHING in answer.text
    answer = await post(http, "disconnect", {"csrf_token": token, "client_id": "web"}, "bob")
    assert answer.status_code == 303
    assert await store.resolve(issued["bob"].access_token) is None
    for name in ("web1", "web2"):
        assert await store.resolve(issued[name].access_token) is not None
    assert await store.remembered_consent("alice", "web") == {"read"}


@pytest.mark.rule("account.csrf")
@pytest.mark.parametrize("case", ["missing", "garbage", "bobs", "cross-site", "expired"])
async def test_a_post_without_this_persons_fresh_same_site_csrf_token_is_refused(
    http: httpx.AsyncClient, store: TokenStore, clock: FakeClock, case: str,
) -> None:
    issued = await world(store)
    fields = {"csrf_token": csrf_of(await page_of(http)),
              "grant_id": issued["web1"].token.grant_id}
    headers: dict[str, str] = {}
    if case == "missing":
        del fields["csrf_token"]
    elif case == "garbage":
        fields["csrf_token"] = "x" * 40
    elif case == "bobs":
        fields["csrf_token"] = csrf_of(await page_of(http, "bob"))
    elif case == "cross-site":
        headers["sec-fetch-site"] = "cross-site"
    else:
        clock.advance(8 * 3600 + 1)
    before = await stored_state(store)
    answer = await post(http, "revoke", fields, **headers)
    assert answer.status_code == 403, answer.text
    assert_page_headers(answer)
    assert "Nothing was changed" in answer.text
    assert await stored_state(store) == before


@pytest.mark.rule("account.login-only", "auth.login.token-identity-refused")
@pytest.mark.parametrize("kind", ["web1", "machine"])
@pytest.mark.parametrize("carrier", ["header", "lowercase-header", "query", "form-body"])
@pytest.mark.parametrize("session", [None, "alice"])
async def test_an_access_token_never_opens_or_changes_thepage_of(
    http: httpx.AsyncClient, store: TokenStore, kind: str, carrier: str, session: str | None,
) -> None:
    issued = await world(store)
    token = issued[kind].access_token
    fields = {"csrf_token": csrf_of(await page_of(http)),
              "grant_id": issued["web2"].token.grant_id}
    headers = {USER_HEADER: session} if session else {}
    url = PAGE + "revoke"
    if carrier.endswith("header"):
        headers["Authorization"] = f"{'bearer' if carrier[0] == 'l' else 'Bearer'} {token}"
    elif carrier == "query":
        url += f"?access_token={token}"
    else:
        fields["access_token"] = token
    before = await stored_state(store)
    answers = [await http.post(url, data=fields, headers=headers)]
    if carrier != "form-body":
        answers.append(await http.get(url.replace("revoke", ""), headers=headers))
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert_page_headers(answer)
        assert "An access token cannot sign in here" in answer.text
        assert 'name="csrf_token"' not in answer.text and token not in answer.text
    assert await stored_state(store) == before


@pytest.mark.rule("account.login-only")
async def test_anonymous_visitors_go_to_the_login_page_and_change_nothing(
    http: httpx.AsyncClient, store: TokenStore,
) -> None:
    issued = await world(store)
    page = await http.get(PAGE)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Faccount%2Fapps%2F"
    fields = {"csrf_token": csrf_of(await page_of(http)),
              "grant_id": issued["web1"].token.grant_id}
    before = await stored_state(store)
    answer = await http.post(PAGE + "revoke", data=fields)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?")
    assert await stored_state(store) == before


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/json", b'{"grant_id": "x"}'),
    ("application/x-www-form-urlencoded", b"grant_id=a&grant_id=b&csrf_token=x"),
    ("application/x-www-form-urlencoded", b"grant_id=%FF%FE&csrf_token=x"),
    ("application/x-www-form-urlencoded", "grant_id=é".encode()),
    ("application/x-www-form-urlencoded", b"grant_id=a%00b&csrf_token=x"),
    ("application/x-www-form-urlencoded", b"a=" + b"x" * 20_000),
])
async def test_malformed_forms_are_refused_with_a_page_never_a_500(
    http: httpx.AsyncClient, store: TokenStore, content_type: str, body: bytes,
) -> None:
    await world(store)
    before = await stored_state(store)
    answer = await http.post(PAGE + "revoke", content=body,
                             headers={USER_HEADER: "alice", "content-type": content_type})
    assert answer.status_code in (400, 413), answer.text
    assert_page_headers(answer)
    assert "Nothing was changed" in answer.text
    assert await stored_state(store) == before


async def test_unknown_pages_and_methods_are_refused(http: httpx.AsyncClient) -> None:
    assert (await http.get(PAGE + "nothing", headers={USER_HEADER: "alice"})).status_code == 404
    assert (await http.get(PAGE + "revoke", headers={USER_HEADER: "alice"})).status_code == 405
    assert (await http.delete(PAGE, headers={USER_HEADER: "alice"})).status_code == 405


async def test_the_oauth_config_hands_out_the_page_sharing_its_login_and_key(
    store: TokenStore,
) -> None:
    oauth = OAuth(store=store, secret_key=KEY, login_url="/signin")
    page = oauth.connected_apps()
    assert page.login_url == "/signin" and page.authenticate is oauth.authenticate
    with pytest.raises(TypeError, match="set it once on OAuth"):
        oauth.connected_apps(login_url="/elsewhere")
    app = Starlette(routes=[Mount("/account/apps", page)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as http:
        answer = await http.get(PAGE)
    assert answer.headers["location"] == "/signin?next=%2Faccount%2Fapps%2F"

