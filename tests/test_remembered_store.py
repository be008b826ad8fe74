"""The store's remembered consents: merged atomically, bounded per user, listed and forgotten."""

from __future__ import annotations

import asyncio

import pytest

from oauth_middleware import TokenStore, register_client
from oauth_middleware.models import Client
from oauth_middleware.store.keys import kind_of
from oauth_middleware.store.transfer import unknown_keys
from tests.conftest import FakeClock
from tests.store_helpers import redis_of, texts
from tests.transfer_harness import exported, imported, lines

LIFETIME = 3600


async def clients(store: TokenStore, n: int) -> list[Client]:
    return [(await register_client(store, f"C{i}", f"c{i}", "https://c.example/cb",
                                   scopes_list=["a", "b", "c"])).client for i in range(n)]


async def remember(store: TokenStore, user: str, client: Client, approved: list[str],
                   declined: list[str] | None = None, *, cap: int = 100) -> int:
    return await store.remember_consent(user, client.client_id,
                                        client_generation=client.generation, approved=approved,
                                        declined=declined or [], lifetime=LIFETIME, cap=cap)


async def stored(store: TokenStore, user: str) -> tuple[set[str], set[str]]:
    redis = redis_of(store)
    fields = set(texts(await redis.hkeys(store.keys.remembered(user))))
    members = set(texts(await redis.zrange(store.keys.remembered_index(user), 0, -1)))
    return fields, members


async def test_approvals_merge_and_unticked_scopes_are_removed(store: TokenStore) -> None:
    [client] = await clients(store, 1)
    assert await remember(store, "alice", client, ["a"]) == 1
    assert await remember(store, "alice", client, ["b"]) == 2
    assert await remember(store, "alice", client, ["c"], ["a"]) == 2
    assert await store.remembered_consent("alice", "c0") == {"b", "c"}
    assert await remember(store, "alice", client, [], ["b", "c"]) == 0
    assert await store.remembered_consent("alice", "c0") == frozenset()
    assert await stored(store, "alice") == (set(), set())


async def test_an_expired_entry_is_not_merged_into_a_new_approval(
    store: TokenStore, clock: FakeClock,
) -> None:
    [client] = await clients(store, 1)
    await remember(store, "alice", client, ["a", "b"])
    clock.advance(LIFETIME + 1)
    assert await store.remembered_consent("alice", "c0") == frozenset()
    await remember(store, "alice", client, ["c"])
    assert await store.remembered_consent("alice", "c0") == {"c"}


async def test_an_approval_for_an_earlier_registration_is_not_merged(store: TokenStore) -> None:
    [client] = await clients(store, 1)
    await store.remember_consent("alice", "c0", client_generation="old", approved=["a"],
                                 lifetime=LIFETIME)
    assert await store.remembered_consent("alice", "c0") == frozenset()
    await remember(store, "alice", client, ["b"])
    assert await store.remembered_consent("alice", "c0") == {"b"}


@pytest.mark.rule("abuse.bounded.remembered-consents", "abuse.bounded-storage")
async def test_a_user_keeps_at_most_cap_clients_the_oldest_dropped(
    store: TokenStore, clock: FakeClock,
) -> None:
    many = await clients(store, 25)
    for client in many:
        clock.advance(1)
        await remember(store, "alice", client, ["a"], cap=10)
    fields, members = await stored(store, "alice")
    assert fields == members == {f"c{i}" for i in range(15, 25)}
    assert await store.remembered_consent("alice", "c14") == frozenset()
    assert await store.remembered_consent("alice", "c24") == {"a"}


@pytest.mark.rule("abuse.bounded.remembered-consents")
async def test_fifty_concurrent_approvals_never_overshoot_the_cap(store: TokenStore) -> None:
    many = await clients(store, 50)
    await asyncio.gather(*(remember(store, "alice", c, ["a"], cap=10) for c in many))
    fields, members = await stored(store, "alice")
    assert len(fields) == 10 and fields == members


async def test_fifty_concurrent_approvals_of_one_client_lose_no_scope(store: TokenStore) -> None:
    [client] = await clients(store, 1)
    scopes = [f"s{i}" for i in range(50)]
    await asyncio.gather(*(remember(store, "alice", client, [s]) for s in scopes))
    assert await store.remembered_consent("alice", "c0") == set(scopes)


async def test_listing_by_user_by_client_and_all_and_forgetting(store: TokenStore) -> None:
    first, second = await clients(store, 2)
    await remember(store, "alice", first, ["a"])
    await remember(store, "alice", second, ["b"])
    await remember(store, "bob", first, ["c"])
    _, alices = await store.list_remembered_consents(user="alice")
    assert [(r.user, r.client_id, r.scopes) for r in alices] == [
        ("alice", "c0", frozenset({"a"})), ("alice", "c1", frozenset({"b"}))]
    found, cursor = [], 0
    while True:
        cursor, page = await store.list_remembered_consents(client_id="c0", cursor=cursor,
                                                            count=1)
        found += [(r.user, r.client_id) for r in page]
        if not cursor:
            break
    assert sorted(found) == [("alice", "c0"), ("bob", "c0")]
    assert await store.forget_consent("alice", "c0") == 1
    assert await store.forget_consent("alice", "c0") == 0
    assert await store.remembered_consent("alice", "c1") == {"b"}
    assert await store.forget_client_consents("c1") == 1
    assert await store.forget_consent("bob") == 1
    assert (await store.list_remembered_consents()) == (0, [])


async def test_the_keys_name_one_user_share_a_hash_tag_and_are_in_the_schema(
    store: TokenStore,
) -> None:
    keys = store.keys
    record, index = keys.remembered("alice"), keys.remembered_index("alice")
    assert record[record.index("{"):record.index("}") + 1] == \
        index[index.index("{"):index.index("}") + 1]
    prefix = len(keys.prefix)
    assert (kind_of(record[prefix:]), kind_of(index[prefix:])) == (
        "remembered_consents", "remembered_index")
    assert "alice" not in record


async def test_remembered_consents_travel_through_export_and_import(
    store: TokenStore, clock: FakeClock,
) -> None:
    [client] = await clients(store, 1)
    await remember(store, "alice", client, ["a", "b"])
    text = await exported(store)
    kinds = {row["kind"] for row in lines(text)[1:]}
    assert {"remembered_consents", "remembered_index"} <= kinds
    assert [key async for key in unknown_keys(store)] == []
    await redis_of(store).flushdb()
    await imported(store, text)
    assert await store.remembered_consent("alice", "c0") == {"a", "b"}
    pttl = await redis_of(store).pttl(store.keys.remembered_index("alice"))
    assert 0 < pttl <= LIFETIME * 1000
