"""``oauth-middleware client …``: register and manage clients (RFC 6749 §2).

Thin over :mod:`oauth_middleware.toolbox`: every rule a registration must pass
(redirect URIs, grant types, scopes, lifetimes) is checked there, the same way
for the CLI, the admin and application code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import click

from oauth_middleware.cli.context import run
from oauth_middleware.cli.events import audit_setting, cli_trail, noted
from oauth_middleware.cli.output import (
    client_dict,
    echo_fields,
    echo_table,
    emit_json,
    json_option,
    printable,
    when,
)
from oauth_middleware.limits import ACCESS_LIFETIME
from oauth_middleware.models import GRANT_TYPES, Client
from oauth_middleware.store import TokenStore
from oauth_middleware.toolbox import (
    MAX_LIFETIME,
    RegisteredClient,
    add_redirect_uri,
    needs_redirect_uri,
    parse_lifetime,
    register_client,
    remove_client,
    remove_redirect_uri,
    require_client,
    rotate_secret,
    update_client,
)
from oauth_middleware.toolbox.dynamic import parse_duration, purge_dynamic_clients
from oauth_middleware.toolbox.rules import TOKEN_ALGORITHMS, TOKEN_FORMATS, check_typed_text

#: ``client add`` without a redirect URI for a client whose grants need one.
NO_REDIRECT_URI = ("--redirect-uri is required for a client using authorization_code or "
                   "implicit (the default grants): name one, or choose grants without "
                   "redirects, e.g. --confidential --grant-type client_credentials")


def lifetime(ctx: click.Context, param: click.Parameter, value: str) -> int | None:
    """``--token-lifetime``: seconds (1 to MAX_LIFETIME) or ``never``, which becomes None.

    Read by the toolbox's ``parse_lifetime``, as the admin reads its form, so both
    refuse the same values in the same words.
    """
    try:
        return parse_lifetime(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def typed_text(*, multiline: bool = False
               ) -> Callable[[click.Context, click.Parameter, str | None], str | None]:
    """A callback refusing a title, description, link or registrant with a control
    character (exit 2), by the toolbox's own check, so the CLI and the admin refuse alike."""
    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_typed_text(value, (param.name or "value").replace("_", " "),
                                    multiline=multiline)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return check


def split_scopes(values: Sequence[str]) -> list[str]:
    """``--scope a --scope "b c"`` -> ["a", "b", "c"] (space-delimited, as in RFC 6749 §3.3)."""
    return [scope for value in values for scope in value.split()]


def _show_registered(registered: RegisteredClient, as_json: bool, note: str) -> None:
    data = client_dict(registered.client, registered.client_secret)
    if as_json:
        emit_json(data)
        return
    click.echo(note)
    echo_fields({k: v for k, v in data.items() if k not in ("created_at", "allow_plain_pkce")})
    if registered.client_secret is not None:
        click.echo("Store the client secret now: it is shown only once, only its hash is kept.")


@click.group("client")
def client_group() -> None:
    """Register clients, manage their redirect URIs and secrets."""


@client_group.command("add")
@click.argument("title", callback=typed_text())
@click.option("--redirect-uri", "redirect_uris", multiple=True, metavar="URI",
              help="A redirect URI, matched exactly (repeat for several). https, loopback "
                   "http, or a private-use scheme such as com.example.app:/cb. Required "
                   "when the client uses authorization_code or implicit (the default).")
@click.option("--client-id", metavar="ID", help="Choose the client id [default: random].")
@click.option("--scope", "scopes", multiple=True, metavar="SCOPE",
              help="A scope the client may be granted (repeat, or space-separate). "
                   "Without any, the client may ask for every enabled scope.")
@click.option("--register-scopes", is_flag=True,
              help="Register unknown --scope values with a readable title instead of refusing.")
@click.option("--public/--confidential", default=True, show_default=True,
              help="Confidential clients get a secret (shown once) and may use "
                   "client_credentials; public ones (browser, mobile) must use PKCE.")
@click.option("--grant-type", "grant_types", multiple=True, type=click.Choice(GRANT_TYPES),
              help="A grant the client may use (repeat) [default: authorization_code and "
                   "refresh_token, plus client_credentials when confidential].")
@click.option("--token-lifetime", callback=lifetime, default=str(ACCESS_LIFETIME),
              show_default=True, metavar="SECONDS|never",
              help=f"Seconds an access token lives (at most {MAX_LIFETIME}, ten years), "
                   "or 'never'.")
@click.option("--registrant", metavar="USER", default="", callback=typed_text(),
              help="Who registered the client.")
@click.option("--description", metavar="TEXT", default="", callback=typed_text(multiline=True),
              help="Shown on the consent page.")
@click.option("--link", metavar="URL", default="", callback=typed_text(),
              help="The client's home page.")
@click.option("--allow-http", is_flag=True,
              help="Accept plain-http redirect URIs on any host (local development only).")
@click.option("--allow-plain-pkce", is_flag=True,
              help="Accept the PKCE 'plain' method from this client (S256 is always accepted).")
