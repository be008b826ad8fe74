"""``oauth-middleware scope sync APP``: oauthost's ``syncscopes`` (RFC 6749 §3.3).

Imports the application, asks :mod:`oauth_middleware.discovery` which scopes
its routes need (the middleware's own policy: explicit, method-specific,
``AUTO``, ``@oauth_required`` and ``RequireScopes``), and registers the missing
ones with a readable title. Existing scopes are never changed. An app that fails
to import is one ``Error:`` line naming the import path and the exception.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from oauth_middleware.cli.context import USER_ERRORS, one_line, progress, run
from oauth_middleware.cli.output import echo_table, emit_json, json_option
from oauth_middleware.cli.scopes import scope_group
from oauth_middleware.discovery import ScopeNeed, middleware_policies, required_scopes
from oauth_middleware.models import Scope
from oauth_middleware.scope_registry import ScopeSync, sync_scopes


def _failed(import_path: str, exc: Exception, hint: str = "") -> click.ClickException:
    """The app's own error on one line: where to look and what broke, never a traceback."""
    detail = one_line(f"{type(exc).__name__}: {exc}".rstrip(": "))
    return click.ClickException(f"cannot load {import_path!r}: {detail}{hint}")


def _traceback_hint(module: str) -> str:
    return f' (python -c "import {module}" shows where)'


def _import_module(name: str, import_path: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception as exc:  # a typo in IMPORT_PATH, or the app's own import failed
        missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
        if missing and (name == missing or name.startswith(missing + ".")):
            raise click.ClickException(f"cannot import {name!r}: no such module "
                                       "(run from the project directory or use --app-dir)"
                                       ) from None
        raise _failed(import_path, exc, _traceback_hint(name)) from None


def load_app(import_path: str, *, factory: bool, app_dir: str) -> Any:
    """The object ``MODULE:ATTRIBUTE`` names (called first when ``factory``).

    An app that fails to import (or whose factory fails) is one ``Error:`` line
    naming the import path and the exception; ``python -c "import MODULE"`` shows
    the traceback.
    """
    module_name, _, attribute = import_path.partition(":")
    if not module_name or not attribute:
        raise click.BadParameter("use MODULE:ATTRIBUTE, e.g. myproject.main:app",
                                 param_hint="IMPORT_PATH")
    directory = str(Path(app_dir).resolve())
    if directory not in sys.path:
        sys.path.insert(0, directory)
    target = _import_module(module_name, import_path)
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise click.ClickException(
                f"module {module_name!r} has no attribute {attribute!r}") from None
    if factory:
        if hasattr(target, "routes") or not callable(target):
            raise click.ClickException(f"{import_path!r} is not an app factory: drop --factory")
        try:
            target = target()
        except Exception as exc:
            raise _failed(import_path, exc, " (calling the factory)") from None
    return target


def _rows(result: ScopeSync, needs: dict[str, ScopeNeed]) -> list[list[object]]:
    added = "would add" if result.dry_run else "added"
    rows: list[tuple[str, Scope]] = [(added, s) for s in result.added]
    rows += [("exists" if s.enabled else "disabled", s) for s in result.existing]
    rows.sort(key=lambda row: row[1].identifier)
    return [[status, s.identifier, s.title, list(needs[s.identifier].routes)]
            for status, s in rows]


def _report(import_path: str, result: ScopeSync, needs: dict[str, ScopeNeed],
            as_json: bool) -> None:
    def entries(scopes: tuple[Scope, ...]) -> list[dict[str, object]]:
        return [{"identifier": s.identifier, "title": s.title, "enabled": s.enabled,
                 "routes": list(needs[s.identifier].routes)} for s in scopes]

    if as_json:
        emit_json({"app": import_path, "dry_run": result.dry_run,
                   "added": entries(result.added), "existing": entries(result.existing)})
        return
    click.echo(f"{import_path} needs {len(needs)} scope(s).")
    if needs:
        echo_table(["STATUS", "SCOPE", "TITLE", "ROUTES"], _rows(result, needs))
    verb = "Would add" if result.dry_run else "Added"
    click.echo(f"{verb} {len(result.added)}, {len(result.existing)} already registered.")


@scope_group.command("sync")
@click.argument("import_path", metavar="IMPORT_PATH")
@click.option("--factory", is_flag=True,
              help="IMPORT_PATH names a function that returns the app.")
@click.option("--app-dir", default=".", show_default=True, metavar="DIR",
              help="Directory put first on the import path.")
@click.option("--dry-run", is_flag=True, help="Report what would be added; change nothing.")
@json_option
def sync(import_path: str, factory: bool, app_dir: str, dry_run: bool, as_json: bool) -> None:
    """Register an app's scopes (syncscopes).

    IMPORT_PATH names the app as MODULE:ATTRIBUTE, e.g. myproject.main:app.

    Scopes come from the app's OAuthMiddleware mappings, wherever mounted (AUTO
    resolved the way the middleware resolves it; a protect_wsgi app's explicit
    mapping), its @oauth_required endpoints and its RequireScopes (FastAPI)
    dependencies. Missing ones are
    registered with a readable title ("polls:results" -> "Polls Results");
    existing ones are left as they are.
    """
    app = load_app(import_path, factory=factory, app_dir=app_dir)
    try:
        found = required_scopes(app)
        policies = middleware_policies(app)
    except USER_ERRORS as exc:
        raise click.ClickException(one_line(str(exc))) from None
    except Exception as exc:  # the app's own attributes broke while we read them
        raise _failed(import_path, exc, " (reading its routes)") from None
    if not policies:
        click.echo("Warning: no OAuthMiddleware found; only @oauth_required endpoints and "
                   "RequireScopes dependencies were searched.", err=True)
    needs = {need.identifier: need for need in found}
    with progress("Registering scopes") as report:
        result = run(lambda store: sync_scopes(store, needs, dry_run=dry_run, progress=report))
    _report(import_path, result, needs, as_json)
