"""A redemption, or a consent decision, the client library sends twice is one (RFC 6749
§4.1.2, §6, §10.12).

redis-py resends a command whose reply was lost (one retry, store/_gateway/connection.py).
When the lost reply belonged to the script that consumes a code or rotates a
refresh token, the resent script used to find the value consumed — by its own
first run — take that for a replay, revoke the grant it had just issued and
make the request ``invalid_grant``. Likewise a resent GETDEL of a consent
transaction found it gone and told the user the request had expired. These
tests run the very same script invocation twice, as the retry does, on both
backends.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from oauth_middleware.limits import GRANT_ACCESS_TOKENS
from oauth_middleware.models import (
    AuthorizationCode,
    IssuedTokens,
    PendingAuthorization,
    RefreshToken,
)
from oauth_middleware.security import digest
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.store import _grant_scripts as scripts
from oauth_middleware.store._codec import dump
from oauth_middleware.store._consent import TAKE_PENDING
from tests.store_helpers import (
    Generation,
    evalsha,
    flatten,
    gateway,
    get_code,
    get_pending,
    get_refresh,
    mint,
    redis_of,
)

SPEC = NewTokens(client_id="web", subject="alice", scopes=frozenset({"read"}), refresh=True)


async def _code(store: TokenStore) -> tuple[str, AuthorizationCode]:
    value = await store.create_code(AuthorizationCode(
        grant_id="", client_id="web", subject="alice", redirect_uri="https://app.example/cb",
        redirect_uri_explicit=True, scopes=frozenset({"read"}),
    ))
    record = await get_code(store, value)
    assert record is not None
    return value, record


async def _consume_twice(store: TokenStore, key: str, state: str, consumed: str,
                         grant_id: str) -> tuple[list[int], str]:
    """Send one CONSUME_AND_ISSUE invocation twice; returns both outcomes and the new token."""
    issued, members = mint(store, grant_id, SPEC)
    keys, args = flatten(members)
    outcomes = []
    for _ in range(2):
        (outcome,) = await gateway(store).run([evalsha(
            scripts.CONSUME_AND_ISSUE, [key, store.keys.members(grant_id), *keys],
            [state, consumed, *args])], scripts.CONSUME_AND_ISSUE)
        outcomes.append(int(outcome))
    return outcomes, issued.access_token


async def _rotate_twice(store: TokenStore, token: str, record: RefreshToken
                        ) -> tuple[list[list[Any]], IssuedTokens]:
    """Send one ROTATE_REFRESH invocation twice; returns both replies and the new tokens."""
    gid = record.grant_id
    issued, members = mint(store, gid, SPEC, Generation(record.seal_key, record.generation + 1))
    (at_key, at_value, at_ttl), (rt_key, rt_value, rt_ttl) = members
    replies = []
    for _ in range(2):
        (reply,) = await gateway(store).run([evalsha(
            scripts.ROTATE_REFRESH, [rt_key, store.keys.members(gid), at_key],
            [digest(token), rt_value, rt_ttl, at_value, at_ttl, store.keys.access(gid, ""),
             GRANT_ACCESS_TOKENS])], scripts.ROTATE_REFRESH)
        replies.append([int(r) if isinstance(r, int) else r for r in reply])
    return replies, issued




@pytest.mark.rule("token.code.single-use")
async def test_a_resent_code_redemption_wins_again_and_revokes_nothing(
    store: TokenStore
) -> None:
    value, record = await _code(store)
    key = store.keys.code(record.grant_id, digest(value))
    outcomes, access = await _consume_twice(
        store, key, "used", dump(replace(record, used=True)), record.grant_id)
    assert outcomes == [1, 1]
    assert await store.resolve(access) is not None
    code = await get_code(store, value)
    assert code is not None and code.used


@pytest.mark.rule("token.code.single-use", "token.code.replay-revokes")
async def test_a_different_redemption_of_a_used_code_still_revokes_the_grant(
    store: TokenStore
) -> None:
    value, record = await _code(store)
    first = await store.redeem_code(value, record, SPEC)
    assert first is not None
    assert await store.redeem_code(value, record, SPEC) is None
    assert await store.resolve(first.access_token) is None


async def test_a_resent_refresh_rotation_wins_again_and_keeps_the_family(
    store: TokenStore
) -> None:
    issued = await store.issue(SPEC)
    assert issued.refresh_token is not None
    record = await get_refresh(store, issued.refresh_token)
    assert record is not None
    replies, new = await _rotate_twice(store, issued.refresh_token, record)
    assert replies == [[1], [1]]
    assert await store.resolve(new.access_token) is not None
    assert await store.resolve(issued.access_token) is not None
    assert new.refresh_token is not None
    current = await get_refresh(store, new.refresh_token)
    assert current is not None and not current.rotated and current.generation == 2
    old = await get_refresh(store, issued.refresh_token)
    assert old is not None and old.rotated


@pytest.mark.rule("auth.csrf.transaction")
async def test_a_resent_consent_take_gets_the_record_again_and_no_one_else_does(
    store: TokenStore
) -> None:
    pending = PendingAuthorization(
        user="alice", client_id="web", response_type="code",
        redirect_uri="https://app.example/cb", redirect_uri_explicit=True,
        scopes=("read",), state=None, code_challenge=None, code_challenge_method=None,
        created_at=store.clock(),
    )
    txn = await store.consent.put_pending(pending)
    key = [store.keys.pending("alice", digest(txn)), store.keys.pending_index("alice")]

    async def take(attempt: str) -> bytes | None:
        (raw,) = await gateway(store).run([evalsha(
            TAKE_PENDING, key, [attempt, 60_000, digest(txn)])], TAKE_PENDING)
        return None if raw is None else bytes(raw)

    first = await take("attempt-1")
    assert first is not None and first == await take("attempt-1")
    assert await take("attempt-2") is None
    assert await store.consent.take_pending(txn, user="alice") is None
    assert await get_pending(store, txn, user="alice") is None
    assert 0 < await redis_of(store).pttl(key[0]) <= 60_000
