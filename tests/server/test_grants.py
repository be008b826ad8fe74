"""The token endpoint's grants (RFC 6749 §4-6, RFC 7636, RFC 9700 §4.14), through the ASGI app."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from oauth_middleware.models import AuthorizationCode, Scope
from oauth_middleware.server import AuthorizationServer, ThrottlePolicy
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.toolbox import RegisteredClient
from tests.conftest import FakeClock
from tests.server.token_harness import (
    INTROSPECT_PATH,
    ISSUER,
    REDIRECT_URI,
    REVOKE_PATH,
    SECRET_KEY,
    TOKEN_PATH,
    VERIFIER,
    assert_error,
    assert_no_store,
    auth_of,
    build_app,
    code_form,
    confidential,
    http,
    new_code,
    public,
)
from tests.store_helpers import ALL_SCRIPTS, commands_run, get_refresh, redis_of


@pytest.fixture
def app(store: TokenStore) -> Starlette:
    return build_app(store)


async def _token(
    client: httpx.AsyncClient, registered: RegisteredClient, **data: str
) -> httpx.Response:
    return await client.post(TOKEN_PATH, data=data, headers=auth_of(registered))


async def _me(client: httpx.AsyncClient, access_token: str) -> int:
    response = await client.get("/me", headers={"Authorization": f"Bearer {access_token}"})
    return response.status_code


async def _redeem(client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient,
                  **code_options: Any) -> dict[str, Any]:
    code = await new_code(store, "web", **code_options)
    response = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- grant selection ------------------------------------------------------------------------

@pytest.mark.rule("token.grant-type.selection")
async def test_missing_grant_type_is_invalid_request(
    client: httpx.AsyncClient, web: RegisteredClient
) -> None:
    assert_error(await _token(client, web, scope="read"), 400, "invalid_request")


@pytest.mark.parametrize("grant_type", ["implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                        "token", "Authorization_Code"])
@pytest.mark.rule("token.grant-type.selection")
async def test_unknown_grant_type_is_unsupported_grant_type(
    client: httpx.AsyncClient, web: RegisteredClient, grant_type: str
) -> None:
    response = await _token(client, web, grant_type=grant_type)
    assert_error(response, 400, "unsupported_grant_type")


@pytest.mark.rule("token.grant-type.selection")
async def test_grant_disabled_on_the_server_is_unauthorized_client(
    store: TokenStore, web: RegisteredClient
) -> None:
    async with http(build_app(store, grants=["authorization_code", "refresh_token"])) as client:
        response = await _token(client, web, grant_type="client_credentials")
    assert_error(response, 400, "unauthorized_client")


@pytest.mark.rule("token.grant-type.selection")
async def test_grant_not_registered_for_the_client_is_unauthorized_client(
    client: httpx.AsyncClient, store: TokenStore
) -> None:
    narrow = await confidential(store, "narrow", grant_types=["authorization_code"])
    assert_error(await _token(client, narrow, grant_type="client_credentials"),
                 400, "unauthorized_client")
    assert_error(await _token(client, narrow, grant_type="refresh_token", refresh_token="x"),
                 400, "unauthorized_client")


# --- authorization_code ---------------------------------------------------------------------

@pytest.mark.rule("responses.token-success.shape", "responses.token-family.json-no-store")
async def test_code_exchange_returns_the_rfc_6749_token_response(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    code = await new_code(store, "web", scopes=["read", "write"])
    response = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    assert response.status_code == 200
    assert_no_store(response)
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600 and isinstance(body["expires_in"], int)
    assert body["scope"] == "read write"
    me = await client.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {"user": "alice", "scopes": ["read", "write"]}


async def test_no_refresh_token_unless_the_client_may_refresh(
    client: httpx.AsyncClient, store: TokenStore
) -> None:
    code_only = await confidential(store, "codeonly", grant_types=["authorization_code"])
    code = await new_code(store, "codeonly")
    response = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(code_only))
    assert response.status_code == 200
    assert "refresh_token" not in response.json()


async def test_no_refresh_token_when_the_server_disables_refreshing(
    store: TokenStore, web: RegisteredClient
) -> None:
    async with http(build_app(store, grants=["authorization_code"])) as client:
        code = await new_code(store, "web")
        response = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    assert response.status_code == 200
    assert "refresh_token" not in response.json()


@pytest.mark.rule("responses.token-success.shape")
async def test_expires_in_is_omitted_only_for_never_expiring_clients(
    client: httpx.AsyncClient, store: TokenStore
) -> None:
    forever = await confidential(store, "forever", token_lifetime=None)
    code = await new_code(store, "forever")
    response = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(forever))
    assert response.status_code == 200
    assert "expires_in" not in response.json()
    short = await confidential(store, "short", token_lifetime=60)
    assert (await _token(client, short, grant_type="client_credentials")).json()[
        "expires_in"] == 60


@pytest.mark.rule("token.code.binding")
async def test_redirect_uri_is_required_and_exact_when_it_was_sent_at_authorization(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    code = await new_code(store, "web")
    missing = {k: v for k, v in code_form(code).items() if k != "redirect_uri"}
    for data in (missing, code_form(code, redirect_uri=REDIRECT_URI + "/"),
                 code_form(code, redirect_uri=REDIRECT_URI.upper())):
        assert_error(await client.post(TOKEN_PATH, data=data, headers=auth_of(web)),
                     400, "invalid_grant")
    ok = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    assert ok.status_code == 200


@pytest.mark.rule("token.code.binding")
async def test_redirect_uri_may_be_omitted_when_it_was_not_sent_at_authorization(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    code = await new_code(store, "web", explicit=False)
    wrong = code_form(code, redirect_uri="https://evil.example/cb")
    assert_error(await client.post(TOKEN_PATH, data=wrong, headers=auth_of(web)),
                 400, "invalid_grant")
    data = {k: v for k, v in code_form(code).items() if k != "redirect_uri"}
    assert (await client.post(TOKEN_PATH, data=data, headers=auth_of(web))).status_code == 200


@pytest.mark.parametrize(("verifier", "description"), [
    (None, "The code_verifier is missing or malformed."),
    (VERIFIER[:-1] + "x", "The code_verifier does not match the code challenge."),
    ("short", "The code_verifier is missing or malformed."),
    (VERIFIER + "!", "The code_verifier is missing or malformed."),
])
@pytest.mark.rule("token.code.binding", "token.code.replay-revokes")
async def test_bad_pkce_verifier_is_invalid_grant_and_consumes_nothing(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient, verifier: str | None,
    description: str,
) -> None:
    code = await new_code(store, "web")
    bad = await client.post(TOKEN_PATH, data=code_form(code, verifier=verifier),
                            headers=auth_of(web))
    assert assert_error(bad, 400, "invalid_grant")["error_description"] == description
    good = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    assert good.status_code == 200


@pytest.mark.rule("token.code.binding")
async def test_verifier_for_a_code_issued_without_pkce_is_refused(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    """RFC 9700 §4.8.2: otherwise PKCE could be stripped from an intercepted flow."""
    code = await new_code(store, "web", verifier=None)
    bad = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    assert assert_error(bad, 400, "invalid_grant")["error_description"] == (
        "A code_verifier was sent for a code issued without PKCE.")
    ok = await client.post(TOKEN_PATH, data=code_form(code, verifier=None), headers=auth_of(web))
    assert ok.status_code == 200


@pytest.mark.rule("auth.pkce.required-public", "token.code.binding")
async def test_pkce_is_required_of_public_clients_and_optionally_of_all(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    await public(store)
    code = await new_code(store, "spa", verifier=None)
    response = await client.post(TOKEN_PATH, data=code_form(code, verifier=None, client_id="spa"))
    must = "This client must use PKCE."
    assert assert_error(response, 400, "invalid_grant")["error_description"] == must
    async with http(build_app(store, require_pkce=True)) as strict:
        code = await new_code(store, "web", verifier=None)
        response = await strict.post(TOKEN_PATH, data=code_form(code, verifier=None),
                                     headers=auth_of(web))
    assert assert_error(response, 400, "invalid_grant")["error_description"] == must


@pytest.mark.rule("auth.pkce.s256-only")
async def test_plain_pkce_counts_only_for_clients_allowed_it(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    code = await new_code(store, "web", method="plain")
    refused = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    assert assert_error(refused, 400, "invalid_grant")["error_description"] == (
        "The code challenge method is not allowed.")
    legacy = await confidential(store, "legacy", allow_plain_pkce=True)
    code = await new_code(store, "legacy", method="plain")
    ok = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(legacy))
    assert ok.status_code == 200


@pytest.mark.rule("auth.pkce.s256-only")
async def test_a_code_recorded_without_a_challenge_method_is_plain(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    """RFC 7636 §4.3: no method means plain, which counts only for a client allowed it."""
    legacy = await confidential(store, "legacy", allow_plain_pkce=True)
    codes = {}
    for client_id in ("web", "legacy"):
        codes[client_id] = await store.create_code(AuthorizationCode(
            grant_id="", client_id=client_id, subject="alice", redirect_uri=REDIRECT_URI,
            redirect_uri_explicit=True, scopes=frozenset({"read"}), code_challenge=VERIFIER,
            code_challenge_method=None), lifetime=60)
    refused = await client.post(TOKEN_PATH, data=code_form(codes["web"]), headers=auth_of(web))
    assert assert_error(refused, 400, "invalid_grant")["error_description"] == (
        "The code challenge method is not allowed.")
    ok = await client.post(TOKEN_PATH, data=code_form(codes["legacy"]), headers=auth_of(legacy))
    assert ok.status_code == 200, ok.text


#: One answer for every code that cannot be redeemed: which case it was is no one's business.
CODE_REFUSED = "The authorization code is invalid, expired or used."


@pytest.mark.rule("token.code.binding", "token.code.replay-revokes")
async def test_code_is_bound_to_its_client_and_a_foreign_attempt_revokes_nothing(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    other = await confidential(store, "other")
    code = await new_code(store, "web")
    stolen = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(other))
    assert assert_error(stolen, 400, "invalid_grant")["error_description"] == CODE_REFUSED
    assert (await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
            ).status_code == 200


@pytest.mark.rule("token.code.random-ttl")
async def test_expired_code_is_invalid_grant(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient, clock: FakeClock
) -> None:
    code = await new_code(store, "web")
    clock.advance(121)
    expired = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    assert assert_error(expired, 400, "invalid_grant")["error_description"] == CODE_REFUSED


@pytest.mark.rule("token.code.replay-revokes")
async def test_replayed_valid_code_is_refused_and_revokes_the_tokens_it_gave(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    code = await new_code(store, "web")
    first = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    tokens = first.json()
    assert await _me(client, tokens["access_token"]) == 200
    replay = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    assert assert_error(replay, 400, "invalid_grant")["error_description"] == CODE_REFUSED
    assert await _me(client, tokens["access_token"]) == 401
    refresh = await _token(client, web, grant_type="refresh_token",
                           refresh_token=tokens["refresh_token"])
    assert_error(refresh, 400, "invalid_grant")


@pytest.mark.rule("token.code.replay-revokes")
async def test_replay_with_invalid_parameters_revokes_nothing(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    other = await confidential(store, "other")
    code = await new_code(store, "web")
    tokens = (await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))).json()
    wrong_verifier = code_form(code, verifier="x" * 43)
    for data, headers in ((wrong_verifier, auth_of(web)), (code_form(code), auth_of(other))):
        assert_error(await client.post(TOKEN_PATH, data=data, headers=headers),
                     400, "invalid_grant")
    assert await _me(client, tokens["access_token"]) == 200


@pytest.mark.rule("token.code.random-ttl")
async def test_codes_are_random_and_live_at_most_ten_minutes(
    store: TokenStore, web: RegisteredClient
) -> None:
    codes = {await new_code(store, "web") for _ in range(3)}
    assert len(codes) == 3
    assert all(len(code.split(".")[1]) >= 43 for code in codes)  # 256 random bits
    keys = [k async for k in redis_of(store).scan_iter(match=f"{store.keys.prefix}code:*")]
    ttls = [await redis_of(store).ttl(k) for k in keys]
    assert len(ttls) == 3 and all(0 < ttl <= 120 for ttl in ttls)
    with pytest.raises(ValueError, match="600"):
        AuthorizationServer(store=store, issuer=ISSUER, secret_key=SECRET_KEY, code_lifetime=601)


async def test_scopes_disabled_since_authorization_are_not_granted(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    await store.save_scope(Scope("write", "Write", enabled=False))
    assert (await _redeem(client, store, web, scopes=["read", "write"]))["scope"] == "read"
    code = await new_code(store, "web", scopes=["write"])
    response = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    assert_error(response, 400, "invalid_scope")


@pytest.mark.rule("token.code.single-use")
async def test_concurrent_redemptions_in_one_process_have_one_winner(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    code = await new_code(store, "web")
    responses = await asyncio.gather(*(
        client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web)) for _ in range(10)))
    assert sorted(r.status_code for r in responses) == [200] + [400] * 9
    assert {(r.json()["error"], r.json()["error_description"])
            for r in responses if r.status_code == 400} == {("invalid_grant", CODE_REFUSED)}


# --- refresh_token --------------------------------------------------------------------------

@pytest.mark.rule("token.refresh.rotation")
async def test_refresh_rotates_and_the_old_refresh_token_dies(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    first = await _redeem(client, store, web)
    second = await _token(client, web, grant_type="refresh_token",
                          refresh_token=first["refresh_token"])
    assert second.status_code == 200
    assert_no_store(second)
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    assert await _me(client, body["access_token"]) == 200


@pytest.mark.rule("token.refresh.reuse-revokes-family")
async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    first = await _redeem(client, store, web)
    second = (await _token(client, web, grant_type="refresh_token",
                           refresh_token=first["refresh_token"])).json()
    reuse = await _token(client, web, grant_type="refresh_token",
                         refresh_token=first["refresh_token"])
    assert_error(reuse, 400, "invalid_grant")
    assert await _me(client, first["access_token"]) == 401
    assert await _me(client, second["access_token"]) == 401
    assert_error(await _token(client, web, grant_type="refresh_token",
                              refresh_token=second["refresh_token"]), 400, "invalid_grant")


@pytest.mark.rule("token.refresh.reuse-revokes-family")
@pytest.mark.parametrize("scope", ["read admin", "bad\\scope"])
async def test_a_reused_refresh_token_revokes_the_family_whatever_scope_it_asks(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient, scope: str
) -> None:
    """A replay asking a wider or malformed scope is still a replay, not an invalid_scope."""
    first = await _redeem(client, store, web)
    second = (await _token(client, web, grant_type="refresh_token",
                           refresh_token=first["refresh_token"])).json()
    reuse = await _token(client, web, grant_type="refresh_token",
                         refresh_token=first["refresh_token"], scope=scope)
    assert_error(reuse, 400, "invalid_grant")
    assert await _me(client, second["access_token"]) == 401


@pytest.mark.rule("token.refresh.rotation")
async def test_refresh_resets_the_expiry(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient, clock: FakeClock
) -> None:
    """oauthost kept the old expiry on refresh; the new token gets a full lifetime."""
    first = await _redeem(client, store, web)
    clock.advance(3000)
    second = (await _token(client, web, grant_type="refresh_token",
                           refresh_token=first["refresh_token"])).json()
    assert second["expires_in"] == 3600
    clock.advance(1000)
    assert await _me(client, first["access_token"]) == 401
    assert await _me(client, second["access_token"]) == 200


@pytest.mark.rule("token.refresh.scope-narrow", "responses.token-success.shape")
async def test_refresh_may_narrow_the_scope_and_later_restore_it(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    first = await _redeem(client, store, web, scopes=["read", "write"])
    narrow = (await _token(client, web, grant_type="refresh_token", scope="read",
                           refresh_token=first["refresh_token"])).json()
    assert narrow["scope"] == "read"
    full = (await _token(client, web, grant_type="refresh_token",
                         refresh_token=narrow["refresh_token"])).json()
    assert full["scope"] == "read write"


@pytest.mark.rule("token.refresh.scope-narrow")
async def test_widening_the_scope_is_invalid_scope_and_consumes_nothing(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    first = await _redeem(client, store, web, scopes=["read"])
    wide = await _token(client, web, grant_type="refresh_token", scope="read write",
                        refresh_token=first["refresh_token"])
    assert_error(wide, 400, "invalid_scope")
    again = await _token(client, web, grant_type="refresh_token",
                         refresh_token=first["refresh_token"])
    assert again.status_code == 200
    assert await _me(client, first["access_token"]) == 200


@pytest.mark.rule("token.refresh.client-bound")
async def test_refresh_token_is_bound_to_its_client(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    other = await confidential(store, "other")
    first = await _redeem(client, store, web)
    stolen = await _token(client, other, grant_type="refresh_token",
                          refresh_token=first["refresh_token"])
    assert_error(stolen, 400, "invalid_grant")
    ok = await _token(client, web, grant_type="refresh_token",
                      refresh_token=first["refresh_token"])
    assert ok.status_code == 200


@pytest.mark.rule("token.client-auth.public")
async def test_public_client_refreshes_by_client_id(
    client: httpx.AsyncClient, store: TokenStore
) -> None:
    await public(store)
    code = await new_code(store, "spa")
    first = (await client.post(TOKEN_PATH, data=code_form(code, client_id="spa"))).json()
    response = await client.post(TOKEN_PATH, data={
        "grant_type": "refresh_token", "client_id": "spa", "refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    assert response.json()["scope"] == "read"


@pytest.mark.rule("token.refresh.concurrent", "token.refresh.reuse-revokes-family")
async def test_concurrent_refreshes_in_one_process_have_one_winner(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    """Every loser presented a token the winner had already rotated: each is refused with
    invalid_grant, and that reuse revokes the family, the winner's new pair included."""
    first = await _redeem(client, store, web)
    data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    responses = await asyncio.gather(*(_token(client, web, **data) for _ in range(50)))
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1
    for loser in responses:
        if loser is not winners[0]:
            body = assert_error(loser, 400, "invalid_grant")
            assert body["error_description"] == "The refresh token is invalid, expired or revoked."
    won = winners[0].json()
    assert won["token_type"] == "Bearer" and won["refresh_token"] != first["refresh_token"]
    assert await store.resolve(won["access_token"]) is None
    assert await store.resolve(first["access_token"]) is None
    assert await get_refresh(store, won["refresh_token"]) is None
    assert await get_refresh(store, first["refresh_token"]) is None
    assert await _me(client, won["access_token"]) == 401
    again = await _token(client, web, grant_type="refresh_token",
                         refresh_token=won["refresh_token"])
    assert_error(again, 400, "invalid_grant")


