"""auth/: PKCE required from public clients, accepted from all, S256 only (RFC 7636 §4.3, §4.4.1).

The challenge and method are stored with the code for the token endpoint to verify.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from oauth_middleware import TokenStore, register_client
from tests.server.authorize_harness import (
    CHALLENGE,
    SPA_REDIRECT,
    WEB_REDIRECT,
    Harness,
    answer,
    open_harness,
)
from tests.store_helpers import get_code

SPA = {"client_id": "spa", "redirect_uri": SPA_REDIRECT, "response_type": "code",
       "scope": "polls:read", "state": "s"}
WEB = {"client_id": "web", "redirect_uri": WEB_REDIRECT, "response_type": "code",
       "scope": "polls:read", "state": "s"}
PLAIN_VERIFIER = "a" * 43


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    async with open_harness(store) as h:
        await register_client(h.store, "Legacy", "legacy", WEB_REDIRECT, public=True,
                              allow_plain_pkce=True, scopes_list=["polls:read"],
                              register_unknown_scopes=False)
        yield h


def _invalid_request(response: object, expected_base: str) -> str:
    base, where, params = answer(response)  # type: ignore[arg-type]
    assert (base, where, params["error"], params["state"]) == (
        expected_base, "query", "invalid_request", "s")
    return params["error_description"]


async def _code_record_for(harness: Harness, **params: str) -> tuple[str | None, str | None]:
    page = await harness.consent(**params)
    _, _, answered = answer(await harness.decide(page))
    record = await get_code(harness.store, answered["code"])
    assert record is not None
    return record.code_challenge, record.code_challenge_method


@pytest.mark.rule("auth.pkce.required-public")
async def test_a_public_client_without_a_challenge_is_invalid_request(harness: Harness) -> None:
    description = _invalid_request(await harness.authorize(**SPA), SPA_REDIRECT)
    assert description == "PKCE is required: send code_challenge with method S256."
    assert await harness.code_keys() == []


@pytest.mark.rule("auth.pkce.required-public")
async def test_a_confidential_client_may_omit_pkce_by_default(harness: Harness) -> None:
    assert await _code_record_for(harness, **WEB) == (None, None)


@pytest.mark.rule("auth.pkce.required-public")
async def test_require_pkce_extends_the_rule_to_confidential_clients(store: TokenStore) -> None:
    async with open_harness(store, require_pkce=True) as harness:
        _invalid_request(await harness.authorize(**WEB), WEB_REDIRECT)


@pytest.mark.rule("auth.pkce.required-public")
async def test_a_confidential_client_sending_pkce_has_it_recorded(harness: Harness) -> None:
    recorded = await _code_record_for(harness, code_challenge=CHALLENGE,
                                      code_challenge_method="S256", **WEB)
    assert recorded == (CHALLENGE, "S256")


@pytest.mark.rule("auth.pkce.s256-only", "token.code.binding")
async def test_s256_challenge_is_stored_with_the_code(harness: Harness) -> None:
    recorded = await _code_record_for(harness, code_challenge=CHALLENGE,
                                      code_challenge_method="S256", **SPA)
    assert recorded == (CHALLENGE, "S256")


MUST_S256 = "code_challenge_method must be S256."
UNSUPPORTED = "Unsupported code_challenge_method: use S256."
MALFORMED = "The code_challenge is malformed."


@pytest.mark.parametrize(("challenge", "method", "description"), [
    # A missing method means plain (RFC 7636 §4.3): refused.
    (CHALLENGE, None, MUST_S256),
    (CHALLENGE, "plain", MUST_S256),
    (CHALLENGE, "s256", UNSUPPORTED),
    (CHALLENGE, "S512", UNSUPPORTED),
    (None, "S256", "code_challenge_method was sent without a code_challenge."),
    (CHALLENGE[:-1], "S256", MALFORMED),   # 42 characters
    (CHALLENGE + "A", "S256", MALFORMED),  # 44 characters
    (CHALLENGE[:-1] + "=", "S256", MALFORMED),
    (CHALLENGE[:-1] + "+", "S256", MALFORMED),
    (CHALLENGE[:-1] + "/", "S256", MALFORMED),
    (CHALLENGE[:-1] + ".", "S256", MALFORMED),
    ("a" * 128, "S256", MALFORMED),
])
@pytest.mark.rule("auth.pkce.s256-only")
async def test_missing_plain_or_malformed_pkce_is_invalid_request(
    harness: Harness, challenge: str | None, method: str | None, description: str
) -> None:
    """The description names the check that refused, so each case proves its own branch."""
    extra = {k: v for k, v in (("code_challenge", challenge),
                               ("code_challenge_method", method)) if v is not None}
    for params in (SPA, WEB):
        expected = SPA_REDIRECT if params is SPA else WEB_REDIRECT
        response = await harness.authorize(**params, **extra)
        assert _invalid_request(response, expected) == description
    assert await harness.code_keys() == []


@pytest.mark.rule("auth.pkce.s256-only")
async def test_a_client_allowed_plain_may_use_it_and_a_missing_method_means_plain(
    harness: Harness
) -> None:
    legacy = {**WEB, "client_id": "legacy"}
    explicit = await _code_record_for(harness, code_challenge=PLAIN_VERIFIER,
                                      code_challenge_method="plain", **legacy)
    assert explicit == (PLAIN_VERIFIER, "plain")
    implied = await _code_record_for(harness, code_challenge="b" * 128, **legacy)
    assert implied == ("b" * 128, "plain")
    still_s256 = await _code_record_for(harness, code_challenge=CHALLENGE,
                                        code_challenge_method="S256", **legacy)
    assert still_s256 == (CHALLENGE, "S256")


@pytest.mark.parametrize(("challenge", "description"), [
    ("a" * 42, MALFORMED), ("a" * 129, "The code_challenge parameter is too long."),
    ("a" * 42 + "!", MALFORMED), ("a" * 42 + "%", MALFORMED),
])
@pytest.mark.rule("auth.pkce.s256-only")
async def test_a_plain_challenge_must_be_43_to_128_unreserved_characters(
    harness: Harness, challenge: str, description: str
) -> None:
    legacy = {**WEB, "client_id": "legacy"}
    response = await harness.authorize(code_challenge=challenge, code_challenge_method="plain",
                                       **legacy)
    assert _invalid_request(response, WEB_REDIRECT) == description
