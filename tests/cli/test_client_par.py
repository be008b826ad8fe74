"""``oauth-middleware client add --require-par`` (RFC 9126 §6)."""

from __future__ import annotations

from tests.cli.harness import Cli

CB = "https://a.example/cb"


def test_the_cli_sets_and_shows_the_flag(cli: Cli) -> None:
    out = cli.json("client", "add", "Tool", "--client-id", "tool", "--redirect-uri", CB,
                   "--require-par")
    assert out["require_pushed_authorization_requests"] is True
    assert cli.json("client", "show", "tool")["require_pushed_authorization_requests"] is True
    assert "require_pushed_authorization_requests" not in cli.json(
        "client", "add", "Spa", "--redirect-uri", CB)
