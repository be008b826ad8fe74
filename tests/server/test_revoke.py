"""Token revocation (RFC 7009) through the mounted server, seen by the middleware next request."""

from __future__ import annotations

import httpx
import pytest

from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import RegisteredClient
from tests.server.token_harness import (
    REVOKE_PATH,
    TOKEN_PATH,
    assert_error,
    assert_invalid_client,
    assert_no_store,
    auth_of,
    basic,
    code_form,
    code_tokens,
    confidential,
    new_code,
    public,
)


async def _me(client: httpx.AsyncClient, access_token: str) -> int:
    response = await client.get("/me", headers={"Authorization": f"Bearer {access_token}"})
    return response.status_code


async def _refresh(client: httpx.AsyncClient, registered: RegisteredClient,
                   refresh_token: str) -> httpx.Response:
    return await client.post(TOKEN_PATH, headers=auth_of(registered), data={
        "grant_type": "refresh_token", "refresh_token": refresh_token})


@pytest.mark.rule("resource.invalid-token")
async def test_revoked_access_token_fails_on_the_next_protected_request(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    tokens = await code_tokens(client, store, web)
    assert await _me(client, tokens["access_token"]) == 200
    response = await client.post(REVOKE_PATH, headers=auth_of(web), data={
        "token": tokens["access_token"], "token_type_hint": "access_token"})
    assert response.status_code == 200
    assert_no_store(response)
    assert response.json() == {}
    assert await _me(client, tokens["access_token"]) == 401
    assert await store.lookup(tokens["access_token"]) is None


@pytest.mark.rule("revoke.refresh-revokes-grant")
async def test_revoking_a_refresh_token_revokes_its_grant_family(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    tokens = await code_tokens(client, store, web)
    response = await client.post(REVOKE_PATH, headers=auth_of(web), data={
        "token": tokens["refresh_token"], "token_type_hint": "refresh_token"})
    assert response.status_code == 200
    assert await _me(client, tokens["access_token"]) == 401
    assert_error(await _refresh(client, web, tokens["refresh_token"]), 400, "invalid_grant")


@pytest.mark.parametrize(("kind", "hint"), [
    ("access_token", "refresh_token"), ("refresh_token", "access_token"),
    ("access_token", "unknown_hint"), ("refresh_token", None),
])
@pytest.mark.rule("revoke.hint")
async def test_a_wrong_or_missing_hint_still_finds_the_token(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient, kind: str,
    hint: str | None
) -> None:
    tokens = await code_tokens(client, store, web)
    data = {"token": tokens[kind]}
    if hint is not None:
        data["token_type_hint"] = hint
    assert (await client.post(REVOKE_PATH, headers=auth_of(web), data=data)).status_code == 200
    assert await store.lookup(tokens[kind]) is None


@pytest.mark.parametrize("token", ["a" * 22 + "." + "b" * 43, "not-a-token", "x" * 2000])
@pytest.mark.rule("revoke.unknown-200")
async def test_unknown_tokens_answer_200(
    client: httpx.AsyncClient, web: RegisteredClient, token: str
) -> None:
    response = await client.post(REVOKE_PATH, headers=auth_of(web), data={"token": token})
    assert response.status_code == 200
    assert response.json() == {}


async def test_missing_token_is_invalid_request(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    assert_error(await client.post(REVOKE_PATH, headers=auth_of(web), data={}),
                 400, "invalid_request")


@pytest.mark.rule("revoke.own-tokens")
async def test_client_b_cannot_revoke_client_a_token(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    other = await confidential(store, "other")
    tokens = await code_tokens(client, store, web)
    for kind in ("access_token", "refresh_token"):
        response = await client.post(REVOKE_PATH, headers=auth_of(other),
                                     data={"token": tokens[kind]})
        assert response.status_code == 200
        assert response.json() == {}
    assert await _me(client, tokens["access_token"]) == 200
    assert (await _refresh(client, web, tokens["refresh_token"])).status_code == 200


@pytest.mark.rule("revoke.client-auth")
async def test_revocation_needs_client_authentication(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    tokens = await code_tokens(client, store, web)
    assert_invalid_client(await client.post(REVOKE_PATH, data={"token": tokens["access_token"]}))
    assert_invalid_client(await client.post(REVOKE_PATH, headers=basic("web", "wrong"),
                                            data={"token": tokens["access_token"]}))
    assert await _me(client, tokens["access_token"]) == 200


@pytest.mark.rule("revoke.client-auth")
async def test_public_client_revokes_its_own_token_by_client_id(
    client: httpx.AsyncClient, store: TokenStore
) -> None:
    await public(store)
    code = await new_code(store, "spa")
    tokens = (await client.post(TOKEN_PATH, data=code_form(code, client_id="spa"))).json()
    response = await client.post(REVOKE_PATH, data={"client_id": "spa",
                                                    "token": tokens["refresh_token"]})
    assert response.status_code == 200
    assert await _me(client, tokens["access_token"]) == 401


@pytest.mark.rule("revoke.refresh-revokes-grant")
async def test_revoking_one_grant_leaves_other_grants_of_the_user(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    first, second = await code_tokens(client, store, web), await code_tokens(client, store, web)
    await client.post(REVOKE_PATH, headers=auth_of(web), data={"token": first["refresh_token"]})
    assert await _me(client, first["access_token"]) == 401
    assert await _me(client, second["access_token"]) == 200
