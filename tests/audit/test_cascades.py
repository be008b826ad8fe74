"""The grants the store takes with another change are recorded (issue 18: "revoked ... by a
cascade"): those exchanged from a revoked grant (RFC 8693) and those displaced past a
user's or a client's grant cap. Each is one ``token.revoked`` event by ``cascade``, with
the grant that went, its client and user, and why; written by the sweeping script on one
server and right after it on a cluster, and heard by the logger and the hook alike."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from oauth_middleware import request_id
from oauth_middleware.audit import AuditTrail, cascading
from oauth_middleware.limits import MAX_EXCHANGE_DEPTH
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.toolbox import RegisteredClient, issue_token, register_client
from tests.account.harness import PAGE, csrf_of
from tests.admin.harness import USER_HEADER as ADMIN_USER
from tests.admin.harness import Admin, build_host
from tests.audit.harness import assert_absent, events, log_text, raw_stream
from tests.audit.test_every_sink import Fields, Sinks, same_everywhere, sinks, streamed
from tests.audit.test_who_acted import _account_host as account_host
from tests.conftest import FakeClock
from tests.server.exchange_harness import exchange, exchange_app, own_token, services, user_token
from tests.server.test_token_exchange_chains import grant_of
from tests.server.token_harness import REVOKE_PATH, TOKEN_PATH, auth_of, http
from tests.store_helpers import redis_of
from tests.test_grant_cap import capped

__all__ = ["sinks"]  # the fixture, imported to be used here

CB = "https://app.example/cb"


def cascades(stream: list[Fields]) -> list[Fields]:
    return [f for f in stream if f.get("actor") == "cascade"]


async def cascaded(store: TokenStore, sinks: Sinks) -> list[Fields]:
    """The stream's cascade events, times left out, by grant id; the logger and the hook
    were told of the stream's every event, as it holds them."""
    stream = await streamed(store)
    same_everywhere(stream, sinks)
    return sorted(map(without_time, cascades(stream)), key=lambda f: f["grant"])


def by_grant(*expected: Fields) -> list[Fields]:
    return sorted(expected, key=lambda f: f["grant"])


def revoked_by_cascade(grant: str, client: str, user: str, reason: str) -> dict[str, str]:
    """The fields of a cascade's event but its time (``user`` "" for none)."""
    fields = {"type": "token.revoked", "actor": "cascade", "by": "cascade",
              "client": client, "user": user, "grant": grant, "reason": reason}
    return {k: v for k, v in fields.items() if v}


def without_time(fields: Fields) -> Fields:
    return {k: v for k, v in fields.items() if k != "time"}


async def exchanged(client: httpx.AsyncClient, store: TokenStore,
                    clients: dict[str, RegisteredClient], subject: str) -> str:
    """``api-b`` exchanges ``subject`` (with its own token as the actor's): the new token."""
    answer = await exchange(client, clients["api-b"], subject, await own_token(store, "api-b"))
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


@pytest.mark.rule("rest.no-secret-in-events")
async def test_grants_exchanged_from_a_revoked_grant_are_each_revoked_by_cascade(
        store: TokenStore, clock: FakeClock, sinks: Sinks,
        caplog: pytest.LogCaptureFixture) -> None:
    clients = await services(store)
    subject, refresh = await user_token(store)
    trail = AuditTrail(store, on_event=sinks.hook)
    chain = [subject]
    async with http(exchange_app(store, clock, audit=trail)) as client:
        for _ in range(MAX_EXCHANGE_DEPTH):  # each exchanged from the one before
            chain.append(await exchanged(client, store, clients, chain[-1]))
        grants = [await grant_of(store, t) for t in chain]
        await redis_of(store).delete(store.keys.events)  # the exchanges' own events
        sinks.hooked.clear()
        caplog.clear()
        revoked = await client.post(REVOKE_PATH, data={"token": refresh},
                                    headers=auth_of(clients["web"]))
    assert revoked.status_code == 200, revoked.text
    stream = await streamed(store)
    parent, *rest = stream
    assert (parent["actor"], parent["grant"]) == ("client:web", grants[0])
    assert sorted(map(without_time, rest), key=lambda f: f["grant"]) == sorted(
        (revoked_by_cascade(g, "api-b", "alice", "parent revoked") for g in grants[1:]),
        key=lambda f: f["grant"])
    same_everywhere(stream, sinks)
    secrets = [*chain, refresh, clients["web"].client_secret or "?"]
    assert_absent(secrets, await raw_stream(store), log_text(caplog.records),
                  repr(sinks.hooked))


