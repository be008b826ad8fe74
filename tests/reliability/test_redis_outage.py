"""A real redis-server killed mid-traffic, frozen, and restarted on its port (SECURITY.md
"Redis unavailable or slow: fail closed").

Traffic runs through the whole stack in-process (tests/reliability/stack.py):
``token/`` (client credentials, password, code exchange after ``auth/``),
``introspect/``, ``revoke/`` and a protected route. While Redis is gone every
answer is the 503 SECURITY.md names, bounded in time; after the restart
service resumes without restarting the app; and every token a 200 handed out
is in Redis afterwards (the server runs with an fsync-always append-only file,
so whatever it acknowledged survives SIGKILL).
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

pytestmark = [
    pytest.mark.real_redis_only,
    pytest.mark.rule("redis.token-503", "redis.resource-503", "redis.auth-503",
                     "redis.bounded-time", "redis.resume", "redis.no-unstored-token",
                     "responses.5xx-generic"),
]

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
    """What the clients saw: answers per (flow, status), and every token a 200 gave."""

    flows: Flows
    port: int
    app: Starlette
    seen: Counter[tuple[str, int]] = field(default_factory=Counter)
    delivered: list[str] = field(default_factory=list)

    def saw(self, flow: str, status: int) -> bool:
        return self.seen[(flow, status)] > 0


@pytest.fixture
async def traffic(durable_redis: RedisProcess) -> AsyncIterator[Traffic]:
    store = TokenStore.from_url(durable_redis.url)
    clients = await seed(store)
    app = build(store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield Traffic(Flows(http, clients), durable_redis.port, app)
    await store.aclose()


def _check(traffic: Traffic, flow: str, response: httpx.Response) -> None:
    """Only success or the 503 of SECURITY.md; a 200 token answer is remembered."""
    traffic.seen[(flow, response.status_code)] += 1
    leak = f":{traffic.port}"
    if response.status_code == 503:
        if flow == "me":
            assert_unavailable_bearer(response, leak)
        elif flow == "auth":
            assert_unavailable_page(response, leak)
        else:
            assert_unavailable_json(response, leak)
        return
    assert response.status_code == 200, (flow, response.status_code, response.text)
    if flow == "token":
        traffic.delivered.append(response.json()["access_token"])
    if flow == "introspect":
        assert response.json()["active"] is True


async def _one_round(traffic: Traffic, token: str) -> None:
    """One client's round: a token, a protected call, introspection, the consent page."""
    flows = traffic.flows
    issued = await flows.client_credentials()
    _check(traffic, "token", issued)
    _check(traffic, "me", await flows.me(token))
    _check(traffic, "introspect", await flows.introspect(token))
    _check(traffic, "password", await flows.password())
    page = await flows.http.get("/oauth/auth/", headers={USER_HEADER: "alice"}, params={
        "client_id": "web", "response_type": "code", "scope": "polls:read"})
    _check(traffic, "auth", page)


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


FLOWS = ("token", "me", "introspect", "password", "auth")


async def test_sigkill_mid_traffic_is_503_then_service_resumes_and_no_token_was_lost(
    traffic: Traffic, durable_redis: RedisProcess
) -> None:
    store = TokenStore.from_url(durable_redis.url)
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset(SCOPES), lifetime=None))
    token = issued.access_token

    async def kill_mid_traffic() -> None:
        while sum(traffic.seen.values()) < 10 * CLIENTS:  # traffic is flowing
            await asyncio.sleep(0)
        durable_redis.kill()

    await _until(traffic, token, lambda: all(traffic.saw(f, 503) for f in FLOWS),
                 kill_mid_traffic)
    assert all(traffic.saw(f, 200) for f in FLOWS)  # before the kill
    durable_redis.start()  # same port, same append-only file; the app is not restarted
    before = Counter(traffic.seen)
    await _until(traffic, token,
                 lambda: all(traffic.seen[(f, 200)] > before[(f, 200)] for f in FLOWS))
    assert traffic.app.state.calls.count("/me") == traffic.seen[("me", 200)]
    assert traffic.delivered
    missing = [t for t in traffic.delivered if await store.resolve(t) is None]
    assert missing == []
    await store.aclose()


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
