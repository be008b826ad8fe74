"""Redis down: the connected-apps page and its forms answer a 503 page, and resume after."""

from __future__ import annotations

import httpx

from oauth_middleware import TokenStore
from tests.account.harness import PAGE, csrf_of, host, page_of, post, world
from tests.admin.harness import USER_HEADER, assert_page_headers
from tests.redis_process import RedisProcess


async def test_the_page_and_its_forms_answer_503_while_redis_is_down(
    own_redis: RedisProcess, own_store: TokenStore,
) -> None:
    issued = await world(own_store)
    transport = httpx.ASGITransport(app=host(own_store))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        token = csrf_of(await page_of(http))
        own_redis.kill()
        answers = [await http.get(PAGE, headers={USER_HEADER: "alice"}),
                   await post(http, "revoke", {"csrf_token": token,
                                                "grant_id": issued["web1"].token.grant_id})]
        for answer in answers:
            assert answer.status_code == 503
            assert answer.headers["retry-after"] == "5"
            assert_page_headers(answer)
            assert "nothing was changed" in answer.text
            assert str(own_redis.port) not in answer.text and "127.0.0.1" not in answer.text
        own_redis.start()  # an empty Redis again: service resumes without a restart
        await world(own_store)
        assert (await page_of(http)).text.count('class="grant"') == 3
