"""``oauth-middleware token …``: issue, list, inspect and revoke tokens (RFC 6749 §5.1, RFC 7009).

Listings show a token's fingerprint and metadata, never the token: Redis holds
only digests. ``issue`` prints the new token once. A TOKEN argument of ``-`` is
read from stdin, which keeps it out of shell history and the process list.
"""

from __future__ import annotations

import sys

import click

from oauth_middleware.audit import cascading
from oauth_middleware.cli.clients import split_scopes
from oauth_middleware.cli.context import progress, run
from oauth_middleware.cli.events import audit_setting, cli_trail, noted_with
from oauth_middleware.cli.output import (
    echo_fields,
    echo_table,
    emit_json,
    json_option,
    printable,
    token_dict,
)
from oauth_middleware.cli.output import when as show_time
from oauth_middleware.models import AccessToken, RefreshToken
from oauth_middleware.security import grant_id_of
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import (
    MAX_LIFETIME,
    issue_token,
    revoke_access_token,
    revoke_client_tokens,
)

TOKEN_HELP = "TOKEN may be - to read it from stdin."


@click.group("token")
def token_group() -> None:
    """Issue, list, inspect and revoke access tokens."""


def _read_token(token: str) -> str:
    value = sys.stdin.readline().strip() if token == "-" else token.strip()
    if not value:
        raise click.BadParameter("the token is empty", param_hint="TOKEN")
    return value


@token_group.command("issue")
@click.option("--client-id", required=True, metavar="ID", help="The client the token is for.")
@click.option("--user", metavar="USER",
              help="The user the token acts for [default: the client itself, as in "
                   "client_credentials].")
@click.option("--scope", "scopes", multiple=True, metavar="SCOPE",
              help="A scope to grant (repeat, or space-separate) [default: the client's scopes].")
@click.option("--lifetime", type=click.IntRange(min=1, max=MAX_LIFETIME), metavar="SECONDS",
              help=f"Seconds the token lives, at most {MAX_LIFETIME} (ten years) "
                   "[default: the client's token lifetime].")
@json_option
def issue(client_id: str, user: str | None, scopes: tuple[str, ...], lifetime: int | None,
          as_json: bool) -> None:
    """Issue a token directly (tests, tooling).

    The client's scope rules and token lifetime apply, as at the token endpoint.

    A refresh token comes along when a --user is named and the client may refresh.
    The issue is recorded as an audit event (token.issued, by cli) as --audit says.
    """
    setting = audit_setting()

    async def work(store: TokenStore) -> dict[str, object]:
        issued = await issue_token(store, client_id, user=user,
                                   scopes=split_scopes(scopes) or None, lifetime=lifetime,
                                   audit=await cli_trail(store, setting), actor="cli")
        return issued.to_response(store.clock())

    body = run(work)
    if as_json:
        emit_json(body)
    else:
        echo_fields(body)


async def _collect(store: TokenStore, client_id: str | None, user: str | None
                   ) -> list[AccessToken]:
    found: dict[tuple[str, str], AccessToken] = {}
    cursor = None
    while cursor != 0:
        cursor, page = await store.list_tokens(client_id=client_id, user=user,
                                               cursor=cursor or 0)
        found.update(((t.grant_id, t.fingerprint), t) for t in page)
    return sorted(found.values(), key=lambda t: (t.issued_at, t.grant_id, t.fingerprint))


@token_group.command("list")
@click.option("--client-id", metavar="ID", help="Only tokens of this client.")
@click.option("--user", metavar="USER", help="Only tokens acting for this user.")
@json_option
def list_(client_id: str | None, user: str | None, as_json: bool) -> None:
    """List live access tokens.

    Shows fingerprints and metadata, never the tokens: Redis only holds digests.
    """
    async def work(store: TokenStore) -> tuple[list[AccessToken], float]:
        return await _collect(store, client_id, user), store.clock()

    tokens, now = run(work)
    if as_json:
        emit_json([token_dict(t, now) for t in tokens])
    elif not tokens:
        click.echo("No live access tokens.")
    else:
        echo_table(["FINGERPRINT", "GRANT", "CLIENT", "SUBJECT", "EXPIRES", "SCOPES"], [
            [t.fingerprint, t.grant_id, t.client_id,
             t.subject if t.subject_type == "user" else f"(client) {t.subject}",
             show_time(t.expires_at), sorted(t.scopes)] for t in tokens
        ])


