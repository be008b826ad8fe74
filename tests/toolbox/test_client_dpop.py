"""``ensure_client(require_dpop=...)`` (RFC 9449 §5.2): provisioning sets the switch, and a
later call without it clears it, as for every field provisioning owns."""

from __future__ import annotations

import pytest

from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import ensure_client

CB = "https://a.example/cb"


@pytest.mark.rule("dpop.server.require")
async def test_ensure_client_sets_and_clears_require_dpop(store: TokenStore) -> None:
    ensured = await ensure_client(store, "svc", "Service", redirect_uris=CB, require_dpop=True)
    assert ensured.client.require_dpop is True and ensured.outcome == "created"
    stored = await store.get_client("svc")
    assert stored is not None and stored.require_dpop is True
    same = await ensure_client(store, "svc", "Service", redirect_uris=CB, require_dpop=True)
    assert same.outcome == "unchanged"
    again = await ensure_client(store, "svc", "Service", redirect_uris=CB)
    assert again.client.require_dpop is False and again.outcome == "updated"
    with pytest.raises(TypeError, match="require_dpop"):
        await ensure_client(store, "bad", "Bad", redirect_uris=CB,
                            require_dpop="yes")  # type: ignore[arg-type]
