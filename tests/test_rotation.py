"""Refresh rotation keeps a grant bounded and decides single use on a state field
(RFC 6749 §6, RFC 9700 §4.14.2, RFC 6819 §4.4.1.11), on both store backends.

Each test reads what Redis holds afterwards (SCAN, SCARD, the raw records), so a
grant that grew, or a rotation that depended on a record's exact bytes, shows.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest

from oauth_middleware.limits import GRANT_ACCESS_TOKENS
from oauth_middleware.models import IssuedTokens
from oauth_middleware.security import FINGERPRINT_CHARS, digest, new_grant_id, new_token
from oauth_middleware.store import REFRESH_LIFETIME, NewTokens, TokenStore
from oauth_middleware.store._codec import SCHEMA_VERSION
from tests.conftest import FakeClock
from tests.store_helpers import get_code, get_refresh, redis_of, texts

SPEC = NewTokens(client_id="web", subject="alice", scopes=frozenset({"read"}), refresh=True)


async def _keys_of(store: TokenStore, grant_id: str) -> list[str]:
    """Every key of the grant (its hash tag), found with SCAN as an operator would."""
    found = [key async for key in redis_of(store).scan_iter(match=f"*{{{grant_id}}}*", count=1000)]
    return sorted(texts(found))


@pytest.mark.rule("abuse.bounded-storage", "token.refresh.rotation")
async def test_ten_thousand_rotations_leave_a_bounded_grant(
    store: TokenStore, clock: FakeClock
) -> None:
    """Rotations a millisecond apart by the store's clock, often within one by Redis's
    (same PTTL): the oldest access token still goes first, by its ``issued_at``."""
    first = await store.issue(SPEC)
    gid = first.token.grant_id
    token = str(first.refresh_token)
    record = await get_refresh(store, token)
    assert record is not None
    access: list[str] = []
    for _ in range(10_000):  # the store's own calls; the record as get_refresh would read it
        clock.advance(0.001)
        issued = await store.rotate_refresh(token, record, SPEC)
        assert issued is not None and issued.refresh_token is not None
        token = issued.refresh_token
        access = [*access[-GRANT_ACCESS_TOKENS:], issued.access_token]
        record = replace(record, digest=digest(token), generation=record.generation + 1,
                         fingerprint=digest(token)[:FINGERPRINT_CHARS], issued_at=clock(),
                         expires_at=clock() + REFRESH_LIFETIME)
    assert await get_refresh(store, token) == record
    assert record.generation == 10_001
    keys = await _keys_of(store, gid)
    every_key = [key async for key in redis_of(store).scan_iter(count=1000)]
    assert await redis_of(store).scard(store.keys.members(gid)) == GRANT_ACCESS_TOKENS + 1
    assert len(keys) == GRANT_ACCESS_TOKENS + 2  # access tokens, rt:{g}, members:{g}
    assert len(every_key) == len(keys) + 2  # and the user and client indexes, one entry each
    assert await redis_of(store).zcard(store.keys.user_index("alice")) == 1
    assert await redis_of(store).zcard(store.keys.client_index("web")) == 1
    # the newest access tokens live on; the oldest one past the bound is gone
    alive = [await store.resolve(t) is not None for t in access]
    assert alive == [False] + [True] * GRANT_ACCESS_TOKENS
    assert await store.resolve(first.access_token) is None


@pytest.mark.rule("abuse.bounded-storage")
async def test_a_rotation_drops_expired_members_and_keeps_the_new_tokens(
    store: TokenStore
) -> None:
    """Members that expired leave the set; the access token just issued is never evicted,
    even when it expires sooner than the ones it outnumbers."""
    issued = await store.issue(SPEC)
    gid = issued.token.grant_id
    tokens = [issued]
    for _ in range(GRANT_ACCESS_TOKENS + 3):
        tokens.append(await _rotate(store, str(tokens[-1].refresh_token), SPEC))
    await redis_of(store).delete(store.keys.access(gid, digest(tokens[-1].access_token)))
    short = await _rotate(store, str(tokens[-1].refresh_token), replace(SPEC, lifetime=5))
    members = set(texts(list(await redis_of(store).smembers(store.keys.members(gid)))))
    assert len(members) == GRANT_ACCESS_TOKENS + 1
    assert store.keys.access(gid, digest(tokens[-1].access_token)) not in members
    assert store.keys.access(gid, digest(short.access_token)) in members
    assert await store.resolve(short.access_token) is not None
    assert all([await redis_of(store).exists(key) == 1 for key in members])


@pytest.mark.rule("abuse.bounded-storage")
async def test_never_expiring_access_tokens_are_bounded_too(
    store: TokenStore, clock: FakeClock
) -> None:
    """Tokens of a client registered for never-expiring ones have no TTL to order them by:
    they go after every token that expires, oldest first, and the grant stays bounded."""
    forever = replace(SPEC, lifetime=None)
    issued = [await store.issue(SPEC)]
    for _ in range(GRANT_ACCESS_TOKENS + 4):
        clock.advance(1)
        issued.append(await _rotate(store, str(issued[-1].refresh_token), forever))
    gid = issued[0].token.grant_id
    assert await redis_of(store).scard(store.keys.members(gid)) == GRANT_ACCESS_TOKENS + 1
    alive = [await store.resolve(i.access_token) is not None for i in issued]
    assert alive == [False] * 5 + [True] * (GRANT_ACCESS_TOKENS)
    assert await redis_of(store).pttl(store.keys.access(gid, digest(issued[-1].access_token))) == -1


async def _rotate(store: TokenStore, token: str, spec: NewTokens = SPEC) -> IssuedTokens:
    record = await get_refresh(store, token)
    assert record is not None and not record.rotated
    issued = await store.rotate_refresh(token, record, spec)
    assert issued is not None and issued.refresh_token is not None
    return issued


@pytest.mark.rule("token.refresh.reuse-revokes-family")
async def test_every_earlier_generation_is_known_as_rotated_and_a_made_up_one_is_unknown(
    store: TokenStore
) -> None:
    issued = [await store.issue(SPEC)]
    for _ in range(5):
        issued.append(await _rotate(store, str(issued[-1].refresh_token)))
    gid = issued[0].token.grant_id
    for generation, old in enumerate(issued[:-1], start=1):
        record = await get_refresh(store, str(old.refresh_token))
        assert record is not None and record.rotated and record.generation == 6
        assert record.fingerprint == digest(str(old.refresh_token))[:FINGERPRINT_CHARS]
        assert generation < record.generation
        assert await store.lookup(str(old.refresh_token)) is None
    current = await get_refresh(store, str(issued[-1].refresh_token))
    assert current is not None and not current.rotated
    made_up = new_token(gid) + "A" * 22  # a real grant id and the shape of a sealed token
    assert await get_refresh(store, made_up) is None
    assert await get_refresh(store, new_token(gid)) is None
    assert not await store.revoke_token(made_up)
    assert await store.resolve(issued[-1].access_token) is not None


@pytest.mark.rule("abuse.single-use-state", "token.refresh.rotation")
async def test_a_refresh_record_with_an_unknown_field_rotates_normally(store: TokenStore) -> None:
    """A record a newer version wrote (one field more, a higher "v") is rotated, not
    taken for a replay: single use reads the record's digest, not its bytes."""
    issued = await store.issue(SPEC)
    gid = issued.token.grant_id
    key = store.keys.refresh(gid)
    raw = await redis_of(store).get(key)
    assert raw is not None
    stored = json.loads(raw)
    assert stored["v"] == SCHEMA_VERSION
    # Numbers stay numbers whichever way JSON wrote them (a whole one as 2.0 included).
    await redis_of(store).set(key, json.dumps({**stored, "v": SCHEMA_VERSION + 1,
                                           "added_later": {"x": [1, 2]},
                                           "generation": float(stored["generation"]),
                                           "issued_at": int(stored["issued_at"])}),
                          keepttl=True)
    new = await _rotate(store, str(issued.refresh_token))
    assert await store.resolve(new.access_token) is not None
    assert await store.resolve(issued.access_token) is not None
    old = await get_refresh(store, str(issued.refresh_token))
    assert old is not None and old.rotated


