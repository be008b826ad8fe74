"""Nothing answered 200 is lost to a failover (issue 13 §2), proved on a real Sentinel set.

A primary with one replica and three sentinels (tests/topologies.py). The store runs
with the default ``min_replicas`` (auto: the primary has a replica, so 1): a
revocation, a code redemption and a refresh rotation answered 200 were acknowledged
by the replica, so after ``kill -9`` of the primary and the replica's promotion the
token stays revoked, the code stays redeemed and the old refresh token stays retired.
The same writes while the replica is stopped (SIGSTOP) time out in ``WAIT`` and
answer 503 + Retry-After, never 200. Waits poll with a bound; nothing sleeps to time.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from oauth_middleware.security import digest, grant_id_of
from oauth_middleware.store import StoreUnavailable, TokenStore
from oauth_middleware.toolbox import RegisteredClient
from tests.faults import assert_unavailable_json, inject
from tests.server.token_harness import (
    REVOKE_PATH,
    TOKEN_PATH,
    assert_error,
    auth_of,
    build_app,
    code_form,
    code_tokens,
    confidential,
    http,
    new_code,
)
from tests.topologies import FORM_BOUND, Node, SentinelSet, sentinel, until

#: Milliseconds a durable write waits for the replica here: short, the replica is local.
REPLICA_TIMEOUT = 100
#: Requests fired at once.
CONCURRENT = 50
#: Every command is counted, none fails (tests/faults.py).
NEVER = 10**9


@contextlib.contextmanager
def stopped(node: Node) -> Iterator[None]:
    """SIGSTOP ``node`` (it keeps its sockets and answers nothing), SIGCONT on leaving."""
    assert node.proc is not None
    node.proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        node.proc.send_signal(signal.SIGCONT)


def _in_sync(made: SentinelSet) -> bool:
    primary: Any = made.primary.client().info("replication")
    replica: Any = made.replica.client().info("replication")
    return int(replica["slave_repl_offset"]) >= int(primary["master_repl_offset"])


async def _writes(client: httpx.AsyncClient, web: RegisteredClient, revoked: dict[str, Any],
                  rotated: dict[str, Any], code: str) -> list[httpx.Response]:
    """A revocation, a code redemption and a refresh rotation, in that order."""
    return [
        await client.post(REVOKE_PATH, data={"token": revoked["access_token"]},
                          headers=auth_of(web)),
        await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web)),
        await client.post(TOKEN_PATH, headers=auth_of(web), data={
            "grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]}),
    ]


async def _answering(store: TokenStore, token: str) -> bool:
    """Whether ``token`` resolves, asked until the store answers at all (a failover takes
    seconds); fails past the bound."""
    deadline = time.monotonic() + FORM_BOUND
    while True:
        try:
            return await store.resolve(token) is not None
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)  # polling the store back, not timing a behaviour


def _assert_not_durable(response: httpx.Response) -> None:
    assert_error(response, 503, "temporarily_unavailable")
    assert_unavailable_json(response)


@pytest.mark.topology
@pytest.mark.failover
@pytest.mark.rule("redis.durable-writes")
async def test_revocations_redemptions_and_rotations_answered_200_survive_kill_9_of_the_primary(
) -> None:
    with sentinel() as made:
        store = TokenStore.from_url(made.url, replica_timeout=REPLICA_TIMEOUT)
        try:
            web = await confidential(store)
            async with http(build_app(store)) as client:
                grants = [await code_tokens(client, store, web) for _ in range(4)]
                codes = [await new_code(store, "web") for _ in range(2)]
                until(lambda: _in_sync(made), "the replica has the seeded grants")
                confirmed = await _writes(client, web, grants[0], grants[1], codes[0])
                assert [r.status_code for r in confirmed] == [200, 200, 200], confirmed[1].text
                with stopped(made.replica):
                    for refused in await _writes(client, web, grants[2], grants[3], codes[1]):
                        _assert_not_durable(refused)
                    made.primary.kill()  # the replica resumes only once its primary is dead
                until(lambda: made.primary_port() == made.replica.port, "the promotion")
                redeemed, rotated = confirmed[1].json(), confirmed[2].json()
                # What the 200s delivered works on the promoted replica ...
                assert await _answering(store, redeemed["access_token"])
                assert await store.resolve(rotated["access_token"]) is not None
                # ... and what they ended stays ended.
                assert await store.resolve(grants[0]["access_token"]) is None
                replayed = await client.post(TOKEN_PATH, data=code_form(codes[0]),
                                             headers=auth_of(web))
                assert_error(replayed, 400, "invalid_grant")
                reused = await client.post(TOKEN_PATH, headers=auth_of(web), data={
                    "grant_type": "refresh_token", "refresh_token": grants[1]["refresh_token"]})
                assert_error(reused, 400, "invalid_grant")
            assert made.replica.client().info("replication")["role"] == "master"
        finally:
            await store.aclose()


@pytest.mark.topology
@pytest.mark.rule("redis.durable-writes")
async def test_fifty_concurrent_revocations_all_reach_the_replica_before_they_answer_200(
) -> None:
    with sentinel() as made:
        store = TokenStore.from_url(made.url, replica_timeout=REPLICA_TIMEOUT)
        try:
            web = await confidential(store)
            async with http(build_app(store)) as client:
                grants = [await code_tokens(client, store, web) for _ in range(CONCURRENT)]
                plan = await inject(store)
                plan.arm(NEVER)
                answers = await asyncio.gather(*(
                    client.post(REVOKE_PATH, data={"token": g["access_token"]},
                                headers=auth_of(web)) for g in grants))
            assert [a.status_code for a in answers] == [200] * CONCURRENT
            # Revocations of one loop tick share a round trip, and one WAIT covers them.
            assert 1 <= plan.sent.count("WAIT") < CONCURRENT
            assert plan.sent.count("EVALSHA") >= CONCURRENT
            # Answered 200 means on the replica already: read it there, before anything else.
            keys = [_access_key(store, g["access_token"]) for g in grants]
            assert made.replica.client().exists(*keys) == 0
        finally:
            await store.aclose()


def _access_key(store: TokenStore, token: str) -> str:
    grant_id = grant_id_of(token)
    assert grant_id is not None
    return store.keys.access(grant_id, digest(token))


@pytest.mark.topology
@pytest.mark.rule("redis.durable-writes")
async def test_a_stopped_replica_makes_a_revocation_answer_503_and_its_retry_200_once_it_resumes(
) -> None:
    with sentinel() as made:
        store = TokenStore.from_url(made.url, replica_timeout=REPLICA_TIMEOUT)
        try:
            web = await confidential(store)
            async with http(build_app(store)) as client:
                tokens = await code_tokens(client, store, web)
                revoke = {"token": tokens["access_token"]}
                with stopped(made.replica):
                    started = time.monotonic()
                    _assert_not_durable(await client.post(REVOKE_PATH, data=revoke,
                                                          headers=auth_of(web)))
                    assert time.monotonic() - started < 2.0  # WAIT's bound, not a hang
                # Done on the primary, not yet on the replica; the retry is idempotent.
                assert await store.resolve(tokens["access_token"]) is None
                retried = await client.post(REVOKE_PATH, data=revoke, headers=auth_of(web))
                assert retried.status_code == 200
            key = _access_key(store, tokens["access_token"])
            until(lambda: _in_sync(made), "the replica caught up")
            assert made.replica.client().exists(key) == 0
            assert made.primary.client().exists(key) == 0
        finally:
            await store.aclose()


@pytest.mark.topology
@pytest.mark.rule("redis.durable-writes")
async def test_a_replica_gone_for_good_costs_one_503_then_auto_stops_waiting_for_it() -> None:
    """``min_replicas`` auto reads the replica count again after a ``WAIT`` that timed
    out, not only every 30 s: once the primary has no replica left (a failover's new
    primary, a replica removed), the first write answers 503 and the next is a 200."""
    with sentinel() as made:
        store = TokenStore.from_url(made.url, replica_timeout=REPLICA_TIMEOUT)
        try:
            web = await confidential(store)
            async with http(build_app(store)) as client:
                first, second = (await code_tokens(client, store, web),
                                 await code_tokens(client, store, web))
                made.replica.kill()
                until(lambda: made.primary.client().info("replication")[
                    "connected_slaves"] == 0, "the primary saw its replica go")
                _assert_not_durable(await client.post(
                    REVOKE_PATH, data={"token": first["access_token"]}, headers=auth_of(web)))
                again = await client.post(REVOKE_PATH, data={"token": second["access_token"]},
                                          headers=auth_of(web))
                assert again.status_code == 200, again.text
                assert await store.resolve(second["access_token"]) is None
        finally:
            await store.aclose()
