"""Live grants per user and per client are capped (store/_grant_scripts.py ``ISSUE``, SECURITY.md).

Anyone with an account can loop a code flow or the password grant as himself, and a
confidential client can loop client credentials: each round stores a grant. Past the
cap the issuing script itself revokes the grant that expires first, so no loop, however
concurrent, leaves more live grants than the cap.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from oauth_middleware.limits import GRANTS_PER_CLIENT, GRANTS_PER_USER, ISSUE_EVICTIONS, MAX_GRANTS
from oauth_middleware.models import AuthorizationCode, IssuedTokens
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.store._grant_scripts import TOMBSTONE_MS
from tests.conftest import FakeClock
from tests.store_helpers import caps, gateway, get_code, get_refresh, redis_of, texts

CAP = 5


def capped(store: TokenStore, *, user: int = CAP, client: int = CAP) -> TokenStore:
    """Another store over ``store``'s Redis client (the same data), with other caps."""
    return TokenStore(gateway(store), clock=store.clock, max_grants_per_user=user,
                      max_grants_per_client=client)


def _spec(user: str = "mallory", client_id: str = "spa") -> NewTokens:
    return NewTokens(client_id=client_id, subject=user, scopes=frozenset({"read"}), refresh=True)


async def _members_keys(store: TokenStore) -> int:
    """Every grant's member set in Redis, found with SCAN as an operator would."""
    return len([k async for k in redis_of(store).scan_iter(match=store.keys.members("*"))])


async def _live(store: TokenStore, issued: IssuedTokens) -> bool:
    """Whether both tokens of a grant are honoured; asserts they agree."""
    access = await store.resolve(issued.access_token) is not None
    refresh = await get_refresh(store, str(issued.refresh_token)) is not None
    assert access == refresh
    return access


async def _loop(store: TokenStore, clock: FakeClock, spec: NewTokens, n: int
                ) -> list[IssuedTokens]:
    """``n`` grants, one after the other: each expires after the one before by Redis's clock,
    which scores the index (the records' clock moves a second between them too)."""
    issued = []
    for _ in range(n):
        clock.advance(1)
        issued.append(await store.issue(spec))
    return issued


@pytest.mark.rule("abuse.bounded.grants-per-user")
async def test_a_loop_past_the_cap_keeps_exactly_the_cap_and_revokes_the_oldest(
    store: TokenStore, clock: FakeClock
) -> None:
    cap = capped(store)
    issued = await _loop(cap, clock, _spec(), 3 * CAP + 2)
    assert await redis_of(cap).zcard(cap.keys.user_index("mallory")) == CAP
    assert await redis_of(cap).zcard(cap.keys.client_index("spa")) == CAP
    assert await _members_keys(cap) == CAP
    assert [await _live(cap, i) for i in issued] == [False] * (2 * CAP + 2) + [True] * CAP
    assert sorted(texts(await redis_of(cap).zrange(cap.keys.user_index("mallory"), 0, -1))) == \
        sorted(i.token.grant_id for i in issued[-CAP:])
    # nothing of the revoked grants is left in Redis: their tokens, records and sets are
    # gone. On a cluster, where the issuer sweeps them after the issue, a tombstone each
    # is left, which expires; on a single node the issuing script revoked them itself, and
    # no write of theirs can still be in flight to need one (store/keys.py)
    grants = {i.token.grant_id for i in issued[:-CAP]}
    leftover = [k async for k in redis_of(cap).scan_iter(match="*")
                if any(g in texts([k])[0] for g in grants)]
    tombstones = sorted(cap.keys.gone(g) for g in grants) if gateway(cap).cluster else []
    assert sorted(texts(leftover)) == tombstones
    assert {0 < await redis_of(cap).pttl(k) <= TOMBSTONE_MS for k in leftover} <= {True}
    assert await redis_of(cap).exists(cap.keys.displaced(cap.keys.user_index("mallory"))) == 0


