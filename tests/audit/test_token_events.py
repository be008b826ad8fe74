"""The token family's audit events (issue 18): what each grant writes, with the right
fields and no secret, in the same round trip as the change where that is one script."""

from __future__ import annotations

import logging

import httpx
import pytest

from oauth_middleware.audit import AuditTrail
from oauth_middleware.request_id import RequestIdMiddleware
from oauth_middleware.store import TokenStore
from tests.audit.harness import assert_absent, audited_app, events, log_text, raw_stream
from tests.server.token_harness import (
    REVOKE_PATH,
    TOKEN_PATH,
    assert_error,
    auth_of,
    code_form,
    confidential,
    http,
    new_code,
)
from tests.store_helpers import redis_of


@pytest.mark.rule("rest.no-secret-in-events")
async def test_a_code_redemption_writes_code_redeemed_with_grant_fingerprint_and_no_secret(
        store: TokenStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "oauth_middleware.audit")
    web = await confidential(store)
    async with http(audited_app(store, AuditTrail(store))) as client:
        code = await new_code(store, "web", scopes=("read", "write"))
        response = await client.post(TOKEN_PATH, data=code_form(code), headers={
            **auth_of(web), "X-Request-ID": "req-42"})
    assert response.status_code == 200, response.text
    body = response.json()
    (event,) = await events(store)
    token = await store.resolve(body["access_token"])
    assert token is not None
    assert (event.type, event.actor, event.client, event.user) == (
        "code.redeemed", "client:web", "web", "alice")
    assert (event.grant, event.fingerprint) == (token.grant_id, token.fingerprint)
    assert event.request_id == "req-42"
    assert dict(event.details) == {"scopes": "read write", "grant_type": "authorization_code"}
    assert web.client_secret is not None
    assert_absent([code, body["access_token"], body["refresh_token"], web.client_secret],
                  await raw_stream(store), log_text(caplog.records))
    assert [r.audit_event["type"] for r in caplog.records  # type: ignore[attr-defined]
            if r.name == "oauth_middleware.audit"] == ["code.redeemed"]


async def test_a_replayed_code_writes_code_replayed_and_its_grant_is_revoked(
        store: TokenStore) -> None:
    web = await confidential(store)
    async with http(audited_app(store, AuditTrail(store))) as client:
        code = await new_code(store, "web")
        first = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
        replay = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    assert first.status_code == 200
    assert_error(replay, 400, "invalid_grant")
    redeemed, replayed = await events(store)
    assert (redeemed.type, replayed.type) == ("code.redeemed", "code.replayed")
    assert replayed.grant == redeemed.grant and replayed.client == "web"
    assert await store.resolve(first.json()["access_token"]) is None
    assert_absent([code, first.json()["access_token"]], await raw_stream(store))


@pytest.mark.rule("rest.no-secret-in-events")
async def test_client_credentials_and_refresh_and_reuse_write_their_events(
        store: TokenStore) -> None:
    web = await confidential(store)
    async with http(audited_app(store, AuditTrail(store))) as client:
        cc = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                               headers=auth_of(web))
        code = await new_code(store, "web")
        issued = (await client.post(TOKEN_PATH, data=code_form(code),
                                    headers=auth_of(web))).json()
        refresh = {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]}
        rotated = await client.post(TOKEN_PATH, data=refresh, headers=auth_of(web))
        reused = await client.post(TOKEN_PATH, data=refresh, headers=auth_of(web))
    assert cc.status_code == rotated.status_code == 200
    assert_error(reused, 400, "invalid_grant")
    kinds = [(e.type, e.actor, e.client, e.user, e.details.get("grant_type")) for e in
             await events(store)]
    assert kinds == [
        ("token.issued", "client:web", "web", "", "client_credentials"),
        ("code.redeemed", "client:web", "web", "alice", "authorization_code"),
        ("token.refreshed", "client:web", "web", "alice", "refresh_token"),
        ("refresh.reused", "client:web", "web", "alice", None),
    ]
    assert_absent([cc.json()["access_token"], issued["refresh_token"],
                   rotated.json()["refresh_token"], rotated.json()["access_token"]],
                  await raw_stream(store))


async def test_an_issue_has_its_event_as_soon_as_the_token_endpoint_answered(
        store: TokenStore) -> None:
    """Atomicity: the event is in Redis when the answer is, for 50 issues at once."""
    web = await confidential(store)
    async with http(audited_app(store, AuditTrail(store))) as client:
        async def one() -> httpx.Response:
            return await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                     headers=auth_of(web))
        import asyncio
        answers = await asyncio.gather(*(one() for _ in range(50)))
    assert {a.status_code for a in answers} == {200}
    fingerprints = {(await store.resolve(a.json()["access_token"])).fingerprint  # type: ignore[union-attr]
                    for a in answers}
    assert {e.fingerprint for e in await events(store) if e.type == "token.issued"} == fingerprints


