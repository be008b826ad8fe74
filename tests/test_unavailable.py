"""Fail closed: a dead or frozen Redis gives 503 + Retry-After, never 200 or invalid_token.

These tests own a redis-server process each (``own_redis``, tests/faults.py),
so they can kill, freeze and restart it without disturbing the rest of the suite.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.types import Message

from oauth_middleware.store import NewTokens, StoreRefused, StoreUnavailable, TokenStore
from tests.apps import build_app
from tests.faults import FROZEN_BOUND, assert_unavailable_bearer
from tests.redis_process import RedisProcess


def _assert_generic_503(response: httpx.Response, redis: RedisProcess) -> None:
    assert_unavailable_bearer(response, f":{redis.port}", str(redis.port))


@pytest.mark.rule("redis.resource-503", "redis.resume", "responses.5xx-generic",
                  "resource.app-not-called")
async def test_killed_redis_gives_503_and_service_resumes_after_restart(
    own_redis: RedisProcess, own_store: TokenStore
) -> None:
    app = build_app(own_store)
    issued = await own_store.issue(NewTokens(client_id="web", subject="alice",
                                             scopes=frozenset({"polls:results"})))
    headers = {"Authorization": f"Bearer {issued.access_token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as client:
        assert (await client.get("/polls/1/results", headers=headers)).status_code == 200
        own_redis.kill()
        for path in ("/polls/1/results", "/public"):
            _assert_generic_503(await client.get(path, headers=headers), own_redis)
        assert app.state.calls == ["/polls/1/results"]
        own_redis.start()
        # The restarted server is empty: the token is gone, so the answer is now a judgement.
        assert (await client.get("/polls/1/results", headers=headers)).status_code == 401
        fresh = await own_store.issue(NewTokens(client_id="web", subject="alice",
                                                scopes=frozenset({"polls:results"})))
        ok = await client.get("/polls/1/results",
                              headers={"Authorization": f"Bearer {fresh.access_token}"})
        assert ok.status_code == 200


@pytest.mark.rule("redis.bounded-time", "redis.resource-503")
async def test_frozen_redis_gives_503_within_the_bound(
    own_redis: RedisProcess, own_store: TokenStore
) -> None:
    app = build_app(own_store)
    issued = await own_store.issue(NewTokens(client_id="web", subject="alice",
                                             scopes=frozenset({"polls:results"})))
    headers = {"Authorization": f"Bearer {issued.access_token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as client:
        own_redis.freeze()
        try:
            async with asyncio.timeout(FROZEN_BOUND):
                response = await client.get("/polls/1/results", headers=headers)
        finally:
            own_redis.thaw()
        _assert_generic_503(response, own_redis)
        assert (await client.get("/polls/1/results", headers=headers)).status_code == 200
    assert app.state.calls == ["/polls/1/results"]


@pytest.mark.rule("responses.5xx-generic")
async def test_store_calls_raise_store_unavailable_without_address(
    own_redis: RedisProcess, own_store: TokenStore
) -> None:
    own_redis.kill()
    for call in (own_store.resolve("a" * 22 + "." + "b" * 43), own_store.get_client("web"),
                 own_store.issue(NewTokens(client_id="web", subject="alice"))):
        with pytest.raises(StoreUnavailable) as info:
            await call
        assert str(info.value) == "the token store is unavailable"
        assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.real_redis_only
async def test_an_error_reply_is_store_refused_with_redis_words_on_every_path(
    redis_server: RedisProcess
) -> None:
    """Database 99 does not exist: Redis answers, with an error. Still unavailable to the app
    (a StoreUnavailable, the same message), but tools can tell it from an unreachable server."""
    store = TokenStore.from_url(f"redis://127.0.0.1:{redis_server.port}/99")
    try:
        for call in (store.resolve("a" * 22 + "." + "b" * 43), store.get_client("web"),
                     store.issue(NewTokens(client_id="web", subject="alice"))):
            with pytest.raises(StoreRefused) as info:
                await call
            assert isinstance(info.value, StoreUnavailable)
            assert info.value.reply == "DB index is out of range"
            assert str(info.value) == "the token store is unavailable"
            assert info.value.__cause__ is None and info.value.__suppress_context__
    finally:
        await store.aclose()


@pytest.mark.rule("redis.resource-503", "resource.websocket-close-codes")
async def test_websocket_is_closed_try_again_later_when_redis_is_down(
    own_redis: RedisProcess, own_store: TokenStore
) -> None:
    app = build_app(own_store)
    own_redis.kill()
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "websocket", "scheme": "wss", "path": "/ws", "root_path": "",
             "query_string": b"access_token=" + b"a" * 22 + b"." + b"b" * 43,
             "headers": [], "asgi": {"version": "3.0"}}
    await app(scope, receive, send)
    assert sent == [{"type": "websocket.accept"},
                    {"type": "websocket.close", "code": 1013, "reason": "temporarily_unavailable"}]