@pytest.mark.rule("abuse.bounded.grants-per-user")
async def test_the_cap_leaves_other_users_and_recently_refreshed_grants_alone(
    store: TokenStore, clock: FakeClock
) -> None:
    """Per user: bob's older grants at the same client stay. Earliest expiry first: a grant
    refreshed since (its lifetime slides) outlives newer grants nobody refreshed."""
    cap = capped(store)
    bob = await _loop(cap, clock, _spec("bob"), CAP)
    kept = (await _loop(cap, clock, _spec(), 1))[0]
    others = await _loop(cap, clock, _spec(), CAP - 1)
    clock.advance(1)
    record = await get_refresh(cap, str(kept.refresh_token))
    assert record is not None
    refreshed = await cap.rotate_refresh(str(kept.refresh_token), record, _spec())
    assert refreshed is not None
    newer = await _loop(cap, clock, _spec(), 2)
    assert [await _live(cap, i) for i in [*others, *newer]] == \
        [False, False] + [True] * (CAP - 3) + [True, True]
    assert await _live(cap, refreshed)
    assert [await _live(cap, i) for i in bob] == [True] * CAP
    assert await redis_of(cap).zcard(cap.keys.user_index("bob")) == CAP
    assert await redis_of(cap).zcard(cap.keys.client_index("spa")) == 2 * CAP


@pytest.mark.rule("abuse.bounded.grants-per-user")
async def test_the_grant_just_issued_is_never_the_one_displaced(
    store: TokenStore, clock: FakeClock
) -> None:
    """A new code's grant expires in two minutes, long before the user's 30-day grants:
    still it displaces the oldest of those, and the code is redeemed."""
    cap = capped(store)
    issued = await _loop(cap, clock, _spec(), CAP)
    code = await cap.create_code(AuthorizationCode(
        grant_id="", client_id="spa", subject="mallory", redirect_uri="https://app.example/cb",
        scopes=frozenset({"read"})))
    record = await get_code(cap, code)
    assert record is not None
    assert [await _live(cap, i) for i in issued] == [False] + [True] * (CAP - 1)
    redeemed = await cap.redeem_code(code, record, _spec())
    assert redeemed is not None and await _live(cap, redeemed)
    assert await redis_of(cap).zcard(cap.keys.user_index("mallory")) == CAP


@pytest.mark.rule("abuse.bounded.grants-per-user", "revoke.index-bounded")
async def test_a_revoked_grant_frees_its_place_under_the_cap(
    store: TokenStore, clock: FakeClock
) -> None:
    """Logging out (revoking the refresh token) takes the grant off both indexes at once,
    so it does not count against the cap until its expiry: the next login displaces none
    of the user's live grants."""
    cap = capped(store)
    issued = await _loop(cap, clock, _spec(), CAP)
    assert await cap.revoke_token(str(issued[-1].refresh_token))
    assert await redis_of(cap).zcard(cap.keys.user_index("mallory")) == CAP - 1
    assert await redis_of(cap).zcard(cap.keys.client_index("spa")) == CAP - 1
    again = await _loop(cap, clock, _spec(), 1)
    assert [await _live(cap, i) for i in [*issued, *again]] == [True] * (CAP - 1) + [False, True]


@pytest.mark.rule("abuse.bounded.grants-per-user", "revoke.index-redis-clock")
async def test_a_grant_from_a_host_whose_clock_runs_behind_is_displaced_in_its_turn(
    store: TokenStore, clock: FakeClock
) -> None:
    """Grants are displaced in the order Redis's clock expires them, not by the clock of
    the host that issued them: a login through a host two hours behind was scored two
    hours early, and the next login anywhere displaced it, the newest, instead of the
    oldest. No clock moves here: only the order of issue decides."""
    cap = capped(store)
    behind = TokenStore(gateway(store), clock=lambda: clock() - 7200, max_grants_per_user=CAP)
    first = [await cap.issue(_spec()) for _ in range(CAP - 1)]
    late = await behind.issue(_spec())
    last = await cap.issue(_spec())
    assert [await _live(cap, i) for i in [*first, last]] == [False] + [True] * (CAP - 1)
    assert await _live(behind, late)
    assert sorted(texts(await redis_of(cap).zrange(cap.keys.user_index("mallory"), 0, -1))) == \
        sorted(i.token.grant_id for i in [*first[1:], late, last])


@pytest.mark.rule("abuse.bounded.grants-per-user")
async def test_fifty_concurrent_grants_at_the_cap_never_leave_more_than_the_cap(
    store: TokenStore, clock: FakeClock
) -> None:
    """Each issue is one script, so the index is never over the cap when one starts: it
    adds one grant and displaces one. Five stores (five pipelines, several connections
    on Redis) fire fifty at once; exactly the cap is left, all of them new."""
    stores = [capped(store) for _ in range(5)]
    old = await _loop(stores[0], clock, _spec(), CAP)
    clock.advance(1)
    new = await asyncio.gather(*(s.issue(_spec()) for s in stores for _ in range(10)))
    assert await redis_of(store).zcard(store.keys.user_index("mallory")) == CAP
    assert await _members_keys(store) == CAP
    assert [await _live(store, i) for i in old] == [False] * CAP
    assert sum([await _live(store, i) for i in new]) == CAP


