"""Token pages: live access tokens by user or client, revoked one by one or per user (RFC 7009).

Rows show a fingerprint and metadata, never a token (only digests are stored).
Revoking one token is ``toolbox.revoke_access_token(grant_id, fingerprint)``, the
CLI's ``token revoke-access``; "revoke everything of this user" is
``store.revoke_user``, the CLI's ``token revoke-user``.
"""

from __future__ import annotations

from starlette.responses import Response

from oauth_middleware.admin.paging import cursor_param, fill
from oauth_middleware.admin.request import AdminRequest
from oauth_middleware.audit import cascading
from oauth_middleware.toolbox import revoke_access_token

#: Longest user or client id searched for.
MAX_QUERY = 256


def filters(req: AdminRequest) -> dict[str, str]:
    """The search (user, client id) from the query string, or from a revoke form."""
    source = req.request.query_params if req.request.method == "GET" else None
    get = source.get if source is not None else req.form.get
    return {name: (get(name) or "").strip()[:MAX_QUERY] for name in ("user", "client_id")}


async def listing(req: AdminRequest) -> Response:
    search = filters(req)
    cursor = cursor_param(req.request)
    size = req.config.page_size
    next_cursor, tokens = await fill(
        lambda c: req.store.list_tokens(client_id=search["client_id"] or None,
                                        user=search["user"] or None, cursor=c, count=size),
        cursor, size, key=lambda token: (token.grant_id, token.fingerprint))
    return req.render("tokens.html", section="tokens", tokens=tokens, search=search,
                      cursor=cursor, next_cursor=next_cursor, error="")


async def revoke_one(req: AdminRequest, grant_id: str, fingerprint: str) -> bool:
    """Revoke one access token named as the listings name it; False when it is gone."""
    revoked = await revoke_access_token(req.store, grant_id, fingerprint, audit=req.trail())
    if revoked:
        await req.audit("token.revoked", grant=grant_id, fingerprint=fingerprint, by="admin",
                        reason="access token")
    return revoked


async def revoke(req: AdminRequest) -> Response:
    revoked = await revoke_one(req, req.form.get("grant_id"), req.form.get("fingerprint"))
    return req.see_other("/tokens/", **filters(req),
                         done="token-revoked" if revoked else "token-gone")


async def revoke_user(req: AdminRequest) -> Response:
    user = req.form.get("user")[:MAX_QUERY]
    if not user or not req.form.checked("confirm"):
        return req.render("tokens.html", 400, section="tokens", tokens=[],
                          search={"user": user, "client_id": ""}, cursor=0,
                          next_cursor=0,
                          error="Name the user and tick the box to confirm revoking "
                                "everything of theirs.")
    await req.store.revoke_user(user, cascade=cascading(req.trail()))
    await req.audit("token.revoked", user=user, by="admin", reason="every grant of the user")
    return req.see_other("/tokens/", user=user, done="user-revoked")
