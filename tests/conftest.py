"""Fixtures shared by the suite: the two store backends, an injectable clock, ASGI clients.

Every test that takes ``store`` runs twice: against fakeredis (the embedded
store) and against a real ``redis-server`` started on a loopback port for the
session. ``--backends fake`` or ``--backends redis`` narrows that for local work;
CI runs both.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import pytest

from oauth_middleware.store import TokenStore
from tests.redis_process import RedisProcess
from tests.store_helpers import redis_of

BACKENDS = ("fake", "redis")
#: Fixtures of the fault-injection helpers (own_redis, own_store), available suite-wide.
pytest_plugins = ["tests.faults", "tests.single_slot"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backends", default="fake,redis",
                     help="comma-separated store backends to run: fake, redis")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = [b for b in metafunc.config.getoption("--backends").split(",") if b]
        unknown = set(chosen) - set(BACKENDS)
        if unknown:
            raise pytest.UsageError(f"unknown backend(s): {', '.join(sorted(unknown))}")
        if "real_redis_only" in metafunc.definition.keywords:
            chosen = [b for b in chosen if b == "redis"]
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


@pytest.fixture
async def store(
    backend: str, clock: FakeClock, request: pytest.FixtureRequest
) -> AsyncIterator[TokenStore]:
    url = None
    if backend == "redis":
        url = request.getfixturevalue("redis_server").url
    token_store = TokenStore.from_url(url, clock=clock)
    await redis_of(token_store).flushdb()
    yield token_store
    await token_store.aclose()


@pytest.fixture
async def cached(own_redis: RedisProcess, clock: FakeClock) -> AsyncIterator[TokenStore]:
    """A store with the local token cache, on a redis-server of the test's own."""
    cached_store = TokenStore.from_url(own_redis.url, clock=clock, local_cache=True)
    yield cached_store
    await cached_store.aclose()
