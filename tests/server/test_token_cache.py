"""The token family with the local cache on (store/_gateway/cache.py, readthrough.py): clients and
the scope registry come from the cache, and every change to them, made anywhere, is obeyed as
soon as Redis has told this process (RFC 6749 §2.3.1, §3.3). Throttle counters are read from
Redis on every request (unauthenticated requests write them; tracking them would send every
worker a message per failure), so failures counted anywhere count at once.

"As soon as" is proven by waiting for the cache to apply Redis's invalidation (its
``invalidations`` counter), never by sleeping; a change this process makes itself needs no
waiting at all. Commands are counted on the real redis-server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from oauth_middleware.models import Scope
from oauth_middleware.server import ThrottlePolicy
from oauth_middleware.store import TokenStore
from oauth_middleware.store._gateway.cache import TokenCache
from oauth_middleware.toolbox import RegisteredClient, rotate_secret
from tests.conftest import FakeClock
from tests.polling import until
from tests.redis_process import RedisProcess
from tests.server.token_harness import (
    TOKEN_PATH,
    assert_error,
    assert_invalid_client,
    auth_of,
    basic,
    build_app,
    confidential,
    http,
)
from tests.store_helpers import cache_of, clear_failures, count_failure, redis_of

#: Failed client authentications before 429 in these tests.
LIMIT = 3
#: What reading a client, its counters or the scope registry would cost in Redis.
READS = {"get", "mget", "hmget", "hgetall"}


@pytest.fixture
async def elsewhere(own_redis: RedisProcess, clock: FakeClock) -> AsyncIterator[TokenStore]:
    """Another process's view of the same Redis (the admin, the CLI, another worker)."""
    store = TokenStore.from_url(own_redis.url, clock=clock)
    yield store
    await store.aclose()


@pytest.fixture
async def client(cached: TokenStore) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(cached, throttle=ThrottlePolicy(client_failures=LIMIT))
    async with http(app) as c:
        yield c


@pytest.fixture
async def web(cached: TokenStore) -> RegisteredClient:
    return await confidential(cached)


def _cache(store: TokenStore) -> TokenCache:
    assert cache_of(store) is not None
    return cache_of(store)


async def _cc(client: httpx.AsyncClient, auth: dict[str, str], scope: str = "read"
              ) -> httpx.Response:
    return await client.post(TOKEN_PATH, data={"grant_type": "client_credentials",
                                                "scope": scope}, headers=auth)


async def _warm(store: TokenStore, client: httpx.AsyncClient, web: RegisteredClient) -> None:
    """Serve requests until the client, its counters and the registry are cached."""
    cache = _cache(store)
    assert (await _cc(client, auth_of(web))).status_code == 200
    await until(lambda: cache.serving, "the cache serves")
    assert (await _cc(client, auth_of(web))).status_code == 200
    assert store.keys.client("web") in cache.records
    assert store.keys.scopes in cache.records


async def _after(store: TokenStore, change: Callable[[], Awaitable[Any]]) -> None:
    """Make ``change`` elsewhere and wait until this process has applied Redis's word on it."""
    cache = _cache(store)
    seen = cache.invalidations
    await change()
    await until(lambda: cache.invalidations > seen, "the invalidation arrived")


async def _commands(counter: aioredis.Redis) -> dict[str, int]:
    stats = await counter.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()
            if not k.startswith(("cmdstat_info", "cmdstat_config"))}