@token_group.command("inspect", epilog=TOKEN_HELP)
@click.argument("token")
@json_option
def inspect(token: str, as_json: bool) -> None:
    """Show what a live token stands for.

    Works for access and refresh tokens; an unknown, expired or revoked token
    is an error.
    """
    value = _read_token(token)

    async def work(store: TokenStore) -> tuple[AccessToken | RefreshToken | None, float]:
        return await store.lookup(value), store.clock()

    record, now = run(work)
    if record is None:
        raise click.ClickException("the token is unknown, expired or revoked")
    data = token_dict(record, now)
    if as_json:
        emit_json(data)
    else:
        echo_fields({**data, "issued_at": show_time(record.issued_at),
                     "expires_at": show_time(record.expires_at)})


@token_group.command("revoke", epilog=TOKEN_HELP)
@click.argument("token")
@json_option
def revoke(token: str, as_json: bool) -> None:
    """Revoke one access or refresh token.

    A refresh token takes its whole grant with it (every access token issued
    from it). Idempotent, for scripts: a token that is no longer live (already
    revoked or expired) exits 0 saying so; a value that is not shaped like a
    token of this server exits 1.
    """
    value = _read_token(token)
    if grant_id_of(value) is None:
        raise click.ClickException("that is not a token of this server (it is malformed): "
                                   "pass the access or refresh token itself")
    revoked = run(noted_with(
        lambda store, trail: store.revoke_token(value, cascade=cascading(trail)),
        "token.revoked", by="cli", reason="one token"))
    if as_json:
        emit_json({"revoked": True} if revoked else {"revoked": False, "already_revoked": True})
    else:
        # Redis keeps nothing of a revoked token (DESIGN decision 3), so "already
        # revoked" and "expired" cannot be told apart; either way it is dead now.
        click.echo("Revoked." if revoked else "Already revoked (or expired): nothing to do.")


@token_group.command("revoke-access")
@click.argument("grant_id", metavar="GRANT")
@click.argument("fingerprint", metavar="FINGERPRINT")
@json_option
def revoke_access(grant_id: str, fingerprint: str, as_json: bool) -> None:
    """Revoke one access token, as listed.

    GRANT and FINGERPRINT are columns of `token list`, so the token itself is
    not needed. The grant's refresh token stays; to end the whole grant, use
    `token revoke-grant GRANT`.
    """
    if not run(noted_with(
            lambda store, trail: revoke_access_token(store, grant_id, fingerprint, audit=trail),
            "token.revoked", grant=grant_id, fingerprint=fingerprint, by="cli",
            reason="access token")):
        raise click.ClickException(
            f"no live access token {fingerprint!r} in grant {grant_id!r}")
    if as_json:
        emit_json({"revoked": True})
    else:
        click.echo("Revoked.")


@token_group.command("revoke-grant")
@click.argument("grant_id", metavar="GRANT")
@json_option
def revoke_grant(grant_id: str, as_json: bool) -> None:
    """Revoke every token and code of one grant.

    GRANT is the GRANT column of `token list`.
    """
    count = run(noted_with(
        lambda store, trail: store.revoke_grant(grant_id, cascade=cascading(trail)),
        "token.revoked", grant=grant_id, by="cli", reason="grant"))
    if not count:
        raise click.ClickException(f"no live grant {grant_id!r}")
    _report_count(count, as_json, f"grant {grant_id!r}")


@token_group.command("revoke-user")
@click.argument("user", metavar="USER")
@json_option
def revoke_user(user: str, as_json: bool) -> None:
    """Log USER out everywhere.

    Revokes every token and code issued for USER, through any client.
    """
    with progress(f"Revoking tokens of {printable(user)}") as report:
        count = run(noted_with(
            lambda store, trail: store.revoke_user(user, progress=report,
                                                   cascade=cascading(trail)),
            "token.revoked", user=user, by="cli", reason="every grant of the user"))
    _report_count(count, as_json, f"user {user!r}")


@token_group.command("revoke-client")
@click.argument("client_id", metavar="ID")
@json_option
def revoke_client(client_id: str, as_json: bool) -> None:
    """Revoke every token of client ID.

    Every token and code issued to the client goes; the client stays registered.
    Works for an ID no longer registered that still has tokens; an ID with
    neither is an error, as for the client commands.
    """
    with progress(f"Revoking tokens of {printable(client_id)}") as report:
        count = run(noted_with(
            lambda store, trail: revoke_client_tokens(store, client_id, progress=report,
                                                      audit=trail),
            "token.revoked", client=client_id, by="cli", reason="every grant of the client"))
    _report_count(count, as_json, f"client {client_id!r}")


def _report_count(count: int, as_json: bool, whose: str) -> None:
    if as_json:
        emit_json({"revoked": count})
    else:
        click.echo(f"Revoked {count} token(s) and code(s) of {whose}.")
