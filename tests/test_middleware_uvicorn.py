"""The middleware behind a real uvicorn on loopback, with a real redis-server.

Covers what only a real server shows: TLS termination through uvicorn's own
proxy-header handling, and the access log never printing a query-string token.
"""

from __future__ import annotations

import httpx
import pytest

from oauth_middleware.store import NewTokens, TokenStore
from tests.redis_process import RedisProcess
from tests.servers import UvicornProcess

pytestmark = pytest.mark.real_redis_only


@pytest.mark.rule("transport.https")
async def test_proxy_headers_from_trusted_proxy_count_as_https(
    redis_server: RedisProcess,
) -> None:
    store = TokenStore.from_url(redis_server.url)
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"polls:results"})))
    await store.aclose()
    headers = {"Authorization": f"Bearer {issued.access_token}"}
    with UvicornProcess("tests.apps:uvicorn_app", "--factory", "--proxy-headers",
                        "--forwarded-allow-ips", "127.0.0.1",
                        env={"REDIS_URL": redis_server.url}) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            plain = await client.get("/polls/1/results", headers=headers)
            proxied = await client.get("/polls/1/results",
                                       headers={**headers, "X-Forwarded-Proto": "https"})
    assert plain.status_code == 400
    assert plain.json()["error_description"] == "HTTPS is required."
    assert proxied.status_code == 200
    assert proxied.json()["user"] == "alice"


@pytest.mark.rule("resource.no-token-in-logs")
async def test_access_log_never_prints_a_query_token(redis_server: RedisProcess) -> None:
    store = TokenStore.from_url(redis_server.url)
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"my_polls:my_stats"})))
    await store.aclose()
    token = issued.access_token
    with UvicornProcess("tests.apps:uvicorn_app", "--factory", "--log-level", "debug",
                        env={"REDIS_URL": redis_server.url, "OM_DEBUG": "1"}) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            ok = await client.get(f"/polls/1/stats?access_token={token}")
            refused = await client.get(f"/polls/1/results?access_token={token}")
            unknown = await client.get("/polls/1/stats?access_token=zz.zz&x=1")
        server.stop()
        log = server.output()
    assert (ok.status_code, refused.status_code, unknown.status_code) == (200, 403, 401)
    assert ok.headers["cache-control"] == "private"
    assert token not in log and token.split(".")[1] not in log and "zz.zz" not in log
    assert log.count("access_token=redacted") == 3
