"""The demo's home, login and logout pages (the login the authorization server sends users to).

Signing out is a POST with the session's CSRF token (a GET, or a cross-site form,
must not sign anyone out). Checking a password runs scrypt, so it runs in a
worker thread, as the authorization server runs a sync ``verify_password``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from demo import users
from demo.render import page, see_other
from demo.sessions import Sessions


def safe_next(value: str | None) -> str:
    """Only local paths: ``next`` must not turn the login into an open redirect.

    Only printable ASCII without spaces: a control character cannot go into a
    ``Location`` header (the server would drop the connection), and browsers
    delete tabs and newlines from a URL, so ``/<TAB>/evil.example`` would leave.
    """
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if not all("!" <= ch <= "~" for ch in value):
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


class Pages:
    def __init__(self, sessions: Sessions, *, base_url: str, embedded: bool) -> None:
        self.sessions = sessions
        self.base_url = base_url
        self.embedded = embedded

    @property
    def routes(self) -> list[Route]:
        return [Route("/", self.home), Route("/login", self.login, methods=["GET", "POST"]),
                Route("/logout", self.logout, methods=["POST"])]

    async def home(self, request: Request) -> Response:
        return page(request, "home.html", {"base_url": self.base_url, "embedded": self.embedded})

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self._form(request, safe_next(request.query_params.get("next")), "")
        form = await request.form()
        next_url = safe_next(str(form.get("next", "")))
        if not self.sessions.check_csrf(request, str(form.get("csrf", ""))):
            return self._form(request, next_url, "The form expired; please try again.", 403)
        username = await to_thread.run_sync(users.verify_password, str(form.get("username", "")),
                                            str(form.get("password", "")))
        if username is None:
            return self._form(request, next_url, "Unknown user or wrong password.", 401)
        response = see_other(next_url)
        self.sessions.login(response, username)
        return response

    def _form(self, request: Request, next_url: str, error: str, status: int = 200) -> Response:
        nonce, token = self.sessions.new_csrf(request)
        context = {"next": next_url, "error": error, "csrf": token}
        response = page(request, "login.html", context, status)
        self.sessions.set_csrf_cookie(response, nonce)
        return response

    async def logout(self, request: Request) -> Response:
        """POST only, with the token of the page's sign-out form (bound to the session)."""
        form = await request.form()
        if self.sessions.user(request) is not None and not self.sessions.check_logout(
                request, str(form.get("logout_token", ""))):
            return page(request, "message.html", {
                "title": "Not signed out",
                "message": "The sign-out form expired or came from another site; "
                           "use the sign-out button of this site."}, 403)
        response = see_other("/")
        self.sessions.logout(request, response)
        return response
