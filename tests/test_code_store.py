"""Authorization codes in the store (RFC 6749 §4.1.2): lifetime bounds, a fresh record,
lookups of unknown codes, and revocation by client reaching unredeemed codes."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from oauth_middleware.models import AuthorizationCode
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import revoke_client_tokens
from tests.conftest import FakeClock
from tests.store_helpers import get_code

CODE = AuthorizationCode(grant_id="", client_id="web", subject="alice",
                         redirect_uri="https://app.example/cb", redirect_uri_explicit=True,
                         scopes=frozenset({"read"}))
LIFETIME_ERROR = "^" + re.escape("an authorization code lifetime must be 1 to 600 seconds") + "$"


@pytest.mark.rule("token.code.random-ttl")
async def test_a_code_lives_one_to_six_hundred_seconds(
    store: TokenStore, clock: FakeClock
) -> None:
    for lifetime in (0, -1, 601):
        with pytest.raises(ValueError, match=LIFETIME_ERROR):
            await store.create_code(CODE, lifetime=lifetime)
    shortest = await store.create_code(CODE, lifetime=1)
    longest = await store.create_code(CODE, lifetime=600)
    record = await get_code(store, shortest)
    assert record is not None and record.expires_at == clock.now + 1
    clock.advance(1)
    assert await get_code(store, shortest) is None
    assert await get_code(store, longest) is not None


async def test_a_new_code_is_unused_whatever_record_it_was_made_from(store: TokenStore) -> None:
    code = await store.create_code(replace(CODE, used=True, grant_id="ignored"))
    record = await get_code(store, code)
    assert record is not None
    assert record.used is False and record.grant_id != "ignored"
    assert code.startswith(record.grant_id + ".")


async def test_an_unknown_code_of_a_real_grant_is_none(store: TokenStore) -> None:
    """Grant ids are public (the first half of every value): one with a made-up secret
    half names no code."""
    code = await store.create_code(CODE)
    grant_id = code.partition(".")[0]
    assert await get_code(store, grant_id + "." + "x" * 43) is None
    assert await get_code(store, code) is not None


async def test_revoking_a_clients_tokens_voids_its_unredeemed_codes(store: TokenStore) -> None:
    code = await store.create_code(CODE)
    other = await store.create_code(replace(CODE, client_id="other"))
    assert await revoke_client_tokens(store, "web") == 1
    assert await get_code(store, code) is None
    assert await get_code(store, other) is not None
