"""The middleware behind a real uvicorn on loopback, with a real redis-server.

Covers what only a real server shows: TLS termination through uvicorn's own
proxy-header handling, the access log never printing a query-string token, and
WebSocket refusals as the client sees them.
"""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from oauth_middleware.store import NewTokens, TokenStore
from tests.redis_process import RedisProcess
from tests.servers import UvicornProcess

pytestmark = pytest.mark.real_redis_only


@pytest.mark.rule("transport.https", "transport.local-http")
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
            # A proxy on this machine that keeps the public Host: plain, so refused.
            plain = await client.get("/polls/1/results",
                                     headers={**headers, "Host": "api.example.com"})
            forwarded = await client.get("/polls/1/results",
                                         headers={**headers, "X-Forwarded-For": "192.0.2.1"})
            proxied = await client.get("/polls/1/results",
                                       headers={**headers, "X-Forwarded-Proto": "https"})
            local = await client.get("/polls/1/results", headers=headers)
            again = await client.get("/polls/1/results", headers=headers)
        log = server.output()
    for refused in (plain, forwarded):
        assert refused.status_code == 400
        assert refused.json()["error_description"] == "HTTPS is required."
    assert proxied.status_code == 200
    assert proxied.json()["user"] == "alice"
    # No proxy header, loopback peer and Host (127.0.0.1:port): this machine, no flag needed.
    assert local.status_code == 200 and local.json()["user"] == "alice"
    assert again.status_code == 200
    assert log.count("accepting plain HTTP from this machine") == 1


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


async def _handshake(url: str, path: str, headers: dict[str, str]) -> Response:
    """The server's refusal of a WebSocket handshake (the test fails if it is accepted)."""
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(url.replace("http://", "ws://") + path,
                              additional_headers=headers, open_timeout=10):
            pass
    return refused.value.response


@pytest.mark.rule("resource.websocket-http-refusal", "resource.missing-401",
                  "resource.invalid-token", "resource.insufficient-scope")
async def test_a_refused_websocket_handshake_gets_the_http_refusal_over_uvicorn(
    redis_server: RedisProcess,
) -> None:
    """uvicorn offers ASGI's websocket.http.response extension: the client sees the same
    status, challenge and JSON body as an HTTP request would, not a bare 403."""
    store = TokenStore.from_url(redis_server.url)
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"polls:results"})))
    await store.aclose()
    with UvicornProcess("tests.apps:uvicorn_app", "--factory",
                        env={"REDIS_URL": redis_server.url, "OM_DEBUG": "1",
                             "OM_WS_SCOPE": "polls:vote"}) as server:
        missing = await _handshake(server.url, "/ws", {})
        bad = await _handshake(server.url, "/ws", {"Authorization": "Bearer nope.nope"})
        scope = await _handshake(server.url, "/ws",
                                 {"Authorization": f"Bearer {issued.access_token}"})
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert json.loads(missing.body) == {"error_description": "A bearer token is required."}
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"].startswith('Bearer realm="api", error="invalid_token"')
    assert json.loads(bad.body)["error"] == "invalid_token"
    assert scope.status_code == 403
    assert scope.headers["WWW-Authenticate"].endswith(', scope="polls:vote"')
    assert json.loads(scope.body) == {
        "error": "insufficient_scope", "scope": "polls:vote",
        "error_description": "The access token does not carry the required scope."}
    for response in (missing, bad, scope):
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.rule("resource.websocket-http-refusal", "redis.resource-503")
async def test_a_websocket_handshake_with_redis_frozen_is_503_with_retry_after_over_uvicorn(
    own_redis: RedisProcess,
) -> None:
    store = TokenStore.from_url(own_redis.url)
    issued = await store.issue(NewTokens(client_id="web", subject="alice"))
    await store.aclose()
    with UvicornProcess("tests.apps:uvicorn_app", "--factory",
                        env={"REDIS_URL": own_redis.url, "OM_DEBUG": "1"}) as server:
        bearer = {"Authorization": f"Bearer {issued.access_token}"}
        async with ws_connect(server.url.replace("http://", "ws://") + "/ws",
                              additional_headers=bearer, open_timeout=10) as socket:
            assert json.loads(await socket.recv()) == {"user": "alice"}
        own_redis.freeze()
        try:
            frozen = await _handshake(server.url, "/ws", bearer)
        finally:
            own_redis.thaw()
    assert frozen.status_code == 503
    assert frozen.headers["Retry-After"] == "5"
    assert "WWW-Authenticate" not in frozen.headers
    assert json.loads(frozen.body) == {
        "error": "temporarily_unavailable",
        "error_description": "The service is temporarily unavailable, try again later."}
