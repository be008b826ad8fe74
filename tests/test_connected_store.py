"""A person's own grants in the store: listed and revoked by that person only (RFC 7009 §2.1).

Every backend (fake, redis, cluster): the ownership check and the sweep are one script in
the grant's slot, and the listing reads one index and then per-grant keys.
"""

from __future__ import annotations

import asyncio

import pytest

from oauth_middleware import TokenStore, issue_token, register_client
from oauth_middleware.security import grant_id_of
from oauth_middleware.toolbox import issue_code
from tests.conftest import FakeClock
from tests.store_helpers import redis_of, texts

CB = "https://a.example/cb"


async def _clients(store: TokenStore) -> None:
    for client_id in ("web", "other"):
        await register_client(store, client_id.title(), client_id, CB, public=False,
                              scopes_list=["read", "write"], register_unknown_scopes=True)
    # A machine client whose id is a user's name: its own grants are never that user's.
    await register_client(store, "Machine", "alice", CB, public=False, scopes_list=["read"],
                          grant_types=["client_credentials"], register_unknown_scopes=True)


async def _keys_of(store: TokenStore, grant_id: str) -> set[str]:
    return set(texts(list(await redis_of(store).smembers(store.keys.members(grant_id)))))


async def test_a_person_sees_each_live_grant_of_theirs_with_fingerprints_only(
    store: TokenStore, clock: FakeClock,
) -> None:
    await _clients(store)
    first = await issue_token(store, "web", user="alice", scopes=["read"])
    clock.advance(10)
    second = await issue_token(store, "other", user="alice", scopes=["read", "write"])
    code = await issue_code(store, "web", user="alice", redirect_uri=CB, scopes=["write"])
    await issue_token(store, "web", user="bob")
    machine = await issue_token(store, "alice")  # client credentials of client "alice"

    code_grant = grant_id_of(code.code)
    assert code_grant is not None
    grants = {g.grant_id: g for g in await store.list_user_grants("alice")}

    assert set(grants) == {first.token.grant_id, second.token.grant_id, code_grant}
    assert machine.token.grant_id not in grants
    one = grants[first.token.grant_id]
    assert (one.client_id, one.user, one.scopes) == ("web", "alice", frozenset({"read"}))
    assert one.access_tokens == (first.token.fingerprint,) and one.refresh
    assert one.granted_at == first.token.issued_at and not one.pending
    two = grants[second.token.grant_id]
    assert (two.client_id, two.scopes, two.granted_at) == ("other", frozenset({"read", "write"}),
                                                           first.token.issued_at + 10)
    assert grants[code_grant].pending and grants[code_grant].access_tokens == ()
    shown = repr(list(grants.values()))
    assert first.access_token not in shown and str(first.refresh_token) not in shown
    assert await store.list_user_grants("nobody") == []


async def test_an_expired_grant_is_not_listed(store: TokenStore, clock: FakeClock) -> None:
    await _clients(store)
    await issue_token(store, "web", user="alice", lifetime=60)
    await register_client(store, "Short", "short", CB, public=False, scopes_list=["read"],
                          grant_types=["authorization_code"], register_unknown_scopes=True)
    short = await issue_token(store, "short", user="alice", lifetime=60)
    clock.advance(61)
    assert short.token.grant_id not in {g.grant_id for g in await store.list_user_grants("alice")}


@pytest.mark.rule("auth.login.token-identity-refused")
async def test_a_person_revokes_their_own_grant_and_nobody_elses(store: TokenStore) -> None:
    await _clients(store)
    alices = await issue_token(store, "web", user="alice")
    bobs = await issue_token(store, "web", user="bob")
    machine = await issue_token(store, "alice")
    bob_keys = await _keys_of(store, bobs.token.grant_id)

    assert not await store.revoke_user_grant("alice", bobs.token.grant_id)
    assert not await store.revoke_user_grant("alice", machine.token.grant_id)
    assert not await store.revoke_user_grant("alice", "{web}x")
    assert not await store.revoke_user_grant("alice", "")
    assert await store.resolve(bobs.access_token) is not None
    assert await store.resolve(machine.access_token) is not None
    assert await _keys_of(store, bobs.token.grant_id) == bob_keys
    assert not await redis_of(store).exists(store.keys.gone(bobs.token.grant_id))

    assert await store.revoke_user_grant("alice", alices.token.grant_id)
    assert await store.resolve(alices.access_token) is None
    assert await store.lookup(str(alices.refresh_token)) is None
    assert await _keys_of(store, alices.token.grant_id) == set()
    assert alices.token.grant_id not in texts(
        await redis_of(store).zrange(store.keys.user_index("alice"), 0, -1))
    assert alices.token.grant_id not in texts(
        await redis_of(store).zrange(store.keys.client_index("web"), 0, -1))
    assert not await store.revoke_user_grant("alice", alices.token.grant_id)


async def test_disconnecting_a_client_ends_its_grants_and_remembered_consent_only(
    store: TokenStore,
) -> None:
    await _clients(store)
    web = [await issue_token(store, "web", user="alice") for _ in range(3)]
    other = await issue_token(store, "other", user="alice")
    bobs = await issue_token(store, "web", user="bob")
    client = await store.get_client("web")
    assert client is not None
    for user in ("alice", "bob"):
        await store.remember_consent(user, "web", client_generation=client.generation,
                                     approved=["read"], lifetime=3600)

    assert await store.revoke_user_client("alice", "web") == (3, 1)

    assert all([await store.resolve(t.access_token) is None for t in web])
    assert await store.resolve(other.access_token) is not None
    assert await store.resolve(bobs.access_token) is not None
    assert await store.remembered_consent("alice", "web") == frozenset()
    assert await store.remembered_consent("bob", "web") == {"read"}
    assert [g.client_id for g in await store.list_user_grants("alice")] == ["other"]
    assert await store.revoke_user_client("alice", "web") == (0, 0)
    assert await store.revoke_user_client("bob", "other") == (0, 0)
    assert await store.resolve(other.access_token) is not None


async def test_fifty_concurrent_revocations_of_one_grant_all_leave_it_revoked_once(
    store: TokenStore,
) -> None:
    await _clients(store)
    issued = await issue_token(store, "web", user="alice")
    results = await asyncio.gather(*[
        store.revoke_user_grant("alice", issued.token.grant_id) for _ in range(50)])
    assert results.count(True) == 1
    assert await store.resolve(issued.access_token) is None
    assert await store.list_user_grants("alice") == []


async def test_disconnecting_reaches_a_displaced_grant_an_interrupted_issuer_left_live(
    store: TokenStore,
) -> None:
    """The cap moves a grant to the user's displaced set; the issuer then revokes it. If it
    died in between, the grant is live but only in that set: disconnecting still ends it."""
    await _clients(store)
    issued = await issue_token(store, "web", user="alice")
    index = store.keys.user_index("alice")
    redis = redis_of(store)
    grant_id = issued.token.grant_id
    score = await redis.zscore(index, grant_id)
    assert score is not None
    await redis.zrem(index, grant_id)
    await redis.zadd(store.keys.displaced(index), {grant_id: score})

    assert await store.revoke_user_client("alice", "web") == (1, 0)
    assert await store.resolve(issued.access_token) is None
