"""The local cache's rules (store/_gateway/cache.py) against an in-process tracking server.

The invalidation connection talks to :class:`tests.tracking_server.TrackingServer`, which
answers as Redis does; the gateway reads the data from fakeredis. Every rule that keeps
the cache exact is driven here: nothing served before the first heartbeat answer, an
invalidation drops its key, a flush or a new database generation drops everything, a
lost or silent connection flushes and stops serving, a read crossed by an invalidation
is not kept, and the size bound. The real-server halves are tests/test_cache.py and
tests/test_cache_workers.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import fakeredis
import pytest

from oauth_middleware.store._gateway import cache as cache_module
from oauth_middleware.store._gateway.cache import MISS, TokenCache
from oauth_middleware.store._gateway.gateway import Gateway
from tests.polling import until
from tests.tracking_server import FakeConnection, TrackingServer, invalidation

PREFIXES = ("om:at:", "om:client:")


@pytest.fixture
def server() -> TrackingServer:
    return TrackingServer()


@pytest.fixture
async def cache(server: TrackingServer, monkeypatch: pytest.MonkeyPatch
                ) -> AsyncIterator[TokenCache]:
    monkeypatch.setattr(cache_module, "RECONNECT_DELAY", 0.0)
    # No test here waits for this lease to run out (those make a cache of their own with a
    # short one); a long one keeps a loaded host (a mutation run) from ending it mid-test.
    made = TokenCache(server.connect, *PREFIXES, size=3, heartbeat=0.01, lease=60.0,  # type: ignore[arg-type]
                      generation=server.database_generation)
    yield made
    await made.aclose()


@pytest.fixture
async def gate(cache: TokenCache) -> AsyncIterator[Gateway]:
    made = Gateway(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()))
    made.cache = cache
    yield made
    await made.aclose()


async def _serving(cache: TokenCache) -> None:
    cache.live()  # starts the listener on this loop
    await until(cache.live, "the cache serves")


def _keep(cache: TokenCache, key: str, value: Any) -> None:
    cache.keep(key, cache.begin(key), value)


async def test_tracking_is_asked_for_the_prefixes_in_broadcast_mode_redirected_to_itself(
    cache: TokenCache, server: TrackingServer,
) -> None:
    await _serving(cache)
    assert cache._task is not None and cache._task.get_name() == "oauth-token-cache"
    assert server.commands[:3] == [
        [b"CLIENT", b"ID"],
        [b"CLIENT", b"TRACKING", b"ON", b"REDIRECT", b"42", b"BCAST",
         b"PREFIX", b"om:at:", b"PREFIX", b"om:client:"],
        [b"SUBSCRIBE", b"__redis__:invalidate"],
    ]
    assert server.commands[3] == [b"PING"]


async def test_nothing_is_kept_or_served_before_the_first_heartbeat_answer(
    cache: TokenCache, server: TrackingServer,
) -> None:
    server.answering = False
    cache.live()
    await until(lambda: server.pings() >= 1, "a heartbeat was sent")
    assert not cache.live() and not cache.serving
    _keep(cache, "om:client:a", b"record")
    cache.finish("om:at:t", cache.begin("om:at:t"), "token")
    assert cache.records == {} and cache.entries == {} and cache.get("om:at:t") is None
    server.resume()
    await until(cache.live, "the cache serves")
    _keep(cache, "om:client:a", b"record")
    cache.finish("om:at:t", cache.begin("om:at:t"), "token")
    assert cache.records == {"om:client:a": b"record"} and cache.get("om:at:t") == "token"


async def test_an_invalidation_drops_its_keys_and_only_those(
    cache: TokenCache, server: TrackingServer,
) -> None:
    await _serving(cache)
    cache.finish("om:at:t", cache.begin("om:at:t"), "token")
    _keep(cache, "om:client:a", b"a")
    _keep(cache, "om:client:b", None)  # "no such client" is a reply worth keeping too
    seen = cache.invalidations
    server.push(invalidation([b"om:at:t", b"om:client:a"]))
    await until(lambda: cache.invalidations == seen + 1, "the invalidation was applied")
    assert cache.entries == {} and cache.records == {"om:client:b": None}
    assert cache.last_invalidation > 0
    await until(cache.live, "the cache still serves")  # a heartbeat's answer may be unread
    cache.finish("om:at:\ufffd", cache.begin("om:at:\ufffd"), "odd")
    server.push(invalidation([b"om:at:\xff"]))  # not UTF-8: read with replacement, not fatal
    await until(lambda: cache.invalidations == seen + 2, "the second one was applied")
    assert cache.entries == {} and server.connections == 1
    await until(cache.live, "the cache still serves")


async def test_a_flush_message_drops_everything(cache: TokenCache, server: TrackingServer
                                                ) -> None:
    await _serving(cache)
    cache.finish("om:at:t", cache.begin("om:at:t"), "token")
    _keep(cache, "om:client:a", b"a")
    server.push(invalidation(None))
    await until(lambda: cache.invalidations == 1, "the flush was applied")
    assert cache.entries == {} and cache.records == {}


@pytest.mark.rule("revoke.cache-database-swapped")
async def test_a_new_database_generation_empties_the_cache_and_the_same_one_keeps_it(
    cache: TokenCache, server: TrackingServer,
) -> None:
    await _serving(cache)
    _keep(cache, "om:client:a", b"a")
    pings = server.pings()
    await until(lambda: server.pings() >= pings + 2, "two more heartbeats")
    assert cache.records == {"om:client:a": b"a"}
    server.generation = b"generation-2"  # SWAPDB: no invalidation, another generation
    pings = server.pings()
    await until(lambda: server.pings() >= pings + 2, "two more heartbeats")
    assert cache.records == {}
    _keep(cache, "om:client:a", b"a")
    pings = server.pings()
    await until(lambda: server.pings() >= pings + 2, "two more heartbeats")
    assert cache.records == {"om:client:a": b"a"}


@pytest.mark.parametrize("how", ["hang up", "nonsense", "generation refused"])
async def test_a_lost_connection_flushes_stops_serving_and_a_new_one_flushes_again(
    cache: TokenCache, server: TrackingServer, caplog: pytest.LogCaptureFixture, how: str,
) -> None:
    await _serving(cache)
    _keep(cache, "om:client:a", b"a")
    epoch = cache.begin("om:client:b")  # a read in flight while the connection goes
    if how == "generation refused":  # (a held PING would make this wait for the lease)
        server.generation_error = ConnectionError("injected: the read failed")
    else:
        server.answering = False  # the new connection serves nothing until its first answer
        server.hang_up() if how == "hang up" else server.push(b"?what\r\n")
    await until(lambda: server.connections >= 2, "a new connection")
    if how != "generation refused":
        assert not cache.live() and not cache.serving
    assert cache.records == {}
    server.generation_error = None
    server.resume()
    await until(cache.live, "the cache serves again")
    cache.keep("om:client:b", epoch, b"stale")
    assert cache.records == {}
    said = [r.getMessage() for r in caplog.records if "invalidation connection lost" in
            r.getMessage()]
    assert said and said[0].startswith("token cache: invalidation connection lost (")
    assert said[0].endswith("); cache off until it is back")
    if how == "nonsense":
        assert said[0] == ("token cache: invalidation connection lost (ValueError); cache off "
                           "until it is back")


async def test_a_silent_connection_stops_the_cache_within_the_lease(
    server: TrackingServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cache_module, "RECONNECT_DELAY", 0.0)
    cache = TokenCache(server.connect, "om:at:", heartbeat=0.01, lease=0.2,  # type: ignore[arg-type]
                       generation=server.database_generation)
    try:
        await _serving(cache)
        pings = server.pings()  # heartbeats keep their pace (a tenth of a second apart at most)
        await until(lambda: server.pings() >= pings + 60, "sixty more heartbeats")
        cache.finish("om:at:t", cache.begin("om:at:t"), "token")
        server.answering = False
        await until(lambda: server.connections == 2, "the silent connection was dropped")
        assert cache.entries == {} and not cache.serving and cache.get("om:at:t") is None
    finally:
        await cache.aclose()


async def test_without_a_generation_to_read_the_pong_alone_extends_the_lease(
    server: TrackingServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A store with nothing like ``SWAPDB`` to watch (a cluster's) reads no generation."""
    monkeypatch.setattr(cache_module, "RECONNECT_DELAY", 0.0)
    cache = TokenCache(server.connect, "om:at:", heartbeat=0.01, lease=60.0)  # type: ignore[arg-type]
    try:
        await _serving(cache)
        _keep(cache, "om:at:t", "token")
        pings = server.pings()
        await until(lambda: server.pings() >= pings + 2, "two more heartbeats")
        assert cache.records == {"om:at:t": "token"}
        await until(cache.live, "the cache still serves")
        assert server.connections == 1
    finally:
        await cache.aclose()


