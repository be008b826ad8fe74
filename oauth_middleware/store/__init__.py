"""The token store: every piece of OAuth state, in Redis (DESIGN decisions 1-5).

``TokenStore.from_url(url)`` talks to a Redis server; ``TokenStore.from_url(None)``
gives the embedded in-process store (fakeredis) driven through the same code,
scripts and key schema. The key schema and TTL rules are in :mod:`.keys`.
"""

from __future__ import annotations

import functools
import time

import redis.asyncio as aioredis

from oauth_middleware.store._health import EMBEDDED, RedisHealth, UnsafeRedis
from oauth_middleware.store._health import check as check_redis
from oauth_middleware.store._urls import RedisURLError, connect_url
from oauth_middleware.store.authn import AuthnMixin
from oauth_middleware.store.base import GRANTS_PER_CLIENT, GRANTS_PER_USER, Clock
from oauth_middleware.store.cache import CACHE_SIZE, TokenCache
from oauth_middleware.store.clients import ClientStore
from oauth_middleware.store.connection import (
    CONNECT_TIMEOUT,
    GUARD,
    RETRIES,
    SOCKET_TIMEOUT,
    StoreRefused,
    StoreUnavailable,
    dedicated,
    embedded,
)
from oauth_middleware.store.grants import CODE_LIFETIME, GrantMixin
from oauth_middleware.store.invalidation import database_generation
from oauth_middleware.store.keys import DEFAULT_PREFIX
from oauth_middleware.store.listing import ListingMixin
from oauth_middleware.store.tokens import TokenMixin
from oauth_middleware.store.transient import PENDING_LIFETIME, TransientMixin
from oauth_middleware.store.writer import (
    MAX_LIFETIME,
    REFRESH_LIFETIME,
    ClientRemoved,
    NewTokens,
)


class TokenStore(
    TokenMixin, GrantMixin, ListingMixin, ClientStore, TransientMixin, AuthnMixin
):
    """All OAuth state: clients, scopes, codes, tokens, consent and throttling, in Redis."""

    @classmethod
    def from_url(
        cls,
        url: str | None,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Clock = time.time,
        connect_timeout: float = CONNECT_TIMEOUT,
        socket_timeout: float = SOCKET_TIMEOUT,
        retries: int = RETRIES,
        local_cache: bool = False,
        cache_size: int = CACHE_SIZE,
        max_grants_per_user: int = GRANTS_PER_USER,
        max_grants_per_client: int = GRANTS_PER_CLIENT,
    ) -> TokenStore:
        """Connect to ``url`` (the forms of :mod:`._urls`), or embed when None.

        The embedded store needs the ``embedded`` extra (fakeredis with Lua); without it
        ``from_url(None)`` raises ``ImportError`` saying so.

        ``local_cache=True`` keeps validated tokens, client records and the scope registry
        in process, invalidated by Redis itself (:mod:`.cache`);
        it needs a Redis server (6.0 or newer) and is ignored by the embedded store,
        which is in process already.

        ``max_grants_per_user`` bounds one user's live grants (``max_grants_per_client``,
        a client's own, from client credentials): one more revokes the one that expires
        first. Give every store that issues (server, admin, CLI) the same values.
        """
        client: aioredis.Redis
        if url is None:
            client = embedded()
        else:
            client = connect_url(url, connect_timeout=connect_timeout,
                                 socket_timeout=socket_timeout, retries=retries)
        store = cls(client, prefix=prefix, clock=clock, max_grants_per_user=max_grants_per_user,
                    max_grants_per_client=max_grants_per_client)
        store.embedded = url is None
        if local_cache and url is not None:
            generation = functools.partial(database_generation, client,
                                           store.keys.cache_generation)
            store.cache = TokenCache(lambda: dedicated(client), *store.keys.tracked_prefixes,
                                     size=cache_size, generation=generation)
        return store

    async def ping(self) -> bool:
        """Whether Redis answers (raises :class:`StoreUnavailable` when it cannot be reached)."""
        with GUARD:
            return bool(await self.redis.ping())

    async def check(self, *, allow_eviction: bool = False) -> RedisHealth:
        """Refuse a Redis that would lose data silently, warn about one that may (:mod:`._health`).

        Call it once at start (an app's lifespan); the embedded store has nothing to check.
        """
        if self.embedded:
            return RedisHealth(notes=(EMBEDDED,))
        return await check_redis(self.redis, allow_eviction=allow_eviction)

    async def aclose(self) -> None:
        """Close the local cache's connection, if any, then the Redis connection pool."""
        if self.cache is not None:
            await self.cache.aclose()
        await self.redis.aclose()


__all__ = [
    "CODE_LIFETIME",
    "MAX_LIFETIME",
    "PENDING_LIFETIME",
    "REFRESH_LIFETIME",
    "ClientRemoved",
    "NewTokens",
    "RedisHealth",
    "RedisURLError",
    "StoreRefused",
    "StoreUnavailable",
    "TokenStore",
    "UnsafeRedis",
]
