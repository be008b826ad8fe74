"""Redis down: every admin page is a 503 page with Retry-After, and service resumes after."""

from __future__ import annotations

from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import register_client
from tests.admin.harness import Admin, assert_page_headers, build_host
from tests.redis_process import RedisProcess


async def test_pages_and_forms_answer_503_while_redis_is_down(
    own_redis: RedisProcess, own_store: TokenStore
) -> None:
    await register_client(own_store, "Web", "web", "https://a.example/cb")
    async with Admin(build_host(own_store)) as admin:
        token = await admin.token()
        own_redis.kill()
        answers = [await admin.get(path) for path in (
            "/admin/clients/", "/admin/clients/web/", "/admin/scopes/", "/admin/tokens/")]
        answers.append(await admin.post("/admin/scopes/add", {"identifier": "a:b"}, csrf=token))
        for answer in answers:
            assert answer.status_code == 503
            assert answer.headers["retry-after"] == "5"
            assert_page_headers(answer)
            assert "cannot be reached right now" in answer.text
            assert str(own_redis.port) not in answer.text and "127.0.0.1" not in answer.text
        own_redis.start()
        await register_client(own_store, "Back", "back", "https://a.example/cb")
        assert (await admin.get("/admin/clients/back/")).status_code == 200
