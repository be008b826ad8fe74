"""Who issued or revoked it (issue 18): tokens and codes issued outside the token endpoint
(the admin, the toolbox for the host's code), revocations by a person on the
connected-apps page, and the tokens a client's removal takes with it (``cascade``),
each recorded with its actor, the grant and fingerprint of what it issued, and no secret."""

from __future__ import annotations

import html
import logging
import re

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import Mount

from oauth_middleware.account import ConnectedAppsApp
from oauth_middleware.audit import AuditTrail, Event
from oauth_middleware.security import fingerprint, pkce_s256
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import issue_code, issue_token, register_client, remove_client
from tests.account.harness import PAGE, csrf_of, world
from tests.admin.harness import KEY, USER_HEADER, Admin, HeaderUsers, build_host
from tests.audit.harness import assert_absent, events, log_text, raw_stream
from tests.server.authorize_harness import open_harness
from tests.server.test_par import ASK, PAR
from tests.server.test_par import confidential as par_client
from tests.server.token_harness import auth_of

CB = "https://a.example/cb"


def _shown(page_text: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', page_text)
    assert found is not None, element_id
    return html.unescape(found.group(1))


@pytest.mark.rule("rest.no-secret-in-events")
async def test_an_admin_issuing_a_token_and_a_code_is_the_actor_of_both_events(
        store: TokenStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "oauth_middleware.audit")
    hooked: list[Event] = []
    trail = AuditTrail(store, on_event=hooked.append)
    await register_client(store, "Web", "web", CB, public=False, scopes_list=["read", "write"])
    async with Admin(build_host(store, audit=trail)) as admin:
        token_page = await admin.post("/admin/clients/web/tokens/issue",
                                      {"user": "bob", "scopes": "read"},
                                      **{"X-Request-ID": "admin-issue-1"})
        code_page = await admin.post("/admin/clients/web/codes/issue", {
            "user": "carol", "redirect_uri": CB, "scopes": "write",
            "code_challenge": pkce_s256("verifier-" * 6)})
    assert token_page.status_code == code_page.status_code == 200, token_page.text
    access, refresh = _shown(token_page.text, "access-token"), _shown(token_page.text,
                                                                       "refresh-token")
    code = _shown(code_page.text, "authorization-code")
    record = await store.resolve(access)
    assert record is not None
    token_event, code_event = await events(store)
    assert (token_event.type, token_event.actor, token_event.client, token_event.user) == (
        "token.issued", "admin:alice", "web", "bob")
    assert (token_event.grant, token_event.fingerprint) == (record.grant_id,
                                                            record.fingerprint)
    assert dict(token_event.details) == {"by": "admin", "scopes": "read"}
    assert token_event.request_id == "admin-issue-1"
    assert (code_event.type, code_event.actor, code_event.user, code_event.fingerprint) == (
        "code.issued", "admin:alice", "carol", fingerprint(code))
    assert code_event.grant and dict(code_event.details) == {"by": "admin", "scopes": "write"}
    assert [e.type for e in hooked] == ["token.issued", "code.issued"]
    assert_absent([access, refresh, code], await raw_stream(store), log_text(caplog.records),
                  repr(hooked))


async def test_the_hosts_own_code_issuing_through_the_toolbox_is_the_host(
        store: TokenStore) -> None:
    trail = AuditTrail(store)
    await register_client(store, "Web", "web", CB, public=False, scopes_list=["read"],
                          grant_types=["client_credentials", "authorization_code"])
    own = await issue_token(store, "web", audit=trail)
    code = await issue_code(store, "web", user="dave", redirect_uri=CB, audit=trail)
    untracked = await issue_token(store, "web")
    issued, coded = await events(store)
    assert (issued.type, issued.actor, issued.client, issued.user, issued.fingerprint) == (
        "token.issued", "host", "web", "", own.token.fingerprint)
    assert issued.details["by"] == "host"
    assert (coded.type, coded.actor, coded.user, coded.fingerprint) == (
        "code.issued", "host", "dave", fingerprint(code.code))
    assert untracked.token.grant_id not in {issued.grant, coded.grant}


@pytest.mark.rule("rest.no-secret-in-events")
async def test_removing_a_client_records_its_removal_then_the_tokens_it_took_as_a_cascade(
        store: TokenStore) -> None:
    trail = AuditTrail(store)
    await register_client(store, "Web", "web", CB, public=False, scopes_list=["read"])
    await register_client(store, "Idle", "idle", CB, public=False, scopes_list=["read"])
    tokens = [await issue_token(store, "web", user=user) for user in ("alice", "bob")]
    async with Admin(build_host(store, audit=trail)) as admin:
        removed = await admin.post("/admin/clients/web/delete", {"confirm": "on"})
    assert removed.status_code == 303
    assert await remove_client(store, "idle", audit=trail)
    found = [(e.type, e.actor, e.client, e.details.get("by"), e.details.get("reason"))
             for e in await events(store)]
    assert found == [
        ("client.removed", "admin:alice", "web", None, "its grants revoked"),
        ("token.revoked", "cascade", "web", "cascade", "client removed"),
        ("client.removed", "host", "idle", None, "its grants revoked"),  # nothing to cascade
    ]
    cascade = (await events(store))[1]
    assert int(cascade.details["count"]) >= 4  # two access and two refresh tokens at least
    assert_absent([v for t in tokens for v in (t.access_token, t.refresh_token or "x" * 30)],
                  await raw_stream(store))


def _account_host(store: TokenStore, trail: AuditTrail) -> httpx.AsyncClient:
    page = ConnectedAppsApp(store=store, secret_key=KEY, audit=trail)
    app = Starlette(routes=[Mount("/account/apps", page)],
                    middleware=[Middleware(AuthenticationMiddleware, backend=HeaderUsers())])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url="https://testserver")


