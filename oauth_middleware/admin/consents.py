"""Remembered consents: listed by user or client, and forgotten (OpenID Connect Core 1.0 §3.1.2.4).

What the authorization server remembers so a returning user is not asked again
(``AuthorizationServer(remember_consent=...)``). Forgetting one makes the next
request of that client show the consent page; the user's tokens stay valid (the
tokens page revokes them). The CLI's ``consent list`` and ``consent forget`` make
the same calls.
"""

from __future__ import annotations

from starlette.responses import Response

from oauth_middleware.admin.paging import cursor_param, fill
from oauth_middleware.admin.request import AdminRequest
from oauth_middleware.admin.tokens import filters


async def listing(req: AdminRequest) -> Response:
    search = filters(req)
    cursor = cursor_param(req.request)
    next_cursor, consents = await fill(
        lambda c: req.store.list_remembered_consents(
            user=search["user"] or None, client_id=search["client_id"] or None, cursor=c,
            count=req.config.page_size),
        cursor, req.config.page_size, key=lambda consent: (consent.user, consent.client_id))
    return req.render("consents.html", section="consents", search=search, cursor=cursor,
                      next_cursor=next_cursor,
                      consents=sorted(consents, key=lambda c: (c.user, c.client_id)))


async def forget(req: AdminRequest) -> Response:
    """Forget one user's consent for one client, or (no client named) all of theirs."""
    search = filters(req)
    if search["user"]:
        await req.store.forget_consent(search["user"], search["client_id"] or None)
    return req.see_other("/consents/", **search, done="consent-forgotten")
