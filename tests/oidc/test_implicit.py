"""``id_token`` and ``id_token token`` (OpenID Connect Core 1.0 §3.2), Implicit OP test plan
items by name; both store backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from oauth_middleware import TokenStore
from tests.conftest import FakeClock
from tests.oidc.harness import OP, RP, RP_REDIRECT, SPA, SPA_REDIRECT, half_hash, open_op
from tests.server.authorize_harness import ISSUER, answer


@pytest.fixture
async def op(store: TokenStore) -> AsyncIterator[OP]:
    async with open_op(store) as provider:
        yield provider


def implicit(response_type: str, **extra: str) -> dict[str, str]:
    return {"response_type": response_type, "client_id": SPA, "redirect_uri": SPA_REDIRECT,
            "scope": "openid profile", "state": "st", **extra}


@pytest.mark.rule("oidc.nonce.echoed", "auth.iss-parameter")
async def test_response_type_id_token_answers_in_the_fragment_with_the_profile_claims(
    op: OP, clock: FakeClock
) -> None:
    """OP-Response-id_token: no access token, so the scope's claims are in the ID token."""
    page = await op.h.consent(**implicit("id_token", nonce="n1"))
    base, where, params = answer(await op.h.decide(page))
    assert (base, where, set(params)) == (SPA_REDIRECT, "fragment", {"id_token", "state"})
    claims = (await op.id_token(params["id_token"]))[1]
    assert claims == {
        "iss": ISSUER, "sub": "alice", "aud": SPA, "iat": int(clock.now),
        "exp": int(clock.now) + 600, "nonce": "n1", "name": "Alice Liddell",
        "given_name": "Alice", "family_name": "Liddell",
    }


@pytest.mark.rule("oidc.id-token.claims")
async def test_id_token_token_answers_both_with_an_at_hash_of_the_access_token(
    op: OP, store: TokenStore
) -> None:
    """OP-Response-id_token+token, OP-IDToken-at_hash; "token id_token" is the same type."""
    page = await op.h.consent(**implicit("token id_token", nonce="n2"))
    _, where, params = answer(await op.h.decide(page))
    assert where == "fragment" and "refresh_token" not in params
    assert set(params) == {"access_token", "token_type", "expires_in", "scope", "id_token",
                           "state"}
    claims = (await op.id_token(params["id_token"]))[1]
    assert claims["at_hash"] == half_hash(params["access_token"]) and claims["nonce"] == "n2"
    assert "name" not in claims  # with an access token, claims come from userinfo/
    token = await store.resolve(params["access_token"])
    assert token is not None and token.scopes == {"openid", "profile"}


@pytest.mark.rule("oidc.nonce.echoed")
@pytest.mark.parametrize("response_type", ["id_token", "id_token token"])
async def test_the_implicit_flow_without_a_nonce_is_invalid_request_in_the_fragment(
    op: OP, response_type: str
) -> None:
    """OP-nonce-noncode: "nonce ... REQUIRED" for the implicit flow (§3.2.2.1)."""
    _, where, params = answer(await op.authorize(**implicit(response_type)))
    assert where == "fragment"
    assert (params["error"], params["state"]) == ("invalid_request", "st")
    assert "nonce" in params["error_description"]


async def test_the_id_token_response_type_without_openid_is_invalid_scope(op: OP) -> None:
    _, where, params = answer(await op.authorize(**implicit("id_token", nonce="n",
                                                            scope="profile")))
    assert (where, params["error"]) == ("fragment", "invalid_scope")


async def test_a_client_not_allowed_implicit_gets_unauthorized_client(op: OP) -> None:
    _, where, params = answer(await op.authorize(
        response_type="id_token", client_id=RP, redirect_uri=RP_REDIRECT, scope="openid",
        nonce="n", state="st"))
    assert (where, params["error"], params["state"]) == ("fragment", "unauthorized_client", "st")


async def test_unticking_openid_on_the_consent_page_is_access_denied_to_the_client(
    op: OP, store: TokenStore
) -> None:
    page = await op.h.consent(**implicit("id_token token", nonce="n"))
    _, where, params = answer(await op.h.decide(page, scopes=["profile"]))
    assert (where, params["error"], params["state"]) == ("fragment", "access_denied", "st")
    assert "access_token" not in params
