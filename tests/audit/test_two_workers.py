"""Two real uvicorn workers start with no form of the issuing script made and Redis's script
cache empty, then take 50 audited issues at once: each worker makes its form and loads it
while the other does, and every issue, and every grant it displaced, still has exactly its
event, in its own request's id."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from oauth_middleware.security import fingerprint
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import register_client
from tests.audit.harness import events
from tests.audit.workers_app import CAP
from tests.redis_process import RedisProcess
from tests.server.token_harness import TOKEN_PATH, auth_of
from tests.servers import UvicornProcess
from tests.store_helpers import redis_of

pytestmark = pytest.mark.real_redis_only

#: Rounds of 50 at most, until both workers have answered some (the kernel picks).
ROUNDS = 10


async def test_fifty_issues_at_once_on_two_fresh_workers_each_record_theirs(
        own_redis: RedisProcess) -> None:
    store = TokenStore.from_url(own_redis.url)
    try:
        client = redis_of(store)
        await client.flushdb()
        await client.script_flush()
        web = await register_client(store, "Web", "web", "https://app.example/cb", None,
                                    scopes_list=["read"], public=False)
        workers: set[str] = set()
        issued: dict[str, str] = {}  # request id -> access token
        with UvicornProcess("tests.audit.workers_app:app", "--factory", "--workers", "2",
                            env={"REDIS_URL": own_redis.url}) as server:
            async def one(request_id: str) -> None:
                async with httpx.AsyncClient(base_url=server.url) as http:  # either worker
                    answer = await http.post(TOKEN_PATH, data={
                        "grant_type": "client_credentials"},
                        headers={**auth_of(web), "X-Request-ID": request_id})
                assert answer.status_code == 200, answer.text
                assert answer.headers["cache-control"] == "no-store"
                workers.add(answer.headers["x-worker-pid"])
                issued[request_id] = answer.json()["access_token"]

            for round_ in range(ROUNDS):
                await asyncio.gather(*(one(f"r{round_}-{n}") for n in range(50)))
                if len(workers) == 2:
                    break
        assert len(workers) == 2
        found = await events(store)
        issues = [e for e in found if e.type == "token.issued"]
        assert sorted((e.request_id, e.fingerprint) for e in issues) == sorted(
            (request_id, fingerprint(token)) for request_id, token in issued.items())
        displaced = [e for e in found if e.actor == "cascade"]
        assert len(displaced) == len(issued) - CAP
        assert len({e.grant for e in displaced}) == len(displaced)
        assert {e.request_id for e in displaced} <= set(issued)
        assert {(e.type, e.details["reason"]) for e in displaced} == {
            ("token.revoked", "over the cap")}
    finally:
        await store.aclose()
