"""JWT access tokens say how the user signed in (RFC 9068 §2.2.1): ``auth_time``, ``acr`` and
``amr`` from the host's ``Authentication``, recorded with the code or the implicit request;
a refreshed token carries none (the refresh token does not record the sign-in). Both store
backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from joserfc import jwt

from oauth_middleware import TokenStore, register_client
from tests.conftest import FakeClock
from tests.oidc.harness import CHALLENGE, OP, RP_SECRET, open_op
from tests.server.authorize_harness import VERIFIER

JWT_RP = "jwt-rp"
JWT_REDIRECT = "https://jwt-rp.example/cb"
KIOSK = "kiosk"
KIOSK_REDIRECT = "https://kiosk.example/cb"


@pytest.fixture
async def op(store: TokenStore) -> AsyncIterator[OP]:
    async with open_op(store) as provider:
        await register_client(store, "JWT RP", JWT_RP, JWT_REDIRECT, public=False,
                              client_secret=RP_SECRET, register_unknown_scopes=False,
                              access_token_format="jwt")
        await register_client(store, "Kiosk", KIOSK, KIOSK_REDIRECT, public=True,
                              grant_types=["implicit"], register_unknown_scopes=False,
                              access_token_format="jwt")
        yield provider


async def claims_of(op: OP, token: str) -> dict[str, Any]:
    decoded = jwt.decode(token, await op.jwks(), algorithms=["RS256", "ES256"])
    assert decoded.header["typ"] == "at+jwt"
    return dict(decoded.claims)


async def code_tokens(op: OP, headers: dict[str, str], scope: str) -> dict[str, Any]:
    params = await op.approve("alice", headers, response_type="code", client_id=JWT_RP,
                              redirect_uri=JWT_REDIRECT, scope=scope, state="s",
                              code_challenge=CHALLENGE, code_challenge_method="S256")
    response = await op.h.http.post("/oauth/token/", data={
        "grant_type": "authorization_code", "code": params["code"],
        "redirect_uri": JWT_REDIRECT, "code_verifier": VERIFIER}, auth=(JWT_RP, RP_SECRET))
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize("scope", ["openid polls:read", "polls:read"])
async def test_a_code_flow_jwt_carries_auth_time_acr_and_amr_and_a_refreshed_one_none(
    op: OP, clock: FakeClock, scope: str
) -> None:
    signed_in = int(clock.now) - 30
    headers = {"x-auth-time": str(signed_in), "x-acr": "urn:example:loa:2",
               "x-amr": "pwd otp"}
    body = await code_tokens(op, headers, scope)
    claims = await claims_of(op, body["access_token"])
    assert (claims["auth_time"], claims["acr"], claims["amr"]) == (
        signed_in, "urn:example:loa:2", ["pwd", "otp"])
    assert (claims["sub"], claims["client_id"], claims["iat"]) == ("alice", JWT_RP,
                                                                  int(clock.now))
    refreshed = await op.h.http.post("/oauth/token/", data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        auth=(JWT_RP, RP_SECRET))
    again = await claims_of(op, refreshed.json()["access_token"])
    assert again["sub"] == "alice"
    assert not {"auth_time", "acr", "amr"} & set(again)


async def test_a_host_that_says_nothing_of_the_sign_in_gives_no_such_claims(op: OP) -> None:
    body = await code_tokens(op, {}, "polls:read")
    claims = await claims_of(op, body["access_token"])
    assert claims["sub"] == "alice"
    assert not {"auth_time", "acr", "amr"} & set(claims)


async def test_an_implicit_jwt_carries_auth_time(op: OP, clock: FakeClock) -> None:
    params = await op.approve("alice", {"x-auth-time": str(int(clock.now) - 5)},
                              response_type="token", client_id=KIOSK,
                              redirect_uri=KIOSK_REDIRECT, scope="polls:read", state="s")
    claims = await claims_of(op, params["access_token"])
    assert claims["auth_time"] == int(clock.now) - 5 and "acr" not in claims


async def test_an_opaque_clients_token_stays_opaque(op: OP, clock: FakeClock) -> None:
    body = (await op.code_flow(headers={"x-auth-time": str(int(clock.now))})).json()
    assert body["access_token"].count(".") == 1 and "auth_time" not in body
