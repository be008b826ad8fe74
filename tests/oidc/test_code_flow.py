"""The code flow's ID token (OpenID Connect Core 1.0 §3.1), named after the OpenID
Foundation's Basic OP test plan items; every test runs on both store backends."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from oauth_middleware import TokenStore, register_client
from oauth_middleware.toolbox import ensure_client
from tests.conftest import FakeClock
from tests.oidc.harness import (
    CHALLENGE,
    OP,
    RP,
    RP_REDIRECT,
    RP_SECRET,
    claims_param,
    half_hash,
    open_op,
)
from tests.server.authorize_harness import ISSUER, answer, assert_page


@pytest.fixture
async def op(store: TokenStore) -> AsyncIterator[OP]:
    async with open_op(store) as provider:
        yield provider


@pytest.mark.rule("oidc.id-token.claims")
async def test_the_code_flow_answers_an_id_token_signed_rs256_with_every_required_claim(
    op: OP, clock: FakeClock
) -> None:
    """OP-IDToken-Signature, OP-IDToken-RS256, OP-IDToken-at_hash (Basic OP)."""
    response = await op.code_flow(scope="openid", nonce="n-0S6_WzA2Mj")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    body = response.json()
    header, claims = await op.id_token(body["id_token"])
    assert header["alg"] == "RS256" and header["kid"] == op.keys.keys["RS256"].kid
    assert claims == {
        "iss": ISSUER, "sub": "alice", "aud": RP, "iat": int(clock.now),
        "exp": int(clock.now) + 600, "nonce": "n-0S6_WzA2Mj",
        "at_hash": half_hash(body["access_token"]),
    }
    assert body["scope"] == "openid" and body["token_type"] == "Bearer"


@pytest.mark.rule("oidc.nonce.echoed")
async def test_the_nonce_is_stored_with_the_code_and_echoed_exactly(op: OP) -> None:
    """OP-nonce-code: a nonce with spaces, quotes and non-ASCII comes back byte for byte."""
    nonce = 'a "quoted" nonce, ü€ & = + %41'
    body = (await op.code_flow(nonce=nonce)).json()
    assert (await op.id_token(body["id_token"]))[1]["nonce"] == nonce


async def test_without_a_nonce_the_id_token_has_none(op: OP) -> None:
    """OP-nonce-NoReq-code: the code flow does not require a nonce."""
    claims = (await op.id_token((await op.code_flow()).json()["id_token"]))[1]
    assert "nonce" not in claims and claims["sub"] == "alice"


@pytest.mark.rule("oidc.id-token.claims")
async def test_auth_time_acr_and_amr_come_from_what_authenticate_returned(
    op: OP, clock: FakeClock
) -> None:
    """OP-IDToken-acr / auth_time: the host's Authentication reaches the ID token."""
    headers = {"x-auth-time": str(clock.now - 30), "x-acr": "urn:example:mfa", "x-amr": "pwd otp"}
    body = (await op.code_flow(headers=headers)).json()
    claims = (await op.id_token(body["id_token"]))[1]
    assert (claims["auth_time"], claims["acr"], claims["amr"]) == (
        int(clock.now - 30), "urn:example:mfa", ["pwd", "otp"])


async def test_a_client_registered_for_es256_gets_es256_id_tokens(
    op: OP, store: TokenStore
) -> None:
    """OP-IDToken-ES256: id_token_signed_response_alg per client (ensure_client sets it)."""
    await ensure_client(store, RP, "Relying Party", redirect_uris=RP_REDIRECT, public=False,
                        client_secret=RP_SECRET, register_unknown_scopes=False,
                        id_token_signed_response_alg="ES256")
    body = (await op.code_flow()).json()
    header, claims = await op.id_token(body["id_token"])
    assert header["alg"] == "ES256" and header["kid"] == op.keys.keys["ES256"].kid
    assert claims["at_hash"] == half_hash(body["access_token"])


