"""The shell blocks of the docs that can run here, followed as written in one bash.

Real ``oauth-middleware`` (the venv's console script), ``uvicorn``, ``curl`` and
``redis-cli``, against the suite's redis-server (a second one plays ``new-host``) and
uvicorn on a free loopback port. What the docs show is compared with what each
command printed (:func:`tests.docs.shell.shown_matches`: placeholders match what they
stand for); a command the docs show without output is not compared, and the test
asserts its effect. Only what a reader would change differs from the page
(tests/docs/terminal.py): the port and the Redis hosts, the values a reader pastes,
a server in a second terminal. uvicorn reads its port from ``UVICORN_PORT``, so its
command line is the page's.

Apps the docs only name (``myproject.main:app``, ``mysite.asgi:application``, the
``app.py`` a page asks to save) are written into the test's directory.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from oauth_middleware import ensure_client, issue_token
from oauth_middleware.keyring import StoreKeys
from oauth_middleware.store import TokenStore
from tests.docs.fences import ROOT, blocks
from tests.docs.shell import Shell, words
from tests.docs.shell_table import documented
from tests.docs.terminal import POLLS, Terminal, flushed
from tests.redis_process import RedisProcess, free_port

pytestmark = pytest.mark.real_redis_only

@pytest.fixture(scope="module")
def new_host() -> Iterator[RedisProcess]:
    """A second redis-server: ``new-host`` of docs/guides/moving-data.md, the ACL's server."""
    server = RedisProcess().start()
    yield server
    server.stop()


