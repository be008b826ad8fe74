"""Scope pages: the registry with titles and status; add, enable, disable, delete."""

from __future__ import annotations

from oauth_middleware.models import Scope
from oauth_middleware.store import TokenStore
from tests.admin.harness import Admin


async def test_the_scope_list_shows_identifiers_titles_and_status(
    store: TokenStore, admin: Admin
) -> None:
    await store.save_scope(Scope("polls:vote", "Vote <now>"))
    await store.save_scope(Scope("polls:results", "", enabled=False))
    page = await admin.get("/admin/scopes/")
    assert page.status_code == 200
    assert "<code>polls:vote</code>" in page.text and "Vote &lt;now&gt;" in page.text
    assert page.text.index("polls:results") < page.text.index("polls:vote")
    assert page.text.count('class="pill disabled"') == 1
    assert page.text.count('class="pill enabled"') == 1


async def test_adding_a_scope_with_a_title_or_a_made_up_one(
    store: TokenStore, admin: Admin
) -> None:
    added = await admin.post("/admin/scopes/add", {"identifier": "polls:vote",
                                                    "title": "Vote in polls", "enabled": "1"})
    assert added.headers["location"] == "/admin/scopes/?done=scope-added"
    await admin.post("/admin/scopes/add", {"identifier": "polls:results"})
    assert await store.list_scopes() == [Scope("polls:results", "Polls Results", False),
                                         Scope("polls:vote", "Vote in polls", True)]


async def test_refused_scopes_show_the_reason_and_keep_the_input(
    store: TokenStore, admin: Admin
) -> None:
    await store.save_scope(Scope("polls:vote", "Vote"))
    for identifier, message in [("polls:vote", "is already registered"),
                                ("has space", "Invalid scope identifier"),
                                ('quo"te', "Invalid scope identifier")]:
        refused = await admin.post("/admin/scopes/add", {"identifier": identifier,
                                                          "title": "Kept title"})
        assert refused.status_code == 400
        assert message in refused.text and 'id="form-error"' in refused.text
        assert 'value="Kept title"' in refused.text
    assert await store.list_scopes() == [Scope("polls:vote", "Vote")]


async def test_disabling_enabling_and_deleting_a_scope(store: TokenStore, admin: Admin) -> None:
    await store.save_scope(Scope("a/b?c#d", "Odd"))
    off = await admin.post("/admin/scopes/status", {"scope": "a/b?c#d", "enabled": "0"})
    assert off.headers["location"] == "/admin/scopes/?done=scope-disabled"
    assert await store.list_scopes() == [Scope("a/b?c#d", "Odd", False)]
    on = await admin.post("/admin/scopes/status", {"scope": "a/b?c#d", "enabled": "1"})
    assert on.headers["location"] == "/admin/scopes/?done=scope-enabled"
    assert await store.list_scopes() == [Scope("a/b?c#d", "Odd", True)]
    deleted = await admin.post("/admin/scopes/delete", {"scope": "a/b?c#d"})
    assert deleted.headers["location"] == "/admin/scopes/?done=scope-deleted"
    assert await store.list_scopes() == []
    gone = await admin.post("/admin/scopes/delete", {"scope": "a/b?c#d"})
    assert gone.status_code == 404
    assert (await admin.post("/admin/scopes/status", {"scope": "x", "enabled": "1"})
            ).status_code == 404