async def test_a_cache_never_used_starts_empty_and_closes_cleanly(server: TrackingServer
                                                                 ) -> None:
    cache = TokenCache(server.connect, "om:at:")  # type: ignore[arg-type]
    assert (cache.invalidations, cache.last_invalidation, cache.serving) == (0, 0.0, False)
    await cache.aclose()
    assert server.connections == 0 and cache._task is None


async def test_closing_stops_the_listener_and_serves_nothing(
    cache: TokenCache, server: TrackingServer,
) -> None:
    await _serving(cache)
    cache.finish("om:at:t", cache.begin("om:at:t"), "token")
    task = cache._task
    await cache.aclose()
    assert task is not None and task.done()
    assert cache.entries == {} and not cache.serving
    pings = server.pings()
    await until(lambda: server.connections == 1 and server.pings() == pings, "no heartbeat")


async def test_overlapping_reads_crossed_by_an_invalidation_keep_nothing(
    cache: TokenCache,
) -> None:
    await _serving(cache)
    first, second = cache.begin("om:client:a"), cache.begin("om:client:a")
    cache.forget("om:client:a")  # this process wrote it meanwhile
    cache.keep("om:client:a", first, b"old")
    cache.keep("om:client:a", second, b"old")
    assert cache.records == {}
    third = cache.begin("om:client:a")
    cache.keep("om:client:a", third, MISS)  # a failed read keeps nothing either
    assert cache.records == {}
    _keep(cache, "om:client:a", b"new")
    assert cache.records == {"om:client:a": b"new"}


