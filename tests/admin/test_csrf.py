"""Every state-changing request is a POST with a CSRF token bound to the admin (RFC 6749 §10.12)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from oauth_middleware.admin.app import ROUTES
from oauth_middleware.admin.csrf import CsrfTokens
from oauth_middleware.models import AccessToken
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import issue_token, register_client
from tests.admin.harness import ADMINS, KEY, Admin, assert_page_headers, stored_state
from tests.conftest import FakeClock
from tests.raw_asgi import call
from tests.store_helpers import redis_of

CB = "https://a.example/cb"
#: For every POST route of the admin, as ``ROUTES`` spells it, fields that would change
#: something; ``{grant_id}`` and ``{fingerprint}`` name the seeded token.
FORMS: dict[str, dict[str, str]] = {
    "/clients/new": {"title": "New", "client_id": "new", "token_lifetime": "60",
                     "grant_type": "authorization_code"},
    "/clients/{client_id:path}/edit": {"title": "Changed", "token_lifetime": "60",
                                  "grant_type": "authorization_code"},
    "/clients/{client_id:path}/delete": {"confirm": "1"},
    "/clients/{client_id:path}/secret": {},
    "/clients/{client_id:path}/redirect-uris/add": {"uri": "https://b.example/cb"},
    "/clients/{client_id:path}/redirect-uris/remove": {"uri": CB},
    "/clients/{client_id:path}/tokens/issue": {"user": "alice"},
    "/clients/{client_id:path}/codes/issue": {"user": "alice", "redirect_uri": CB},
    "/clients/{client_id:path}/tokens/revoke": {"grant_id": "{grant_id}",
                                           "fingerprint": "{fingerprint}"},
    "/clients/{client_id:path}/tokens/revoke-all": {"confirm": "1"},
    "/scopes/add": {"identifier": "new:scope"},
    "/scopes/status": {"scope": "polls:vote", "enabled": "0"},
    "/scopes/delete": {"scope": "polls:vote"},
    "/tokens/revoke": {"grant_id": "{grant_id}", "fingerprint": "{fingerprint}"},
    "/tokens/revoke-user": {"user": "alice", "confirm": "1"},
    "/consents/forget": {"user": "alice", "client_id": "web"},
}
#: Every state-changing route, read from the admin itself: a new one cannot go unchecked.
POSTS = [path for method, path, _ in ROUTES if method == "POST"]


def _form(path: str, token: AccessToken) -> tuple[str, dict[str, str]]:
    """The URL and fields of the form for ``path`` (a KeyError names a route left out)."""
    ids = {"grant_id": token.grant_id, "fingerprint": token.fingerprint}
    data = {name: value.format(**ids) for name, value in FORMS[path].items()}
    return "/admin" + path.replace("{client_id:path}", "web"), data


async def _seed(store: TokenStore) -> AccessToken:
    client = (await register_client(store, "Web", "web", CB, public=False,
                                    scopes_list=["polls:vote"])).client
    await store.remember_consent("alice", "web", client_generation=client.generation,
                                 approved=["polls:vote"], lifetime=60)
    return (await issue_token(store, "web", user="alice")).token


@pytest.fixture
async def seeded(store: TokenStore) -> AccessToken:
    return await _seed(store)


def test_every_post_route_of_the_admin_has_a_form_here() -> None:
    assert len(POSTS) == 16
    assert sorted(FORMS) == sorted(POSTS)


async def test_each_form_here_changes_something_when_its_token_is_valid(
    store: TokenStore, admin: Admin
) -> None:
    """Otherwise a refusal below would prove nothing."""
    for path in POSTS:
        await redis_of(store).flushdb()
        url, data = _form(path, await _seed(store))
        before = await stored_state(store)
        answer = await admin.post(url, data)
        assert answer.status_code in (200, 303), (path, answer.text)
        assert await stored_state(store) != before, path


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 600])
async def test_a_missing_or_forged_token_is_refused_with_403_and_nothing_changes(
    store: TokenStore, seeded: AccessToken, admin: Admin, token: str
) -> None:
    before = await stored_state(store)
    for path in POSTS:
        url, data = _form(path, seeded)
        refused = await admin.post(url, data, csrf=token)
        assert refused.status_code == 403, path
        assert_page_headers(refused)
        assert "Nothing was changed." in refused.text
    assert await stored_state(store) == before


async def test_a_token_signed_for_another_user_or_with_another_key_is_refused(
    store: TokenStore, seeded: AccessToken, host: Starlette
) -> None:
    ADMINS.add("carol")
    try:
        async with Admin(host, user="carol") as carol, Admin(host) as alice:
            carols = await carol.token()
            foreign = CsrfTokens(b"z" * 32).issue("alice")
            before = await stored_state(store)
            for token in (carols, foreign):
                refused = await alice.post("/admin/clients/web/delete", {"confirm": "1"},
                                           csrf=token)
                assert refused.status_code == 403
            assert await stored_state(store) == before
            assert (await carol.post("/admin/clients/web/delete", {"confirm": "1"},
                                     csrf=carols)).status_code == 303
    finally:
        ADMINS.discard("carol")
    assert await store.get_client("web") is None


async def test_a_token_expires_after_its_max_age(
    store: TokenStore, seeded: AccessToken, clock: FakeClock, admin: Admin
) -> None:
    token = await admin.token()
    clock.advance(8 * 3600 + 1)
    refused = await admin.post("/admin/clients/web/delete", {"confirm": "1"}, csrf=token)
    assert refused.status_code == 403
    assert await store.get_client("web") is not None
    fresh = await admin.post("/admin/clients/web/delete", {"confirm": "1"})
    assert fresh.status_code == 303


async def test_cross_site_posts_are_refused_even_with_a_valid_token(
    store: TokenStore, seeded: AccessToken, admin: Admin
) -> None:
    refused = await admin.post("/admin/clients/web/delete", {"confirm": "1"},
                               **{"sec-fetch-site": "cross-site"})
    assert refused.status_code == 403 and "another site" in refused.text
    assert await store.get_client("web") is not None


async def test_forms_must_be_urlencoded_bounded_and_readable(
    store: TokenStore, seeded: AccessToken, admin: Admin
) -> None:
    token = await admin.token()
    path = "/admin/scopes/add"
    answers = [
        await admin.http.post(path, json={"csrf_token": token, "identifier": "a:b"}),
        await admin.http.post(path, content=b"csrf_token=" + token.encode() + b"&x=" +
                              b"a" * 70_000,
                              headers={"content-type": "application/x-www-form-urlencoded"}),
        await admin.http.post(path, content=b"csrf_token=" + token.encode() + b"&identifier=\xff",
                              headers={"content-type": "application/x-www-form-urlencoded"}),
        await admin.http.post(path, content=b"csrf_token=" + token.encode() +
                              b"&identifier=a%00b",
                              headers={"content-type": "application/x-www-form-urlencoded"}),
        await admin.http.post(path, content=b"&".join([b"f=1"] * 300),
                              headers={"content-type": "application/x-www-form-urlencoded"}),
    ]
    assert [a.status_code for a in answers] == [400, 413, 400, 400, 400]
    for answer in answers:
        assert_page_headers(answer)
    assert [s.identifier for s in await store.list_scopes()] == ["polls:vote"]


@pytest.mark.parametrize("length", [b"\xb2", "\u0663".encode(), b"1e3", b"-1"])
async def test_a_malformed_content_length_is_a_400_page_not_a_500(
    store: TokenStore, seeded: AccessToken, admin: Admin, host: Starlette, length: bytes
) -> None:
    token = await admin.token()
    response = await call(host, "POST", "/admin/scopes/add", body=b"csrf_token=" +
                          token.encode() + b"&identifier=a%3Ab", headers=[
                              (b"content-type", b"application/x-www-form-urlencoded"),
                              (b"content-length", length), (b"x-test-user", b"alice"),
                              (b"sec-fetch-site", b"same-origin")])
    assert response.status == 400
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert [s.identifier for s in await store.list_scopes()] == ["polls:vote"]


def test_csrf_tokens_are_bound_to_the_user_and_signed(clock: FakeClock) -> None:
    tokens = CsrfTokens(KEY, max_age=60, clock=clock)
    token = tokens.issue("alice")
    assert tokens.verify(token, "alice")
    assert not tokens.verify(token, "bob")
    assert not tokens.verify(token[:-2] + "xx", "alice")
    assert not tokens.verify("", "alice")
    clock.advance(61)
    assert not tokens.verify(token, "alice")
