"""What the start-up check (store/_gateway/health.py) concludes from each configuration, in process.

A stand-in answers ``CONFIG GET`` and ``INFO cluster`` as a Redis of that configuration
(or an ACL user refused them) would; the check's verdicts, notes and log lines are
asserted word for word. tests/test_store_health.py runs the same on a real redis-server.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoPermissionError, ResponseError

from oauth_middleware.store import StoreRefused, StoreUnavailable
from oauth_middleware.store._gateway.gateway import Gateway
from oauth_middleware.store._gateway.health import (
    CLUSTER_NODE,
    EMBEDDED,
    NO_PERSISTENCE,
    RedisHealth,
    UnsafeRedis,
    check,
    inspect,
)

REFUSED = "NOPERM this user has no permissions to run the 'config|get' command"
VOLATILE_LRU = ("maxmemory-policy volatile-lru may evict codes, tokens and consent "
                "transactions before they expire; set maxmemory-policy noeviction")


class Settings:
    """Answers as a Redis with these settings; a value that is an exception is raised."""

    def __init__(self, cluster: Any = 0, *, as_bytes: bool = False, **config: Any) -> None:
        self.config = {"maxmemory-policy": "noeviction", "appendonly": "yes", "save": "3600 1",
                       **{k.replace("_", "-"): v for k, v in config.items()}}
        self.cluster, self.as_bytes = cluster, as_bytes
        self.asked: list[str] = []

    async def config_get(self, name: str) -> dict[Any, Any]:
        self.asked.append(name)
        if name not in self.config:  # a setting this server does not have: nothing
            return {}
        value = self.config[name]
        if isinstance(value, BaseException):
            raise value
        if self.as_bytes:
            return {name.encode(): value.encode()}
        return {name: value}

    async def info(self, section: str) -> dict[str, Any]:
        assert section == "cluster"
        self.asked.append("INFO cluster")
        if isinstance(self.cluster, BaseException):
            raise self.cluster
        return {} if self.cluster is None else {"cluster_enabled": self.cluster}


def _said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "oauth_middleware.store"]


@pytest.mark.parametrize("as_bytes", [False, True])
async def test_a_safe_redis_is_read_in_full_and_gives_no_note(
    caplog: pytest.LogCaptureFixture, as_bytes: bool,
) -> None:
    redis = Settings(as_bytes=as_bytes)
    health = await check(redis)  # type: ignore[arg-type]
    assert health == RedisHealth("noeviction", True, "3600 1", False, ())
    assert health.persistent is True
    assert redis.asked == ["maxmemory-policy", "appendonly", "save", "INFO cluster"]
    assert _said(caplog) == []


@pytest.mark.rule("redis.no-silent-loss")
@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-random", "ALLKEYS-LFU"])
async def test_an_allkeys_policy_is_refused_unless_eviction_is_allowed(
    caplog: pytest.LogCaptureFixture, policy: str,
) -> None:
    evicting = ("maxmemory-policy {} may evict registered clients and scopes; set "
                "maxmemory-policy noeviction, or pass allow_eviction=True (the command line: "
                "--allow-eviction) to run anyway")
    if policy.islower():
        with pytest.raises(UnsafeRedis, match=f"^{re.escape(evicting.format(policy))}$"):
            await check(Settings(maxmemory_policy=policy))  # type: ignore[arg-type]
        health = await check(Settings(maxmemory_policy=policy),  # type: ignore[arg-type]
                             allow_eviction=True)
        note = f"maxmemory-policy {policy} may evict registered clients and scopes"
        assert health.notes == (note,)
        assert _said(caplog) == [f"redis configuration: {note}"]
    else:  # Redis itself only knows lower-case policies; anything else is not one of them
        assert (await check(Settings(maxmemory_policy=policy))).notes == ()  # type: ignore[arg-type]


@pytest.mark.rule("redis.no-silent-loss")
async def test_a_volatile_policy_and_no_persistence_are_two_warnings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = await check(Settings(maxmemory_policy="volatile-lru", appendonly="no",  # type: ignore[arg-type]
                                  save=""))
    assert health == RedisHealth("volatile-lru", False, "", False, (VOLATILE_LRU, NO_PERSISTENCE))
    assert health.persistent is False
    assert _said(caplog) == [f"redis configuration: {VOLATILE_LRU}",
                             f"redis configuration: {NO_PERSISTENCE}"]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


@pytest.mark.parametrize(("appendonly", "save", "persistent"), [
    ("yes", "", True), ("no", "900 1", True), ("no", "", False),
])
async def test_either_aof_or_rdb_keeps_the_data(appendonly: str, save: str, persistent: bool
                                                ) -> None:
    health = await check(Settings(appendonly=appendonly, save=save))  # type: ignore[arg-type]
    assert health.persistent is persistent
    assert (NO_PERSISTENCE in health.notes) is not persistent


async def test_a_cluster_node_behind_a_plain_url_is_refused_naming_the_scheme() -> None:
    for enabled in (1, "1"):
        with pytest.raises(UnsafeRedis, match=f"^{re.escape(CLUSTER_NODE)}$"):
            await check(Settings(cluster=enabled))  # type: ignore[arg-type]
    assert (await inspect(Settings(cluster=None))).cluster_enabled is False  # type: ignore[arg-type]


async def test_what_an_acl_user_may_not_read_is_named_and_the_rest_is_checked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis = Settings(maxmemory_policy=NoPermissionError(REFUSED), appendonly="no", save="",
                     cluster=ResponseError("ERR unknown command 'INFO'"))
    health = await check(redis)  # type: ignore[arg-type]
    refused_config = ("could not check maxmemory-policy: Redis refused CONFIG GET "
                      f"({REFUSED})")
    refused_info = ("could not check cluster mode: Redis refused INFO (ERR unknown command "
                    "'INFO')")
    assert health == RedisHealth(None, False, "", None,
                                 (refused_config, refused_info, NO_PERSISTENCE))
    assert redis.asked == ["maxmemory-policy", "appendonly", "save", "INFO cluster"]
    assert _said(caplog) == [f"redis configuration: {note}" for note in health.notes]


async def test_persistence_is_unknown_when_a_setting_could_not_be_read() -> None:
    for unread in ("appendonly", "save"):
        config: dict[str, Any] = {"appendonly": "no", "save": "",
                                  unread: ResponseError("NOPERM")}
        health = await inspect(Settings(**config))  # type: ignore[arg-type]
        assert health.persistent is None
        assert NO_PERSISTENCE not in (await check(Settings(**config))).notes  # type: ignore[arg-type]


@pytest.mark.parametrize("where", ["config", "cluster"])
async def test_an_unreachable_redis_raises_store_unavailable_not_a_verdict(where: str) -> None:
    lost = RedisConnectionError("injected: 10.0.0.1:6379 is gone")
    redis = Settings(cluster=lost) if where == "cluster" else Settings(appendonly=lost)
    with pytest.raises(StoreUnavailable) as caught:
        await check(redis)  # type: ignore[arg-type]
    assert type(caught.value) is StoreUnavailable
    assert str(caught.value) == "the token store is unavailable"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert not isinstance(caught.value, StoreRefused)


async def test_the_embedded_store_is_not_asked_anything() -> None:
    gate = Gateway(Settings(), embedded=True)  # type: ignore[arg-type]
    assert await gate.health() == RedisHealth(notes=(EMBEDDED,))
    assert gate.client.asked == []
    remote = Gateway(Settings(maxmemory_policy="allkeys-lru"))  # type: ignore[arg-type]
    assert (await remote.health(allow_eviction=True)).eviction_policy == "allkeys-lru"
    with pytest.raises(UnsafeRedis):
        await remote.health()


async def test_a_setting_redis_does_not_have_reads_as_empty() -> None:
    redis = Settings(appendonly="no")
    del redis.config["save"]
    health = await check(redis)  # type: ignore[arg-type]
    assert (health.save, health.persistent) == ("", False)
    assert health.notes == (NO_PERSISTENCE,)
