"""Run ``oauth-middleware`` in-process with click's CliRunner against either store backend.

Commands call ``asyncio.run`` themselves, so tests that drive them are plain
sync functions; they set up and check store state with :meth:`Cli.run`, which
opens a fresh store in its own event loop (redis-py connections belong to the
loop that made them). Both sides see the same data: the fakeredis backend
shares one ``FakeServer`` (injected through click's ``obj``), the real backend
is reached through ``--redis-url`` and the CLI's own connection code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import fakeredis
from click.testing import CliRunner, Result

from oauth_middleware.cli import main
from oauth_middleware.cli.context import connect_store
from oauth_middleware.store import TokenStore
from tests.conftest import FakeClock
from tests.store_helpers import over

T = TypeVar("T")


class Cli:
    def __init__(self, backend: str, clock: FakeClock, redis_url: str | None) -> None:
        self.backend = backend
        self.clock = clock
        self.redis_url = redis_url
        self.server = fakeredis.FakeServer()

    def store(self, url: str | None = None, prefix: str | None = None) -> TokenStore:
        """What the CLI opens for a command (the real backend: its own connection code)."""
        if self.backend == "redis":
            return connect_store(url or self.redis_url, prefix, clock=self.clock)
        return over(fakeredis.FakeAsyncRedis(server=self.server), clock=self.clock)

    def run(self, work: Callable[[TokenStore], Awaitable[T]]) -> T:
        """Set up or inspect store state from a sync test."""
        async def session() -> T:
            store = self.store()
            try:
                return await work(store)
            finally:
                await store.aclose()

        return asyncio.run(session())

    def invoke(self, *args: str, input: str | None = None,
               env: dict[str, str | None] | None = None) -> Result:
        url_args = ["--redis-url", self.redis_url] if self.redis_url else []
        return CliRunner(env=env).invoke(main, [*url_args, *args], obj=self.store, input=input,
                                         catch_exceptions=False)

    def json(self, *args: str, input: str | None = None) -> Any:
        """Run a command with --json; it must succeed and print exactly one JSON document."""
        result = self.invoke(*args, "--json", input=input)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self.invoke(*args, input=input)
        assert result.exit_code == 0, result.output
        assert result.stderr == ""
        return result.stdout


def assert_error(result: Result, fragment: str, *, status: int = 1) -> None:
    """A refusal: the status, nothing on stdout, and one ``Error:`` line, no traceback."""
    assert result.exit_code == status, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    if status == 1:
        assert len(lines) == 1, result.stderr
    assert lines[-1].startswith("Error: "), result.stderr
    assert fragment in lines[-1], result.stderr


def lines_of(text: str) -> Sequence[str]:
    return [line.rstrip() for line in text.strip().splitlines()]
