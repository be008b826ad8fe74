"""The events stream itself (store ``_events``): appends bounded, pages newest first,
a follower that waits a bounded time, on every backend."""

from __future__ import annotations

import pytest

from oauth_middleware.store import TokenStore
from tests.store_helpers import redis_of


async def test_follow_returns_what_came_after_an_id_and_nothing_after_a_bounded_wait(
        store: TokenStore) -> None:
    events = store.events
    first = await events.append({"type": "login.succeeded", "user": "a"}, 10)
    second = await events.append({"type": "login.failed", "user": "b"}, 10)
    after_first = await events.follow(first, 10, 100)
    assert after_first == [(second, {"type": "login.failed", "user": "b"})]
    assert await events.follow(second, 10, 50) == []
    assert await events.page(None, 1) == [(second, {"type": "login.failed", "user": "b"})]
    assert await events.page(second, 5) == [(first, {"type": "login.succeeded", "user": "a"})]


@pytest.mark.rule("abuse.bounded.audit-stream")
async def test_every_append_trims_the_stream_to_about_its_retention(store: TokenStore) -> None:
    for i in range(350):
        await store.events.append({"type": "login.failed", "user": str(i)}, 100)
    length = await redis_of(store).xlen(store.keys.events)
    assert 100 <= length <= 200
    assert await store.events.length() == length
