"""``oauth-middleware consent …``: list and forget remembered consents (OpenID Connect Core 1.0
§3.1.2.4).

What the authorization server remembers with ``remember_consent`` so a returning user
is not asked again. Forgetting makes the next request show the consent page; the
user's tokens stay valid (``token revoke-user`` ends those, and forgets too).
"""

from __future__ import annotations

import click

from oauth_middleware.cli.context import run
from oauth_middleware.cli.output import echo_table, emit_json, json_option
from oauth_middleware.cli.output import when as show_time
from oauth_middleware.models import RememberedConsent
from oauth_middleware.store import TokenStore


@click.group("consent")
def consent_group() -> None:
    """List and forget the consents users asked to have remembered."""


async def _collect(store: TokenStore, user: str | None, client_id: str | None
                   ) -> list[RememberedConsent]:
    found: dict[tuple[str, str], RememberedConsent] = {}
    cursor = None
    while cursor != 0:
        cursor, page = await store.list_remembered_consents(user=user, client_id=client_id,
                                                            cursor=cursor or 0, count=500)
        found.update(((c.user, c.client_id), c) for c in page)
    return [found[key] for key in sorted(found)]


@consent_group.command("list")
@click.option("--user", metavar="USER", help="Only this user's consents.")
@click.option("--client-id", metavar="ID", help="Only consents given to this client.")
@json_option
def list_(user: str | None, client_id: str | None, as_json: bool) -> None:
    """List live remembered consents.

    By user (one read), or by client or all (a walk over every user's).
    """
    consents = run(lambda store: _collect(store, user, client_id))
    if as_json:
        emit_json([{"user": c.user, "client_id": c.client_id, "scopes": sorted(c.scopes),
                    "approved_at": int(c.updated_at), "expires_at": int(c.expires_at)}
                   for c in consents])
    elif not consents:
        click.echo("No remembered consents.")
    else:
        echo_table(["USER", "CLIENT", "EXPIRES", "SCOPES"], [
            [c.user, c.client_id, show_time(c.expires_at), sorted(c.scopes)] for c in consents])


@consent_group.command("forget")
@click.option("--user", metavar="USER", help="Forget this user's consents.")
@click.option("--client-id", metavar="ID",
              help="Only the consent given to this client (with --user), or every user's "
                   "(without).")
@json_option
def forget(user: str | None, client_id: str | None, as_json: bool) -> None:
    """Forget remembered consents.

    The consent page shows again next time; tokens stay valid.
    """
    if user is None and client_id is None:
        raise click.UsageError("name --user, --client-id, or both")
    if user is not None:
        count = run(lambda store: store.forget_consent(user, client_id))
    else:
        count = run(lambda store: store.forget_client_consents(client_id or ""))
    if as_json:
        emit_json({"forgotten": count})
    else:
        click.echo(f"Forgot {count} remembered consent{'s' if count != 1 else ''}.")
