"""``dpop_jkt`` at ``auth/`` (RFC 9449 §10): the code is redeemed only with that key."""

from __future__ import annotations

import pytest

from oauth_middleware.store import TokenStore
from tests.conftest import FakeClock
from tests.dpop.holder import Holder
from tests.server.authorize_harness import (
    CHALLENGE,
    ISSUER,
    SPA_REDIRECT,
    VERIFIER,
    Harness,
    answer,
    open_harness,
)
from tests.server.token_harness import assert_error

CODE = {"client_id": "spa", "redirect_uri": SPA_REDIRECT, "response_type": "code",
        "scope": "polls:read", "state": "st", "code_challenge": CHALLENGE,
        "code_challenge_method": "S256"}


async def code_for(h: Harness, **params: str) -> str:
    page = await h.consent("alice", **CODE, **params)
    _, _, redirect = answer(await h.decide(page))
    return redirect["code"]


def redeem_form(code: str) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": SPA_REDIRECT,
            "client_id": "spa", "code_verifier": VERIFIER}


@pytest.mark.rule("dpop.server.bind")
async def test_a_code_asked_with_dpop_jkt_is_redeemed_only_with_a_proof_of_that_key(
        store: TokenStore, clock: FakeClock) -> None:
    holder = Holder()
    async with open_harness(store) as h:
        code = await code_for(h, dpop_jkt=holder.jkt)
        token_url = f"{ISSUER}/token/"
        for headers in ({}, {"DPoP": Holder().proof("POST", token_url, now=clock.now)}):
            refused = await h.http.post("/oauth/token/", data=redeem_form(code), headers=headers)
            assert "DPoP key" in assert_error(refused, 400, "invalid_grant")["error_description"]
        granted = await h.http.post("/oauth/token/", data=redeem_form(code), headers={
            "DPoP": holder.proof("POST", token_url, now=clock.now)})
        assert granted.status_code == 200, granted.text  # the refusals consumed nothing
        assert granted.json()["token_type"] == "DPoP"
        record = await store.resolve(granted.json()["access_token"])
        assert record is not None and record.jkt == holder.jkt


async def test_a_malformed_dpop_jkt_is_an_error_redirect_and_no_code(store: TokenStore) -> None:
    async with open_harness(store) as h:
        for wrong in ("short", "x" * 42 + "!", "a" * 44):
            _, _, params = answer(await h.authorize("alice", **CODE, dpop_jkt=wrong))
            assert params == {"error": "invalid_request", "state": "st",
                              "error_description": "The dpop_jkt parameter is not a key "
                                                   "thumbprint."}
        assert await h.code_keys() == []
        jkt = Holder().jkt  # a repeat is no binding silently dropped: it is refused
        repeated = await h.authorize_raw(
            f"client_id=spa&response_type=code&dpop_jkt={jkt}&dpop_jkt={jkt}&state=st"
            f"&code_challenge={CHALLENGE}&code_challenge_method=S256"
            "&redirect_uri=https%3A%2F%2Fspa.example%2Fcb")
        assert answer(repeated)[2] == {"error": "invalid_request", "state": "st",
                                       "error_description": "The dpop_jkt parameter is "
                                                            "repeated."}
        assert await h.code_keys() == []
