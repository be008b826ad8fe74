"""Running one command against the store, and turning user mistakes into one-line errors.

Each command is one ``asyncio.run``: the store is opened inside the event loop,
used, and closed. Mistakes a user can make (an unknown client, a bad redirect
URI, a scope the client may not have, Redis out of reach or refusing) become a
``click.ClickException``: one ``Error: …`` line on stderr, exit status 1, no
traceback. Anything else is a bug and keeps its traceback.

Tests inject a store factory through click's ``obj`` (``runner.invoke(main, args,
obj=factory)``), so commands can run against an in-process fakeredis server.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from oauth_middleware.cli.output import printable
from oauth_middleware.errors import OAuthError
from oauth_middleware.scope_registry import ScopeExists, UnknownScope
from oauth_middleware.store import (
    Clock,
    Progress,
    RedisURLError,
    StoreRefused,
    StoreUnavailable,
    TokenStore,
)
from oauth_middleware.store.keys import check_prefix
from oauth_middleware.toolbox import ClientExists, UnknownClient
from oauth_middleware.toolbox.rules import FORCE_IMPLICIT

T = TypeVar("T")

#: ``factory(redis_url, prefix)`` -> the store a command works on.
StoreFactory = Callable[[str | None, str | None], TokenStore]

#: A command line may talk to a remote Redis over a slow link: wait longer than a request would.
CONNECT_TIMEOUT = 5.0
SOCKET_TIMEOUT = 10.0

#: Exceptions that mean "the user asked for something impossible", not "the code is wrong".
USER_ERRORS: tuple[type[Exception], ...] = (
    ValueError, OAuthError, UnknownClient, UnknownScope, ClientExists, ScopeExists,
)

#: The library's words for an option -> the command line's flag for it.
FLAG_NAMES = {
    "(or allow_http=True for local development)": "(or --allow-http for local development)",
    "register it first or allow registering": "register it first or pass --register-scopes",
    f"pass {FORCE_IMPLICIT} to force it": "pass --force-implicit to force it",
}

NO_URL = ("no Redis URL: pass --redis-url or set REDIS_URL. The embedded store lives inside "
          "one process, so a separate command cannot see your app's clients, scopes or tokens")
UNAVAILABLE = ("cannot reach Redis: check --redis-url / REDIS_URL and that the server is "
               "running and accepts connections")
#: Redis was reached and said no (e.g. "DB index is out of range"): its words, not "unreachable".
REFUSED = "Redis answered with an error: {reply}"
BAD_URL = ("--redis-url is not a Redis URL: use redis://host:6379/0, rediss://…, "
           "redis+sentinel://host:26379/service or unix:///path")


def connect_store(url: str | None, prefix: str | None, *, clock: Clock = time.time
                  ) -> TokenStore:
    """The default factory: a real Redis; refuses to run without one (see ``NO_URL``)."""
    if not url:
        raise click.ClickException(NO_URL)
    options: dict[str, Any] = {} if prefix is None else {"prefix": check_prefix(prefix)}
    try:
        return TokenStore.from_url(url, clock=clock, connect_timeout=CONNECT_TIMEOUT,
                                   socket_timeout=SOCKET_TIMEOUT, **options)
    except RedisURLError as exc:
        raise click.ClickException(f"--redis-url is not a Redis URL: {exc}") from None
    except ValueError:
        raise click.ClickException(BAD_URL) from None


@dataclass(frozen=True, slots=True)
class Settings:
    """The root options every command shares (``ctx.obj`` below the root group)."""

    redis_url: str | None
    prefix: str | None
    factory: StoreFactory
    #: ``--audit``/``--no-audit``: record the CLI's changes as audit events, or never;
    #: None (neither given): when the store's event stream exists (:mod:`.events`).
    audit: bool | None = None


def one_line(text: str) -> str:
    """An error message on one line, in the command line's words, nothing unprintable raw
    (a message may quote a stored value)."""
    text = printable(" ".join(text.split()))
    for library, flag in FLAG_NAMES.items():
        text = text.replace(library, flag)
    return text


def run(work: Callable[[TokenStore], Awaitable[T]]) -> T:
    """Open the store, await ``work(store)``, close it; user mistakes become one-line errors."""
    settings = click.get_current_context().find_object(Settings)
    if settings is None:  # pragma: no cover - the root group always sets it
        raise RuntimeError("commands must run under the oauth-middleware group")

    async def session() -> T:
        store = settings.factory(settings.redis_url, settings.prefix)
        try:
            return await work(store)
        finally:
            await store.aclose()

    try:
        return asyncio.run(session())
    except StoreRefused as exc:
        raise click.ClickException(REFUSED.format(reply=one_line(exc.reply))) from None
    except StoreUnavailable:
        raise click.ClickException(UNAVAILABLE) from None
    except USER_ERRORS as exc:
        raise click.ClickException(one_line(str(exc)) or type(exc).__name__) from None


def interactive() -> bool:
    """True when a person watches: both stdout and stderr are terminals (never when piped)."""
    return sys.stdout.isatty() and sys.stderr.isatty()


@contextmanager
def progress(label: str) -> Iterator[Progress]:
    """A ``progress(done, total)`` callback drawing a bar on stderr on a terminal only.

    The bar goes to stderr so that it can never mix with the JSON on stdout.
    """
    bar: Any = None

    def report(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label=label, file=sys.stderr,
                                    hidden=not interactive())
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        yield report
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
