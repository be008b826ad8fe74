"""Flooding ``device_authorization/`` (RFC 8628 §3.1, §5.2): requests are counted per client
and caller address before a device code is stored, so a loop cannot grow Redis. Every
store backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from oauth_middleware import TokenStore, register_client
from oauth_middleware.server.config import ThrottlePolicy
from oauth_middleware.server.grants.device_code import DEVICE_CODE
from tests.server.authorize_harness import Harness, open_harness
from tests.server.token_harness import assert_error
from tests.store_helpers import redis_of

START = "/oauth/device_authorization/"
ALLOWED = 5


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    async with open_harness(store, throttle=ThrottlePolicy(device_requests=ALLOWED)) as h:
        await register_client(store, "Living Room TV", "tv", public=True,
                              grant_types=[DEVICE_CODE], scopes_list=["polls:read"],
                              register_unknown_scopes=False)
        yield h


async def ask(http: httpx.AsyncClient) -> httpx.Response:
    return await http.post(START, data={"client_id": "tv", "scope": "polls:read"})


async def keys(store: TokenStore, pattern: str = "*") -> int:
    return len(await redis_of(store).keys(f"{store.keys.prefix}{pattern}"))


@pytest.mark.rule("device.authorization.flood")
async def test_fifty_concurrent_device_requests_from_one_address_store_only_the_allowance(
        harness: Harness, store: TokenStore) -> None:
    answers = await asyncio.gather(*(ask(harness.http) for _ in range(50)))
    assert sorted(r.status_code for r in answers) == [200] * ALLOWED + [429] * (50 - ALLOWED)
    for refused in (r for r in answers if r.status_code == 429):
        assert assert_error(refused, 429, "slow_down")["error_description"]
        assert 0 < int(refused.headers["retry-after"]) <= 300
    assert await keys(store, "device:*") == ALLOWED
    assert await keys(store, "usercode:*") == ALLOWED
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=harness.app,
                                                            client=("192.0.2.7", 1)),
                              base_url="https://testserver")
    async with other:
        elsewhere = await ask(other)
    assert elsewhere.status_code == 200, elsewhere.text
    assert await keys(store, "device:*") == ALLOWED + 1


@pytest.mark.rule("device.authorization.flood")
async def test_a_loop_of_device_requests_cannot_grow_redis(
        harness: Harness, store: TokenStore) -> None:
    for _ in range(ALLOWED):
        assert (await ask(harness.http)).status_code == 200
    settled = await keys(store)
    for _ in range(200):
        assert_error(await ask(harness.http), 429, "slow_down")
    assert await keys(store) == settled
