"""The admin's events page (issue 18): filtered by user, client and type, paged newest
first by a cursor; signed-in admins only, never a bearer token; admin changes recorded."""

from __future__ import annotations

import re

import pytest

from oauth_middleware import issue_token, register_client
from oauth_middleware.audit import AuditTrail
from oauth_middleware.store import TokenStore
from tests.admin.harness import Admin, assert_page_headers, build_host
from tests.audit.harness import events, raw_stream

_ROW = re.compile(r'<tr data-id="([0-9]+-[0-9]+)">')


async def _seed(trail: AuditTrail) -> None:
    """Seven events: alice and bob at two clients, oldest first."""
    for user, client in [("alice", "web"), ("bob", "web"), ("alice", "cli"), ("bob", "cli"),
                         ("alice", "web"), ("carol", "web")]:
        await trail.note("consent.granted", actor=f"user:{user}", user=user, client=client,
                         scopes=["read"])
    await trail.note("client.removed", actor="cli", client="web")


async def test_the_events_page_filters_by_user_client_and_type_and_pages_by_cursor(
        store: TokenStore) -> None:
    trail = AuditTrail(store)
    await _seed(trail)
    ids = [e.id for e in reversed(await events(store))]  # newest first
    async with Admin(build_host(store, page_size=2, audit=trail)) as admin:
        first = await admin.get("/admin/events/")
        assert first.status_code == 200
        assert_page_headers(first)
        assert _ROW.findall(first.text) == ids[:2]
        cursor = re.search(r'cursor=([0-9]+-[0-9]+)', first.text)
        assert cursor is not None and cursor.group(1) == ids[1]
        second = await admin.get("/admin/events/", cursor=cursor.group(1))
        assert _ROW.findall(second.text) == ids[2:4]
        alice_web = await admin.get("/admin/events/", user="alice", client="web")
        removed = await admin.get("/admin/events/", type="client.removed")
        bad_type = await admin.get("/admin/events/", type="token.stolen")
        bad_cursor = await admin.get("/admin/events/", cursor="1-2-3")
    by_id = {e.id: e for e in await events(store)}
    assert [(by_id[i].user, by_id[i].client) for i in _ROW.findall(alice_web.text)] == [
        ("alice", "web"), ("alice", "web")]
    assert [by_id[i].type for i in _ROW.findall(removed.text)] == ["client.removed"]
    assert bad_type.status_code == bad_cursor.status_code == 400
    assert _ROW.findall(bad_type.text) == []


@pytest.mark.rule("auth.login.token-identity-refused")
async def test_the_events_page_refuses_a_bearer_token_and_a_non_admin(store: TokenStore) -> None:
    await register_client(store, "Web", "web", "https://a.example/cb", public=False,
                          scopes_list=["read"])
    token = (await issue_token(store, "web", user="alice")).access_token
    await AuditTrail(store).note("login.succeeded", actor="host", user="alice")
    host = build_host(store)
    async with Admin(host, user=None) as anonymous, Admin(host, user="bob") as bob, \
            Admin(host, user="alice") as alice:
        bearer = await anonymous.http.get("/admin/events/",
                                          headers={"Authorization": f"Bearer {token}"})
        beside = await alice.http.get("/admin/events/",
                                      headers={"Authorization": f"Bearer {token}"})
        not_admin = await bob.get("/admin/events/")
    assert bearer.status_code == beside.status_code == 400
    assert "An access token cannot sign in to the admin" in bearer.text
    assert not _ROW.findall(bearer.text) and not _ROW.findall(beside.text)
    assert not_admin.status_code == 403 and not _ROW.findall(not_admin.text)


@pytest.mark.rule("rest.no-secret-in-events")
async def test_admin_changes_are_recorded_with_the_admin_as_actor_and_no_secret(
        store: TokenStore) -> None:
    trail = AuditTrail(store)
    async with Admin(build_host(store, audit=trail)) as admin:
        created = await admin.post("/admin/clients/new", {
            "title": "Web", "client_id": "web", "redirect_uris": "https://a.example/cb",
            "type": "confidential", "token_lifetime": "3600", "scopes": "",
            "grant_type": ["authorization_code"]})
        rotated = await admin.post("/admin/clients/web/secret", {},
                                   **{"X-Request-ID": "admin-req-7"})
        removed = await admin.post("/admin/clients/web/delete", {"confirm": "on"})
    assert created.status_code == rotated.status_code == 200, created.text
    assert removed.status_code == 303
    secrets = re.findall(r'<code class="value" id="client-secret">([^<]+)<',
                         created.text + rotated.text)
    assert len(secrets) == 2
    assert [(e.type, e.actor, e.client) for e in await events(store)] == [
        ("client.created", "admin:alice", "web"), ("client.secret_rotated", "admin:alice", "web"),
        ("client.removed", "admin:alice", "web")]
    assert [e.request_id for e in await events(store)] == ["", "admin-req-7", ""]
    stream = await raw_stream(store)
    for secret in secrets:
        assert secret not in stream
