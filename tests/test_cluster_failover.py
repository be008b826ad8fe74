"""Nothing answered 200 is lost when a Cluster primary dies mid-traffic (issue 13 §2, §5).

3 primaries with a replica each (tests/topologies.py), the app on uvicorn with two
workers. Requests run in rounds of :data:`AT_ONCE` at once (lookups, revocations, code
redemptions); after the first rounds one primary is killed with SIGKILL, and the rounds
go on until every kind of request has answered again. Every answer is judged as it
comes: never a 500, and a refusal for the outage is a 503 with ``Retry-After``. Once the
replica is promoted, every token revoked with a 200 stays revoked and every code
redeemed with a 200 stays redeemed. Bounded in rounds and time; nothing sleeps to time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from oauth_middleware.store import NewTokens, StoreUnavailable, TokenStore
from oauth_middleware.toolbox import RegisteredClient
from tests.server.token_harness import auth_of, code_form, confidential, new_code
from tests.servers import UvicornProcess
from tests.topologies import FORM_BOUND, cluster, until

#: Requests fired at once per round.
AT_ONCE = 50
#: Rounds before the kill, and at most after it.
BEFORE, AFTER = 3, 400
#: The 503s answered (the outage was seen: the kill came mid-traffic).
REFUSED: list[int] = []
#: Live tokens, tokens to revoke and codes to redeem, seeded before the traffic.
TOKENS, REVOCATIONS, CODES = 60, 150, 150


def _judged(response: httpx.Response, ok: set[int]) -> str:
    """``ok`` or ``"503"``; anything else fails the test at once."""
    if response.status_code == 503:
        assert response.headers.get("retry-after"), response.headers
        REFUSED.append(response.status_code)
        return "503"
    assert response.status_code in ok, (response.status_code, response.text)
    return "ok"


async def _seed(store: TokenStore) -> tuple[RegisteredClient, list[str], list[str], list[str]]:
    web = await confidential(store)
    generation = web.client.generation
    issued = [await store.issue(NewTokens(client_id="web", subject=f"user{n}",
                                          scopes=frozenset({"read"}),
                                          client_generation=generation))
              for n in range(TOKENS + REVOCATIONS)]
    tokens = [i.access_token for i in issued]
    codes = [await new_code(store, "web", user=f"coder{n}") for n in range(CODES)]
    return web, tokens[:TOKENS], tokens[TOKENS:], codes


async def _resolved(store: TokenStore, token: str) -> Any:
    """``store.resolve(token)``, asked again while the store answers 503 (its first call
    after the kill finds the dead primary and has the slot map read again); bounded."""
    deadline = time.monotonic() + FORM_BOUND
    while True:
        try:
            return await store.resolve(token)
        except StoreUnavailable:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)  # polling the store back, not timing a behaviour


class Traffic:
    """The rounds, and what each 200 ended."""

    def __init__(self, client: httpx.AsyncClient, web: RegisteredClient, live: list[str],
                 to_revoke: list[str], codes: list[str]) -> None:
        self.client, self.auth, self.live = client, auth_of(web), live
        self.to_revoke, self.codes = list(to_revoke), list(codes)
        self.revoked: list[str] = []
        self.redeemed: list[str] = []
        self.last: dict[str, str] = {}

    async def _me(self, token: str) -> None:
        response = await self.client.get("/me", headers={"Authorization": f"Bearer {token}"})
        self.last["me"] = _judged(response, {200})

    async def _revoke(self, token: str) -> None:
        response = await self.client.post("/oauth/revoke", data={"token": token},
                                          headers=self.auth)
        self.last["revoke"] = _judged(response, {200})
        if self.last["revoke"] == "ok":
            self.revoked.append(token)
        else:
            self.to_revoke.append(token)  # a 503: asked again in a later round

    async def _redeem(self, code: str) -> None:
        response = await self.client.post("/oauth/token", data=code_form(code),
                                          headers=self.auth)
        # 400: a code whose first answer was a 503 was used on the primary all the same
        self.last["token"] = _judged(response, {200, 400})
        if response.status_code == 200:
            self.redeemed.append(code)
        elif response.status_code == 503:
            self.codes.append(code)  # asked again later, as a revocation is: the codes
            # must not run out before the store is back (a quick outage used them all up)

    async def round(self, number: int) -> None:
        calls: list[Any] = [self._me(self.live[(number * 7 + i) % len(self.live)])
                            for i in range(AT_ONCE // 2)]
        for _ in range(AT_ONCE // 4):
            if self.to_revoke:
                calls.append(self._revoke(self.to_revoke.pop(0)))
            if self.codes:
                calls.append(self._redeem(self.codes.pop(0)))
        await asyncio.gather(*calls)

    def recovered(self) -> bool:
        return set(self.last) == {"me", "revoke", "token"} and set(self.last.values()) == {"ok"}


async def _looked_up(client: httpx.AsyncClient, tokens: list[str]) -> None:
    """Every token answered 200 on /me, :data:`AT_ONCE` at a time, twice: with the local
    cache on, both workers then likely hold each one."""
    for _ in range(2):
        for start in range(0, len(tokens), AT_ONCE):
            answers = await asyncio.gather(*(
                client.get("/me", headers={"Authorization": f"Bearer {token}"})
                for token in tokens[start:start + AT_ONCE]))
            assert [a.status_code for a in answers] == [200] * len(answers)


@pytest.mark.topology
@pytest.mark.failover
@pytest.mark.rule("redis.durable-writes")
@pytest.mark.parametrize("local_cache", ["0", "1"], ids=["uncached", "local_cache"])
async def test_kill_9_of_a_cluster_primary_mid_traffic_loses_no_revocation_or_redemption(
    local_cache: str,
) -> None:
    """With ``local_cache`` the workers have looked up every token to be revoked first: a
    revoked token answered from a worker's cache would be a 200 in the final checks."""
    with cluster(replicas=1) as made:
        store = TokenStore.from_url(made.url)
        try:
            web, live, to_revoke, codes = await _seed(store)
            with UvicornProcess("tests.cluster_app:app", "--factory", "--workers", "2",
                                env={"REDIS_URL": made.url,
                                     "OM_LOCAL_CACHE": local_cache}) as server:
                async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                    await _looked_up(client, live + to_revoke)
                    traffic = Traffic(client, web, live, to_revoke, codes)
                    for number in range(BEFORE):
                        await traffic.round(number)
                    made.primaries[0].kill()
                    killed_at, number = time.monotonic(), BEFORE
                    traffic.last.clear()
                    while not traffic.recovered():
                        assert number < BEFORE + AFTER, traffic.last
                        assert time.monotonic() - killed_at < 2 * FORM_BOUND, traffic.last
                        await traffic.round(number)
                        number += 1
                    assert traffic.revoked and traffic.redeemed and REFUSED
                    for token in traffic.revoked:
                        response = await client.get(
                            "/me", headers={"Authorization": f"Bearer {token}"})
                        assert response.status_code == 401, (token[:8], response.text)
                    for code in traffic.redeemed:
                        again = await client.post("/oauth/token", data=code_form(code),
                                                  headers=traffic.auth)
                        assert again.status_code == 400
                        assert again.json()["error"] == "invalid_grant"
            for token in traffic.revoked:  # this process too, once it has seen the new map
                assert await _resolved(store, token) is None
            promoted = [n.client().info("replication")["role"] for n in made.replicas]
            assert promoted.count("master") == 1, promoted
        finally:
            await store.aclose()


