"""A DPoP app behind real uvicorn, two workers on one real redis-server, for the round trips:
each request may land on either worker, so what they share is what Redis holds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.redis_process import RedisProcess, free_port
from tests.servers import UvicornProcess


@contextmanager
def two_workers(factory: str, redis: RedisProcess, probe: str, status: int
                ) -> Iterator[UvicornProcess]:
    """``uvicorn --factory`` of ``factory`` with two workers, told its Redis (``REDIS_URL``)
    and its own origin (``OM_BASE``); ready once ``probe`` answered ``status`` eight times in
    a row, by which time both workers have imported the app."""
    port = free_port()
    env = {"REDIS_URL": redis.url, "OM_BASE": f"http://127.0.0.1:{port}"}
    with UvicornProcess(factory, "--factory", "--workers", "2", "--log-level", "warning",
                        env=env, port=port) as running:
        with httpx.Client(base_url=running.url, timeout=20) as client:
            for _ in range(8):
                assert client.get(probe).status_code == status
        yield running
