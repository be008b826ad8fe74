"""Coalesced token lookups (store/_gateway/batch.py): one round trip per loop tick, exact."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from oauth_middleware.store import NewTokens, StoreUnavailable, TokenStore
from oauth_middleware.store._codec import dump
from tests.store_helpers import gateway, redis_of, texts

#: Drives one node's client and connection pool (a cluster's go by node: tests/test_cluster.py).
pytestmark = pytest.mark.not_on_cluster


def _spec(subject: str = "alice") -> NewTokens:
    return NewTokens(client_id="web", subject=subject, scopes=frozenset({"polls:vote"}))


class Counting:
    """Wraps ``redis_of(store).execute_command`` to record every command sent."""

    def __init__(self, store: TokenStore) -> None:
        self.store = store
        self.calls: list[tuple[Any, ...]] = []
        self.original: Any = redis_of(store).execute_command

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(args)
        return await self.original(*args, **kwargs)

    def __enter__(self) -> Counting:
        redis_of(self.store).execute_command = self  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        redis_of(self.store).execute_command = self.original  # type: ignore[method-assign]


async def test_concurrent_lookups_share_one_mget(store: TokenStore) -> None:
    tokens = [(await store.issue(_spec(f"user{i}"))).access_token for i in range(5)]
    with Counting(store) as counting:
        records = await asyncio.gather(*(store.resolve(t) for t in tokens))
    assert [r.subject for r in records if r is not None] == [f"user{i}" for i in range(5)]
    assert [c[0] for c in counting.calls] == ["MGET"]
    assert len(counting.calls[0]) == 1 + 5


async def test_a_token_asked_twice_in_one_batch_is_read_twice(store: TokenStore) -> None:
    token = (await store.issue(_spec())).access_token
    with Counting(store) as counting:
        first, second = await asyncio.gather(store.resolve(token), store.resolve(token))
    assert first is not None and first == second
    assert [c[0] for c in counting.calls] == ["MGET"]
    assert counting.calls[0][1] == counting.calls[0][2]


async def test_each_lookup_in_a_batch_gets_its_own_answer(store: TokenStore) -> None:
    live = await store.issue(_spec("live"))
    revoked = await store.issue(_spec("revoked"))
    await store.revoke_token(revoked.access_token)
    unknown = f"{live.token.grant_id}.{'A' * 43}"
    with Counting(store) as counting:
        answers = await asyncio.gather(
            store.resolve(live.access_token), store.resolve(revoked.access_token),
            store.resolve(unknown), store.resolve("malformed"),
        )
    assert list(answers) == [live.token, None, None, None]
    assert [c[0] for c in counting.calls] == ["MGET"]  # the malformed one never reaches Redis


async def test_sequential_lookups_each_read_redis(store: TokenStore) -> None:
    token = (await store.issue(_spec())).access_token
    with Counting(store) as counting:
        for _ in range(3):
            assert await store.resolve(token) is not None
    assert [c[0] for c in counting.calls] == ["GET", "GET", "GET"]


async def test_revocation_is_seen_by_the_next_lookup(store: TokenStore) -> None:
    issued = await store.issue(_spec())
    assert await store.resolve(issued.access_token) == issued.token
    await store.revoke_token(issued.access_token)
    assert await store.resolve(issued.access_token) is None


async def test_a_failed_batch_fails_every_lookup_with_its_own_store_unavailable(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = [(await store.issue(_spec(f"user{i}"))).access_token for i in range(3)]

    async def broken(*args: object, **kwargs: object) -> object:
        raise RedisConnectionError("connection refused by 127.0.0.1:6379")

    monkeypatch.setattr(redis_of(store), "execute_command", broken)
    results = await asyncio.gather(*(store.resolve(t) for t in tokens), return_exceptions=True)
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert len({id(r) for r in results}) == 3
    for error in results:
        assert isinstance(error, StoreUnavailable)
        assert str(error) == "the token store is unavailable"
        assert error.__cause__ is None and error.__suppress_context__


async def test_a_cancelled_lookup_leaves_the_rest_of_its_batch_answered(
    store: TokenStore,
) -> None:
    tokens = [(await store.issue(_spec(f"user{i}"))).access_token for i in range(3)]
    tasks = [asyncio.ensure_future(store.resolve(t)) for t in tokens]
    await asyncio.sleep(0)  # every lookup is now queued in the same batch
    tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError)
    assert [getattr(r, "subject", None) for r in (done[0], done[2])] == ["user0", "user2"]


async def test_an_unexpected_error_reaches_every_lookup_unchanged(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = (await store.issue(_spec())).access_token

    async def buggy(*args: object, **kwargs: object) -> object:
        raise ZeroDivisionError

    monkeypatch.setattr(redis_of(store), "execute_command", buggy)
    results = await asyncio.gather(store.resolve(token), store.resolve(token),
                                   return_exceptions=True)
    assert all(isinstance(r, ZeroDivisionError) for r in results)


async def test_decoded_records_are_reused_only_for_identical_bytes(store: TokenStore) -> None:
    issued = await store.issue(_spec())
    first = await store.resolve(issued.access_token)
    assert first is not None and first is await store.resolve(issued.access_token)
    key = next(k for k in texts(await redis_of(store).keys("*at:*")))
    changed = NewTokens(client_id="web", subject="bob", scopes=frozenset({"polls:vote"}))
    other = (await store.issue(changed)).token
    await redis_of(store).set(key, dump(other), keepttl=True)
    assert await store.resolve(issued.access_token) == other


def test_a_batch_stranded_on_a_stopped_loop_does_not_block_the_next_loop() -> None:
    store = TokenStore.from_url(None)
    first = asyncio.new_event_loop()

    async def queue_then_stop() -> None:
        gateway(store)._batch.get(store.keys.access("g" * 22, "0" * 64))
        first.stop()  # the flush scheduled for this batch never runs

    first.run_until_complete(queue_then_stop())
    first.close()

    async def resolve_soon() -> object:
        issued = await store.issue(_spec())
        async with asyncio.timeout(5):
            return await store.resolve(issued.access_token)

    assert asyncio.run(resolve_soon()) is not None
