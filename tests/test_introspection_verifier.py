"""IntrospectionVerifier against our own authorization server in a separate uvicorn process.

The resource server ``resource`` is a confidential client registered with the
``introspect`` scope: the verifier obtains its client_credentials token at
``token/`` and introspects every client's tokens with it (RFC 7662 §2.1). Each
call the verifier makes is counted with httpx event hooks, so caching is
observed, not assumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oauth_middleware import IntrospectionVerifier, OAuthMiddleware, TokenStore, issue_token
from tests.conftest import FakeClock
from tests.introspection_host import INTROSPECTION_SCOPE
from tests.redis_process import RedisProcess, free_port
from tests.server.token_harness import confidential
from tests.servers import UvicornProcess
from tests.store_helpers import redis_of

pytestmark = pytest.mark.real_redis_only


@pytest.fixture(scope="module")
def server(redis_server: RedisProcess) -> Iterator[UvicornProcess]:
    port = free_port()
    with UvicornProcess("tests.introspection_host:create_app", "--factory", port=port,
                        env={"REDIS_URL": redis_server.url, "OM_PORT": str(port)}) as process:
        yield process


@pytest.fixture
async def own_store(redis_server: RedisProcess) -> AsyncIterator[TokenStore]:
    store = TokenStore.from_url(redis_server.url)
    await redis_of(store).flushdb()
    yield store
    await store.aclose()


class Calls:
    """The paths the verifier called, in order."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.paths.append(request.url.path)


async def _setup(store: TokenStore) -> tuple[str, str, str]:
    """The resource server's secret, alice's token for ``web`` and web's own refresh token."""
    resource = await confidential(store, "resource", scopes=[INTROSPECTION_SCOPE])
    await confidential(store, "web", scopes=["items:read", "profile"])
    issued = await issue_token(store, "web", user="alice", scopes=["items:read"])
    assert resource.client_secret is not None and issued.refresh_token is not None
    return resource.client_secret, issued.access_token, issued.refresh_token


def _verifier(server: UvicornProcess, secret: str, clock: FakeClock, calls: Calls,
              **options: object) -> IntrospectionVerifier:
    url = server.url + "/oauth"
    bearer: dict[str, object] = {"token_url": url + "/token/", "scope": INTROSPECTION_SCOPE}
    return IntrospectionVerifier(
        url + "/introspect/", "resource", secret, clock=clock,
        http_client=httpx.AsyncClient(event_hooks={"request": [calls]}),
        **(bearer | options))  # type: ignore[arg-type]


def _app(verifier: IntrospectionVerifier) -> Starlette:
    async def items(request: Request) -> Response:
        return JSONResponse({"user": request.user.identity, "kind": type(request.user).__name__,
                             "client": request.scope["oauth"].client_id,
                             "scopes": request.auth.scopes})

    app = Starlette(routes=[Route("/items", items)])
    app.add_middleware(OAuthMiddleware, verifier=verifier, scopes={"/items": "items:read"})
    return app


async def get(verifier: IntrospectionVerifier, token: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(verifier)),
                                 base_url="https://testserver") as client:
        return await client.get("/items", headers={"Authorization": f"Bearer {token}"})


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.headers["retry-after"] == "5" and "www-authenticate" not in response.headers


@pytest.mark.rule("resource.introspection.cache")
async def test_our_servers_token_is_accepted_and_cached_no_longer_than_the_bound(
    server: UvicornProcess, own_store: TokenStore, clock: FakeClock
) -> None:
    """A revoked token keeps working here for at most ``cache_ttl`` seconds (RFC 7662 §4)."""
    secret, token, _ = await _setup(own_store)
    calls = Calls()
    verifier = _verifier(server, secret, clock, calls, cache_ttl=60)
    first = await get(verifier, token)
    assert first.status_code == 200, first.text
    assert first.json() == {"user": "alice", "kind": "TokenUser", "client": "web",
                            "scopes": ["items:read"]}
    assert calls.paths == ["/oauth/token/", "/oauth/introspect/"]
    await own_store.revoke_token(token)
    clock.advance(59)
    assert (await get(verifier, token)).status_code == 200  # cached
    assert calls.paths == ["/oauth/token/", "/oauth/introspect/"]
    clock.advance(1)
    assert_refused(await get(verifier, token))
    assert calls.paths == ["/oauth/token/", "/oauth/introspect/", "/oauth/introspect/"]
    await verifier.aclose()


@pytest.mark.rule("resource.introspection.cache")
async def test_a_cached_answer_never_outlives_the_tokens_exp(
    server: UvicornProcess, own_store: TokenStore, clock: FakeClock
) -> None:
    secret, _, _ = await _setup(own_store)
    issued = await issue_token(own_store, "web", user="bob", scopes=["items:read"],
                               lifetime=10)
    short = issued.access_token
    # The store issued by the real clock: the verifier's starts at that very moment (a
    # clock read before a slow setup would still be short of exp once advanced by 10 s).
    assert issued.token.expires_at is not None
    clock.now = issued.token.expires_at - 10
    calls = Calls()
    verifier = _verifier(server, secret, clock, calls, cache_ttl=3600)
    assert (await get(verifier, short)).status_code == 200
    clock.advance(9)
    assert (await get(verifier, short)).status_code == 200
    assert calls.paths.count("/oauth/introspect/") == 1
    clock.advance(1)  # exp reached: the entry is gone, and the server's answer is past exp
    assert_refused(await get(verifier, short))
    assert calls.paths.count("/oauth/introspect/") == 2
    await verifier.aclose()


