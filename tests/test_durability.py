"""Durable writes on one node (issue 13 §2): ``WAIT`` only when replicas are required.

A primary without replicas gets no ``WAIT`` at all (the commands are counted); a store
that requires a replica the node does not have answers 503 + Retry-After on revoke/,
on a code redemption and on a refresh rotation, never a success, although each write
is done on the primary: what a client then sees on retry is asserted here too.
The failover half is tests/test_durability_failover.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from oauth_middleware.store import NewTokens, StoreNotDurable, TokenStore
from oauth_middleware.store._gateway.durability import Durability
from tests.conftest import FakeClock
from tests.faults import assert_unavailable_json, inject
from tests.redis_process import RedisProcess
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
from tests.store_helpers import gateway, get_code, get_refresh, redis_of
from tests.topologies import acl_server

#: Fault injection drives one node's connection pool; tests/test_cluster.py covers WAIT per node.
pytestmark = pytest.mark.not_on_cluster

#: Every command is counted, none fails (tests/faults.py).
NEVER = 10**9


def _refresh(token: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": token}


def _url(backend: str, request: pytest.FixtureRequest) -> str | None:
    if backend == "fake":
        return None
    server: RedisProcess = request.getfixturevalue("redis_server")
    return server.url


@pytest.fixture
async def durable(store: TokenStore, backend: str, clock: FakeClock,
                  request: pytest.FixtureRequest) -> AsyncIterator[TokenStore]:
    """A store on ``store``'s server that requires one replica, which that server lacks."""
    made = TokenStore.from_url(_url(backend, request), clock=clock, min_replicas=1,
                               replica_timeout=20)
    yield made
    await made.aclose()


def _assert_not_durable(response: httpx.Response) -> None:
    assert_error(response, 503, "temporarily_unavailable")
    assert_unavailable_json(response)


@pytest.mark.rule("redis.durable-writes")
@pytest.mark.parametrize("min_replicas", [None, 0])
async def test_a_primary_without_replicas_gets_no_wait_after_revocation_redemption_or_rotation(
    backend: str, clock: FakeClock, request: pytest.FixtureRequest, store: TokenStore,
    min_replicas: int | None,
) -> None:
    """(``store`` picks the backend and empties it; fakeredis gives each store its own.)"""
    single = TokenStore.from_url(_url(backend, request), clock=clock, min_replicas=min_replicas)
    plan = await inject(single)
    web = await confidential(single)
    plan.arm(NEVER)
    try:
        async with http(build_app(single)) as client:
            tokens = await code_tokens(client, single, web)
            rotated = await client.post(TOKEN_PATH, data=_refresh(tokens["refresh_token"]),
                                        headers=auth_of(web))
            assert rotated.status_code == 200, rotated.text
            access = rotated.json()["access_token"]
            revoked = await client.post(REVOKE_PATH, data={"token": access},
                                        headers=auth_of(web))
            assert revoked.status_code == 200
        assert plan.sent.count("EVALSHA") >= 3 and "WAIT" not in plan.sent, plan.sent
        # Auto asks a real primary once for its replicas; a fixed 0 (and fakeredis) never asks.
        asked = 1 if backend == "redis" and min_replicas is None else 0
        assert plan.sent.count("INFO") == asked
        assert await single.resolve(access) is None
        old = await get_refresh(single, tokens["refresh_token"])
        assert old is not None and old.rotated
    finally:
        await single.aclose()


