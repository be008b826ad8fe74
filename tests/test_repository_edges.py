"""The store repositories at their edges: what a revocation names, counts and reports, the
seconds a throttled caller is told to wait, and what a token listing returns (RFC 7009 §2.1,
RFC 6749 §2.3.1, RFC 6585 §4).

Each test reads the store afterwards (what still resolves, what Redis still holds), so a
call that answers right but did the wrong thing, or the reverse, shows.
"""

from __future__ import annotations

import pytest

from oauth_middleware.models import AuthorizationCode, IssuedTokens, RefreshToken
from oauth_middleware.security import (
    DIGEST_CHARS,
    FINGERPRINT_CHARS,
    digest,
    new_grant_id,
    new_token,
)
from oauth_middleware.store import NewTokens, StoreNotDurable, TokenStore
from oauth_middleware.store._gateway.durability import Durability
from oauth_middleware.store._throttle import window_state
from oauth_middleware.toolbox import register_client
from tests.conftest import FakeClock
from tests.polling import until
from tests.store_helpers import cache_of, gateway, get_code, get_refresh, redis_of, texts
from tests.test_durability_wait import Replicas, _faking
from tests.test_rotation import _schema_0_refresh

SPEC = NewTokens(client_id="web", subject="alice", scopes=frozenset({"read"}), refresh=True)


async def _two_access_tokens(store: TokenStore) -> tuple[IssuedTokens, IssuedTokens]:
    """One grant holding two live access tokens: the first pair and the rotated one."""
    first = await store.issue(SPEC)
    record = await get_refresh(store, str(first.refresh_token))
    assert record is not None
    second = await store.rotate_refresh(str(first.refresh_token), record, SPEC)
    assert second is not None
    return first, second


async def _members(store: TokenStore, grant_id: str) -> list[str]:
    return sorted(texts(list(await redis_of(store).smembers(store.keys.members(grant_id)))))


async def test_revoking_by_a_fingerprint_no_token_has_revokes_nothing(store: TokenStore) -> None:
    first, second = await _two_access_tokens(store)
    grant_id = first.token.grant_id
    before = await _members(store, grant_id)
    taken = {digest(first.access_token)[:FINGERPRINT_CHARS],
             digest(second.access_token)[:FINGERPRINT_CHARS]}
    unknown = next(f"{c}" * FINGERPRINT_CHARS for c in "0123456789abcdef"
                   if f"{c}" * FINGERPRINT_CHARS not in taken)
    assert await store.revoke_access(grant_id, unknown) is False
    assert await store.resolve(first.access_token) == first.token
    assert await store.resolve(second.access_token) == second.token
    assert await _members(store, grant_id) == before


async def test_a_prefix_two_tokens_share_names_neither_and_revokes_nothing(
    store: TokenStore,
) -> None:
    """A fingerprint must name exactly one token: a shorter prefix both tokens' digests
    begin with (at worst the empty one) is ambiguous, and neither goes."""
    first, second = await _two_access_tokens(store)
    grant_id = first.token.grant_id
    before = await _members(store, grant_id)
    one, other = digest(first.access_token), digest(second.access_token)
    shared = one[:next(i for i, (a, b) in enumerate(zip(one, other, strict=True)) if a != b)]
    assert len(shared) < FINGERPRINT_CHARS
    assert await store.revoke_access(grant_id, shared) is False
    assert await store.resolve(first.access_token) == first.token
    assert await store.resolve(second.access_token) == second.token
    assert await _members(store, grant_id) == before


@pytest.mark.parametrize("chars", [FINGERPRINT_CHARS, DIGEST_CHARS])
async def test_a_fingerprint_or_digest_revokes_that_token_alone(
    store: TokenStore, chars: int
) -> None:
    first, second = await _two_access_tokens(store)
    grant_id = first.token.grant_id
    assert await store.revoke_access(grant_id, digest(first.access_token)[:chars]) is True
    assert await store.resolve(first.access_token) is None
    assert await store.resolve(second.access_token) == second.token
    assert await store.lookup(str(second.refresh_token)) is not None
    assert store.keys.access(grant_id, digest(first.access_token)) not in \
        await _members(store, grant_id)
    # a second revocation of the same token finds nothing
    assert await store.revoke_access(grant_id, digest(first.access_token)[:chars]) is False


