"""Every event written to the stream also reaches the ``oauth_middleware.audit`` logger and
the host's ``on_event`` hook, with the same fields (issue 18), on every backend: above all
the replays whose event the grant script chooses itself on one server (a redemption or a
rotation that loses inside the script), which only the store knows were written."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from oauth_middleware.audit import AuditTrail, Event
from oauth_middleware.security import fingerprint
from oauth_middleware.store import ClientRead, Lookahead, TokenStore
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
    code_form,
    confidential,
    http,
    new_code,
)

Fields = dict[str, str]
NOTHING_AHEAD = Lookahead()


class Sinks:
    """The trail's two other sinks, as the fields each was given."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.hooked: list[Fields] = []

    def hook(self, event: Event) -> None:
        self.hooked.append(event.fields())

    def logged(self) -> list[Fields]:
        return [r.audit_event for r in self.caplog.records
                if r.name == "oauth_middleware.audit" and hasattr(r, "audit_event")]


@pytest.fixture
def sinks(caplog: pytest.LogCaptureFixture) -> Sinks:
    """The audit logger at INFO, recorded, and a hook recording what it was given."""
    caplog.set_level(logging.INFO, "oauth_middleware.audit")
    return Sinks(caplog)


async def streamed(store: TokenStore) -> list[Fields]:
    return [e.fields() for e in await events(store)]


