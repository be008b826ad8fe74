"""``oauth-middleware events list --json`` and ``events tail`` (issue 18), and the CLI's
own changes recorded with the actor ``cli``."""

from __future__ import annotations

import json

import pytest

from oauth_middleware import register_client
from oauth_middleware.audit import RETENTION, AuditTrail
from oauth_middleware.cli.events import cli_trail
from oauth_middleware.security import fingerprint
from oauth_middleware.store import NewTokens, TokenStore
from tests.cli.harness import Cli


async def _seed(store: TokenStore) -> None:
    trail = AuditTrail(store)
    await trail.note("consent.granted", actor="user:alice", user="alice", client="web",
                     scopes=["read"])
    await trail.note("token.revoked", actor="cli", user="bob", by="cli")
    await trail.note("consent.denied", actor="user:bob", user="bob", client="web",
                     scopes=["read"])


def test_events_list_json_filters_and_pages_newest_first(cli: Cli) -> None:
    cli.run(_seed)
    everything = cli.json("events", "list")
    assert [e["type"] for e in everything["events"]] == [
        "consent.denied", "token.revoked", "consent.granted"]
    assert everything["next"] is None
    first = everything["events"][0]
    assert (first["user"], first["client"], first["actor"], first["details"]) == (
        "bob", "web", "user:bob", {"scopes": "read"})
    bob = cli.json("events", "list", "--user", "bob", "--count", "1")
    assert [e["type"] for e in bob["events"]] == ["consent.denied"]
    older = cli.json("events", "list", "--user", "bob", "--before", bob["next"])
    assert [e["type"] for e in older["events"]] == ["token.revoked"]
    typed = cli.json("events", "list", "--type", "consent.granted", "--client", "web")
    assert [e["user"] for e in typed["events"]] == ["alice"]
    refused = cli.invoke("events", "list", "--type", "token.stolen")
    assert refused.exit_code == 2


def test_events_tail_follows_from_an_id_and_stops_after_its_limit(cli: Cli) -> None:
    cli.run(_seed)
    oldest = cli.json("events", "list", "--count", "3")["events"][-1]["id"]
    result = cli.invoke("events", "tail", "--after", oldest, "--limit", "2", "--json")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["type"] for line in _documents(result.stdout)] == [
        "token.revoked", "consent.denied"]
    idle = cli.invoke("events", "tail", "--idle", "0.3")
    assert idle.exit_code == 0 and idle.stdout == ""


def _documents(text: str) -> list[str]:
    """The JSON documents of a stream of indented ones."""
    decoder, out, at = json.JSONDecoder(), [], 0
    while at < len(text.rstrip()):
        _, end = decoder.raw_decode(text, at)
        out.append(text[at:end])
        at = end + 1
    return out


def test_cli_changes_are_recorded_as_cli_once_the_store_keeps_a_trail(cli: Cli) -> None:
    async def setup(store: TokenStore) -> None:
        await register_client(store, "Web", "web", "https://a.example/cb", public=False,
                              scopes_list=["read"])
    cli.run(setup)
    cli.ok("client", "rotate-secret", "web")
    assert cli.run(lambda store: store.events.length()) == 0  # no trail: nothing recorded
    cli.run(lambda store: AuditTrail(store).note("login.succeeded", actor="host", user="a"))
    rotated = cli.json("client", "rotate-secret", "web")
    cli.ok("client", "remove", "web")
    listed = cli.json("events", "list", "--client", "web")["events"]
    assert [(e["type"], e["actor"]) for e in listed] == [
        ("client.removed", "cli"), ("client.secret_rotated", "cli")]
    everything = json.dumps(cli.json("events", "list"))
    assert rotated["client_secret"] not in everything


def _web_client(cli: Cli) -> None:
    async def setup(store: TokenStore) -> None:
        await register_client(store, "Web", "web", "https://a.example/cb", public=False,
                              scopes_list=["read"],
                              grant_types=["client_credentials", "authorization_code"])
    cli.run(setup)


def _issued(cli: Cli, *switch: str, env: dict[str, str | None] | None = None) -> str:
    result = cli.invoke(*switch, "token", "issue", "--client-id", "web", "--json", env=env)
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["access_token"])


@pytest.mark.rule("rest.no-secret-in-events")
def test_token_issue_is_recorded_as_cli_as_the_audit_switch_says(cli: Cli) -> None:
    """By default only once the store has a stream (the app keeps a trail); ``--audit``
    starts one, ``--no-audit`` and ``OAUTH_MIDDLEWARE_AUDIT=0`` keep out of it."""
    _web_client(cli)
    unrecorded = _issued(cli)
    assert cli.run(lambda store: store.events.length()) == 0
    forced = _issued(cli, "--audit")
    by_default = _issued(cli)
    tokens = [forced, by_default, _issued(cli, "--no-audit"),
              _issued(cli, env={"OAUTH_MIDDLEWARE_AUDIT": "0"}), unrecorded]
    listed = cli.json("events", "list")["events"]
    assert [(e["type"], e["actor"], e["client"], e["details"]) for e in listed] == [
        ("token.issued", "cli", "web", {"by": "cli", "scopes": "read"})] * 2
    assert [e["fingerprint"] for e in reversed(listed)] == [
        fingerprint(forced), fingerprint(by_default)]
    everything = json.dumps(listed)
    for token in tokens:
        assert token not in everything


def test_client_remove_records_the_removal_and_the_cascade_of_its_tokens(cli: Cli) -> None:
    _web_client(cli)
    _issued(cli, "--audit")
    cli.ok("client", "remove", "web")
    listed = cli.json("events", "list")["events"]
    assert [(e["type"], e["actor"], e["details"].get("by")) for e in listed] == [
        ("token.revoked", "cascade", "cascade"), ("client.removed", "cli", None),
        ("token.issued", "cli", "cli")]


@pytest.mark.rule("abuse.bounded.audit-stream")
async def test_the_cli_bounds_the_stream_but_never_below_what_it_holds(
        store: TokenStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI does not know the app's retention: a stream longer than the default is
    the app's to keep, so the CLI's append trims at its present length, not below."""
    held = 0

    async def length() -> int:
        return held

    monkeypatch.setattr(store.events, "length", length)
    assert await cli_trail(store, None) is None
    assert (await cli_trail(store, True)).retention == RETENTION  # type: ignore[union-attr]
    held = 250_000
    assert (await cli_trail(store, None)).retention == 250_000  # type: ignore[union-attr]
    assert await cli_trail(store, False) is None
    held = 10
    assert (await cli_trail(store, None)).retention == RETENTION  # type: ignore[union-attr]


async def _exchanged_chain(store: TokenStore) -> tuple[str, str]:
    """alice's grant of ``web`` and one exchanged from it by ``api`` (RFC 8693)."""
    parent = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"read"}), refresh=True))
    child = await store.issue_exchanged(NewTokens(
        client_id="api", subject="alice", scopes=frozenset({"read"}),
        parent_grant=parent.token.grant_id, exchange_depth=1), parent.access_token)
    assert child is not None
    return parent.token.grant_id, child.token.grant_id


def test_a_cli_revocation_records_the_grants_exchanged_from_what_it_revoked(cli: Cli) -> None:
    parent, child = cli.run(_exchanged_chain)
    cli.ok("--audit", "token", "revoke-grant", parent)
    found = [(e["actor"], e["client"], e["grant"], e["details"].get("reason"))
             for e in cli.json("events", "list")["events"] if e["type"] == "token.revoked"]
    assert found == [("cli", "", parent, "grant"),  # newest first: recorded once done
                     ("cascade", "api", child, "parent revoked")]
