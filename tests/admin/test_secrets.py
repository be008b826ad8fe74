"""No admin page ever holds a raw token, code or secret, except the one-time display.

Everything secret is created through the admin itself; then every page the
admin can show (lists, searches, the client page and its error re-renders) is
fetched and searched for each value.
"""

from __future__ import annotations

import html
import re

from oauth_middleware.security import pkce_s256
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import register_client
from tests.admin.harness import Admin, stored_state

CB = "https://a.example/cb"
BASE = {"redirect_uris": CB, "scopes": "polls:vote", "token_lifetime": "3600",
        "grant_type": ["authorization_code", "refresh_token", "client_credentials"]}


def _values(page_text: str) -> list[str]:
    found = re.findall(r'<code class="value" id="[a-z-]+">([^<]+)</code>', page_text)
    assert found, "no value shown"
    return [html.unescape(v) for v in found]


async def test_secrets_appear_only_on_the_page_right_after_their_creation(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Seed", "seed", CB, scopes_list=["polls:vote"])
    once_pages = [
        await admin.post("/admin/clients/new", {**BASE, "title": "Web", "client_id": "web",
                                                "type": "confidential"}),
        await admin.post("/admin/clients/web/secret", {}),
        await admin.post("/admin/clients/web/tokens/issue", {"user": "alice"}),
        await admin.post("/admin/clients/web/tokens/issue", {"user": ""}),
        await admin.post("/admin/clients/web/codes/issue", {
            "user": "alice", "redirect_uri": CB, "code_challenge": pkce_s256("v" * 43)}),
    ]
    secrets: list[str] = []
    for page in once_pages:
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        secrets += _values(page.text)
    assert len(secrets) == 6  # two client secrets, access+refresh, access, one code
    admin.pages.clear()
    for path, params in [
        ("/admin/clients/", {}), ("/admin/clients/", {"q": "web"}),
        ("/admin/clients/web/", {}), ("/admin/clients/web/edit", {}), ("/admin/scopes/", {}),
        ("/admin/tokens/", {}), ("/admin/tokens/", {"user": "alice"}),
        ("/admin/tokens/", {"client_id": "web"}), ("/admin/clients/new", {}),
    ]:
        assert (await admin.get(path, **params)).status_code == 200
    await admin.post("/admin/clients/web/tokens/issue", {"user": "x", "scopes": "nope"})
    await admin.post("/admin/clients/web/redirect-uris/add", {"uri": "http://x.example/"})
    await admin.post("/admin/clients/web/edit", {**BASE, "title": "", "type": "confidential"})
    await admin.post("/admin/tokens/revoke-user", {"user": "alice"})
    assert len(admin.pages) > 10
    for page in admin.pages:
        assert not [s for s in secrets if s in page.text], page.url
    state = await stored_state(store)
    assert not [s for s in secrets if s in state]
