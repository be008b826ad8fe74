"""A store that fails between two commands of a request (SECURITY.md "Redis unavailable").

Every request of every flow is replayed once per Redis command it sends, with
that command failing: before it reaches Redis (nothing ran) or after Redis ran
it with the reply lost (the case that matters for a compare-and-set), as a blip
(``once``: redis-py's one retry resends it) or as an outage that lasts. So a
failure lands between reading a code and redeeming it, between the client
lookup and issuing, inside the redeeming pipeline, and everywhere else.

The answers must be exactly: a lasting outage is 503 (JSON
``temporarily_unavailable`` on the token family, a bare 503 on a protected
route, a page on ``auth/``) with ``Retry-After`` and nothing of Redis in it; a
blip on the real backend heals on the retry and the request succeeds (the
embedded backend has no network and no retry, so there it is a 503 too). A
200 is only ever sent for tokens that are stored. A code or refresh token that
Redis consumed while the client got a 503 is the client's to retry: the retry
either succeeds or is ``invalid_grant`` with every token of that grant revoked,
so nothing issued in the dark stays alive.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from oauth_middleware.security import grant_id_of
from oauth_middleware.store import NewTokens, TokenStore
from tests.faults import (
    FROZEN_BOUND,
    FaultPlan,
    assert_no_leak,
    assert_unavailable_bearer,
    assert_unavailable_json,
    assert_unavailable_page,
    inject,
)
from tests.reliability.stack import SCOPES, USER_HEADER, Flows, build, seed
from tests.server.authorize_harness import answer, assert_page, read_page
from tests.store_helpers import get_code, get_refresh, redis_of, texts

#: Drives one node's client and connection pool (a cluster's go by node: tests/test_cluster.py).
pytestmark = pytest.mark.not_on_cluster

Context = dict[str, Any]


@dataclass
class Rig:
    store: TokenStore
    flows: Flows
    plan: FaultPlan
    app: Any
    real: bool

    @property
    def leaks(self) -> tuple[str, ...]:
        port = redis_of(self.store).connection_pool.connection_kwargs.get("port")
        return () if port is None else (f":{port}",)


@pytest.fixture
async def rig(store: TokenStore, backend: str) -> AsyncIterator[Rig]:
    clients = await seed(store)
    app = build(store)
    plan = await inject(store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield Rig(store, Flows(http, clients), plan, app, backend == "redis")


async def _issue(rig: Rig) -> Context:
    issued = await rig.store.issue(NewTokens(client_id="web", subject="alice", refresh=True,
                                             scopes=frozenset(SCOPES)))
    return {"access": issued.access_token, "refresh": issued.refresh_token}


async def _live_keys(store: TokenStore, grant_id: str) -> list[str]:
    keys: list[str] = []
    for kind in ("at", "rt"):
        pattern = f"{store.keys.prefix}{kind}:{{{grant_id}}}:*"
        keys += texts([k async for k in redis_of(store).scan_iter(match=pattern)])
    return keys


async def _assert_stored(store: TokenStore, body: dict[str, Any]) -> None:
    """A 200 token answer whose every token is live in Redis."""
    assert body["token_type"] == "Bearer"
    assert await store.resolve(body["access_token"]) is not None
    if "refresh_token" in body:
        record = await get_refresh(store, body["refresh_token"])
        assert record is not None and not record.rotated


async def _settled(rig: Rig, consumed: str, retry: Callable[[], Awaitable[httpx.Response]]
                   ) -> None:
    """After a 503 the client retries: success, or invalid_grant with the grant all revoked."""
    again = await retry()
    if again.status_code == 200:
        await _assert_stored(rig.store, again.json())
        return
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text
    grant_id = grant_id_of(consumed)
    assert grant_id is not None
    assert await _live_keys(rig.store, grant_id) == []


async def _token_answer(rig: Rig, response: httpx.Response, ok: bool) -> None:
    if ok:
        assert response.status_code == 200, response.text
        await _assert_stored(rig.store, response.json())
    else:
        assert_unavailable_json(response, *rig.leaks)


# Each case: prepare(rig) -> context (unarmed), call(rig, ctx) -> response (armed),
# check(rig, ctx, response, ok) where ok says whether the fault heals.

async def _prep_code(rig: Rig) -> Context:
    return {"code": await rig.flows.code()}


async def _call_redeem(rig: Rig, ctx: Context) -> httpx.Response:
    return await rig.flows.redeem(ctx["code"])


async def _check_redeem(rig: Rig, ctx: Context, response: httpx.Response, ok: bool) -> None:
    await _token_answer(rig, response, ok)
    if response.status_code == 503:
        await _settled(rig, ctx["code"], lambda: rig.flows.redeem(ctx["code"]))


async def _call_refresh(rig: Rig, ctx: Context) -> httpx.Response:
    return await rig.flows.refresh(ctx["refresh"])


async def _check_refresh(rig: Rig, ctx: Context, response: httpx.Response, ok: bool) -> None:
    await _token_answer(rig, response, ok)
    if response.status_code == 503:
        await _settled(rig, ctx["refresh"], lambda: rig.flows.refresh(ctx["refresh"]))


async def _nothing(rig: Rig) -> Context:
    return {}


async def _call_cc(rig: Rig, ctx: Context) -> httpx.Response:
    return await rig.flows.client_credentials()


async def _call_password(rig: Rig, ctx: Context) -> httpx.Response:
    return await rig.flows.password()


async def _check_issue(rig: Rig, ctx: Context, response: httpx.Response, ok: bool) -> None:
    await _token_answer(rig, response, ok)


async def _call_revoke(rig: Rig, ctx: Context) -> httpx.Response:
    return await rig.flows.revoke(ctx["refresh"])


async def _check_revoke(rig: Rig, ctx: Context, response: httpx.Response, ok: bool) -> None:
    if ok:
        assert response.status_code == 200, response.text
    else:
        assert_unavailable_json(response, *rig.leaks)
        assert (await rig.flows.revoke(ctx["refresh"])).status_code == 200
    assert await rig.store.lookup(ctx["refresh"]) is None
    assert await rig.store.resolve(ctx["access"]) is None


async def _call_introspect(rig: Rig, ctx: Context) -> httpx.Response:
    return await rig.flows.introspect(ctx["access"])


async def _check_introspect(rig: Rig, ctx: Context, response: httpx.Response, ok: bool
                            ) -> None:
    if ok:
        assert response.status_code == 200 and response.json()["active"] is True
    else:
        assert_unavailable_json(response, *rig.leaks)


async def _call_me(rig: Rig, ctx: Context) -> httpx.Response:
    return await rig.flows.me(ctx["access"])


async def _check_me(rig: Rig, ctx: Context, response: httpx.Response, ok: bool) -> None:
    if ok:
        assert response.status_code == 200 and response.json()["user"] == "alice"
        assert rig.app.state.calls == ["/me"]
    else:
        assert_unavailable_bearer(response, *rig.leaks)
        assert rig.app.state.calls == []


async def _call_ask(rig: Rig, ctx: Context) -> httpx.Response:
    return await rig.flows.http.get("/oauth/auth/", headers={USER_HEADER: "alice"}, params={
        "client_id": "web", "response_type": "code", "scope": "polls:read", "state": "s"})


async def _check_ask(rig: Rig, ctx: Context, response: httpx.Response, ok: bool) -> None:
    if ok:
        assert_page(response, 200)
    else:
        assert_unavailable_page(response, *rig.leaks)


def _prep_decision(response_type: str) -> Callable[[Rig], Awaitable[Context]]:
    async def prepare(rig: Rig) -> Context:
        page = await rig.flows.http.get("/oauth/auth/", headers={USER_HEADER: "alice"}, params={
            "client_id": "web", "response_type": response_type, "scope": "polls:read"})
        form = read_page(page.text)
        fields = {i["name"]: i["value"] for i in form.inputs if i.get("type") == "hidden"}
        return {"fields": {**fields, "scope": "polls:read", "decision": "approve"}}
    return prepare


async def _call_decide(rig: Rig, ctx: Context) -> httpx.Response:
    return await rig.flows.http.post("/oauth/auth/", data=ctx["fields"], headers={
        USER_HEADER: "alice", "origin": "https://testserver", "sec-fetch-site": "same-origin"})


async def _check_decide(rig: Rig, ctx: Context, response: httpx.Response, ok: bool) -> None:
    if not ok:
        assert_unavailable_page(response, *rig.leaks)
        return
    _, where, params = answer(response)
    assert_no_leak(response, *rig.leaks)
    if where == "query":
        code = await get_code(rig.store, params["code"])
        assert code is not None and not code.used
    else:
        assert await rig.store.resolve(params["access_token"]) is not None


@dataclass(frozen=True)
class Case:
    prepare: Callable[[Rig], Awaitable[Context]]
    call: Callable[[Rig, Context], Awaitable[httpx.Response]]
    check: Callable[[Rig, Context, httpx.Response, bool], Awaitable[None]]


CASES = {
    "token-code": Case(_prep_code, _call_redeem, _check_redeem),
    "token-refresh": Case(_issue, _call_refresh, _check_refresh),
    "token-client-credentials": Case(_nothing, _call_cc, _check_issue),
    "token-password": Case(_nothing, _call_password, _check_issue),
    "revoke": Case(_issue, _call_revoke, _check_revoke),
    "introspect": Case(_issue, _call_introspect, _check_introspect),
    "protected-route": Case(_issue, _call_me, _check_me),
    "auth-ask": Case(_nothing, _call_ask, _check_ask),
    "auth-decide-code": Case(_prep_decision("code"), _call_decide, _check_decide),
    "auth-decide-implicit": Case(_prep_decision("token"), _call_decide, _check_decide),
}


async def _commands(rig: Rig, case: Case) -> list[str]:
    """The Redis commands one request of ``case`` sends, in order, once Redis knows our
    scripts (the first request also loads them)."""
    await case.call(rig, await case.prepare(rig))
    ctx = await case.prepare(rig)
    rig.plan.arm(10**9)
    await case.call(rig, ctx)
    rig.plan.disarm()
    return list(rig.plan.sent)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.rule("redis.token-503", "redis.resource-503", "redis.auth-503",
                  "redis.no-unstored-token", "responses.5xx-generic")
async def test_a_failure_at_any_redis_command_is_answered_as_unavailable_or_heals(
    rig: Rig, name: str
) -> None:
    case = CASES[name]
    commands = await _commands(rig, case)
    assert commands, "the request sends no Redis command"
    for at in range(1, len(commands) + 1):
        for when in ("before", "after"):
            for once in (True, False):
                ctx = await case.prepare(rig)
                rig.app.state.calls.clear()
                rig.plan.arm(at, when, once=once)
                async with asyncio.timeout(FROZEN_BOUND):
                    response = await case.call(rig, ctx)
                rig.plan.disarm()
                assert rig.plan.fired, (at, commands)
                await case.check(rig, ctx, response, once and rig.real)
