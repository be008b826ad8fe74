"""Token family with Redis down: 503 ``temporarily_unavailable`` + Retry-After, fail closed.

Never ``invalid_grant`` (clients throw refresh tokens away on it), never
``active: false``, never a 500 or the Redis address.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import RegisteredClient
from tests.faults import FROZEN_BOUND, assert_unavailable_json
from tests.redis_process import RedisProcess, free_port
from tests.server.token_harness import (
    INTROSPECT_PATH,
    METADATA_URL,
    REVOKE_PATH,
    TOKEN_PATH,
    assert_error,
    auth_of,
    build_app,
    code_form,
    confidential,
    http,
    new_code,
)


def _assert_unavailable(response: httpx.Response, port: int) -> None:
    assert_error(response, 503, "temporarily_unavailable")
    assert_unavailable_json(response, str(port))


@pytest.mark.rule("redis.token-503")
async def test_every_token_family_endpoint_answers_503_when_redis_is_unreachable() -> None:
    port = free_port()
    store = TokenStore.from_url(f"redis://127.0.0.1:{port}/0")
    basic = {"Authorization": "Basic d2ViOnNlY3JldA=="}
    try:
        async with http(build_app(store)) as client:
            for path, data in ((TOKEN_PATH, {"grant_type": "client_credentials"}),
                               (TOKEN_PATH, {"grant_type": "refresh_token",
                                             "refresh_token": "a" * 22 + "." + "b" * 43}),
                               (REVOKE_PATH, {"token": "x"}), (INTROSPECT_PATH, {"token": "x"})):
                _assert_unavailable(await client.post(path, data=data, headers=basic), port)
            _assert_unavailable(await client.get(METADATA_URL), port)
    finally:
        await store.aclose()


async def _seeded(store: TokenStore) -> tuple[RegisteredClient, dict[str, str]]:
    web = await confidential(store)
    code = await new_code(store, "web")
    async with http(build_app(store)) as client:
        response = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    assert response.status_code == 200
    tokens: dict[str, str] = response.json()
    return web, tokens


@pytest.mark.rule("redis.token-503", "redis.resume")
async def test_killed_redis_gives_503_not_invalid_grant_and_service_resumes(
    own_redis: RedisProcess, own_store: TokenStore
) -> None:
    web, tokens = await _seeded(own_store)
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    async with http(build_app(own_store)) as client:
        own_redis.kill()
        _assert_unavailable(await client.post(TOKEN_PATH, data=refresh, headers=auth_of(web)),
                            own_redis.port)
        introspected = await client.post(INTROSPECT_PATH, headers=auth_of(web),
                                         data={"token": tokens["access_token"]})
        _assert_unavailable(introspected, own_redis.port)
        own_redis.start()
        # The restarted server is empty: the client is unknown now, a judgement, not a 503.
        after = await client.post(TOKEN_PATH, data=refresh, headers=auth_of(web))
    assert after.status_code == 401


@pytest.mark.rule("redis.bounded-time", "redis.token-503")
async def test_frozen_redis_gives_503_within_the_bound(
    own_redis: RedisProcess, own_store: TokenStore
) -> None:
    web, tokens = await _seeded(own_store)
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    async with http(build_app(own_store)) as client:
        own_redis.freeze()
        try:
            async with asyncio.timeout(FROZEN_BOUND):
                response = await client.post(TOKEN_PATH, data=refresh, headers=auth_of(web))
        finally:
            own_redis.thaw()
        _assert_unavailable(response, own_redis.port)
        again = await client.post(TOKEN_PATH, data=refresh, headers=auth_of(web))
    assert again.status_code == 200