async def _grant_keys(store: TokenStore) -> set[str]:
    """Every token and member-set key in the store (the keys a revocation deletes)."""
    prefix = store.keys.prefix
    kinds = tuple(f"{prefix}{kind}:" for kind in ("at", "rt", "code"))
    return {key for key in texts([k async for k in redis_of(store).scan_iter(match=f"{prefix}*")])
            if key.startswith(kinds)}


@pytest.mark.rule("revoke.client-leftovers")
async def test_sweeping_leftovers_returns_how_many_keys_went(store: TokenStore) -> None:
    """Grants of a client id with no record (an interrupted removal): all go, and the
    count is the keys deleted."""
    left = [await store.issue(NewTokens(client_id="svc", subject=user, refresh=refresh))
            for user, refresh in (("alice", True), ("bob", False), ("carol", True))]
    kept = await store.issue(SPEC)
    before = await _grant_keys(store)
    deleted = await store.revoke_client_tokens("svc", only_leftovers=True)
    after = await _grant_keys(store)
    assert deleted == len(before - after) == 5  # two pairs and one lone access token
    for issued in left:
        assert await store.lookup(issued.access_token) is None
    assert await store.resolve(kept.access_token) == kept.token
    assert await redis_of(store).exists(store.keys.client_index("svc")) == 0
    assert await store.revoke_client_tokens("svc", only_leftovers=True) == 0


@pytest.mark.rule("revoke.client-leftovers-only")
async def test_a_registered_client_has_no_leftovers_and_keeps_its_tokens(
    store: TokenStore,
) -> None:
    await register_client(store, "Svc", "svc", public=False, scopes_list=["a:b"],
                          grant_types=["client_credentials"])
    issued = await store.issue(NewTokens(client_id="svc", subject="alice"))
    assert await store.revoke_client_tokens("svc", only_leftovers=True) == 0
    assert await store.resolve(issued.access_token) == issued.token
    assert await redis_of(store).zcard(store.keys.client_index("svc")) == 1