@pytest.fixture
async def terminal(redis_server: RedisProcess, tmp_path: Path) -> AsyncIterator[Terminal]:
    """A reader's terminal in an empty directory: the venv's commands first on the PATH,
    none of the variables the docs set already set, curl as quiet as at a terminal."""
    port = free_port()
    (tmp_path / ".curlrc").write_text("no-progress-meter\n")
    keep = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "TMPDIR")}
    env = {**keep, "HOME": str(tmp_path), "UVICORN_PORT": str(port), "PYTHONPATH": str(ROOT),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    shell = await Shell(tmp_path, env, tmp_path).start()
    try:
        yield Terminal(shell, port, await flushed(redis_server))
    finally:
        await shell.close()


def _store(redis: RedisProcess) -> TokenStore:
    return TokenStore.from_url(redis.url)


async def test_readme_quick_start(terminal: Terminal, tmp_path: Path) -> None:
    app = next(b for b in blocks(ROOT / "README.md") if b.lang == "python")
    (tmp_path / "app.py").write_text(app.code)
    *_, issued, items = await terminal.follow(documented(
        "README.md", "export OAUTH_SECRET_KEY=$(python3 -c 'import secrets;print(secrets."
                     "token_urlsafe(32))')"))
    assert '"token_type":"Bearer"' in issued.output
    assert items.output == '["apple"]'


async def test_fastapi_guide_with_redis(terminal: Terminal, tmp_path: Path) -> None:
    app = next(b for b in blocks(ROOT / "docs/guides/fastapi.md") if b.lang == "python")
    (tmp_path / "app.py").write_text(app.code)
    *_, added, issued, items = await terminal.follow(documented(
        "docs/guides/fastapi.md", "export REDIS_URL=redis://127.0.0.1:6379/0"))
    assert "client_secret:" in added.output
    assert '"scope":"items:read"' in issued.output
    assert items.output == '["pen"]'


async def test_fastapi_example(terminal: Terminal) -> None:
    _, issued, added = await terminal.follow(documented(
        "docs/guides/fastapi.md", "uvicorn examples.fastapi_app:app"))
    assert '"scope":"items:read items:write"' in issued.output
    assert '"pen"' in added.output and "example-service" in added.output


async def test_flask_guide(terminal: Terminal) -> None:
    await terminal.follow(documented(
        "docs/guides/flask.md", "oauth-middleware --redis-url redis://localhost:6379/0 scope "
                                "sync examples.flask_app:app"))
    await terminal.follow(documented(
        "docs/guides/flask.md", "EXAMPLE_CLIENT_SECRET=example-secret-0123456789 uvicorn "
                                "examples.flask_app:app"))


async def test_django_guide(terminal: Terminal, tmp_path: Path) -> None:
    (tmp_path / "mysite").mkdir()
    (tmp_path / "mysite" / "__init__.py").write_text("")
    (tmp_path / "mysite" / "asgi.py").write_text(
        "from examples.django_project.asgi import application  # noqa: F401\n")
    await terminal.follow(documented(
        "docs/guides/django.md", "oauth-middleware --redis-url redis://localhost:6379/0 scope "
                                 "sync mysite.asgi:application"))
    store = _store(terminal.redis)
    try:
        assert {s.identifier for s in await store.list_scopes()} == {"items:read", "items:write"}
    finally:
        await store.aclose()
    issued, _ = (await terminal.follow(documented(
        "docs/guides/django.md", "EXAMPLE_CLIENT_SECRET=example-secret-0123456789 uvicorn "
                                 "examples.django_project.asgi:application")))[1:]
    assert '"scope":"items:read items:write"' in issued.output


async def test_scope_sync_page(terminal: Terminal, tmp_path: Path) -> None:
    await terminal.follow(documented(
        "docs/guides/cli-scope-sync.md", "oauth-middleware --redis-url redis://localhost:6379/0 "
                                         "scope sync examples.flask_app:app"))
    (tmp_path / "myproject").mkdir()
    (tmp_path / "myproject" / "__init__.py").write_text("")
    (tmp_path / "myproject" / "main.py").write_text(
        "import os\n\nif 'DATABASE_URL' not in os.environ:\n"
        "    raise RuntimeError('DATABASE_URL is not set')\n")
    # The page: "It needs the Redis your app uses (--redis-url or REDIS_URL)".
    await terminal.shell.run(f"export REDIS_URL={terminal.redis.url}")
    await terminal.follow(documented(
        "docs/guides/cli-scope-sync.md", "oauth-middleware scope sync myproject.main:app"))

async def test_cli_page_in_order(terminal: Terminal, tmp_path: Path) -> None:
    (tmp_path / "myproject").mkdir()
    (tmp_path / "myproject" / "__init__.py").write_text("")
    (tmp_path / "myproject" / "main.py").write_text(POLLS)
    page = "docs/operations/cli.md"
    helped = (await terminal.follow(documented(page, "export REDIS_URL=redis://localhost:6379/0")))[1]
    assert "scope" in helped.output and "client" in helped.output
    await terminal.follow(documented(page, "oauth-middleware scope sync myproject.main:app"))
    await terminal.follow(documented(
        page, 'oauth-middleware client add "Polls dashboard" --confidential --client-id '
              "polls-dashboard \\"))
    await terminal.follow(documented(
        page, "oauth-middleware token issue --client-id polls-dashboard --user alice --json"))


async def test_provisioning_from_the_command_line(terminal: Terminal) -> None:
    # The CLI's page: "It needs that Redis: --redis-url URL or REDIS_URL".
    await terminal.shell.run(f"export REDIS_URL={terminal.redis.url}")
    _, shown, own, _, revoked, again = await terminal.follow(documented(
        "docs/guides/provisioning.md", 'oauth-middleware client add "Example service" '
                                       "--client-id example-service \\"))
    assert re.search(r"^access_token: +\S+", own.output, re.M)
    assert re.search(r"^created_at: +\d{4}-\d\d-\d\dT", shown.output, re.M)
    assert revoked.output.strip() == "Revoked."
    assert again.output.strip() == "Already revoked (or expired): nothing to do."


async def test_moving_data_between_two_redis_servers(
    terminal: Terminal, new_host: RedisProcess
) -> None:
    terminal.new_host = await flushed(new_host)
    seeded = await terminal.shell.run(
        f"export REDIS_URL={terminal.redis.url}\n"
        "oauth-middleware client add 'Example service' --client-id example-service "
        "--confidential --grant-type client_credentials --scope items:read --register-scopes\n"
        "oauth-middleware token issue --client-id example-service\nunset REDIS_URL")
    assert seeded.status == 0, seeded.output
    page = "docs/guides/moving-data.md"
    empty = ("store copy", lambda: flushed(new_host))  # a copy is shown to an empty target
    await terminal.follow(documented(
        page, "oauth-middleware --redis-url redis://old-host:6379/0 store export --output "
              "backup.jsonl"), counts=True, before=empty)
    await terminal.follow(documented(
        page, "# 1. stop the apps (or put them in maintenance), then"), before=empty)
    store = _store(new_host)
    try:
        assert [c.title for c in (await store.list_clients())[1]] == ["Example service"]
    finally:
        await store.aclose()


async def test_the_acl_user_is_enough_for_the_store(
    terminal: Terminal, new_host: RedisProcess
) -> None:
    block = documented("docs/guides/running-at-scale.md",
                       "ACL SETUSER oauth on >long-random-password resetkeys ~om:* "
                       "resetchannels &om:* \\")
    redis_command = words(block.code)
    await flushed(new_host)
    answer = await terminal.shell.run(
        " ".join(["redis-cli", "-p", str(new_host.port), *map(shlex.quote, redis_command)]))
    assert answer.output.strip() == "OK"
    url = f"redis://oauth:long-random-password@127.0.0.1:{new_host.port}/0"
    store = TokenStore.from_url(url)
    try:
        await ensure_client(store, "acl-service", "ACL service", public=False,
                            grant_types=["client_credentials"], scopes_list=["items:read"],
                            register_unknown_scopes=True)
        issued = await issue_token(store, "acl-service", scopes=["items:read"])
        assert (await store.resolve(issued.access_token)) is not None
        assert await store.revoke_token(issued.access_token)
        assert await store.resolve(issued.access_token) is None
        # The page: "CONFIG and INFO are then refused to it, so store check (below) reports
        # those settings as not checked".
        checked = await terminal.shell.run(f"oauth-middleware --redis-url {url} store check")
        assert checked.output.splitlines()[:4] == [
            "maxmemory-policy: not checked", "appendonly:       not checked",
            "save:             not checked", "cluster_enabled:  not checked"]
        assert "Redis refused INFO" in checked.output
    finally:
        await store.aclose()
        await terminal.shell.run(f"redis-cli -p {new_host.port} ACL DELUSER oauth")


async def test_store_check_prints_what_the_guide_shows(terminal: Terminal) -> None:
    await terminal.follow(documented(
        "docs/guides/running-at-scale.md",
        "oauth-middleware --redis-url redis://localhost:6379/0 store check"))


async def test_consent_commands_of_the_sessions_page(terminal: Terminal) -> None:
    """What the page remembered in code, listed and forgotten from a terminal."""
    await terminal.shell.run(f"export REDIS_URL={terminal.redis.url}")
    store = _store(terminal.redis)
    try:
        await _consent_commands(terminal, store)
    finally:
        await store.aclose()


async def _consent_commands(terminal: Terminal, store: TokenStore) -> None:
    for client_id in ("reader", "other"):
        client = await ensure_client(store, client_id, client_id.title(),
                                     redirect_uris="https://reader.example/cb",
                                     scopes_list=["polls:read"])
        for user in ("alice", "bob"):
            await store.remember_consent(
                user, client_id, client_generation=client.client.generation,
                approved=["polls:read"], lifetime=3600)
    listed, alice_reader, every_user = await terminal.follow(documented(
        "docs/guides/sessions-and-logout.md", "oauth-middleware consent list --user alice"))
    assert "reader" in listed.output and "other" in listed.output
    assert {alice_reader.status, every_user.status} == {0}
    assert await store.remembered_consent("alice", "reader") == frozenset()
    assert await store.remembered_consent("bob", "reader") == frozenset()
    assert await store.remembered_consent("alice", "other") == frozenset({"polls:read"})


async def test_signing_keys_rotated_listed_and_retired_from_the_command_line(
    terminal: Terminal
) -> None:
    """The server made its RS256 key earlier; a reader rotates, lists, retires the old one."""
    secret = secrets.token_urlsafe(32)
    store = _store(terminal.redis)
    try:
        await _rotate_list_retire(terminal, store, secret)
    finally:
        await store.aclose()


async def _rotate_list_retire(terminal: Terminal, store: TokenStore, secret: str) -> None:
    old_kid = (await StoreKeys(store, secret.encode()).signing_key("RS256")).kid
    assert old_kid is not None
    await terminal.shell.run(f"export OAUTH_SECRET_KEY={secret} OLD_KID={old_kid}")
    _, rotated, listed, retired = await terminal.follow(documented(
        "docs/guides/signing-keys.md", "export REDIS_URL=redis://localhost:6379/0 "
                                       "OAUTH_SECRET_KEY=..."))
    assert rotated.output.count("New current") == 2 and old_kid in listed.output
    assert retired.output.strip() == f"Retired signing key {old_kid}."
    published = await StoreKeys(store, secret.encode()).public_jwks()
    assert old_kid not in {key["kid"] for key in published["keys"]}
