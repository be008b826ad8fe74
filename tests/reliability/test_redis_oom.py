"""A full Redis (``maxmemory`` reached, ``noeviction``) refuses writes with OOM: every
endpoint that must write answers 503 + ``Retry-After``, never a 500, and leaves no
half-written grant; reads still work (issue 13 §3).

A real redis-server of the test's own: ``CONFIG SET maxmemory 1`` puts it over its limit
at once, so every write command is refused and nothing needs to be filled first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from oauth_middleware import TokenStore
from oauth_middleware.security import pkce_s256
from tests.faults import UNAVAILABLE_BODY
from tests.redis_process import RedisProcess
from tests.reliability.stack import (
    REDIRECT,
    SCOPES,
    USER_HEADER,
    VERIFIER,
    Flows,
    build,
    seed,
)
from tests.server.authorize_harness import read_page

pytestmark = pytest.mark.real_redis_only


@dataclass
class Full:
    flows: Flows
    admin: aioredis.Redis
    token: str
    refresh_token: str
    code: str

    async def fill(self) -> None:
        await self.admin.config_set("maxmemory", 1)

    async def keys(self) -> dict[Any, Any]:
        """Every key and its value (DUMP): a refused write must leave all of them as they were."""
        names: list[Any] = await self.admin.keys("*")
        return {key: await self.admin.dump(key) for key in sorted(names)}


@pytest.fixture
async def full(backend: str, own_redis: RedisProcess) -> AsyncIterator[Full]:
    store = TokenStore.from_url(own_redis.url)
    admin = aioredis.Redis(host="127.0.0.1", port=own_redis.port)
    await admin.config_set("maxmemory-policy", "noeviction")
    clients = await seed(store)
    app = build(store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        flows = Flows(http, clients)
        issued = (await flows.redeem(await flows.code())).json()
        yield Full(flows, admin, issued["access_token"], issued["refresh_token"],
                   await flows.code())
    await admin.aclose()
    await store.aclose()


def _assert_503_json(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == UNAVAILABLE_BODY
    assert response.headers["retry-after"] == "5"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.rule("redis.token-503", "redis.full-503")
async def test_a_full_redis_makes_every_grant_a_503_and_writes_nothing(full: Full) -> None:
    before = await full.keys()
    await full.fill()
    flows = full.flows
    _assert_503_json(await flows.client_credentials())
    _assert_503_json(await flows.password())
    _assert_503_json(await flows.refresh(full.refresh_token))
    _assert_503_json(await flows.redeem(full.code))
    assert await full.keys() == before
    await full.admin.config_set("maxmemory", 0)
    redeemed = await flows.redeem(full.code)
    assert redeemed.status_code == 200, "the refused redemption did not use the code up"
    assert (await flows.refresh(full.refresh_token)).status_code == 200


@pytest.mark.rule("redis.auth-503", "redis.full-503")
async def test_a_full_redis_makes_the_consent_step_a_503_page_and_writes_nothing(
    full: Full
) -> None:
    before = await full.keys()
    await full.fill()
    page = await full.flows.authorize("code")
    assert page.status_code == 503
    assert page.headers["retry-after"] == "5"
    assert "location" not in page.headers
    assert "temporarily unavailable" in page.text
    assert await full.keys() == before


@pytest.mark.rule("redis.auth-503", "redis.full-503")
async def test_a_full_redis_makes_the_consent_decision_a_503_page_that_can_be_resent(
    full: Full
) -> None:
    """The consent page was shown before Redis filled up; approving it must write the code.

    Retiring the transaction is the decision's first write, refused whole: the answer is
    the 503 page, nothing changed (the form is not used up), and the same form sent again
    once Redis has room gets its code."""
    flows = full.flows
    params = {"client_id": "web", "redirect_uri": REDIRECT, "response_type": "code",
              "scope": " ".join(SCOPES), "state": "st", "code_challenge_method": "S256",
              "code_challenge": pkce_s256(VERIFIER)}
    page = await flows.http.get("/oauth/auth/", params=params, headers={USER_HEADER: "alice"})
    assert page.status_code == 200
    form = read_page(page.text)
    fields: dict[str, Any] = {i["name"]: i["value"] for i in form.inputs
                              if i.get("type") == "hidden"}
    fields.update(scope=list(SCOPES), decision="approve")
    headers = {USER_HEADER: "alice", "origin": flows.origin, "sec-fetch-site": "same-origin"}
    before = await full.keys()
    await full.fill()
    decided = await flows.http.post(form.forms[0]["action"], data=fields, headers=headers)
    assert decided.status_code == 503
    assert decided.headers["retry-after"] == "5" and "location" not in decided.headers
    assert await full.keys() == before
    await full.admin.config_set("maxmemory", 0)
    resent = await flows.http.post(form.forms[0]["action"], data=fields, headers=headers)
    assert resent.status_code == 303, resent.text
    location = httpx.URL(resent.headers["location"])
    assert location.params["state"] == "st" and location.params["code"]
    assert (await flows.redeem(location.params["code"])).status_code == 200


@pytest.mark.rule("redis.full-503")
async def test_a_full_redis_still_serves_reads_and_revocations(full: Full) -> None:
    """A full Redis refuses what would grow it, not reads or deletions: a valid token still
    works, an unknown one is still 401, and a revocation (deletes only) really revokes."""
    before = await full.keys()
    await full.fill()
    flows = full.flows
    me = await flows.me(full.token)
    assert me.status_code == 200 and me.json()["user"] == "alice"
    assert (await flows.me("no-such-token")).status_code == 401
    assert await full.keys() == before
    revoked = await flows.revoke(full.token)
    assert revoked.status_code == 200 and revoked.json() == {}
    assert (await flows.introspect(full.token)).json() == {"active": False}
    refused = await flows.me(full.token)
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers[
        "www-authenticate"]
    assert len(await full.keys()) < len(before)
