"""``oauth-middleware scope …``: the scope registry (RFC 6749 §3.3).

Thin over :mod:`oauth_middleware.scope_registry`. ``scope sync`` lives in
:mod:`oauth_middleware.cli.sync` and is added to this group there.
"""

from __future__ import annotations

import click

from oauth_middleware.cli.clients import typed_text
from oauth_middleware.cli.context import run
from oauth_middleware.cli.output import echo_table, emit_json, json_option, scope_dict
from oauth_middleware.models import Scope
from oauth_middleware.scope_registry import add_scope, remove_scope, set_scope_enabled
from oauth_middleware.store import TokenStore

ENABLED_NOTE = "Tokens issued before keep their scopes until they expire or are revoked."


@click.group("scope")
def scope_group() -> None:
    """Register, enable, disable and sync scopes."""


def _echo_scope(scope: Scope, as_json: bool, verb: str) -> None:
    if as_json:
        emit_json(scope_dict(scope))
        return
    state = "enabled" if scope.enabled else "disabled"
    click.echo(f"{verb} scope {scope.identifier!r} ({scope.title!r}, {state}).")


@scope_group.command("add")
@click.argument("identifier", metavar="ID")
@click.option("--title", metavar="TEXT", callback=typed_text(),
              help='Shown on the consent page [default: from ID, "polls:vote" -> "Polls Vote"].')
@click.option("--disabled", is_flag=True, help="Register it disabled: it grants nothing yet.")
@json_option
def add(identifier: str, title: str | None, disabled: bool, as_json: bool) -> None:
    """Register scope ID (e.g. polls:vote)."""
    scope = run(lambda store: add_scope(store, identifier, title=title, enabled=not disabled))
    _echo_scope(scope, as_json, "Added")


async def _list(store: TokenStore) -> list[Scope]:
    return await store.list_scopes()


@scope_group.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List every registered scope."""
    scopes = run(_list)
    if as_json:
        emit_json([scope_dict(s) for s in scopes])
    elif not scopes:
        click.echo("No scopes registered. `oauth-middleware scope sync APP` finds them in an app.")
    else:
        echo_table(["SCOPE", "STATE", "TITLE"], [
            [s.identifier, "enabled" if s.enabled else "disabled", s.title] for s in scopes
        ])


@scope_group.command("enable")
@click.argument("identifier", metavar="ID")
@json_option
def enable(identifier: str, as_json: bool) -> None:
    """Enable scope ID: it can be granted again."""
    scope = run(lambda store: set_scope_enabled(store, identifier, True))
    _echo_scope(scope, as_json, "Enabled")


@scope_group.command("disable")
@click.argument("identifier", metavar="ID")
@json_option
def disable(identifier: str, as_json: bool) -> None:
    """Disable scope ID: it is granted no more.

    Tokens issued before keep their scopes until they expire or are revoked.
    """
    scope = run(lambda store: set_scope_enabled(store, identifier, False))
    _echo_scope(scope, as_json, "Disabled")
    if not as_json:
        click.echo(ENABLED_NOTE)


@scope_group.command("remove")
@click.argument("identifier", metavar="ID")
@json_option
def remove(identifier: str, as_json: bool) -> None:
    """Delete scope ID from the registry.

    Clients that list it can no longer be granted it; tokens issued before keep
    it until they expire or are revoked.
    """
    run(lambda store: remove_scope(store, identifier))
    if as_json:
        emit_json({"identifier": identifier, "removed": True})
    else:
        click.echo(f"Removed scope {identifier!r}. {ENABLED_NOTE}")