@pytest.mark.parametrize("alg", ["HS256", "none", "RS256 ", "es256"])
async def test_a_symmetric_none_or_unknown_id_token_algorithm_is_refused_at_registration(
    store: TokenStore, alg: str
) -> None:
    with pytest.raises(ValueError, match="id_token_signed_response_alg must be one of"):
        await register_client(store, "X", "x", "https://x.example/cb",
                              id_token_signed_response_alg=alg)
    assert await store.get_client("x") is None


async def test_a_client_whose_algorithm_the_keys_cannot_sign_is_refused_before_a_code(
    op: OP, store: TokenStore
) -> None:
    client = await store.get_client(RP)
    assert client is not None
    await store.save_client(dataclasses.replace(client, id_token_signed_response_alg="PS512"))
    response = await op.authorize(response_type="code", client_id=RP, scope="openid", state="s")
    _, _, params = answer(response)
    assert (params["error"], params["state"]) == ("invalid_request", "s")
    assert "signing algorithm" in params["error_description"]
    assert await op.h.code_keys() == []


@pytest.mark.rule("token.code.single-use")
async def test_a_code_redeemed_twice_is_refused_and_its_tokens_revoked(
    op: OP, store: TokenStore
) -> None:
    """OP-OAuth-2nd, OP-OAuth-2nd-Revokes."""
    got = await op.approve(response_type="code", client_id=RP, scope="openid", state="s",
                           redirect_uri="https://rp.example/cb",
                           code_challenge=CHALLENGE, code_challenge_method="S256")
    first = await op.redeem(got["code"])
    assert first.status_code == 200 and "id_token" in first.json()
    again = await op.redeem(got["code"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert "id_token" not in again.json()
    assert await store.resolve(first.json()["access_token"]) is None


async def test_without_the_openid_scope_there_is_no_id_token(op: OP) -> None:
    body = (await op.code_flow(scope="polls:read", nonce="n")).json()
    assert "id_token" not in body and body["scope"] == "polls:read"


async def test_a_refreshed_token_response_carries_no_new_id_token(op: OP) -> None:
    """Core 1.0 §12.2 lets a refresh answer without an ID token: nobody signed in then."""
    body = (await op.code_flow(nonce="n")).json()
    refreshed = await op.h.http.post("/oauth/token/", data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        auth=(RP, RP_SECRET))
    assert refreshed.status_code == 200, refreshed.text
    assert "id_token" not in refreshed.json() and refreshed.json()["scope"] == "openid"


@pytest.mark.rule("oidc.claims.scope-bound")
async def test_a_claims_request_puts_granted_claims_in_the_id_token_and_no_others(op: OP) -> None:
    """OP-claims-essential: asked for email (granted by the email scope), name (no profile
    scope) and salary (no scope at all): only email reaches the ID token."""
    claims = claims_param(id_token={"email": {"essential": True}, "name": None, "salary": None})
    body = (await op.code_flow(scope="openid email", claims=claims)).json()
    token = (await op.id_token(body["id_token"]))[1]
    assert token["email"] == "alice@example.com"
    assert "name" not in token and "salary" not in token and token["sub"] == "alice"


@pytest.mark.rule("auth.client-first")
async def test_an_unregistered_redirect_uri_is_a_page_never_a_redirect(op: OP) -> None:
    """OP-redirect_uri-NotReg: the error is shown to the user, not sent to the URI."""
    response = await op.authorize(response_type="code", client_id=RP, scope="openid",
                                  redirect_uri="https://evil.example/cb", nonce="n", state="s")
    page = assert_page(response, 400)
    assert "not registered" in page.text and await op.h.code_keys() == []


async def test_parameters_the_server_does_not_understand_are_ignored(op: OP) -> None:
    """OP-Req-NotUnderstood, OP-Req-acr_values, OP-display-page: a sign-in still completes."""
    response = await op.code_flow(nonce="n", extra="foo", display="page",
                                  acr_values="urn:example:loa1", claims_locales="fr")
    claims = (await op.id_token(response.json()["id_token"]))[1]
    assert claims["nonce"] == "n" and claims["sub"] == "alice"
