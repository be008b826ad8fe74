"""Reaching under the store's façade, for tests only: its Redis client, its gateway, minting.

The store's public API is ``oauth_middleware.store.__all__``; tests that check what
lands in Redis, or drive a script by hand, go through these helpers instead.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from oauth_middleware.models import (
    AuthorizationCode,
    IssuedTokens,
    PendingAuthorization,
    RefreshToken,
)
from oauth_middleware.security import digest, grant_id_of
from oauth_middleware.store import (
    NewTokens,
    TokenStore,
    _clients,
    _consent,
    _exchange,
    _grant_scripts,
    _throttle_scripts,
)
from oauth_middleware.store._codec import load
from oauth_middleware.store._context import Context
from oauth_middleware.store._events import Evented
from oauth_middleware.store._gateway import Gateway, Script, evalsha, texts
from oauth_middleware.store._gateway.cache import TokenCache
from oauth_middleware.store._generations import presented_refresh, refresh_keys
from oauth_middleware.store._minting import Generation, Member, flatten
from oauth_middleware.store._minting import mint as _mint
from oauth_middleware.store._throttle import window_state

__all__ = ["ALL_SCRIPTS", "Generation", "cache_of", "caps", "clear_failures", "count_failure",
           "evalsha", "failures", "flatten", "gateway", "get_code", "get_pending", "get_refresh",
           "mint", "over", "redis_of", "texts"]

#: Every Lua script of the store.
ALL_SCRIPTS: tuple[Script, ...] = tuple(
    script for module in (_grant_scripts, _throttle_scripts, _consent, _clients, _exchange)
    for value in vars(module).values()
    for script in ([value] if isinstance(value, Script) else
                   [value.generic] if isinstance(value, Evented) else []))


def gateway(store: TokenStore) -> Gateway:
    return store._gateway


def redis_of(store: TokenStore) -> aioredis.Redis:
    """The store's redis-py client, to read or break what the store wrote (a RedisCluster
    on the cluster backend: the calls the tests make exist on both)."""
    client: aioredis.Redis = store._gateway.client
    return client


async def commands_run(store: TokenStore) -> int:
    """Commands Redis has run (INFO commandstats, those inside scripts included), but INFO;
    0 on fakeredis, which keeps no statistics."""
    if gateway(store).embedded:
        return 0
    stats = await redis_of(store).info("commandstats")
    return sum(int(v["calls"]) for name, v in stats.items() if name != "cmdstat_info")


def cache_of(store: TokenStore) -> TokenCache:
    """The store's local cache (the store must have one)."""
    found = store._gateway.cache
    if found is None:
        raise LookupError("this store has no local cache (from_url(url, local_cache=True))")
    return found


def over(client: Any, **options: Any) -> TokenStore:
    """A store over a redis-py (or fakeredis) client the test built itself."""
    return TokenStore(Gateway(client), **options)


def mint(store: TokenStore, grant_id: str, spec: NewTokens,
         generation: Generation | None = None) -> tuple[IssuedTokens, list[Member]]:
    """The values and records of a grant ``store`` would write, unwritten."""
    return _mint(Context(store._gateway, store.keys, store.clock), grant_id, spec, generation)


# --- reads the product makes only inside one request (``read_for``), as tests need them ---


async def get_code(store: TokenStore, code: str) -> AuthorizationCode | None:
    """The code's record, used or not; None when unknown or expired."""
    grant_id = grant_id_of(code)
    if grant_id is None:
        return None
    raw = await redis_of(store).get(store.keys.code(grant_id, digest(code)))
    record = None if raw is None else load(AuthorizationCode, raw)
    return None if record is None or record.expires_at <= store.clock() else record


async def get_refresh(store: TokenStore, token: str) -> RefreshToken | None:
    """A refresh token's record, ``rotated`` when an earlier generation of its grant."""
    grant_id = grant_id_of(token)
    if grant_id is None:
        return None
    current, legacy = await redis_of(store).mget(*refresh_keys(store.keys, grant_id, token))
    return presented_refresh(token, current, legacy, store.clock())


async def get_pending(store: TokenStore, txn_id: str, *, user: str
                      ) -> PendingAuthorization | None:
    """``user``'s pending authorization; None once taken, dropped, expired or unknown."""
    raw = await redis_of(store).get(store.keys.pending(user, digest(txn_id)))
    if raw is None or (raw if isinstance(raw, bytes) else raw.encode()).startswith(b"taken:"):
        return None
    return load(PendingAuthorization, raw)


async def count_failure(store: TokenStore, bucket: str, key: str, *, window: int,
                        address: str | None = None) -> tuple[int, int]:
    """Count one failure in one counter (the product counts both at once)."""
    (state,) = await store.throttle._count([store.keys.throttle(bucket, key, address)], window)
    return state


async def failures(store: TokenStore, bucket: str, key: str, address: str | None = None
                   ) -> tuple[int, int]:
    """One counter's (failures in the window, seconds left); (0, 0) when none."""
    count, ends = await redis_of(store).hmget(store.keys.throttle(bucket, key, address),
                                              ["count", "ends"])
    return window_state(count, ends, int(store.clock() * 1000))


async def clear_failures(store: TokenStore, bucket: str, key: str,
                         address: str | None = None) -> None:
    await redis_of(store).delete(store.keys.throttle(bucket, key, address))


def caps(store: TokenStore) -> tuple[int, int]:
    """(max_grants_per_user, max_grants_per_client) the store was built with."""
    return store._grants.max_grants_per_user, store._grants.max_grants_per_client
