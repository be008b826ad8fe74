"""The Flask and Django examples under real uvicorn over plain http://127.0.0.1, as documented.

Each example serves the authorization server at ``/oauth`` beside the protected app,
registers ``example-service`` at start and answers ``/items`` to client-credentials
tokens only with the right scope. Provisioning is checked against a real Redis with
two workers starting at once, then restarts.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import httpx
import pytest

from examples.provisioning import provision
from oauth_middleware.models import Client
from oauth_middleware.security import verify_client_secret
from oauth_middleware.store import TokenStore
from tests.redis_process import RedisProcess, free_port
from tests.servers import ROOT, UvicornProcess
from tests.store_helpers import redis_of

T = TypeVar("T")

EXAMPLES = ["examples.flask_app:app", "examples.django_project.asgi:application"]
SECRET = "example-secret-0123456789"
GENERATED = re.compile(r"example-service client secret \(generated, shown once; set "
                       r"EXAMPLE_CLIENT_SECRET to choose it\): (\S+)")


@contextmanager
def serving(target: str, redis_url: str | None, *args: str, secret: str = SECRET
            ) -> Iterator[UvicornProcess]:
    """The example on a free loopback port, its issuer that URL; empty values mean unset."""
    port = free_port()
    env = {"OAUTH_ISSUER": f"http://127.0.0.1:{port}/oauth", "EXAMPLE_CLIENT_SECRET": secret,
           "REDIS_URL": redis_url or "", "OAUTH_SECRET_KEY": ""}
    with UvicornProcess(target, *args, env=env, port=port) as server:
        yield server


def _redis_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    if backend == "fake":
        return None
    server: RedisProcess = request.getfixturevalue("redis_server")
    _on_store(server.url, lambda store: redis_of(store).flushdb())
    return server.url


def _on_store(url: str, work: Callable[[TokenStore], Awaitable[T]]) -> T:
    """Set up or inspect the example's Redis from this (sync) test, in a loop of its own."""
    async def session() -> T:
        store = TokenStore.from_url(url)
        try:
            return await work(store)
        finally:
            await store.aclose()

    return asyncio.run(session())


def _client(url: str) -> Client | None:
    return _on_store(url, lambda store: store.get_client("example-service"))


def _token(http: httpx.Client, scope: str, secret: str = SECRET) -> str:
    answer = http.post("/oauth/token/", auth=("example-service", secret),
                       data={"grant_type": "client_credentials", "scope": scope})
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == scope
    token: str = answer.json()["access_token"]
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_refused(answer: httpx.Response, status: int, error: str, scope: str = "") -> None:
    assert answer.status_code == status, answer.text
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="api", ')
    assert f'error="{error}"' in challenge
    assert answer.json()["error"] == error
    if scope:
        assert f'scope="{scope}"' in challenge


@pytest.mark.parametrize("target", EXAMPLES)
def test_example_serves_items_to_client_credentials_tokens_over_loopback_http(
    target: str, backend: str, request: pytest.FixtureRequest
) -> None:
    redis_url = _redis_url(backend, request)
    with serving(target, redis_url) as server, httpx.Client(base_url=server.url) as http:
        health = http.get("/health")
        metadata = http.get("/.well-known/oauth-authorization-server/oauth").json()
        anonymous = http.get("/items")
        reader, writer = _token(http, "items:read"), _token(http, "items:write")
        garbage = http.get("/items", headers=_bearer("not-a-token"))
        read_only_post = http.post("/items", json={"name": "pencil"}, headers=_bearer(reader))
        write_only_get = http.get("/items", headers=_bearer(writer))
        added = http.post("/items", json={"name": "pencil"}, headers=_bearer(writer))
        malformed = http.post("/items", json={"name": ""}, headers=_bearer(writer))
        oversized = http.post("/items", json={"name": "pen", "pad": "x" * 20_000},
                              headers=_bearer(writer))
        listed = http.get("/items", headers=_bearer(reader))
        wrong_secret = http.post("/oauth/token/", auth=("example-service", SECRET + "x"),
                                 data={"grant_type": "client_credentials"})
        server.stop()
        output = server.output()
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert metadata["issuer"] == f"{server.url}/oauth"
    assert metadata["token_endpoint"] == f"{server.url}/oauth/token/"
    assert metadata["grant_types_supported"] == ["client_credentials"]
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="api"'
    _assert_refused(garbage, 401, "invalid_token")
    _assert_refused(read_only_post, 403, "insufficient_scope", "items:write")
    _assert_refused(write_only_get, 403, "insufficient_scope", "items:read")
    assert added.status_code == 201
    assert added.json() == {"added": "pencil", "by": "example-service"}
    assert malformed.status_code == 400
    assert oversized.status_code == (413 if "flask" in target else 400)
    assert listed.status_code == 200
    assert listed.json() == {"items": ["pencil"], "client": "example-service",
                             "scopes": ["items:read"]}
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    assert SECRET not in output and reader not in output and writer not in output
    if redis_url is not None:
        client = _client(redis_url)
        assert client is not None and not client.public
        assert client.grant_types == ("client_credentials",)
        assert set(client.scopes) == {"items:read", "items:write"}


