"""The opt-in local token cache (store/_gateway/cache.py): served only while Redis invalidates."""

from __future__ import annotations

import socket
import time
from dataclasses import replace
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from redis._parsers import _AsyncRESP2Parser

from oauth_middleware.models import AccessToken, AuthorizationCode, IssuedTokens, RefreshToken
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.store._gateway.cache import TokenCache
from oauth_middleware.store._gateway.invalidation import Invalidations
from tests.apps import build_app
from tests.conftest import FakeClock
from tests.polling import until
from tests.redis_process import RedisProcess
from tests.store_helpers import (
    cache_of,
    caps,
    count_failure,
    gateway,
    get_code,
    get_refresh,
    redis_of,
)
from tests.test_batch import Counting


def _cache(store: TokenStore) -> TokenCache:
    assert cache_of(store) is not None
    return cache_of(store)


async def _warm(store: TokenStore, token: str) -> AccessToken:
    """Resolve until the record is cached (the listener first has to subscribe)."""
    cache = _cache(store)
    await store.resolve(token)
    await until(lambda: cache.serving, "the cache serves")
    record = await store.resolve(token)
    assert record is not None and len(cache.entries) == 1
    return record


def _spec() -> NewTokens:
    return NewTokens(client_id="web", subject="alice", scopes=frozenset({"polls:results"}))


async def test_a_cached_token_is_served_without_reading_redis(cached: TokenStore) -> None:
    issued = await cached.issue(_spec())
    await _warm(cached, issued.access_token)
    with Counting(cached) as counting:
        assert await cached.resolve(issued.access_token) == issued.token
    assert counting.calls == []


async def test_the_cache_serves_with_redis_pys_own_parser(own_redis: RedisProcess) -> None:
    """Without hiredis installed redis-py parses replies itself: the invalidation
    connection must still come up (it once refused to, for want of hiredis)."""
    store = TokenStore.from_url(own_redis.url, local_cache=True)
    redis_of(store).connection_pool.connection_kwargs["parser_class"] = _AsyncRESP2Parser
    try:
        issued = await store.issue(_spec())
        await _warm(store, issued.access_token)
        with Counting(store) as counting:
            assert await store.resolve(issued.access_token) == issued.token
        assert counting.calls == []
    finally:
        await store.aclose()


async def test_a_token_revoked_elsewhere_is_refused_once_redis_says_so(
    cached: TokenStore, own_redis: RedisProcess
) -> None:
    issued = await cached.issue(_spec())
    await _warm(cached, issued.access_token)
    cache = _cache(cached)
    seen = cache.invalidations
    other = TokenStore.from_url(own_redis.url)
    try:
        assert await other.revoke_token(issued.access_token)
    finally:
        await other.aclose()
    await until(lambda: cache.invalidations > seen, "the invalidation arrived")
    assert cache.entries == {}
    assert await cached.resolve(issued.access_token) is None


@pytest.mark.rule("revoke.cache-exact-on-host")
async def test_a_hit_is_never_served_while_an_invalidation_waits_unread(
    cached: TokenStore, own_redis: RedisProcess
) -> None:
    """Another process deletes the token and Redis has written the invalidation to this
    process's socket, but this event loop has not run since: the very next lookup must
    not be a hit. (A blocking client does the delete, so this loop never runs meanwhile.)"""
    issued = await cached.issue(_spec())
    await _warm(cached, issued.access_token)
    cache = _cache(cached)
    key = next(iter(cache.entries))
    assert cache.get(key) == issued.token
    other = redis.Redis.from_url(own_redis.url)
    try:
        assert other.delete(key) == 1
        assert other.ping()  # served after the turn that wrote the invalidation
    finally:
        other.close()
    assert key in cache.entries  # not applied yet: nothing has read the socket
    assert cache.get(key) is None
    assert not cache.live()
    with Counting(cached) as counting:
        assert await cached.resolve(issued.access_token) is None
    assert cache.entries == {}
    assert [c[0] for c in counting.calls] == ["GET"]  # read from Redis, not served


def _refresh_spec() -> NewTokens:
    return replace(_spec(), refresh=True)