@click.option("--require-par", is_flag=True,
              help="auth/ takes only requests this client pushed to par/ (RFC 9126).")
@click.option("--require-dpop", is_flag=True,
              help="token/ refuses its requests without a DPoP proof: its tokens are always "
                   "DPoP-bound (RFC 9449 dpop_bound_access_tokens).")
@click.option("--resource", "resources", multiple=True, metavar="URI",
              help="A resource (RFC 8707) the client's tokens may be meant for (repeat); "
                   "also their audience when it names none. Without any: every resource.")
@click.option("--force-implicit", is_flag=True,
              help="Allow --grant-type implicit for a --confidential client (refused "
                   "otherwise, RFC 9700 §2.1.2: use authorization_code).")
@click.option("--access-token-format", type=click.Choice(TOKEN_FORMATS), default="opaque",
              show_default=True,
              help="jwt: access tokens are RFC 9068 JWTs signed with the server's keys.")
@click.option("--access-token-alg", type=click.Choice(TOKEN_ALGORITHMS), default=None,
              help="The JWS algorithm of its JWT access tokens [default: RS256].")
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True, metavar="URI",
              help="Where end_session/ may send the user back after signing out (OpenID "
                   "Connect RP-Initiated Logout; repeat), under the redirect URI rules.")
@click.option("--id-token-alg", type=click.Choice(TOKEN_ALGORITHMS), default=None,
              help="The JWS algorithm of its OpenID Connect ID tokens [default: RS256].")
@json_option
def add(title: str, redirect_uris: tuple[str, ...], client_id: str | None,
        scopes: tuple[str, ...], register_scopes: bool, public: bool,
        grant_types: tuple[str, ...], token_lifetime: int | None, registrant: str,
        description: str, link: str, allow_http: bool, allow_plain_pkce: bool,
        force_implicit: bool, resources: tuple[str, ...], access_token_format: str,
        access_token_alg: str | None, require_par: bool, require_dpop: bool,
        post_logout_uris: tuple[str, ...], id_token_alg: str | None, as_json: bool) -> None:
    """Register a client titled TITLE.

    Prints its client_id and, for a confidential client, its secret: shown
    this once, only its hash is stored.

    A client using authorization_code or implicit (the default grants) needs a
    --redirect-uri; a machine client without one takes e.g. --confidential
    --grant-type client_credentials.
    """
    if not redirect_uris and needs_redirect_uri(grant_types or None, public):
        raise click.UsageError(NO_REDIRECT_URI)
    registered = run(noted(lambda store: register_client(
        store, title, client_id, redirect_uris, registrant or None,
        scopes_list=split_scopes(scopes), register_unknown_scopes=register_scopes,
        token_lifetime=token_lifetime, public=public, grant_types=grant_types or None,
        description=description, link=link, allow_http=allow_http,
        allow_plain_pkce=allow_plain_pkce, allow_confidential_implicit=force_implicit,
        resources=resources, access_token_format=access_token_format,
        access_token_alg=access_token_alg, require_pushed_authorization_requests=require_par,
        require_dpop=require_dpop,
        post_logout_redirect_uris=post_logout_uris,
        id_token_signed_response_alg=id_token_alg or "",
    ), "client.created", about=lambda r: {"client": r.client.client_id}))
    kind = "public" if registered.client.public else "confidential"
    _show_registered(registered, as_json, f"Registered {kind} client {title.strip()!r}.")


async def _all_clients(store: TokenStore) -> list[Client]:
    clients: dict[str, Client] = {}
    cursor = None
    while cursor != 0:
        cursor, page = await store.list_clients(cursor or 0)
        clients.update((c.client_id, c) for c in page)
    return [clients[k] for k in sorted(clients)]


async def _clients_and_use(store: TokenStore) -> tuple[list[Client], dict[str, float]]:
    """Every client, and when each dynamic one last registered or got a code or token."""
    clients = await _all_clients(store)
    used = await store.dynamic_clients_last_used([c.client_id for c in clients if c.dynamic])
    return clients, used


