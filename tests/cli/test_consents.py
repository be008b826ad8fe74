"""``oauth-middleware consent …`` against both store backends: list and forget."""

from __future__ import annotations

from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import register_client
from tests.cli.harness import Cli, assert_error, lines_of


def _setup(cli: Cli) -> None:
    async def work(store: TokenStore) -> None:
        for client_id in ("web", "app"):
            client = (await register_client(store, client_id, client_id, "https://a.example/cb",
                                            scopes_list=["polls:read"])).client
            for user in ("alice", "bob\x1b[2J"):
                await store.remember_consent(user, client_id, approved=["polls:read"],
                                             client_generation=client.generation, lifetime=60)

    cli.run(work)


def test_consent_list_by_user_client_and_all(cli: Cli) -> None:
    _setup(cli)
    rows = cli.json("consent", "list")
    assert [(r["user"], r["client_id"], r["scopes"]) for r in rows] == [
        ("alice", "app", ["polls:read"]), ("alice", "web", ["polls:read"]),
        ("bob\x1b[2J", "app", ["polls:read"]), ("bob\x1b[2J", "web", ["polls:read"])]
    assert [r["client_id"] for r in cli.json("consent", "list", "--user", "alice")] == [
        "app", "web"]
    assert [r["user"] for r in cli.json("consent", "list", "--client-id", "web")] == [
        "alice", "bob\x1b[2J"]
    text = cli.ok("consent", "list")
    assert "\x1b" not in text and "bob\\x1b[2J" in text
    assert lines_of(text)[0].split() == ["USER", "CLIENT", "EXPIRES", "SCOPES"]


def test_consent_forget_one_a_users_or_a_clients(cli: Cli) -> None:
    _setup(cli)
    assert cli.json("consent", "forget", "--user", "alice", "--client-id", "web") == {
        "forgotten": 1}
    assert cli.ok("consent", "forget", "--client-id", "app").strip() == \
        "Forgot 2 remembered consents."
    assert [(r["user"], r["client_id"]) for r in cli.json("consent", "list")] == [
        ("bob\x1b[2J", "web")]
    assert cli.json("consent", "forget", "--user", "alice") == {"forgotten": 0}
    assert_error(cli.invoke("consent", "forget"), "name --user, --client-id", status=2)
