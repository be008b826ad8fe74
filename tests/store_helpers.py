"""Reaching under the store's façade, for tests only: its Redis client, its gateway, minting.

The store's public API is ``oauth_middleware.store.__all__``; tests that check what
lands in Redis, or drive a script by hand, go through these helpers instead.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from oauth_middleware.models import IssuedTokens
from oauth_middleware.store import (
    NewTokens,
    TokenStore,
    _clients,
    _consent,
    _grant_scripts,
    _throttle_scripts,
)
from oauth_middleware.store._context import Context
from oauth_middleware.store._gateway import Gateway, Script, evalsha, texts
from oauth_middleware.store._gateway.cache import TokenCache
from oauth_middleware.store._minting import Generation, Member, flatten
from oauth_middleware.store._minting import mint as _mint

__all__ = ["ALL_SCRIPTS", "Generation", "cache_of", "evalsha", "flatten", "gateway", "mint", "over",
           "redis_of", "texts"]

#: Every Lua script of the store.
ALL_SCRIPTS: tuple[Script, ...] = tuple(
    value for module in (_grant_scripts, _throttle_scripts, _consent, _clients)
    for value in vars(module).values() if isinstance(value, Script))


def gateway(store: TokenStore) -> Gateway:
    return store._gateway


def redis_of(store: TokenStore) -> aioredis.Redis:
    """The store's redis-py client, to read or break what the store wrote."""
    return store._gateway.client


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
