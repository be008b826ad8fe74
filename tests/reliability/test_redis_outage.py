"""A real redis-server killed mid-traffic, frozen, and restarted on its port (SECURITY.md
"Redis unavailable or slow: fail closed").

Traffic runs through the whole stack in-process (tests/reliability/stack.py):
``token/`` (client credentials, password, refresh, code redemption after the
``auth/`` consent round trip), ``introspect/``, ``revoke/`` of a fresh token and
a protected route. While Redis is gone every answer is the 503 SECURITY.md
names, bounded in time; after the restart service resumes without restarting
the app; every token a 200 handed out is in Redis afterwards, and every token a
200 revoked is not (the server runs with an fsync-always append-only file, so
whatever it acknowledged survives SIGKILL).

Refresh tokens, codes and revocation victims (fresh client-credentials tokens)
are handed between rounds through pools, used before new ones are added; the
kill waits until every pool holds one, so each is also used against a dead
Redis. One that met a 503 is dropped, never retried: Redis may have consumed it
with the reply lost, and a retry would be a replay.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.applications import Starlette

from oauth_middleware.store import NewTokens, TokenStore
from tests.faults import (
    FROZEN_BOUND,
    assert_unavailable_bearer,
    assert_unavailable_json,
    assert_unavailable_page,
)
from tests.redis_process import RedisProcess
from tests.reliability.stack import SCOPES, USER_HEADER, Flows, build, seed
from tests.server.authorize_harness import answer

pytestmark = pytest.mark.real_redis_only

#: Concurrent clients, and the bound on each phase of the traffic.
CLIENTS = 16
PHASE_BOUND = 30.0


@pytest.fixture
def durable_redis(backend: str) -> Iterator[RedisProcess]:
    server = RedisProcess(durable=True).start()
    yield server
    server.stop()


@dataclass
class Traffic:
    """What the clients saw: answers per (flow, status), every token a 200 gave or revoked,
    and what waits to be used by a later round."""

    flows: Flows
    port: int
    app: Starlette
    seen: Counter[tuple[str, int]] = field(default_factory=Counter)
    delivered: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    victims: list[str] = field(default_factory=list)
    refreshable: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)

    def succeeded(self, flow: str) -> int:
        return self.seen[(flow, SUCCESS.get(flow, 200))]

    def saw(self, flow: str, status: int) -> bool:
        return self.seen[(flow, status)] > 0


@pytest.fixture
async def traffic(durable_redis: RedisProcess) -> AsyncIterator[Traffic]:
    # Every flow acts for alice, round after round: past the default cap of live grants
    # per user the oldest would be displaced, and "no token was lost" would not hold.
    store = TokenStore.from_url(durable_redis.url, max_grants_per_user=UNCAPPED)
    clients = await seed(store)
    app = build(store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield Traffic(Flows(http, clients), durable_redis.port, app)
    await store.aclose()


def _check(traffic: Traffic, flow: str, response: httpx.Response) -> bool:
    """Only success or the 503 of SECURITY.md; True on success."""
    traffic.seen[(flow, response.status_code)] += 1
    leak = f":{traffic.port}"
    if response.status_code == 503:
        if flow == "me":
            assert_unavailable_bearer(response, leak)
        elif flow == "auth":
            assert_unavailable_page(response, leak)
        else:
            assert_unavailable_json(response, leak)
        return False
    assert response.status_code == SUCCESS.get(flow, 200), (flow, response.status_code,
                                                            response.text)
    if flow == "introspect":
        assert response.json()["active"] is True
    return True


def _deliver(traffic: Traffic, response: httpx.Response) -> None:
    """A token answer's access token must be stored; its refresh token serves a later round."""
    body = response.json()
    traffic.delivered.append(body["access_token"])
    if "refresh_token" in body:
        traffic.refreshable.append(body["refresh_token"])


async def _use_pools(traffic: Traffic) -> None:
    """Revoke, refresh and redeem what earlier rounds left, each at most once."""
    flows = traffic.flows
    if traffic.victims:
        victim = traffic.victims.pop()
        if _check(traffic, "revoke", await flows.revoke(victim)):
            traffic.revoked.append(victim)
    if traffic.refreshable:
        refreshed = await flows.refresh(traffic.refreshable.pop())
        if _check(traffic, "refresh", refreshed):
            _deliver(traffic, refreshed)
    if traffic.codes:
        redeemed = await flows.redeem(traffic.codes.pop())
        if _check(traffic, "redeem", redeemed):
            _deliver(traffic, redeemed)


async def _one_round(traffic: Traffic, token: str) -> None:
    """One client's round: the pools, new tokens, a protected call, introspection, and a
    code through the consent round trip."""
    flows = traffic.flows
    await _use_pools(traffic)
    issued = await flows.client_credentials()
    if _check(traffic, "token", issued):
        _deliver(traffic, issued)
    victim = await flows.client_credentials()
    if _check(traffic, "token", victim):
        traffic.victims.append(victim.json()["access_token"])
    _check(traffic, "me", await flows.me(token))
    _check(traffic, "introspect", await flows.introspect(token))
    password = await flows.password()
    if _check(traffic, "password", password):
        _deliver(traffic, password)
    consented = await flows.authorize("code")
    if _check(traffic, "auth", consented):
        traffic.codes.append(answer(consented)[2]["code"])


