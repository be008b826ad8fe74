"""Server-side sessions for the demo's login: the cookie holds only a signed session id.

Sessions live in process memory, which fits the demo (one process). The
``AuthenticationMiddleware`` backend below gives ``request.user`` to the
authorization server's default ``authenticate`` hook, and to the pages the token
their sign-out form posts: an HMAC of the session id, so a cross-site POST (which
cannot read the page) cannot sign anyone out.

Each session remembers when its user typed the password: the OpenID Provider's
``authenticate`` hook (:meth:`Sessions.authenticate`) reports that as ``auth_time``, so
``max_age`` and the ID token's ``auth_time`` tell the truth. ``end_session/`` (RP-initiated
logout) ends a session through :meth:`Sessions.end`.
"""

from __future__ import annotations

import time

from itsdangerous import BadSignature, Signer, URLSafeSerializer
from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser, SimpleUser
from starlette.requests import HTTPConnection
from starlette.responses import Response

from oauth_middleware.identity import logged_in_user
from oauth_middleware.security import constant_time_equals, new_secret
from oauth_middleware.web import Authentication

SESSION_COOKIE = "demo_session"
CSRF_COOKIE = "demo_csrf"
SESSION_LIFETIME = 8 * 3600
#: Sessions kept in memory; past this the oldest is dropped (so a loop of logins, which
#: only a logout undid, cannot grow the process): that user simply signs in again.
MAX_SESSIONS = 10_000


class Sessions:
    def __init__(self, secret_key: bytes, *, secure: bool = False) -> None:
        self._signer = URLSafeSerializer(secret_key, salt="demo-session")
        self._logout = Signer(secret_key, salt="demo-logout")
        #: session id -> (username, expires at, signed in at)
        self._sessions: dict[str, tuple[str, float, float]] = {}
        self.secure = secure

    def login(self, response: Response, username: str) -> None:
        session_id = new_secret()
        now = time.time()
        self._sessions[session_id] = (username, now + SESSION_LIFETIME, now)
        while len(self._sessions) > MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        response.set_cookie(SESSION_COOKIE, self._signer.dumps(session_id), httponly=True,
                            samesite="lax", secure=self.secure, max_age=SESSION_LIFETIME)

    def logout(self, request: HTTPConnection, response: Response) -> None:
        self._forget(request)
        response.delete_cookie(SESSION_COOKIE)

    async def end(self, request: HTTPConnection) -> None:
        """The server's ``logout`` hook (``end_session/``): the session is gone at once; its
        cookie, which the hook cannot delete, then names nothing."""
        self._forget(request)

    def _forget(self, request: HTTPConnection) -> None:
        session_id = self._session_id(request)
        if session_id is not None:
            self._sessions.pop(session_id, None)

    async def authenticate(self, request: HTTPConnection) -> Authentication | None:
        """The server's ``authenticate`` hook: the session's user, signed in with a password
        at ``auth_time`` (never a bearer token's identity: :func:`logged_in_user`)."""
        username = logged_in_user(request)
        session_id = self._session_id(request)
        record = self._sessions.get(session_id or "")
        if username is None or record is None or record[0] != username \
                or record[1] < time.time():
            return None
        return Authentication(username, auth_time=int(record[2]), amr=("pwd",))

    def user(self, request: HTTPConnection) -> str | None:
        session_id = self._session_id(request)
        record = self._sessions.get(session_id or "")
        if record is None or record[1] < time.time():
            return None
        return record[0]

    def logout_token(self, request: HTTPConnection) -> str:
        """The sign-out form's CSRF token: bound to this session, empty without one."""
        session_id = self._session_id(request)
        if session_id is None or session_id not in self._sessions:
            return ""
        return self._logout.get_signature(session_id).decode()

    def check_logout(self, request: HTTPConnection, token: str) -> bool:
        expected = self.logout_token(request)
        return bool(expected) and constant_time_equals(token, expected)

    def _session_id(self, request: HTTPConnection) -> str | None:
        try:
            value = self._signer.loads(request.cookies.get(SESSION_COOKIE, ""))
        except BadSignature:
            return None
        return value if isinstance(value, str) else None

    def new_csrf(self, request: HTTPConnection) -> tuple[str, str]:
        """(cookie nonce, form token): a signed double-submit token for a form."""
        nonce = request.cookies.get(CSRF_COOKIE) or new_secret()
        return nonce, self._signer.dumps(["csrf", nonce])

    def set_csrf_cookie(self, response: Response, nonce: str) -> None:
        response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="strict",
                            secure=self.secure)

    def check_csrf(self, request: HTTPConnection, token: str) -> bool:
        try:
            kind, nonce = self._signer.loads(token)
        except (BadSignature, ValueError, TypeError):
            return False
        cookie = request.cookies.get(CSRF_COOKIE, "")
        return kind == "csrf" and bool(cookie) and constant_time_equals(nonce, cookie)


class DemoUser(SimpleUser):
    """A signed-in person, with the token the page's sign-out form needs."""

    def __init__(self, username: str, logout_token: str) -> None:
        super().__init__(username)
        self.logout_token = logout_token


class SessionBackend(AuthenticationBackend):
    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        username = self.sessions.user(conn)
        if username is None:
            return None
        return AuthCredentials(["session"]), DemoUser(username, self.sessions.logout_token(conn))
