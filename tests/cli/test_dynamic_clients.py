"""``client list``/``show`` mark dynamically registered clients; ``client purge`` removes
the unused ones (RFC 7591 registrations nobody came back for)."""

from __future__ import annotations

import re
import time

from oauth_middleware.models import Client, Scope
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import issue_token, register_client
from tests.cli.harness import Cli, assert_error

DAY = 86_400


def _dynamic(cli: Cli, client_id: str, age_days: float) -> None:
    async def work(store: TokenStore) -> None:
        client = Client(client_id=client_id, title=f"Self {client_id}",
                        redirect_uris=("http://127.0.0.1/cb",), dynamic=True,
                        created_at=time.time() - age_days * DAY, generation=client_id)
        assert await store.save_client(client, only="new")

    cli.run(work)


def test_client_list_and_show_mark_a_dynamic_client(cli: Cli) -> None:
    cli.run(lambda store: register_client(store, "Host", "host", "https://h.example/cb"))
    _dynamic(cli, "self1", 0)
    listed = cli.ok("client", "list")
    assert any("self1" in line and "public (dynamic)" in line for line in listed.splitlines())
    assert any("host" in line and "(dynamic)" not in line for line in listed.splitlines())
    assert cli.json("client", "show", "self1")["dynamic"] is True
    assert cli.json("client", "show", "host")["dynamic"] is False


def test_client_purge_removes_old_dynamic_clients_without_live_grants_only(cli: Cli) -> None:
    cli.run(lambda store: register_client(store, "Host", "host", "https://h.example/cb"))
    _dynamic(cli, "old-unused", 40)
    _dynamic(cli, "old-used", 40)
    _dynamic(cli, "new-unused", 1)
    cli.run(lambda store: store.save_scope(Scope("read", "Read")))
    cli.run(lambda store: issue_token(store, "old-used", user="alice", scopes=["read"]))
    out = cli.json("client", "purge", "--dynamic", "--unused-for", "30d")
    assert out == {"removed": ["old-unused"]}
    remaining = {c["client_id"] for c in cli.json("client", "list")}
    assert remaining == {"host", "old-used", "new-unused"}
    assert cli.json("client", "purge", "--dynamic", "--unused-for", "30d") == {"removed": []}


def test_client_purge_needs_the_dynamic_flag_and_a_duration(cli: Cli) -> None:
    assert_error(cli.invoke("client", "purge", "--unused-for", "30d"), "--dynamic", status=2)
    assert_error(cli.invoke("client", "purge", "--dynamic", "--unused-for", "30 days"),
                 "duration", status=2)


def test_client_list_shows_when_a_dynamic_client_was_last_used_and_purge_keeps_a_used_one(
    cli: Cli
) -> None:
    cli.run(lambda store: register_client(store, "Host", "host", "https://h.example/cb"))

    async def registered_long_ago_used_now(store: TokenStore) -> None:
        client = Client(client_id="used", title="Self used", dynamic=True,
                        redirect_uris=("http://127.0.0.1/cb",),
                        created_at=time.time() - 40 * DAY, generation="used")
        assert await store.register_dynamic_client(client, cap=10) == 1
        assert await store.touch_dynamic_client("used")

    cli.run(registered_long_ago_used_now)
    _dynamic(cli, "never-noted", 40)
    rows = {line.split()[0]: line for line in cli.ok("client", "list").splitlines()}
    assert rows["CLIENT"].split()[-3:] == ["TITLE", "LAST", "USED"]
    assert re.search(r"Self used +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", rows["used"])
    assert rows["host"].rstrip().endswith(" -") and rows["never-noted"].rstrip().endswith(" -")
    listed = {c["client_id"]: c for c in cli.json("client", "list")}
    assert abs(listed["used"]["last_used"] - time.time()) < 60
    assert "last_used" not in listed["host"] and "last_used" not in listed["never-noted"]
    out = cli.json("client", "purge", "--dynamic", "--unused-for", "30d")
    assert out == {"removed": ["never-noted"]}