async def test_a_refresh_reuse_records_the_grants_exchanged_from_the_grant_it_revoked(
        store: TokenStore, clock: FakeClock, sinks: Sinks) -> None:
    clients = await services(store)
    subject, refresh = await user_token(store)
    trail = AuditTrail(store, on_event=sinks.hook)
    async with http(exchange_app(store, clock, audit=trail)) as client:
        child = await grant_of(store, await exchanged(client, store, clients, subject))
        form = {"grant_type": "refresh_token", "refresh_token": refresh}
        first = await client.post(TOKEN_PATH, data=form, headers=auth_of(clients["web"]))
        reuse = await client.post(TOKEN_PATH, data=form, headers=auth_of(clients["web"]))
    assert first.status_code == 200 and reuse.status_code == 400, reuse.text
    assert "refresh.reused" in [f["type"] for f in await streamed(store)]
    assert await cascaded(store, sinks) == [
        revoked_by_cascade(child, "api-b", "alice", "parent revoked")]


@pytest.mark.rule("rest.no-secret-in-events")
async def test_grants_displaced_past_a_users_cap_are_revoked_by_cascade(
        store: TokenStore, clock: FakeClock, sinks: Sinks,
        caplog: pytest.LogCaptureFixture) -> None:
    small = capped(store, user=2)
    trail = AuditTrail(small, on_event=sinks.hook)
    await register_client(small, "T", "t", CB, scopes_list=["read"])
    issued = []
    for _ in range(4):
        clock.advance(1)  # each expires after the one before: the oldest goes first
        issued.append(await issue_token(small, "t", user="mallory", audit=trail))
    host = [f["type"] for f in await streamed(small) if f["actor"] == "host"]
    assert host == ["token.issued"] * 4
    assert [await small.resolve(i.access_token) for i in issued[:2]] == [None, None]
    assert [await small.resolve(i.access_token) is None for i in issued[2:]] == [False] * 2
    assert await cascaded(small, sinks) == by_grant(*(  # the two live grants have none
        revoked_by_cascade(i.token.grant_id, "t", "mallory", "over the cap")
        for i in issued[:2]))
    assert_absent([t for i in issued for t in (i.access_token, str(i.refresh_token))],
                  await raw_stream(small), log_text(caplog.records), repr(sinks.hooked))


async def test_a_clients_own_grants_displaced_past_its_cap_are_revoked_by_cascade(
        store: TokenStore, clock: FakeClock, sinks: Sinks) -> None:
    small = capped(store, client=1)
    await register_client(small, "Service", "svc", CB, public=False, scopes_list=["read"],
                          grant_types=["client_credentials"])
    trail = AuditTrail(small, on_event=sinks.hook)
    first = await issue_token(small, "svc", audit=trail)
    clock.advance(1)
    second = await issue_token(small, "svc", audit=trail)
    assert await small.resolve(first.access_token) is None
    assert await small.resolve(second.access_token) is not None
    assert await cascaded(small, sinks) == [
        revoked_by_cascade(first.token.grant_id, "svc", "", "over the cap")]


async def test_a_cascade_is_recorded_only_with_a_trail_and_keeps_the_stream_bounded(
        store: TokenStore, clock: FakeClock) -> None:
    small = capped(store, user=1)
    await register_client(small, "T", "t", CB, scopes_list=["read"])
    for _ in range(3):
        clock.advance(1)
        await issue_token(small, "t", user="mallory")
    assert await redis_of(small).exists(small.keys.events) == 0
    trail = AuditTrail(small, retention=10)
    for _ in range(150):  # each displaces the one before: two events an issue
        clock.advance(1)
        await issue_token(small, "t", user="mallory", audit=trail)
    length = await redis_of(small).xlen(small.keys.events)
    assert 10 <= length <= 110
    newest, _ = await trail.page(count=10)
    assert {e.actor for e in newest} == {"host", "cascade"}


async def test_a_user_id_read_back_from_a_record_is_cleaned_in_its_cascade_event(
        store: TokenStore, clock: FakeClock, sinks: Sinks) -> None:
    """A grant stored before user ids were checked may hold a control character: its
    cascade event, which takes the user from the record, holds it cleaned."""
    small = capped(store, user=1)
    trail = AuditTrail(small, on_event=sinks.hook)
    await register_client(small, "T", "t", CB, scopes_list=["read"])
    old = await small.issue(NewTokens(client_id="t", subject="mal\nlory",
                                      scopes=frozenset({"read"})))
    clock.advance(1)
    spec = NewTokens(client_id="t", subject="mal\nlory", scopes=frozenset({"read"}),
                     event=trail.stream_event("token.issued", actor="host", client="t"))
    await small.issue(spec)
    assert await cascaded(small, sinks) == [
        revoked_by_cascade(old.token.grant_id, "t", "mal?lory", "over the cap")]
    raw = await raw_stream(small)
    assert "mal\\nlory" not in raw and "mal?lory" in raw


