"""Issuing tokens and codes from a client's page, listing and revoking its tokens."""

from __future__ import annotations

import html
import re

from oauth_middleware.security import pkce_s256
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import MAX_LIFETIME, issue_token, register_client
from tests.admin.harness import Admin, assert_page_headers
from tests.store_helpers import get_code, redis_of

CB = "https://a.example/cb"
SCOPES = ["polls:vote", "polls:results"]


def _shown(page_text: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', page_text)
    assert found is not None, element_id
    return html.unescape(found.group(1))


async def test_issuing_a_token_for_a_user_shows_it_once_and_it_works(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Web", "web", CB, public=False, scopes_list=SCOPES)
    page = await admin.post("/admin/clients/web/tokens/issue",
                            {"user": "bob", "scopes": "polls:vote", "lifetime": "120"})
    assert page.status_code == 200
    assert_page_headers(page)
    access, refresh = _shown(page.text, "access-token"), _shown(page.text, "refresh-token")
    record = await store.resolve(access)
    assert record is not None
    assert (record.client_id, record.subject, record.scopes) == ("web", "bob",
                                                                 frozenset({"polls:vote"}))
    assert record.expires_at is not None and record.expires_at - record.issued_at == 120
    assert await store.lookup(refresh) is not None
    listed = await admin.get("/admin/clients/web/")
    assert record.fingerprint in listed.text and access not in listed.text


async def test_a_token_for_the_client_itself_has_no_refresh_token(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Web", "web", CB, public=False, scopes_list=SCOPES)
    page = await admin.post("/admin/clients/web/tokens/issue", {"user": "", "scopes": ""})
    record = await store.resolve(_shown(page.text, "access-token"))
    assert record is not None
    assert (record.subject_type, record.subject, record.scopes) == ("client", "web",
                                                                    frozenset(SCOPES))
    assert 'id="refresh-token"' not in page.text


async def test_refused_token_requests_show_the_reason_on_the_client_page(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Web", "web", CB, scopes_list=["polls:vote"])
    for data, message in [
        ({"user": "bob", "scopes": "polls:other"}, "A requested scope is not allowed"),
        ({"user": "bob", "lifetime": "-3"}, "A token lifetime is a positive number"),
    ]:
        refused = await admin.post("/admin/clients/web/tokens/issue", data)
        assert refused.status_code == 400
        assert 'id="token-error"' in refused.text and message in refused.text
        assert 'id="token-user" name="user" value="bob"' in refused.text
    assert (await store.list_tokens())[1] == []


async def test_a_token_lifetime_past_ten_years_is_refused_on_the_form_and_nothing_issued(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Web", "web", CB, scopes_list=["polls:vote"])
    keys = sorted(await redis_of(store).keys("*"))
    for lifetime in ("99999999999999999999", str(MAX_LIFETIME + 1)):
        refused = await admin.post("/admin/clients/web/tokens/issue",
                                   {"user": "bob", "lifetime": lifetime})
        assert refused.status_code == 400
        assert_page_headers(refused)
        assert (f'id="token-error">A token lifetime is a positive number of seconds up to '
                f"{MAX_LIFETIME} (ten years) (blank: the client&#39;s)<") in refused.text
    assert sorted(await redis_of(store).keys("*")) == keys
    page = await admin.post("/admin/clients/web/tokens/issue", {"user": "bob"})
    assert await store.resolve(_shown(page.text, "access-token")) is not None


async def test_issuing_a_code_stores_it_bound_to_user_uri_scopes_and_challenge(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Pub", "pub", [CB, "https://a.example/two"],
                          scopes_list=SCOPES)
    challenge = pkce_s256("verifier-" * 6)
    page = await admin.post("/admin/clients/pub/codes/issue", {
        "user": "carol", "redirect_uri": "https://a.example/two", "scopes": "polls:results",
        "code_challenge": challenge})
    assert page.status_code == 200
    record = await get_code(store, _shown(page.text, "authorization-code"))
    assert record is not None
    assert (record.client_id, record.subject, record.redirect_uri, record.scopes) == (
        "pub", "carol", "https://a.example/two", frozenset({"polls:results"}))
    assert (record.code_challenge, record.code_challenge_method) == (challenge, "S256")


async def test_refused_code_requests_show_the_reason_and_create_no_code(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Pub", "pub", CB, scopes_list=SCOPES)
    for data, message in [
        ({"user": "carol", "redirect_uri": CB}, "needs a PKCE code challenge"),
        ({"user": "carol", "redirect_uri": "https://evil.example/cb",
          "code_challenge": pkce_s256("x" * 50)}, "is not a redirect URI of client"),
        ({"user": "", "redirect_uri": CB, "code_challenge": pkce_s256("x" * 50)}, "A user id"),
    ]:
        refused = await admin.post("/admin/clients/pub/codes/issue", data)
        assert refused.status_code == 400
        assert 'id="code-error"' in refused.text and message in refused.text
    assert await redis_of(store).keys(f"{store.keys.prefix}code:*") == []


async def test_revoking_one_token_from_the_client_page(store: TokenStore, admin: Admin) -> None:
    await register_client(store, "Web", "web", CB, scopes_list=SCOPES)
    first = await issue_token(store, "web", user="alice")
    second = await issue_token(store, "web", user="bob")
    revoked = await admin.post("/admin/clients/web/tokens/revoke", {
        "grant_id": first.token.grant_id, "fingerprint": first.token.fingerprint})
    assert revoked.headers["location"] == "/admin/clients/web/?done=token-revoked"
    assert await store.resolve(first.access_token) is None
    assert await store.resolve(second.access_token) is not None
    again = await admin.post("/admin/clients/web/tokens/revoke", {
        "grant_id": first.token.grant_id, "fingerprint": first.token.fingerprint})
    assert again.headers["location"] == "/admin/clients/web/?done=token-gone"
    for bad in ("", "zz", second.token.fingerprint[:4]):
        answer = await admin.post("/admin/clients/web/tokens/revoke", {
            "grant_id": second.token.grant_id, "fingerprint": bad})
        assert answer.headers["location"].endswith("done=token-gone")
    assert await store.resolve(second.access_token) is not None


async def test_revoking_all_tokens_of_a_client_needs_confirmation(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Web", "web", CB, scopes_list=SCOPES)
    await register_client(store, "Other", "other", CB, scopes_list=SCOPES)
    mine = [await issue_token(store, "web", user=u) for u in ("alice", "bob")]
    theirs = await issue_token(store, "other", user="alice")
    refused = await admin.post("/admin/clients/web/tokens/revoke-all", {})
    assert refused.status_code == 400 and "Tick the box" in refused.text
    assert await store.resolve(mine[0].access_token) is not None
    done = await admin.post("/admin/clients/web/tokens/revoke-all", {"confirm": "1"})
    assert done.headers["location"] == "/admin/clients/web/?done=tokens-revoked"
    assert [await store.resolve(t.access_token) for t in mine] == [None, None]
    assert await store.resolve(theirs.access_token) is not None
    page = await admin.get("/admin/clients/web/", done="tokens-revoked")
    assert "No live tokens." in page.text and "Every token and code" in page.text


async def test_the_client_page_pages_through_more_tokens_than_one_page(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Web", "web", CB, scopes_list=SCOPES)
    fingerprints = {(await issue_token(store, "web", user=f"u{n}")).token.fingerprint
                    for n in range(160)}
    seen: list[str] = []
    pages = 0
    path: str | None = "/admin/clients/web/"
    while path is not None:
        page = await admin.http.get(path)
        assert page.status_code == 200
        pages += 1
        seen += re.findall(r'<code class="fingerprint">([0-9a-f]+)</code>', page.text)
        nxt = re.search(r'href="([^"]+)" id="next-page"', page.text)
        path = html.unescape(nxt.group(1)) if nxt else None
    assert pages > 1
    assert set(seen) == fingerprints
