"""Who the host's sign-in hooks say is signed in, refused when the id is not typed text.

A user id reaches the grant, the audit trail, the admin, the connected-apps page and
terminals; the toolbox and the CLI refuse one with a control character
(``policy.check_typed_text``). A hook that answers one anyway (``authenticate``,
``verify_password``) is the host's bug: nobody is signed in with it, the person gets
:class:`~oauth_middleware.errors.UnusableUserId` (a page, never a 500, never a grant),
and the operator a warning naming the hook and the character's position, never the id,
which could carry a terminal escape or a forged log line.
"""

from __future__ import annotations

import logging

from starlette.requests import Request

from oauth_middleware.errors import UnusableUserId
from oauth_middleware.hooks import run_hook
from oauth_middleware.policy import check_typed_text
from oauth_middleware.web import Authenticate, Authentication, authentication

logger = logging.getLogger("oauth_middleware.server")


def usable(user_id: str, hook: str) -> str:
    """``user_id`` as the host's ``hook`` answered it, unless it is not typed text."""
    try:
        return check_typed_text(user_id, "user id")
    except ValueError as exc:
        logger.warning("the %s hook answered a user id this server refuses, so nobody was "
                       "signed in with it: %s", hook, exc)
        raise UnusableUserId() from None


async def signed_in_user(authenticate: Authenticate, request: Request) -> Authentication | None:
    """Who ``authenticate`` says is signed in (``web.authentication``), a usable id only."""
    found = authentication(await run_hook(authenticate, request))
    if found is not None:
        usable(found.user_id, "authenticate")
    return found