@client_group.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List every registered client.

    "(dynamic)" marks a client that registered itself (RFC 7591): unverified. For those,
    LAST USED is when it last registered or got a code or a token.
    """
    clients, used = run(_clients_and_use)
    if as_json:
        emit_json([{**client_dict(c), **({"last_used": int(used[c.client_id])}
                                         if c.client_id in used else {})} for c in clients])
        return
    if not clients:
        click.echo("No clients registered.")
        return
    dynamic = any(c.dynamic for c in clients)
    echo_table(["CLIENT ID", "TYPE", "TOKEN LIFETIME", "SCOPES", "TITLE"]
               + (["LAST USED"] if dynamic else []), [
        [c.client_id, ("public" if c.public else "confidential")
         + (" (dynamic)" if c.dynamic else ""),
         "never" if c.token_lifetime is None else f"{c.token_lifetime}s",
         list(c.scopes) or "(any)", c.title]
        + ([when(used[c.client_id]) if c.client_id in used else "-"] if dynamic else [])
        for c in clients
    ])


@client_group.command("show")
@click.argument("client_id", metavar="ID")
@json_option
def show(client_id: str, as_json: bool) -> None:
    """Show one client (never its secret)."""
    client = run(lambda store: require_client(store, client_id))
    if as_json:
        emit_json(client_dict(client))
    else:  # a time for people, as ``token list`` shows them; JSON keeps the epoch
        echo_fields({**client_dict(client), "created_at": when(client.created_at)})


@client_group.command("remove")
@click.argument("client_id", metavar="ID")
@json_option
def remove(client_id: str, as_json: bool) -> None:
    """Delete client ID and revoke its tokens.

    Nothing more is issued to it from the moment it is deleted; then every token
    it ever had is revoked, including any an earlier, interrupted removal left.
    """
    setting = audit_setting()

    async def work(store: TokenStore) -> bool:
        return await remove_client(store, client_id, audit=await cli_trail(store, setting),
                                   actor="cli")

    if not run(work):
        raise click.ClickException(f"no client {client_id!r}")
    if as_json:
        emit_json({"client_id": client_id, "removed": True})
    else:
        click.echo(f"Removed client {client_id!r} and revoked its tokens.")


def duration(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@client_group.command("purge")
@click.option("--dynamic", "dynamic", is_flag=True, required=True,
              help="Purge clients that registered themselves (RFC 7591); required.")
@click.option("--unused-for", metavar="DURATION", required=True, callback=duration,
              help="Registered longer ago than this (30d, 12h) and holding no live grant.")
@json_option
def purge(dynamic: bool, unused_for: int, as_json: bool) -> None:
    """Remove unused dynamically registered clients.

    A client registered through RFC 7591 longer ago than --unused-for and holding no
    live grant is removed as ``client remove`` removes one.
    """
    removed = run(lambda store: purge_dynamic_clients(store, unused_for))
    if as_json:
        emit_json({"removed": removed})
    else:
        click.echo(f"Removed {len(removed)} unused dynamic client(s).")
        for client_id in removed:
            click.echo(f"  {client_id}")


@client_group.command("rotate-secret")
@click.argument("client_id", metavar="ID")
@json_option
def rotate(client_id: str, as_json: bool) -> None:
    """Give confidential client ID a new secret.

    The old secret stops working at once; the new one is shown this once.
    """
    registered = run(noted(lambda store: rotate_secret(store, client_id),
                           "client.secret_rotated", client=client_id))
    _show_registered(registered, as_json, f"New secret for client {client_id!r}.")


@client_group.command("edit")
@click.argument("client_id", metavar="ID")
@click.option("--require-par/--no-require-par", default=None,
              help="auth/ takes only requests this client pushed to par/ (RFC 9126), or "
                   "takes them either way again.")
@click.option("--require-dpop/--no-require-dpop", default=None,
              help="token/ refuses its requests without a DPoP proof (RFC 9449 "
                   "dpop_bound_access_tokens), or lets it ask for bearer tokens again. "
                   "Tokens already issued keep their binding.")
@json_option
def edit(client_id: str, require_par: bool | None, require_dpop: bool | None,
         as_json: bool) -> None:
    """Turn switches of client ID on or off.

    A switch not named keeps its value. Tokens already issued stay as they are.
    """
    changed = [field for field, value in (("require_pushed_authorization_requests", require_par),
                                          ("require_dpop", require_dpop)) if value is not None]
    if not changed:
        raise click.UsageError("name a switch to change, e.g. --require-dpop")
    edited = run(noted(lambda store: update_client(
        store, client_id, require_pushed_authorization_requests=require_par,
        require_dpop=require_dpop), "client.changed", client=client_id, changed=" ".join(changed)))
    _show_registered(edited, as_json, f"Changed client {client_id!r}.")


@client_group.command("add-redirect")
@click.argument("client_id", metavar="ID")
@click.argument("uri")
@click.option("--allow-http", is_flag=True,
              help="Accept a plain-http URI on any host (local development only).")
@json_option
def add_redirect(client_id: str, uri: str, allow_http: bool, as_json: bool) -> None:
    """Register one more redirect URI for client ID."""
    client = run(noted(lambda store: add_redirect_uri(store, client_id, uri,
                                                      allow_http=allow_http),
                       "client.changed", client=client_id, changed="redirect_uris"))
    _show_redirects(client, as_json)


@client_group.command("remove-redirect")
@click.argument("client_id", metavar="ID")
@click.argument("uri")
@json_option
def remove_redirect(client_id: str, uri: str, as_json: bool) -> None:
    """Remove one redirect URI from client ID.

    URI must match the registered one exactly, as the server compares them.
    """
    client = run(noted(lambda store: remove_redirect_uri(store, client_id, uri),
                       "client.changed", client=client_id, changed="redirect_uris"))
    _show_redirects(client, as_json)


def _show_redirects(client: Client, as_json: bool) -> None:
    if as_json:
        emit_json(client_dict(client))
        return
    click.echo(f"Redirect URIs of {client.client_id!r}:")
    for uri in client.redirect_uris:
        click.echo(f"  {printable(uri)}")
    if not client.redirect_uris:
        click.echo("  (none)")