async def _until(traffic: Traffic, token: str, done: Callable[[], bool],
                 after: Callable[[], Awaitable[None]] | None = None) -> None:
    """Run CLIENTS concurrent clients round after round until ``done()``; bounded."""
    async def client() -> None:
        while not done():
            await _one_round(traffic, token)

    async with asyncio.timeout(PHASE_BOUND):
        tasks = [asyncio.create_task(client()) for _ in range(CLIENTS)]
        if after is not None:
            await after()
        await asyncio.gather(*tasks)


FLOWS = ("token", "me", "introspect", "revoke", "password", "refresh", "redeem", "auth")
#: A flow's success status when it is not 200: auth/ ends in the 303 carrying the code.
SUCCESS = {"auth": 303}
#: The largest cap of live grants per user a store takes.
UNCAPPED = 100_000


@pytest.mark.rule("redis.token-503", "redis.resource-503", "redis.auth-503", "redis.resume",
                  "redis.no-unstored-token", "responses.5xx-generic")
async def test_sigkill_mid_traffic_is_503_then_service_resumes_and_no_token_was_lost(
    traffic: Traffic, durable_redis: RedisProcess
) -> None:
    store = TokenStore.from_url(durable_redis.url, max_grants_per_user=UNCAPPED)
    try:
        await _sigkill_mid_traffic(traffic, durable_redis, store)
    finally:
        await store.aclose()


async def _sigkill_mid_traffic(traffic: Traffic, durable_redis: RedisProcess,
                               store: TokenStore) -> None:
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset(SCOPES), lifetime=None))
    token = issued.access_token

    def flowing() -> bool:
        """Every flow has succeeded, and each pool holds something to use after the kill."""
        pools = (traffic.victims, traffic.refreshable, traffic.codes)
        return (sum(traffic.seen.values()) >= 10 * CLIENTS and all(pools)
                and all(traffic.succeeded(f) for f in FLOWS))

    async def kill_mid_traffic() -> None:
        while not flowing():
            await asyncio.sleep(0)
        durable_redis.kill()

    await _until(traffic, token, lambda: all(traffic.saw(f, 503) for f in FLOWS),
                 kill_mid_traffic)
    durable_redis.start()  # same port, same append-only file; the app is not restarted
    before = {f: traffic.succeeded(f) for f in FLOWS}
    await _until(traffic, token, lambda: all(traffic.succeeded(f) > before[f] for f in FLOWS))
    assert traffic.app.state.calls.count("/me") == traffic.seen[("me", 200)]
    assert traffic.delivered and traffic.revoked
    missing = [t for t in traffic.delivered if await store.resolve(t) is None]
    assert missing == []
    alive = [t for t in traffic.revoked if await store.lookup(t) is not None]
    assert alive == []


@pytest.mark.rule("redis.token-503", "redis.resource-503", "redis.auth-503",
                  "redis.bounded-time", "redis.resume", "responses.5xx-generic")
async def test_frozen_redis_is_503_on_every_endpoint_within_the_bound_then_resumes(
    traffic: Traffic, durable_redis: RedisProcess
) -> None:
    flows = traffic.flows
    store = TokenStore.from_url(durable_redis.url)
    issued = await store.issue(NewTokens(client_id="web", subject="alice", refresh=True,
                                         scopes=frozenset(SCOPES)))
    await store.aclose()
    assert issued.refresh_token is not None
    token, refresh = issued.access_token, issued.refresh_token
    consent = await flows.http.get("/oauth/auth/", headers={USER_HEADER: "alice"}, params={
        "client_id": "web", "response_type": "code", "scope": "polls:read"})
    assert consent.status_code == 200
    calls: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
        "me": lambda: flows.me(token),
        "token": flows.client_credentials,
        "refresh": lambda: flows.refresh(refresh),
        "revoke": lambda: flows.revoke(token),
        "introspect": lambda: flows.introspect(token),
        "metadata": lambda: flows.http.get("/oauth/.well-known/oauth-authorization-server"),
        "auth": lambda: flows.http.get("/oauth/auth/", headers={USER_HEADER: "alice"},
                                       params={"client_id": "web", "response_type": "code"}),
    }
    durable_redis.freeze()
    try:
        async with asyncio.timeout(FROZEN_BOUND):
            answers = await asyncio.gather(*(call() for call in calls.values()))
    finally:
        durable_redis.thaw()
    for name, response in zip(calls, answers, strict=True):
        if name == "me":
            assert_unavailable_bearer(response, f":{traffic.port}")
        elif name == "auth":
            assert_unavailable_page(response, f":{traffic.port}")
        else:
            assert_unavailable_json(response, f":{traffic.port}")
    assert (await flows.me(token)).status_code == 200
    assert (await flows.refresh(refresh)).status_code == 200
