"""The CLI never shows a client's own token as a user's, even when the names are the same."""

from __future__ import annotations

import pytest

from oauth_middleware.security import fingerprint
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import issue_token, register_client
from tests.cli.harness import Cli, lines_of


def _bob_and_bob(cli: Cli) -> tuple[str, str]:
    """A user bob's token (through client web) and client bob's own token."""
    async def work(store: TokenStore) -> tuple[str, str]:
        await register_client(store, "Web", "web", "https://a.example/cb", public=False,
                              scopes_list=["polls:vote"])
        await register_client(store, "Bob's machine", "bob", "https://a.example/cb",
                              public=False, scopes_list=["polls:vote"],
                              grant_types=["client_credentials"])
        user = await issue_token(store, "web", user="bob")
        cli.clock.advance(1)
        client = await issue_token(store, "bob")
        return user.access_token, client.access_token

    return cli.run(work)


@pytest.mark.rule("auth.client-identity-not-a-user")
def test_token_list_shows_a_client_token_as_the_client_never_as_a_user(cli: Cli) -> None:
    user_token, client_token = _bob_and_bob(cli)
    listed = {t["fingerprint"]: t for t in cli.json("token", "list")}
    as_client = listed[fingerprint(client_token)]
    assert (as_client["subject_type"], as_client["user"], as_client["client_id"]) == (
        "client", None, "bob")
    as_user = listed[fingerprint(user_token)]
    assert (as_user["subject_type"], as_user["user"], as_user["client_id"]) == (
        "user", "bob", "web")
    assert [t["fingerprint"] for t in cli.json("token", "list", "--user", "bob")] == [
        fingerprint(user_token)]
    rows = {line.split()[0]: line.split() for line in lines_of(cli.ok("token", "list"))[1:]}
    assert rows[fingerprint(client_token)][2:5] == ["bob", "(client)", "bob"]
    assert rows[fingerprint(user_token)][2:4] == ["web", "bob"]
    inspected = cli.json("token", "inspect", client_token)
    assert inspected["user"] is None and inspected["subject_type"] == "client"


@pytest.mark.rule("auth.client-identity-not-a-user")
def test_revoking_a_user_leaves_the_client_of_the_same_name_alone(cli: Cli) -> None:
    user_token, client_token = _bob_and_bob(cli)
    cli.ok("token", "revoke-user", "bob")
    assert cli.run(lambda store: store.resolve(user_token)) is None
    assert cli.run(lambda store: store.resolve(client_token)) is not None
