"""Device flow, pushed requests, token exchange and DPoP send only single-slot commands.

Redis Cluster refuses a script whose keys span slots (CROSSSLOT); ``tests/single_slot.py``
checks what the store really sends. ``--single-slot`` turns the guard on for any test.
"""

from __future__ import annotations

import asyncio

import pytest

from oauth_middleware.models import Client, PushedAuthorization
from oauth_middleware.security import digest
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.store._device import EVICT, WRITE
from tests.single_slot import cross_slot
from tests.store_helpers import evalsha, gateway, redis_of


def test_the_guard_flags_a_script_whose_keys_span_slots() -> None:
    assert cross_slot(("EVALSHA", "ab", 2, "om:device:x", "om:devices:tv", "arg")) is not None
    assert cross_slot(("EVALSHA", "ab", 2, "om:a:{t}", "om:b:{t}", "om:c:other")) is None
    assert cross_slot(("MGET", "om:at:{g}:1", "om:at:{h}:2")) is not None
    assert cross_slot(("GET", "om:x")) is None


async def _device_flow(store: TokenStore, cap: int) -> list[str]:
    made = [await store.device.create(client_id="tv", client_generation="", scopes=("a",),
                                      audience=(), lifetime=600, interval=5, cap=cap)
            for _ in range(cap + 2)]
    request = await store.device.by_user_code(made[-1].user_code)
    assert request is not None
    assert await store.device.decide(request, made[-1].user_code, approve=True,
                                     subject="alice", scopes=("a",))
    polled = await store.device.poll(made[-1].device_code, "tv", step=5)
    assert (polled.outcome, polled.subject) == ("approved", "alice")
    return [m.device_code for m in made]


@pytest.mark.rule("device.codes")
async def test_the_device_flow_sends_only_single_slot_commands(
        store: TokenStore, single_slot: list[str]) -> None:
    codes = await _device_flow(store, cap=2)
    assert [(await store.device.poll(c, "tv", step=5)).outcome for c in codes[:2]] == [
        "invalid", "invalid"]
    assert await redis_of(store).zcard(store.keys.device_index("tv")) == 2
    assert single_slot == []


@pytest.mark.rule("device.codes")
async def test_fifty_concurrent_device_requests_of_one_client_leave_exactly_the_cap(
        store: TokenStore, single_slot: list[str]) -> None:
    made = await asyncio.gather(*(store.device.create(
        client_id="tv", client_generation="", scopes=("a",), audience=(), lifetime=600,
        interval=5, cap=3) for _ in range(50)))
    polls = [await store.device.poll(m.device_code, "tv", step=5) for m in made]
    assert sorted(p.outcome for p in polls).count("pending") == 3
    live = [m for m, p in zip(made, polls, strict=True) if p.outcome == "pending"]
    redis = redis_of(store)
    assert sorted(await redis.zrange(store.keys.device_index("tv"), 0, -1)) == sorted(
        digest(m.device_code).encode() for m in live)
    assert sorted(await redis.keys(f"{store.keys.prefix}usercode:*")) == sorted(
        store.keys.user_code(digest(m.user_code)).encode() for m in live)
    assert all([await store.device.by_user_code(m.user_code) is not None for m in live])
    assert single_slot == []


@pytest.mark.rule("device.codes")
async def test_a_request_evicted_before_it_was_written_stays_evicted(
        store: TokenStore) -> None:
    key = store.keys.device("a" * 64)
    assert await gateway(store).one(evalsha(EVICT, [key], [60_000]), EVICT) is None
    written = await gateway(store).one(evalsha(WRITE, [key], [60_000, "client", "tv"]), WRITE)
    assert written == 0
    assert await redis_of(store).hgetall(key) == {b"state": b"evicted"}


async def test_pushed_requests_send_only_single_slot_commands(
        store: TokenStore, single_slot: list[str]) -> None:
    record = PushedAuthorization(client_id="web", query="scope=a")
    references = [await store.pushed.push(record, cap=2) for _ in range(3)]
    assert await store.pushed.peek("web", references[0]) is None
    assert await store.pushed.peek("web", references[-1], keep_for=60) == record
    assert await store.pushed.take("web", digest(references[-1])) == record
    assert await store.pushed.take("web", digest(references[-1])) is None
    assert single_slot == []


async def test_dpop_records_send_only_single_slot_commands(
        store: TokenStore, single_slot: list[str]) -> None:
    assert await store.dpop.first_use("jkt", "jti-1", 60)
    assert not await store.dpop.first_use("jkt", "jti-1", 60)
    current, _ = await store.dpop.nonces(300)
    assert (await store.dpop.nonces(300))[0] == current
    assert single_slot == []


async def test_an_exchange_chain_links_and_revokes_with_single_slot_commands(
        store: TokenStore, cross_slot_commands: list[str]) -> None:
    for client_id in ("web", "api-b"):
        await store.save_client(Client(client_id=client_id, title=client_id,
                                       redirect_uris=("https://app.test/cb",), public=True))
    parent = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"read"})))
    child = await store.issue_exchanged(NewTokens(
        client_id="api-b", subject="alice", scopes=frozenset({"read"}),
        parent_grant=parent.token.grant_id, exchange_depth=1), parent.access_token)
    assert child is not None
    assert await store.revoke_grant(parent.token.grant_id) > 0
    assert await store.lookup(child.access_token) is None
    assert await redis_of(store).exists(store.keys.children(parent.token.grant_id)) == 0
    # Issuing a grant (ISSUE) and saving a client span client and user slots on this
    # branch: key schema 2 (the cluster branch) tags them; exchange adds no other.
    assert [c for c in cross_slot_commands
            if "_grant_scripts.ISSUE" not in c and "SAVE_CLIENT" not in c] == []
