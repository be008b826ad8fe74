"""Audit events outside the token endpoint's grants (issue 18): consent at ``auth/``,
revocation, throttling, registration, the host's login hook; the stream's bound; the
``on_event`` hook isolated from the request."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from oauth_middleware.audit import AuditTrail, Event
from oauth_middleware.security import fingerprint
from oauth_middleware.server import RegistrationPolicy, ThrottlePolicy
from oauth_middleware.store import TokenStore
from tests.audit.harness import (
    WEB,
    assert_absent,
    audited_app,
    events,
    log_text,
    raw_stream,
)
from tests.server.authorize_harness import open_harness
from tests.server.token_harness import (
    REVOKE_PATH,
    TOKEN_PATH,
    assert_error,
    auth_of,
    basic,
    code_form,
    confidential,
    http,
    new_code,
)
from tests.store_helpers import redis_of


@pytest.mark.rule("rest.no-secret-in-events")
async def test_consent_granted_and_the_code_it_issued_are_events_without_the_code(
        store: TokenStore) -> None:
    async with open_harness(store, audit=AuditTrail(store)) as harness:
        page = await harness.consent("alice", **WEB)
        response = await harness.decide(page, scopes=["polls:read"])
    assert response.status_code == 303
    code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    granted, issued = await events(store)
    assert (granted.type, granted.actor, granted.user, granted.client) == (
        "consent.granted", "user:alice", "alice", "web")
    assert dict(granted.details) == {"scopes": "polls:read"}
    assert (issued.type, issued.user, issued.client, issued.details["scopes"]) == (
        "code.issued", "alice", "web", "polls:read")
    assert issued.grant and issued.fingerprint == fingerprint(code)
    assert_absent([code], await raw_stream(store))


async def test_consent_denied_is_an_event_with_the_scopes_asked_and_no_code(
        store: TokenStore) -> None:
    async with open_harness(store, audit=AuditTrail(store)) as harness:
        page = await harness.consent("alice", **WEB)
        response = await harness.decide(page, "deny")
    assert response.status_code == 303
    assert "error=access_denied" in response.headers["location"]
    (denied,) = await events(store)
    assert (denied.type, denied.user, denied.client, denied.details["scopes"]) == (
        "consent.denied", "alice", "web", "polls:read polls:vote")


@pytest.mark.rule("rest.no-secret-in-events")
async def test_a_client_revoking_its_token_writes_token_revoked_by_the_client(
        store: TokenStore) -> None:
    web = await confidential(store)
    async with http(audited_app(store, AuditTrail(store))) as client:
        code = await new_code(store, "web")
        issued = (await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))).json()
        revoked = await client.post(REVOKE_PATH, data={"token": issued["access_token"]},
                                    headers=auth_of(web))
        gone = await client.post(REVOKE_PATH, data={"token": issued["refresh_token"]},
                                 headers=auth_of(web))
    assert revoked.status_code == gone.status_code == 200
    _, access, grant = await events(store)
    token_fp = fingerprint(issued["access_token"])
    assert (access.type, access.actor, access.user, access.details["by"],
            access.details["reason"]) == ("token.revoked", "client:web", "alice", "client",
                                          "access token")
    assert access.fingerprint == token_fp and grant.details["reason"] == "grant"
    assert await store.resolve(issued["access_token"]) is None
    assert_absent([issued["access_token"], issued["refresh_token"]], await raw_stream(store))


@pytest.mark.rule("abuse.bounded.audit-stream")
async def test_the_first_refused_guess_is_one_throttle_event_naming_the_client_by_fingerprint(
        store: TokenStore) -> None:
    await confidential(store)
    app = audited_app(store, AuditTrail(store), throttle=ThrottlePolicy(client_failures=2))
    async with http(app) as client:
        answers = [await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                     headers=basic("web", f"wrong-{i}")) for i in range(6)]
    assert [a.status_code for a in answers] == [401, 401, 429, 429, 429, 429]
    assert_error(answers[2], 429, "slow_down")
    (engaged,) = await events(store)
    assert (engaged.type, engaged.fingerprint, engaged.details["reason"]) == (
        "throttle.engaged", fingerprint("web"), "client")
    assert_absent([f"wrong-{i}" for i in range(6)], await raw_stream(store))


@pytest.mark.rule("abuse.bounded.audit-stream")
async def test_the_stream_stays_within_its_retention_however_many_tokens_are_issued(
        store: TokenStore) -> None:
    web = await confidential(store)
    async with http(audited_app(store, AuditTrail(store, retention=100))) as client:
        for _ in range(6):
            answers = await asyncio.gather(*(client.post(
                TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=auth_of(web))
                for _ in range(50)))
            assert {a.status_code for a in answers} == {200}
    length = await redis_of(store).xlen(store.keys.events)
    assert 100 <= length <= 100 + 100  # MAXLEN ~ trims whole nodes of 100 entries
    assert length < 300


def _raising(event: Event) -> None:
    raise RuntimeError(f"hook broke on {event.fingerprint}")


async def _raising_async(event: Event) -> None:
    raise RuntimeError(f"hook broke on {event.fingerprint}")


async def _never_done(event: Event) -> None:
    await asyncio.Event().wait()


@pytest.mark.rule("rest.no-secret-in-events")
@pytest.mark.parametrize("hook", [_raising, _raising_async, _never_done],
                         ids=["sync-raises", "async-raises", "async-hangs"])
async def test_a_failing_or_hanging_on_event_hook_never_breaks_the_request(
        store: TokenStore, hook: Any, caplog: pytest.LogCaptureFixture) -> None:
    web = await confidential(store)
    trail = AuditTrail(store, on_event=hook, hook_timeout=0.05)
    async with http(audited_app(store, trail)) as client:
        answer = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                   headers=auth_of(web))
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    assert await store.resolve(token) is not None
    assert [e.type for e in await events(store)] == ["token.issued"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                and r.name == "oauth_middleware.audit"]
    assert len(warnings) == 1
    assert "hook" in warnings[0].getMessage() and "token.issued" in warnings[0].getMessage()
    assert "hook broke on" not in log_text(caplog.records)  # the exception's text stays out
    assert web.client_secret is not None
    assert_absent([token, web.client_secret], log_text(caplog.records))


async def test_a_working_hook_gets_each_event_sync_or_async(store: TokenStore) -> None:
    seen: list[Event] = []

    async def forward(event: Event) -> None:
        seen.append(event)

    web = await confidential(store)
    async with http(audited_app(store, AuditTrail(store, on_event=forward))) as client:
        await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                          headers=auth_of(web))
    trail = AuditTrail(store, on_event=seen.append)
    login = await trail.login("bob", succeeded=False, reason="bad password")
    assert [(e.type, e.client, e.user) for e in seen] == [
        ("token.issued", "web", ""), ("login.failed", "", "bob")]
    assert login.id and seen[1].id == login.id and seen[1].actor == "host"
    assert [e.type for e in await events(store)] == ["token.issued", "login.failed"]


def test_an_event_refuses_an_unknown_type_or_a_detail_outside_the_fixed_set() -> None:
    with pytest.raises(ValueError, match="unknown audit event type"):
        Event(type="token.stolen", time=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="details"):
        Event(type="token.issued", time=0, details={"password": "hunter2"})
    event = Event(type="token.issued", time=1.5, user="al\x1bice\n", details={"by": "cli"})
    assert event.fields() == {"type": "token.issued", "time": "1.500", "user": "al?ice?",
                              "by": "cli"}


async def test_registration_writes_client_registered_and_its_deletion_client_removed(
        store: TokenStore) -> None:
    app = audited_app(store, AuditTrail(store), registration=RegistrationPolicy())
    async with http(app) as client:
        made = await client.post("/oauth/register/", json={
            "redirect_uris": ["http://127.0.0.1:8000/cb"], "client_name": "Dyn",
            "token_endpoint_auth_method": "none"})
        assert made.status_code == 201, made.text
        body = made.json()
        deleted = await client.delete(
            f"/oauth/register/{body['client_id']}",
            headers={"Authorization": f"Bearer {body['registration_access_token']}"})
    assert deleted.status_code == 204
    registered, removed = await events(store)
    assert (registered.type, registered.client, registered.actor) == (
        "client.registered", body["client_id"], "registration")
    assert (removed.type, removed.client) == ("client.removed", body["client_id"])
    assert "client_secret" not in body  # a public client: its registration token is the secret
    assert_absent([body["registration_access_token"]], await raw_stream(store))