@pytest.mark.rule("rest.no-secret-in-events")
async def test_a_person_revoking_on_the_connected_apps_page_is_the_actor(
        store: TokenStore) -> None:
    issued = await world(store)
    trail = AuditTrail(store)
    async with _account_host(store, trail) as http:
        page = await http.get(PAGE, headers={USER_HEADER: "alice"})
        csrf = csrf_of(page)
        revoked = await http.post(PAGE + "revoke", headers={USER_HEADER: "alice"}, data={
            "csrf_token": csrf, "grant_id": issued["other"].token.grant_id})
        disconnected = await http.post(PAGE + "disconnect", headers={USER_HEADER: "alice"},
                                       data={"csrf_token": csrf, "client_id": "web"})
        nothing = await http.post(PAGE + "disconnect", headers={USER_HEADER: "alice"},
                                  data={"csrf_token": csrf, "client_id": "web"})
    assert revoked.status_code == disconnected.status_code == 303
    assert nothing.status_code == 404  # nothing revoked: nothing recorded
    found = [(e.type, e.actor, e.user, e.client, e.grant, e.details.get("by"))
             for e in await events(store)]
    assert found == [
        ("token.revoked", "user:alice", "alice", "", issued["other"].token.grant_id, "user"),
        ("token.revoked", "user:alice", "alice", "web", "", "user"),
    ]
    assert_absent([t.access_token for t in issued.values()], await raw_stream(store))


@pytest.mark.rule("rest.no-secret-in-events")
async def test_a_pushed_request_and_a_client_change_are_events_of_their_actor(
        store: TokenStore) -> None:
    """``request.pushed`` (RFC 9126) names the client, never the request_uri; an admin's
    edit of a client is ``client.changed`` by that admin."""
    trail = AuditTrail(store)
    async with open_harness(store, audit=trail) as harness:
        pc = await par_client(store)
        pushed = await harness.http.post(PAR, data=ASK, headers=auth_of(pc))
    assert pushed.status_code == 201, pushed.text
    async with Admin(build_host(store, audit=trail)) as admin:
        page = await admin.get("/admin/clients/pc/")
        assert page.status_code == 200
        added = await admin.post("/admin/clients/pc/redirect-uris/add",
                                 {"uri": "https://a.example/two"})
    assert added.status_code == 303, added.text
    found = [(e.type, e.actor, e.client, dict(e.details)) for e in await events(store)]
    assert found == [("request.pushed", "client:pc", "pc", {}),
                     ("client.changed", "admin:alice", "pc", {"changed": "redirect_uris"})]
    assert pc.client_secret is not None
    assert_absent([pushed.json()["request_uri"].rsplit(":", 1)[-1], pc.client_secret],
                  await raw_stream(store))
