"""Who the host's sign-in hooks say is signed in, refused when the id is not typed text.

A user id reaches the grant, the audit trail, the admin, the connected-apps page and
terminals; the toolbox and the CLI refuse one with a control character
(``typed_text.check_typed_text``). A hook that answers one anyway (``authenticate``,
``verify_password``) is the host's bug: nobody is signed in with it, the person gets
:class:`~oauth_middleware.errors.UnusableUserId` (a page, never a 500, never a grant),
and the operator a warning naming the hook and the character's position, never the id,
which could carry a terminal escape or a forged log line.
"""

from __future__ import annotations

from starlette.requests import Request

from oauth_middleware.errors import UnusableUserId
from oauth_middleware.hooks import run_hook
from oauth_middleware.web import Authenticate, Authentication, authentication, usable_id


def usable(user_id: str, hook: str) -> str:
    """``user_id`` as the host's ``hook`` answered it, unless nobody may be signed in with
    it (:func:`~oauth_middleware.web.usable_id`): :class:`UnusableUserId` then."""
    if not usable_id(user_id, hook):
        raise UnusableUserId()
    return user_id


async def signed_in_user(authenticate: Authenticate, request: Request) -> Authentication | None:
    """Who ``authenticate`` says is signed in (``web.authentication``), a usable id only."""
    found = authentication(await run_hook(authenticate, request))
    if found is not None:
        usable(found.user_id, "authenticate")
    return found
