"""Every write a failover must not lose goes out durable (store repositories over the gateway).

A code redemption, a refresh rotation, an access token's revocation and a grant's
revocation each end with ``WAIT``: confirmed by the required replicas they succeed;
not confirmed they fail with :class:`StoreNotDurable` (a 503), done on the primary all
the same. The ``WAIT`` reply is faked at the connection (tests/test_durability_wait.py).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from oauth_middleware.models import AuthorizationCode
from oauth_middleware.store import NewTokens, StoreNotDurable, TokenStore
from oauth_middleware.store._gateway.durability import Durability
from tests.store_helpers import gateway, get_code, get_refresh
from tests.test_durability_wait import Replicas, _faking

# They drive one node's connection (faked replies, WAIT, pool): the cluster's routing is
# proven by tests/test_cluster.py.
pytestmark = pytest.mark.not_on_cluster

SPEC = NewTokens(client_id="web", subject="alice", scopes=frozenset({"read"}), refresh=True)
CODE = AuthorizationCode(grant_id="", client_id="web", subject="alice",
                         redirect_uri="https://app.example/cb", redirect_uri_explicit=True,
                         scopes=frozenset({"read"}))


async def _durable(store: TokenStore, acked: int, monkeypatch: pytest.MonkeyPatch) -> Replicas:
    replicas = Replicas(acked)
    await _faking(store, replicas, monkeypatch)
    gateway(store).durability = Durability(1, 20)
    return replicas


@pytest.mark.rule("redis.durable-writes")
@pytest.mark.parametrize("acked", [1, 0])
async def test_a_code_redemption_waits_for_its_replica(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch, acked: int,
) -> None:
    code = await store.create_code(CODE)
    record = await get_code(store, code)
    assert record is not None
    replicas = await _durable(store, acked, monkeypatch)
    if acked:
        issued = await store.redeem_code(code, record, SPEC)
        assert issued is not None and await store.resolve(issued.access_token) is not None
    else:
        with pytest.raises(StoreNotDurable):
            await store.redeem_code(code, record, SPEC)
    used = await get_code(store, code)
    assert used is not None and used.used  # done on the primary either way
    assert replicas.waits and set(replicas.waits) == {(1, 20)}  # (resent once a script loads)


@pytest.mark.rule("redis.durable-writes")
@pytest.mark.parametrize("acked", [1, 0])
async def test_a_refresh_rotation_waits_for_its_replica(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch, acked: int,
) -> None:
    issued = await store.issue(SPEC)
    assert issued.refresh_token is not None
    record = await get_refresh(store, issued.refresh_token)
    assert record is not None
    replicas = await _durable(store, acked, monkeypatch)
    if acked:
        assert await store.rotate_refresh(issued.refresh_token, record, SPEC) is not None
    else:
        with pytest.raises(StoreNotDurable):
            await store.rotate_refresh(issued.refresh_token, record, SPEC)
    retired = await get_refresh(store, issued.refresh_token)
    assert retired is not None and retired.rotated
    assert replicas.waits and set(replicas.waits) == {(1, 20)}  # (resent once a script loads)


@pytest.mark.rule("redis.durable-writes")
@pytest.mark.parametrize("acked", [1, 0])
@pytest.mark.parametrize("which", ["access token", "refresh token (its grant)"])
async def test_a_revocation_waits_for_its_replica(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch, acked: int, which: str,
) -> None:
    issued = await store.issue(SPEC)
    token = issued.access_token if which == "access token" else issued.refresh_token
    assert token is not None
    replicas = await _durable(store, acked, monkeypatch)
    if acked:
        assert await store.revoke_token(token)
    else:
        with pytest.raises(StoreNotDurable):
            await store.revoke_token(token)
    assert await store.resolve(issued.access_token) is None  # gone on the primary
    assert replicas.waits and set(replicas.waits) == {(1, 20)}  # (resent once a script loads)


async def test_a_write_that_needs_no_failover_guarantee_sends_no_wait(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    replicas = await _durable(store, 0, monkeypatch)
    issued = await store.issue(replace(SPEC, refresh=False))
    assert await store.resolve(issued.access_token) is not None
    assert replicas.waits == []
