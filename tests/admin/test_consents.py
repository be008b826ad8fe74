"""The admin's remembered consents: listed by user and by client, forgotten one or all."""

from __future__ import annotations

import html
import re

from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import register_client
from tests.admin.harness import Admin

CB = "https://a.example/cb"


async def _seed(store: TokenStore) -> None:
    for client_id in ("web", "app"):
        client = (await register_client(store, client_id.title(), client_id, CB,
                                        scopes_list=["polls:read", "polls:vote"])).client
        for user in ("alice", "bob<b>"):
            await store.remember_consent(user, client_id, client_generation=client.generation,
                                         approved=["polls:read"], lifetime=3600)


def _rows(text: str) -> list[tuple[str, str]]:
    cells = re.findall(r'<td class="mono">(.*?)</td>\s*<td class="mono"><a [^>]*>(.*?)</a>', text)
    return [(html.unescape(user), html.unescape(client)) for user, client in cells]


async def test_consents_are_listed_by_user_by_client_and_all(
    store: TokenStore, admin: Admin,
) -> None:
    await _seed(store)
    everything = await admin.get("/admin/consents/")
    assert everything.status_code == 200
    assert sorted(_rows(everything.text)) == [("alice", "app"), ("alice", "web"),
                                              ("bob<b>", "app"), ("bob<b>", "web")]
    assert "bob<b>" not in everything.text  # escaped
    assert sorted(_rows((await admin.get("/admin/consents/", user="alice")).text)) == [
        ("alice", "app"), ("alice", "web")]
    assert sorted(_rows((await admin.get("/admin/consents/", client_id="web")).text)) == [
        ("alice", "web"), ("bob<b>", "web")]
    page = await admin.get("/admin/clients/web/")
    assert "/admin/consents/?client_id=web" in page.text


async def test_forgetting_one_consent_or_all_of_a_user(store: TokenStore, admin: Admin) -> None:
    await _seed(store)
    response = await admin.post("/admin/consents/forget", {"user": "alice", "client_id": "web"})
    assert response.status_code == 303
    assert response.headers["location"] == \
        "/admin/consents/?user=alice&client_id=web&done=consent-forgotten"
    assert await store.remembered_consent("alice", "web") == frozenset()
    assert await store.remembered_consent("alice", "app") == {"polls:read"}
    assert "Forget every consent of alice" in (await admin.get("/admin/consents/",
                                                               user="alice")).text
    await admin.post("/admin/consents/forget", {"user": "alice", "client_id": ""})
    assert await store.remembered_consent("alice", "app") == frozenset()
    assert await store.remembered_consent("bob<b>", "app") == {"polls:read"}


async def test_forgetting_needs_the_csrf_token(store: TokenStore, admin: Admin) -> None:
    await _seed(store)
    response = await admin.post("/admin/consents/forget", {"user": "alice", "client_id": "web"},
                                csrf="forged")
    assert response.status_code == 403
    assert await store.remembered_consent("alice", "web") == {"polls:read"}


async def test_the_client_page_shows_its_post_logout_uris(store: TokenStore, admin: Admin) -> None:
    await register_client(store, "Web", "web", CB, post_logout_redirect_uris=[CB + "/bye"])
    page = await admin.get("/admin/clients/web/")
    assert f'<code class="tag">{CB}/bye</code>' in page.text
