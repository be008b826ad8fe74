"""Scope pages: the registry with titles and status; add, enable, disable, delete (RFC 6749 §3.3).

Every change is a :mod:`oauth_middleware.scope_registry` call, as in the CLI.
Scope identifiers travel in form fields, not in paths: they may hold ``/``, ``?`` or ``#``.
"""

from __future__ import annotations

from starlette.responses import Response

from oauth_middleware.admin.clients import problem
from oauth_middleware.admin.request import AdminRequest
from oauth_middleware.scope_registry import add_scope, remove_scope, set_scope_enabled


async def _page(req: AdminRequest, status_code: int = 200, error: str = "") -> Response:
    form = req.form
    values = {"identifier": form.get("identifier"), "title": form.get("title"),
              "enabled": form.checked("enabled") if error else True}
    return req.render("scopes.html", status_code, section="scopes",
                      scopes=await req.store.list_scopes(), values=values, error=error)


async def listing(req: AdminRequest) -> Response:
    return await _page(req)


async def add(req: AdminRequest) -> Response:
    form = req.form
    try:
        await add_scope(req.store, form.get("identifier"), title=form.get("title") or None,
                        enabled=form.checked("enabled"))
    except ValueError as exc:
        return await _page(req, 400, problem(exc))
    return req.see_other("/scopes/", done="scope-added")


async def set_status(req: AdminRequest) -> Response:
    enabled = req.form.get("enabled") == "1"
    await set_scope_enabled(req.store, req.form.raw("scope"), enabled)
    return req.see_other("/scopes/", done="scope-enabled" if enabled else "scope-disabled")


async def delete(req: AdminRequest) -> Response:
    await remove_scope(req.store, req.form.raw("scope"))
    return req.see_other("/scopes/", done="scope-deleted")
