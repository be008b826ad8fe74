"""The command line refuses typed control characters and never prints a stored one raw.

SECURITY.md "At rest, in memory, in logs": text people typed is checked at
registration, and nothing from the store reaches a terminal unescaped. A value
that got into Redis some other way (an older version, a direct write) is shown
escaped, ``\\x1b`` as repr shows it, in tables and in ``--json`` alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from oauth_middleware.cli.context import one_line
from oauth_middleware.models import Scope
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.toolbox import register_client
from tests.cli.harness import Cli, assert_error

CB = "https://polls.example/cb"
#: A window-title change (OSC ... BEL), a C1 CSI, DEL, a bidi override, a line separator.
EVIL = "Po\x1b]0;pwned\x07lls\x9b2J\x7f\u202e\u2028"
SHOWN = "Po\\x1b]0;pwned\\x07lls\\x9b2J\\x7f\\u202e\\u2028"


def _clients(cli: Cli) -> list[str]:
    async def work(store: TokenStore) -> list[str]:
        _, page = await store.list_clients(0)
        return [c.client_id for c in page]

    return cli.run(work)


@pytest.mark.parametrize(("args", "what"), [
    (["Po\x1b]0;x\x07lls"], "title"),
    (["Polls", "--description", "ok\x1b[2J"], "description"),
    (["Polls", "--registrant", "al\x9bice"], "registrant"),
    (["Polls", "--link", "https://polls.example/\u202e"], "link"),
])
@pytest.mark.rule("rest.typed-text.controls")
def test_client_add_refuses_typed_text_with_a_control_character_exit_2(
    cli: Cli, args: list[str], what: str
) -> None:
    result = cli.invoke("client", "add", *args, "--redirect-uri", CB)
    assert_error(result, f"the {what} must not contain control characters (U+", status=2)
    assert "\x1b" not in result.output and "\x9b" not in result.output
    assert _clients(cli) == []


@pytest.mark.rule("rest.typed-text.controls")
def test_scope_add_refuses_a_title_with_a_control_character_exit_2(cli: Cli) -> None:
    result = cli.invoke("scope", "add", "polls:vote", "--title", "Vote\x1b]0;x\x07")
    assert_error(result, "the title must not contain control characters (U+001B at character 5)",
                 status=2)
    assert cli.run(lambda store: store.get_scopes(["polls:vote"])) == {}


@pytest.mark.parametrize("uri", ["https://polls.example/<cb>", "https://polls.example/c`b",
                                 'https://polls.example/c"b', "https://polls.example/%zz"])
@pytest.mark.rule("rest.typed-text.redirect-uri")
def test_client_add_refuses_a_redirect_uri_with_a_character_never_allowed_raw(
    cli: Cli, uri: str
) -> None:
    result = cli.invoke("client", "add", "Polls", "--redirect-uri", uri)
    assert_error(result, "(RFC 3986 §2")
    assert _clients(cli) == []


@pytest.mark.rule("auth.implicit.not-confidential")
def test_client_add_refuses_implicit_for_a_confidential_client_unless_forced(cli: Cli) -> None:
    args = ["client", "add", "Web", "--client-id", "web", "--confidential", "--redirect-uri", CB,
            "--grant-type", "authorization_code", "--grant-type", "implicit"]
    assert_error(cli.invoke(*args), "use authorization_code, which authenticates the client, "
                                    "or pass --force-implicit to force it")
    assert _clients(cli) == []
    out = cli.json(*args, "--force-implicit")
    assert out["grant_types"] == ["authorization_code", "implicit"]
    assert out["public"] is False and out["client_secret"]


def _seed_evil(cli: Cli) -> str:
    """A client, a scope and a token whose stored text holds terminal escapes."""
    async def work(store: TokenStore) -> str:
        registered = await register_client(store, "Polls", "polls", CB)
        await store.save_client(replace(
            registered.client, title=EVIL, description=EVIL, link=EVIL, registrant=EVIL,
            redirect_uris=(CB, f"{CB}/{EVIL}"), scopes=("polls:vote",)))
        await store.save_scope(Scope("polls:vote", EVIL))
        issued = await store.issue(NewTokens(client_id="polls", subject=f"al{EVIL}",
                                             scopes=frozenset({"polls:vote"})))
        return issued.access_token

    return cli.run(work)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _strings(item)


def _assert_printable(text: str) -> None:
    assert all(ch.isprintable() or ch == "\n" for ch in text), ascii(text)


@pytest.mark.parametrize("command", [
    ["client", "list"], ["client", "show", "polls"], ["scope", "list"], ["token", "list"],
    ["client", "add-redirect", "polls", CB], ["token", "inspect", "-"],
])
@pytest.mark.rule("rest.terminal-escaped")
def test_text_output_escapes_every_control_character_read_from_the_store(
    cli: Cli, command: list[str]
) -> None:
    token = _seed_evil(cli)
    out = cli.ok(*command, input=f"{token}\n")
    _assert_printable(out)
    assert SHOWN in out


@pytest.mark.parametrize("command", [
    ["client", "list"], ["client", "show", "polls"], ["scope", "list"], ["token", "list"],
    ["client", "add-redirect", "polls", CB], ["token", "inspect", "-"],
])
@pytest.mark.rule("rest.terminal-escaped")
def test_json_output_escapes_every_control_character_and_still_round_trips(
    cli: Cli, command: list[str]
) -> None:
    token = _seed_evil(cli)
    result = cli.invoke(*command, "--json", input=f"{token}\n")
    assert result.exit_code == 0, result.output
    _assert_printable(result.stdout)
    assert "\\u001b]0;pwned\\u0007lls\\u009b2J\\u007f\\u202e\\u2028" in result.stdout
    # The exact stored text, once the JSON is read back.
    assert any(EVIL in text for text in _strings(json.loads(result.stdout)))


@pytest.mark.rule("rest.terminal-escaped")
def test_an_error_message_is_printed_on_one_line_with_nothing_unprintable_raw() -> None:
    """Messages quote values with repr today; one_line escapes whatever a future one quotes."""
    assert one_line("no client 'po\x1b]0;x\x07'\n  at all\u202e") == (
        "no client 'po\\x1b]0;x\\x07' at all\\u202e")
