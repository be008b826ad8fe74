"""Granting and revoking from a client's page (RFC 6749 §4.1.2, §5.1; RFC 7009 §2).

Issuing a token or a code goes through ``toolbox.issue_token`` / ``issue_code``
(which record ``token.issued`` / ``code.issued`` by this admin, with the write itself)
under the client's scope rules (the lifetime typed is read by the toolbox's
``parse_token_lifetime``), and the value is shown once. Revoking one
token names it by grant id and fingerprint (``toolbox.revoke_access_token``);
revoking all is ``toolbox.revoke_client_tokens`` — the calls the CLI's ``token
revoke-access`` and ``token revoke-client`` make.
"""

from __future__ import annotations

from starlette.responses import Response

from oauth_middleware.admin import shown_once
from oauth_middleware.admin.client_page import render_client
from oauth_middleware.admin.clients import problem
from oauth_middleware.admin.request import AdminRequest, client_path
from oauth_middleware.admin.tokens import revoke_one
from oauth_middleware.errors import OAuthError
from oauth_middleware.toolbox import (
    issue_code,
    issue_token,
    parse_token_lifetime,
    require_client,
    revoke_client_tokens,
)


async def issue_token_page(req: AdminRequest) -> Response:
    client = await require_client(req.store, req.params["client_id"])
    form = req.form
    try:
        issued = await issue_token(req.store, client.client_id, user=form.get("user") or None,
                                   scopes=form.get("scopes").split() or None,
                                   lifetime=parse_token_lifetime(form.get("lifetime")),
                                   audit=req.trail(), actor=req.actor)
    except (ValueError, OAuthError) as exc:
        return await render_client(req, status_code=400, errors={"token": problem(exc)})
    return shown_once.tokens(req, issued)


async def issue_code_page(req: AdminRequest) -> Response:
    client = await require_client(req.store, req.params["client_id"])
    form = req.form
    try:
        issued = await issue_code(req.store, client.client_id, user=form.get("user"),
                                  redirect_uri=form.raw("redirect_uri"),
                                  scopes=form.get("scopes").split() or None,
                                  code_challenge=form.get("code_challenge") or None,
                                  audit=req.trail(), actor=req.actor)
    except (ValueError, OAuthError) as exc:
        return await render_client(req, status_code=400, errors={"code": problem(exc)})
    return shown_once.code(req, issued)


async def revoke_token(req: AdminRequest) -> Response:
    client_id = req.params["client_id"]
    revoked = await revoke_one(req, req.form.get("grant_id"), req.form.get("fingerprint"))
    return req.see_other(client_path(client_id), done="token-revoked" if revoked else "token-gone")


async def revoke_all(req: AdminRequest) -> Response:
    client = await require_client(req.store, req.params["client_id"])
    if not req.form.checked("confirm"):
        return await render_client(req, status_code=400, errors={
            "revoke_all": "Tick the box to confirm revoking every token of this client."})
    await revoke_client_tokens(req.store, client.client_id, audit=req.trail())
    await req.audit("token.revoked", client=client.client_id, by="admin",
                    reason="every grant of the client")
    return req.see_other(client_path(client.client_id), done="tokens-revoked")
