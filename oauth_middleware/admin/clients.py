"""Client pages: the list with search, registering and editing a client (RFC 6749 §2).

Every change goes through :mod:`oauth_middleware.toolbox` (``register_client``,
``update_client``), the calls the CLI and application code use; a refusal is
shown on the form, status 400, with everything the admin typed kept.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from oauth_middleware.admin import shown_once
from oauth_middleware.admin.forms import Form
from oauth_middleware.admin.paging import cursor_param, fill
from oauth_middleware.admin.request import AdminRequest, client_path
from oauth_middleware.errors import OAuthError
from oauth_middleware.limits import ACCESS_LIFETIME
from oauth_middleware.models import GRANT_TYPES, Client
from oauth_middleware.toolbox import (
    parse_lifetime,
    register_client,
    require_client,
    update_client,
)
from oauth_middleware.toolbox.rules import FORCE_IMPLICIT, TOKEN_ALGORITHMS, TOKEN_FORMATS

#: Longest search text; a longer one is cut.
MAX_SEARCH = 200
#: What a new client's form starts with.
NEW_CLIENT: dict[str, Any] = {
    "title": "", "client_id": "", "redirect_uris": "", "scopes": "", "type": "public",
    "grant_types": ["authorization_code", "refresh_token"], "token_lifetime": str(ACCESS_LIFETIME),
    "description": "", "link": "", "allow_http": False, "allow_plain_pkce": False,
    "resources": "", "require_par": False, "require_dpop": False,
    "post_logout_redirect_uris": "",
    "access_token_format": "opaque", "access_token_alg": "", "id_token_alg": "",
}


#: The library's words for an option -> what the admin offers instead (the CLI has its own).
CONTROL_NAMES = {
    "register it first or allow registering": "register it on the Scopes page first",
    "(or allow_http=True for local development)":
        "(or tick “Allow plain http on any host” for local development)",
    f"or pass {FORCE_IMPLICIT} to force it":
        "or register it with the command line's --force-implicit to force it",
}


def problem(exc: Exception) -> str:
    """What to tell the admin about a refused change (fixed text, or the toolbox's message),
    naming the admin's own controls rather than keyword arguments it does not have."""
    text = exc.description if isinstance(exc, OAuthError) else str(exc)
    for library, control in CONTROL_NAMES.items():
        text = text.replace(library, control)
    return text[:1].upper() + text[1:]


def form_values(form: Form) -> dict[str, Any]:
    return {
        "title": form.get("title"), "client_id": form.get("client_id"),
        "redirect_uris": form.raw("redirect_uris").replace("\r\n", "\n"),
        "scopes": form.get("scopes"),
        "type": "confidential" if form.get("type") == "confidential" else "public",
        "grant_types": form.getlist("grant_type"), "token_lifetime": form.get("token_lifetime"),
        "description": form.raw("description").replace("\r\n", "\n").strip(),
        "link": form.get("link"),
        "allow_http": form.checked("allow_http"),
        "allow_plain_pkce": form.checked("allow_plain_pkce"),
        "resources": form.raw("resources").replace("\r\n", "\n"),
        "require_par": form.checked("require_par"),
        "require_dpop": form.checked("require_dpop"),
        "post_logout_redirect_uris": form.raw("post_logout_redirect_uris").replace("\r\n", "\n"),
        "access_token_format": form.get("access_token_format"),
        "access_token_alg": form.get("access_token_alg"),
        "id_token_alg": form.get("id_token_alg"),
    }


def client_values(client: Client) -> dict[str, Any]:
    return {
        "title": client.title, "client_id": client.client_id,
        "redirect_uris": "\n".join(client.redirect_uris), "scopes": " ".join(client.scopes),
        "type": "public" if client.public else "confidential",
        "grant_types": list(client.grant_types),
        "token_lifetime": "never" if client.token_lifetime is None else str(client.token_lifetime),
        "description": client.description, "link": client.link, "allow_http": False,
        "allow_plain_pkce": client.allow_plain_pkce, "resources": "\n".join(client.resources),
        "require_par": client.require_pushed_authorization_requests,
        "require_dpop": client.require_dpop,
        "post_logout_redirect_uris": "\n".join(client.post_logout_redirect_uris),
        "access_token_format": client.access_token_format,
        "access_token_alg": client.access_token_alg,
        "id_token_alg": client.id_token_signed_response_alg,
    }


def toolbox_fields(form: Form) -> dict[str, Any]:
    """The form as toolbox keyword arguments; ValueError for a lifetime that is not one."""
    return {
        "redirect_uris": [u.strip() for u in form.raw("redirect_uris").splitlines() if u.strip()],
        "scopes_list": form.get("scopes").split(),
        "public": form.get("type") != "confidential",
        "grant_types": form.getlist("grant_type"),
        "token_lifetime": parse_lifetime(form.get("token_lifetime")),
        "description": form.raw("description").replace("\r\n", "\n"),
        "link": form.get("link"), "allow_http": form.checked("allow_http"),
        "allow_plain_pkce": form.checked("allow_plain_pkce"),
        "resources": [r.strip() for r in form.raw("resources").splitlines() if r.strip()],
        "require_pushed_authorization_requests": form.checked("require_par"),
        "require_dpop": form.checked("require_dpop"),
        **_token_fields(form),
    }


def _token_fields(form: Form) -> dict[str, Any]:
    """Post-logout URIs and token formats, as toolbox keyword arguments, for the fields the
    form sent (an absent one keeps the client's: None to ``update_client``)."""
    fields: dict[str, Any] = {}
    if form.has("post_logout_redirect_uris"):
        fields["post_logout_redirect_uris"] = [
            u.strip() for u in form.raw("post_logout_redirect_uris").splitlines() if u.strip()]
    if form.has("access_token_format"):
        fields["access_token_format"] = form.get("access_token_format")
    if form.has("access_token_alg"):
        fields["access_token_alg"] = form.get("access_token_alg")
    if form.has("id_token_alg"):
        fields["id_token_signed_response_alg"] = form.get("id_token_alg")
    return fields


async def listing(req: AdminRequest) -> Response:
    query = req.request.query_params.get("q", "").strip()[:MAX_SEARCH]
    cursor = cursor_param(req.request)
    size = req.config.page_size
    next_cursor, clients = await fill(
        lambda c: req.store.list_clients(c, size, search=query or None), cursor, size,
        key=lambda client: client.client_id)
    return req.render("clients.html", section="clients", clients=clients, query=query,
                      cursor=cursor, next_cursor=next_cursor)


async def _form_page(req: AdminRequest, values: dict[str, Any], error: str = "",
                     status_code: int = 200, client: Client | None = None) -> Response:
    return req.render("client_form.html", status_code, section="clients", values=values,
                      error=error, client=client, grant_types=GRANT_TYPES,
                      token_formats=TOKEN_FORMATS, token_algorithms=TOKEN_ALGORITHMS,
                      scopes=await req.store.list_scopes())


async def new_form(req: AdminRequest) -> Response:
    return await _form_page(req, NEW_CLIENT)


async def create(req: AdminRequest) -> Response:
    form = req.form
    try:
        fields = toolbox_fields(form)
        registered = await register_client(
            req.store, form.get("title"), form.get("client_id") or None,
            fields.pop("redirect_uris"), req.user, register_unknown_scopes=False, **fields)
    except (ValueError, OAuthError) as exc:
        return await _form_page(req, form_values(form), problem(exc), 400)
    await req.audit("client.created", client=registered.client.client_id)
    if registered.client_secret is not None:
        return shown_once.client_secret(req, registered, "Client registered")
    return req.see_other(client_path(registered.client.client_id), done="created")


async def edit_form(req: AdminRequest) -> Response:
    client = await require_client(req.store, req.params["client_id"])
    return await _form_page(req, client_values(client), client=client)


async def update(req: AdminRequest) -> Response:
    client = await require_client(req.store, req.params["client_id"])
    form = req.form
    try:
        updated = await update_client(req.store, client.client_id, title=form.get("title"),
                                      **toolbox_fields(form))
    except (ValueError, OAuthError) as exc:
        values = {**form_values(form), "client_id": client.client_id}
        return await _form_page(req, values, problem(exc), 400, client)
    await req.audit("client.changed", client=client.client_id)
    if updated.client_secret is not None:
        return shown_once.client_secret(req, updated, "Client is now confidential")
    return req.see_other(client_path(client.client_id), done="saved")
