"""Token introspection (RFC 7662): who may ask, and what an active or inactive answer holds."""

from __future__ import annotations

import httpx
import pytest

from oauth_middleware import Scope
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import RegisteredClient, issue_token
from tests.conftest import FakeClock
from tests.server.token_harness import (
    INTROSPECT_PATH,
    ISSUER,
    REVOKE_PATH,
    TOKEN_PATH,
    assert_error,
    assert_invalid_client,
    assert_no_store,
    auth_of,
    build_app,
    code_tokens,
    confidential,
    http,
    public,
)

INACTIVE = {"active": False}



async def _introspect(client: httpx.AsyncClient, registered: RegisteredClient,
                      token: str, **extra: str) -> httpx.Response:
    return await client.post(INTROSPECT_PATH, headers=auth_of(registered),
                             data={"token": token, **extra})


async def test_active_access_token_of_a_user(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient, clock: FakeClock
) -> None:
    tokens = await code_tokens(client, store, web, scopes=["read", "write"])
    response = await _introspect(client, web, tokens["access_token"],
                                 token_type_hint="access_token")
    assert response.status_code == 200
    assert_no_store(response)
    assert response.json() == {
        "active": True, "scope": "read write", "client_id": "web", "username": "alice",
        "sub": "alice", "token_type": "Bearer", "iat": int(clock.now),
        "exp": int(clock.now + 3600), "iss": ISSUER,
    }


