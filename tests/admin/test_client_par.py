"""The admin's client form: requiring pushed authorization requests (RFC 9126 §6)."""

from __future__ import annotations

from oauth_middleware.store import TokenStore
from tests.admin.harness import Admin

CB = "https://a.example/cb"
NEW = {"title": "Tool", "client_id": "tool", "type": "public", "redirect_uris": CB,
       "scopes": "", "grant_type": ["authorization_code"], "token_lifetime": "600"}


async def test_the_admin_sets_and_shows_the_flag(store: TokenStore, admin: Admin) -> None:
    created = await admin.post("/admin/clients/new", {**NEW, "require_par": "1"})
    assert created.status_code == 303, created.text
    client = await store.get_client("tool")
    assert client is not None and client.require_pushed_authorization_requests is True
    page = await admin.get("/admin/clients/tool/")
    assert "required: auth/ takes only requests pushed to par/" in page.text
    form = await admin.get("/admin/clients/tool/edit")
    assert 'name="require_par" value="1" checked' in form.text
    saved = await admin.post("/admin/clients/tool/edit", NEW)
    assert saved.status_code == 303, saved.text
    client = await store.get_client("tool")
    assert client is not None and client.require_pushed_authorization_requests is False
