"""Client pages: list, search and paging; register, edit, rotate, delete, redirect URIs."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from oauth_middleware.models import Scope
from oauth_middleware.security import verify_client_secret
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import (
    MAX_LIFETIME,
    RegisteredClient,
    issue_token,
    register_client,
    rotate_secret,
)
from tests.admin.harness import Admin, assert_page_headers

CB = "https://a.example/cb"
NEW = {"title": "Polls dashboard", "client_id": "dash", "type": "public",
       "redirect_uris": f"{CB}\r\nhttps://a.example/other\r\n", "scopes": "polls:vote",
       "grant_type": ["authorization_code", "refresh_token"], "token_lifetime": "600",
       "description": "The team's <b>dashboard</b>", "link": "https://a.example/"}


def _shown(page_text: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', page_text)
    assert found is not None, element_id
    return html.unescape(found.group(1))


async def test_registering_a_public_client_stores_every_field(
    store: TokenStore, admin: Admin
) -> None:
    await store.save_scope(Scope("polls:vote"))
    created = await admin.post("/admin/clients/new", NEW)
    assert created.status_code == 303
    assert created.headers["location"] == "/admin/clients/dash/?done=created"
    client = await store.get_client("dash")
    assert client is not None
    assert (client.title, client.public, client.redirect_uris, client.scopes) == (
        "Polls dashboard", True, (CB, "https://a.example/other"), ("polls:vote",))
    assert (client.grant_types, client.token_lifetime, client.registrant) == (
        ("authorization_code", "refresh_token"), 600, "alice")
    assert (client.description, client.link) == ("The team's <b>dashboard</b>",
                                                 "https://a.example/")
    page = await admin.get("/admin/clients/dash/", done="created")
    assert "Client registered." in page.text
    assert "The team&#39;s &lt;b&gt;dashboard&lt;/b&gt;" in page.text


async def test_registering_a_confidential_client_shows_its_secret_once(
    store: TokenStore, admin: Admin
) -> None:
    created = await admin.post("/admin/clients/new", {
        **NEW, "client_id": "", "scopes": "", "type": "confidential", "token_lifetime": "never",
        "grant_type": ["client_credentials"]})
    assert created.status_code == 200
    assert_page_headers(created)
    secret = _shown(created.text, "client-secret")
    _, clients = await store.list_clients()
    assert len(clients) == 1
    client = clients[0]
    assert len(client.client_id) == 24 and client.token_lifetime is None
    assert verify_client_secret(client.secret_hash, secret)
    assert secret not in (await admin.get(f"/admin/clients/{client.client_id}/")).text


async def test_refused_registrations_show_the_reason_keep_the_input_and_store_nothing(
    store: TokenStore, admin: Admin
) -> None:
    await store.save_scope(Scope("polls:vote"))
    await register_client(store, "Taken", "taken", CB)
    cases: list[tuple[dict[str, str | list[str]], str]] = [
        ({"redirect_uris": "http://a.example/cb"},
         "Plain http is only allowed for loopback addresses: use https (or tick “Allow plain "
         "http on any host” for local development)<"),
        ({"redirect_uris": "https://a.example/cb#frag"}, "must not contain a fragment"),
        ({"scopes": "polls:vote polls:unknown"},
         "Unknown scope &#39;polls:unknown&#39;: register it on the Scopes page first<"),
        ({"client_id": "taken"}, "Client &#39;taken&#39; is already registered"),
        ({"client_id": "bad id"}, "A client id is 1 to 128"),
        ({"token_lifetime": "soon"}, "A token lifetime is a positive number"),
        ({"token_lifetime": str(MAX_LIFETIME + 1)},
         f"A token lifetime is a positive number of seconds up to {MAX_LIFETIME} (ten years)"),
        ({"title": " "}, "A client needs a title"),
        ({"grant_type": []}, "Choose at least one grant type"),
        ({"type": "public", "grant_type": ["password"]}, "Public clients cannot use"),
        ({"link": "l" * 2001}, "The link is limited to 2000 characters"),
    ]
    for change, message in cases:
        refused = await admin.post("/admin/clients/new", {**NEW, **change})
        assert refused.status_code == 400, change
        assert_page_headers(refused)
        assert message in refused.text, (change, refused.text)
        assert 'id="form-error"' in refused.text
        assert "allow registering" not in refused.text and "allow_http=" not in refused.text
        kept = {**NEW, **change}
        if str(kept["title"]).strip():
            assert f'value="{kept["title"]}"' in refused.text
        assert html.escape(str(kept["redirect_uris"]).replace("\r\n", "\n")) in refused.text
    _, clients = await store.list_clients()
    assert [c.client_id for c in clients] == ["taken"]


async def test_an_edit_racing_a_secret_rotation_is_a_409_page_and_changes_nothing(
    store: TokenStore, admin: Admin, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two admins at once: one rotates the secret while the other saves the edit form, built
    on the record read before. The edit is not written (it would restore the old secret)."""
    registered = await register_client(store, "Service", "svc", public=False,
                                       grant_types=["client_credentials"])
    save, writes, rotated = store.save_client, list[Any](), list[RegisteredClient]()

    async def rotate_first(client: Any, **options: Any) -> bool:
        """The other admin's rotation lands between this edit's read and its write."""
        writes.append(client)
        if len(writes) == 1:
            rotated.append(await rotate_secret(store, "svc"))
        return await save(client, **options)

    monkeypatch.setattr(store, "save_client", rotate_first)
    refused = await admin.post("/admin/clients/svc/edit", {
        "title": "Renamed", "redirect_uris": "", "scopes": "", "type": "confidential",
        "grant_type": ["client_credentials"], "token_lifetime": "120"})
    assert refused.status_code == 409
    assert_page_headers(refused)
    assert "changed this client while you were editing it" in refused.text
    stored = await store.get_client("svc")
    assert stored is not None and stored.title == "Service"
    assert stored.secret_hash == rotated[0].client.secret_hash != registered.client.secret_hash


