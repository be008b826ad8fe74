"""``oauth-middleware keys …``: the authorization server's signing keys (RFC 7517).

Thin over :mod:`oauth_middleware.toolbox.signing_keys`. ``rotate`` seals the new keys
with the server's secret key, read from an environment variable (``OAUTH_SECRET_KEY``
by default), never from the command line, where ``ps`` and shell history would show it.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from oauth_middleware.cli.context import one_line, run
from oauth_middleware.cli.output import echo_table, emit_json, json_option, when
from oauth_middleware.keyring import MAX_TOKEN_LIFETIME, KeyInfo, KeyRingError
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox.rules import TOKEN_ALGORITHMS
from oauth_middleware.toolbox.signing_keys import (
    list_signing_keys,
    retire_signing_key,
    rotate_signing_keys,
)

T = TypeVar("T")


@click.group("keys")
def keys_group() -> None:
    """List, rotate and retire the keys tokens are signed with."""


def _run(work: Callable[[TokenStore], Awaitable[T]]) -> T:
    try:
        return run(work)
    except KeyRingError as exc:
        raise click.ClickException(one_line(str(exc))) from None


def key_dict(info: KeyInfo) -> dict[str, object]:
    """A key's listing (never key material), times as whole seconds since the epoch."""
    return {"kid": info.kid, "alg": info.alg, "state": info.state,
            "created_at": int(info.created_at),
            "retire_after": None if info.retire_after is None else int(info.retire_after)}


def _echo(keys: list[KeyInfo], as_json: bool) -> None:
    if as_json:
        emit_json([key_dict(k) for k in keys])
    elif not keys:
        click.echo("No signing keys yet: the server makes them on first use.")
    else:
        echo_table(["KID", "ALG", "STATE", "CREATED", "PUBLISHED UNTIL"], [
            [k.kid, k.alg, k.state, when(k.created_at),
             "while current" if k.state == "current" else when(k.retire_after)]
            for k in keys])


@keys_group.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List the signing keys and their state.

    A key is current (it signs), published (rotated out, its tokens may still be
    live) or expired (no longer published; the next rotation deletes it).
    """
    _echo(_run(list_signing_keys), as_json)


@keys_group.command("rotate")
@click.option("--alg", "algorithms", multiple=True, type=click.Choice(TOKEN_ALGORITHMS),
              help="Rotate only this algorithm's key (repeat) [default: every one].")
@click.option("--secret-key-env", default="OAUTH_SECRET_KEY", show_default=True,
              metavar="NAME", help="The environment variable holding the server's secret_key.")
@click.option("--max-token-lifetime", type=click.IntRange(1, 366 * 24 * 3600),
              default=MAX_TOKEN_LIFETIME, show_default=True, metavar="SECONDS",
              help="The server's max_token_lifetime: how long the old key stays published.")
@json_option
def rotate(algorithms: tuple[str, ...], secret_key_env: str, max_token_lifetime: int,
           as_json: bool) -> None:
    """Make a new current key per algorithm.

    The replaced key stays published until every token it signed has expired.
    """
    secret = os.environ.get(secret_key_env)
    if not secret:
        raise click.UsageError(f"set {secret_key_env} to the server's secret_key")
    made = _run(lambda store: rotate_signing_keys(
        store, secret, algorithms or None, max_token_lifetime=max_token_lifetime))
    if as_json:
        emit_json([key_dict(k) for k in made])
    else:
        for info in made:
            click.echo(f"New current {info.alg} key {info.kid}.")


@keys_group.command("retire")
@click.argument("kid", metavar="KID")
@json_option
def retire(kid: str, as_json: bool) -> None:
    """Stop publishing key KID now.

    Tokens it signed fail at once wherever signatures are checked.

    The current key of an algorithm cannot be retired: rotate first. A key id is a
    base64url thumbprint and may start with '-': give it after '--'
    (`keys retire -- -Xy...`) so it is not read as an option.
    """
    dropped = _run(lambda store: retire_signing_key(store, kid))
    if not dropped:
        raise click.ClickException(f"no signing key {one_line(repr(kid))}")
    if as_json:
        emit_json({"kid": kid, "retired": True})
    else:
        click.echo(f"Retired signing key {one_line(kid)}.")
