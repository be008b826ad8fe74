"""The admin's client form: the resources (RFC 8707) a client may be issued tokens for."""

from __future__ import annotations

from oauth_middleware.store import TokenStore
from tests.admin.harness import Admin

CB = "https://a.example/cb"
MCP = "https://mcp.example/mcp"
NEW = {"title": "Tool", "client_id": "tool", "type": "public", "redirect_uris": CB,
       "scopes": "", "grant_type": ["authorization_code"], "token_lifetime": "600",
       "resources": f"{MCP}\r\nhttps://other.example/api\r\n"}


async def test_resources_are_registered_shown_edited_and_checked(
    store: TokenStore, admin: Admin
) -> None:
    created = await admin.post("/admin/clients/new", NEW)
    assert created.status_code == 303, created.text
    client = await store.get_client("tool")
    assert client is not None and client.resources == (MCP, "https://other.example/api")
    page = await admin.get("/admin/clients/tool/")
    assert f'<code class="tag">{MCP}</code>' in page.text
    form = await admin.get("/admin/clients/tool/edit")
    assert f"{MCP}\nhttps://other.example/api</textarea>" in form.text
    saved = await admin.post("/admin/clients/tool/edit", {**NEW, "resources": MCP})
    assert saved.status_code == 303, saved.text
    client = await store.get_client("tool")
    assert client is not None and client.resources == (MCP,)
    refused = await admin.post("/admin/clients/tool/edit", {**NEW, "resources": "/relative"})
    assert refused.status_code == 400
    assert "must be an absolute URI" in refused.text and "/relative</textarea>" in refused.text
    assert await store.get_client("tool") == client
    cleared = await admin.post("/admin/clients/tool/edit", {**NEW, "resources": ""})
    assert cleared.status_code == 303
    client = await store.get_client("tool")
    assert client is not None and client.resources == ()
