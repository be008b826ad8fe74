"""Removing a client while 50 clients of it keep asking for tokens, across real uvicorn workers.

Two uvicorn workers on a real redis-server; 50 concurrent client_credentials
loops (bounded) run while ``remove_client`` removes their client, which holds
thousands of grants so the removal takes a while. Once the removal returns,
every token any loop was ever given is refused, by ``resolve`` and by the
middleware of both workers, also after the same client id is registered again
(each trial registers it anew). Time and request counts are bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from oauth_middleware.security import new_grant_id
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.toolbox import register_client, remove_client
from tests.redis_process import RedisProcess
from tests.reliability.stack import SCOPES, on_two_workers
from tests.servers import UvicornProcess
from tests.store_helpers import mint, redis_of

pytestmark = pytest.mark.real_redis_only

#: Concurrent issuing loops, requests per loop at most, trials, grants the client holds.
ISSUERS, ROUNDS, TRIALS, HELD = 50, 40, 3, 3000
#: Bound on one trial.
TRIAL_BOUND = 90.0


@pytest.fixture(scope="module")
def server(redis_server: RedisProcess) -> Iterator[UvicornProcess]:
    with on_two_workers(redis_server.url) as running:
        yield running


async def _hold_grants(store: TokenStore, client_id: str, count: int) -> None:
    """``count`` live grants of the client, written with the store's key schema in one
    pipeline (thousands of Lua runs would only slow the set-up)."""
    expiry = int((store.clock() + 3600) * 1000)
    async with redis_of(store).pipeline(transaction=False) as pipe:
        for _ in range(count):
            grant_id = new_grant_id()
            spec = NewTokens(client_id=client_id, subject=client_id, subject_type="client",
                             scopes=frozenset({"polls:read"}))
            _, members = mint(store, grant_id, spec)
            for key, value, ttl in members:
                pipe.set(key, value, px=ttl)
                pipe.sadd(store.keys.members(grant_id), key)
            pipe.zadd(store.keys.client_index(client_id), {grant_id: expiry})
        await pipe.execute()


async def _trial(server: UvicornProcess, store: TokenStore) -> tuple[list[str], int, int]:
    """One removal racing the loops: (tokens given, requests in flight while the removal
    ran, loops refused after it)."""
    svc = await register_client(store, "Svc", "svc", public=False, scopes_list=list(SCOPES),
                                grant_types=["client_credentials"])
    await _hold_grants(store, "svc", HELD)
    assert svc.client_secret is not None
    auth = httpx.BasicAuth("svc", svc.client_secret)
    tokens: list[str] = []
    spans: list[tuple[float, float]] = []
    removal = [float("inf"), float("inf")]
    refused = 0
    enough = asyncio.Event()
    limits = httpx.Limits(max_connections=ISSUERS + 8, max_keepalive_connections=0)

    async def issuer(http: httpx.AsyncClient) -> None:
        nonlocal refused
        for _ in range(ROUNDS):
            sent = time.monotonic()
            response = await http.post("/oauth/token/", auth=auth, data={
                "grant_type": "client_credentials", "scope": "polls:read"})
            spans.append((sent, time.monotonic()))
            if response.status_code != 200:
                assert response.status_code == 401, response.text
                assert response.json()["error"] == "invalid_client"
                assert response.headers["www-authenticate"] == 'Basic realm="oauth"'
                refused += 1
                return
            tokens.append(response.json()["access_token"])
            if len(tokens) >= ISSUERS:
                enough.set()

    async def remover() -> None:
        await enough.wait()
        removal[0] = time.monotonic()
        assert await remove_client(store, "svc")
        removal[1] = time.monotonic()

    async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as http, \
            asyncio.timeout(TRIAL_BOUND):
        await asyncio.gather(remover(), *(issuer(http) for _ in range(ISSUERS)))
    racing = sum(1 for sent, answered in spans if sent < removal[1] and answered > removal[0])
    return tokens, racing, refused


@pytest.mark.rule("revoke.client-removed", "resource.invalid-token")
async def test_no_token_survives_a_removal_racing_fifty_issuers_on_two_workers(
    server: UvicornProcess, store: TokenStore
) -> None:
    given: list[str] = []
    for _ in range(TRIALS):
        tokens, racing, refused = await _trial(server, store)
        assert len(tokens) >= ISSUERS and refused > 0, (len(tokens), refused)
        assert racing > 0, "no request was in flight while the removal ran"
        given += tokens
        # Every token of this and every earlier registration of "svc" is refused.
        assert [t for t in given if await store.resolve(t) is not None] == []
    fresh = httpx.Limits(max_connections=64, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=fresh) as http, \
            asyncio.timeout(TRIAL_BOUND):
        answers = await asyncio.gather(*(
            http.get("/me", headers={"Authorization": f"Bearer {t}"}) for t in given))
    assert {r.status_code for r in answers} == {401}
    assert all('error="invalid_token"' in r.headers["www-authenticate"] for r in answers)
    assert len({r.headers["x-worker"] for r in answers}) == 2  # both workers refused
    assert await redis_of(store).exists(store.keys.client_index("svc")) == 0