@pytest.mark.not_on_cluster
async def test_on_one_server_the_grant_script_itself_writes_the_event(
        store: TokenStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """No separate append happens for an issue, a redemption, a rotation, a revocation or
    a replay's revocation: the event comes from the script that made the change (one step,
    so never one without the other), in its form for the event's shape (the names in its
    source, not sent): no generic form is ever loaded."""
    from oauth_middleware.store import _grant_scripts
    from oauth_middleware.store._events import Evented, EventStream

    generic = [v.generic.sha for v in vars(_grant_scripts).values() if isinstance(v, Evented)]
    await redis_of(store).script_flush()

    async def refuse(*args: object) -> str:
        raise AssertionError("a script's change needs no separate append")

    web = await confidential(store)
    monkeypatch.setattr(EventStream, "append", refuse)
    async with http(audited_app(store, AuditTrail(store))) as client:
        code = await new_code(store, "web")
        issued = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
        rotated = await client.post(TOKEN_PATH, data={
            "grant_type": "refresh_token", "refresh_token": issued.json()["refresh_token"]},
            headers=auth_of(web))
        cc = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                               headers=auth_of(web))
        revoked = await client.post(REVOKE_PATH, data={"token": cc.json()["access_token"]},
                                    headers=auth_of(web))
        replay = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    assert issued.status_code == rotated.status_code == cc.status_code == 200
    assert revoked.status_code == 200
    assert_error(replay, 400, "invalid_grant")
    assert [e.type for e in await events(store)] == [
        "code.redeemed", "token.refreshed", "token.issued", "token.revoked", "code.replayed"]
    assert len(generic) == 6 and not any(await redis_of(store).script_exists(*generic))


async def test_fifty_concurrent_redemptions_of_one_code_write_one_redeemed_and_replays(
        store: TokenStore) -> None:
    """Of 50 racing redemptions one wins; a loser that finds the code used is a replay
    (the grant is revoked, after which the code is simply gone): at least one replay
    event, each of the same grant and naming the code presented (by fingerprint), never
    a token that was not issued."""
    import asyncio

    from oauth_middleware.security import fingerprint

    web = await confidential(store)
    async with http(audited_app(store, AuditTrail(store))) as client:
        code = await new_code(store, "web")
        answers = await asyncio.gather(*(client.post(
            TOKEN_PATH, data=code_form(code), headers=auth_of(web)) for _ in range(50)))
    assert sorted(a.status_code for a in answers) == [200] + [400] * 49
    found = await events(store)
    (won,) = [e for e in found if e.type == "code.redeemed"]
    replays = [e for e in found if e.type == "code.replayed"]
    assert replays and len(found) == 1 + len(replays)
    assert {(e.grant, e.fingerprint, e.client) for e in replays} == {
        (won.grant, fingerprint(code), "web")}
    assert won.fingerprint != fingerprint(code)
    assert_absent([code], await raw_stream(store))


async def test_fifty_concurrent_refreshes_with_one_token_write_one_refreshed_and_reuses(
        store: TokenStore) -> None:
    import asyncio

    web = await confidential(store)
    async with http(audited_app(store, AuditTrail(store))) as client:
        code = await new_code(store, "web")
        issued = (await client.post(TOKEN_PATH, data=code_form(code),
                                    headers=auth_of(web))).json()
        form = {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]}
        answers = await asyncio.gather(*(client.post(TOKEN_PATH, data=form,
                                                     headers=auth_of(web))
                                         for _ in range(50)))
    assert sorted(a.status_code for a in answers) == [200] + [400] * 49
    found = await events(store)
    kinds = [e.type for e in found]
    assert kinds.count("token.refreshed") == 1 and kinds.count("refresh.reused") >= 1
    assert set(kinds) == {"code.redeemed", "token.refreshed", "refresh.reused"}
    (refreshed,) = [e for e in found if e.type == "token.refreshed"]
    assert {e.grant for e in found if e.type == "refresh.reused"} == {refreshed.grant}
    assert await store.resolve(issued["access_token"]) is None  # the grant was revoked


@pytest.mark.rule("rest.request-id-safe")
async def test_events_carry_the_request_id_middleware_id_and_never_a_stale_or_unsafe_one(
        store: TokenStore) -> None:
    """One request id per request, the one the logs and the response show: the id
    ``RequestIdMiddleware`` made (none sent), the client's own safe one, and for a request
    sent past the middleware with an unsafe id none at all (never the previous one)."""
    web = await confidential(store)
    server_app = audited_app(store, AuditTrail(store))
    async with http(RequestIdMiddleware(server_app)) as client:
        made = await client.post(TOKEN_PATH, data=code_form(await new_code(store, "web")),
                                 headers=auth_of(web))
        own = await client.post(TOKEN_PATH, data=code_form(await new_code(store, "web")),
                                headers={**auth_of(web), "X-Request-ID": "own-1"})
    async with http(server_app) as client:
        unsafe = await client.post(TOKEN_PATH, data=code_form(await new_code(store, "web")),
                                   headers={**auth_of(web), "X-Request-ID": "a b\tc"})
    assert made.status_code == own.status_code == unsafe.status_code == 200
    assert own.headers["x-request-id"] == "own-1"
    assert [e.request_id for e in await events(store)] == [
        made.headers["x-request-id"], "own-1", ""]
