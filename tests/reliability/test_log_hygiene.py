"""No secret in any log line, nor anywhere in Redis (SECURITY.md "At rest, in memory, in logs").

Every flow runs: code + PKCE through ``auth/`` and the consent form, the code
exchange and a replay, refresh and a reuse, client credentials, password (right
and wrong), implicit, a protected route by header and by query string,
introspection, revocation, a guessed client secret and a client that puts its
secrets in the URL. In-process every logger (ours, redis, httpx, starlette...)
is captured at DEBUG; behind a real uvicorn the server's whole output is read,
with DEBUG logging and the access log on. Neither holds a token, code, client
secret, password, PKCE verifier, CSRF token or transaction id, nor an
``access_token=`` with a value; and a SCAN of all of Redis with every value
read back holds none of them either.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from oauth_middleware.store import TokenStore
from tests.raw_asgi import call
from tests.redis_process import RedisProcess, free_port
from tests.reliability.stack import PASSWORD, VERIFIER, Flows, build, seed
from tests.servers import UvicornProcess
from tests.store_helpers import redis_of, texts

WRONG_PASSWORD = "wrong-password-guess-value"
GUESSED_SECRET = "guessed-client-secret-value"
#: ``access_token=`` followed by anything but our redaction marker.
UNREDACTED = re.compile(r"access_token=(?!redacted\b)[^&\s\"']")

QueryCall = Callable[[str], Awaitable[int]]


async def _every_flow(flows: Flows, me_by_query: QueryCall, token_by_query: QueryCall) -> None:
    """Every flow once; ``*_by_query`` send a URL the test client must not log itself."""
    code = await flows.code()
    assert (await flows.redeem(code)).status_code == 200
    assert (await flows.redeem(code)).status_code == 400  # replay: refused, grant revoked
    pair = (await flows.redeem(await flows.code())).json()
    rotated = await flows.refresh(pair["refresh_token"])
    assert rotated.status_code == 200
    leaked = (await flows.redeem(await flows.code())).json()
    assert (await flows.refresh(leaked["refresh_token"])).status_code == 200
    assert (await flows.refresh(leaked["refresh_token"])).status_code == 400  # reuse
    issued = await flows.client_credentials()
    assert issued.status_code == 200
    assert (await flows.password()).status_code == 200
    flows.keep(WRONG_PASSWORD, GUESSED_SECRET)
    assert (await flows.password(WRONG_PASSWORD)).status_code == 400
    implicit = await flows.implicit()
    assert (await flows.me(issued.json()["access_token"])).status_code == 200
    assert await me_by_query(implicit["access_token"]) == 200
    assert await me_by_query(pair["refresh_token"]) == 401
    fresh = rotated.json()
    assert (await flows.introspect(fresh["access_token"])).json()["active"] is True
    assert (await flows.revoke(fresh["refresh_token"])).status_code == 200
    guessed = await flows.http.post("/oauth/token/", auth=httpx.BasicAuth("web", GUESSED_SECRET),
                                    data={"grant_type": "client_credentials"})
    assert guessed.status_code == 401
    leaky = "client_secret={}&refresh_token={}&password={}".format(
        quote(flows.clients.web_secret), fresh["refresh_token"], quote(PASSWORD))
    assert await token_by_query(leaky) == 400


def _basic(secret: str) -> bytes:
    return b"Basic " + base64.b64encode(f"web:{quote(secret, safe='')}".encode())


def _secrets(flows: Flows) -> list[str]:
    """Every secret the flows saw, and the random half of each token and code."""
    whole = [*flows.secrets, flows.clients.web_secret, PASSWORD, VERIFIER]
    halves = [s.split(".", 1)[1] for s in whole if "." in s]
    found = sorted(set(whole + halves))
    assert len(found) > 20, found  # the flows really ran
    return found


def _assert_clean(text: str, secrets: list[str], where: str) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret ({secret[:6]}...) is in {where}"
    assert not UNREDACTED.search(text), f"an access_token= value is in {where}"


async def _redis_dump(store: TokenStore) -> str:
    """Every key and every value in Redis, read back by type."""
    redis = redis_of(store)
    parts: list[Any] = []
    async for key in redis.scan_iter(count=500):
        kind = texts([await redis.type(key)])[0]
        parts.append(key)
        if kind == "string":
            parts.append(await redis.get(key))
        elif kind == "hash":
            for field, value in (await redis.hgetall(key)).items():
                parts += [field, value]
        elif kind == "set":
            parts += list(await redis.smembers(key))
        elif kind == "zset":
            parts += list(await redis.zrange(key, 0, -1))
        else:
            raise AssertionError(f"unexpected Redis type {kind} at {key!r}")
    assert len(parts) > 20
    return "\n".join(p.decode("utf-8", "replace") if isinstance(p, bytes) else str(p)
                     for p in parts)


@pytest.mark.rule("rest.no-secret-in-logs", "resource.no-token-in-logs", "rest.no-raw-secrets")
async def test_every_flow_in_process_logs_no_secret_at_debug_and_redis_holds_none(
    store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    clients = await seed(store)
    app = build(store)

    async def me_by_query(token: str) -> int:  # raw ASGI: httpx would log the URL itself
        response = await call(app, "GET", "/me", query=f"access_token={token}".encode())
        return response.status

    async def token_by_query(query: str) -> int:
        response = await call(app, "POST", "/oauth/token/", query=query.encode(), headers=[
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"authorization", _basic(clients.web_secret))], body=b"grant_type=password")
        return response.status

    caplog.set_level(logging.DEBUG)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        flows = Flows(http, clients)
        await _every_flow(flows, me_by_query, token_by_query)
    assert "issued authorization_code token" in caplog.text  # our loggers were captured
    assert "HTTP Request: POST https://testserver/oauth/token/" in caplog.text  # httpx's too
    secrets = _secrets(flows)
    for record in caplog.records:
        _assert_clean(record.getMessage(), secrets, f"log line of {record.name}")
    _assert_clean(caplog.text, secrets, "the captured log")
    _assert_clean(await _redis_dump(store), secrets, "Redis")


@pytest.mark.real_redis_only
@pytest.mark.rule("rest.no-secret-in-logs", "resource.no-token-in-logs", "rest.no-raw-secrets")
async def test_every_flow_behind_uvicorn_with_access_log_and_debug_logs_no_secret(
    redis_server: RedisProcess, store: TokenStore, backend: str
) -> None:
    clients = await seed(store)
    port = free_port()
    env = {"REDIS_URL": redis_server.url, "OM_ISSUER": f"http://127.0.0.1:{port}/oauth",
           "OM_LOG_LEVEL": "DEBUG"}
    with UvicornProcess("tests.reliability.stack:uvicorn_app", "--factory", "--log-level",
                        "debug", "--access-log", env=env, port=port) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            flows = Flows(http, clients, origin=server.url)

            async def me_by_query(token: str) -> int:
                return (await http.get(f"/me?access_token={token}")).status_code

            async def token_by_query(query: str) -> int:
                response = await http.post(f"/oauth/token/?{query}", auth=flows.auth(),
                                           data={"grant_type": "password"})
                return response.status_code

            await _every_flow(flows, me_by_query, token_by_query)
        server.stop()
        log = server.output()
    assert '"GET /me?access_token=redacted HTTP/1.1" 200' in log  # the access log was on
    assert "issued password token" in log  # and our loggers printed at DEBUG
    secrets = _secrets(flows)
    for line in log.splitlines():
        _assert_clean(line, secrets, "the server output")
    _assert_clean(await _redis_dump(store), secrets, "Redis")


@pytest.mark.rule("rest.no-secret-in-logs", "token.no-query-params")
@pytest.mark.parametrize("query", [
    b"client_secret=s3cr3t&x=1", b"x=1&code=s3cr3t", b"password=s3cr3t%zz",
    b"refresh%5Ftoken=s3cr3t", b"token=s3cr3t&token=s3cr3t", b"access_token=s3cr3t",
])
async def test_secrets_refused_in_a_token_family_url_are_blanked_where_servers_log_it(
    store: TokenStore, query: bytes
) -> None:
    app = build(store)
    for path in ("/oauth/token/", "/oauth/revoke/", "/oauth/introspect/"):
        scope: dict[str, Any] = {}

        async def seen(inner: Any, receive: Any, send: Any, _scope: dict[str, Any] = scope
                       ) -> None:
            _scope["scope"] = inner
            await app(inner, receive, send)

        response = await call(seen, "POST", path, query=query, body=b"token=x",
                              headers=[(b"content-type", b"application/x-www-form-urlencoded")])
        assert response.status == 400
        assert b"s3cr3t" not in scope["scope"]["query_string"]
        assert b"redacted" in scope["scope"]["query_string"]
