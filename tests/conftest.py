"""Fixtures shared by the suite: the two store backends, an injectable clock, ASGI clients.

Every test that takes ``store`` runs three times: against fakeredis (the embedded
store), against a real ``redis-server`` started on a loopback port for the session,
and against a real 3-primary Redis Cluster (``redis-server --cluster-enabled yes``,
started on first use and stopped with the session). ``--backends fake`` (or any
comma-separated subset of fake, redis, cluster) narrows that for local work; CI runs
all three. A test that needs one node's commands (SCAN of the whole keyspace, a pipeline
of the raw client, signals) is marked ``real_redis_only`` or ``not_on_cluster``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio.cluster import RedisCluster

from oauth_middleware.store import TokenStore
from tests.redis_process import RedisProcess
from tests.store_helpers import redis_of
from tests.topologies import Cluster, cluster

BACKENDS = ("fake", "redis", "cluster")
#: Seconds the shared servers' stores wait for one reply (not a behaviour under test).
SHARED_SERVER_TIMEOUT = 5.0
#: Fixtures of the fault-injection helpers (own_redis, own_store), available suite-wide.
pytest_plugins = ["tests.faults", "tests.mutation.wall_clock", "tests.single_slot"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backends", default="fake,redis,cluster",
                     help="comma-separated store backends to run: fake, redis, cluster")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = [b for b in metafunc.config.getoption("--backends").split(",") if b]
        unknown = set(chosen) - set(BACKENDS)
        if unknown:
            raise pytest.UsageError(f"unknown backend(s): {', '.join(sorted(unknown))}")
        if "real_redis_only" in metafunc.definition.keywords:
            chosen = [b for b in chosen if b == "redis"]
        if "not_on_cluster" in metafunc.definition.keywords:
            chosen = [b for b in chosen if b != "cluster"]
        metafunc.parametrize("backend", chosen)


class FakeClock:
    """Time the store reads; tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess]:
    server = RedisProcess().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    """A 3-primary Redis Cluster on loopback, started the first time a test asks for it."""
    with cluster() as made:
        yield made


@pytest.fixture
async def store(
    backend: str, clock: FakeClock, request: pytest.FixtureRequest
) -> AsyncIterator[TokenStore]:
    url = None
    if backend == "redis":
        url = request.getfixturevalue("redis_server").url
    if backend == "cluster":
        url = request.getfixturevalue("redis_cluster").url
    # A loaded CI machine can hold a reply (or a cluster node's accept) past the
    # production timeouts; the tests of timeouts freeze a server of their own
    # (tests/faults.py), so this one waits longer for both.
    token_store = TokenStore.from_url(url, clock=clock, socket_timeout=SHARED_SERVER_TIMEOUT,
                                      connect_timeout=SHARED_SERVER_TIMEOUT)
    client = redis_of(token_store)
    if isinstance(client, RedisCluster):  # the tests' KEYS reads the whole keyspace
        client.command_flags["KEYS"] = RedisCluster.PRIMARIES
    await client.flushdb()  # on a cluster: every primary
    yield token_store
    await token_store.aclose()


@pytest.fixture
async def cached(own_redis: RedisProcess, clock: FakeClock) -> AsyncIterator[TokenStore]:
    """A store with the local token cache, on a redis-server of the test's own."""
    cached_store = TokenStore.from_url(own_redis.url, clock=clock, local_cache=True)
    yield cached_store
    await cached_store.aclose()