def _schema_0_refresh(gid: str, token: str, now: float) -> str:
    """A refresh record exactly as the previous version wrote it (no "v", no digest)."""
    return json.dumps({"client_id": "web", "expires_at": now + 3600,
                       "fingerprint": digest(token)[:FINGERPRINT_CHARS], "grant_id": gid,
                       "issued_at": now, "rotated": False, "scopes": "read",
                       "subject": "alice", "subject_type": "user"},
                      separators=(",", ":"), sort_keys=True)


@pytest.mark.rule("abuse.single-use-state", "token.refresh.rotation",
                  "token.refresh.reuse-revokes-family")
async def test_a_schema_0_refresh_record_rotates_once_and_its_reuse_revokes_the_family(
    store: TokenStore
) -> None:
    gid = new_grant_id()
    token = new_token(gid)
    key = store.keys.legacy_refresh(gid, digest(token))
    await redis_of(store).set(key, _schema_0_refresh(gid, token, store.clock()), px=3_600_000)
    await redis_of(store).sadd(store.keys.members(gid), key)
    record = await get_refresh(store, token)
    assert record is not None and not record.rotated and record.digest == ""
    new = await store.rotate_refresh(token, record, SPEC)
    assert new is not None and new.refresh_token is not None
    assert await store.resolve(new.access_token) is not None
    following = await _rotate(store, new.refresh_token)  # the grant is schema 1 from now on
    assert await store.resolve(following.access_token) is not None
    old = await get_refresh(store, token)
    assert old is not None and old.rotated
    assert await store.rotate_refresh(token, record, SPEC) is None  # the replay
    assert await store.resolve(following.access_token) is None
    assert await _keys_of(store, gid) == []


