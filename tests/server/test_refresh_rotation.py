"""Rotated-away refresh tokens at token/, revoke/ and introspect/ (RFC 6749 §6, RFC 7009 §2.1,
RFC 7662 §2.2, RFC 9700 §4.14.2), through the mounted server on both store backends.

Every earlier generation of a grant's refresh token is still known as one the
grant issued: presenting it at token/ is a replay (the family is revoked),
revoking it ends the grant, introspecting it says inactive. A made-up value
that only borrows a real grant id (public: resource servers see it) is unknown
and changes nothing. Each test checks the answers and what Redis holds after.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from oauth_middleware.security import grant_id_of, new_token
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import RegisteredClient
from tests.server.token_harness import (
    INTROSPECT_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    assert_error,
    assert_no_store,
    auth_of,
    build_app,
    code_tokens,
    confidential,
)
from tests.store_helpers import redis_of

#: Rotate-versus-revoke races run per backend.
RACES = 30
#: Concurrent refreshes with one token.
RACERS = 50


@pytest.fixture
def app(store: TokenStore) -> Starlette:
    """The losers of a race are invalid_grant failures, which no throttle counts (see
    server/throttle.py): the default policy must not hide them."""
    return build_app(store)


async def _me(client: httpx.AsyncClient, access_token: str) -> int:
    response = await client.get("/me", headers={"Authorization": f"Bearer {access_token}"})
    return response.status_code


async def _refresh(client: httpx.AsyncClient, registered: RegisteredClient,
                   refresh_token: str) -> httpx.Response:
    return await client.post(TOKEN_PATH, headers=auth_of(registered), data={
        "grant_type": "refresh_token", "refresh_token": refresh_token})


async def _revoke(client: httpx.AsyncClient, registered: RegisteredClient,
                  token: str) -> httpx.Response:
    return await client.post(REVOKE_PATH, headers=auth_of(registered), data={"token": token})


async def _generations(client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient,
                       count: int) -> list[dict[str, Any]]:
    """A grant's token responses: the code's, then ``count`` refreshes, each of the last."""
    bodies = [await code_tokens(client, store, web)]
    for _ in range(count):
        response = await _refresh(client, web, bodies[-1]["refresh_token"])
        assert response.status_code == 200, response.text
        bodies.append(response.json())
    return bodies


async def _after(turns: int, request: Awaitable[httpx.Response]) -> httpx.Response:
    """``request``, started ``turns`` event-loop turns late: the trials of a race cover
    every interleaving of two in-process requests, not only "both read first"."""
    for _ in range(turns):
        await asyncio.sleep(0)
    return await request


async def _grant_keys(store: TokenStore, token: str) -> list[bytes]:
    """What is left of the grant, but its tombstone (a swept grant's, which expires)."""
    grant_id = grant_id_of(token)
    return [key async for key in redis_of(store).scan_iter(match=f"*{{{grant_id}}}*")
            if key != store.keys.gone(grant_id or "").encode()]


async def _assert_family_ended(client: httpx.AsyncClient, store: TokenStore,
                               web: RegisteredClient, body: dict[str, Any]) -> None:
    assert await _me(client, body["access_token"]) == 401
    assert_error(await _refresh(client, web, body["refresh_token"]), 400, "invalid_grant")
    assert await _grant_keys(store, body["refresh_token"]) == []


@pytest.mark.rule("token.refresh.reuse-revokes-family")
@pytest.mark.parametrize("generation", [0, 3])
async def test_reusing_any_earlier_generation_revokes_the_family(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient, generation: int
) -> None:
    bodies = await _generations(client, store, web, 5)
    reuse = await _refresh(client, web, bodies[generation]["refresh_token"])
    assert_error(reuse, 400, "invalid_grant")
    await _assert_family_ended(client, store, web, bodies[-1])


@pytest.mark.rule("token.refresh.reuse-revokes-family", "revoke.unknown-200")
async def test_a_made_up_refresh_token_with_a_real_grant_id_revokes_nothing(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    bodies = await _generations(client, store, web, 2)
    grant_id = grant_id_of(bodies[-1]["access_token"])
    assert grant_id is not None
    keys = sorted(await _grant_keys(store, bodies[-1]["refresh_token"]))
    for made_up in (new_token(grant_id), new_token(grant_id) + "A" * 22):
        assert_error(await _refresh(client, web, made_up), 400, "invalid_grant")
        revoked = await _revoke(client, web, made_up)
        assert revoked.status_code == 200 and revoked.json() == {}
    assert sorted(await _grant_keys(store, bodies[-1]["refresh_token"])) == keys
    assert await _me(client, bodies[-1]["access_token"]) == 200
    assert (await _refresh(client, web, bodies[-1]["refresh_token"])).status_code == 200


@pytest.mark.rule("token.refresh.concurrent", "token.refresh.reuse-revokes-family")
async def test_fifty_concurrent_refreshes_have_one_winner_and_end_the_family(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    """Every loser is a replay of a token another request rotated: invalid_grant, and the
    family ends — the winner's new tokens included (RFC 9700 §4.14.2)."""
    first = await code_tokens(client, store, web)
    answers = await asyncio.gather(*(
        _refresh(client, web, first["refresh_token"]) for _ in range(RACERS)))
    winners = [a for a in answers if a.status_code == 200]
    assert len(winners) == 1
    for loser in answers:
        if loser is not winners[0]:
            assert_error(loser, 400, "invalid_grant")
    await _assert_family_ended(client, store, web, winners[0].json())
    assert await _me(client, first["access_token"]) == 401


@pytest.mark.rule("revoke.refresh-revokes-grant")
async def test_revoking_a_rotated_away_refresh_token_ends_its_grant(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    bodies = await _generations(client, store, web, 2)
    response = await _revoke(client, web, bodies[0]["refresh_token"])
    assert response.status_code == 200
    assert_no_store(response)
    assert response.json() == {}
    await _assert_family_ended(client, store, web, bodies[-1])


@pytest.mark.rule("revoke.own-tokens", "token.refresh.client-bound")
async def test_another_clients_rotated_refresh_token_neither_revokes_nor_replays(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    other = await confidential(store, "other")
    bodies = await _generations(client, store, web, 1)
    assert (await _revoke(client, other, bodies[0]["refresh_token"])).status_code == 200
    assert_error(await _refresh(client, other, bodies[0]["refresh_token"]), 400,
                 "invalid_grant")
    assert await _me(client, bodies[-1]["access_token"]) == 200
    assert (await _refresh(client, web, bodies[-1]["refresh_token"])).status_code == 200


@pytest.mark.rule("introspect.inactive")
async def test_a_rotated_away_refresh_token_introspects_inactive(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    bodies = await _generations(client, store, web, 1)
    old = await client.post(INTROSPECT_PATH, headers=auth_of(web),
                            data={"token": bodies[0]["refresh_token"]})
    assert old.status_code == 200 and old.json() == {"active": False}
    assert_no_store(old)
    current = await client.post(INTROSPECT_PATH, headers=auth_of(web),
                                data={"token": bodies[-1]["refresh_token"]})
    assert current.json()["active"] is True
    assert await _me(client, bodies[-1]["access_token"]) == 200


@pytest.mark.rule("revoke.refresh-revokes-grant", "token.refresh.concurrent")
async def test_revoking_a_refresh_token_while_it_rotates_ends_the_grant_every_time(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient
) -> None:
    """Revocation and rotation of one refresh token, at once, RACES times: whichever runs
    first, after revoke's 200 no token of the grant works and Redis holds none."""
    outcomes = set()
    for trial in range(RACES):
        first = await code_tokens(client, store, web)
        refreshed, revoked = await asyncio.gather(
            _refresh(client, web, first["refresh_token"]),
            _after(trial, _revoke(client, web, first["refresh_token"])))
        assert revoked.status_code == 200 and revoked.json() == {}
        outcomes.add(refreshed.status_code)
        if refreshed.status_code == 200:
            await _assert_family_ended(client, store, web, refreshed.json())
        else:
            assert_error(refreshed, 400, "invalid_grant")
        assert await _me(client, first["access_token"]) == 401
        assert await _grant_keys(store, first["refresh_token"]) == []
    assert outcomes <= {200, 400}


#: Refresh records this version cannot read: corrupted, or a field a newer version changed.
_UNREADABLE: dict[str, Any] = {
    "not an object": lambda record: [1, 2],
    "client_id missing": lambda record: {k: v for k, v in record.items() if k != "client_id"},
    "scopes a list": lambda record: {**record, "scopes": ["read"]},
    "digest a number": lambda record: {**record, "digest": 5},
    "seal_key a number": lambda record: {**record, "seal_key": 5, "digest": "0" * 64},
    "generation a string": lambda record: {**record, "generation": "7"},
    "generation a boolean": lambda record: {**record, "generation": True},
    "expires_at a string": lambda record: {**record, "expires_at": "soon"},
    "no digest, newer version": lambda record: {**record, "v": 99, "digest": None},
}


@pytest.mark.rule("abuse.unreadable-record")
@pytest.mark.parametrize("case", sorted(_UNREADABLE))
async def test_a_refresh_record_this_version_cannot_read_is_an_unknown_token(
    client: httpx.AsyncClient, store: TokenStore, web: RegisteredClient, case: str
) -> None:
    """Each one answered 500 at all three endpoints (or, with no digest, revoked the grant
    as a replay): now the token is unknown, and the grant's keys stay as they were."""
    body = await code_tokens(client, store, web)
    token = body["refresh_token"]
    key = store.keys.refresh(str(grant_id_of(token)))
    record = json.loads(await redis_of(store).get(key) or "{}")
    await redis_of(store).set(key, json.dumps(_UNREADABLE[case](record)))
    before = sorted(await _grant_keys(store, token))
    assert_error(await _refresh(client, web, token), 400, "invalid_grant")
    revoked = await _revoke(client, web, token)
    assert revoked.status_code == 200 and revoked.json() == {}
    assert_no_store(revoked)
    seen = await client.post(INTROSPECT_PATH, headers=auth_of(web), data={"token": token})
    assert seen.status_code == 200 and seen.json() == {"active": False}
    assert sorted(await _grant_keys(store, token)) == before
    assert await _me(client, body["access_token"]) == 200
