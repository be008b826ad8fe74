"""``oauth-middleware client add --require-dpop`` (RFC 9449 §5.2 ``dpop_bound_access_tokens``)."""

from __future__ import annotations

from tests.cli.harness import Cli

CB = "https://a.example/cb"


def test_the_cli_sets_and_shows_the_dpop_switch(cli: Cli) -> None:
    out = cli.json("client", "add", "Tool", "--client-id", "tool", "--redirect-uri", CB,
                   "--require-dpop")
    assert out["dpop_bound_access_tokens"] is True
    assert cli.json("client", "show", "tool")["dpop_bound_access_tokens"] is True
    assert "dpop_bound_access_tokens" not in cli.json(
        "client", "add", "Spa", "--redirect-uri", CB)
