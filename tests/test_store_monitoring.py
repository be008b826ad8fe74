"""What a readiness probe and a metrics scrape read from the gateway (store/_gateway/monitoring.py).

``redis`` is a ping and nothing more (no answer: unavailable); ``scripts`` loads exactly
the Lua scripts Redis lacks (on a cluster, every script on every primary: ``SCRIPT EXISTS``
answers for one node), of every script made, each known by the SHA1 Redis names it by;
``cache`` is whether the local cache serves, true while it is off. The counts are the
gateway's failures and its cache's hits, misses and invalidations, zero while it is off.
"""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from oauth_middleware.store import StoreUnavailable
from oauth_middleware.store._gateway.gateway import Gateway
from oauth_middleware.store._gateway.monitoring import StoreStats, check, stats
from oauth_middleware.store._gateway.script import SCRIPTS, Script


async def _lost(*args: Any, **kwargs: Any) -> Any:
    raise RedisConnectionError("injected")


def _gateway() -> Gateway:
    return Gateway(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()))


async def test_the_redis_check_only_pings_and_the_scripts_check_loads_only_the_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = _gateway()
    client = gate.client
    shas = [script.sha for script in SCRIPTS]
    await client.script_load(SCRIPTS[0].source)
    assert await check(gate, "redis") is True
    assert await client.script_exists(*shas) == [True] + [False] * (len(SCRIPTS) - 1)
    with monkeypatch.context() as patch:
        patch.setattr(client, "execute_command", _lost)
        with pytest.raises(StoreUnavailable):
            await check(gate, "redis")
    loaded: list[str] = []
    load = client.script_load

    async def recorded(source: str) -> Any:
        loaded.append(source)
        return await load(source)

    monkeypatch.setattr(client, "script_load", recorded)
    assert await check(gate, "scripts") is True
    assert loaded == [script.source for script in SCRIPTS[1:]]
    assert all(await client.script_exists(*shas))


async def test_every_script_made_is_one_the_scripts_check_loads() -> None:
    made = Script("return 1")
    try:
        assert SCRIPTS[-1] is made
        assert made.sha == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"  # SCRIPT LOAD's answer
        gate = _gateway()
        assert await check(gate, "scripts") is True
        assert await gate.client.script_exists(made.sha) == [True]
    finally:
        SCRIPTS.remove(made)


async def test_on_a_cluster_the_scripts_check_loads_every_script(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = RedisCluster(host="127.0.0.1", port=9)  # built, never connected
    gate = Gateway(client)
    loaded: list[Script] = []

    async def load(*scripts: Script) -> None:  # on every primary (tests/test_cluster.py)
        loaded.extend(scripts)

    monkeypatch.setattr(gate, "load", load)
    try:
        assert await check(gate, "scripts") is True
    finally:
        await client.aclose()
    assert loaded == SCRIPTS


async def test_the_cache_check_is_whether_the_cache_serves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = _gateway()
    assert await check(gate, "cache") is True  # off
    gate.track(["om:at:"], generation_key="om:generation")
    assert gate.cache is not None
    for serving in (False, True):
        monkeypatch.setattr(gate.cache, "live", lambda serving=serving: serving)
        assert await check(gate, "cache") is serving


def test_the_counts_are_the_gateways_failures_and_its_caches_reads() -> None:
    gate = _gateway()
    gate.errors.update({"unavailable": 2, "refused": 1})
    assert stats(gate) == StoreStats({"unavailable": 2, "refused": 1})
    gate.track(["om:at:"], generation_key="om:generation")
    cache = gate.cache
    assert cache is not None
    cache.hits, cache.misses, cache.invalidations = 5, 3, 1
    assert stats(gate) == StoreStats({"unavailable": 2, "refused": 1}, 5, 3, 1)
