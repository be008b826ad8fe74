"""The ``cli`` fixture: the command line wired to one store backend per test run."""

from __future__ import annotations

import pytest

from tests.cli.harness import Cli
from tests.conftest import FakeClock
from tests.store_helpers import redis_of


@pytest.fixture
def cli(backend: str, clock: FakeClock, request: pytest.FixtureRequest) -> Cli:
    url = None
    if backend == "redis":
        url = request.getfixturevalue("redis_server").url
    harness = Cli(backend, clock, url)
    harness.run(lambda store: redis_of(store).flushdb())
    return harness
