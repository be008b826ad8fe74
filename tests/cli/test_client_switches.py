"""A client's per-client requirements from the command line: ``client add --require-par``
(RFC 9126 §6), ``--require-dpop`` (RFC 9449 §5.2 ``dpop_bound_access_tokens``), and
``client edit`` turning either on or off after creation."""

from __future__ import annotations

import pytest

from oauth_middleware.audit import AuditTrail
from oauth_middleware.store import TokenStore
from tests.cli.harness import Cli, assert_error
from tests.server.token_harness import basic, build_app, http

CB = "https://a.example/cb"
#: The option, the name ``client show --json`` gives the client's field, and the field's
#: name in the client record (the audit event's ``changed``).
SWITCHES = [("--require-par", "require_pushed_authorization_requests",
             "require_pushed_authorization_requests"),
            ("--require-dpop", "dpop_bound_access_tokens", "require_dpop")]


@pytest.mark.parametrize(("option", "field", "_"), SWITCHES)
def test_the_cli_sets_and_shows_the_switch(cli: Cli, option: str, field: str, _: str) -> None:
    out = cli.json("client", "add", "Tool", "--client-id", "tool", "--redirect-uri", CB, option)
    assert out[field] is True
    assert cli.json("client", "show", "tool")[field] is True
    assert field not in cli.json("client", "add", "Spa", "--redirect-uri", CB)


@pytest.mark.parametrize(("option", "field", "changed"), SWITCHES)
def test_client_edit_turns_the_switch_on_and_off_and_keeps_everything_else(
        cli: Cli, option: str, field: str, changed: str) -> None:
    added = cli.json("client", "add", "Tool", "--client-id", "tool", "--redirect-uri", CB,
                     "--confidential", "--scope", "read", "--register-scopes")
    cli.run(lambda store: AuditTrail(store).note("login.succeeded", actor="host", user="a"))
    on = cli.json("client", "edit", "tool", option)
    assert on[field] is True
    assert cli.json("client", "show", "tool") == on
    off = cli.json("client", "edit", "tool", option.replace("--", "--no-", 1))
    assert field not in off
    unchanged = {k: v for k, v in added.items() if k != "client_secret"}
    assert off == unchanged and "client_secret" not in on
    events = cli.json("events", "list", "--type", "client.changed")["events"]
    assert [(e["actor"], e["client"], e["details"]) for e in events] == [
        ("cli", "tool", {"changed": changed})] * 2


def test_client_edit_says_what_it_changed_and_shows_no_secret(cli: Cli) -> None:
    cli.json("client", "add", "Tool", "--client-id", "tool", "--confidential",
             "--grant-type", "client_credentials")
    out = cli.ok("client", "edit", "tool", "--require-dpop", "--no-require-par")
    assert out.startswith("Changed client 'tool'.\n")
    assert "dpop_bound_access_tokens" in out and "require_pushed" not in out
    assert "secret" not in out.lower()


def test_client_edit_without_a_switch_or_of_an_unknown_client_is_refused(cli: Cli) -> None:
    cli.json("client", "add", "Tool", "--client-id", "tool", "--redirect-uri", CB)
    nothing = cli.invoke("client", "edit", "tool")
    assert nothing.exit_code == 2 and "name a switch to change" in nothing.stderr
    assert_error(cli.invoke("client", "edit", "nobody", "--require-dpop"), "no client 'nobody'")
    assert "dpop_bound_access_tokens" not in cli.json("client", "show", "tool")


@pytest.mark.rule("dpop.server.require")
def test_a_client_made_dpop_only_by_client_edit_gets_no_token_without_a_proof(cli: Cli) -> None:
    added = cli.json("client", "add", "Tool", "--client-id", "tool", "--confidential",
                     "--grant-type", "client_credentials", "--scope", "read",
                     "--register-scopes")
    auth = basic("tool", added["client_secret"])

    async def ask(store: TokenStore) -> tuple[int, str]:
        async with http(build_app(store)) as client:
            answer = await client.post("/oauth/token/", headers=auth,
                                       data={"grant_type": "client_credentials"})
        body = answer.json()
        return answer.status_code, body.get("error") or body["token_type"]

    assert cli.run(ask) == (200, "Bearer")
    cli.ok("client", "edit", "tool", "--require-dpop")
    assert cli.run(ask) == (400, "invalid_dpop_proof")
    cli.ok("client", "edit", "tool", "--no-require-dpop")
    assert cli.run(ask) == (200, "Bearer")