async def test_unknown_missing_and_expired_refresh_tokens(
    store: TokenStore, web: RegisteredClient, clock: FakeClock
) -> None:
    async with http(build_app(store, refresh_lifetime=100)) as client:
        first = await _redeem(client, store, web)
        assert_error(await _token(client, web, grant_type="refresh_token"), 400, "invalid_request")
        assert_error(await _token(client, web, grant_type="refresh_token",
                                  refresh_token="a" * 22 + "." + "b" * 43), 400, "invalid_grant")
        clock.advance(101)
        assert_error(await _token(client, web, grant_type="refresh_token",
                                  refresh_token=first["refresh_token"]), 400, "invalid_grant")


# --- client_credentials ---------------------------------------------------------------------

@pytest.mark.rule("token.client-credentials")
async def test_client_credentials_issues_no_refresh_token_and_the_client_is_the_subject(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    response = await _token(client, web, grant_type="client_credentials")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["scope"] == "read write"
    record = await store.resolve(body["access_token"])
    assert record is not None
    assert (record.subject, record.subject_type, record.user) == ("web", "client", None)


@pytest.mark.rule("token.client-credentials")
async def test_client_credentials_scope_rules(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    narrow = await _token(client, web, grant_type="client_credentials", scope="read")
    assert narrow.json()["scope"] == "read"
    for scope in ("admin", "read admin", "bad\\scope"):
        response = await _token(client, web, grant_type="client_credentials", scope=scope)
        assert_error(response, 400, "invalid_scope")
    await store.save_scope(Scope("write", enabled=False))
    assert (await _token(client, web, grant_type="client_credentials")).json()["scope"] == "read"
    anything = await confidential(store, "anything", scopes=())
    assert_error(await _token(client, anything, grant_type="client_credentials"),
                 400, "invalid_scope")


# --- password -------------------------------------------------------------------------------

USERS = {"alice": ("pw-alice", True), "bob": ("pw-bob", False)}


async def verify_password(username: str, password: str) -> str | None:
    known = USERS.get(username)
    if known is None or known[0] != password or not known[1]:
        return None
    return f"user-{username}"


@pytest.fixture
def password_app(store: TokenStore) -> Starlette:
    return build_app(store, verify_password=verify_password,
                     throttle=ThrottlePolicy(password_failures=2, window=60))


@pytest.mark.rule("token.password")
async def test_password_grant_issues_tokens_for_the_hooks_user(
    password_app: Starlette, store: TokenStore
) -> None:
    pw = await confidential(store, "pw", grant_types=["password", "refresh_token"])
    async with http(password_app) as client:
        response = await _token(client, pw, grant_type="password", username="alice",
                                password="pw-alice", scope="read")
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
        assert body["scope"] == "read"  # as asked, not every scope the client may have
        me = await client.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {"user": "user-alice", "scopes": ["read"]}


@pytest.mark.rule("token.password")
async def test_wrong_password_unknown_and_inactive_users_look_identical(
    password_app: Starlette, store: TokenStore
) -> None:
    pw = await confidential(store, "pw", grant_types=["password"])
    async with http(password_app) as client:
        answers = [await _token(client, pw, grant_type="password", username=user, password=secret)
                   for user, secret in (("alice", "wrong"), ("carol", "x"), ("bob", "pw-bob"))]
    for response in answers:
        body = assert_error(response, 400, "invalid_grant")
        assert body["error_description"] == "The username or password is wrong."
    assert answers[0].content == answers[1].content == answers[2].content


@pytest.mark.rule("token.password", "abuse.throttle")
async def test_password_failures_are_throttled_per_username_until_the_window_ends(
    password_app: Starlette, store: TokenStore, clock: FakeClock
) -> None:
    pw = await confidential(store, "pw", grant_types=["password"])
    async with http(password_app) as client:
        for _ in range(2):
            assert_error(await _token(client, pw, grant_type="password", username="alice",
                                      password="guess"), 400, "invalid_grant")
        right = await _token(client, pw, grant_type="password", username="alice",
                             password="pw-alice")
        assert_error(right, 429, "slow_down")
        assert 0 < int(right.headers["retry-after"]) <= 60
        other = await _token(client, pw, grant_type="password", username="bob", password="x")
        assert_error(other, 400, "invalid_grant")
        clock.advance(61)
        later = await _token(client, pw, grant_type="password", username="alice",
                             password="pw-alice")
    assert later.status_code == 200


@pytest.mark.rule("token.password")
async def test_password_grant_is_off_unless_client_and_server_allow_it(
    password_app: Starlette, store: TokenStore, web: RegisteredClient
) -> None:
    form = {"grant_type": "password", "username": "alice", "password": "pw-alice"}
    async with http(password_app) as client:
        assert_error(await _token(client, web, **form), 400, "unauthorized_client")
    pw = await confidential(store, "pw", grant_types=["password"])
    async with http(build_app(store)) as client:  # no verify_password hook
        assert_error(await _token(client, pw, **form), 400, "unauthorized_client")


@pytest.mark.rule("token.password")
async def test_password_grant_needs_username_and_password(
    password_app: Starlette, store: TokenStore
) -> None:
    pw = await confidential(store, "pw", grant_types=["password"])
    async with http(password_app) as client:
        assert_error(await _token(client, pw, grant_type="password", username="alice"),
                     400, "invalid_request")


# --- cost -----------------------------------------------------------------------------------

#: What one client_credentials request under the cap runs in Redis: the read (the client's
#: GET, the scopes' HMGET), the throttle counters (two HMGET) and the issuing script (its
#: EVALSHA and 17 commands inside: the client check, the record, both indexes with their
#: expiry sweeps and TTLs, the grant's members). At the cap the script also revokes the
#: oldest grant (tests/test_grant_cap_issue.py).
CC_COMMANDS = 22


@pytest.mark.not_on_cluster  # counts round trips on one node's pool
async def test_token_family_requests_take_one_read_and_at_most_one_write_round_trip(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    """The client and all the request will read (the code, refresh token or token it
    names, the scopes it may grant) come in one pipeline; once the secret proved right,
    its throttle counters are read (a success is judged after the check, see
    server/throttle.py); issuing, rotating or revoking is one more. The first request of
    a client that names no scope learns which scopes to read along: one extra round
    trip, once. So does a process's first durable write (here the redemption) on a real
    Redis: it asks the primary whether it has replicas to wait for (``INFO``), then
    again every 30 s (store/_gateway/durability.py).

    On a real Redis the commands each request runs are counted too (INFO commandstats,
    those inside scripts included, INFO itself not), so that a regression in either
    shows here (issue 19); :data:`CC_COMMANDS` says what client_credentials runs. A
    redemption and a refresh also read and retire the record they consume (33 and 35),
    introspection is the read and the counters (4), a revocation adds its script (8)."""
    for script in ALL_SCRIPTS:
        await redis_of(store).script_load(script.source)
    issued = await store.issue(NewTokens(client_id="web", subject="alice", refresh=True,
                                         scopes=frozenset({"read"})))
    assert issued.refresh_token is not None
    cases: list[tuple[str, dict[str, str], int, int]] = [
        (TOKEN_PATH, {"grant_type": "client_credentials"}, 4, CC_COMMANDS),
        (TOKEN_PATH, {"grant_type": "client_credentials"}, 3, CC_COMMANDS),
        (TOKEN_PATH, {"grant_type": "client_credentials", "scope": "write"}, 3, CC_COMMANDS),
        (TOKEN_PATH, code_form(await new_code(store, "web")), 3 if store.embedded else 4, 33),
        (TOKEN_PATH, {"grant_type": "refresh_token", "refresh_token": issued.refresh_token},
         3, 35),
        (INTROSPECT_PATH, {"token": issued.access_token}, 2, 4),
        (REVOKE_PATH, {"token": issued.access_token}, 3, 8),
    ]
    pool = redis_of(store).connection_pool
    original: Any = pool.get_connection
    trips: list[int] = []

    async def counting(*args: Any, **kwargs: Any) -> Any:
        trips.append(1)
        return await original(*args, **kwargs)

    pool.get_connection = counting  # type: ignore[method-assign]
    try:
        costs, commands = [], []
        for path, data, _, _ in cases:
            before = await commands_run(store)
            trips.clear()
            response = await client.post(path, data=data, headers=auth_of(web))
            assert response.status_code == 200, response.text
            costs.append(len(trips))
            commands.append(await commands_run(store) - before)
    finally:
        pool.get_connection = original  # type: ignore[method-assign]
    assert costs == [expected for _, _, expected, _ in cases]
    if not store.embedded:  # fakeredis keeps no command statistics
        assert commands == [expected for _, _, _, expected in cases]
    assert await store.resolve(issued.access_token) is None