@pytest.mark.real_redis_only
@pytest.mark.rule("redis.durable-writes", "redis.token-503")
async def test_a_required_replica_that_is_missing_makes_redeem_refresh_and_revoke_answer_503(
    store: TokenStore, durable: TokenStore,
) -> None:
    await redis_of(store).script_flush()  # a write whose script is loaded first still counts
    web = await confidential(store)
    async with http(build_app(store)) as plain, http(build_app(durable)) as client:
        rotating = await code_tokens(plain, store, web)
        revoking = await code_tokens(plain, store, web)
        code = await new_code(store, "web")
        plan = await inject(durable)
        plan.arm(NEVER)
        answers = [
            await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web)),
            await client.post(TOKEN_PATH, data=_refresh(rotating["refresh_token"]),
                              headers=auth_of(web)),
            await client.post(REVOKE_PATH, data={"token": revoking["access_token"]},
                              headers=auth_of(web)),
        ]
        for answer in answers:
            _assert_not_durable(answer)
        assert plan.sent.count("WAIT") >= 3  # a missing script is loaded and sent again
        # Each write is done on the primary all the same: the code is used, the refresh
        # token retired, the access token gone. What a client sees when it tries again:
        used = await get_code(store, code)
        assert used is not None and used.used
        replayed = await plain.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
        assert_error(replayed, 400, "invalid_grant")
        retired = await get_refresh(store, rotating["refresh_token"])
        assert retired is not None and retired.rotated
        reused = await plain.post(TOKEN_PATH, data=_refresh(rotating["refresh_token"]),
                                  headers=auth_of(web))
        assert_error(reused, 400, "invalid_grant")
        assert await store.resolve(revoking["access_token"]) is None
        again = await plain.post(REVOKE_PATH, data={"token": revoking["access_token"]},
                                 headers=auth_of(web))
        assert again.status_code == 200 and again.json() == {}


@pytest.mark.rule("redis.durable-writes")
async def test_one_wait_covers_every_durable_list_of_a_tick_and_spares_the_others(
    store: TokenStore,
) -> None:
    """Two durable writes and a read queued together: one ``WAIT``, for the writes only.
    fakeredis knows no ``WAIT`` (an error reply) and the node has no replica (0): both
    confirm nothing, so both writes fail, done on the primary."""
    gate = gateway(store)
    gate.durability = Durability(1, 20)
    await redis_of(store).set("c", b"read")
    plan = await inject(store)
    plan.arm(NEVER)
    answers: list[object] = await asyncio.gather(
        gate.run([("SET", "a", b"1")], durable=True),
        gate.run([("SET", "b", b"2")], durable=True),
        gate.run([("GET", "c")]), return_exceptions=True)
    first, second, read = answers
    assert plan.sent == ["SET", "SET", "GET", "WAIT"]
    for failed in (first, second):
        assert isinstance(failed, StoreNotDurable) and failed.replies == [b"OK"]
        assert str(failed) == "the token store is unavailable"
    assert read == [b"read"]
    assert await redis_of(store).mget("a", "b") == [b"1", b"2"]


@pytest.mark.parametrize(("options", "named"), [
    ({"min_replicas": -1}, "min_replicas"), ({"min_replicas": True}, "min_replicas"),
    ({"min_replicas": 17}, "min_replicas"), ({"replica_timeout": 0}, "replica_timeout"),
    ({"replica_timeout": 500}, "replica_timeout"), ({"replica_timeout": 0.1}, "replica_timeout"),
])
def test_durability_settings_that_cannot_work_are_refused_at_start(
    options: dict[str, object], named: str,
) -> None:
    with pytest.raises(ValueError, match=named):
        TokenStore.from_url("redis://127.0.0.1:1/0", socket_timeout=0.5,
                            **options)  # type: ignore[arg-type]


def test_the_embedded_store_refuses_a_replica_it_cannot_have() -> None:
    with pytest.raises(ValueError, match="no replicas"):
        TokenStore.from_url(None, min_replicas=1)
    assert TokenStore.from_url(None, min_replicas=0).embedded


@pytest.mark.rule("redis.durable-writes")
async def test_an_acl_user_refused_info_sends_no_wait_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with acl_server(prefix="om:") as made:
        store = TokenStore.from_url(made.url(), prefix="om:")
        try:
            plan = await inject(store)
            plan.arm(NEVER)
            tokens = [await _issue(store) for _ in range(2)]
            for token in tokens:
                assert await store.revoke_token(token)
                assert await store.resolve(token) is None
        finally:
            await store.aclose()
    assert plan.sent.count("INFO") == 1 and "WAIT" not in plan.sent
    said = [r.getMessage() for r in caplog.records if "INFO is refused" in r.getMessage()]
    assert len(said) == 1 and "min_replicas=1" in said[0] and "store-pw" not in said[0]


async def _issue(store: TokenStore) -> str:
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"read"})))
    return issued.access_token
