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


async def test_issuing_a_token_to_a_jwt_client_is_refused_on_its_page(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Reports", "reports", CB, public=False,
                          access_token_format="jwt")
    refused = await admin.post("/admin/clients/reports/tokens/issue", {"user": "bob"})
    assert refused.status_code == 400 and 'id="token-error"' in refused.text
    assert "receives JWT access tokens (RFC 9068), which only the authorization server " \
        "signs" in refused.text
    assert (await store.list_tokens())[1] == []


async def test_the_edit_form_shows_and_changes_post_logout_uris_and_token_formats(
    store: TokenStore, admin: Admin
) -> None:
    bye = "https://a.example/bye"
    await register_client(store, "Reports", "reports", CB, public=False,
                          post_logout_redirect_uris=[bye])
    form = await admin.get("/admin/clients/reports/edit")
    assert f">{bye}</textarea>" in form.text
    assert '<option value="opaque" selected>' in form.text
    saved = await admin.post("/admin/clients/reports/edit", {
        **EDIT, "post_logout_redirect_uris": f"{bye}\r\n{bye}2\r\n",
        "access_token_format": "jwt", "access_token_alg": "ES256", "id_token_alg": "ES256"})
    assert saved.status_code == 303, saved.text
    client = await store.get_client("reports")
    assert client is not None
    assert client.post_logout_redirect_uris == (bye, bye + "2")
    assert (client.access_token_format, client.access_token_alg,
            client.id_token_signed_response_alg) == ("jwt", "ES256", "ES256")
    again = await admin.get("/admin/clients/reports/edit")
    assert '<option value="jwt" selected>' in again.text
    cleared = await admin.post("/admin/clients/reports/edit", {
        **EDIT, "post_logout_redirect_uris": "", "access_token_format": "opaque",
        "access_token_alg": "", "id_token_alg": ""})
    assert cleared.status_code == 303, cleared.text
    client = await store.get_client("reports")
    assert client is not None and client.post_logout_redirect_uris == ()
    assert (client.access_token_format, client.access_token_alg,
            client.id_token_signed_response_alg) == ("opaque", "", "")


async def test_a_refused_format_change_is_shown_on_the_form_and_changes_nothing(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Reports", "reports", CB, public=False)
    before = await store.get_client("reports")
    refused = await admin.post("/admin/clients/reports/edit", {
        **EDIT, "access_token_format": "opaque", "access_token_alg": "ES256",
        "post_logout_redirect_uris": "http://a.example/bye"})
    assert refused.status_code == 400
    assert 'id="form-error"' in refused.text
    assert await store.get_client("reports") == before


async def test_registering_from_the_admin_takes_the_new_fields(
    store: TokenStore, admin: Admin
) -> None:
    created = await admin.post("/admin/clients/new", {
        **EDIT, "client_id": "fresh", "type": "public",
        "post_logout_redirect_uris": "https://a.example/bye", "access_token_format": "jwt",
        "access_token_alg": "", "id_token_alg": "ES256"})
    assert created.status_code == 303, created.text
    client = await store.get_client("fresh")
    assert client is not None and client.post_logout_redirect_uris == ("https://a.example/bye",)
    assert (client.access_token_format, client.id_token_signed_response_alg) == ("jwt", "ES256")
