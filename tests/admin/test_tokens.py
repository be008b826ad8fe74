"""Token pages: search by user or client, revoke one token, revoke everything of a user."""

from __future__ import annotations

import html
import re

from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import issue_code, issue_token, register_client
from tests.admin.harness import Admin
from tests.store_helpers import get_code

CB = "https://a.example/cb"


async def _seed(store: TokenStore) -> None:
    for client_id in ("web", "app"):
        await register_client(store, client_id.title(), client_id, CB, public=False,
                              scopes_list=["polls:vote"])


def _fingerprints(text: str) -> set[str]:
    return set(re.findall(r'<code class="fingerprint">([0-9a-f]+)</code>', text))


async def test_tokens_are_listed_and_searched_by_user_or_client(
    store: TokenStore, admin: Admin
) -> None:
    await _seed(store)
    alice_web = await issue_token(store, "web", user="alice")
    alice_app = await issue_token(store, "app", user="alice")
    bob_web = await issue_token(store, "web", user="bob")
    everything = await admin.get("/admin/tokens/")
    assert _fingerprints(everything.text) == {t.token.fingerprint
                                              for t in (alice_web, alice_app, bob_web)}
    alices = await admin.get("/admin/tokens/", user="alice")
    assert _fingerprints(alices.text) == {alice_web.token.fingerprint,
                                          alice_app.token.fingerprint}
    assert "Log alice out everywhere" in alices.text
    webs = await admin.get("/admin/tokens/", client_id="web")
    assert _fingerprints(webs.text) == {alice_web.token.fingerprint, bob_web.token.fingerprint}
    both = await admin.get("/admin/tokens/", user="alice", client_id="web")
    assert _fingerprints(both.text) == {alice_web.token.fingerprint}
    nobody = await admin.get("/admin/tokens/", user="nobody")
    assert _fingerprints(nobody.text) == set() and "No live tokens match" in nobody.text


async def test_revoking_one_token_keeps_the_search(store: TokenStore, admin: Admin) -> None:
    await _seed(store)
    issued = await issue_token(store, "web", user="alice")
    kept = await issue_token(store, "app", user="alice")
    revoked = await admin.post("/admin/tokens/revoke", {
        "grant_id": issued.token.grant_id, "fingerprint": issued.token.fingerprint,
        "user": "alice", "client_id": ""})
    assert revoked.headers["location"] == "/admin/tokens/?user=alice&done=token-revoked"
    assert await store.resolve(issued.access_token) is None
    assert await store.resolve(kept.access_token) is not None


async def test_revoking_everything_of_a_user_needs_confirmation(
    store: TokenStore, admin: Admin
) -> None:
    await _seed(store)
    alices = [await issue_token(store, c, user="alice") for c in ("web", "app")]
    code = await issue_code(store, "web", user="alice", redirect_uri=CB)
    bobs = await issue_token(store, "web", user="bob")
    refused = await admin.post("/admin/tokens/revoke-user", {"user": "alice"})
    assert refused.status_code == 400 and "tick the box" in refused.text
    assert await store.resolve(alices[0].access_token) is not None
    done = await admin.post("/admin/tokens/revoke-user", {"user": "alice", "confirm": "1"})
    assert done.headers["location"] == "/admin/tokens/?user=alice&done=user-revoked"
    assert [await store.resolve(t.access_token) for t in alices] == [None, None]
    assert [await store.lookup(t.refresh_token or "") for t in alices] == [None, None]
    assert await get_code(store, code.code) is None
    assert await store.resolve(bobs.access_token) is not None


async def test_the_token_list_pages_through_more_tokens_than_one_page(
    store: TokenStore, admin: Admin
) -> None:
    await _seed(store)
    fingerprints = {(await issue_token(store, "web", user=f"u{n}")).token.fingerprint
                    for n in range(150)}
    seen: set[str] = set()
    pages = 0
    path: str | None = "/admin/tokens/"
    while path is not None:
        page = await admin.http.get(path)
        pages += 1
        seen |= _fingerprints(page.text)
        nxt = re.search(r'href="([^"]+)" id="next-page"', page.text)
        path = html.unescape(nxt.group(1)) if nxt else None
    assert pages > 1
    assert seen == fingerprints
