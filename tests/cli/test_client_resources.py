"""``oauth-middleware client add --resource``: the resources (RFC 8707) a client may use."""

from __future__ import annotations

from tests.cli.harness import Cli, assert_error

CB = "https://polls.example/cb"
MCP = "https://polls.example/mcp"


def test_client_add_stores_and_shows_its_resources(cli: Cli) -> None:
    out = cli.json("client", "add", "Tool", "--client-id", "tool", "--redirect-uri", CB,
                   "--resource", MCP, "--resource", "urn:example:api")
    assert out["resources"] == [MCP, "urn:example:api"]
    client = cli.run(lambda store: store.get_client("tool"))
    assert client is not None and client.resources == (MCP, "urn:example:api")
    assert cli.json("client", "show", "tool")["resources"] == [MCP, "urn:example:api"]
    plain = cli.json("client", "add", "Spa", "--redirect-uri", CB)
    assert "resources" not in plain


def test_client_add_refuses_a_resource_with_a_fragment_and_stores_nothing(cli: Cli) -> None:
    result = cli.invoke("client", "add", "Tool", "--client-id", "tool", "--redirect-uri", CB,
                        "--resource", MCP + "#x")
    assert_error(result, "must be an absolute URI without fragment")
    assert cli.run(lambda store: store.get_client("tool")) is None
