"""A client's page: its fields, redirect URIs, live tokens and the forms acting on it (RFC 6749 §2).

The page lists tokens by fingerprint and metadata only (Redis holds digests, so
there is nothing else to show). A refused action re-renders the page with
status 400, the error beside the form it came from, and the input kept.
"""

from __future__ import annotations

from starlette.responses import Response

from oauth_middleware.admin import shown_once
from oauth_middleware.admin.clients import problem
from oauth_middleware.admin.forms import Form
from oauth_middleware.admin.paging import cursor_param, fill
from oauth_middleware.admin.request import AdminRequest, client_path
from oauth_middleware.errors import OAuthError
from oauth_middleware.toolbox import (
    add_redirect_uri,
    remove_client,
    remove_redirect_uri,
    require_client,
    rotate_secret,
)
from oauth_middleware.web import safe_link


async def render_client(req: AdminRequest, *, status_code: int = 200,
                        errors: dict[str, str] | None = None) -> Response:
    """The client page; on a refused action, ``errors`` names the form and the reason."""
    client = await require_client(req.store, req.params["client_id"])
    cursor = cursor_param(req.request) if req.request.method == "GET" else 0
    size = req.config.page_size
    next_cursor, tokens = await fill(
        lambda c: req.store.list_tokens(client_id=client.client_id, cursor=c, count=size),
        cursor, size, key=lambda token: (token.grant_id, token.fingerprint))
    return req.render(
        "client.html", status_code, section="clients", client=client,
        link=safe_link(client.link), tokens=tokens, cursor=cursor, next_cursor=next_cursor,
        scopes=await req.store.list_scopes(), errors=errors or {},
        form=req.form if errors else Form(),
    )


async def show(req: AdminRequest) -> Response:
    return await render_client(req)


async def rotate(req: AdminRequest) -> Response:
    try:
        registered = await rotate_secret(req.store, req.params["client_id"])
    except ValueError as exc:
        return await render_client(req, status_code=400, errors={"secret": problem(exc)})
    await req.audit("client.secret_rotated", client=registered.client.client_id)
    return shown_once.client_secret(req, registered, "New client secret")


async def delete(req: AdminRequest) -> Response:
    client_id = req.params["client_id"]
    if not req.form.checked("confirm"):
        return await render_client(req, status_code=400, errors={
            "delete": "Tick the box to confirm: deleting revokes every token of the client."})
    await require_client(req.store, client_id)
    await remove_client(req.store, client_id, audit=req.trail(), actor=req.actor)
    return req.see_other("/clients/", done="deleted")


async def add_redirect(req: AdminRequest) -> Response:
    client_id = req.params["client_id"]
    try:
        await add_redirect_uri(req.store, client_id, req.form.get("uri"),
                               allow_http=req.form.checked("allow_http"))
    except (ValueError, OAuthError) as exc:
        return await render_client(req, status_code=400, errors={"redirect": problem(exc)})
    await req.audit("client.changed", client=client_id, changed="redirect_uris")
    return req.see_other(client_path(client_id), done="redirect-added")


async def remove_redirect(req: AdminRequest) -> Response:
    client_id = req.params["client_id"]
    try:
        await remove_redirect_uri(req.store, client_id, req.form.raw("uri"))
    except ValueError as exc:
        return await render_client(req, status_code=400, errors={"redirect": problem(exc)})
    await req.audit("client.changed", client=client_id, changed="redirect_uris")
    return req.see_other(client_path(client_id), done="redirect-removed")
