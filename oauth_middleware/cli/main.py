"""The root ``oauth-middleware`` group: where the store is, and the command groups.

Exit status: 0 on success, 1 when the request could not be done (one ``Error:``
line on stderr), 2 for a usage error (click's own message).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import click

from oauth_middleware.cli import sync as _sync  # noqa: F401 - adds ``scope sync``
from oauth_middleware.cli.clients import client_group
from oauth_middleware.cli.consents import consent_group
from oauth_middleware.cli.context import Settings, StoreFactory, connect_store
from oauth_middleware.cli.device_login import device_login
from oauth_middleware.cli.events import events_group
from oauth_middleware.cli.keys import keys_group
from oauth_middleware.cli.scopes import scope_group
from oauth_middleware.cli.store import store_group
from oauth_middleware.cli.tokens import token_group

#: The library's logger: its warnings are for a server's logs (see ``library_logs_kept_off``).
LIBRARY_LOGGER = "oauth_middleware"

EPILOG = """\b
Examples:
  export REDIS_URL=redis://localhost:6379/0
  oauth-middleware scope sync myproject.main:app
  oauth-middleware client add "Polls" --confidential --scope polls:vote \\
      --redirect-uri https://polls.example/cb
  oauth-middleware token list --user alice
  oauth-middleware token revoke-user alice

Every listing takes --json and then prints exactly one JSON document.
"""


@contextmanager
def library_logs_kept_off() -> Iterator[None]:
    """While a command runs, the library's log records go nowhere.

    The store logs ``token store unavailable: ConnectionError`` for a server's
    operators; with no logging configured, Python's last-resort handler would
    print it on stderr above the command's own ``Error:`` line, which already
    says what went wrong. Only this command's run is affected: the logger is
    given back as it was, so an app (or a test) in the same process keeps its logs.
    """
    logger = logging.getLogger(LIBRARY_LOGGER)
    handler, propagate = logging.NullHandler(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"],
                                              "max_content_width": 100})
@click.option("--redis-url", envvar="REDIS_URL", show_envvar=True, metavar="URL",
              help="The Redis your app's TokenStore uses (redis://, rediss://, "
                   "redis+sentinel:// or unix://). "
                   "Required: the embedded store lives inside one process.")
@click.option("--prefix", envvar="OAUTH_MIDDLEWARE_PREFIX", show_envvar=True, metavar="PREFIX",
              help="The key prefix your app's TokenStore uses, if you changed it.")
@click.option("--audit/--no-audit", envvar="OAUTH_MIDDLEWARE_AUDIT", show_envvar=True,
              default=None,
              help="Record this command's changes (tokens issued and revoked, clients "
                   "changed) as audit events with the actor cli, or never [default: when "
                   "the store's event stream exists, i.e. your app keeps an audit trail].")
@click.version_option(package_name="oauth-middleware", prog_name="oauth-middleware")
@click.pass_context
def main(ctx: click.Context, redis_url: str | None, prefix: str | None,
         audit: bool | None) -> None:
    """Manage oauth_middleware's clients, scopes and tokens in your app's Redis."""
    factory: StoreFactory = ctx.obj if callable(ctx.obj) else connect_store
    ctx.obj = Settings(redis_url, prefix, factory, audit)
    ctx.with_resource(library_logs_kept_off())


main.add_command(client_group)
main.add_command(device_login)
main.add_command(events_group)
main.add_command(scope_group)
main.add_command(token_group)
main.add_command(store_group)
main.add_command(consent_group)
main.add_command(keys_group)