def stale_reads(store: TokenStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every token request sees the store as the first one read it: a code or refresh
    token already used looks unused, so the second use is refused by the grant script
    itself (the loser of a race), never by the endpoint's own check of the record."""
    real, first = store.read_for, list[ClientRead]()

    async def read_for(client_id: str | None, ahead: Lookahead = NOTHING_AHEAD) -> ClientRead:
        read = await real(client_id, ahead)
        first.append(read)
        return first[0]

    monkeypatch.setattr(store, "read_for", read_for)


def same_everywhere(stream: list[Fields], sinks: Sinks) -> None:
    """The logger and the hook got exactly the stream's events, fields for fields (the
    order apart: a cluster appends after the script, one server inside it)."""
    key = sorted
    assert key(map(_items, sinks.logged())) == key(map(_items, stream))
    assert key(map(_items, sinks.hooked)) == key(map(_items, stream))


def _items(fields: Fields) -> list[tuple[str, str]]:
    return sorted(fields.items())


@pytest.mark.rule("rest.no-secret-in-events")
async def test_a_code_replay_lost_inside_the_script_reaches_the_logger_and_the_hook(
        store: TokenStore, sinks: Sinks, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    web = await confidential(store)
    code = await new_code(store, "web")
    stale_reads(store, monkeypatch)
    async with http(audited_app(store, AuditTrail(store, on_event=sinks.hook))) as client:
        first = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
        replay = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
    assert first.status_code == 200, first.text
    assert_error(replay, 400, "invalid_grant")
    stream = await streamed(store)
    assert [f["type"] for f in stream] == ["code.redeemed", "code.replayed"]
    assert stream[1]["fingerprint"] == fingerprint(code)
    same_everywhere(stream, sinks)
    assert web.client_secret is not None
    assert_absent([code, first.json()["access_token"], first.json()["refresh_token"],
                   web.client_secret],
                  await raw_stream(store), log_text(caplog.records), repr(sinks.hooked))


@pytest.mark.rule("rest.no-secret-in-events")
async def test_a_refresh_reuse_lost_inside_the_script_reaches_the_logger_and_the_hook(
        store: TokenStore, sinks: Sinks, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    web = await confidential(store)
    trail = AuditTrail(store, on_event=sinks.hook)
    async with http(audited_app(store, trail)) as client:
        issued = (await client.post(TOKEN_PATH, data=code_form(await new_code(store, "web")),
                                    headers=auth_of(web))).json()
        form = {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]}
        stale_reads(store, monkeypatch)
        rotated = await client.post(TOKEN_PATH, data=form, headers=auth_of(web))
        reused = await client.post(TOKEN_PATH, data=form, headers=auth_of(web))
    assert rotated.status_code == 200, rotated.text
    assert_error(reused, 400, "invalid_grant")
    stream = await streamed(store)
    assert [f["type"] for f in stream] == ["code.redeemed", "token.refreshed", "refresh.reused"]
    assert stream[2]["fingerprint"] == fingerprint(issued["refresh_token"])
    same_everywhere(stream, sinks)
    assert_absent([issued["refresh_token"], issued["access_token"],
                   rotated.json()["refresh_token"], rotated.json()["access_token"]],
                  await raw_stream(store), log_text(caplog.records), repr(sinks.hooked))


async def test_fifty_racing_redemptions_tell_the_hook_every_event_the_stream_has(
        store: TokenStore, sinks: Sinks) -> None:
    """Losers refused by their own read of the used code and losers refused inside the
    script alike: one sink's events are every sink's."""
    web = await confidential(store)
    code = await new_code(store, "web")
    async with http(audited_app(store, AuditTrail(store, on_event=sinks.hook))) as client:
        answers = await asyncio.gather(*(client.post(
            TOKEN_PATH, data=code_form(code), headers=auth_of(web)) for _ in range(50)))
    assert sorted(a.status_code for a in answers) == [200] + [400] * 49
    stream = await streamed(store)
    assert {f["type"] for f in stream} == {"code.redeemed", "code.replayed"}
    same_everywhere(stream, sinks)


async def test_issues_codes_and_revocations_reach_every_sink_with_the_same_fields(
        store: TokenStore, sinks: Sinks) -> None:
    """The other script-written events too: client credentials, a redemption, a rotation
    and a revocation (a second revocation of the same token writes nothing, and tells
    nobody)."""
    web = await confidential(store)
    async with http(audited_app(store, AuditTrail(store, on_event=sinks.hook))) as client:
        cc = (await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                headers=auth_of(web))).json()
        issued = (await client.post(TOKEN_PATH, data=code_form(await new_code(store, "web")),
                                    headers=auth_of(web))).json()
        await client.post(TOKEN_PATH, data={"grant_type": "refresh_token",
                                            "refresh_token": issued["refresh_token"]},
                          headers=auth_of(web))
        await client.post(REVOKE_PATH, data={"token": cc["access_token"]}, headers=auth_of(web))
        again = await client.post(REVOKE_PATH, data={"token": cc["access_token"]},
                                  headers=auth_of(web))
    assert again.status_code == 200
    stream = await streamed(store)
    assert [f["type"] for f in stream] == [
        "token.issued", "code.redeemed", "token.refreshed", "token.revoked"]
    same_everywhere(stream, sinks)


async def test_a_code_issued_at_the_authorization_endpoint_reaches_every_sink(
        store: TokenStore, sinks: Sinks, caplog: pytest.LogCaptureFixture) -> None:
    async with open_harness(store, audit=AuditTrail(store, on_event=sinks.hook)) as harness:
        page = await harness.consent("alice", **WEB)
        response = await harness.decide(page, scopes=["polls:read"])
    assert response.status_code == 303
    code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    stream = await streamed(store)
    assert [f["type"] for f in stream] == ["consent.granted", "code.issued"]
    same_everywhere(stream, sinks)
    assert_absent([code], log_text(caplog.records), repr(sinks.hooked))


async def test_nothing_listening_builds_no_event_for_the_sinks(
        store: TokenStore, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With no hook and the audit logger below INFO, the store writes the stream alone."""
    caplog.set_level(logging.WARNING, "oauth_middleware.audit")
    heard: list[Any] = []

    async def spy(self: AuditTrail, *args: Any) -> None:
        heard.append(args)

    monkeypatch.setattr(AuditTrail, "heard", spy)
    web = await confidential(store)
    async with http(audited_app(store, AuditTrail(store))) as client:
        answer = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                   headers=auth_of(web))
    assert answer.status_code == 200
    assert [e.type for e in await events(store)] == ["token.issued"]
    assert heard == []


@pytest.mark.rule("rest.no-secret-in-events")
async def test_any_printable_text_travels_through_the_script_unchanged_and_control_characters_never(
        store: TokenStore) -> None:
    """The script gets each field's name and value as an argument of its own and hands
    them to ``XADD`` unparsed: quotes, backslashes, separators of other formats and any
    script come through as they were; a control character never reaches it (the audit
    layer replaced it; the toolbox refuses one in a user id outright; a host's
    ``authenticate`` is not checked; the store refuses an event holding one), so no
    value can forge a field of its own or a line on a terminal."""
    from oauth_middleware.store import StreamEvent
    from oauth_middleware.toolbox import issue_token, register_client

    hooked: list[Event] = []
    trail = AuditTrail(store, on_event=hooked.append)
    await register_client(store, "Web", "web", "https://a.example/cb", public=False,
                          scopes_list=["read"])
    odd = 'ålice "q" \\ ☃ {x}:[y],z'
    await issue_token(store, "web", user=odd, audit=trail)
    forging = "mallory\x1factor\x1fadmin:root"
    with pytest.raises(ValueError, match="control characters"):
        await issue_token(store, "web", user=forging, audit=trail)
    [first] = await events(store)
    assert first.user == odd and hooked[0].user == odd
    cleaned = trail.stream_event("token.issued", actor="host", user=forging).written(1) or {}
    assert (cleaned["user"], cleaned["actor"]) == ("mallory?actor?admin:root", "host")
    with pytest.raises(ValueError, match="control character"):
        StreamEvent("token.issued", ("user", "a\x1fb"), 10).args()


@pytest.mark.rule("rest.terminal-escaped")
async def test_a_scripts_event_keeps_long_and_unusual_values_whole_and_cuts_only_what_it_must(
        store: TokenStore) -> None:
    """Values are checked together first and one by one only when together they are not
    plainly fine: values longer together than one may be, or unprintable but no control
    character, are kept as they were; a value too long is cut, a control character
    replaced, and the stream and the hook get the same fields."""
    from oauth_middleware.audit.events import MAX_VALUE
    from oauth_middleware.store import NewTokens
    from oauth_middleware.toolbox import register_client

    hooked: list[Event] = []
    trail = AuditTrail(store, on_event=hooked.append)
    await register_client(store, "Web", "web", "https://a.example/cb", public=False,
                          scopes_list=["read"])
    half = "h" * (MAX_VALUE // 2 + 1)
    long = trail.stream_event("token.issued", actor="host", client="web", reason=half,
                              by=half, resource="r" * (MAX_VALUE + 5))
    odd = trail.stream_event("token.issued", actor="host", client="web",
                             user="n\u00a0b\u2028\u00fc", changed="tab\there")
    for event in (long, odd):
        await store.issue(NewTokens(client_id="web", subject="alice",
                                    scopes=frozenset({"read"}), event=event))
    written = await events(store)
    for seen in (written, hooked):
        assert seen[0].details == {"reason": half, "by": half, "resource": "r" * MAX_VALUE}
        assert (seen[1].user, seen[1].details) == ("n\u00a0b\u2028\u00fc",
                                                   {"changed": "tab?here"})
