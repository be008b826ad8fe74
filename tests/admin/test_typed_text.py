"""The admin refuses what the toolbox refuses: typed control characters, raw characters a
URI never holds, implicit for a confidential client. A 400 form page naming the fix,
the input kept, nothing stored (SECURITY.md "At rest, in memory, in logs")."""

from __future__ import annotations

import pytest

from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import register_client
from tests.admin.harness import Admin, assert_page_headers

CB = "https://a.example/cb"
NEW = {"title": "Polls dashboard", "client_id": "dash", "type": "public",
       "redirect_uris": CB, "grant_type": ["authorization_code", "refresh_token"],
       "token_lifetime": "600", "description": "", "link": ""}


@pytest.mark.parametrize(("change", "message"), [
    ({"title": "Po\x1b]0;pwned\x07lls"}, "The title must not contain control characters "
                                          "(U+001B at character 3): remove it"),
    ({"description": "Line one\r\nLine\x9b2J two"}, "The description must not contain control "
                                                    "characters (U+009B"),
    ({"link": "https://a.example/\u202e"}, "The link must not contain control characters"),
    ({"redirect_uris": "https://a.example/<cb>"}, "must not contain &lt; &gt; raw: "
                                                 "percent-encode it (RFC 3986 §2)"),
    ({"redirect_uris": "https://a.example/c%zz"}, "must start an escape such as %20"),
    ({"type": "confidential", "grant_type": ["authorization_code", "implicit"]},
     "A confidential client cannot use the implicit grant (RFC 9700 §2.1.2): use "
     "authorization_code, which authenticates the client, or register it with the command "
     "line&#39;s --force-implicit to force it"),
])
@pytest.mark.rule("rest.typed-text.controls", "rest.typed-text.redirect-uri",
                  "auth.implicit.not-confidential")
async def test_registering_refuses_controls_raw_uri_characters_and_confidential_implicit(
    store: TokenStore, admin: Admin, change: dict[str, str | list[str]], message: str
) -> None:
    refused = await admin.post("/admin/clients/new", {**NEW, **change})
    assert refused.status_code == 400
    assert_page_headers(refused)
    assert 'id="form-error"' in refused.text
    assert message in refused.text, refused.text
    assert "allow_confidential_implicit" not in refused.text
    assert await store.get_client("dash") is None


@pytest.mark.rule("rest.typed-text.controls")
async def test_editing_refuses_a_title_with_a_control_character_and_changes_nothing(
    store: TokenStore, admin: Admin
) -> None:
    await register_client(store, "Polls", "dash", CB)
    before = await store.get_client("dash")
    refused = await admin.post("/admin/clients/dash/edit", {**NEW, "title": "Po\x07lls"})
    assert refused.status_code == 400
    assert "The title must not contain control characters (U+0007" in refused.text
    assert await store.get_client("dash") == before


@pytest.mark.rule("rest.typed-text.controls")
async def test_a_scope_title_with_a_control_character_is_refused(
    store: TokenStore, admin: Admin
) -> None:
    refused = await admin.post("/admin/scopes/add", {"identifier": "polls:vote",
                                                     "title": "Vote\x1b[2J", "enabled": "1"})
    assert refused.status_code == 400
    assert "The scope title must not contain control characters (U+001B" in refused.text
    assert await store.list_scopes() == []
