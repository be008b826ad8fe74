"""``store export``, ``store import``, ``store copy``: back up, restore and move the store's data.

The file is JSON lines (:mod:`oauth_middleware.store.transfer`): digests and
records as the store keeps them, never a raw token, code or client secret. It
still holds client-secret hashes, so an export file is created readable by its
owner only, and appears under its name only once complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import IO

import click

from oauth_middleware.cli.context import Settings, run
from oauth_middleware.cli.output import printable
from oauth_middleware.store import TokenStore
from oauth_middleware.store.transfer import Header, Mode, Moved, copy, export, import_lines, tally

#: Unknown keys listed one by one on stderr; past this only counted.
LISTED = 100


class Unknown:
    """Keys under the prefix the schema does not describe: listed on stderr, then counted."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, key: str) -> None:
        self.count += 1
        if self.count <= LISTED:
            click.echo(f"unknown key, not moved: {printable(key)}", err=True)

    def report(self) -> None:
        if self.count > LISTED:
            click.echo(f"... {self.count - LISTED} more unknown keys", err=True)
        if self.count:
            click.echo(f"{self.count} unknown keys not moved", err=True)


def mode_options(func: click.decorators.FC) -> click.decorators.FC:
    """``--skip-existing`` / ``--replace``: how to merge into a target that holds keys."""
    func = click.option("--replace", is_flag=True,
                        help="Merge; where both have a key (or a member), the incoming wins.")(func)
    return click.option("--skip-existing", is_flag=True,
                        help="Merge; where both have a key (or a member), the target's stays."
                        )(func)


def _mode(skip_existing: bool, replace: bool) -> Mode:
    if skip_existing and replace:
        raise click.UsageError("--skip-existing and --replace exclude each other")
    return "skip" if skip_existing else "replace" if replace else "empty"


def _summary(moved: Moved, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"records": moved.records, "kinds": dict(sorted(moved.kinds.items())),
                               "outcomes": dict(sorted(moved.outcomes.items()))}, indent=2))
    else:
        click.echo(f"imported {moved.records} records ({tally(moved.kinds)}): "
                   f"{tally(moved.outcomes)}")


@click.command("export")
@click.option("--output", "-o", default="-", metavar="FILE|-", show_default=True,
              help="Where to write; '-' is stdout.")
def export_command(output: str) -> None:
    """Write the store's keys as JSON lines.

    Every key under the prefix, read whole with its TTL, which is written as an
    absolute expiry time: a file imported later gives nothing a longer life. On a
    live store the file holds each key as it was when read.
    """
    unknown = Unknown()
    if output == "-":
        header = run(lambda store: export(store, sys.stdout, on_unknown=unknown))
    else:
        header = _export_to(Path(output), unknown)
    unknown.report()
    click.echo(f"exported {header.records} records ({tally(Counter(header.counts))})", err=True)


def _export_to(path: Path, unknown: Unknown) -> Header:
    """Into a temporary file beside ``path`` (mode 0600), renamed once complete."""
    try:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        with os.fdopen(handle, "w", encoding="ascii") as out:
            header = run(lambda store: export(store, out, on_unknown=unknown))
        os.replace(name, path)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
    return header


def _unwritable(path: Path, exc: OSError) -> click.ClickException:
    return click.ClickException(f"cannot write {printable(str(path))}: {exc.strerror}")


@click.command("import")
@click.option("--input", "-i", "source", type=click.File("rb", lazy=False), default="-",
              metavar="FILE|-", show_default=True, help="The export file; '-' is stdin.")
@mode_options
@click.option("--prefix-from", metavar="PREFIX",
              help="The file's prefix, to import its keys under this store's own.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON document.")
def import_command(source: IO[bytes], skip_existing: bool, replace: bool,
                   prefix_from: str | None, as_json: bool) -> None:
    """Write the keys of an export file.

    Keys whose time has passed are skipped. Into an empty store this is a restore.
    A store that holds keys is refused unless --skip-existing or --replace says how
    to merge: a key the file has and the store lacks is written either way, so an
    old file brings back what was revoked since it was made.
    """
    mode = _mode(skip_existing, replace)
    moved = run(lambda store: import_lines(store, source, mode=mode, prefix_from=prefix_from))
    _summary(moved, as_json)


@click.command("copy")
@click.option("--from", "source_url", required=True, metavar="URL", help="The Redis to read.")
@click.option("--to", "target_url", required=True, metavar="URL", help="The Redis to write.")
@mode_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON document.")
@click.pass_context
def copy_command(ctx: click.Context, source_url: str, target_url: str, skip_existing: bool,
                 replace: bool, as_json: bool) -> None:
    """Copy the store's keys to another Redis.

    Every key under the prefix, TTLs kept; the same rules as export then import.
    Into an empty target, what the source deleted while the copy ran (a token
    revoked meanwhile) is deleted again at the end. What is revoked after that,
    until the apps use the target, is not: copy while the apps are stopped, or
    revoke again after switching them over.
    """
    mode = _mode(skip_existing, replace)
    if source_url == target_url:
        raise click.ClickException("--from and --to name the same Redis")
    settings = ctx.find_object(Settings)
    if settings is None:  # pragma: no cover - the root group always sets it
        raise RuntimeError("commands must run under the oauth-middleware group")
    # run() opens the store of the nearest Settings: for this command, the source.
    ctx.obj = dataclasses.replace(settings, redis_url=source_url)
    unknown = Unknown()

    async def work(source: TokenStore) -> Moved:
        target = settings.factory(target_url, settings.prefix)
        try:
            return await copy(source, target, mode=mode, on_unknown=unknown)
        finally:
            await target.aclose()

    moved = run(work)
    unknown.report()
    _summary(moved, as_json)


#: The data-moving commands, for whichever ``store`` group holds them.
TRANSFER_COMMANDS = (export_command, import_command, copy_command)
