"""examples/fastapi_app.py as a newcomer runs it: ``uvicorn examples.fastapi_app:app`` over
plain http://127.0.0.1, a client_credentials token from /oauth/token/, both routes."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from oauth_middleware import TokenStore
from oauth_middleware.security import verify_client_secret
from tests.polling import until
from tests.redis_process import RedisProcess, free_port
from tests.servers import UvicornProcess

TARGET = "examples.fastapi_app:app"
PRINTED = re.compile(r"example-service client secret \(generated, shown once; set "
                     r"EXAMPLE_CLIENT_SECRET to choose it\): (\S+)")
SECRET = "example-secret-0123456789abcdef"


def _env(port: int, **extra: str) -> dict[str, str]:
    return {"OAUTH_ISSUER": f"http://127.0.0.1:{port}/oauth", **extra}


async def _token(client: httpx.AsyncClient, secret: str, scope: str) -> httpx.Response:
    return await client.post("/oauth/token/", auth=("example-service", secret),
                             data={"grant_type": "client_credentials", "scope": scope})


@pytest.mark.rule("resource.missing-401", "resource.insufficient-scope")
async def test_the_example_serves_tokens_and_both_routes_over_loopback_http() -> None:
    port = free_port()
    with UvicornProcess(TARGET, env=_env(port), port=port,
                        unset=("REDIS_URL", "EXAMPLE_CLIENT_SECRET", "OAUTH_SECRET_KEY")
                        ) as server:
        printed = PRINTED.findall(server.output())
        assert len(printed) == 1, server.output()
        async with httpx.AsyncClient(base_url=server.url) as client:
            read = await _token(client, printed[0], "items:read")
            both = await _token(client, printed[0], "items:read items:write")
            wrong = await _token(client, "not-the-secret-0123456789", "items:read")
            bearer_read = {"Authorization": f"Bearer {read.json()['access_token']}"}
            bearer_both = {"Authorization": f"Bearer {both.json()['access_token']}"}
            health = await client.get("/health")
            anonymous_get = await client.get("/items")
            anonymous_post = await client.post("/items", params={"name": "pen"})
            refused = await client.post("/items", params={"name": "pen"}, headers=bearer_read)
            created = await client.post("/items", params={"name": "pen"}, headers=bearer_both)
            listed = await client.get("/items", headers=bearer_read)
            metadata = await client.get("/.well-known/oauth-authorization-server/oauth")
        log = server.output()
    assert read.status_code == 200 and read.json()["scope"] == "items:read"
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    for response in (anonymous_get, anonymous_post):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="api"'
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert refused.headers["www-authenticate"].endswith('scope="items:write"')
    assert (created.status_code, created.json()) == (
        201, {"name": "pen", "created_by": "example-service"})
    assert (listed.status_code, listed.json()) == (200, ["pen"])
    assert metadata.json()["token_endpoint"] == f"http://127.0.0.1:{port}/oauth/token/"
    assert read.json()["access_token"] not in log and both.json()["access_token"] not in log


def _both_started(server: UvicornProcess) -> Callable[[], bool]:
    return lambda: server.output().count("Application startup complete.") == 2


@pytest.mark.real_redis_only
async def test_every_worker_provisions_the_client_at_every_start_without_dying(
    store: TokenStore, redis_server: RedisProcess
) -> None:
    """Two workers register at once, a restart finds the client there, and a changed
    EXAMPLE_CLIENT_SECRET replaces the stored one: no start dies of ``ClientExists``."""
    generations = []
    for secret in (SECRET, SECRET, SECRET + "-rotated"):
        port = free_port()
        env = _env(port, REDIS_URL=redis_server.url, EXAMPLE_CLIENT_SECRET=secret,
                   OAUTH_SECRET_KEY="example-signing-key-0123456789abcdef")
        with UvicornProcess(TARGET, "--workers", "2", env=env, port=port) as server:
            await until(_both_started(server), "both workers started")
            async with httpx.AsyncClient(base_url=server.url) as client:
                fresh = await _token(client, secret, "items:write")
                stale = await _token(client, SECRET, "items:write")
            log = server.output()
        assert "Traceback" not in log and "ClientExists" not in log, log
        assert PRINTED.search(log) is None  # the secret came from the environment
        assert fresh.status_code == 200 and fresh.json()["scope"] == "items:write"
        client_record = await store.get_client("example-service")
        assert client_record is not None
        assert verify_client_secret(client_record.secret_hash, secret)
        assert (client_record.public, client_record.grant_types, sorted(client_record.scopes)) == (
            False, ("client_credentials",), ["items:read", "items:write"])
        generations.append(client_record.generation)
    assert stale.status_code == 401 and stale.json()["error"] == "invalid_client"
    assert generations[0] == generations[1] == generations[2]
