"""Across real uvicorn workers: a revoked token, a rotated client secret and a new failure count
are obeyed everywhere; without the cache every request costs exactly one Redis round trip.

Counting happens on the real redis-server (INFO commandstats and keyspace_hits),
not in the client, so nothing the client does can hide a round trip.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.toolbox import RegisteredClient, register_client, rotate_secret
from tests.apps import build_app
from tests.cache_app import THROTTLE, on_two_workers
from tests.redis_process import RedisProcess
from tests.server.token_harness import auth_of
from tests.servers import UvicornProcess
from tests.store_helpers import count_failure, redis_of

pytestmark = pytest.mark.real_redis_only

#: Upper bound on requests spent reaching both workers (the kernel picks the worker).
MAX_REQUESTS = 2000
DEADLINE = 30.0


async def _fresh_get(url: str, path: str, headers: dict[str, str] | None = None
                     ) -> tuple[int, int, Any]:
    """One request on a new connection, so the kernel may hand it to either worker:
    (worker pid, status, JSON body)."""
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get(path, headers=headers)
    return int(response.headers["x-worker-pid"]), response.status_code, response.json()


async def _fresh_post(url: str, path: str, data: dict[str, str], headers: dict[str, str]
                      ) -> tuple[int, int, Any]:
    """One POST on a new connection (either worker may take it): (worker pid, status, JSON)."""
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post(path, data=data, headers=headers)
    return int(response.headers["x-worker-pid"]), response.status_code, response.json()


async def _per_worker(url: str, path: str, done: Any, headers: dict[str, str] | None = None
                      ) -> dict[int, Any]:
    """Ask until ``done(latest answers by pid)`` holds for two workers; bounded."""
    latest: dict[int, Any] = {}
    end = time.monotonic() + DEADLINE
    for _ in range(MAX_REQUESTS):
        pid, status, body = await _fresh_get(url, path, headers)
        latest[pid] = (status, body)
        if len(latest) == 2 and done(latest):
            return latest
        if time.monotonic() > end:
            break
    pytest.fail(f"workers never reached the expected state: {latest}")


async def test_a_token_revoked_through_either_worker_is_refused_by_every_worker(
    redis_server: RedisProcess,
) -> None:
    """The revocation is a POST to ``/oauth/revoke/`` of the running server, answered by
    whichever worker the kernel picks; both must then refuse the token."""
    store = TokenStore.from_url(redis_server.url)
    try:
        await _revoke_across_workers(store, redis_server)
    finally:
        await store.aclose()


async def _revoke_across_workers(store: TokenStore, redis_server: RedisProcess) -> None:
    await redis_of(store).flushdb()
    web = await register_client(store, "Web", "web", "https://app.example/cb", None,
                                scopes_list=["read"], public=False)
    issued = await store.issue(NewTokens(client_id="web", subject="alice"))
    bearer = {"Authorization": f"Bearer {issued.access_token}"}
    with UvicornProcess("tests.cache_app:app", "--factory", "--workers", "2",
                        env={"REDIS_URL": redis_server.url}) as server:
        # Warm: each worker has served the token and holds it in a live cache.
        async def cached_everywhere(latest: dict[int, Any]) -> bool:
            return all(body["size"] == 1 and body["serving"] for _, body in latest.values())

        warm: dict[int, Any] = {}
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            _, status, body = await _fresh_get(server.url, "/me", bearer)
            assert status == 200 and body["user"] == "alice"
            warm = await _per_worker(server.url, "/_cache", lambda latest: True)
            if await cached_everywhere(warm):
                break
        assert await cached_everywhere(warm), warm
        before = {pid: body["invalidations"] for pid, (_, body) in warm.items()}

        revoking_at = time.monotonic()  # CLOCK_MONOTONIC is shared by every process
        _, status, body = await _fresh_post(server.url, "/oauth/revoke/",
                                            {"token": issued.access_token}, auth_of(web))
        assert (status, body) == (200, {})
        assert await store.lookup(issued.access_token) is None

        # Each worker acknowledges: it applied an invalidation and dropped the entry.
        acked = await _per_worker(server.url, "/_cache", lambda latest: all(
            body["invalidations"] > before[pid] and body["size"] == 0
            for pid, (_, body) in latest.items()))
        assert set(acked) == set(before)
        applied_after = [body["last_invalidation"] - revoking_at for _, body in acked.values()]

        # From now on every request, to either worker, is refused.
        answers: list[tuple[int, Any]] = []
        refused = await _per_worker(server.url, "/me", lambda latest: True, bearer)
        answers += refused.values()
        for _ in range(20):
            answers.append((await _fresh_get(server.url, "/me", bearer))[1:])
        assert {status for status, _ in answers} == {401}
        assert all(body["error"] == "invalid_token" for _, body in answers)
    # Not asserted (no timing assertions in tests); shown with -s for the curious.
    print("invalidation applied by each worker after",
          ", ".join(f"{1000 * s:.1f} ms" for s in applied_after))


async def _command_counts(client: aioredis.Redis) -> tuple[dict[str, int], int]:
    stats = await client.info("commandstats")
    calls = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()
             if not k.startswith(("cmdstat_info", "cmdstat_config"))}
    hits = int((await client.info("stats"))["keyspace_hits"])
    return calls, hits


async def test_without_the_cache_every_request_is_exactly_one_redis_round_trip(
    redis_server: RedisProcess,
) -> None:
    store = TokenStore.from_url(redis_server.url)
    await redis_of(store).flushdb()
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"polls:results"})))
    counter = aioredis.Redis.from_url(redis_server.url)
    app = build_app(store)
    good = {"Authorization": f"Bearer {issued.access_token}"}
    unknown = {"Authorization": f"Bearer {issued.token.grant_id}.{'A' * 43}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as client:
        await counter.config_resetstat()
        for _ in range(20):
            assert (await client.get("/polls/1/results", headers=good)).status_code == 200
            assert (await client.get("/polls/1/results", headers=unknown)).status_code == 401
        sequential, _ = await _command_counts(counter)

        await counter.config_resetstat()
        answers = await asyncio.gather(*(client.get("/polls/1/results", headers=good)
                                         for _ in range(30)))
        concurrent, hits = await _command_counts(counter)
    await counter.aclose()
    await store.aclose()
    assert sequential == {"get": 40}
    assert [r.status_code for r in answers] == [200] * 30
    assert hits == 30  # every one of the 30 requests read its token from Redis
    assert set(concurrent) <= {"get", "mget"} and 1 <= sum(concurrent.values()) <= 30


async def _cc_per_worker(url: str, registered: RegisteredClient) -> dict[int, tuple[int, Any]]:
    """A client_credentials answer from each of the two workers (bounded)."""
    latest: dict[int, tuple[int, Any]] = {}
    for _ in range(MAX_REQUESTS):
        pid, status, body = await _fresh_post(
            url, "/oauth/token", {"grant_type": "client_credentials", "scope": "read"},
            auth_of(registered))
        latest[pid] = (status, body)
        if len(latest) == 2:
            return latest
    pytest.fail(f"only these workers answered: {latest}")


async def _acknowledged(url: str, key: str, before: dict[int, int]) -> None:
    """Both workers applied an invalidation since ``before`` and no longer hold ``key``."""
    await _per_worker(url, "/_cache", lambda latest: all(
        body["invalidations"] > before[pid] and key not in body["records"]
        for pid, (_, body) in latest.items()))


@pytest.mark.rule("token.client-auth.failure", "abuse.throttle")
async def test_a_rotated_secret_and_new_failures_are_obeyed_by_every_worker(
    redis_server: RedisProcess,
) -> None:
    async with on_two_workers(redis_server.url) as (store, web, server):
        await _secret_and_failures_across_workers(store, server.url, web)


async def _secret_and_failures_across_workers(store: TokenStore, url: str,
                                              web: RegisteredClient) -> None:
    client_key = store.keys.client("web")
    counter_key = store.keys.throttle("client", "web", "127.0.0.1")

    def warm(latest: dict[int, Any]) -> bool:
        return all(body["serving"] and client_key in body["records"]
                   and counter_key not in body["records"] for _, body in latest.values())

    stats: dict[int, Any] = {}
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end and not (len(stats) == 2 and warm(stats)):
        assert {s for s, _ in (await _cc_per_worker(url, web)).values()} == {200}
        stats = await _per_worker(url, "/_cache", lambda latest: True)
    assert warm(stats), stats
    before = {pid: body["invalidations"] for pid, (_, body) in stats.items()}

    rotated = await rotate_secret(store, "web")
    await _acknowledged(url, client_key, before)
    old = await _cc_per_worker(url, web)
    assert {status for status, _ in old.values()} == {401}
    assert all(body["error"] == "invalid_client" for _, body in old.values())
    assert {status for status, _ in (await _cc_per_worker(url, rotated)).values()} == {200}

    # Counters are never cached (nor tracked): the very next request reads the new count.
    for _ in range(THROTTLE.client_failures):
        await count_failure(store, "client", "web", window=THROTTLE.window,
                                           address="127.0.0.1")
    throttled = await _cc_per_worker(url, rotated)
    assert {status for status, _ in throttled.values()} == {429}
    assert all(body["error"] == "slow_down" for _, body in throttled.values())
