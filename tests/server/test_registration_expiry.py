"""Dynamic clients left unused expire when configured (``RegistrationPolicy.expire_unused_after``).

The client record carries a Redis TTL from its registration; each code or token it gets
starts it again. Expiry is simulated with ``PEXPIREAT`` in the past, which Redis carries
out at once, and "time has passed" by shortening the TTL (no sleeping).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from oauth_middleware.security import digest
from oauth_middleware.server.config import RegistrationPolicy
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import register_client
from tests.conftest import FakeClock
from tests.server.authorize_harness import SPA_REDIRECT, Harness, answer, open_harness
from tests.server.registration_harness import LOOPBACK, MCP, REGISTER, assert_refused, register
from tests.store_helpers import redis_of

DAY = 86_400
#: RFC 7636 appendix B's pair.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    policy = RegistrationPolicy(expire_unused_after=DAY, max_clients=2)
    async with open_harness(store, registration=policy) as h:
        yield h


async def _registered(harness: Harness) -> dict[str, str]:
    response = await register(harness, MCP)
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


async def _code(harness: Harness, client_id: str) -> str:
    page = await harness.consent(
        "alice", response_type="code", client_id=client_id, redirect_uri=LOOPBACK,
        scope="polls:read", code_challenge=CHALLENGE, code_challenge_method="S256")
    _, _, params = answer(await harness.decide(page))
    return params["code"]


async def _redeem(harness: Harness, client_id: str, code: str) -> dict[str, str]:
    issued = await harness.http.post("/oauth/token/", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": LOOPBACK,
        "client_id": client_id, "code_verifier": VERIFIER})
    assert issued.status_code == 200, issued.text
    body: dict[str, str] = issued.json()
    return body


async def _pttl(store: TokenStore, client_id: str) -> int:
    return int(await redis_of(store).pttl(store.keys.client(client_id)))


@pytest.mark.rule("registration.expire-unused")
async def test_each_code_and_token_restarts_the_expiry_of_an_unused_client(
    harness: Harness, store: TokenStore, clock: FakeClock
) -> None:
    client_id = (await _registered(harness))["client_id"]
    assert DAY * 1000 - 60_000 < await _pttl(store, client_id) <= DAY * 1000
    assert await store.dynamic_clients_last_used([client_id]) == {client_id: clock.now}
    redis = redis_of(store)

    await redis.pexpire(store.keys.client(client_id), 5000)  # most of the day has passed
    clock.advance(DAY - 5)
    code = await _code(harness, client_id)  # the approval is a use
    assert DAY * 1000 - 60_000 < await _pttl(store, client_id) <= DAY * 1000
    assert await store.dynamic_clients_last_used([client_id]) == {client_id: clock.now}

    await redis.pexpire(store.keys.client(client_id), 5000)
    clock.advance(60)
    tokens = await _redeem(harness, client_id, code)  # and so is the token request
    assert DAY * 1000 - 60_000 < await _pttl(store, client_id) <= DAY * 1000
    assert await store.dynamic_clients_last_used([client_id]) == {client_id: clock.now}
    # its access token dies before the client can: it lives an hour, the client a day
    found = await store.resolve(tokens["access_token"])
    assert found is not None and found.expires_at is not None
    assert found.expires_at - clock.now <= DAY


@pytest.mark.rule("registration.expire-unused")
async def test_a_static_client_and_a_policy_without_expiry_set_no_ttl(store: TokenStore) -> None:
    async with open_harness(store, registration=RegistrationPolicy()) as harness:
        client_id = (await _registered(harness))["client_id"]
        await _redeem(harness, client_id, await _code(harness, client_id))
        page = await harness.consent("alice", response_type="code", client_id="spa",
                                     redirect_uri=SPA_REDIRECT,
                                     code_challenge=CHALLENGE, code_challenge_method="S256")
        answer(await harness.decide(page))
    assert await _pttl(store, client_id) == -1
    assert await _pttl(store, "spa") == -1
    assert await store.dynamic_clients_last_used(["spa"]) == {}  # static clients: no write


@pytest.mark.rule("registration.expire-unused")
async def test_an_expired_client_gets_nothing_more_and_stops_counting_against_the_cap(
    harness: Harness, store: TokenStore, clock: FakeClock
) -> None:
    gone = (await _registered(harness))["client_id"]
    tokens = await _redeem(harness, gone, await _code(harness, gone))
    kept = (await _registered(harness))["client_id"]
    assert_refused(await register(harness, MCP), 403, "access_denied")  # the cap: 2

    await redis_of(store).pexpireat(store.keys.client(gone), 1)  # Redis expires it now
    clock.advance(DAY + 1)
    assert await store.get_client(gone) is None
    refreshed = await harness.http.post("/oauth/token/", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": gone})
    assert_refused(refreshed, 401, "invalid_client")
    asked = await harness.authorize("alice", response_type="code", client_id=gone,
                                    redirect_uri=LOOPBACK, code_challenge=CHALLENGE,
                                    code_challenge_method="S256")
    assert asked.status_code == 400 and "location" not in asked.headers

    third = await _registered(harness)  # the sweep freed the expired client's place
    members = {m.decode() if isinstance(m, bytes) else m
               for m in await redis_of(store).smembers(store.keys.dynamic_clients)}
    assert members == {kept, third["client_id"]}
    assert gone not in await store.dynamic_clients_last_used([gone, kept])
    assert await store.count_dynamic_clients() == 2
    assert await _pttl(store, kept) > 0


@pytest.mark.rule("registration.expire-unused")
async def test_replacing_the_metadata_keeps_the_expiry(harness: Harness, store: TokenStore) -> None:
    body = await _registered(harness)
    await redis_of(store).pexpire(store.keys.client(body["client_id"]), 50_000)
    replaced = await harness.http.put(
        f"{REGISTER}{body['client_id']}", json={**MCP, "client_id": body["client_id"],
                                                "client_name": "Renamed"},
        headers={"Authorization": f"Bearer {body['registration_access_token']}"})
    assert replaced.status_code == 200, replaced.text
    client = await store.get_client(body["client_id"])
    assert client is not None and client.title == "Renamed"
    assert client.registration_token_hash == digest(body["registration_access_token"])
    assert 0 < await _pttl(store, body["client_id"]) <= 50_000


def test_expiry_shorter_than_an_access_token_is_refused() -> None:
    with pytest.raises(ValueError, match=r"expire_unused_after must be 3600 \(an access token's"):
        RegistrationPolicy(expire_unused_after=60)
    assert RegistrationPolicy(expire_unused_after=30 * DAY).expire_unused_after == 30 * DAY


@pytest.mark.rule("registration.expire-unused")
async def test_a_client_the_host_takes_over_loses_the_expiry_and_no_sweep_brings_it_back(
    harness: Harness, store: TokenStore, clock: FakeClock
) -> None:
    client_id = (await _registered(harness))["client_id"]
    taken = await register_client(store, "Host app", client_id, LOOPBACK, public=True,
                                  replace_existing=True)
    assert not taken.client.dynamic
    assert await _pttl(store, client_id) == -1
    clock.advance(DAY + 1)
    await _registered(harness)  # its sweep meets the old entry
    assert await _pttl(store, client_id) == -1
    assert await store.dynamic_clients_last_used([client_id]) == {}
    assert await store.get_client(client_id) is not None