async def _rotated(store: TokenStore, token: str, record: RefreshToken) -> IssuedTokens:
    issued = await store.rotate_refresh(token, record, _refresh_spec())
    assert issued is not None
    return issued


@pytest.mark.rule("revoke.cache-exact-on-host")
@pytest.mark.parametrize("how", ["access token", "its grant", "the user's grants",
                                 "replayed code", "displaced past the cap", "raced rotation"])
async def test_a_revocation_returns_only_after_one_more_round_trip(
    cached: TokenStore, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Redis writes the invalidations of a turn before it serves the next one: a round trip
    after the revoking one proves every worker's socket already holds the message."""
    trips: list[list[str]] = []
    exchange = gateway(cached)._exchange

    async def recording(commands: Any, *wait: Any) -> Any:
        trips.append([str(command[0]) for command in commands])
        return await exchange(commands, *wait)

    monkeypatch.setattr(gateway(cached), "_exchange", recording)
    await _revoke(cached, how)
    revoking = max(i for i, trip in enumerate(trips) if "EVALSHA" in trip)
    # A sweep unindexes what it revoked (ZREM) before the PING that ends it; a replay caught
    # inside its script then reads what was exchanged from the grant (ZRANGE, RFC 8693).
    assert trips[revoking + 1:] in ([["PING"]], [["ZREM", "ZREM"], ["PING"]],
                                    [["ZREM", "ZREM", "ZREM"], ["PING"]],
                                    [["ZRANGE"], ["PING"]]), trips


@pytest.mark.rule("abuse.cache-untracked-throttle")
async def test_failure_counters_send_no_invalidation_to_the_workers(
    cached: TokenStore, own_redis: RedisProcess
) -> None:
    """Unauthenticated requests write the counters: they must not reach every worker's
    invalidation connection. A tracked write after them is the only message."""
    issued = await cached.issue(_spec())
    await _warm(cached, issued.access_token)
    cache = _cache(cached)
    seen = cache.invalidations
    other = TokenStore.from_url(own_redis.url)
    try:
        for i in range(20):
            await count_failure(other, "client", f"guess{i}", window=60)
        assert await other.revoke_token(issued.access_token)
    finally:
        await other.aclose()
    await until(lambda: cache.entries == {}, "the revocation's invalidation arrived")
    assert cache.invalidations == seen + 1
    assert not any(key.startswith(cached.keys.throttle("client", "")[:-64])
                   for key in cache.records)


@pytest.mark.rule("revoke.cache-database-swapped")
async def test_swapping_the_database_empties_the_cache(
    cached: TokenStore, own_redis: RedisProcess
) -> None:
    """SWAPDB sends no invalidation; the generation read with each heartbeat sees it."""
    issued = await cached.issue(_spec())
    await _warm(cached, issued.access_token)
    cache = _cache(cached)
    other = aioredis.Redis.from_url(own_redis.url)
    try:
        await other.swapdb(0, 1)
        await until(lambda: cache.entries == {}, "the cache is empty")
        assert await cached.resolve(issued.access_token) is None
        second = await cached.issue(_spec())  # now in the swapped-in database
        await _warm(cached, second.access_token)
        await other.swapdb(0, 1)  # and back
        await until(lambda: cache.entries == {}, "the cache is empty")
        assert await cached.resolve(second.access_token) is None
        assert await cached.resolve(issued.access_token) == issued.token
    finally:
        await other.flushdb()
        await other.aclose()


async def _revoke(store: TokenStore, how: str) -> str:
    """Issue a token the way ``how`` needs, warm the cache with it, revoke it; the token."""
    if how == "replayed code":
        value = await store.create_code(AuthorizationCode(
            grant_id="", client_id="web", subject="alice", redirect_uri="https://app.example/cb",
            redirect_uri_explicit=True, scopes=frozenset({"polls:results"})))
        code = await get_code(store, value)
        assert code is not None
        issued = await store.redeem_code(value, code, _spec())
        assert issued is not None
        await _warm(store, issued.access_token)
        assert await store.redeem_code(value, code, _spec()) is None  # the replay revokes
        return issued.access_token
    if how == "raced rotation":
        first = await store.issue(replace(_spec(), refresh=True))
        assert first.refresh_token is not None
        record = await get_refresh(store, first.refresh_token)
        assert record is not None
        issued = await _rotated(store, first.refresh_token, record)
        await _warm(store, issued.access_token)
        # A rival that read the same record before the win: its script revokes the grant.
        assert await store.rotate_refresh(first.refresh_token, record, _refresh_spec()) is None
        return issued.access_token
    issued = await store.issue(replace(_spec(), refresh=True))
    await _warm(store, issued.access_token)
    if how == "access token":
        assert await store.revoke_token(issued.access_token)
    elif how == "its grant":
        assert issued.refresh_token is not None
        assert await store.revoke_token(issued.refresh_token)
    elif how == "the user's grants":
        assert await store.revoke_user("alice") == 2
    else:  # as many newer grants as the cap: the oldest, this one, is displaced
        assert isinstance(store.clock, FakeClock)
        for _ in range(caps(store)[0]):
            store.clock.advance(1)
            await store.issue(replace(_spec(), refresh=True))
        assert await get_refresh(store, str(issued.refresh_token)) is None
    return issued.access_token


@pytest.mark.parametrize("how", ["access token", "its grant", "the user's grants",
                                 "replayed code", "displaced past the cap", "raced rotation"])
async def test_a_token_this_process_revokes_is_refused_at_once(
    cached: TokenStore, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The revoking process does not wait for Redis's invalidation message: here it is
    held back for the whole test, and the very next resolve must already miss."""
    cache = _cache(cached)
    held: list[list[bytes] | None] = []
    monkeypatch.setattr(cache, "_invalidate", held.append)
    token = await _revoke(cached, how)
    assert cache.entries == {}
    assert await cached.resolve(token) is None


async def test_a_rewritten_token_record_is_read_again(cached: TokenStore) -> None:
    issued = await cached.issue(_spec())
    await _warm(cached, issued.access_token)
    cache = _cache(cached)
    seen = cache.invalidations
    key = next(iter(cache.entries))
    await redis_of(cached).set(key, b'{"not": "a token"}', keepttl=True)
    await until(lambda: cache.invalidations > seen, "the invalidation arrived")
    assert key not in cache.entries


@pytest.mark.rule("revoke.cache-database-swapped")
async def test_flushing_redis_empties_the_cache(cached: TokenStore) -> None:
    issued = await cached.issue(_spec())
    await _warm(cached, issued.access_token)
    await redis_of(cached).flushdb()
    await until(lambda: not _cache(cached).entries, "the cache is empty")
    assert await cached.resolve(issued.access_token) is None


async def test_expiry_is_still_checked_on_a_hit(cached: TokenStore, clock: FakeClock) -> None:
    issued = await cached.issue(_spec())
    await _warm(cached, issued.access_token)
    clock.advance(3600)
    with Counting(cached) as counting:
        assert await cached.resolve(issued.access_token) is None
    assert counting.calls == []


async def test_losing_the_invalidation_connection_flushes_and_stops_serving(
    cached: TokenStore,
) -> None:
    issued = await cached.issue(_spec())
    await _warm(cached, issued.access_token)
    cache = _cache(cached)
    killed = await redis_of(cached).client_kill_filter(_type="pubsub")
    assert killed == 1
    await until(lambda: not cache.serving, "the cache stops serving")
    assert cache.entries == {}
    with Counting(cached) as counting:
        assert await cached.resolve(issued.access_token) == issued.token
    assert [c[0] for c in counting.calls] == ["GET"]
    assert cache.entries == {}  # nothing is kept while the cache is off
    await until(lambda: cache.serving, "the cache serves again")
    await _warm(cached, issued.access_token)


async def test_a_frozen_redis_stops_the_cache_and_the_route_answers_503(
    cached: TokenStore, own_redis: RedisProcess
) -> None:
    issued = await cached.issue(_spec())
    await _warm(cached, issued.access_token)
    app = build_app(cached)
    headers = {"Authorization": f"Bearer {issued.access_token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as client:
        own_redis.freeze()
        try:
            await until(lambda: not _cache(cached).serving, "the cache stops serving")
            response = await client.get("/polls/1/results", headers=headers)
        finally:
            own_redis.thaw()
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        await until(lambda: _cache(cached).serving, "the cache serves again")
        assert (await client.get("/polls/1/results", headers=headers)).status_code == 200


def test_a_read_crossed_by_an_invalidation_is_not_kept() -> None:
    cache = _serving_cache()
    record = _record()
    epoch = cache.begin("om:at:k")
    cache._invalidate([b"om:at:k"])
    cache.finish("om:at:k", epoch, record)
    assert cache.entries == {}
    epoch = cache.begin("om:at:k")
    cache.finish("om:at:k", epoch, record)
    assert cache.entries == {"om:at:k": record}


def test_a_read_crossed_by_a_flush_is_not_kept() -> None:
    cache = _serving_cache()
    epoch = cache.begin("om:at:k")
    cache._invalidate(None)
    cache.finish("om:at:k", epoch, _record())
    assert cache.entries == {}


def test_nothing_is_kept_while_the_cache_is_not_serving() -> None:
    cache = TokenCache(_no_connection, "om:at:")
    cache.finish("om:at:k", cache.begin("om:at:k"), _record())
    assert cache.entries == {}


def test_a_key_redis_does_not_track_is_never_kept() -> None:
    """Redis would never invalidate it: kept, it would be served forever."""
    cache = _serving_cache()
    cache.finish("om:rt:k", cache.begin("om:rt:k"), _record())
    cache.keep("om:throttle:client:x", cache.begin("om:throttle:client:x"), [b"3", b"9"])
    assert cache.entries == {} and cache.records == {}


def test_the_oldest_entry_goes_when_the_cache_is_full() -> None:
    cache = _serving_cache(size=2)
    for key in ("om:at:a", "om:at:b", "om:at:c"):
        cache.finish(key, cache.begin(key), _record())
    assert list(cache.entries) == ["om:at:b", "om:at:c"]


def test_bad_cache_settings_raise_at_construction() -> None:
    with pytest.raises(ValueError, match="lease longer than heartbeat"):
        TokenCache(_no_connection, "om:at:", heartbeat=1.0, lease=0.5)


def test_the_embedded_store_ignores_the_local_cache() -> None:
    assert gateway(TokenStore.from_url(None, local_cache=True)).cache is None


def _no_connection() -> aioredis.Connection:
    raise AssertionError("no connection in a unit test")


def _serving_cache(size: int = 10) -> TokenCache:
    cache = TokenCache(_no_connection, "om:at:", size=size)
    cache._serving_until = time.monotonic() + 3600
    return cache


def _record() -> AccessToken:
    return AccessToken(grant_id="g" * 22, client_id="web", subject="alice")


class _Transport:
    """Just enough of an asyncio transport for the invalidation protocol: a real socket
    to poll, and what was written."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.written = sock, b""

    def get_extra_info(self, name: str) -> Any:
        return self.sock if name == "socket" else None

    def write(self, data: bytes) -> None:
        self.written += data

    def abort(self) -> None:
        self.sock.close()


@pytest.mark.rule("revoke.cache-exact-on-host")
async def test_a_message_read_in_pieces_is_pending_until_whole_then_applied() -> None:
    ours, theirs = socket.socketpair()
    applied: list[list[bytes] | None] = []
    link = Invalidations(_Transport(ours), applied.append, b"__redis__:invalidate")  # type: ignore[arg-type]
    try:
        message = (b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
                   b"*2\r\n$9\r\nom:at:{g}\r\n$11\r\nom:client:w\r\n"
                   b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n")
        assert not link.pending()
        for i in range(len(message) - 1):
            link.data_received(message[i:i + 1])
            assert link.pending() == (i != 80), i  # 80: the first message's last byte
        link.data_received(message[-1:])
        assert applied == [[b"om:at:{g}", b"om:client:w"], None]
        assert not link.pending()
        theirs.send(b"+PONG\r\n")  # in the kernel, not read yet: pending
        assert link.pending()
    finally:
        ours.close()
        theirs.close()
