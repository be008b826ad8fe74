"""Issuing a grant as a Redis Cluster does it, three scripts of three hash tags (two for a
client acting for itself), run here on one server too (``store/_grants.py``, ``_write``).

The store takes the split path whenever its gateway is a cluster's; setting that flag on
fakeredis or one redis-server runs the same decisions in process: the grant written, its
two index entries, the cap's displaced grant swept, a removed client refused with nothing
left. Every test also takes ``single_slot``: each script's keys must share one slot, as a
cluster demands. Routing to the nodes is tests/test_cluster.py's part.
"""

from __future__ import annotations

from typing import Literal

import pytest

from oauth_middleware.models import Client
from oauth_middleware.store import ClientRemoved, NewTokens, StoreNotDurable, TokenStore
from oauth_middleware.store._gateway.durability import Durability
from tests.conftest import FakeClock
from tests.store_helpers import gateway, redis_of, texts
from tests.test_durability_wait import Replicas, _faking


@pytest.fixture
def split(store: TokenStore, monkeypatch: pytest.MonkeyPatch, single_slot: list[str]
          ) -> TokenStore:
    monkeypatch.setattr(gateway(store), "cluster", True)
    return store


async def _client(store: TokenStore, client_id: str = "svc") -> Client:
    await store.save_client(Client(client_id=client_id, title=client_id,
                                   redirect_uris=("https://app.test/cb",), public=True))
    client = await store.get_client(client_id)
    assert client is not None
    return client


def _capped(store: TokenStore, clock: FakeClock, **caps: int) -> TokenStore:
    return TokenStore(gateway(store), prefix=store.keys.prefix, clock=clock, **caps)


async def _index(store: TokenStore, key: str) -> list[str]:
    return sorted(texts(await redis_of(store).zrange(key, 0, -1)))


async def _token_keys(store: TokenStore) -> list[str]:
    prefix = store.keys.prefix
    return sorted(key for key in texts([k async for k in redis_of(store).scan_iter(
        match=f"{prefix}*")]) if key.startswith((f"{prefix}at:", f"{prefix}rt:")))


@pytest.mark.rule("abuse.bounded.grants-per-user")
async def test_a_users_grant_is_written_and_indexed_and_displaces_past_the_cap(
    split: TokenStore, clock: FakeClock,
) -> None:
    client = await _client(split)
    capped = _capped(split, clock, max_grants_per_user=1)
    spec = NewTokens(client_id="svc", subject="alice", client_generation=client.generation)
    first = await capped.issue(spec)
    second = await capped.issue(spec)
    assert await capped.resolve(first.access_token) is None
    assert await capped.resolve(second.access_token) == second.token
    grant = second.token.grant_id
    assert await _index(split, split.keys.user_index("alice")) == [grant]
    assert await _index(split, split.keys.client_index("svc")) == [grant]


@pytest.mark.rule("abuse.bounded.grants-per-client")
async def test_a_clients_own_grant_is_written_and_indexed_and_displaces_past_the_cap(
    split: TokenStore, clock: FakeClock,
) -> None:
    client = await _client(split)
    capped = _capped(split, clock, max_grants_per_client=1)
    spec = NewTokens(client_id="svc", subject="svc", subject_type="client",
                     client_generation=client.generation)
    first = await capped.issue(spec)
    second = await capped.issue(spec)
    assert await capped.resolve(first.access_token) is None
    assert await capped.resolve(second.access_token) == second.token
    assert await _index(split, split.keys.client_index("svc")) == [second.token.grant_id]
    assert len(await _token_keys(split)) == 1  # the second grant's one access token


@pytest.mark.rule("revoke.client-removed")
@pytest.mark.parametrize(("subject", "subject_type"), [
    ("alice", "user"), ("svc", "client"),
    ("svc", "user"),  # a person whose name is the client id: their index has another tag
])
async def test_a_grant_for_a_client_removed_meanwhile_is_refused_and_leaves_nothing(
    split: TokenStore, subject: str, subject_type: Literal["user", "client"],
) -> None:
    client = await _client(split)
    assert await split.delete_client("svc")
    with pytest.raises(ClientRemoved):
        await split.issue(NewTokens(client_id="svc", subject=subject, subject_type=subject_type,
                                    client_generation=client.generation))
    assert await _token_keys(split) == []
    assert await redis_of(split).exists(split.keys.client_index("svc"),
                                        split.keys.subject_index(subject, subject_type)) == 0


@pytest.mark.not_on_cluster  # drives one node's connection (a faked WAIT)
@pytest.mark.rule("redis.durable-writes", "exchange.chain-revocation")
@pytest.mark.parametrize("cluster", [False, True])
async def test_an_exchanged_grant_is_a_durable_write(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
    cluster: bool,
) -> None:
    """Its link under the parent must survive a failover with it: with no replica
    confirming, the exchange is a 503 (whatever it wrote on the primary)."""
    if cluster:  # one server's ISSUE spans tags by design: only the split path is checked
        request.getfixturevalue("single_slot")
        monkeypatch.setattr(gateway(store), "cluster", True)
    parent = await store.issue(NewTokens(client_id="web", subject="alice"))
    replicas = Replicas(0)
    await _faking(store, replicas, monkeypatch)
    gateway(store).durability = Durability(1, 20)
    with pytest.raises(StoreNotDurable):
        await store.issue_exchanged(NewTokens(
            client_id="api-b", subject="alice", parent_grant=parent.token.grant_id,
            exchange_depth=1), parent.access_token)
    assert replicas.waits