@pytest.mark.real_redis_only
def test_example_provisioning_survives_two_workers_at_once_and_restarts(
    redis_server: RedisProcess,
) -> None:
    """Both workers register at once: one creates, the other accepts it; a restart keeps
    the registration; a new EXAMPLE_CLIENT_SECRET replaces the old one everywhere."""
    url = redis_server.url
    _on_store(url, lambda store: redis_of(store).flushdb())
    with serving(EXAMPLES[0], url, "--workers", "2") as server:
        _wait_for(server, "Application startup complete.", 2)
        with httpx.Client(base_url=server.url) as http:
            tokens = [_token(http, "items:read") for _ in range(10)]
        server.stop()
        assert "Traceback" not in server.output() and "startup failed" not in server.output()
    first = _client(url)
    assert first is not None and len(set(tokens)) == 10
    with serving(EXAMPLES[1], url) as server, httpx.Client(base_url=server.url) as http:
        restarted = _token(http, "items:read")
        assert http.get("/items", headers=_bearer(restarted)).status_code == 200
    assert _client(url) == first
    rotated = "another-example-secret-42"
    with serving(EXAMPLES[0], url, secret=rotated) as server, \
            httpx.Client(base_url=server.url) as http:
        old = http.post("/oauth/token/", auth=("example-service", SECRET),
                        data={"grant_type": "client_credentials"})
        new = _token(http, "items:write", rotated)
    assert old.status_code == 401 and old.json()["error"] == "invalid_client"
    replaced = _client(url)
    assert replaced is not None and new
    assert replaced.generation == first.generation and replaced.secret_hash != first.secret_hash


def _wait_for(server: UvicornProcess, pattern: str, count: int, timeout: float = 20.0
              ) -> list[str]:
    """Poll the server's output until ``pattern`` appears ``count`` times (readiness of
    workers that start after the port is bound); the first groups, or the matches."""
    deadline = time.monotonic() + timeout
    while True:
        found = list(re.finditer(pattern, server.output()))
        if len(found) >= count:
            return [m.group(m.lastindex or 0) for m in found]
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)  # polling for readiness, not timing a behaviour


def test_a_generated_secret_is_printed_once_and_never_overwrites_a_registered_client(
    backend: str, request: pytest.FixtureRequest
) -> None:
    redis_url = _redis_url(backend, request)
    with serving(EXAMPLES[0], redis_url, secret="") as server:
        found = _wait_for(server, GENERATED.pattern, 1)
        with httpx.Client(base_url=server.url) as http:
            assert _token(http, "items:read", found[0])
    if redis_url is None:
        return  # the embedded store died with the process
    with serving(EXAMPLES[1], redis_url, secret="") as server:
        _wait_for(server, "example-service is already registered", 1)
        with httpx.Client(base_url=server.url) as http:
            assert _token(http, "items:read", found[0])
        server.stop()
        assert GENERATED.search(server.output()) is None


