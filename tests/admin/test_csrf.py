"""Every state-changing request is a POST with a CSRF token bound to the admin (RFC 6749 §10.12)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from oauth_middleware.admin.csrf import CsrfTokens
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import register_client
from tests.admin.harness import ADMINS, KEY, Admin, assert_page_headers, stored_state
from tests.conftest import FakeClock

CB = "https://a.example/cb"
#: Every form the admin has, with fields that would change something.
FORMS = [
    ("/admin/clients/new", {"title": "New", "client_id": "new", "token_lifetime": "60",
                            "grant_type": "authorization_code"}),
    ("/admin/clients/web/edit", {"title": "Changed", "token_lifetime": "60",
                                 "grant_type": "authorization_code"}),
    ("/admin/clients/web/delete", {"confirm": "1"}),
    ("/admin/clients/web/secret", {}),
    ("/admin/clients/web/redirect-uris/add", {"uri": "https://b.example/cb"}),
    ("/admin/clients/web/redirect-uris/remove", {"uri": CB}),
    ("/admin/clients/web/tokens/issue", {"user": "alice"}),
    ("/admin/clients/web/tokens/revoke-all", {"confirm": "1"}),
    ("/admin/scopes/add", {"identifier": "new:scope"}),
    ("/admin/scopes/status", {"scope": "polls:vote", "enabled": "0"}),
    ("/admin/scopes/delete", {"scope": "polls:vote"}),
    ("/admin/tokens/revoke-user", {"user": "alice", "confirm": "1"}),
]


@pytest.fixture
async def seeded(store: TokenStore) -> TokenStore:
    await register_client(store, "Web", "web", CB, public=False, scopes_list=["polls:vote"])
    return store


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 600])
async def test_a_missing_or_forged_token_is_refused_with_403_and_nothing_changes(
    seeded: TokenStore, admin: Admin, token: str
) -> None:
    before = await stored_state(seeded)
    for path, data in FORMS:
        refused = await admin.post(path, data, csrf=token)
        assert refused.status_code == 403, path
        assert_page_headers(refused)
        assert "Nothing was changed." in refused.text
    assert await stored_state(seeded) == before


async def test_a_token_signed_for_another_user_or_with_another_key_is_refused(
    seeded: TokenStore, host: Starlette
) -> None:
    ADMINS.add("carol")
    try:
        async with Admin(host, user="carol") as carol, Admin(host) as alice:
            carols = await carol.token()
            foreign = CsrfTokens(b"z" * 32).issue("alice")
            before = await stored_state(seeded)
            for token in (carols, foreign):
                refused = await alice.post("/admin/clients/web/delete", {"confirm": "1"},
                                           csrf=token)
                assert refused.status_code == 403
            assert await stored_state(seeded) == before
            assert (await carol.post("/admin/clients/web/delete", {"confirm": "1"},
                                     csrf=carols)).status_code == 303
    finally:
        ADMINS.discard("carol")
    assert await seeded.get_client("web") is None


async def test_a_token_expires_after_its_max_age(
    seeded: TokenStore, clock: FakeClock, admin: Admin
) -> None:
    token = await admin.token()
    clock.advance(8 * 3600 + 1)
    refused = await admin.post("/admin/clients/web/delete", {"confirm": "1"}, csrf=token)
    assert refused.status_code == 403
    assert await seeded.get_client("web") is not None
    fresh = await admin.post("/admin/clients/web/delete", {"confirm": "1"})
    assert fresh.status_code == 303


async def test_cross_site_posts_are_refused_even_with_a_valid_token(
    seeded: TokenStore, admin: Admin
) -> None:
    refused = await admin.post("/admin/clients/web/delete", {"confirm": "1"},
                               **{"sec-fetch-site": "cross-site"})
    assert refused.status_code == 403 and "another site" in refused.text
    assert await seeded.get_client("web") is not None


async def test_forms_must_be_urlencoded_bounded_and_readable(
    seeded: TokenStore, admin: Admin
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
    assert [s.identifier for s in await seeded.list_scopes()] == ["polls:vote"]


def test_csrf_tokens_are_bound_to_the_user_and_signed(clock: FakeClock) -> None:
    tokens = CsrfTokens(KEY, max_age=60, clock=clock)
    token = tokens.issue("alice")
    assert tokens.verify(token, "alice")
    assert not tokens.verify(token, "bob")
    assert not tokens.verify(token[:-2] + "xx", "alice")
    assert not tokens.verify("", "alice")
    clock.advance(61)
    assert not tokens.verify(token, "alice")
