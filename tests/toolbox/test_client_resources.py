"""A client's resources (RFC 8707) through ensure_client and update_client."""

from __future__ import annotations

import json

import pytest

from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import ensure_client, register_client, update_client
from tests.store_helpers import redis_of

MCP = "https://mcp.example/mcp"
OTHER = "https://other.example/api"


async def test_ensure_client_creates_and_then_changes_the_resources(store: TokenStore) -> None:
    first = await ensure_client(store, "svc", "Service", public=False,
                                grant_types=["client_credentials"], resources=[MCP, MCP])
    assert (first.outcome, first.client.resources) == ("created", (MCP,))
    same = await ensure_client(store, "svc", "Service", public=False,
                               grant_types=["client_credentials"], resources=[MCP])
    assert same.outcome == "unchanged"
    changed = await ensure_client(store, "svc", "Service", public=False,
                                  grant_types=["client_credentials"], resources=[OTHER])
    assert (changed.outcome, changed.client.resources) == ("updated", (OTHER,))
    with pytest.raises(ValueError, match="absolute URI"):
        await ensure_client(store, "svc", "Service", public=False,
                            grant_types=["client_credentials"], resources=["mcp"])
    assert await store.get_client("svc") == changed.client


async def test_update_client_sets_keeps_and_clears_the_resources(store: TokenStore) -> None:
    await register_client(store, "Tool", "tool", "https://a.example/cb", resources=[MCP])
    kept = await update_client(store, "tool", title="Tool 2")
    assert kept.client.resources == (MCP,)
    changed = await update_client(store, "tool", resources=[MCP, OTHER])
    assert changed.client.resources == (MCP, OTHER)
    cleared = await update_client(store, "tool", resources=[])
    assert cleared.client.resources == ()
    raw = await redis_of(store).get(store.keys.client("tool"))
    assert raw is not None and "resources" not in json.loads(raw)