@pytest.mark.topology
@pytest.mark.failover
@pytest.mark.rule("redis.durable-writes")
async def test_a_primary_left_without_a_replica_costs_one_503_then_auto_stops_waiting() -> None:
    """``min_replicas`` auto counts the fewest replicas of any primary. A failover's new
    primary has none: a ``WAIT`` timing out there has the count read again at once, so
    the next durable writes stop waiting for a replica that is gone (not 503 after 503
    until the periodic re-read, as when only an outage had the count re-read)."""
    with cluster(replicas=1) as made:
        store = TokenStore.from_url(made.url, replica_timeout=200)
        try:
            issued = [await store.issue(NewTokens(client_id="web", subject=f"user{n}",
                                                  scopes=frozenset({"read"})))
                      for n in range(31)]
            assert await store.revoke_token(issued.pop().access_token)  # auto counted 1
            made.replicas[0].kill()
            until(lambda: min(n.client().info("replication")["connected_slaves"]
                              for n in made.primaries) == 0, "a primary lost its replica")
            answers: list[bool | None] = []
            for tokens in issued:
                try:
                    answers.append(await store.revoke_token(tokens.access_token))
                except StoreUnavailable:
                    answers.append(None)
            assert answers.count(None) <= 1, answers
            assert [await store.resolve(t.access_token) for t in issued] == [None] * 30
        finally:
            await store.aclose()