@pytest.mark.rule("token.client-credentials")
async def test_a_warm_client_credentials_request_reads_only_its_counters_and_writes_once(
    cached: TokenStore, client: httpx.AsyncClient, web: RegisteredClient,
    own_redis: RedisProcess,
) -> None:
    """The throttle counters are read from Redis once the secret proved right (a success
    is judged by what was counted when it is answered, server/throttle.py), never cached."""
    await _warm(cached, client, web)
    counter = aioredis.Redis.from_url(own_redis.url)
    pool = redis_of(cached).connection_pool
    original: Any = pool.get_connection
    trips: list[int] = []

    async def counting(*args: Any, **kwargs: Any) -> Any:
        trips.append(1)
        return await original(*args, **kwargs)

    try:
        await counter.config_resetstat()
        pool.get_connection = counting  # type: ignore[method-assign]
        response = await _cc(client, auth_of(web))
        pool.get_connection = original  # type: ignore[method-assign]
        calls = await _commands(counter)
    finally:
        pool.get_connection = original  # type: ignore[method-assign]
        await counter.aclose()
    assert response.status_code == 200, response.text
    assert await cached.resolve(response.json()["access_token"]) is not None
    assert trips == [1, 1]
    # The counters' read, then one script that issues (on a single node the grant, its
    # client's index and its subject's in one step; a cluster sends three): its only read
    # is the client record it checks, inside Redis.
    assert calls["evalsha"] == 1, calls
    assert {k: calls[k] for k in READS & set(calls)} == {"hmget": 2, "get": 1}, calls


@pytest.mark.rule("token.client-auth.failure")
async def test_a_secret_rotated_elsewhere_is_refused_once_redis_has_said_so(
    cached: TokenStore, elsewhere: TokenStore, client: httpx.AsyncClient,
    web: RegisteredClient,
) -> None:
    await _warm(cached, client, web)
    rotated: list[RegisteredClient] = []

    async def rotate() -> None:
        rotated.append(await rotate_secret(elsewhere, "web"))

    await _after(cached, rotate)
    assert_invalid_client(await _cc(client, auth_of(web)))
    assert (await _cc(client, auth_of(rotated[0]))).status_code == 200


@pytest.mark.rule("token.client-auth.failure")
async def test_a_client_deleted_elsewhere_is_refused_once_redis_has_said_so(
    cached: TokenStore, elsewhere: TokenStore, client: httpx.AsyncClient,
    web: RegisteredClient,
) -> None:
    await _warm(cached, client, web)
    await _after(cached, lambda: elsewhere.delete_client("web"))
    assert_invalid_client(await _cc(client, auth_of(web)))


@pytest.mark.rule("token.client-credentials")
async def test_a_scope_disabled_elsewhere_is_not_granted_once_redis_has_said_so(
    cached: TokenStore, elsewhere: TokenStore, client: httpx.AsyncClient,
    web: RegisteredClient,
) -> None:
    await _warm(cached, client, web)
    await _after(cached, lambda: elsewhere.save_scope(Scope("read", "Read", enabled=False)))
    assert_error(await _cc(client, auth_of(web)), 400, "invalid_scope")
    body = (await _cc(client, auth_of(web), scope="write")).json()
    assert body["scope"] == "write"


@pytest.mark.rule("abuse.throttle")
async def test_failures_counted_elsewhere_throttle_the_very_next_request(
    cached: TokenStore, elsewhere: TokenStore, client: httpx.AsyncClient,
    web: RegisteredClient,
) -> None:
    await _warm(cached, client, web)
    for _ in range(LIMIT):
        await count_failure(elsewhere, "client", "web", window=300, address="127.0.0.1")
    assert_error(await _cc(client, auth_of(web)), 429, "slow_down")


@pytest.mark.rule("abuse.throttle", "token.client-auth.failure")
async def test_this_processs_own_changes_hold_on_its_very_next_request(
    cached: TokenStore, client: httpx.AsyncClient, web: RegisteredClient,
) -> None:
    """No waiting here: a write this process makes drops its cached key at once."""
    await _warm(cached, client, web)
    wrong = basic("web", "not-the-secret-of-web")
    for _ in range(LIMIT):
        assert_invalid_client(await _cc(client, wrong))
    assert_error(await _cc(client, auth_of(web)), 429, "slow_down")
    await clear_failures(cached, "client", "web", "127.0.0.1")
    assert (await _cc(client, auth_of(web))).status_code == 200
    record = await cached.get_client("web")
    assert record is not None
    await cached.save_client(replace(record, grant_types=("authorization_code",)))
    assert_error(await _cc(client, auth_of(web)), 400, "unauthorized_client")
