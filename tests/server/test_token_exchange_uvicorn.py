"""Token exchange (RFC 8693) behind real uvicorn (two workers) and a real redis-server.

Fifty exchanges of one subject token race one revocation of its grant across two
processes: every exchange either failed or issued a token that is dead once the
revocation answered, and Redis holds no link left over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from oauth_middleware.store import TokenStore
from tests.redis_process import RedisProcess, free_port
from tests.server.exchange_harness import ACCESS, exchange, own_token, services, user_token
from tests.server.token_harness import METADATA_URL, REVOKE_PATH, auth_of
from tests.servers import UvicornProcess
from tests.store_helpers import redis_of

pytestmark = pytest.mark.real_redis_only

N = 50


@pytest.fixture(scope="module")
def server(redis_server: RedisProcess) -> Iterator[UvicornProcess]:
    port = free_port()
    env = {"REDIS_URL": redis_server.url, "OM_ISSUER": f"http://127.0.0.1:{port}/oauth"}
    with UvicornProcess("tests.server.exchange_harness:build", "--factory", "--workers", "2",
                        "--log-level", "warning", env=env, port=port) as running:
        with httpx.Client(base_url=running.url, timeout=20) as client:
            for _ in range(8):  # both workers have imported the app
                assert client.get(METADATA_URL).status_code == 200
        yield running


async def me(client: httpx.AsyncClient, token: str) -> int:
    response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


@pytest.mark.rule("exchange.chain-revocation", "exchange.delegation")
async def test_fifty_exchanges_racing_a_revocation_on_two_workers_leave_nothing_usable(
    store: TokenStore, server: UvicornProcess
) -> None:
    clients = await services(store)
    subject, refresh = await user_token(store)
    actor = await own_token(store, "api-b")
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
        first = await exchange(client, clients["api-b"], subject, actor)
        assert first.status_code == 200, first.text
        assert first.json()["issued_token_type"] == ACCESS and await me(
            client, first.json()["access_token"]) == 200
        calls = [exchange(client, clients["api-b"], subject, actor) for _ in range(N)]
        calls.insert(N // 2, client.post(REVOKE_PATH, data={"token": refresh},
                                         headers=auth_of(clients["web"])))
        responses = await asyncio.gather(*calls)
        assert responses[N // 2].status_code == 200
        exchanged = [r for i, r in enumerate(responses) if i != N // 2]
        assert {r.status_code for r in exchanged} <= {200, 400}
        assert {r.json()["error"] for r in exchanged if r.status_code == 400} <= {
            "invalid_request"}
        won = [first.json()["access_token"]] + [
            r.json()["access_token"] for r in exchanged if r.status_code == 200]
        assert [await me(client, t) for t in won] == [401] * len(won)
    assert [await store.resolve(t) for t in won] == [None] * len(won)
    assert await redis_of(store).keys("*children*") == []
