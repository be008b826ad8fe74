"""Revoking a client's or a user's thousands of grants reads their index page by page.

The index is read with ZSCAN, about ``REVOKE_BATCH`` entries a step, and each
step's grants are revoked in one round trip, so no read or round trip grows with
the number of grants (one ``ZRANGE`` of 50,000 entries took ~20 ms of Redis).
Commands are counted where redis-py packs them, pipelined or not.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from oauth_middleware.limits import REVOKE_BATCH
from oauth_middleware.security import new_grant_id
from oauth_middleware.store import NewTokens, TokenStore
from tests.conftest import FakeClock
from tests.sent import commands_sent
from tests.store_helpers import gateway, mint, redis_of, texts

#: Grants of the client; a tenth of them also in the user's index.
GRANTS = 5000
#: A ZSCAN step may return a little more than its COUNT on a real Redis (a hash bucket
#: is returned whole); never the whole index.
STEP_BOUND = 2 * REVOKE_BATCH


@contextmanager
def sent_commands() -> Iterator[list[tuple[Any, ...]]]:
    """Every command sent to Redis meanwhile, with its arguments."""
    with commands_sent() as sent:
        yield sent


async def _seed(store: TokenStore) -> None:
    """Grants written with the store's key schema in one pipeline (thousands of issuing
    scripts would only slow the set-up)."""
    expiry = int((store.clock() + 3600) * 1000)
    async with redis_of(store).pipeline(transaction=False) as pipe:
        for n in range(GRANTS):
            grant_id = new_grant_id()
            user = "alice" if n % 10 == 0 else f"u{n}"
            _, members = mint(store, grant_id, NewTokens(client_id="web", subject=user))
            for key, value, ttl in members:
                pipe.set(key, value, px=ttl)
                pipe.sadd(store.keys.members(grant_id), key)
            pipe.zadd(store.keys.client_index("web"), {grant_id: expiry})
            pipe.zadd(store.keys.user_index(user), {grant_id: expiry})
        await pipe.execute()


def _named(sent: Sequence[tuple[Any, ...]], name: str) -> list[tuple[Any, ...]]:
    return [args for args in sent if str(args[0]).upper() == name]


@contextmanager
def round_trips(store: TokenStore) -> Iterator[list[int]]:
    """The number of commands of each round trip the store sends through ``run``."""
    sizes: list[int] = []
    original = gateway(store).run

    async def counted(commands: Sequence[Any], *scripts: Any, durable: bool = False
                      ) -> list[Any]:
        sizes.append(len(commands))
        return await original(commands, *scripts, durable=durable)

    gateway(store).run = counted  # type: ignore[method-assign]
    try:
        yield sizes
    finally:
        gateway(store).run = original  # type: ignore[method-assign]


@pytest.mark.rule("revoke.index-bounded")
async def test_revoking_thousands_of_grants_reads_the_index_in_bounded_pages(
    store: TokenStore,
) -> None:
    await _seed(store)
    by_user: list[int] = []
    by_client: list[int] = []
    with sent_commands() as sent, round_trips(store) as trips:
        assert await store.revoke_user("alice", progress=lambda done, _: by_user.append(done))
        revoked = await store.revoke_client_tokens(
            "web", progress=lambda done, _: by_client.append(done))
    assert revoked == GRANTS - GRANTS // 10
    # Only the exchanged-from sets of the grants are read whole (RFC 8693 chains): each
    # holds at most EXCHANGED_PER_GRANT ids; no index is ever read at once.
    whole = [command for command in _named(sent, "ZRANGE") if ":children:" not in command[1]]
    assert whole == [] and _named(sent, "ZRANGEBYSCORE") == []
    scans = _named(sent, "ZSCAN")
    assert all(texts(args[-2:]) == ["COUNT", str(REVOKE_BATCH)] for args in scans), scans[:1]
    assert len(scans) >= GRANTS // STEP_BOUND
    # Each step: at most STEP_BOUND grants read, revoked in one round trip, then unindexed.
    for steps in (by_user, by_client):
        assert max(b - a for a, b in zip([0, *steps], steps, strict=False)) <= STEP_BOUND
    assert by_client[-1] == GRANTS - GRANTS // 10 and len(by_client) >= 5
    # A round trip: each grant's sweep and the read of what was exchanged from it (RFC 8693).
    assert max(trips) <= 2 * STEP_BOUND + 2, trips
    # Both indexes are empty: revoke-user dropped alice's grants from the client's too.
    assert await redis_of(store).exists(store.keys.client_index("web"),
                                    store.keys.user_index("alice")) == 0
    assert [k async for k in redis_of(store).scan_iter(match=store.keys.access_pattern)] == []


@pytest.mark.rule("revoke.index-bounded", "revoke.index-redis-clock")
async def test_a_process_whose_clock_runs_ahead_never_hides_a_live_grant_from_a_sweep(
    store: TokenStore, clock: FakeClock
) -> None:
    """Another host two hours ahead (a skewed clock, a wrong time zone setting) issues a
    grant for the same user and client: its pruning takes the other grant, alive in Redis
    for another hour, out of both indexes, and revoke-user and client removal miss it."""
    spec = NewTokens(client_id="web", subject="alice", scopes=frozenset({"read"}))
    first = await store.issue(spec)
    ahead = TokenStore(gateway(store), prefix=store.keys.prefix, clock=lambda: clock() + 7200)
    await ahead.issue(spec)
    assert await redis_of(store).zscore(store.keys.user_index("alice"),
                                    first.token.grant_id) is not None
    assert await store.revoke_user("alice") == 2
    assert await store.resolve(first.access_token) is None
    assert await redis_of(store).zcard(store.keys.client_index("web")) == 0


@pytest.mark.rule("revoke.index-bounded", "revoke.index-redis-clock")
async def test_a_process_whose_clock_runs_behind_keeps_the_grants_it_issues_indexed(
    store: TokenStore, clock: FakeClock
) -> None:
    """A host two hours behind issues a one-hour grant: scored by that host's clock, the
    entry had passed an hour ago, and the index's PEXPIREAT with it, so the index vanished
    at once while the grant lived in Redis for an hour, out of every sweep's reach."""
    behind = TokenStore(gateway(store), prefix=store.keys.prefix, clock=lambda: clock() - 7200)
    issued = await behind.issue(NewTokens(client_id="web", subject="alice", lifetime=3600))
    assert await behind.resolve(issued.access_token) == issued.token
    indexes = (store.keys.user_index("alice"), store.keys.client_index("web"))
    for index in indexes:
        assert await redis_of(store).zscore(index, issued.token.grant_id) is not None
        assert 3_600_000 < await redis_of(store).pttl(index) <= 3_601_000
    assert await store.revoke_client_tokens("web") == 1
    assert await behind.resolve(issued.access_token) is None
    assert [k async for k in redis_of(store).scan_iter(match=store.keys.access_pattern)] == []
    assert await redis_of(store).exists(*indexes) == 0