@pytest.mark.parametrize("how", ["admin-client", "admin-token", "person", "store-token"])
async def test_grants_exchanged_from_one_revoked_by_whoever_records_after_are_recorded_too(
        store: TokenStore, clock: FakeClock, how: str) -> None:
    """Revocations whose own event is recorded once they are done (the admin, a person on
    the connected-apps page, the CLI through the store's calls) hand the trail's cascade
    to the store, which records what they took with them. (Revoking everything of alice
    would revoke the exchanged grant as one of hers, recorded by that revocation's event.)"""
    clients = await services(store)
    subject, refresh = await user_token(store)
    async with http(exchange_app(store, clock)) as client:
        child = await grant_of(store, await exchanged(client, store, clients, subject))
    parent = await store.resolve(subject)
    assert parent is not None
    trail = AuditTrail(store)
    if how.startswith("admin"):
        async with Admin(build_host(store, audit=trail)) as admin:
            done = await (admin.post("/admin/clients/web/tokens/revoke-all", {"confirm": "on"})
                          if how == "admin-client" else admin.post("/admin/tokens/revoke", {
                              "grant_id": parent.grant_id, "fingerprint": parent.fingerprint}))
        assert done.status_code == 303, done.text
    elif how == "person":
        async with account_host(store, trail) as page_http:
            page = await page_http.get(PAGE, headers={ADMIN_USER: "alice"})
            done = await page_http.post(PAGE + "revoke", headers={ADMIN_USER: "alice"}, data={
                "csrf_token": csrf_of(page), "grant_id": parent.grant_id})
        assert done.status_code == 303, done.text
    else:  # what the CLI's token revoke calls
        assert await store.revoke_token(refresh, cascade=cascading(trail))
    assert await store.resolve(subject) is None
    found = [without_time(e.fields()) for e in await events(store) if e.actor == "cascade"]
    assert found == [revoked_by_cascade(child, "api-b", "alice", "parent revoked")]


async def test_a_grant_displaced_past_the_cap_takes_its_exchanged_grants_each_recorded(
        store: TokenStore, clock: FakeClock, sinks: Sinks) -> None:
    """alice's grant that expires first is displaced by her third (the cap is two): the
    grant exchanged from it goes too, as ``parent revoked``."""
    small = capped(store, user=2)
    await register_client(small, "Web", "web", CB, scopes_list=["read"])
    trail = AuditTrail(small, on_event=sinks.hook)
    first = await small.issue(NewTokens(client_id="web", subject="alice", lifetime=100,
                                        scopes=frozenset({"read"})))
    child = await small.issue_exchanged(NewTokens(
        client_id="api", subject="alice", scopes=frozenset({"read"}), lifetime=3600,
        parent_grant=first.token.grant_id, exchange_depth=1), first.access_token)
    assert child is not None
    clock.advance(1)
    third = await issue_token(small, "web", user="alice", audit=trail)
    assert [await small.resolve(t.access_token) is None for t in (first, child, third)] == [
        True, True, False]
    assert await cascaded(small, sinks) == by_grant(
        revoked_by_cascade(first.token.grant_id, "web", "alice", "over the cap"),
        revoked_by_cascade(child.token.grant_id, "api", "alice", "parent revoked"))


async def test_fifty_concurrent_issues_past_the_cap_record_each_displaced_grant_once(
        store: TokenStore, sinks: Sinks) -> None:
    """Every grant the cap took has exactly one cascade event, and no live grant has one."""
    small = capped(store, user=5)
    await register_client(small, "Web", "web", CB, scopes_list=["read"])
    trail = AuditTrail(small, on_event=sinks.hook)
    issued = await asyncio.gather(*(issue_token(small, "web", user="mallory", audit=trail)
                                    for _ in range(50)))
    live = {i.token.grant_id for i in issued
            if await small.resolve(i.access_token) is not None}
    dead = {i.token.grant_id for i in issued} - live
    assert len(live) == 5
    recorded = await cascaded(small, sinks)
    assert [f["grant"] for f in recorded] == sorted(dead)  # each once, and only those
    assert {f["reason"] for f in recorded} == {"over the cap"}


async def test_a_displaced_grants_event_names_the_request_that_displaced_it_unheard_too(
        store: TokenStore, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    """With nothing listening but the stream (no hook, the logger above INFO), the issuing
    script still records the grant it displaced, in the request id of the issue that
    displaced it: an operator follows one request from its issue to what it took."""
    caplog.set_level(logging.WARNING, logger="oauth_middleware.audit")
    small = capped(store, user=1)
    trail = AuditTrail(small)
    assert not trail.listening()
    await register_client(small, "T", "t", CB, scopes_list=["read"])
    first = await issue_token(small, "t", user="mallory", audit=trail)
    clock.advance(1)
    token = request_id.REQUEST_ID.set("req-displacing")
    try:
        await issue_token(small, "t", user="mallory", audit=trail)
    finally:
        request_id.REQUEST_ID.reset(token)
    stream = await streamed(small)
    displaced = cascades(stream)
    assert [without_time(f) for f in displaced] == [
        {**revoked_by_cascade(first.token.grant_id, "t", "mallory", "over the cap"),
         "request_id": "req-displacing"}]
    issued = [f for f in stream if f["type"] == "token.issued"]
    assert [f.get("request_id") for f in issued] == [None, "req-displacing"]
    assert displaced[0]["time"] == issued[1]["time"] == f"{clock.now:.3f}"
