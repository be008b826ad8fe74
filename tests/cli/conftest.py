"""The ``cli`` fixture: the command line wired to one store backend per test run."""

from __future__ import annotations

import pytest

from tests.cli.harness import Cli
from tests.conftest import FakeClock


@pytest.fixture
def cli(backend: str, clock: FakeClock, request: pytest.FixtureRequest) -> Cli:
    url = None
    if backend == "redis":
        url = request.getfixturevalue("redis_server").url
    harness = Cli(backend, clock, url)
    harness.run(lambda store: store.redis.flushdb())
    return harness