@pytest.mark.rule("resource.introspection.cache")
async def test_inactive_answers_and_refresh_tokens_are_refused_and_not_cached(
    server: UvicornProcess, own_store: TokenStore, clock: FakeClock
) -> None:
    secret, _, refresh = await _setup(own_store)
    calls = Calls()
    verifier = _verifier(server, secret, clock, calls)
    unknown = "A" * 22 + "." + "B" * 43
    for _ in range(2):
        assert_refused(await get(verifier, unknown))
        assert_refused(await get(verifier, refresh))  # token_type refresh_token: no bearer
    assert calls.paths.count("/oauth/introspect/") == 4
    assert calls.paths.count("/oauth/token/") == 1
    await verifier.aclose()


@pytest.mark.rule("auth.client-identity-not-a-user")
async def test_client_credentials_tokens_are_the_client_never_a_user(
    server: UvicornProcess, own_store: TokenStore, clock: FakeClock
) -> None:
    secret, _, _ = await _setup(own_store)
    await confidential(own_store, "svc", scopes=["items:read"])
    own = (await issue_token(own_store, "svc", scopes=["items:read"])).access_token
    verifier = _verifier(server, secret, clock, Calls())
    response = await get(verifier, own)
    assert response.status_code == 200
    assert response.json() == {"user": "", "kind": "ClientUser", "client": "svc",
                               "scopes": ["items:read"]}
    await verifier.aclose()


async def test_fifty_concurrent_requests_share_one_service_token_and_one_call(
    server: UvicornProcess, own_store: TokenStore, clock: FakeClock
) -> None:
    secret, token, _ = await _setup(own_store)
    calls = Calls()
    verifier = _verifier(server, secret, clock, calls)
    answers = await asyncio.gather(*(get(verifier, token) for _ in range(50)))
    assert {response.status_code for response in answers} == {200}
    assert {response.json()["user"] for response in answers} == {"alice"}
    assert calls.paths == ["/oauth/token/", "/oauth/introspect/"]
    unknown = "C" * 22 + "." + "D" * 43
    refused = await asyncio.gather(*(get(verifier, unknown) for _ in range(50)))
    for response in refused:
        assert_refused(response)
    assert calls.paths.count("/oauth/introspect/") == 2
    await verifier.aclose()


async def test_a_revoked_service_token_is_replaced_once(
    server: UvicornProcess, own_store: TokenStore, clock: FakeClock
) -> None:
    secret, token, _ = await _setup(own_store)
    calls = Calls()
    verifier = _verifier(server, secret, clock, calls, cache_ttl=0)
    assert (await get(verifier, token)).status_code == 200
    assert await own_store.revoke_client_tokens("resource") > 0
    assert (await get(verifier, token)).status_code == 200
    assert calls.paths == ["/oauth/token/", "/oauth/introspect/", "/oauth/introspect/",
                           "/oauth/token/", "/oauth/introspect/"]
    await verifier.aclose()


async def test_basic_authentication_sees_the_clients_own_tokens(
    server: UvicornProcess, own_store: TokenStore, clock: FakeClock
) -> None:
    """Without ``token_url`` the calls carry HTTP Basic: our server then answers only
    about the caller's own tokens (a foreign one is ``active: false``)."""
    await _setup(own_store)
    web = await confidential(own_store, "web", scopes=["items:read"], replace_existing=True)
    assert web.client_secret is not None
    mine = (await issue_token(own_store, "web", user="carol", scopes=["items:read"])).access_token
    verifier = IntrospectionVerifier(server.url + "/oauth/introspect/", "web", web.client_secret,
                                     clock=clock)
    response = await get(verifier, mine)
    assert response.status_code == 200 and response.json()["user"] == "carol"
    await verifier.aclose()


@pytest.mark.rule("redis.resource-503", "rest.no-secret-in-logs")
async def test_an_outage_or_a_wrong_secret_is_a_503_never_a_401_and_logs_no_secret(
    server: UvicornProcess, own_store: TokenStore, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret, token, _ = await _setup(own_store)
    caplog.set_level(logging.DEBUG)
    dead = IntrospectionVerifier(f"http://127.0.0.1:{free_port()}/introspect/", "resource",
                                 secret, clock=clock)
    assert_unavailable(await get(dead, token))
    wrong = _verifier(server, "not-the-secret", clock, Calls())
    assert_unavailable(await get(wrong, token))
    basic_wrong = IntrospectionVerifier(server.url + "/oauth/introspect/", "resource",
                                        "not-the-secret", clock=clock)
    assert_unavailable(await get(basic_wrong, token))
    for verifier in (dead, wrong, basic_wrong):
        assert "secret" not in repr(verifier)
        await verifier.aclose()
    assert token not in caplog.text and secret not in caplog.text
    assert "not-the-secret" not in caplog.text


async def test_the_cache_is_bounded_least_recently_used_first(
    server: UvicornProcess, own_store: TokenStore, clock: FakeClock
) -> None:
    secret, first, _ = await _setup(own_store)
    second, third = [(await issue_token(own_store, "web", user=user, scopes=["items:read"])
                      ).access_token for user in ("bob", "carol")]
    calls = Calls()
    verifier = _verifier(server, secret, clock, calls, max_entries=2)
    for token in (first, second, first, third, first, second):
        assert (await get(verifier, token)).status_code == 200
    # first stays (used recently), second is pushed out by third, then asked again.
    assert calls.paths.count("/oauth/introspect/") == 4
    await verifier.aclose()


def test_bad_settings_name_the_fix() -> None:
    with pytest.raises(ValueError, match="https://"):
        IntrospectionVerifier("http://auth.example/introspect/", "rs", "s")
    with pytest.raises(ValueError, match="RFC 7662"):
        IntrospectionVerifier("https://auth.example/introspect/", "rs", "")
