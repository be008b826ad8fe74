"""The ``oauth-middleware`` program itself: help, finding Redis, errors, entry points, progress."""

from __future__ import annotations

import asyncio
import logging
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from oauth_middleware.cli import main
from oauth_middleware.cli.context import UNAVAILABLE
from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.toolbox import register_client
from tests.cli.harness import Cli, assert_error
from tests.cli.sync_apps import BULK
from tests.redis_process import RedisProcess, free_port
from tests.store_helpers import gateway, redis_of

NO_URL_ENV: dict[str, str | None] = {"REDIS_URL": None, "OAUTH_MIDDLEWARE_PREFIX": None}
#: The project directory: ``scope sync tests.cli.sync_apps:…`` imports from there.
ROOT = Path(__file__).resolve().parents[2]


def _leaf_commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _leaf_commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


def test_top_level_help_names_every_group_the_url_and_examples() -> None:
    result = CliRunner().invoke(main, ["--help"], prog_name="oauth-middleware")
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: oauth-middleware [OPTIONS] COMMAND [ARGS]...")
    for text in ("client ", "scope ", "token ", "--redis-url URL", "REDIS_URL", "Examples:",
                 "oauth-middleware scope sync myproject.main:app"):
        assert text in result.stdout


def test_every_command_has_a_short_help_and_a_help_page() -> None:
    commands = _leaf_commands(main)
    assert len(commands) == 35  # client 8, scope 6, token 9, store 4, consent 2, keys 3, device 1,
    # events 2
    for path in commands:
        result = CliRunner().invoke(main, [*path, "--help"], prog_name="oauth-middleware")
        assert result.exit_code == 0, path
        assert result.stdout.startswith(f"Usage: oauth-middleware {' '.join(path)} "), path
        command: click.Command = main
        for name in path:
            command = command.commands[name] if isinstance(command, click.Group) else command
        assert command.help, path
        assert not command.get_short_help_str(limit=45).endswith("..."), path
        if "json" in {p.name for p in command.params}:
            assert "--json" in result.stdout


def test_without_a_redis_url_the_command_explains_that_it_needs_one() -> None:
    result = CliRunner(env=NO_URL_ENV).invoke(main, ["client", "list"])
    assert_error(result, "no Redis URL: pass --redis-url or set REDIS_URL. The embedded store "
                         "lives inside one process")


@pytest.mark.rule("responses.5xx-generic")
def test_an_unreachable_redis_is_one_line_without_the_url() -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    result = CliRunner(env=NO_URL_ENV).invoke(main, ["--redis-url", url, "scope", "list"])
    assert_error(result, "cannot reach Redis")
    assert "hunter2" not in result.stderr and "127.0.0.1" not in result.stderr


