"""Scope discovery finds exactly what the middleware enforces, and sync_app registers it."""

from __future__ import annotations

import httpx

from oauth_middleware.discovery import ScopeNeed, middleware_policies, required_scopes, sync_app
from oauth_middleware.models import Scope
from oauth_middleware.store import NewTokens, TokenStore
from tests.apps import build_app
from tests.cli import sync_apps


async def test_every_discovered_scope_is_the_one_the_middleware_demands(
    store: TokenStore,
) -> None:
    """For each route discovery names, a token without scopes gets 403 naming that scope."""
    app = build_app(store)
    needs = required_scopes(app)
    assert [n.identifier for n in needs] == [
        "extra:scope", "my_polls:my_stats", "polls:auto_decorated", "polls:results", "polls:vote"]
    token = (await store.issue(NewTokens(client_id="web", subject="alice"))).access_token
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        for need in needs:
            for where in need.routes:
                method, _, path = where.rpartition(" ")
                response = await client.request(
                    method or "GET", path.replace("{poll_id}", "1"),
                    headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 403, where
                challenge = response.headers["www-authenticate"]
                assert f'scope="{need.identifier}"' in challenge, where


def test_routes_are_reported_per_scope_without_head_twins() -> None:
    assert required_scopes(sync_apps.plain_mount_app()) == [
        ScopeNeed("items:admin", ("PUT /api/items",)),
        ScopeNeed("items:write", ("PUT /api/items",)),
        ScopeNeed("tests:listing", ("/api/items",)),
        ScopeNeed("tests:report", ("GET /api/report",)),
    ]


def test_middleware_policies_come_from_user_middleware_or_the_instance() -> None:
    assert len(middleware_policies(sync_apps.app)) == 1
    assert middleware_policies(sync_apps.wrapped) == [sync_apps.wrapped.policy]
    assert middleware_policies(sync_apps.bare) == []


async def test_sync_app_registers_what_is_missing_once(store: TokenStore) -> None:
    await store.save_scope(Scope("polls:vote", "Vote", enabled=False))
    first = await sync_app(store, sync_apps.app)
    assert [s.identifier for s in first.added] == [
        "extra:scope", "my_polls:my_stats", "polls:auto_decorated", "polls:results"]
    assert first.existing == (Scope("polls:vote", "Vote", enabled=False),)
    second = await sync_app(store, sync_apps.app)
    assert second.added == () and len(second.existing) == 5
    assert (await store.get_scopes(["polls:results"]))["polls:results"].title == "Polls Results"
