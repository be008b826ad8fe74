"""The grant cap through the token endpoint (RFC 6749 §4.3, §4.4, §6): a loop of password
grants, or of client credentials, leaves at most the cap, and what it displaced is dead at
the token endpoint and on a protected route at once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from oauth_middleware.store import TokenStore
from tests.conftest import FakeClock
from tests.server.token_harness import (
    TOKEN_PATH,
    assert_error,
    assert_no_store,
    auth_of,
    build_app,
    confidential,
    http,
)
from tests.store_helpers import gateway, redis_of
from tests.test_grant_cap import capped

CAP = 3


async def verify_password(username: str, password: str) -> str | None:
    return f"user-{username}" if password == f"pw-{username}" else None


async def _tokens(client: httpx.AsyncClient, auth: dict[str, str], **form: str) -> dict[str, Any]:
    response = await client.post(TOKEN_PATH, data=form, headers=auth)
    assert response.status_code == 200, response.text
    assert_no_store(response)
    body: dict[str, Any] = response.json()
    return body


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/me", headers={"Authorization": f"Bearer {token}"})


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.rule("abuse.bounded.grants-per-user", "token.password")
async def test_a_loop_of_password_grants_keeps_the_users_grants_at_the_cap(
    store: TokenStore, clock: FakeClock
) -> None:
    cap = capped(store, user=CAP)
    app = build_app(cap, verify_password=verify_password)
    pw = auth_of(await confidential(cap, "pw", grant_types=["password", "refresh_token"]))
    async with http(app) as client:
        bodies = []
        for _ in range(CAP + 2):
            clock.advance(1)
            bodies.append(await _tokens(client, pw, grant_type="password", username="alice",
                                        password="pw-alice", scope="read"))
        for body in bodies[:2]:
            _refused(await _me(client, body["access_token"]))
            refused = await client.post(TOKEN_PATH, headers=pw, data={
                "grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
            assert_error(refused, 400, "invalid_grant")
        for body in bodies[2:]:
            me = await _me(client, body["access_token"])
            assert me.status_code == 200 and me.json()["user"] == "user-alice"
        refreshed = await _tokens(client, pw, grant_type="refresh_token",
                                  refresh_token=bodies[-1]["refresh_token"])
        assert (await _me(client, refreshed["access_token"])).status_code == 200
    assert await redis_of(cap).zcard(cap.keys.user_index("user-alice")) == CAP
    assert await redis_of(cap).zcard(cap.keys.client_index("pw")) == CAP


@pytest.mark.rule("abuse.bounded.grants-per-client", "token.client-credentials")
async def test_a_loop_of_client_credentials_keeps_the_clients_grants_at_the_cap(
    store: TokenStore, clock: FakeClock
) -> None:
    cap = capped(store, client=CAP)
    app = build_app(cap)
    web = auth_of(await confidential(cap))
    async with http(app) as client:
        bodies = []
        for _ in range(CAP + 2):
            clock.advance(1)
            bodies.append(await _tokens(client, web, grant_type="client_credentials"))
        for body in bodies[:2]:
            _refused(await _me(client, body["access_token"]))
        for body in bodies[2:]:
            assert (await _me(client, body["access_token"])).status_code == 200
    assert await redis_of(cap).zcard(cap.keys.own_index("web")) == CAP
    # on a cluster, the last displaced grant (revoked above) waits in it for the next issue
    assert await redis_of(cap).zcard(cap.keys.client_index("web")) == CAP + int(
        gateway(cap).cluster)
