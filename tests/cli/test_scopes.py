"""``oauth-middleware scope add|list|enable|disable|remove`` against both store backends."""

from __future__ import annotations

import pytest

from oauth_middleware.models import Scope
from oauth_middleware.toolbox import issue_token, register_client
from tests.cli.harness import Cli, assert_error, lines_of


def _scopes(cli: Cli) -> list[Scope]:
    return cli.run(lambda store: store.list_scopes())


def test_scope_add_registers_with_a_readable_default_title(cli: Cli) -> None:
    out = cli.json("scope", "add", "polls:results")
    assert out == {"identifier": "polls:results", "title": "Polls Results", "enabled": True}
    assert _scopes(cli) == [Scope("polls:results", "Polls Results", True)]


def test_scope_add_with_a_title_and_disabled(cli: Cli) -> None:
    text = cli.ok("scope", "add", "polls:vote", "--title", "Vote in polls", "--disabled")
    assert text == "Added scope 'polls:vote' ('Vote in polls', disabled).\n"
    assert _scopes(cli) == [Scope("polls:vote", "Vote in polls", False)]


def test_scope_add_refuses_a_registered_or_malformed_identifier(cli: Cli) -> None:
    cli.json("scope", "add", "polls:vote", "--title", "Vote")
    assert_error(cli.invoke("scope", "add", "polls:vote"), "already registered")
    assert_error(cli.invoke("scope", "add", "two words"), "invalid scope identifier")
    assert _scopes(cli) == [Scope("polls:vote", "Vote", True)]


def test_scope_list_prints_json_and_a_table(cli: Cli) -> None:
    assert cli.json("scope", "list") == []
    assert lines_of(cli.ok("scope", "list"))[0].startswith("No scopes registered.")
    cli.json("scope", "add", "polls:vote")
    cli.json("scope", "add", "a:b", "--disabled", "--title", "A B")
    assert cli.json("scope", "list") == [
        {"identifier": "a:b", "title": "A B", "enabled": False},
        {"identifier": "polls:vote", "title": "Polls Vote", "enabled": True},
    ]
    assert lines_of(cli.ok("scope", "list")) == [
        "SCOPE       STATE     TITLE",
        "a:b         disabled  A B",
        "polls:vote  enabled   Polls Vote",
    ]


def test_disabling_a_scope_stops_granting_it_and_enabling_restores_it(cli: Cli) -> None:
    cli.run(lambda store: register_client(store, "Web", "web", "https://a.example/cb",
                                          scopes_list=["polls:vote"]))
    assert lines_of(cli.ok("scope", "disable", "polls:vote")) == [
        "Disabled scope 'polls:vote' ('Polls Vote', disabled).",
        "Tokens issued before keep their scopes until they expire or are revoked.",
    ]
    out = cli.json("scope", "disable", "polls:vote")
    assert out == {"identifier": "polls:vote", "title": "Polls Vote", "enabled": False}
    assert_error(cli.invoke("token", "issue", "--client-id", "web", "--user", "alice"),
                 "scope")
    assert lines_of(cli.ok("scope", "enable", "polls:vote")) == [
        "Enabled scope 'polls:vote' ('Polls Vote', enabled).",
    ]
    issued = cli.run(lambda store: issue_token(store, "web", user="alice"))
    assert issued.token.scopes == {"polls:vote"}


@pytest.mark.parametrize("command", ["enable", "disable", "remove"])
def test_changing_an_unknown_scope_fails_with_one_line(cli: Cli, command: str) -> None:
    assert_error(cli.invoke("scope", command, "nope:nope"), "no scope 'nope:nope'")
    assert _scopes(cli) == []


def test_scope_remove_deletes_it_and_says_issued_tokens_keep_it(cli: Cli) -> None:
    cli.json("scope", "add", "polls:vote")
    cli.json("scope", "add", "polls:results")
    assert cli.json("scope", "remove", "polls:vote") == {"identifier": "polls:vote",
                                                         "removed": True}
    assert [s.identifier for s in _scopes(cli)] == ["polls:results"]
    text = cli.ok("scope", "remove", "polls:results")
    assert "Tokens issued before keep their scopes" in text
    assert _scopes(cli) == []
