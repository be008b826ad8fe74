"""Configuration of the web admin, checked once at construction (STYLE rule 7)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.requests import Request

from oauth_middleware.admin.csrf import MAX_AGE
from oauth_middleware.admin.forms import MAX_BODY
from oauth_middleware.audit import AuditTrail
from oauth_middleware.hooks import run_hook
from oauth_middleware.store import TokenStore
from oauth_middleware.transport import Transport
from oauth_middleware.web import Authenticate, user_from_scope

#: ``is_admin(request) -> bool``, sync or async.
IsAdmin = Callable[[Request], "Awaitable[bool] | bool"]


async def is_admin(hook: IsAdmin, request: Request) -> bool:
    """Run the user's ``is_admin`` hook (a sync one in a worker thread, see :mod:`.hooks`);
    anything but ``True`` means no."""
    return await run_hook(hook, request) is True


@dataclass(frozen=True, kw_only=True)
class AdminConfig:
    store: TokenStore
    is_admin: IsAdmin
    secret_key: bytes = field(repr=False)
    #: Where anonymous visitors are sent, with ``next=`` the page they asked for.
    login_url: str = "/login"
    #: ``authenticate(request) -> user id | None``: who is signed in (sync or async).
    authenticate: Authenticate = user_from_scope
    #: Plain HTTP is refused unless debug is on.
    debug: bool = False
    #: About how many rows a listing shows per page.
    page_size: int = 50
    #: The name in the page header and titles.
    title: str = "OAuth admin"
    #: Seconds the browser is told to wait (``Retry-After``) while Redis is unreachable.
    retry_after: int = 5
    csrf_max_age: int = MAX_AGE
    max_body: int = MAX_BODY
    #: Where the admin's changes are recorded, and the events page reads from; None: its
    #: changes are not recorded, and the page reads the store's stream with the defaults.
    audit: AuditTrail | None = None
    #: The HTTPS rule (debug, or plain HTTP from this machine), set from ``debug``.
    transport: Transport = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "transport", Transport(debug=self.debug, name="AdminApp"))
        if not callable(self.is_admin):
            raise ValueError("is_admin must be a function of the request returning True for "
                             "admins, e.g. is_admin=lambda request: request.user.is_admin")
        if not callable(self.authenticate):
            raise ValueError("authenticate must be a function of the request returning the "
                             "signed-in user id or None")
        if len(self.secret_key) < 32:
            raise ValueError("secret_key must be at least 32 bytes, e.g. secrets.token_bytes(32)")
        parts = urlsplit(self.login_url)
        local = self.login_url.startswith("/") and not self.login_url.startswith("//")
        if not (local or (parts.scheme in ("http", "https") and parts.netloc)):
            raise ValueError("login_url must be a path such as '/login' or an absolute "
                             "http(s) URL")
        if not 1 <= self.page_size <= 1000:
            raise ValueError("page_size must be 1 to 1000 rows")
        if not self.title.strip():
            raise ValueError("title must not be empty, e.g. title='OAuth admin'")
