"""The admin's client form: a client's per-client requirements, pushed authorization
requests (RFC 9126 §6) and DPoP (RFC 9449 §5.2), each set, shown and cleared."""

from __future__ import annotations

import pytest

from oauth_middleware.store import TokenStore
from tests.admin.harness import Admin

CB = "https://a.example/cb"
NEW = {"title": "Tool", "client_id": "tool", "type": "public", "redirect_uris": CB,
       "scopes": "", "grant_type": ["authorization_code"], "token_lifetime": "600"}
#: The form's checkbox, the client's field, and what the client page says when it is on.
SWITCHES = [
    ("require_par", "require_pushed_authorization_requests",
     "required: auth/ takes only requests pushed to par/"),
    ("require_dpop", "require_dpop", "required: token/ binds every token to a key"),
]


@pytest.mark.parametrize(("checkbox", "field", "shown"), SWITCHES)
async def test_the_admin_sets_shows_and_clears_the_switch(
    store: TokenStore, admin: Admin, checkbox: str, field: str, shown: str
) -> None:
    created = await admin.post("/admin/clients/new", {**NEW, checkbox: "1"})
    assert created.status_code == 303, created.text
    client = await store.get_client("tool")
    assert client is not None and getattr(client, field) is True
    page = await admin.get("/admin/clients/tool/")
    assert shown in page.text
    form = await admin.get("/admin/clients/tool/edit")
    assert f'name="{checkbox}" value="1" checked' in form.text
    saved = await admin.post("/admin/clients/tool/edit", NEW)
    assert saved.status_code == 303, saved.text
    client = await store.get_client("tool")
    assert client is not None and getattr(client, field) is False