async def test_editing_a_client_changes_it_through_the_toolbox(
    store: TokenStore, admin: Admin
) -> None:
    await store.save_scope(Scope("polls:vote"))
    await register_client(store, "Web", "web", "http://dev.example/cb", allow_http=True)
    form = await admin.get("/admin/clients/web/edit")
    assert 'value="Web"' in form.text and "http://dev.example/cb" in form.text
    saved = await admin.post("/admin/clients/web/edit", {
        "title": "Web 2", "redirect_uris": f"http://dev.example/cb\n{CB}", "scopes": "polls:vote",
        "type": "public", "grant_type": ["authorization_code"], "token_lifetime": "120",
        "description": "d", "link": ""})
    assert (saved.status_code, saved.headers["location"]) == (303,
                                                              "/admin/clients/web/?done=saved")
    client = await store.get_client("web")
    assert client is not None
    assert (client.title, client.redirect_uris, client.scopes, client.token_lifetime) == (
        "Web 2", ("http://dev.example/cb", CB), ("polls:vote",), 120)
    refused = await admin.post("/admin/clients/web/edit", {
        "title": "Web 3", "redirect_uris": "https://ok.example/cb\nftp://x", "scopes": "",
        "type": "public", "grant_type": ["authorization_code"], "token_lifetime": "120"})
    assert refused.status_code == 400
    assert 'value="Web 3"' in refused.text and "ftp://x" in refused.text
    assert await store.get_client("web") == client
    too_long = await admin.post("/admin/clients/web/edit", {
        "title": "Web 3", "redirect_uris": CB, "type": "public",
        "grant_type": ["authorization_code"], "token_lifetime": "99999999999999999999"})
    assert too_long.status_code == 400
    assert f"up to {MAX_LIFETIME} (ten years)" in too_long.text
    assert await store.get_client("web") == client