@pytest.mark.rule("auth.client-identity-not-a-user")
async def test_client_credentials_token_has_no_username_and_no_sub(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    """The client is named by client_id alone: as ``sub`` it could pass for a user "web"."""
    token = (await client.post(TOKEN_PATH, headers=auth_of(web),
                               data={"grant_type": "client_credentials"})).json()["access_token"]
    body = (await _introspect(client, web, token)).json()
    assert body["active"] is True and body["client_id"] == "web"
    assert "username" not in body and "sub" not in body
    users = await issue_token(store, "web", user="web", scopes=["read"])
    same_name = (await _introspect(client, web, users.access_token)).json()
    assert same_name["sub"] == same_name["username"] == "web"


async def test_refresh_token_and_never_expiring_token(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    tokens = await code_tokens(client, store, web)
    refresh = (await _introspect(client, web, tokens["refresh_token"])).json()
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"
    forever = await confidential(store, "forever", token_lifetime=None)
    issued = await issue_token(store, "forever", user="bob", scopes=["read"])
    body = (await _introspect(client, forever, issued.access_token)).json()
    assert body["active"] is True and "exp" not in body


@pytest.mark.rule("introspect.inactive")
async def test_unknown_malformed_expired_revoked_and_foreign_tokens_are_just_inactive(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient, clock: FakeClock
) -> None:
    other = await confidential(store, "other")
    foreign = await code_tokens(client, store, other)
    for token in ("a" * 22 + "." + "b" * 43, "garbage", foreign["access_token"],
                  foreign["refresh_token"]):
        response = await _introspect(client, web, token)
        assert response.status_code == 200
        assert response.json() == INACTIVE
    revoked = await code_tokens(client, store, web)
    await client.post(REVOKE_PATH, headers=auth_of(web), data={"token": revoked["access_token"]})
    assert (await _introspect(client, web, revoked["access_token"])).json() == INACTIVE
    expiring = await code_tokens(client, store, web)
    clock.advance(3601)
    assert (await _introspect(client, web, expiring["access_token"])).json() == INACTIVE


@pytest.mark.rule("introspect.inactive")
async def test_rotated_refresh_token_is_inactive(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    tokens = await code_tokens(client, store, web)
    await client.post(TOKEN_PATH, headers=auth_of(web), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert (await _introspect(client, web, tokens["refresh_token"])).json() == INACTIVE


@pytest.mark.rule("introspect.inactive")
async def test_store_level_revocations_show_through_introspection(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    """The calls the CLI and admin use: log a user out everywhere, drop a client, one grant."""
    alice = [await code_tokens(client, store, web, user="alice") for _ in range(2)]
    bob = await code_tokens(client, store, web, user="bob")
    assert await store.revoke_user("alice") > 0
    for tokens in alice:
        assert (await _introspect(client, web, tokens["access_token"])).json() == INACTIVE
    assert (await _introspect(client, web, bob["access_token"])).json()["active"] is True
    record = await store.lookup(bob["access_token"])
    assert record is not None
    await store.revoke_grant(record.grant_id)
    assert (await _introspect(client, web, bob["refresh_token"])).json() == INACTIVE
    service = (await client.post(TOKEN_PATH, headers=auth_of(web),
                                 data={"grant_type": "client_credentials"})).json()
    carol = await code_tokens(client, store, web, user="carol")
    await store.revoke_client_tokens("web")
    for token in (service["access_token"], carol["access_token"]):
        assert (await _introspect(client, web, token)).json() == INACTIVE
    assert (await client.get("/me", headers={
        "Authorization": f"Bearer {carol['access_token']}"})).status_code == 401


@pytest.mark.rule("introspect.caller-auth")
async def test_caller_must_authenticate_as_a_confidential_client(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    tokens = await code_tokens(client, store, web)
    assert_invalid_client(await client.post(INTROSPECT_PATH,
                                            data={"token": tokens["access_token"]}))
    await public(store)
    assert_invalid_client(await client.post(INTROSPECT_PATH, data={
        "client_id": "spa", "token": tokens["access_token"]}))
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert_invalid_client(await client.post(INTROSPECT_PATH, headers=bearer,
                                            data={"token": tokens["access_token"]}))


async def test_missing_token_is_invalid_request(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    response = await client.post(INTROSPECT_PATH, headers=auth_of(web), data={})
    assert_error(response, 400, "invalid_request")


@pytest.mark.rule("introspect.caller-auth")
async def test_bearer_with_the_introspection_scope_sees_every_clientscode_tokens(
    store: TokenStore, web: RegisteredClient
) -> None:
    resource = await confidential(store, "resource", scopes=["introspect"])
    async with http(build_app(store, introspection_scope="introspect")) as client:
        rs_token = (await client.post(TOKEN_PATH, headers=auth_of(resource), data={
            "grant_type": "client_credentials"})).json()["access_token"]
        tokens = await code_tokens(client, store, web)
        response = await client.post(INTROSPECT_PATH, data={"token": tokens["access_token"]},
                                     headers={"Authorization": f"Bearer {rs_token}"})
        assert response.status_code == 200
        assert response.json()["active"] is True and response.json()["client_id"] == "web"

        weak = await client.post(INTROSPECT_PATH, data={"token": rs_token},
                                 headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert weak.status_code == 403
        assert_no_store(weak)
        assert weak.json()["error"] == "insufficient_scope"
        assert weak.headers["www-authenticate"].startswith('Bearer realm="oauth"')
        assert 'scope="introspect"' in weak.headers["www-authenticate"]

        bogus = await client.post(INTROSPECT_PATH, data={"token": rs_token},
                                  headers={"Authorization": "Bearer " + "a" * 22 + "." + "b" * 43})
        assert_error(bogus, 401, "invalid_token")
        assert 'error="invalid_token"' in bogus.headers["www-authenticate"]


@pytest.mark.rule("introspect.caller-auth", "auth.client-identity-not-a-user")
async def test_a_users_token_with_the_introspection_scope_may_not_introspect(
    store: TokenStore, web: RegisteredClient
) -> None:
    """The introspection scope is a resource server's: a client with no scope list may
    ask a user to consent to it at auth/, and a user's token then read every client's
    tokens (their users, scopes and lifetimes)."""
    third_party = await confidential(store, "third-party", scopes=[])
    await store.save_scope(Scope("introspect", "Introspect"))
    user_token = (await issue_token(store, "third-party", user="alice",
                                    scopes=["introspect"])).access_token
    victim = (await issue_token(store, "web", user="bob", scopes=["read"])).access_token
    async with http(build_app(store, introspection_scope="introspect")) as client:
        response = await client.post(INTROSPECT_PATH, data={"token": victim},
                                     headers={"Authorization": f"Bearer {user_token}"})
    assert not third_party.client.scopes  # may ask for any enabled scope
    assert response.status_code == 403
    assert_no_store(response)
    assert response.json()["error"] == "insufficient_scope"
    assert "bob" not in response.text and "active" not in response.json()
    assert response.headers["www-authenticate"].startswith('Bearer realm="oauth"')
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
