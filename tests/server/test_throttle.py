"""Brute-force counters (RFC 6749 §2.3.1): windows end by the store's clock, Redis tidies up."""

from __future__ import annotations

import pytest

from oauth_middleware.errors import SlowDown
from oauth_middleware.server import ThrottlePolicy
from oauth_middleware.server.throttle import Throttle
from oauth_middleware.store import TokenStore
from tests.conftest import FakeClock


@pytest.mark.rule("abuse.throttle")
async def test_window_starts_at_the_first_failure_and_is_not_extended(
    store: TokenStore, clock: FakeClock
) -> None:
    assert await store.count_failure("client", "web", window=60) == (1, 60)
    clock.advance(20)
    assert await store.count_failure("client", "web", window=60) == (2, 40)
    assert await store.failures("client", "web") == (2, 40)


@pytest.mark.rule("abuse.throttle")
async def test_window_ends_by_the_clock_and_counting_starts_again(
    store: TokenStore, clock: FakeClock
) -> None:
    for _ in range(3):
        await store.count_failure("client", "web", window=60)
    clock.advance(60)
    assert await store.failures("client", "web") == (0, 0)
    assert await store.count_failure("client", "web", window=60) == (1, 60)


@pytest.mark.rule("abuse.throttle", "rest.no-raw-secrets")
async def test_counter_key_expires_with_its_window_and_holds_no_raw_key(
    store: TokenStore
) -> None:
    await store.count_failure("password", "alice@example.com", window=60)
    keys = [k.decode() async for k in store.redis.scan_iter(match=f"{store.keys.prefix}throttle:*")]
    assert len(keys) == 1 and "alice" not in keys[0]
    assert 0 < await store.redis.pttl(keys[0]) <= 60_000


@pytest.mark.rule("abuse.throttle")
async def test_throttle_refuses_at_the_limit_with_the_time_left(
    store: TokenStore, clock: FakeClock
) -> None:
    throttle = Throttle(store, ThrottlePolicy(password_failures=2, window=30))
    assert await throttle.check("password", "alice") == 0
    await throttle.failed("password", "alice")
    clock.advance(10)
    await throttle.failed("password", "alice")
    with pytest.raises(SlowDown) as refused:
        await throttle.check("password", "alice")
    assert refused.value.headers == {"Retry-After": "20"}
    assert await throttle.check("password", "bob") == 0
    await throttle.succeeded("password", "alice", 2)
    assert await throttle.check("password", "alice") == 0
