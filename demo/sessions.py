"""Server-side sessions for the demo's login: the cookie holds only a signed session id.

Sessions live in process memory, which fits the demo (one process). The
``AuthenticationMiddleware`` backend below gives ``request.user`` to the
authorization server's default ``authenticate`` hook, and to the pages the token
their sign-out form posts: an HMAC of the session id, so a cross-site POST (which
cannot read the page) cannot sign anyone out.
"""

from __future__ import annotations

import time

from itsdangerous import BadSignature, Signer, URLSafeSerializer
from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser, SimpleUser
from starlette.requests import HTTPConnection
from starlette.responses import Response

from oauth_middleware.security import constant_time_equals, new_secret

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
        self._sessions: dict[str, tuple[str, float]] = {}
        self.secure = secure

    def login(self, response: Response, username: str) -> None:
        session_id = new_secret()
        self._sessions[session_id] = (username, time.time() + SESSION_LIFETIME)
        while len(self._sessions) > MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        response.set_cookie(SESSION_COOKIE, self._signer.dumps(session_id), httponly=True,
                            samesite="lax", secure=self.secure, max_age=SESSION_LIFETIME)

    def logout(self, request: HTTPConnection, response: Response) -> None:
        session_id = self._session_id(request)
        if session_id is not None:
            self._sessions.pop(session_id, None)
        response.delete_cookie(SESSION_COOKIE)

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
