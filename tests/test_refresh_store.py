"""Rotating a refresh token through the store's API (RFC 6749 §6, RFC 9700 §4.14.2): what
a caller that asks for no new refresh token gets, and a record that is not current."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from oauth_middleware.store import MAX_LIFETIME, ClientRemoved, NewTokens, TokenStore
from tests.store_helpers import get_refresh, redis_of

SPEC = NewTokens(client_id="web", subject="alice", scopes=frozenset({"read"}), refresh=True)


@pytest.mark.rule("token.refresh.rotation")
async def test_a_rotation_without_a_new_refresh_token_still_retires_the_old_one(
    store: TokenStore,
) -> None:
    first = await store.issue(SPEC)
    token = str(first.refresh_token)
    record = await get_refresh(store, token)
    assert record is not None
    issued = await store.rotate_refresh(token, record, replace(SPEC, refresh=False))
    assert issued is not None and issued.refresh_token is None
    assert await store.resolve(issued.access_token) is not None
    retired = await get_refresh(store, token)
    assert retired is not None and retired.rotated


@pytest.mark.rule("token.refresh.rotation")
async def test_a_rotated_grant_of_a_client_stays_out_of_the_same_named_users_reach(
    store: TokenStore,
) -> None:
    """A client acting for itself and a user who happens to share its name are different
    subjects: revoking the user's tokens, after the client's grant rotated, leaves the
    client's tokens alone."""
    spec = replace(SPEC, subject="web", subject_type="client")
    first = await store.issue(spec)
    record = await get_refresh(store, str(first.refresh_token))
    assert record is not None
    rotated = await store.rotate_refresh(str(first.refresh_token), record, spec)
    assert rotated is not None
    users = await store.issue(replace(SPEC, subject="web"))
    await store.revoke_user("web")
    assert await store.resolve(users.access_token) is None
    kept = await store.resolve(rotated.access_token)
    assert kept is not None and (kept.subject, kept.subject_type) == ("web", "client")


@pytest.mark.rule("token.refresh.rotation")
async def test_a_rotation_right_after_redis_forgot_its_scripts_still_rotates(
    store: TokenStore,
) -> None:
    """A restarted Redis has an empty script cache: the rotation loads what it runs."""
    first = await store.issue(SPEC)
    token = str(first.refresh_token)
    record = await get_refresh(store, token)
    assert record is not None
    await redis_of(store).script_flush()
    rotated = await store.rotate_refresh(token, record, SPEC)
    assert rotated is not None and rotated.refresh_token is not None
    assert await store.resolve(rotated.access_token) is not None
    retired = await get_refresh(store, token)
    assert retired is not None and retired.rotated


async def test_rotating_from_a_record_that_is_not_current_is_a_programming_error(
    store: TokenStore,
) -> None:
    """Only the current record (as read_for reads it) may be rotated: a rotated-away one
    raises before anything is written, and the grant's current token still rotates."""
    first = await store.issue(SPEC)
    token = str(first.refresh_token)
    record = await get_refresh(store, token)
    assert record is not None
    second = await store.rotate_refresh(token, record, SPEC)
    assert second is not None and second.refresh_token is not None
    stale = await get_refresh(store, token)
    assert stale is not None and stale.rotated
    with pytest.raises(ValueError, match="^" + re.escape(
            "rotate_refresh needs the token's current record (read_for)") + "$"):
        await store.rotate_refresh(token, stale, SPEC)
    current = await get_refresh(store, second.refresh_token)
    assert current is not None and not current.rotated
    assert await store.rotate_refresh(second.refresh_token, current, SPEC) is not None


@pytest.mark.parametrize(("changes", "message"), [
    ({"lifetime": 0}, "an access token lifetime"),
    ({"refresh_lifetime": 0}, "a refresh token lifetime"),
])
async def test_an_out_of_range_lifetime_is_refused_naming_which(
    store: TokenStore, changes: dict[str, int], message: str
) -> None:
    expected = (f"{message} must be a positive number of seconds up to {MAX_LIFETIME} "
                "(ten years), or None for never")
    with pytest.raises(ValueError, match="^" + re.escape(expected) + "$"):
        await store.issue(replace(SPEC, **changes))  # type: ignore[arg-type]


async def test_issuing_for_a_client_registered_anew_names_it(store: TokenStore) -> None:
    with pytest.raises(ClientRemoved, match="^" + re.escape(
            "client 'web' is no longer registered") + "$"):
        await store.issue(replace(SPEC, client_generation="gone"))
    assert await store.list_tokens(client_id="web") == (0, [])