async def test_progress_counts_each_grant_once_up_to_the_total(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of two grants (the embedded store pages exactly; a real Redis may answer a
    small index at once): each report adds the grants of its page, and the last says all."""
    monkeypatch.setattr("oauth_middleware.store._revocation.REVOKE_BATCH", 2)
    issued = [await store.issue(NewTokens(client_id="web", subject="alice")) for _ in range(5)]
    reports: list[tuple[int, int]] = []
    deleted = await store.revoke_user("alice", progress=lambda *r: reports.append(r))
    assert deleted == 5
    assert reports[-1] == (5, 5)
    assert all(total == 5 and 0 < done <= 5 for done, total in reports)
    done = [d for d, _ in reports]
    assert done == sorted(set(done))
    for one in issued:
        assert await store.resolve(one.access_token) is None


async def test_revoking_a_client_reports_progress_and_counts_every_key(
    store: TokenStore,
) -> None:
    issued = [await store.issue(NewTokens(client_id="web", subject=f"u{n}", refresh=True))
              for n in range(3)]
    reports: list[tuple[int, int]] = []
    assert await store.revoke_client_tokens(
        "web", progress=lambda *r: reports.append(r)) == 6
    assert reports == [(3, 3)]
    assert await _grant_keys(store) == set()
    assert all([await store.lookup(i.access_token) is None for i in issued])


@pytest.mark.parametrize(("left_ms", "seconds"), [
    (1, 1), (999, 1), (1000, 1), (1001, 2), (1999, 2), (2000, 2), (2001, 3), (60_000, 60),
])
def test_retry_after_rounds_the_time_left_up_to_whole_seconds(left_ms: int, seconds: int
                                                              ) -> None:
    now = 1_800_000_000_000
    assert window_state(b"3", str(now + left_ms).encode(), now) == (3, seconds)
    assert window_state(3, now + left_ms, now) == (3, seconds)


@pytest.mark.parametrize(("count", "ends"), [(None, 5), (b"2", None), (b"2", 0), (b"2", -1)])
def test_a_window_that_ended_or_was_never_counted_reads_as_none(
    count: bytes | None, ends: int | None
) -> None:
    now = 1_800_000_000_000
    assert window_state(count, None if ends is None else now + ends, now) == (0, 0)


@pytest.mark.rule("abuse.throttle")
async def test_failure_counts_tell_the_seconds_left_by_the_store_clock(
    store: TokenStore, clock: FakeClock
) -> None:
    """A 10 s window opened at a whole second: 10 s left at once, 1 s with half a second
    left and with exactly one left, none once it ends; a failure then opens a new one."""
    clock.now = 1_800_000_000.0
    throttle = store.throttle
    assert await throttle.count_failures("token", "web", "10.0.0.1", window=10) == \
        ((1, 10), (1, 10))
    clock.now = 1_800_000_004.5
    assert await throttle.count_failures("token", "web", "10.0.0.2", window=10) == \
        ((1, 10), (2, 6))
    assert await throttle.failures_from("token", "web", "10.0.0.1") == ((1, 6), (2, 6))
    clock.now = 1_800_000_009.0
    assert await throttle.failures_from("token", "web", "10.0.0.1") == ((1, 1), (2, 1))
    clock.now = 1_800_000_009.5
    assert await throttle.failures_from("token", "web", "10.0.0.2") == ((1, 5), (2, 1))
    clock.now = 1_800_000_010.0
    assert await throttle.failures_from("token", "web", "10.0.0.1") == ((0, 0), (0, 0))
    assert await throttle.count_failures("token", "web", "10.0.0.1", window=10) == \
        ((1, 10), (1, 10))


@pytest.mark.rule("exchange.chain-revocation")
async def test_revoking_the_access_token_a_grant_was_exchanged_from_revokes_that_grant(
    store: TokenStore,
) -> None:
    """RFC 8693: the exchanged grant lives only while its subject token does."""
    parent = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"read"})))
    child = await store.issue_exchanged(NewTokens(
        client_id="api-b", subject="alice", scopes=frozenset({"read"}),
        parent_grant=parent.token.grant_id, exchange_depth=1), parent.access_token)
    assert child is not None and await store.resolve(child.access_token) == child.token
    grant_id = parent.token.grant_id
    assert await store.revoke_access(grant_id, digest(parent.access_token)) is True
    assert await store.resolve(parent.access_token) is None
    assert await store.lookup(child.access_token) is None
    assert await redis_of(store).exists(store.keys.children(grant_id)) == 0
    assert await redis_of(store).zcard(store.keys.client_index("api-b")) == 0


@pytest.mark.rule("revoke.client-leftovers")
async def test_leftovers_on_many_pages_all_go(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of two grants on the embedded store: the sweep follows the cursor to the end."""
    monkeypatch.setattr("oauth_middleware.store._revocation.REVOKE_BATCH", 2)
    left = [await store.issue(NewTokens(client_id="svc", subject=f"u{n}")) for n in range(5)]
    assert await store.revoke_client_tokens("svc", only_leftovers=True) == 5
    assert [await store.resolve(i.access_token) for i in left] == [None] * 5
    assert await redis_of(store).exists(store.keys.client_index("svc")) == 0


async def _issue_for(store: TokenStore, client_id: str, user: str) -> IssuedTokens:
    return await store.issue(NewTokens(client_id=client_id, subject=user,
                                       scopes=frozenset({"read"})))


async def _all_pages(store: TokenStore, **which: str | None) -> list[str]:
    cursor, found = 0, []
    while True:
        cursor, page = await store.list_tokens(cursor=cursor, **which)  # type: ignore[arg-type]
        found += [r.fingerprint for r in page]
        if not cursor:
            return sorted(found)


async def test_a_listing_of_a_client_and_a_user_holds_only_their_tokens(
    store: TokenStore,
) -> None:
    mine = await _issue_for(store, "web", "alice")
    others = [await _issue_for(store, "web", "bob"), await _issue_for(store, "cli", "alice")]
    assert await _all_pages(store, client_id="web", user="alice") == [mine.token.fingerprint]
    assert await _all_pages(store, client_id="web") == sorted(
        [mine.token.fingerprint, others[0].token.fingerprint])
    assert await _all_pages(store, user="alice") == sorted(
        [mine.token.fingerprint, others[1].token.fingerprint])
    assert await _all_pages(store) == sorted(
        [mine.token.fingerprint, *(o.token.fingerprint for o in others)])


async def test_a_listing_without_a_cursor_starts_at_the_beginning(store: TokenStore) -> None:
    """The default cursor is 0: the first page of a fresh walk, never one part-way."""
    issued = [await _issue_for(store, "web", f"u{n}") for n in range(3)]
    cursor, page = await store.list_tokens(count=1000)
    while cursor:  # a cluster walks its primaries one after another
        cursor, more = await store.list_tokens(cursor=cursor, count=1000)
        page += more
    assert sorted(r.fingerprint for r in page) == sorted(i.token.fingerprint for i in issued)


@pytest.mark.not_on_cluster
async def test_a_page_asked_big_enough_holds_every_token_at_once(store: TokenStore) -> None:
    """The page size reaches Redis: a page of 1000 over a few dozen tokens is the only one
    (Redis's default SCAN step of 10 would leave a cursor)."""
    issued = [await _issue_for(store, "web", f"u{n}") for n in range(30)]
    cursor, page = await store.list_tokens(count=1000)
    assert cursor == 0
    assert sorted(r.fingerprint for r in page) == sorted(i.token.fingerprint for i in issued)


async def test_a_clients_page_is_read_from_its_index_not_the_whole_keyspace(
    store: TokenStore,
) -> None:
    """A page of one for a client among many others' tokens holds the client's token: the
    walk reads the client's index, where a page of the whole keyspace would mostly hold
    other tokens and leave this page empty."""
    for n in range(40):
        await _issue_for(store, "other", f"u{n}")
    mine = await _issue_for(store, "web", "alice")
    cursor, page = await store.list_tokens(client_id="web", count=1)
    assert (cursor, [r.fingerprint for r in page]) == (0, [mine.token.fingerprint])
    cursor, page = await store.list_tokens(user="alice", count=1)
    assert (cursor, [r.fingerprint for r in page]) == (0, [mine.token.fingerprint])


@pytest.mark.rule("revoke.cache-exact-on-host", "redis.durable-writes")
@pytest.mark.parametrize("how", ["its grant", "the user's grants"])
async def test_a_revocation_no_replica_confirmed_is_refused_by_this_process_at_once(
    cached: TokenStore, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The keys are gone on the primary though the call fails (503): this process's cache
    forgets them before the error leaves, with Redis's invalidations held back (from
    before the listener starts: it keeps the callback it was given)."""
    await _faking(cached, Replicas(0), monkeypatch)
    gateway(cached).durability = Durability(1, 20)
    cache = cache_of(cached)
    held: list[list[bytes] | None] = []
    monkeypatch.setattr(cache, "_invalidate", held.append)
    issued = await cached.issue(SPEC)
    await cached.resolve(issued.access_token)
    await until(lambda: cache.serving, "the cache serves")
    assert await cached.resolve(issued.access_token) == issued.token
    assert len(cache.entries) == 1
    revoking = (cached.revoke_grant(issued.token.grant_id) if how == "its grant"
                else cached.revoke_user("alice"))
    with pytest.raises(StoreNotDurable):
        await revoking
    assert cache.entries == {}
    assert held  # Redis did send the invalidation; only this process's forgetting applied
    assert await cached.resolve(issued.access_token) is None
    assert await redis_of(cached).exists(cached.keys.members(issued.token.grant_id)) == 0


@pytest.mark.rule("token.refresh.rotation", "exchange.chain-revocation")
async def test_a_replayed_refresh_token_revokes_the_grants_exchanged_from_its_grant(
    store: TokenStore,
) -> None:
    """RFC 9700 §4.14.2 and RFC 8693: the replay ends the grant, and what was exchanged
    from it ends with it."""
    parent = await store.issue(SPEC)
    child = await store.issue_exchanged(NewTokens(
        client_id="api-b", subject="alice", scopes=frozenset({"read"}),
        parent_grant=parent.token.grant_id, exchange_depth=1), parent.access_token)
    assert child is not None
    token = str(parent.refresh_token)
    record = await get_refresh(store, token)
    assert record is not None
    assert await store.rotate_refresh(token, record, SPEC) is not None
    assert await store.resolve(child.access_token) == child.token
    assert await store.rotate_refresh(token, record, SPEC) is None  # the replay
    assert await store.resolve(parent.access_token) is None
    assert await store.lookup(child.access_token) is None
    assert await redis_of(store).exists(store.keys.children(parent.token.grant_id)) == 0
    assert await redis_of(store).zcard(store.keys.client_index("api-b")) == 0


@pytest.mark.rule("revoke.refresh-revokes-grant")
async def test_a_schema_0_refresh_token_is_found_and_revoking_it_ends_its_grant(
    store: TokenStore,
) -> None:
    """A refresh token the previous version stored under its own digest (schema 0) is
    still a token: looked up, introspected, and revoked with its whole grant."""
    gid = new_grant_id()
    token = new_token(gid)
    key = store.keys.legacy_refresh(gid, digest(token))
    await redis_of(store).set(key, _schema_0_refresh(gid, token, store.clock()), px=3_600_000)
    await redis_of(store).sadd(store.keys.members(gid), key)
    found = await store.lookup(token)
    assert isinstance(found, RefreshToken)
    assert (found.grant_id, found.client_id, found.subject, found.rotated) == (
        gid, "web", "alice", False)
    assert await store.revoke_token(token) is True
    assert await store.lookup(token) is None
    assert await redis_of(store).exists(key, store.keys.members(gid)) == 0


@pytest.mark.rule("token.code.replay-revokes", "exchange.chain-revocation")
async def test_a_replayed_code_revokes_the_grants_exchanged_from_its_grant(
    store: TokenStore,
) -> None:
    code = await store.create_code(AuthorizationCode(
        grant_id="", client_id="web", subject="alice", redirect_uri="https://app.example/cb",
        redirect_uri_explicit=True, scopes=frozenset({"read"})))
    record = await get_code(store, code)
    assert record is not None
    issued = await store.redeem_code(code, record, SPEC)
    assert issued is not None
    child = await store.issue_exchanged(NewTokens(
        client_id="api-b", subject="alice", scopes=frozenset({"read"}),
        parent_grant=record.grant_id, exchange_depth=1), issued.access_token)
    assert child is not None and await store.resolve(child.access_token) == child.token
    assert await store.redeem_code(code, record, SPEC) is None  # the replay
    assert await store.resolve(issued.access_token) is None
    assert await store.lookup(child.access_token) is None
    assert await redis_of(store).exists(store.keys.children(record.grant_id)) == 0
    assert await redis_of(store).zcard(store.keys.client_index("api-b")) == 0


@pytest.mark.not_on_cluster  # drives one node's connection (a faked WAIT)
@pytest.mark.rule("redis.durable-writes", "abuse.bounded.grants-per-user")
async def test_a_grant_displaced_past_the_cap_goes_without_waiting_for_a_replica(
    store: TokenStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issuing is no durable write, so neither is the sweep of what it displaced: with no
    replica answering, the new grant is issued and the displaced one gone, no WAIT sent."""
    capped = TokenStore(gateway(store), prefix=store.keys.prefix, clock=clock,
                        max_grants_per_user=1)
    first = await capped.issue(NewTokens(client_id="web", subject="alice"))
    replicas = Replicas(0)
    await _faking(store, replicas, monkeypatch)
    gateway(store).durability = Durability(1, 20)
    second = await capped.issue(NewTokens(client_id="web", subject="alice"))
    assert await capped.resolve(first.access_token) is None
    assert await capped.resolve(second.access_token) == second.token
    assert replicas.waits == []


@pytest.mark.rule("exchange.chain-revocation")
async def test_revoking_a_clients_grants_counts_the_keys_of_those_exchanged_from_them(
    store: TokenStore,
) -> None:
    parent = await store.issue(NewTokens(client_id="web", subject="alice"))
    child = await store.issue_exchanged(NewTokens(
        client_id="api-b", subject="bob", parent_grant=parent.token.grant_id,
        exchange_depth=1), parent.access_token)
    assert child is not None
    assert await store.revoke_client_tokens("web") == 2  # each grant's one access token
    assert await store.lookup(child.access_token) is None
    assert await _grant_keys(store) == set()


@pytest.mark.rule("exchange.chain-revocation")
async def test_revoking_a_grant_counts_and_revokes_the_grants_exchanged_from_it(
    store: TokenStore,
) -> None:
    parent = await store.issue(NewTokens(client_id="web", subject="alice"))
    child = await store.issue_exchanged(NewTokens(
        client_id="api-b", subject="bob", parent_grant=parent.token.grant_id,
        exchange_depth=1), parent.access_token)
    assert child is not None
    assert await store.revoke_grant(parent.token.grant_id) == 2  # each grant's access token
    assert await store.lookup(child.access_token) is None
    assert await _grant_keys(store) == set()
    assert await redis_of(store).exists(store.keys.client_index("api-b"),
                                        store.keys.user_index("bob")) == 0
