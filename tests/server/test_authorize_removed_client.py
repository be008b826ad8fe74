"""auth/: a decision about a client that was removed meanwhile grants nothing (RFC 6749 §4.1.2).

The pending request remembers the generation of the client the user was asked
about; a client removed since, or registered again under the same id, is not
the client the user approved.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from oauth_middleware import TokenStore
from oauth_middleware.models import AuthorizationCode, IssuedTokens
from oauth_middleware.store import NewTokens
from oauth_middleware.toolbox import register_client, remove_client
from tests.server.authorize_harness import (
    SPA_REDIRECT,
    WEB_REDIRECT,
    Harness,
    assert_page,
    open_harness,
)
from tests.store_helpers import redis_of

WEB = {"client_id": "web", "redirect_uri": WEB_REDIRECT, "response_type": "code",
       "scope": "polls:read", "state": "st"}


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    async with open_harness(store) as h:
        yield h


@pytest.mark.rule("revoke.client-removed")
async def test_a_consent_asked_for_a_client_registered_again_since_grants_nothing(
    harness: Harness,
) -> None:
    page = await harness.consent(**WEB)
    assert await remove_client(harness.store, "web")
    await register_client(harness.store, "Someone Else", "web", WEB_REDIRECT, public=False,
                          scopes_list=["polls:read"])
    refused = assert_page(await harness.decide(page), 400)
    assert "no longer registered" in refused.text
    assert await harness.code_keys() == []


@pytest.mark.rule("revoke.client-removed")
async def test_a_client_removed_while_the_code_is_written_gets_no_code(
    harness: Harness,
) -> None:
    page = await harness.consent(**WEB)
    store = harness.store
    original = store.create_code

    async def removed_meanwhile(code: AuthorizationCode, **options: object) -> str:
        assert await remove_client(store, "web")
        return await original(code, **options)  # type: ignore[arg-type]

    store.create_code = removed_meanwhile  # type: ignore[method-assign]
    refused = assert_page(await harness.decide(page), 400)
    assert "no longer registered" in refused.text
    assert await harness.code_keys() == []
    assert await redis_of(store).exists(store.keys.client_index("web")) == 0


@pytest.mark.rule("revoke.client-removed")
async def test_a_client_removed_while_the_implicit_token_is_written_gets_no_token(
    harness: Harness,
) -> None:
    page = await harness.consent(**{**WEB, "client_id": "spa", "redirect_uri": SPA_REDIRECT,
                                    "response_type": "token"})
    store = harness.store
    original = store.issue

    async def removed_meanwhile(spec: NewTokens) -> IssuedTokens:
        assert await remove_client(store, "spa")
        return await original(spec)

    store.issue = removed_meanwhile  # type: ignore[method-assign]
    refused = assert_page(await harness.decide(page), 400)
    assert "no longer registered" in refused.text and "access_token" not in refused.text
    assert await redis_of(store).keys(store.keys.access_pattern) == []
