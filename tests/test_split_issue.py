"""Issuing a grant as a Redis Cluster does it, three scripts of three hash tags (two for a
client acting for itself), run here on one server too (``store/_grants.py``, ``_write``).

The store takes the split path whenever its gateway is a cluster's; setting that flag on
fakeredis or one redis-server runs the same decisions in process: the grant written, its
two index entries, the cap's displaced grant swept, a removed client refused with nothing
left. Every test also takes ``single_slot``: each script's keys must share one slot, as a
cluster demands. Routing to the nodes is tests/test_cluster.py's part.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest

from oauth_middleware.models import Client
from oauth_middleware.store import ClientRemoved, NewTokens, StoreNotDurable, TokenStore, _sweep
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
    assert await _index(split, split.keys.own_index("svc")) == [second.token.grant_id]
    assert len(await _token_keys(split)) == 1  # the second grant's one access token
    # the swept first grant leaves the client's index with the next issue, in its INDEXES
    assert await _index(split, split.keys.client_index("svc")) == sorted(
        [first.token.grant_id, second.token.grant_id])
    third = await capped.issue(spec)
    assert await _index(split, split.keys.client_index("svc")) == sorted(
        [second.token.grant_id, third.token.grant_id])
    assert await capped.resolve(second.access_token) is None
    assert len(await _token_keys(split)) == 1


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


@pytest.mark.rule("abuse.bounded.grants-per-client", "revoke.index-bounded")
async def test_a_displaced_own_grant_left_in_its_client_index_is_dead_and_swept_with_the_client(
    split: TokenStore, clock: FakeClock,
) -> None:
    """A client's own grant displaced by the cap is swept at once, and its entry in the
    client's index waits for that process's next issue of the client. A process that ends
    first (another store here, which holds nothing) leaves the entry for good: it names
    a dead grant, listing shows no token for it, and revoking the client's grants revokes
    every live one and leaves no index behind."""
    client = await _client(split)
    spec = NewTokens(client_id="svc", subject="svc", subject_type="client",
                     client_generation=client.generation)
    ended = _capped(split, clock, max_grants_per_client=1)
    first = await ended.issue(spec)
    second = await ended.issue(spec)
    third = await _capped(split, clock, max_grants_per_client=1).issue(spec)
    k = split.keys
    assert await _index(split, k.client_index("svc")) == sorted(
        [first.token.grant_id, second.token.grant_id, third.token.grant_id])
    assert await redis_of(split).exists(k.members(first.token.grant_id),
                                        k.members(second.token.grant_id)) == 0
    _, listed = await split.list_tokens(client_id="svc")
    assert [t.grant_id for t in listed] == [third.token.grant_id]
    gateway(split).durability = Durability(0)  # one server posing as a cluster: no replica
    assert await split.revoke_client_tokens("svc") == 1  # the third grant's access token
    assert await split.resolve(third.access_token) is None
    assert await redis_of(split).exists(k.client_index("svc"), k.own_index("svc")) == 0


@pytest.mark.rule("abuse.bounded.memory", "abuse.bounded.grants-per-client")
async def test_swept_ids_held_for_the_next_issue_are_bounded_past_which_they_leave_at_once(
    split: TokenStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process holds at most ``DEFERRED_UNINDEX`` swept ids for their clients' next
    issues, however many clients stop issuing at their cap: past it, a sweep drops its
    entries from the client's index at once (a ``ZREM`` of its own)."""
    monkeypatch.setattr(_sweep, "DEFERRED_UNINDEX", 1)
    capped = _capped(split, clock, max_grants_per_client=1)
    sent: list[Any] = []
    original = gateway(split)._exchange

    async def logged(commands: Any, *args: Any, **kwargs: Any) -> Any:
        sent.extend(commands)
        return await original(commands, *args, **kwargs)

    monkeypatch.setattr(gateway(split), "_exchange", logged)
    for name in ("svc", "svc2"):
        client = await _client(split, name)
        spec = NewTokens(client_id=name, subject=name, subject_type="client",
                         client_generation=client.generation)
        first = await capped.issue(spec)
        sent.clear()
        second = await capped.issue(spec)
        removals = [texts(c[1:]) for c in sent if c[0] == "ZREM"]
        indexed = [second.token.grant_id] if removals else sorted(
            [first.token.grant_id, second.token.grant_id])
        assert await _index(split, split.keys.client_index(name)) == indexed
    assert removals == [[split.keys.client_index("svc2"), first.token.grant_id]]
