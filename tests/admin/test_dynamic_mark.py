"""The admin marks clients that registered themselves (RFC 7591) as dynamic."""

from __future__ import annotations

import time

from oauth_middleware.models import Client
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import register_client
from tests.admin.harness import Admin

MARK = '<span class="pill dynamic"'


async def test_the_client_list_and_page_mark_a_dynamic_client_only(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Host", "host", "https://h.example/cb")
    await store.save_client(Client(client_id="self1", title="Self", dynamic=True,
                                   redirect_uris=("http://127.0.0.1/cb",),
                                   created_at=time.time(), generation="g"), only="new")
    listed = (await admin.get("/admin/clients/")).text
    rows = {row.split("</tr>")[0] for row in listed.split("<tr") if "self1" in row or "host" in row}
    assert [MARK in row for row in sorted(rows, key=lambda r: "self1" in r)] == [False, True]
    assert MARK in (await admin.get("/admin/clients/self1/")).text
    assert MARK not in (await admin.get("/admin/clients/host/")).text


async def test_a_client_whose_id_is_a_metadata_document_url_opens_and_is_deleted(
    store: TokenStore, admin: Admin
) -> None:
    """A client ID metadata document's client is named by an https URL, slashes and all:
    the list links its page, the page opens, and its forms reach that client."""
    client_id = "https://app.example/oauth/client.json"
    await store.save_client(Client(client_id=client_id, title="Doc", dynamic=True,
                                   redirect_uris=("http://127.0.0.1/cb",),
                                   created_at=time.time(), generation="g"), only="new")
    listed = (await admin.get("/admin/clients/")).text
    link = "/admin/clients/https%3A%2F%2Fapp.example%2Foauth%2Fclient.json/"
    assert f'href="{link}"' in listed
    page = await admin.get(link)
    assert page.status_code == 200 and MARK in page.text and client_id in page.text
    deleted = await admin.post(link + "delete", {"confirm": "1"})
    assert (deleted.status_code, deleted.headers["location"]) == (
        303, "/admin/clients/?done=deleted")
    assert await store.get_client(client_id) is None
