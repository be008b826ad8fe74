"""What the cap displaces goes within the issue that displaced it (store/_grants.py ``_write``).

On a single node the issuing script (``_grant_scripts.ISSUE``) revokes the displaced grants
itself, in the issue's one round trip; on a cluster the issuer sweeps them before it
returns. Either way a displaced grant, and every grant exchanged from it (RFC 8693), is
dead when the issue answers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from oauth_middleware.store import NewTokens, TokenStore, _grant_scripts
from oauth_middleware.store._gateway import Script
from tests.conftest import FakeClock
from tests.store_helpers import ALL_SCRIPTS, commands_run, gateway, redis_of, texts
from tests.test_grant_cap import capped

#: Every command Redis runs for one client-credentials issue at the cap on a single node,
#: those inside the script included (measured: the write, both index entries, and the
#: displaced grant's members, entries and exchanged-grant read).
ISSUE_AT_CAP_COMMANDS = 24


def _name(command: Any) -> str:
    """A command's name, a script's by its module-level name in ``_grant_scripts``."""
    if command[0] != "EVALSHA":
        return str(command[0])
    return next(name for name, value in vars(_grant_scripts).items()
                if isinstance(value, Script) and value.sha == command[1])


def _own(lifetime: int = 3600) -> NewTokens:
    return NewTokens(client_id="svc", subject="svc", subject_type="client",
                     scopes=frozenset({"read"}), lifetime=lifetime)


@pytest.mark.rule("abuse.bounded.grants-per-user")
async def test_a_displaced_grant_is_dead_with_its_exchanged_grants_when_the_issue_returns(
    store: TokenStore, clock: FakeClock
) -> None:
    cap = capped(store, user=2)
    parent = await cap.issue(NewTokens(client_id="web", subject="alice", lifetime=3600,
                                       scopes=frozenset({"read"})))
    child = await cap.issue_exchanged(NewTokens(
        client_id="api-b", subject="alice", scopes=frozenset({"read"}), lifetime=7200,
        parent_grant=parent.token.grant_id, exchange_depth=1), parent.access_token)
    assert child is not None and await cap.resolve(child.access_token) is not None
    clock.advance(1)
    newest = await cap.issue(NewTokens(client_id="web", subject="alice", lifetime=3600,
                                       scopes=frozenset({"read"})))
    assert await cap.resolve(parent.access_token) is None
    assert await cap.resolve(child.access_token) is None
    assert await cap.resolve(newest.access_token) is not None
    redis, k = redis_of(cap), cap.keys
    gone = [parent.token.grant_id, child.token.grant_id]
    assert await redis.exists(*(k.members(g) for g in gone), k.children(gone[0])) == 0
    assert texts(await redis.zrange(k.user_index("alice"), 0, -1)) == [newest.token.grant_id]
    assert await redis.zrange(k.client_index("api-b"), 0, -1) == []
    assert texts(await redis.zrange(k.client_index("web"), 0, -1)) == [newest.token.grant_id]
    assert await redis.zcard(k.displaced(k.user_index("alice"))) == 0


@pytest.mark.not_on_cluster  # counts one node's round trips and commands
@pytest.mark.rule("abuse.bounded.grants-per-client")
async def test_a_client_credentials_issue_at_the_cap_is_one_round_trip_on_a_single_node(
    store: TokenStore, clock: FakeClock
) -> None:
    """The displaced grant is revoked inside the issuing script: no sweep round trips after
    it (a regression made it three round trips and ten commands more)."""
    for script in ALL_SCRIPTS:
        await redis_of(store).script_load(script.source)
    cap = capped(store, client=3)
    issued = []
    for _ in range(3):
        clock.advance(1)
        issued.append(await cap.issue(_own()))
    pool = redis_of(store).connection_pool
    original: Any = pool.get_connection
    trips: list[int] = []

    async def counting(*args: Any, **kwargs: Any) -> Any:
        trips.append(1)
        return await original(*args, **kwargs)

    before = await commands_run(store)
    pool.get_connection = counting  # type: ignore[method-assign]
    try:
        newest = await cap.issue(_own())
    finally:
        pool.get_connection = original  # type: ignore[method-assign]
    assert len(trips) == 1
    if not gateway(store).embedded:  # fakeredis keeps no command statistics
        assert await commands_run(store) - before <= ISSUE_AT_CAP_COMMANDS
    assert await cap.resolve(issued[0].access_token) is None
    assert [await cap.resolve(i.access_token) is not None for i in [*issued[1:], newest]] == [
        True] * 3
    assert await redis_of(store).zcard(store.keys.own_index("svc")) == 3
    assert await redis_of(store).exists(store.keys.members(issued[0].token.grant_id)) == 0


@pytest.mark.rule("abuse.bounded.grants-per-client")
async def test_a_client_credentials_issue_at_the_cap_sends_only_what_its_topology_needs(
    store: TokenStore, clock: FakeClock
) -> None:
    """One script on a single node; on a cluster the write and the indexes (two tags) and
    the displaced grant's sweep (which reads its exchanged grants itself): no displaced set
    for a client's own grants, no read or removal that finds nothing to do, and no ``ZREM``
    of its own for the swept grant's entry in the client's index, which the next issue's
    ``INDEXES`` drops."""
    await gateway(store).load(*ALL_SCRIPTS)
    cap = capped(store, client=2)
    issued = []
    for _ in range(2):
        clock.advance(1)
        issued.append(await cap.issue(_own()))
    sent: list[Any] = []
    original = gateway(store)._exchange

    async def logged(commands: Any, *args: Any, **kwargs: Any) -> Any:
        sent.extend(commands)
        return await original(commands, *args, **kwargs)

    gateway(store)._exchange = logged  # type: ignore[method-assign]
    try:
        for _ in range(2):  # the second drops the first one's displaced grant from the index
            clock.advance(1)
            issued.append(await cap.issue(_own()))
    finally:
        del gateway(store)._exchange
    expected = (["WRITE_GRANT", "INDEXES", "SWEEP_GRANT"] if gateway(store).cluster
                else ["ISSUE"])
    assert [_name(c) for c in sent] == expected * 2
    if gateway(store).cluster:
        indexes = sent[len(expected) + 1]
        assert texts(indexes[-1:]) == [issued[0].token.grant_id]
    assert [await cap.resolve(i.access_token) is None for i in issued] == [
        True, True, False, False]
    redis, k = redis_of(store), store.keys
    assert sorted(texts(await redis.zrange(k.client_index("svc"), 0, -1))) == sorted(
        [issued[1].token.grant_id, *(i.token.grant_id for i in issued[2:])]
        if gateway(store).cluster else [i.token.grant_id for i in issued[2:]])
    assert await redis.exists(k.displaced(k.own_index("svc"))) == 0


@pytest.mark.rule("abuse.bounded.grants-per-client")
async def test_fifty_concurrent_client_credentials_issues_at_the_cap_leave_exactly_the_cap(
    store: TokenStore, clock: FakeClock
) -> None:
    """Five stores (several connections) issue fifty at once past a cap of three: the
    client's own index ends with the three live grants, its client index with them and
    (on a cluster) only dead grants waiting for their store's next issue, every other one
    is dead, and nothing is left in a displaced set."""
    stores = [capped(store, client=3) for _ in range(5)]
    old = [await stores[0].issue(_own()) for _ in range(3)]
    clock.advance(1)
    new = await asyncio.gather(*(s.issue(_own()) for s in stores for _ in range(10)))
    live = [i for i in [*old, *new] if await store.resolve(i.access_token) is not None]
    assert len(live) == 3 and not set(live) & set(old)
    redis, k = redis_of(store), store.keys
    kept = sorted(i.token.grant_id for i in live)
    assert sorted(texts(await redis.zrange(k.own_index("svc"), 0, -1))) == kept
    # on a cluster, swept grants wait in the client index for their store's next issue
    indexed = set(texts(await redis.zrange(k.client_index("svc"), 0, -1)))
    assert indexed >= set(kept)
    assert [await redis.exists(k.members(g)) for g in indexed - set(kept)] == [0] * len(
        indexed - set(kept))
    assert gateway(store).cluster or indexed == set(kept)
    assert await redis.exists(k.displaced(k.own_index("svc"))) == 0
    assert len([key async for key in redis.scan_iter(match=k.members("*"))]) == 3