async def test_fifty_workers_provisioning_at_once_leave_one_matching_client(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What every worker runs at start, fired 50 at once: one client, the secret asked;
    then a new secret 50 at once: replaced, never half-written; generated: printed once."""
    monkeypatch.setenv("EXAMPLE_CLIENT_SECRET", SECRET)
    await asyncio.gather(*(provision(store) for _ in range(50)))
    first = await store.get_client("example-service")
    assert first is not None and verify_client_secret(first.secret_hash, SECRET)
    assert await store.list_clients() == (0, [first])
    monkeypatch.setenv("EXAMPLE_CLIENT_SECRET", "another-example-secret-42")
    await asyncio.gather(*(provision(store) for _ in range(50)))
    replaced = await store.get_client("example-service")
    assert replaced is not None and replaced.generation == first.generation
    assert verify_client_secret(replaced.secret_hash, "another-example-secret-42")
    assert not verify_client_secret(replaced.secret_hash, SECRET)
    assert capsys.readouterr().out == ""
    await redis_of(store).flushdb()
    monkeypatch.setenv("EXAMPLE_CLIENT_SECRET", "")
    await asyncio.gather(*(provision(store) for _ in range(50)))
    printed = GENERATED.findall(capsys.readouterr().out)
    generated = await store.get_client("example-service")
    assert len(printed) == 1 and generated is not None
    assert verify_client_secret(generated.secret_hash, printed[0])


@pytest.mark.real_redis_only
@pytest.mark.parametrize("target", [*EXAMPLES, "examples.fastapi_app:app"])
def test_scope_sync_registers_the_scopes_each_example_needs(
    redis_server: RedisProcess, target: str
) -> None:
    """The program as a user runs it, in its own process (so that Django's settings never
    become this test process's): the mapping of the middleware mounted over Flask or
    Django, and FastAPI's mapping plus its RequireScopes dependency."""
    _on_store(redis_server.url, lambda store: redis_of(store).flushdb())
    done = subprocess.run(
        [sys.executable, "-m", "oauth_middleware", "--redis-url", redis_server.url,
         "scope", "sync", target, "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
        env={k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "OAUTH_ISSUER")})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    added = json.loads(done.stdout)["added"]
    assert {a["identifier"]: a["routes"] for a in added} == {
        "items:read": ["GET /items"], "items:write": ["POST /items"]}
    scopes = _on_store(redis_server.url, lambda store: store.list_scopes())
    assert [s.identifier for s in scopes] == ["items:read", "items:write"]


@pytest.mark.rule("transport.local-http", "transport.https")
@pytest.mark.parametrize("target", [*EXAMPLES, "examples.fastapi_app:app"])
def test_a_deployed_example_refuses_plain_http_with_a_public_host_even_from_loopback(
    target: str,
) -> None:
    """OAUTH_ISSUER on a public https host, every other variable empty (so unset): the
    same loopback peer gets a token and the items with ``Host: 127.0.0.1``, and a 400
    ``invalid_request`` for both with ``Host: api.example`` or a proxy header."""
    port = free_port()
    env = {"OAUTH_ISSUER": "https://api.example/oauth", "EXAMPLE_CLIENT_SECRET": SECRET,
           "REDIS_URL": "", "OAUTH_SECRET_KEY": ""}
    public, proxied = {"Host": "api.example"}, {"X-Forwarded-For": "203.0.113.7"}
    with UvicornProcess(target, env=env, port=port) as server, \
            httpx.Client(base_url=server.url) as http:
        token = _token(http, "items:read")  # Host: 127.0.0.1:<port>, the local exemption
        refused_tokens = [
            http.post("/oauth/token/", auth=("example-service", SECRET), headers=headers,
                      data={"grant_type": "client_credentials", "scope": "items:read"})
            for headers in (public, proxied)]
        refused_items = [http.get("/items", headers={**_bearer(token), **headers})
                         for headers in (public, proxied)]
        local_items = http.get("/items", headers=_bearer(token))
        metadata = http.get("/.well-known/oauth-authorization-server/oauth").json()
    for answer in refused_tokens:
        assert answer.status_code == 400, answer.text
        assert answer.json() == {"error": "invalid_request",
                                 "error_description": "HTTPS is required."}
        assert answer.headers["cache-control"] == "no-store"
    for answer in refused_items:
        _assert_refused(answer, 400, "invalid_request")
        assert answer.json()["error_description"] == "HTTPS is required."
    assert local_items.status_code == 200, local_items.text
    assert metadata["token_endpoint"] == "https://api.example/oauth/token/"