@pytest.mark.rule("abuse.bounded.grants-per-client")
async def test_a_loop_of_client_credentials_keeps_the_clients_own_grants_at_the_cap(
    store: TokenStore, clock: FakeClock
) -> None:
    """A client's own grants have their own index and cap; its users' grants (in the same
    client index) are not counted with them and stay."""
    cap = capped(store, user=100, client=CAP)
    alice = await _loop(cap, clock, _spec("alice", "svc"), 3)
    spec = NewTokens(client_id="svc", subject="svc", subject_type="client", lifetime=3600)
    own = await _loop(cap, clock, spec, 2 * CAP)
    assert [await cap.resolve(i.access_token) is not None for i in own] == \
        [False] * CAP + [True] * CAP
    assert [await _live(cap, i) for i in alice] == [True] * 3
    assert await redis_of(cap).zcard(cap.keys.own_index("svc")) == CAP
    # on a cluster, the last displaced grant (swept) waits in it for the next issue
    assert await redis_of(cap).zcard(cap.keys.client_index("svc")) == CAP + 3 + int(
        gateway(cap).cluster)
    assert await cap.revoke_client_tokens("svc") > 0
    assert await redis_of(cap).exists(cap.keys.own_index("svc"), cap.keys.client_index("svc"),
                                  cap.keys.user_index("alice")) == 0


@pytest.mark.rule("abuse.bounded.grants-per-user")
async def test_an_index_over_a_smaller_cap_shrinks_a_little_with_each_new_grant(
    store: TokenStore, clock: FakeClock
) -> None:
    """Grants written before the cap (or by a store with a larger one) are not revoked all
    at once: each new grant displaces at most ``ISSUE_EVICTIONS``, oldest first."""
    issued = await _loop(capped(store, user=100), clock, _spec(), 3 * CAP)
    small = capped(store)
    sizes = []
    for _ in range(CAP + 1):
        clock.advance(1)
        await small.issue(_spec())
        sizes.append(int(await redis_of(small).zcard(small.keys.user_index("mallory"))))
    shrink = ISSUE_EVICTIONS - 1  # one displaced for the new grant, the rest shrink it
    assert shrink >= 1
    assert sizes == [3 * CAP - shrink * n for n in range(1, CAP + 2)]
    evicted = ISSUE_EVICTIONS * (CAP + 1)
    assert [await _live(small, i) for i in issued] == \
        [False] * evicted + [True] * (3 * CAP - evicted)


@pytest.mark.parametrize("name", ["max_grants_per_user", "max_grants_per_client"])
@pytest.mark.parametrize("value", [0, -1, MAX_GRANTS + 1, True, 2.5, "10"])
def test_a_cap_out_of_range_is_refused_at_construction_naming_the_fix(
    name: str, value: object
) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a whole number of live grants from "
                                         f"1 to {MAX_GRANTS}, e.g. {name}="):
        TokenStore.from_url(None, **{name: value})  # type: ignore[arg-type]


def test_the_default_caps_leave_room_for_many_devices_and_instances() -> None:
    store = TokenStore.from_url(None)
    assert caps(store) == (
        GRANTS_PER_USER, GRANTS_PER_CLIENT) == (100, 1000)
    edge = TokenStore.from_url(None, max_grants_per_user=1, max_grants_per_client=MAX_GRANTS)
    assert caps(edge) == (1, MAX_GRANTS)


@pytest.mark.rule("abuse.bounded.grants-per-user")
async def test_a_revoked_grant_of_a_client_no_longer_counts_against_its_cap(
    store: TokenStore,
) -> None:
    """Revoking a client_credentials grant takes it out of the client's own index, so the
    next grant within the cap evicts nothing (its earliest-expiring grant stays live)."""
    small = capped(store, client=3)
    spec = NewTokens(client_id="svc", subject="svc", subject_type="client",
                     scopes=frozenset({"read"}))
    first, second, third = [await small.issue(replace(spec, lifetime=100 * n))
                            for n in (1, 2, 3)]
    assert await small.revoke_grant(second.token.grant_id) == 1
    fourth = await small.issue(replace(spec, lifetime=400))
    for kept in (first, third, fourth):
        assert await small.resolve(kept.access_token) is not None
    assert await small.resolve(second.access_token) is None