def _program(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m oauth_middleware ARGS`` in a process of its own: no pytest logging plugin
    catches what the library logs, so stderr is exactly what a user would see."""
    env = {k: v for k, v in os.environ.items() if k not in NO_URL_ENV}
    return subprocess.run([sys.executable, "-m", "oauth_middleware", *args], capture_output=True,
                          text=True, env=env, timeout=60, check=False)


@pytest.mark.rule("responses.5xx-generic")
def test_an_unreachable_redis_is_one_stderr_line_in_a_real_process() -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    done = _program("--redis-url", url, "scope", "list")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [f"Error: {UNAVAILABLE}"]
    assert "hunter2" not in done.stderr and "127.0.0.1" not in done.stderr


@pytest.mark.real_redis_only
def test_a_redis_that_answers_with_an_error_is_not_called_unreachable(
    redis_server: RedisProcess
) -> None:
    """Database 99 does not exist on a default redis-server: Redis says so, and so do we."""
    done = _program("--redis-url", f"redis://127.0.0.1:{redis_server.port}/99", "scope", "list")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == ["Error: Redis answered with an error: "
                                        "DB index is out of range"]


def test_the_command_line_gives_the_library_logger_back_as_it_found_it() -> None:
    """Silencing the library's records is for the command's run only, never for an app."""
    logger = logging.getLogger("oauth_middleware")
    before = (logger.propagate, list(logger.handlers))
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = CliRunner(env=NO_URL_ENV).invoke(main, ["--redis-url", url, "scope", "list"])
    assert result.exit_code == 1
    assert (logger.propagate, list(logger.handlers)) == before


@pytest.mark.parametrize("url", ["http://example.com/", "redis://127.0.0.1:port/0"])
def test_a_url_that_is_not_a_redis_url_is_one_line(url: str) -> None:
    result = CliRunner(env=NO_URL_ENV).invoke(main, ["--redis-url", url, "scope", "list"])
    assert_error(result, "--redis-url is not a Redis URL")


@pytest.mark.real_redis_only
def test_the_redis_url_comes_from_the_environment(cli: Cli, redis_server: RedisProcess) -> None:
    result = CliRunner(env={"REDIS_URL": redis_server.url}).invoke(
        main, ["scope", "add", "env:scope"])
    assert result.exit_code == 0, result.output
    assert [s.identifier for s in cli.run(lambda store: store.list_scopes())] == ["env:scope"]


@pytest.mark.real_redis_only
def test_prefix_selects_the_keys_of_a_store_with_another_prefix(
    cli: Cli, redis_server: RedisProcess
) -> None:
    env = {"REDIS_URL": redis_server.url, "OAUTH_MIDDLEWARE_PREFIX": "other:"}
    assert CliRunner(env=env).invoke(main, ["scope", "add", "p:q"]).exit_code == 0
    assert cli.run(lambda store: store.list_scopes()) == []

    async def other(store: TokenStore) -> list[str]:
        mine = TokenStore(gateway(store), prefix="other:")
        return [s.identifier for s in await mine.list_scopes()]

    assert cli.run(other) == ["p:q"]
    result = CliRunner(env=env).invoke(main, ["--prefix", "bad prefix", "scope", "list"])
    assert_error(result, "prefix must be non-empty")


def test_python_dash_m_and_the_console_script_run_the_command_line() -> None:
    script = Path(sys.executable).parent / "oauth-middleware"
    for command in ([sys.executable, "-m", "oauth_middleware", "--help"], [str(script), "-h"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("Usage: oauth-middleware [OPTIONS] COMMAND")


def _issue_many(cli: Cli, user: str, count: int) -> None:
    """``count`` grants for ``user``, by a store that lets one user keep that many."""
    async def work(store: TokenStore) -> None:
        roomy = TokenStore(gateway(store), clock=store.clock, max_grants_per_user=count)
        spec = NewTokens(client_id="web", subject=user, scopes=frozenset({"a:b"}))
        for _ in range(0, count, 100):
            await asyncio.gather(*(roomy.issue(spec) for _ in range(100)))

    cli.run(work)


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run with stdout and stderr on a pseudo-terminal; everything it printed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
                            env=env, cwd=ROOT)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the terminal's other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode()


def _progress_only_on_a_terminal(
    command: list[str], env: dict[str, str], prepare: Callable[[], object], heading: str,
    done: str,
) -> None:
    """Run ``command`` piped, then on a pseudo-terminal, each after ``prepare()``: piped it
    prints only its last line ``done``, on a terminal ``heading`` and a bar up to 100% too."""
    args = [sys.executable, "-m", "oauth_middleware", *command]
    prepare()
    piped = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
                           check=True)
    assert piped.stdout.splitlines()[-1] == done and "100%" not in piped.stdout
    assert piped.stderr == ""
    prepare()
    shown = _on_a_terminal(args, env)
    assert heading in shown and "100%" in shown
    assert shown.rstrip().endswith(done)


@pytest.mark.real_redis_only
def test_revoke_user_shows_progress_on_a_terminal_and_stays_quiet_when_piped(
    cli: Cli, redis_server: RedisProcess
) -> None:
    env = {**os.environ, "REDIS_URL": redis_server.url}
    _progress_only_on_a_terminal(
        ["token", "revoke-user", "alice"], env, lambda: _issue_many(cli, "alice", 1200),
        "Revoking tokens of alice", "Revoked 1200 token(s) and code(s) of user 'alice'.")


@pytest.mark.real_redis_only
def test_revoke_client_shows_progress_on_a_terminal_and_stays_quiet_when_piped(
    cli: Cli, redis_server: RedisProcess
) -> None:
    env = {**os.environ, "REDIS_URL": redis_server.url}
    cli.run(lambda store: register_client(store, "Web", "web", "https://a.example/cb"))
    _progress_only_on_a_terminal(
        ["token", "revoke-client", "web"], env, lambda: _issue_many(cli, "alice", 1200),
        "Revoking tokens of web", "Revoked 1200 token(s) and code(s) of client 'web'.")


@pytest.mark.real_redis_only
def test_scope_sync_shows_progress_on_a_terminal_and_stays_quiet_when_piped(
    cli: Cli, redis_server: RedisProcess
) -> None:
    env = {**os.environ, "REDIS_URL": redis_server.url}

    def no_scopes() -> None:
        cli.run(lambda store: redis_of(store).delete(store.keys.scopes))

    _progress_only_on_a_terminal(
        ["scope", "sync", "tests.cli.sync_apps:bulk"], env, no_scopes,
        "Registering scopes", f"Added {BULK}, 0 already registered.")
    assert len(cli.run(lambda store: store.list_scopes())) == BULK
