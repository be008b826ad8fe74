"""The token family behind real uvicorn (two worker processes) and a real redis-server.

Races only show across a network and processes: N concurrent redemptions of
one code, N concurrent refreshes of one refresh token. And a third-party
client library, Authlib, drives client_credentials, the code exchange,
refresh, revocation and introspection from the server's own metadata.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from oauth_middleware.server import ThrottlePolicy
from oauth_middleware.store import TokenStore
from tests.redis_process import RedisProcess, free_port
from tests.server.token_harness import (
    METADATA_URL,
    REDIRECT_URI,
    VERIFIER,
    auth_of,
    basic,
    code_form,
    confidential,
    new_code,
    public,
)
from tests.servers import UvicornProcess
from tests.store_helpers import failures, redis_of

pytestmark = pytest.mark.real_redis_only

#: Concurrent attempts per race; enough to interleave on two workers, small enough to be quick.
N = 20


@pytest.fixture(scope="module")
def server(redis_server: RedisProcess) -> Iterator[UvicornProcess]:
    """One server for the module; each test's ``store`` fixture empties Redis first."""
    port = free_port()
    env = {"REDIS_URL": redis_server.url, "OM_ISSUER": f"http://127.0.0.1:{port}/oauth"}
    with UvicornProcess("tests.server.token_server_app:build", "--factory", "--workers", "2",
                        "--log-level", "warning", env=env, port=port) as running:
        _wait_for_workers(running)
        yield running


def _wait_for_workers(server: UvicornProcess) -> None:
    """The socket is bound before the workers have imported the app: wait for answers."""
    with httpx.Client(base_url=server.url, timeout=20) as client:
        for _ in range(8):
            assert client.get(METADATA_URL).status_code == 200


def _oauth_client(**options: Any) -> Any:
    """Authlib's httpx client. Importing it warns that Authlib prefers the httpx2 package,
    and ``authlib.deprecate`` forces such warnings to "always" show: silence it here."""
    with warnings.catch_warnings():
        import authlib.deprecate

        warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
        from authlib.integrations.httpx_client import AsyncOAuth2Client
    return AsyncOAuth2Client(**options)


