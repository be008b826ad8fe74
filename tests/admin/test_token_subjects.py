"""The admin never shows a client's own token as a user's, even when the names are the same."""

from __future__ import annotations

import html
import re

import pytest

from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import issue_token, register_client
from tests.admin.harness import Admin


def _user_cells(text: str) -> dict[str, str]:
    """Each listed token's fingerprint -> the text of its User cell."""
    rows = re.findall(r'<tr class="token">(.*?)</tr>', text, re.S)
    cells = {}
    for row in rows:
        found = re.search(r'<code class="fingerprint">([0-9a-f]+)</code>', row)
        tds = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        assert found is not None
        cells[found.group(1)] = html.unescape(re.sub(r"<[^>]+>", "", tds[2])).strip()
    return cells


@pytest.mark.rule("auth.client-identity-not-a-user")
async def test_token_listing_shows_a_client_token_as_the_client_never_as_a_user(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Web", "web", "https://a.example/cb", public=False,
                          scopes_list=["polls:vote"])
    await register_client(store, "Bob's machine", "bob", "https://a.example/cb", public=False,
                          scopes_list=["polls:vote"], grant_types=["client_credentials"])
    user = (await issue_token(store, "web", user="bob")).token.fingerprint
    client = (await issue_token(store, "bob")).token.fingerprint
    everything = _user_cells((await admin.get("/admin/tokens/")).text)
    assert everything == {user: "bob", client: "the client itself"}
    assert _user_cells((await admin.get("/admin/tokens/", user="bob")).text) == {user: "bob"}
    assert _user_cells((await admin.get("/admin/tokens/", client_id="bob")).text) == {
        client: "the client itself"}
    done = await admin.post("/admin/tokens/revoke-user", {"user": "bob", "confirm": "1"})
    assert done.status_code == 303
    assert _user_cells((await admin.get("/admin/tokens/")).text) == {
        client: "the client itself"}
