"""Who may use the admin: HTTPS, a signed-in user, and the ``is_admin`` hook's yes.

A request carrying a bearer token (header, query, form body) or a token's identity
is refused before any hook is asked: an OAuth credential is never a signed-in
person, whatever ``authenticate`` or ``is_admin`` would say of it.

Anonymous visitors are sent to the login URL with ``next=`` (a 303, so a POST is
never replayed); a user id ``authenticate`` answers with a control character signs
nobody in (403: the host's bug, :func:`oauth_middleware.web.usable_id`); signed-in users
who are not admins get 403; plain HTTP is refused outside debug mode, as the
authorization server does (DESIGN decision 8), but from this machine
(:mod:`oauth_middleware.transport`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from oauth_middleware.admin.config import AdminConfig, is_admin
from oauth_middleware.admin.refusals import Forbidden, Refusal
from oauth_middleware.errors import UnusableUserId
from oauth_middleware.hooks import run_hook
from oauth_middleware.identity import carries_bearer
from oauth_middleware.redirects import add_params
from oauth_middleware.web import authentication, redirect, usable_id

#: The refusal of a request that carries an access token (400, nothing read or changed).
TOKEN_REFUSED = ("An access token cannot sign in to the admin: sign in to this site instead, "
                 "without an access token.")


def login_redirect(config: AdminConfig, request: Request) -> Response:
    """303 to the login page; ``next`` is this page, or the admin's home after a POST."""
    target = request.url.path
    if request.method not in ("GET", "HEAD"):
        target = request.scope.get("root_path", "") + "/"
    elif request.url.query:
        target = f"{target}?{request.url.query}"
    return redirect(add_params(config.login_url, {"next": target}))


async def admit(config: AdminConfig, request: Request) -> str | Response:
    """The admin's user id, or the login redirect; :class:`Refusal` for anyone else."""
    if not config.transport.secure(request.scope):
        raise Refusal("HTTPS is required.")
    if carries_bearer(request):
        raise Refusal(TOKEN_REFUSED)
    signed_in = authentication(await run_hook(config.authenticate, request))
    if signed_in is None:
        return login_redirect(config, request)
    user = signed_in.user_id
    if not usable_id(user, "authenticate"):
        raise Forbidden(UnusableUserId.default_description)
    if not await is_admin(config.is_admin, request):
        raise Forbidden("Your account may not use this admin.")
    return user