async def _race(server: UvicornProcess, data: dict[str, str],
                headers: dict[str, str]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        return list(await asyncio.gather(*(
            client.post("/oauth/token/", data=data, headers=headers) for _ in range(N))))


def _one_winner(responses: list[httpx.Response]) -> dict[str, Any]:
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 1, statuses
    assert statuses.count(400) == N - 1, statuses
    assert {r.json()["error"] for r in responses if r.status_code == 400} == {"invalid_grant"}
    winner: dict[str, Any] = next(r.json() for r in responses if r.status_code == 200)
    return winner


async def _me(server: UvicornProcess, token: str) -> int:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


@pytest.mark.rule("token.code.single-use")
async def test_concurrent_redemptions_of_one_code_have_exactly_one_winner(
    store: TokenStore, server: UvicornProcess
) -> None:
    web = await confidential(store)
    code = await new_code(store, "web")
    winner = _one_winner(await _race(server, code_form(code), auth_of(web)))
    # Every loser presented a used code: the tokens issued from it are revoked (RFC 6749 §4.1.2).
    assert await _me(server, winner["access_token"]) == 401


@pytest.mark.rule("token.refresh.concurrent")
async def test_concurrent_refreshes_of_one_token_have_exactly_one_winner(
    store: TokenStore, server: UvicornProcess
) -> None:
    web = await confidential(store)
    code = await new_code(store, "web")
    async with httpx.AsyncClient(base_url=server.url) as client:
        first = (await client.post("/oauth/token/", data=code_form(code),
                                   headers=auth_of(web))).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    winner = _one_winner(await _race(server, refresh, auth_of(web)))
    # Reuse of a rotated refresh token revokes the family (RFC 9700 §4.14.2).
    assert await _me(server, winner["access_token"]) == 401
    assert await _me(server, first["access_token"]) == 401


@pytest.mark.rule("metadata.document")
async def test_authlib_client_credentials_revoke_and_introspect_end_to_end(
    store: TokenStore, server: UvicornProcess
) -> None:
    web = await confidential(store)
    async with httpx.AsyncClient(base_url=server.url) as plain:
        meta = (await plain.get(METADATA_URL)).json()
    for method in ("client_secret_basic", "client_secret_post"):
        async with _oauth_client(client_id="web", client_secret=web.client_secret, scope="read",
                                 token_endpoint_auth_method=method,
                                 revocation_endpoint_auth_method=method) as oauth:
            token = await oauth.fetch_token(meta["token_endpoint"],
                                            grant_type="client_credentials")
            assert token["token_type"] == "Bearer" and token["scope"] == "read"
            assert "refresh_token" not in token
            # The client acts for itself: request.user is a ClientUser, never a user "web".
            me = (await oauth.get(f"{server.url}/me")).json()
            assert me == {"user": "", "scopes": ["read"]}
            active = await oauth.introspect_token(meta["introspection_endpoint"],
                                                  token=token["access_token"])
            assert active.status_code == 200
            assert active.json()["active"] is True and active.json()["client_id"] == "web"
            revoked = await oauth.revoke_token(meta["revocation_endpoint"],
                                               token=token["access_token"],
                                               token_type_hint="access_token")
            assert revoked.status_code == 200
            after = await oauth.introspect_token(meta["introspection_endpoint"],
                                                 token=token["access_token"])
            assert after.json() == {"active": False}
        # Two workers: the revocation holds on whichever one answers.
        assert [await _me(server, token["access_token"]) for _ in range(4)] == [401] * 4


@pytest.mark.rule("token.client-auth.public")
async def test_authlib_public_client_code_exchange_and_refresh(
    store: TokenStore, server: UvicornProcess
) -> None:
    await public(store)
    code = await new_code(store, "spa", scopes=["read", "write"])
    token_url = f"{server.url}/oauth/token"
    async with _oauth_client(client_id="spa", token_endpoint_auth_method="none",
                             redirect_uri=REDIRECT_URI) as oauth:
        token = await oauth.fetch_token(token_url, code=code, code_verifier=VERIFIER)
        assert token["scope"] == "read write" and token["refresh_token"]
        refreshed = await oauth.refresh_token(token_url, refresh_token=token["refresh_token"],
                                              scope="read")
    assert refreshed["scope"] == "read"
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert await _me(server, refreshed["access_token"]) == 200


async def _flood(server: UvicornProcess, data: dict[str, str], headers: dict[str, str],
                 n: int = 50) -> list[httpx.Response]:
    """``n`` requests at once, on as many connections, so both workers take a share."""
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(base_url=server.url, timeout=20, limits=limits) as client:
        return list(await asyncio.gather(*(
            client.post("/oauth/token/", data=data, headers=headers) for _ in range(n))))


def _limit_then_slow_down(responses: list[httpx.Response], status: int, error: str,
                          limit: int) -> None:
    statuses = [r.status_code for r in responses]
    assert statuses.count(status) == limit, statuses
    assert statuses.count(429) == len(responses) - limit, statuses
    assert {r.json()["error"] for r in responses if r.status_code == status} == {error}
    for response in (r for r in responses if r.status_code == 429):
        assert response.json()["error"] == "slow_down"
        assert 0 < int(response.headers["retry-after"]) <= ThrottlePolicy().window


@pytest.mark.rule("abuse.throttle.count-first", "abuse.throttle.no-lockout")
async def test_concurrent_wrong_secrets_on_two_workers_get_exactly_the_limit_of_refusals(
    store: TokenStore, server: UvicornProcess
) -> None:
    """uvicorn trusts X-Forwarded-For from loopback by default (``--forwarded-allow-ips``):
    the address it sets in ``scope["client"]`` is the one counted, and only that one."""
    web = await confidential(store)
    attacker = {"X-Forwarded-For": "198.51.100.66"}
    answers = await _flood(server, {"grant_type": "client_credentials"},
                           {**basic("web", "guess"), **attacker})
    _limit_then_slow_down(answers, 401, "invalid_client", ThrottlePolicy().client_failures)
    assert (await failures(store, "client", "web", "198.51.100.66"))[0] == 50
    async with httpx.AsyncClient(base_url=server.url) as client:
        locked = await client.post("/oauth/token/", data={"grant_type": "client_credentials"},
                                   headers={**auth_of(web), **attacker})
        holder = await client.post("/oauth/token/", data={"grant_type": "client_credentials"},
                                   headers={**auth_of(web), "X-Forwarded-For": "203.0.113.10"})
    assert locked.status_code == 429 and locked.json()["error"] == "slow_down"
    assert holder.status_code == 200, holder.text


@pytest.mark.rule("abuse.throttle.count-first", "abuse.throttle.reserve-first", "token.password")
async def test_concurrent_wrong_passwords_on_two_workers_get_exactly_the_limit_of_refusals(
    store: TokenStore, server: UvicornProcess
) -> None:
    """The hook hashes in worker threads of two processes: each attempt reserved its place
    first, so it ran exactly the limit of times, not once per attempt."""
    pw = await confidential(store, "pw", grant_types=["password"])
    form = {"grant_type": "password", "username": "bob", "password": "guess"}
    answers = await _flood(server, form, auth_of(pw))
    _limit_then_slow_down(answers, 400, "invalid_grant", ThrottlePolicy().password_failures)
    assert await redis_of(store).get("hook-calls:guess") == str(ThrottlePolicy().password_failures
                                                            ).encode()
    # Attempts refused before the hook are not counted; every place was freed.
    assert (await failures(store, "password", "bob", "127.0.0.1"))[0] == 5
    assert await redis_of(store).exists(store.keys.attempts("password", "bob", "127.0.0.1")) == 0


@pytest.mark.rule("abuse.throttle.reserve-first", "abuse.throttle.no-lockout", "token.password")
async def test_a_password_burst_on_two_workers_hashes_the_allowance_and_bob_signs_in_elsewhere(
    store: TokenStore, server: UvicornProcess
) -> None:
    """50 wrong passwords for bob from one address (X-Forwarded-For, trusted from loopback)
    fired together with bob's right password from his own: the hook hashes 5 guesses and
    bob's password, and bob gets tokens."""
    pw = await confidential(store, "pw", grant_types=["password"])
    wrong = {"grant_type": "password", "username": "bob", "password": "guess"}
    right = {"grant_type": "password", "username": "bob", "password": "pw-bob"}
    limits = httpx.Limits(max_connections=51)
    async with httpx.AsyncClient(base_url=server.url, timeout=20, limits=limits) as client:
        *answers, own = await asyncio.gather(
            *(client.post("/oauth/token/", data=wrong,
                          headers={**auth_of(pw), "X-Forwarded-For": "198.51.100.66"})
              for _ in range(50)),
            client.post("/oauth/token/", data=right,
                        headers={**auth_of(pw), "X-Forwarded-For": "203.0.113.10"}))
    _limit_then_slow_down(answers, 400, "invalid_grant", ThrottlePolicy().password_failures)
    assert own.status_code == 200, own.text
    assert await _me(server, own.json()["access_token"]) == 200
    assert await redis_of(store).get("hook-calls:guess") == str(ThrottlePolicy().password_failures
                                                            ).encode()
    assert await redis_of(store).get("hook-calls:pw-bob") == b"1"
    assert (await failures(store, "password", "bob", "198.51.100.66"))[0] == 5
    assert await failures(store, "password", "bob", "203.0.113.10") == (0, 0)