async def test_the_cache_holds_at_most_its_size_dropping_the_oldest(cache: TokenCache) -> None:
    await _serving(cache)
    for key in ("om:client:a", "om:client:b", "om:client:c"):
        _keep(cache, key, key.encode())
    _keep(cache, "om:client:a", b"again")  # a key already held evicts nothing
    assert list(cache.records) == ["om:client:a", "om:client:b", "om:client:c"]
    _keep(cache, "om:client:d", b"d")
    assert list(cache.records) == ["om:client:b", "om:client:c", "om:client:d"]
    for key in ("om:at:1", "om:at:2", "om:at:3", "om:at:4"):
        cache.finish(key, cache.begin(key), key)
    assert list(cache.entries) == ["om:at:2", "om:at:3", "om:at:4"]


@pytest.mark.parametrize(("size", "heartbeat", "lease", "prefixes"), [
    (0, 0.25, 1.0, ("om:at:",)), (1, 0.0, 1.0, ("om:at:",)), (1, 0.5, 0.5, ("om:at:",)),
    (1, 0.25, 1.0, ()),
])
def test_cache_settings_that_cannot_work_are_refused(
    size: int, heartbeat: float, lease: float, prefixes: tuple[str, ...],
) -> None:
    message = ("cache size must be positive, lease longer than heartbeat, and at least one "
               "key prefix tracked")
    with pytest.raises(ValueError, match=f"^{message}$"):
        TokenCache(lambda: None, *prefixes, size=size, heartbeat=heartbeat,  # type: ignore[arg-type,return-value]
                   lease=lease)
    made = TokenCache(lambda: None, "om:at:", size=1, heartbeat=0.001, lease=0.002)  # type: ignore[arg-type,return-value]
    assert (made.size, made.heartbeat, made.lease, made.prefixes) == (1, 0.001, 0.002,
                                                                      ("om:at:",))


@pytest.mark.parametrize("stall", ["connect", "setup", "generation"])
async def test_a_connection_that_never_comes_up_is_given_up_within_the_lease(
    server: TrackingServer, monkeypatch: pytest.MonkeyPatch, stall: str,
) -> None:
    monkeypatch.setattr(cache_module, "RECONNECT_DELAY", 0.0)
    attempts: list[FakeConnection] = []
    abandoned: list[bool] = []

    async def never() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            abandoned.append(True)  # the attempt is cancelled, not left running
            raise

    def connect() -> FakeConnection:
        made = server.connect()
        attempts.append(made)
        if len(attempts) == 1 and stall == "connect":
            made.connect = never  # type: ignore[method-assign]
        return made

    server.mute_setup = stall == "setup"
    server.generation_stall = stall == "generation"
    cache = TokenCache(connect, "om:at:", heartbeat=0.01, lease=0.1,  # type: ignore[arg-type]
                       generation=server.database_generation)
    try:
        cache.live()
        await until(lambda: len(attempts) >= 2, "a second attempt")
        server.mute_setup = server.generation_stall = False
        await until(cache.live, "the cache serves")
        assert attempts[0].disconnected
        assert abandoned == ([True] if stall == "connect" else [])
    finally:
        await cache.aclose()


async def _settled(tasks: set[asyncio.Task[Any]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


def test_a_listener_left_on_another_loop_is_cancelled_there(server: TrackingServer) -> None:
    cache = TokenCache(server.connect, "om:at:", heartbeat=0.01, lease=2.0,  # type: ignore[arg-type]
                       generation=server.database_generation)
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        first.run_until_complete(_serving(cache))
        old = cache._task
        second.run_until_complete(_serving(cache))
        assert old is not None and not old.done() and cache._task is not old
        first.run_until_complete(asyncio.sleep(0.01))  # the old loop runs its cancellation
        assert old.cancelled()
        second.run_until_complete(cache.aclose())
    finally:
        for loop in (first, second):  # the stand-in server's tasks end with their loop
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            loop.run_until_complete(_settled(left))
            loop.close()
