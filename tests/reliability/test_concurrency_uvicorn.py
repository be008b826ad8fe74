"""Hundreds of racing requests against real uvicorn with two worker processes and real Redis.

Races only show across processes and a network. Each code is redeemed by
several clients at once, each refresh token refreshed by several at once, and
a hundred tokens are revoked at once; every count and the time are bounded.
Invariants (SECURITY.md "Token endpoint", RFC 7009): each code and refresh
token yields at most one success; a revoked token is refused by every worker
on the very next request; nothing answers 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from oauth_middleware.models import AuthorizationCode
from oauth_middleware.security import pkce_s256
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.store._grant_scripts import TOMBSTONE_MS
from tests.redis_process import RedisProcess
from tests.reliability.stack import REDIRECT, SCOPES, VERIFIER, Clients, on_two_workers, seed
from tests.servers import UvicornProcess
from tests.store_helpers import get_code, get_refresh, redis_of

pytestmark = pytest.mark.real_redis_only

#: Racers per code / refresh token, and how many codes, refresh tokens and revocations.
RACERS = 3
CODES = 80
REFRESHES = 50
REVOCATIONS = 100
#: Bound on one phase of racing requests.
PHASE_BOUND = 60.0
#: Fresh connections tried until both workers have answered.
WORKER_PROBES = 200


@pytest.fixture(scope="module")
def server(redis_server: RedisProcess) -> Iterator[UvicornProcess]:
    with on_two_workers(redis_server.url) as running:
        yield running


def _fresh(server: UvicornProcess) -> httpx.AsyncClient:
    """A client opening a new connection per request, so both workers get requests."""
    return httpx.AsyncClient(base_url=server.url, timeout=20,
                             limits=httpx.Limits(max_connections=64, max_keepalive_connections=0))


async def _by_worker(server: UvicornProcess, token: str) -> dict[str, int]:
    """GET /me with ``token`` on fresh connections until both workers answered: pid -> status.

    Every answer names its worker (``x-worker``, set outside the middleware), so
    a refusal shows which process refused."""
    seen: dict[str, set[int]] = {}
    async with _fresh(server) as client:
        for _ in range(WORKER_PROBES):
            response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
            seen.setdefault(response.headers["x-worker"], set()).add(response.status_code)
            if len(seen) == 2:
                break
    assert len(seen) == 2, f"only one worker answered {WORKER_PROBES} fresh connections"
    assert all(len(statuses) == 1 for statuses in seen.values()), seen
    return {pid: statuses.pop() for pid, statuses in seen.items()}


@pytest.fixture
async def clients(store: TokenStore) -> Clients:
    return await seed(store)


async def _race(server: UvicornProcess, auth: httpx.BasicAuth, forms: list[dict[str, str]]
                ) -> list[list[httpx.Response]]:
    """Every form posted RACERS times, all at once; answers grouped per form."""
    async with _fresh(server) as client, asyncio.timeout(PHASE_BOUND):
        flat = await asyncio.gather(*(
            client.post("/oauth/token/", data=form, auth=auth)
            for form in forms for _ in range(RACERS)))
    return [list(flat[i:i + RACERS]) for i in range(0, len(flat), RACERS)]


def _at_most_one_winner(groups: list[list[httpx.Response]]) -> list[dict[str, Any]]:
    winners = []
    for group in groups:
        statuses = sorted(r.status_code for r in group)
        assert 500 not in statuses, statuses
        assert statuses == [200] + [400] * (RACERS - 1), statuses
        assert {r.json()["error"] for r in group if r.status_code == 400} == {"invalid_grant"}
        winners += [r.json() for r in group if r.status_code == 200]
    return winners


@pytest.mark.rule("token.code.single-use", "responses.5xx-generic")
async def test_hundreds_of_racing_code_redemptions_each_have_one_winner(
    server: UvicornProcess, store: TokenStore, clients: Clients
) -> None:
    codes = [await store.create_code(AuthorizationCode(
        grant_id="", client_id="web", subject=f"user{i}", redirect_uri=REDIRECT,
        redirect_uri_explicit=True, scopes=frozenset(SCOPES),
        code_challenge=pkce_s256(VERIFIER), code_challenge_method="S256",
    )) for i in range(CODES)]
    forms = [{"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
              "code_verifier": VERIFIER} for code in codes]
    groups = await _race(server, httpx.BasicAuth("web", clients.web_secret), forms)
    assert len(_at_most_one_winner(groups)) == CODES
    records = [await get_code(store, code) for code in codes]  # used, or revoked by a loser
    assert all(record is None or record.used for record in records)


@pytest.mark.rule("token.refresh.concurrent", "token.refresh.rotation",
                  "responses.5xx-generic")
async def test_hundreds_of_racing_refreshes_each_have_one_winner(
    server: UvicornProcess, store: TokenStore, clients: Clients
) -> None:
    issued = [await store.issue(NewTokens(client_id="web", subject=f"user{i}", refresh=True,
                                          scopes=frozenset(SCOPES))) for i in range(REFRESHES)]
    forms = [{"grant_type": "refresh_token", "refresh_token": str(i.refresh_token)}
             for i in issued]
    groups = await _race(server, httpx.BasicAuth("web", clients.web_secret), forms)
    assert len(_at_most_one_winner(groups)) == REFRESHES
    for old in issued:  # every old refresh token is retired or its family revoked
        record = await get_refresh(store, str(old.refresh_token))
        assert record is None or record.rotated


@pytest.mark.rule("resource.invalid-token", "responses.5xx-generic")
async def test_a_hundred_concurrent_revocations_are_refused_by_every_worker_next(
    server: UvicornProcess, store: TokenStore, clients: Clients
) -> None:
    issued = [await store.issue(NewTokens(client_id="web", subject=f"user{i}",
                                          scopes=frozenset(SCOPES))) for i in range(REVOCATIONS)]
    tokens = [i.access_token for i in issued]
    watched = tokens[:3]
    for token in watched:  # both workers accept them first
        assert set((await _by_worker(server, token)).values()) == {200}
    auth = httpx.BasicAuth("web", clients.web_secret)
    async with _fresh(server) as client, asyncio.timeout(PHASE_BOUND):
        revoked = await asyncio.gather(*(
            client.post("/oauth/revoke/", data={"token": t}, auth=auth) for t in tokens))
        assert {r.status_code for r in revoked} == {200}
        after = await asyncio.gather(*(
            client.get("/me", headers={"Authorization": f"Bearer {t}"}) for t in tokens))
    assert {r.status_code for r in after} == {401}
    assert all('error="invalid_token"' in r.headers["www-authenticate"] for r in after)
    for token in watched:
        seen = await _by_worker(server, token)
        assert set(seen.values()) == {401}
    assert [await store.resolve(t) for t in tokens] == [None] * REVOCATIONS


#: Grants whose refresh token is rotated and revoked at once.
REVOKE_RACES = 40


@pytest.mark.rule("revoke.refresh-revokes-grant", "token.refresh.rotation",
                  "responses.5xx-generic")
async def test_revoking_refresh_tokens_while_they_rotate_ends_every_grant(
    server: UvicornProcess, store: TokenStore, clients: Clients
) -> None:
    """Each refresh token is refreshed and revoked at the same moment, on fresh connections
    (so across both workers). Whichever ran first, once revoke answered 200 no token of
    that grant works anywhere: not the old access token, not a new pair a racing
    rotation handed out, and Redis holds no key of the grant."""
    issued = [await store.issue(NewTokens(client_id="web", subject=f"user{i}", refresh=True,
                                          scopes=frozenset(SCOPES)))
              for i in range(REVOKE_RACES)]
    auth = httpx.BasicAuth("web", clients.web_secret)
    async with _fresh(server) as client, asyncio.timeout(PHASE_BOUND):
        answers = await asyncio.gather(*(
            client.post(path, data=form, auth=auth) for i in issued for path, form in (
                ("/oauth/token/", {"grant_type": "refresh_token",
                                   "refresh_token": str(i.refresh_token)}),
                ("/oauth/revoke/", {"token": str(i.refresh_token)}))))
        pairs = [answers[k:k + 2] for k in range(0, len(answers), 2)]
        new = [refreshed.json() for refreshed, _ in pairs if refreshed.status_code == 200]
        after = await asyncio.gather(*(
            client.get("/me", headers={"Authorization": f"Bearer {token}"})
            for token in [b["access_token"] for b in new] + [i.access_token for i in issued]))
        again = await asyncio.gather(*(
            client.post("/oauth/token/", auth=auth, data={
                "grant_type": "refresh_token", "refresh_token": b["refresh_token"]})
            for b in new))
    for refreshed, revoked in pairs:
        assert revoked.status_code == 200 and revoked.json() == {}
        assert refreshed.status_code in (200, 400), refreshed.text
        if refreshed.status_code == 400:
            assert refreshed.json()["error"] == "invalid_grant"
    assert {r.status_code for r in after} == {401}
    assert {(r.status_code, r.json()["error"]) for r in again} <= {(400, "invalid_grant")}
    for grant in issued:  # nothing of the grant is left but the tombstone its sweep leaves
        tag = f"*{{{grant.token.grant_id}}}*"
        left = [key async for key in redis_of(store).scan_iter(match=tag)]
        assert left in ([], [store.keys.gone(grant.token.grant_id).encode()])
        assert {0 < await redis_of(store).pttl(key) <= TOMBSTONE_MS for key in left} <= {True}
