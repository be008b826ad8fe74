"""Dynamic registration behind real uvicorn (two workers) and a real redis-server: the
per-address allowance holds across processes, counted from the socket's peer address."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from oauth_middleware.models import Scope
from oauth_middleware.store import TokenStore
from tests.redis_process import RedisProcess, free_port
from tests.server.registration_harness import MCP
from tests.server.token_harness import METADATA_URL
from tests.servers import UvicornProcess

pytestmark = pytest.mark.real_redis_only


@pytest.fixture(scope="module")
def server(redis_server: RedisProcess) -> Iterator[UvicornProcess]:
    port = free_port()
    env = {"REDIS_URL": redis_server.url, "OM_ISSUER": f"http://127.0.0.1:{port}/oauth"}
    with UvicornProcess("tests.server.token_server_app:build_registration", "--factory",
                        "--workers", "2", "--log-level", "warning", env=env,
                        port=port) as running:
        with httpx.Client(base_url=running.url, timeout=20) as client:
            for _ in range(8):
                assert client.get(METADATA_URL).status_code == 200
        yield running


@pytest.mark.rule("registration.bounded")
async def test_of_50_concurrent_registrations_over_the_network_exactly_7_pass(
    server: UvicornProcess, store: TokenStore
) -> None:
    await store.save_scope(Scope("polls:read", "Read your polls"))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        meta = (await http.get(METADATA_URL)).json()
        endpoint = meta["registration_endpoint"]
        responses = await asyncio.gather(*(http.post(endpoint, json=MCP) for _ in range(50)))
        created = [r.json() for r in responses if r.status_code == 201]
        refused = [r for r in responses if r.status_code != 201]
        assert len(created) == 7 and len(refused) == 43, refused[0].text
        assert all(r.status_code == 429 and r.json()["error"] == "slow_down" for r in refused)
        read = await http.get(created[0]["registration_client_uri"], headers={
            "authorization": f"Bearer {created[0]['registration_access_token']}"})
    assert read.status_code == 200 and read.json()["client_id"] == created[0]["client_id"]
    assert await store.count_dynamic_clients() == 7
    for body in created:
        client = await store.get_client(body["client_id"])
        assert client is not None and client.dynamic