async def test_making_a_client_confidential_shows_the_new_secret_once(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Web", "web", CB)
    made = await admin.post("/admin/clients/web/edit", {
        "title": "Web", "redirect_uris": CB, "type": "confidential",
        "grant_type": ["authorization_code", "client_credentials"], "token_lifetime": "3600"})
    assert made.status_code == 200 and "Client is now confidential" in made.text
    client = await store.get_client("web")
    assert client is not None and not client.public
    assert verify_client_secret(client.secret_hash, _shown(made.text, "client-secret"))


async def test_rotating_the_secret_shows_a_new_one_and_the_old_one_stops_working(
    store: TokenStore, admin: Admin
) -> None:
    old = await register_client(store, "Web", "web", CB, public=False)
    assert old.client_secret is not None
    rotated = await admin.post("/admin/clients/web/secret", {})
    assert rotated.status_code == 200
    new = _shown(rotated.text, "client-secret")
    client = await store.get_client("web")
    assert client is not None
    assert verify_client_secret(client.secret_hash, new)
    assert not verify_client_secret(client.secret_hash, old.client_secret)
    await register_client(store, "Pub", "pub", CB)
    refused = await admin.post("/admin/clients/pub/secret", {})
    assert refused.status_code == 400 and "is public and has no secret" in refused.text


async def test_deleting_a_client_needs_confirmation_and_revokes_its_tokens(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Web", "web", CB, scopes_list=["polls:vote"])
    issued = await issue_token(store, "web", user="alice")
    unconfirmed = await admin.post("/admin/clients/web/delete", {})
    assert unconfirmed.status_code == 400 and "Tick the box" in unconfirmed.text
    assert await store.get_client("web") is not None
    deleted = await admin.post("/admin/clients/web/delete", {"confirm": "1"})
    assert (deleted.status_code, deleted.headers["location"]) == (
        303, "/admin/clients/?done=deleted")
    assert await store.get_client("web") is None
    assert await store.resolve(issued.access_token) is None
    gone = await admin.post("/admin/clients/web/delete", {"confirm": "1"})
    assert gone.status_code == 404


async def test_redirect_uris_are_added_and_removed_with_errors_on_the_form(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Web", "web", CB)
    added = await admin.post("/admin/clients/web/redirect-uris/add",
                             {"uri": "https://b.example/cb"})
    assert added.headers["location"] == "/admin/clients/web/?done=redirect-added"
    dev = await admin.post("/admin/clients/web/redirect-uris/add",
                           {"uri": "http://dev.example/cb", "allow_http": "1"})
    assert dev.status_code == 303
    refused = await admin.post("/admin/clients/web/redirect-uris/add",
                               {"uri": "https://*.example/cb"})
    assert refused.status_code == 400
    assert 'id="redirect-error"' in refused.text and "Wildcards are not allowed" in refused.text
    assert 'value="https://*.example/cb"' in refused.text
    removed = await admin.post("/admin/clients/web/redirect-uris/remove", {"uri": CB})
    assert removed.headers["location"] == "/admin/clients/web/?done=redirect-removed"
    client = await store.get_client("web")
    assert client is not None
    assert client.redirect_uris == ("https://b.example/cb", "http://dev.example/cb")
    missing = await admin.post("/admin/clients/web/redirect-uris/remove", {"uri": CB})
    assert missing.status_code == 400 and "has no redirect URI" in missing.text


async def test_the_client_list_searches_by_id_or_title(store: TokenStore, admin: Admin) -> None:
    await register_client(store, "Polls dashboard", "dash", CB)
    await register_client(store, "Mobile app", "mobile", CB)
    found = await admin.get("/admin/clients/", q="DASH")
    assert "/admin/clients/dash/" in found.text and "/admin/clients/mobile/" not in found.text
    by_title = await admin.get("/admin/clients/", q="mobile app")
    assert "/admin/clients/mobile/" in by_title.text and "/admin/clients/dash/" not in by_title.text
    nothing = await admin.get("/admin/clients/", q="<script>")
    assert "No client here matches “&lt;script&gt;”" in nothing.text
    assert (await admin.get("/admin/clients/", cursor="-1")).status_code == 400


async def test_the_client_list_pages_through_more_clients_than_one_page(
    store: TokenStore, admin: Admin
) -> None:
    for n in range(300):
        await register_client(store, f"Client {n}", f"c{n:03d}", CB)
    seen: list[str] = []
    pages = 0
    path: str | None = "/admin/clients/"
    while path is not None:
        page = await admin.http.get(path)
        assert page.status_code == 200
        pages += 1
        seen += re.findall(r'href="/admin/clients/(c\d{3})/"', page.text)
        nxt = re.search(r'href="([^"]+)" id="next-page"', page.text)
        path = html.unescape(nxt.group(1)) if nxt else None
    assert pages > 1
    assert sorted(seen) == [f"c{n:03d}" for n in range(300)]
    assert len(seen) - len(set(seen)) < 10  # SSCAN may repeat a few across pages, no more


async def test_a_link_that_is_not_http_is_shown_but_never_clickable(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Odd", "odd", CB, link="javascript:alert(1)")
    await register_client(store, "Fine", "fine", CB, link="https://fine.example/")
    odd = await admin.get("/admin/clients/odd/")
    assert "javascript:alert(1)" in odd.text and 'href="javascript:' not in odd.text
    fine = await admin.get("/admin/clients/fine/")
    assert 'href="https://fine.example/"' in fine.text


@pytest.mark.parametrize("cursor", ["²", "٣", str(2**63), str(2**64), "9" * 20])
@pytest.mark.rule("abuse.malformed-400")
async def test_a_page_cursor_redis_cannot_take_is_a_400_not_a_server_error(
    store: TokenStore, admin: Admin, cursor: str
) -> None:
    """A superscript digit passed str.isdigit() and failed int() (500); a cursor past
    2**64 - 1 (2**63 - 1 for the embedded store) made the SCAN fail, reported as an
    unreachable store (503)."""
    await register_client(store, "Web", "web", CB)
    for path in ("/admin/clients/", "/admin/tokens/", "/admin/clients/web/"):
        response = await admin.get(path, cursor=cursor)
        assert response.status_code == 400, (path, response.text)
        assert_page_headers(response)
        assert "The page cursor is not valid." in html.unescape(response.text)
    last = await admin.get("/admin/clients/", cursor=str(2**63 - 1))
    assert last.status_code == 200
