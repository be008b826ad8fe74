"""Chains of exchanged tokens (RFC 8693): revoking a grant revokes what was exchanged from it.

Every exchanged grant is linked under its subject token's grant (``children:{g}``); a
revocation, however it comes (RFC 7009 with the refresh token or the access token, a
client's removal), takes that set level by level before it returns, so no exchanged
token is usable once the revocation call has answered — exchanges racing it included.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from oauth_middleware.limits import EXCHANGED_PER_GRANT, MAX_EXCHANGE_DEPTH
from oauth_middleware.security import digest
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.toolbox import RegisteredClient
from tests.conftest import FakeClock
from tests.server.exchange_harness import (
    API_B,
    exchange,
    exchange_app,
    own_token,
    services,
    user_token,
)
from tests.server.token_harness import REVOKE_PATH, assert_error, auth_of, http, new_code
from tests.store_helpers import get_code, get_refresh, redis_of

#: Concurrent exchanges of one subject token.
N = 50


@pytest.fixture
def app(store: TokenStore, clock: FakeClock) -> Starlette:
    return exchange_app(store, clock)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with http(app) as c:
        yield c


@pytest.fixture
async def clients(store: TokenStore) -> dict[str, RegisteredClient]:
    return await services(store)


async def exchanged(client: httpx.AsyncClient, store: TokenStore, caller: RegisteredClient,
                    subject: str) -> str:
    response = await exchange(client, caller, subject, await own_token(store, "api-b"))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def revoke(client: httpx.AsyncClient, caller: RegisteredClient, token: str) -> None:
    response = await client.post(REVOKE_PATH, data={"token": token}, headers=auth_of(caller))
    assert response.status_code == 200, response.text


async def usable(client: httpx.AsyncClient, token: str) -> bool:
    me = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code in (200, 401), me.text
    return me.status_code == 200


async def grant_of(store: TokenStore, token: str) -> str:
    record = await store.resolve(token)
    assert record is not None
    return record.grant_id


@pytest.mark.rule("exchange.chain-revocation")
async def test_revoking_the_subject_grant_revokes_a_chain_of_three(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, refresh = await user_token(store)
    chain = [subject]
    for _ in range(MAX_EXCHANGE_DEPTH):  # 3: api-b exchanges its own exchanged token again
        chain.append(await exchanged(client, store, clients["api-b"], chain[-1]))
    depths = [(await store.resolve(t)).exchange_depth for t in chain]  # type: ignore[union-attr]
    assert depths == [0, 1, 2, 3]
    too_deep = await exchange(client, clients["api-b"], chain[-1],
                              await own_token(store, "api-b"))
    assert_error(too_deep, 400, "invalid_request")
    grants = [await grant_of(store, t) for t in chain]
    redis = redis_of(store)
    assert [await redis.zcard(store.keys.children(g)) for g in grants] == [1, 1, 1, 0]
    assert all([await usable(client, t) for t in chain])

    await revoke(client, clients["web"], refresh)  # RFC 7009: the refresh token, its grant

    assert [await usable(client, t) for t in chain] == [False] * 4
    assert [await store.resolve(t) for t in chain] == [None] * 4
    assert [await redis.exists(store.keys.children(g), store.keys.members(g))
            for g in grants] == [0] * 4
    _, left = await store.list_tokens(user="alice")
    assert left == []


@pytest.mark.rule("exchange.chain-revocation")
async def test_revoking_the_middle_of_a_chain_revokes_below_and_keeps_above(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, _ = await user_token(store)
    first = await exchanged(client, store, clients["api-b"], subject)
    second = await exchanged(client, store, clients["api-b"], first)
    # Redis restarted (its scripts are gone): the revocation's pipeline is sent twice, and
    # reading the children must survive that
    await redis_of(store).script_flush()
    await revoke(client, clients["api-b"], first)  # the access token alone
    assert [await usable(client, t) for t in (subject, first, second)] == [True, False, False]


@pytest.mark.rule("exchange.chain-revocation")
async def test_revoking_the_subject_access_token_alone_revokes_what_was_exchanged_from_it(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, refresh = await user_token(store)
    token = await exchanged(client, store, clients["api-b"], subject)
    await revoke(client, clients["web"], subject)
    assert not await usable(client, token) and await store.resolve(token) is None
    assert await store.lookup(refresh) is not None  # the subject's grant itself lives on


@pytest.mark.rule("exchange.chain-revocation")
async def test_removing_the_subject_client_revokes_what_others_exchanged_from_its_tokens(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, _ = await user_token(store)
    token = await exchanged(client, store, clients["api-b"], subject)
    await store.revoke_client_tokens("web")
    assert await store.resolve(token) is None and not await usable(client, token)


@pytest.mark.rule("exchange.chain-revocation")
async def test_fifty_concurrent_exchanges_then_one_revocation_leave_none_usable(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, refresh = await user_token(store)
    actor = await own_token(store, "api-b")
    responses = await asyncio.gather(*(exchange(client, clients["api-b"], subject, actor)
                                       for _ in range(N)))
    assert [r.status_code for r in responses] == [200] * N
    tokens = {r.json()["access_token"] for r in responses}
    assert len(tokens) == N
    parent = await grant_of(store, subject)
    assert await redis_of(store).zcard(store.keys.children(parent)) == N
    await revoke(client, clients["web"], refresh)
    assert [await store.resolve(t) for t in tokens] == [None] * N
    assert not any([await usable(client, t) for t in tokens])


@pytest.mark.rule("exchange.chain-revocation")
async def test_exchanges_racing_a_revocation_leave_no_token_usable_once_it_returned(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    subject, refresh = await user_token(store)
    actor = await own_token(store, "api-b")
    calls = [exchange(client, clients["api-b"], subject, actor) for _ in range(N)]
    calls.insert(N // 2, client.post(REVOKE_PATH, data={"token": refresh},
                                     headers=auth_of(clients["web"])))
    responses = await asyncio.gather(*calls)
    assert responses[N // 2].status_code == 200
    won = [r.json()["access_token"] for r in responses if r.status_code == 200
           and "access_token" in r.json()]
    lost = [r for r in responses if r.status_code != 200]
    for response in lost:
        assert_error(response, 400, "invalid_request")
    assert [await store.resolve(t) for t in won] == [None] * len(won)
    assert await redis_of(store).keys("*children*") == []


@pytest.mark.rule("exchange.chain-revocation")
async def test_one_grant_has_a_bounded_number_of_live_exchanged_grants(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient],
    clock: FakeClock,
) -> None:
    subject, _ = await user_token(store, lifetime=7200)
    actor = await own_token(store, "api-b")
    for _ in range(EXCHANGED_PER_GRANT):
        response = await exchange(client, clients["api-b"], subject, actor)
        assert response.status_code == 200, response.text
    assert_error(await exchange(client, clients["api-b"], subject, actor), 400, "invalid_request")
    parent = await grant_of(store, subject)
    assert await redis_of(store).zcard(store.keys.children(parent)) == EXCHANGED_PER_GRANT
    _, tokens = await store.list_tokens(client_id="api-b", count=1000)
    assert sum(1 for t in tokens if t.exchange_depth) == EXCHANGED_PER_GRANT  # refused: revoked


@pytest.mark.rule("exchange.chain-revocation", "token.code.replay-revokes")
async def test_a_code_replay_found_by_the_redeeming_script_revokes_what_was_exchanged(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    """Two redemptions read the code unused; the second finds it used inside the script,
    which revokes the grant there (not through ``revoke_grant``): its exchanged grants too."""
    code = await new_code(store, "web")
    record = await get_code(store, code)
    assert record is not None
    spec = NewTokens(client_id="web", subject="alice", scopes=frozenset({"read"}),
                     audience=frozenset({API_B}))
    issued = await store.redeem_code(code, record, spec)
    assert issued is not None
    token = await exchanged(client, store, clients["api-b"], issued.access_token)
    assert await store.redeem_code(code, record, spec) is None  # the replay
    assert await store.resolve(issued.access_token) is None
    assert await store.resolve(token) is None and not await usable(client, token)


@pytest.mark.rule("exchange.chain-revocation")
async def test_a_refresh_replay_found_by_the_rotating_script_revokes_what_was_exchanged(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    _, refresh = await user_token(store)
    record = await get_refresh(store, refresh)
    assert record is not None
    spec = NewTokens(client_id="web", subject="alice", scopes=frozenset({"read"}),
                     audience=frozenset({API_B}), refresh=True)
    rotated = await store.rotate_refresh(refresh, record, spec)
    assert rotated is not None
    token = await exchanged(client, store, clients["api-b"], rotated.access_token)
    assert await store.rotate_refresh(refresh, record, spec) is None  # the replay
    assert await store.resolve(token) is None and not await usable(client, token)


async def test_an_exchanged_record_stores_its_chain_and_others_keep_their_bytes(
    client: httpx.AsyncClient, store: TokenStore, clients: dict[str, RegisteredClient]
) -> None:
    own = await store.issue(NewTokens(client_id="api-b", subject="alice",
                                      scopes=frozenset({"read"})))
    raw = await redis_of(store).get(store.keys.access(
        own.token.grant_id, digest(own.access_token)))
    assert raw is not None and b"act" not in raw and b"exchange_depth" not in raw
    token = await exchanged(client, store, clients["api-b"], own.access_token)
    record = await store.resolve(token)
    assert record is not None
    raw = await redis_of(store).get(store.keys.access(record.grant_id, digest(token)))
    assert raw is not None
    stored = json.loads(raw)
    assert stored["act"] == '{"client_id":"api-b"}' and stored["exchange_depth"] == 1
    assert stored["parent_grant"] == own.token.grant_id
