"""The admin's client form: requiring DPoP of a client (RFC 9449 §5.2)."""

from __future__ import annotations

from oauth_middleware.store import TokenStore
from tests.admin.harness import Admin

CB = "https://a.example/cb"
NEW = {"title": "Tool", "client_id": "tool", "type": "public", "redirect_uris": CB,
       "scopes": "", "grant_type": ["authorization_code"], "token_lifetime": "600"}


async def test_the_admin_sets_shows_and_clears_the_dpop_switch(
    store: TokenStore, admin: Admin
) -> None:
    created = await admin.post("/admin/clients/new", {**NEW, "require_dpop": "1"})
    assert created.status_code == 303, created.text
    client = await store.get_client("tool")
    assert client is not None and client.require_dpop is True
    page = await admin.get("/admin/clients/tool/")
    assert "required: token/ binds every token to a key" in page.text
    form = await admin.get("/admin/clients/tool/edit")
    assert 'name="require_dpop" value="1" checked' in form.text
    saved = await admin.post("/admin/clients/tool/edit", NEW)
    assert saved.status_code == 303, saved.text
    client = await store.get_client("tool")
    assert client is not None and client.require_dpop is False
