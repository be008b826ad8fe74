"""Fixtures for the demo tests: the demo as a real process, and a user agent for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis

from tests.demo.harness import DEMO_DB, WEB_SECRET, Demo
from tests.redis_process import RedisProcess
from tests.servers import DemoProcess


@pytest.fixture
def demo(redis_server: RedisProcess) -> Iterator[Demo]:
    redis_url = redis_server.url.rsplit("/", 1)[0] + f"/{DEMO_DB}"
    with redis.Redis.from_url(redis_url) as db:
        db.flushdb()  # the demo remembers consent: no test may find an earlier one's
    process = DemoProcess(env={"REDIS_URL": redis_url, "DEMO_CLIENT_SECRET": WEB_SECRET})
    with process:
        yield Demo(process, redis_url)


@pytest.fixture
async def agent(demo: Demo) -> AsyncIterator[httpx.AsyncClient]:
    """A user agent that keeps cookies and shows every redirect to the test."""
    async with httpx.AsyncClient(base_url=demo.url, follow_redirects=False) as client:
        yield client
