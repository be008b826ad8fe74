"""auth/ fails closed: Redis down gives a 503 page with Retry-After, never a redirect.

On the real backend the test owns a redis-server and kills it; on the embedded
backend the fakeredis server is switched to "disconnected", which raises the
same redis-py ConnectionError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest

from oauth_middleware import TokenStore
from tests.redis_process import RedisProcess
from tests.server.authorize_harness import WEB_REDIRECT, assert_page, open_harness, seed
from tests.store_helpers import redis_of

WEB = {"client_id": "web", "redirect_uri": WEB_REDIRECT, "response_type": "code",
       "scope": "polls:read", "state": "s"}


@dataclass
class Outage:
    store: TokenStore
    down: Callable[[], None]
    up: Callable[[], None]
    port: int | None = None


@pytest.fixture
async def outage(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[Outage]:
    """The embedded store switched off, or a redis-server of the test's own killed."""
    if backend != "redis":
        store = TokenStore.from_url(None)
        fake_server = redis_of(store).connection_pool.connection_kwargs["server"]

        def down() -> None:
            fake_server.connected = False

        def up() -> None:
            fake_server.connected = True

        yield Outage(store, down, up)
    else:
        own_redis: RedisProcess = request.getfixturevalue("own_redis")
        store = TokenStore.from_url(own_redis.url)
        def restart() -> None:
            own_redis.start()

        yield Outage(store, own_redis.kill, restart, own_redis.port)
    await store.aclose()


def _assert_503_page(response: httpx.Response, outage: Outage) -> None:
    page = assert_page(response, 503)
    assert response.headers["retry-after"] == "5"
    assert page.text.startswith("Service temporarily unavailable")
    assert page.text.endswith("Error: temporarily_unavailable (HTTP 503)")
    text = response.text
    assert "127.0.0.1" not in text and "redis" not in text.lower()
    if outage.port is not None:
        assert str(outage.port) not in text


@pytest.mark.rule("redis.auth-503", "redis.resume")
async def test_redis_down_on_the_request_gives_a_503_page_and_service_resumes(
    outage: Outage
) -> None:
    async with open_harness(outage.store) as harness:
        outage.down()
        _assert_503_page(await harness.authorize(**WEB), outage)
        _assert_503_page(await harness.authorize(None, **WEB), outage)
        outage.up()
        if outage.port is not None:  # a restarted redis-server starts empty
            await seed(outage.store)
        assert (await harness.authorize(**WEB)).status_code == 200


@pytest.mark.rule("redis.auth-503")
async def test_redis_down_on_the_decision_gives_a_503_page_not_a_redirect(
    outage: Outage
) -> None:
    async with open_harness(outage.store) as harness:
        page = await harness.consent(**WEB)
        outage.down()
        _assert_503_page(await harness.decide(page), outage)
        _assert_503_page(await harness.decide(page, "deny"), outage)
