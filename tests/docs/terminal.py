"""A reader's terminal for the docs' shell blocks: their commands as the test runs them.

:class:`Terminal` follows a block in one :class:`~tests.docs.shell.Shell`, changing only
what a reader would change: the documented port 8000 and Redis hosts become the test's
own (:meth:`Terminal.rewrite`), a placeholder in a command (``...``, ``3Xk...``,
``$TOKEN``, ``$SECRET``) is what a reader pastes there, the last token or client secret
printed (:data:`CAPTURES`, :data:`PASTED`), and a ``uvicorn`` command runs in the
background as in a second terminal.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from oauth_middleware.store import TokenStore
from tests.docs.fences import Block
from tests.docs.shell import Outcome, Shell, shown_matches, steps, words
from tests.redis_process import RedisProcess
from tests.store_helpers import redis_of

#: Values a reader copies from one command's output into the next command.
CAPTURES = {
    "TOKEN": re.compile(r'"access_token": ?"([^"]+)"|^access_token: +(\S+)', re.M),
    "SECRET": re.compile(r"^client_secret: +(\S+)|to choose it\): (\S+)", re.M),
}
#: A placeholder in a command of the docs, and the variable a reader pastes there.
PASTED = {"Bearer ...": "Bearer $TOKEN", "TOKEN=…": "TOKEN=$TOKEN", ":3Xk...": ":$SECRET",
          # The server's own secret, and the kid a reader copies from ``keys list``.
          "OAUTH_SECRET_KEY=...": "OAUTH_SECRET_KEY=$OAUTH_SECRET_KEY",
          "keys retire Hq1...": "keys retire $OLD_KID"}


@dataclass
class Terminal:
    """One reader's terminal: a bash, the port their server listens on, their Redis."""

    shell: Shell
    port: int
    redis: RedisProcess
    new_host: RedisProcess | None = None

    def rewrite(self, command: str) -> str:
        """The page's command with this test's port and Redis servers in place of the docs'."""
        command = command.replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")
        for shown in ("redis://localhost:6379/0", "redis://127.0.0.1:6379/0",
                      "redis://old-host:6379/0"):
            command = command.replace(shown, self.redis.url)
        if self.new_host is not None:
            command = command.replace("redis://new-host:6379/0", self.new_host.url)
        for shown, pasted in PASTED.items():
            command = command.replace(shown, pasted)
        return command

    async def follow(self, block: Block, *, counts: bool = False,
                     before: tuple[str, Callable[[], Awaitable[object]]] | None = None,
                     ) -> list[Outcome]:
        """Every command of ``block`` in order; each printed what the docs show.
        ``before``: what the page assumes before each command containing the text."""
        outcomes = []
        for step in steps(block):
            if before is not None and before[0] in step.command:
                await before[1]()
            command = self.rewrite(step.command)
            program = [w for w in words(command) if not re.fullmatch(r"\w+=.*", w)][:1]
            if program == ["uvicorn"]:
                outcome = await self.shell.serve(command.rstrip("& \n"), self.port)
            else:
                outcome = await self.shell.run(command)
            excerpt = program == ["uvicorn"] or {"-i", "--include"} & set(words(command))
            where = f"{block.page}:{block.line}: {step.command}"
            shown = tuple(line.replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")
                          for line in step.shown)
            same = not shown or shown_matches(
                shown, outcome.output, excerpt=bool(excerpt), counts=counts,
                rows=words(command)[-1:] == ["list"])
            assert same, (f"{where}\nprinted:\n{outcome.output}\nthe docs show:\n"
                          + "\n".join(step.shown))
            failed = bool(step.shown) and step.shown[0].startswith("Error:")
            assert outcome.status == int(failed), f"{where}\nexit {outcome.status}:\n{outcome}"
            for name, pattern in CAPTURES.items():
                if found := pattern.search(outcome.output):
                    await self.shell.set(name, next(g for g in found.groups() if g))
            outcomes.append(outcome)
        return outcomes


async def flushed(redis: RedisProcess) -> RedisProcess:
    store = TokenStore.from_url(redis.url)
    await redis_of(store).flushdb()
    await store.aclose()
    return redis


#: The polls app of docs/guides/starlette.md, plus the ``export`` endpoint docs/operations/
#: cli.md adds to it: what ``scope sync myproject.main:app`` reads there.
POLLS = '''
import os
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from oauth_middleware import AUTO, OAuthMiddleware, TokenStore, oauth_required

async def show(request):
    return JSONResponse({"path": request.url.path})

@oauth_required(scope_auto=True)
async def export(request):
    return JSONResponse({})

app = Starlette(routes=[
    Mount("/polls", name="polls", routes=[
        Route("/export", export, name="export"),
        Route("/{poll_id}/results", show, name="results"),
        Route("/{poll_id}/stats", show, name="stats"),
        Route("/{poll_id}/vote", show, methods=["POST"], name="vote"),
    ]),
    Route("/api/me", show),
])
store = TokenStore.from_url(os.environ.get("REDIS_URL"))
app.add_middleware(OAuthMiddleware, store=store, scopes={
    "/polls/{poll_id}/stats": "my_polls:my_stats",
    "/polls/{poll_id}/results": AUTO,
    "POST /polls/{poll_id}/vote": "polls:vote",
    "/api/me": [],
})
'''
