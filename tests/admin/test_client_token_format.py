"""The admin's client page shows how a client's access tokens look; an edit keeps it."""

from __future__ import annotations

from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import register_client
from tests.admin.harness import Admin

CB = "https://a.example/cb"
EDIT = {"title": "Reports", "client_id": "reports", "type": "confidential",
        "redirect_uris": CB, "scopes": "", "grant_type": ["authorization_code"],
        "token_lifetime": "600", "resources": ""}


async def test_a_jwt_clients_page_names_its_format_and_an_edit_keeps_it(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Reports", "reports", CB, public=False,
                          access_token_format="jwt", access_token_alg="ES256")
    await register_client(store, "Plain", "plain", CB)
    page = await admin.get("/admin/clients/reports/")
    assert "<dt>Access tokens</dt><dd>JWT (RFC 9068), ES256</dd>" in page.text
    plain = await admin.get("/admin/clients/plain/")
    assert "<dt>Access tokens</dt><dd>opaque</dd>" in plain.text
    saved = await admin.post("/admin/clients/reports/edit", {**EDIT, "title": "Reports 2"})
    assert saved.status_code == 303, saved.text
    client = await store.get_client("reports")
    assert client is not None and client.title == "Reports 2"
    assert (client.access_token_format, client.access_token_alg) == ("jwt", "ES256")
