"""``/healthz`` and ``/readyz`` (oauth_middleware.health): probes that follow Redis."""

from __future__ import annotations

import json

import httpx
import pytest

from oauth_middleware.health import Health
from oauth_middleware.store import TokenStore
from oauth_middleware.store._gateway.script import SCRIPTS
from tests.ops_app import build_ops_app
from tests.polling import until
from tests.redis_process import RedisProcess
from tests.server.token_harness import http
from tests.servers import UvicornProcess
from tests.store_helpers import cache_of, gateway, redis_of

UNREADY = {"status": "unavailable", "failed": "redis"}


def assert_probe(response: httpx.Response, status: int, body: dict[str, str]) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == body


@pytest.mark.rule("redis.readiness", "redis.resume")
async def test_readyz_turns_503_when_redis_stops_and_200_when_it_is_back(
    own_redis: RedisProcess,
) -> None:
    with UvicornProcess("tests.ops_app:uvicorn_ops_app", "--factory",
                        env={"REDIS_URL": own_redis.url}) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert_probe(await client.get("/readyz"), 200, {"status": "ready"})
            own_redis.kill()
            down = await client.get("/readyz", headers={"X-Request-ID": "probe-1"})
            alive = await client.get("/healthz")
            own_redis.start()
            back = await client.get("/readyz")
        server.stop()
        log = server.output()
    assert_probe(down, 503, UNREADY)
    assert down.headers["x-request-id"] == "probe-1"
    assert_probe(alive, 200, {"status": "ok"})
    assert_probe(back, 200, {"status": "ready"})
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert {"logger": "oauth_middleware.health", "level": "WARNING", "request_id": "probe-1",
            "message": "not ready: the redis check failed"}.items() <= next(
        line for line in lines if line["logger"] == "oauth_middleware.health").items()
    assert any(line["message"] == "ready again" for line in lines)
    assert str(own_redis.port) not in down.text


async def test_readyz_loads_the_scripts_a_flushed_redis_lost(store: TokenStore) -> None:
    async with http(build_ops_app(store)) as client:
        if not store.embedded:  # every primary of a cluster forgets them too
            await gateway(store).client.script_flush()
        ready = await client.get("/readyz")
        head = await client.head("/readyz")
        post = await client.post("/readyz")
    assert_probe(ready, 200, {"status": "ready"})
    assert head.status_code == 200 and head.content == b""
    assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"
    if not store.embedded and not gateway(store).cluster:
        shas = [script.sha for script in SCRIPTS]
        assert all(await redis_of(store).script_exists(*shas))


async def test_readyz_waits_for_the_cache_tracking_connection(
    cached: TokenStore, own_redis: RedisProcess,
) -> None:
    health = Health(cached, timeout=1.0)
    assert await health.failing() == "cache"  # not subscribed yet: its first probe starts it
    await until(lambda: cache_of(cached).serving, "the cache serves")
    assert await health.failing() is None
    own_redis.kill()
    assert await health.failing() == "redis"


def test_a_health_app_needs_a_store_and_a_sane_timeout() -> None:
    with pytest.raises(ValueError, match="TokenStore"):
        Health("redis://localhost", timeout=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        Health(TokenStore.from_url(None), timeout=0)
