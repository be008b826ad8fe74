"""A redemption, or a consent decision, the client library sends twice is one (RFC 6749
§4.1.2, §6, §10.12).

redis-py resends a command whose reply was lost (one retry, store/connection.py).
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

import pytest

from oauth_middleware.models import AuthorizationCode, PendingAuthorization
from oauth_middleware.security import digest
from oauth_middleware.store import NewTokens, TokenStore, scripts
from oauth_middleware.store.codec import dump

SPEC = NewTokens(client_id="web", subject="alice", scopes=frozenset({"read"}), refresh=True)


async def _code(store: TokenStore) -> tuple[str, AuthorizationCode]:
    value = await store.create_code(AuthorizationCode(
        grant_id="", client_id="web", subject="alice", redirect_uri="https://app.example/cb",
        redirect_uri_explicit=True, scopes=frozenset({"read"}),
    ))
    record = await store.get_code(value)
    assert record is not None
    return value, record


async def _consume_twice(store: TokenStore, key: str, expected: str, consumed: str,
                         grant_id: str) -> tuple[list[int], str]:
    """Send one CONSUME_AND_ISSUE invocation twice; returns both outcomes and the new token."""
    issued, members = store.mint(grant_id, SPEC)
    keys, args = store.flatten(members)
    outcomes = []
    for _ in range(2):
        (outcome,) = await store.run([store.evalsha(
            scripts.CONSUME_AND_ISSUE, [key, store.keys.members(grant_id), *keys],
            [expected, consumed, *args])], scripts.CONSUME_AND_ISSUE)
        outcomes.append(int(outcome))
    return outcomes, issued.access_token


@pytest.mark.rule("token.code.single-use")
async def test_a_resent_code_redemption_wins_again_and_revokes_nothing(
    store: TokenStore
) -> None:
    value, record = await _code(store)
    key = store.keys.code(record.grant_id, digest(value))
    outcomes, access = await _consume_twice(
        store, key, dump(record), dump(replace(record, used=True)), record.grant_id)
    assert outcomes == [1, 1]
    assert await store.resolve(access) is not None
    code = await store.get_code(value)
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
    record = await store.get_refresh(issued.refresh_token)
    assert record is not None
    key = store.keys.refresh(record.grant_id, digest(issued.refresh_token))
    outcomes, access = await _consume_twice(
        store, key, dump(record), dump(replace(record, rotated=True)), record.grant_id)
    assert outcomes == [1, 1]
    assert await store.resolve(access) is not None
    assert await store.resolve(issued.access_token) is not None


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
    txn = await store.put_pending(pending)
    key = [store.keys.pending(digest(txn))]

    async def take(attempt: str) -> bytes | None:
        (raw,) = await store.run([store.evalsha(
            scripts.TAKE_PENDING, key, [attempt, 60_000])], scripts.TAKE_PENDING)
        return None if raw is None else bytes(raw)

    first = await take("attempt-1")
    assert first is not None and first == await take("attempt-1")
    assert await take("attempt-2") is None
    assert await store.take_pending(txn) is None
    assert await store.get_pending(txn) is None
    assert 0 < await store.redis.pttl(key[0]) <= 60_000
