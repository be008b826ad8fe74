"""The scope registry: add, enable, disable, remove and sync, against both backends."""

from __future__ import annotations

import asyncio

import pytest

from oauth_middleware.models import Scope
from oauth_middleware.scope_registry import (
    ScopeExists,
    UnknownScope,
    add_scope,
    remove_scope,
    set_scope_enabled,
    sync_scopes,
)
from oauth_middleware.store import TokenStore


async def test_add_scope_titles_it_and_refuses_a_second_registration(store: TokenStore) -> None:
    assert await add_scope(store, "polls:results") == Scope("polls:results", "Polls Results")
    assert await add_scope(store, "a:b", title="  Custom  ", enabled=False) == \
        Scope("a:b", "Custom", False)
    with pytest.raises(ScopeExists):
        await add_scope(store, "a:b", title="Other")
    assert await store.list_scopes() == [Scope("a:b", "Custom", False),
                                         Scope("polls:results", "Polls Results")]
    with pytest.raises(ValueError, match="invalid scope identifier"):
        await add_scope(store, "bad scope")


async def test_concurrent_adds_of_one_scope_have_exactly_one_winner(store: TokenStore) -> None:
    results = await asyncio.gather(*(add_scope(store, "x:y", title=f"T{n}") for n in range(8)),
                                   return_exceptions=True)
    winners = [r for r in results if isinstance(r, Scope)]
    assert len(winners) == 1
    assert all(isinstance(r, ScopeExists) for r in results if not isinstance(r, Scope))
    assert await store.list_scopes() == winners


async def test_enable_disable_and_remove_need_a_registered_scope(store: TokenStore) -> None:
    await add_scope(store, "a:b", title="AB")
    assert await set_scope_enabled(store, "a:b", False) == Scope("a:b", "AB", False)
    assert (await store.get_scopes(["a:b"]))["a:b"].enabled is False
    assert await set_scope_enabled(store, "a:b", True) == Scope("a:b", "AB", True)
    await remove_scope(store, "a:b")
    assert await store.list_scopes() == []
    for call in (set_scope_enabled(store, "a:b", True), remove_scope(store, "a:b")):
        with pytest.raises(UnknownScope, match="no scope 'a:b'"):
            await call


async def test_sync_scopes_adds_the_missing_reports_progress_and_keeps_the_rest(
    store: TokenStore,
) -> None:
    await store.save_scope(Scope("b:b", "Mine", enabled=False))
    seen: list[tuple[int, int]] = []
    result = await sync_scopes(store, ["a:a", "b:b", "c:c", "a:a", "d:d"],
                               progress=lambda done, total: seen.append((done, total)))
    assert [s.identifier for s in result.added] == ["a:a", "c:c", "d:d"]
    assert result.existing == (Scope("b:b", "Mine", False),) and not result.dry_run
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert [s.title for s in await store.list_scopes()] == ["A A", "Mine", "C C", "D D"]


async def test_sync_scopes_dry_run_writes_nothing(store: TokenStore) -> None:
    result = await sync_scopes(store, ["a:a"], dry_run=True)
    assert result.added == (Scope("a:a", "A A"),) and result.dry_run
    assert await store.list_scopes() == []


async def test_a_scope_registered_meanwhile_counts_as_existing(store: TokenStore) -> None:
    """Between sync's read and its write someone registers the scope: theirs is kept."""
    real_get = store.get_scopes
    calls = 0

    async def racing_get(identifiers: object) -> dict[str, Scope]:
        nonlocal calls
        calls += 1
        found = await real_get(identifiers)  # type: ignore[arg-type]
        if calls == 1:
            await store.save_scope(Scope("a:a", "Theirs"))
        return found

    store.get_scopes = racing_get  # type: ignore[method-assign,assignment]
    result = await sync_scopes(store, ["a:a"])
    assert result.added == () and result.existing == (Scope("a:a", "Theirs"),)
    assert await store.list_scopes() == [Scope("a:a", "Theirs")]