@pytest.mark.rule("abuse.single-use-state", "token.code.single-use",
                  "token.code.replay-revokes")
@pytest.mark.parametrize("extra", [{}, {"added_later": True, "v": SCHEMA_VERSION + 1}])
async def test_a_code_record_of_another_version_redeems_once(
    store: TokenStore, extra: dict[str, object]
) -> None:
    """A code the previous version wrote (no "v") or a newer one (a field more) is
    redeemed once; the second redemption revokes what the first issued."""
    gid = new_grant_id()
    code = new_token(gid)
    key = store.keys.code(gid, digest(code))
    now = store.clock()
    raw = {"client_id": "web", "code_challenge": None, "code_challenge_method": None,
           "expires_at": now + 120, "fingerprint": digest(code)[:FINGERPRINT_CHARS],
           "grant_id": gid, "issued_at": now, "redirect_uri": "https://app.example/cb",
           "redirect_uri_explicit": True, "scopes": "read", "subject": "alice", "used": False}
    await redis_of(store).set(key, json.dumps({**raw, **extra}, separators=(",", ":"),
                                          sort_keys=True), px=120_000)
    await redis_of(store).sadd(store.keys.members(gid), key)
    record = await get_code(store, code)
    assert record is not None and not record.used
    first = await store.redeem_code(code, record, SPEC)
    assert first is not None and await store.resolve(first.access_token) is not None
    used = await get_code(store, code)
    assert used is not None and used.used
    assert await store.redeem_code(code, record, SPEC) is None
    assert await store.resolve(first.access_token) is None
    assert await get_refresh(store, str(first.refresh_token)) is None


@pytest.mark.rule("token.refresh.concurrent")
async def test_fifty_concurrent_rotations_have_one_winner_whose_tokens_the_losers_revoke(
    store: TokenStore
) -> None:
    """The losers' rotations are replays of a rotated token (RFC 9700 §4.14.2 cannot tell
    a racing client from a thief), so the family, the winner's new tokens included, ends."""
    issued = await store.issue(SPEC)
    record = await get_refresh(store, str(issued.refresh_token))
    assert record is not None
    results = await asyncio.gather(*(
        store.rotate_refresh(str(issued.refresh_token), record, SPEC) for _ in range(50)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert await store.resolve(winners[0].access_token) is None
    assert await get_refresh(store, str(winners[0].refresh_token)) is None
    assert await _keys_of(store, issued.token.grant_id) == []


async def test_rotate_refresh_refuses_a_record_that_is_not_the_tokens(store: TokenStore) -> None:
    """A caller bug must not turn into a revocation: only the current token rotates."""
    issued = await store.issue(SPEC)
    record = await get_refresh(store, str(issued.refresh_token))
    assert record is not None
    with pytest.raises(ValueError, match="current record"):
        await store.rotate_refresh(new_token(issued.token.grant_id), record, SPEC)
    assert await store.resolve(issued.access_token) is not None


@pytest.mark.rule("token.refresh.rotation")
async def test_a_refresh_token_is_refused_from_the_instant_it_expires(
    store: TokenStore, clock: FakeClock
) -> None:
    issued = await store.issue(SPEC)
    token = str(issued.refresh_token)
    record = await get_refresh(store, token)
    assert record is not None and record.expires_at is not None
    assert record.expires_at == pytest.approx(clock() + REFRESH_LIFETIME)
    clock.now = record.expires_at - 0.001  # set, not advanced: no float rounding at the edge
    assert await get_refresh(store, token) == record
    clock.now = record.expires_at
    assert await get_refresh(store, token) is None
