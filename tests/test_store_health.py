"""Redis configured so nothing is silently lost (issue 13 §3): ``store.check()`` and
``oauth-middleware store check`` read the eviction policy, persistence and cluster mode.

Each test owns a redis-server and sets it up with ``CONFIG SET``; the suite's own
servers run without persistence (tests/redis_process.py), which is what the
warning is about.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio as aioredis
from click.testing import CliRunner

from oauth_middleware import TokenStore
from oauth_middleware.cli import main
from oauth_middleware.store import RedisHealth, StoreUnavailable, UnsafeRedis
from tests.redis_process import RedisProcess, free_port
from tests.topologies import Topology, acl_server, cluster_port

pytestmark = pytest.mark.real_redis_only


@pytest.fixture
async def admin(backend: str, own_redis: RedisProcess) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis(host="127.0.0.1", port=own_redis.port)
    yield client
    await client.aclose()


async def _check(url: str, **options: bool) -> RedisHealth:
    store = TokenStore.from_url(url)
    try:
        return await store.check(**options)
    finally:
        await store.aclose()


@pytest.mark.rule("redis.no-silent-loss")
async def test_an_allkeys_policy_refuses_to_start_unless_eviction_is_allowed(
    own_redis: RedisProcess, admin: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await admin.config_set("maxmemory-policy", "allkeys-lru")
    with pytest.raises(UnsafeRedis, match=r"allkeys-lru.*allow_eviction=True"):
        await _check(own_redis.url)
    health = await _check(own_redis.url, allow_eviction=True)
    assert health.eviction_policy == "allkeys-lru"
    assert any("allkeys-lru may evict registered clients" in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)


@pytest.mark.rule("redis.no-silent-loss")
async def test_no_aof_and_no_rdb_logs_one_warning_naming_appendonly(
    own_redis: RedisProcess, admin: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await admin.config_set("maxmemory-policy", "noeviction")
    store = TokenStore.from_url(own_redis.url)
    try:
        with caplog.at_level(logging.WARNING, logger="oauth_middleware.store"):
            health = await store.check()
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warned) == 1 and "appendonly yes" in warned[0]
        assert (health.appendonly, health.save, health.persistent) == (False, "", False)
        caplog.clear()
        await admin.config_set("appendonly", "yes")
        health = await store.check()
        assert health.persistent is True and health.notes == ()
        assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    finally:
        await admin.config_set("appendonly", "no")  # an AOF rewrite would slow the shutdown
        await store.aclose()


async def test_a_volatile_policy_starts_with_a_warning_naming_noeviction(
    own_redis: RedisProcess, admin: aioredis.Redis
) -> None:
    await admin.config_set("maxmemory-policy", "volatile-ttl")
    health = await _check(own_redis.url)
    notes = health.notes
    assert any("volatile-ttl" in note and "noeviction" in note for note in notes)


async def test_a_plain_url_to_a_cluster_node_is_refused_naming_the_cluster_scheme(
    backend: str,
) -> None:
    topology = Topology()
    try:
        node = topology.spawn("--cluster-enabled", "yes", port=cluster_port())
        with pytest.raises(UnsafeRedis, match=r"redis\+cluster://"):
            await _check(f"redis://127.0.0.1:{node.port}/0")
    finally:
        topology.close()


async def test_an_acl_user_refused_config_is_told_what_was_not_checked(backend: str) -> None:
    with acl_server() as made:
        health = await _check(made.url())
    assert health.eviction_policy is None
    notes = " ".join(health.notes)
    assert "could not check maxmemory-policy" in notes and "could not check cluster mode" in notes
    assert "store-pw" not in notes


async def test_an_unreachable_redis_is_unavailable_not_unsafe(backend: str) -> None:
    with pytest.raises(StoreUnavailable):
        await _check(f"redis://127.0.0.1:{free_port()}/0")


async def test_the_embedded_store_has_nothing_to_check(backend: str) -> None:
    health = await TokenStore.from_url(None).check()
    assert health.eviction_policy is None and "embedded" in health.notes[0]


@pytest.mark.rule("redis.no-silent-loss")
def test_the_store_check_command_refuses_allkeys_and_names_the_flag(
    own_redis: RedisProcess,
) -> None:
    runner = CliRunner()
    done = runner.invoke(main, ["--redis-url", own_redis.url, "store", "check", "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["maxmemory-policy"] == "noeviction" and report["appendonly"] is False
    assert any("appendonly yes" in note for note in report["warnings"])
    with redis.Redis(port=own_redis.port) as sync:
        sync.config_set("maxmemory-policy", "allkeys-random")
    refused = runner.invoke(main, ["--redis-url", own_redis.url, "store", "check"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: maxmemory-policy allkeys-random")
    assert "--allow-eviction" in refused.stderr
    allowed = runner.invoke(main, ["--redis-url", own_redis.url, "store", "check",
                                   "--allow-eviction"])
    assert allowed.exit_code == 0
    assert "maxmemory-policy: allkeys-random" in allowed.stdout
    assert "Warning: maxmemory-policy allkeys-random may evict" in allowed.stderr
